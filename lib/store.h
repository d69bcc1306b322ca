/* ISC license. */

/*
 * store: local delivery of one message received by smtpd-lite.
 *
 * The server begins a message after the DATA command (or BDAT), hands its
 * bytes over as they arrive -- already un-stuffed, CRLF line ends, the
 * Received: header first -- and ends it after the final dot.  Only when
 * mxk_store_end() reports 250 is the message durable, and only then may the
 * server say 250 (RFC 5321 §6.1: accepting responsibility means not losing
 * the message).  mxk_store_abort() drops a message (the session went away,
 * the DATA was too large) and leaves nothing behind.
 *
 * Three kinds of delivery:
 *   MAILDIR   into Maildir folders (tmp/, new/, cur/), one folder per
 *             recipient expanded from a template.  The message is written
 *             once, into tmp/ of the first folder, and linked into new/ of
 *             every folder at the end after fsync (a copy where a link
 *             cannot cross file systems).  Recipients with the same folder
 *             share one file there.  Missing folders are made (mode 0700),
 *             as are missing directories below the fixed, unexpanded part
 *             of the template; the fixed part itself must exist (a missing
 *             mount point is a temporary failure, not an invitation to
 *             write below it).  Files are mode 0600 and owned by the
 *             server's user: deliver as the user owning the folders.
 *   EXEC      to a program, execve(2)'d at begin (no shell) with the
 *             message on its stdin, stdout on /dev/null, stderr captured and
 *             the envelope in the environment (see below).  Its exit status
 *             gives the result, the same for every recipient.
 *   DISCARD   the bytes are counted and dropped; 250 for every recipient.
 *
 * Results (one per recipient, struct mxk_store_result):
 *   250 2.0.0 "Ok: queued as QUEUE_ID"   delivered ("Ok" without a queue id)
 *   452 4.3.1 "Insufficient system storage"   ENOSPC, EDQUOT, EIO, EFBIG
 *   451 4.3.0 other local failure (a folder that cannot be made, a program
 *             that timed out, exited 75 or was killed by a signal)
 *   550 5.1.3 a local part or domain that would make an unsafe path
 *   550 5.1.1 the program exited 67 (EX_NOUSER)
 *   554 5.3.0 the program exited with any other non-zero status
 * With lmtp set the results are per recipient (LMTP, RFC 2033 §4.2).
 * Without it the server has one reply for the whole transaction, so the
 * delivery is all or nothing: when any recipient fails, what was already
 * linked into new/ is removed again and every recipient gets the same
 * failure (a temporary one when there is one, else the first permanent
 * one).  The removal is best effort: a reader that moved the file to cur/
 * within that moment keeps it.  Servers without LMTP should refuse unsafe
 * recipients at RCPT time with mxk_store_expand().
 *
 * Program environment: SENDER ("" for <>), RECIPIENTS (the addresses as
 * accepted, separated by one space; a quoted local part may itself hold a
 * space), CLIENT_IP, HELO, TLS_CIPHER, AUTH_USER, QUEUE_ID (each unset when
 * NULL; control characters shown as '?'), PATH (params.path).  Nothing
 * else of the server's environment is passed.  The program runs in a
 * process group of its own, with default signal dispositions, an empty
 * signal mask and no file descriptor above 2.  It must exit within
 * timeout_ms of mxk_store_begin(), or its process group is killed and the
 * result is 451 4.3.0.  Exit 0 gives 250 2.0.0, 75 (EX_TEMPFAIL) 451 4.3.0,
 * 67 (EX_NOUSER) 550 5.1.1, any other status 554 5.3.0, death by a signal
 * 451 4.3.0.  The first line the program writes on stderr (at most
 * MXK_STORE_ERRLINE octets, non-printables as '?') becomes the reply text;
 * when it starts with an enhanced status code whose class matches the
 * result, that code replaces the default one (as Postfix pipe(8) does).
 *
 * Caller duties: SIGPIPE ignored (a program that stops reading gives EPIPE,
 * which is remembered and the rest of the message dropped); children reaped
 * only by pid (a waitpid(-1) or SIGCHLD set to SIG_IGN elsewhere in the
 * server loses the program's status, which gives 451 4.3.0).  Not thread
 * safe per message; several messages may be open at once (see below).
 *
 * Blocking: MAILDIR writes are buffered (MXK_STORE_BUFSIZE) and end() does
 * fsyncs (the file, then each new/ directory).  EXEC writes wait while the
 * program does not read, and end() waits for it to exit; both never beyond
 * the program's deadline.  A caller in an event loop therefore stalls for
 * as long as a slow program, bounded by timeout_ms, unless it calls end()
 * from another thread: end() (and abort()) of one message may run on any
 * one thread while others begin, write and end other messages; nothing
 * here has state shared between messages except the log callback.
 *
 * Errors: mxk_store_begin() returns -1 only when the delivery cannot start
 * at all (bad parameters, bad template, a program that cannot be
 * executed, out of memory), with e->code and e->status set for the reply
 * (451 4.3.0 for configuration and system errors).  A recipient refused at
 * begin is reported at end.  mxk_store_write() returns -1 only for misuse:
 * a delivery failure (a write error, the program gone) is remembered,
 * later bytes are counted and dropped, and write keeps returning 0 so that
 * the server reads the DATA to its end and then replies from end().
 * mxk_store_end() and mxk_store_abort() always free the message.
 */
#ifndef MXK_STORE_H
#define MXK_STORE_H

#include <stddef.h>

#include "err.h"

#define MXK_STORE_PATH		"/usr/bin:/bin"	/* default search path */
#define MXK_STORE_TIMEOUT_MS	600000		/* default program deadline */
#define MXK_STORE_ERRLINE	200		/* stderr line kept, octets */
#define MXK_STORE_BUFSIZE	(256 * 1024)	/* maildir write buffer */

enum mxk_store_kind {
	MXK_STORE_MAILDIR,
	MXK_STORE_EXEC,
	MXK_STORE_DISCARD
};

struct mxk_store_params {
	enum mxk_store_kind	 kind;
	/* Folder template: %d = recipient domain, %u = local part, %% = %.
	 * An absolute path. */
	const char		*maildir;
	/* Exec: program and arguments (execve, no shell); argv[0] is looked
	 * up in path when it has no '/'. */
	char *const		*argv;
	/* Exec: the program must exit within this many milliseconds of
	 * begin (else SIGKILL, 451 4.3.0); 0: MXK_STORE_TIMEOUT_MS. */
	int			 timeout_ms;
	/* Per-recipient results wanted (LMTP); else all or nothing. */
	int			 lmtp;
	/* Exec: search path for argv[0] and the program's PATH; NULL:
	 * MXK_STORE_PATH.  Empty elements (the current directory) are
	 * skipped. */
	const char		*path;
	/* Maildir: host name in file names; NULL: gethostname(). */
	const char		*hostname;
	/* Exec: once *cancel is non-zero (set from any thread; it must
	 * outlive every message), a program still running is killed as at
	 * its deadline within MXK_STORE_STEP_MS: a server that stops. */
	const _Atomic int	*cancel;
};
#define MXK_STORE_STEP_MS	50

/* The envelope; also the program's environment. */
struct mxk_store_env {
	const char		*sender;	/* "" for <> */
	const char *const	*rcpt;		/* addresses as accepted */
	size_t			 nrcpt;		/* at least 1 */
	/* Each may be NULL. */
	const char		*client_ip, *helo, *tls_cipher, *auth_user,
				*queue_id;
	const char		*body;		/* MAIL BODY=: "7BIT", "8BITMIME",
						 * "BINARYMIME" */
};

/* One per recipient, in the order of env.rcpt. */
struct mxk_store_result {
	int	 code;			/* 250, 452, 451, 550, 554 ... */
	char	 status[16];		/* "2.0.0" */
	char	 text[256];		/* printable, no CR LF */
};

struct mxk_store_msg;

/*
 * Start delivering one message.  params and env are read during the call
 * only.  0 with *msg set, or -1 (see the contract above).
 */
int	 mxk_store_begin(const struct mxk_store_params *,
	    const struct mxk_store_env *, struct mxk_store_msg **,
	    struct mxk_err *);

/* Append message bytes.  0, or -1 on misuse only (see above). */
int	 mxk_store_write(struct mxk_store_msg *, const void *, size_t,
	    struct mxk_err *);

/*
 * Finish: make the message durable and fill res (nrcpt entries; may be
 * NULL).  Returns 0 when every recipient got 250, else -1 with e set from
 * the first failed recipient (code, status, class TEMP for 4xx, PERM or
 * RCPT for 5xx, the local detail in e->msg).  Frees msg.
 */
int	 mxk_store_end(struct mxk_store_msg *, struct mxk_store_result *res,
	    struct mxk_err *);

/* Drop the message: temp files removed, the program killed and reaped.
 * Frees msg; NULL is allowed. */
void	 mxk_store_abort(struct mxk_store_msg *);

/* Octets handed to mxk_store_write() so far. */
unsigned long long mxk_store_bytes(const struct mxk_store_msg *);

/*
 * Validate a maildir template (addr NULL; out may be NULL) or expand it for
 * one address into out (size outlen).  The local part and the domain are
 * lowercased (ASCII only); a quoted local part is unquoted first.  A bad
 * template is MXK_ERR_CONFIG (451 4.3.0); an address that would make an
 * unsafe path ('/', a leading '.', "..", NUL or control characters, empty)
 * is MXK_ERR_RCPT, 550 5.1.3.  Only the parts the template uses are
 * checked.  An expansion longer than outlen is MXK_ERR_CONFIG.
 */
int	 mxk_store_expand(const char *tmpl, const char *addr, char *out,
	    size_t outlen, struct mxk_err *);

/*
 * Exec: whether argv[0] is found (in params.path, as begin() looks it up)
 * and executable now, for a server to refuse to start without it.  0, or
 * -1 with MXK_ERR_CONFIG ("PROG: not found, or not executable").  0 for
 * the other kinds.
 */
int	 mxk_store_check(const struct mxk_store_params *, struct mxk_err *);

#endif
