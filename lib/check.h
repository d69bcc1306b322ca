/* ISC license. */

/*
 * check: smtpd-lite's policy program, one long-running process asked about
 * each recipient over a line protocol, so that a decision costs a write and
 * a read instead of a fork (the Postfix policy delegation idea, in lines).
 *
 * The program is execve(2)'d without a shell when the first request comes:
 * requests on its standard input, replies on its standard output, its
 * standard error shared with the server's; an environment of PATH alone, a
 * process group of its own, default signal dispositions, no descriptor
 * above 2.  Nothing from the client ever reaches an argument or a shell.
 *
 * A request is one line: "key=value" fields separated by one space, ended
 * by LF.  Keys are [a-z_]; each value is percent-encoded: the octets
 * outside 0x21..0x7e and '%' itself become "%XX" (upper-case hex), so a
 * value holds no space, CR or LF and may be empty ("from=" is the null
 * sender).  The program answers each request with one line, in the order
 * of the requests:
 *
 *   CODE [TEXT]
 *
 * CODE is a number: 0 or 200..299 accept; 400..599 is the reply itself;
 * below 100 it maps as --exec exit statuses do: 67 (EX_NOUSER) 550 5.1.1,
 * 75 (EX_TEMPFAIL) 451 4.3.0, any other 554 5.3.0.  TEXT, after one space,
 * becomes the reply text (MXK_CHECK_TEXTMAX octets at most, control
 * characters shown as '?'); when it starts with an enhanced status code of
 * the reply's class (RFC 3463), that code replaces the default one.  A
 * line that does not start with a number is a protocol error.
 *
 * Each request must be answered within timeout_ms of being queued.  When
 * one is not, or the program exits, closes its output, or breaks the
 * protocol (a bad or overlong line), its process group is killed, every
 * request still waiting gets 451 4.3.0 and the next request starts a new
 * program; a program that cannot be started is tried again one second
 * later at the soonest, requests meanwhile refused at once.  At most
 * max_pending requests wait at a time.
 *
 * Use from an event loop: mxk_check_submit() queues (and writes what the
 * pipe takes), mxk_check_fds() gives the descriptors to wait on,
 * mxk_check_step() reads replies, writes the rest, and handles deadlines
 * and a dead program, never waiting; results go to the done callback, from
 * mxk_check_step() only.  mxk_check_wake() is the time to step at the
 * latest.  Children are reaped by pid.  Not thread-safe.
 */
#ifndef MXK_CHECK_H
#define MXK_CHECK_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define MXK_CHECK_TEXTMAX	200	/* reply text kept, octets */
#define MXK_CHECK_LINEMAX	1024	/* reply line, LF included */

struct mxk_check_params {
	char *const	*argv;		/* program and arguments */
	const char	*path;		/* search path and PATH; NULL:
					 * "/usr/bin:/bin" */
	int		 timeout_ms;	/* per request; 0: 10 s */
	size_t		 max_pending;	/* 0: 1000 */
};

struct mxk_check_result {
	int	 accept;		/* 1: the recipient is accepted */
	int	 code;			/* else the reply */
	char	 status[16];
	char	 text[MXK_CHECK_TEXTMAX + 1];
};

typedef void	(*mxk_check_done_fn)(void *cookie,
		    const struct mxk_check_result *);

struct mxk_check;

/* A handle; the program starts at the first request.  0 or -1 (usage). */
int	 mxk_check_new(const struct mxk_check_params *, mxk_check_done_fn,
	    struct mxk_check **, struct mxk_err *);
/* Kill the program and reap it; no callbacks are made. */
void	 mxk_check_free(struct mxk_check *);

/*
 * Queue a request of n fields (keys kv[2i], values kv[2i+1]; a NULL value
 * is sent empty).  0, or -1 when it cannot be asked now (too many
 * waiting, no program: e->code and e->status hold 451 4.3.0).
 */
int	 mxk_check_submit(struct mxk_check *, const char *const *kv,
	    size_t n, void *cookie, struct mxk_err *);
/* The requests of cookie are forgotten: no callback for them. */
void	 mxk_check_cancel(struct mxk_check *, void *cookie);
/* The program's output (-1: none) and its input when requests wait to
 * be written (-1: nothing to write). */
void	 mxk_check_fds(const struct mxk_check *, int *rfd, int *wfd);
void	 mxk_check_step(struct mxk_check *);
/* The nearest deadline (LLONG_MAX: none). */
long long mxk_check_wake(const struct mxk_check *);
/* Requests waiting for a reply. */
size_t	 mxk_check_pending(const struct mxk_check *);
/* Programs started so far. */
unsigned long mxk_check_starts(const struct mxk_check *);

/* The protocol alone, for tests and fuzzing. */
int	 mxk_check_encode(struct mxk_buf *, const char *const *kv, size_t n);
/* Parse one reply line (without LF); -1 when it is not one. */
int	 mxk_check_parse(const char *line, size_t len,
	    struct mxk_check_result *);

#endif
