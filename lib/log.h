/* ISC license. */

/*
 * log: leveled diagnostics for lib/ and the programs.
 *
 * lib/ never prints: it calls mxk_log(), which hands the formatted line to the
 * sink the program registered (none: the line is dropped).  Two sinks are
 * provided: stderr as "prog: level: text" and syslog(3).  Levels: error,
 * warning, notice (default threshold), info (-v), debug (-vv), trace (-vvv).
 *
 * The protocol transcript (mxk_log_proto) writes SMTP lines at level info with
 * "<<< " / ">>> " prefixes and redacts authentication: the initial response of
 * an AUTH command and every client line sent while the server keeps answering
 * 334 are replaced by "********" (OpenSMTPD does the same).
 */
#ifndef MXK_LOG_H
#define MXK_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum mxk_log_level {
	MXK_LOG_ERROR = 0,
	MXK_LOG_WARN,
	MXK_LOG_NOTICE,
	MXK_LOG_INFO,
	MXK_LOG_DEBUG,
	MXK_LOG_TRACE
};

typedef void mxk_log_sink(void *ctx, enum mxk_log_level, const char *line);

/* Register the sink and the threshold (messages above it are dropped). */
void	 mxk_log_set_sink(mxk_log_sink *, void *ctx);
void	 mxk_log_set_level(enum mxk_log_level);
enum mxk_log_level mxk_log_get_level(void);
/* 1 when a message at this level would be written (skip costly formatting). */
int	 mxk_log_enabled(enum mxk_log_level);

void	 mxk_log(enum mxk_log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 mxk_vlog(enum mxk_log_level, const char *fmt, va_list)
	    __attribute__((format(printf, 2, 0)));

/* The stderr sink: "prog: level: text\n"; ctx is the program name. */
void	 mxk_log_sink_stderr(void *ctx, enum mxk_log_level, const char *);
/*
 * Hold the stderr sink's notice, info, debug and trace lines (on 1) until
 * mxk_log_flush(), a full buffer (PIPE_BUF), a warning or an error, or
 * mxk_log_hold(0): an event loop flushes before it waits, so a busy server
 * writes once per batch of events instead of once per line.  Lines held when
 * the process crashes are lost.  A forked child must not log.  Lines written
 * with mxk_log_stderr_line() are held the same way.
 */
void	 mxk_log_hold(int on);
void	 mxk_log_flush(void);
/* A line (len octets of text, a newline added) to stderr the way the stderr
 * sink writes: held while lines are held, unless now (warnings, errors). */
void	 mxk_log_stderr_line(const char *line, size_t len, int now);
/* The syslog sink; call openlog() first.  ctx is unused. */
void	 mxk_log_sink_syslog(void *ctx, enum mxk_log_level, const char *);
/* Route to stderr ("prog: ...") at the given verbosity (count of -v). */
void	 mxk_log_init_stderr(const char *prog, int verbose);

const char	*mxk_log_level_name(enum mxk_log_level);

/* Transcript state for one SMTP session. */
struct mxk_transcript {
	int	 in_auth;	/* client lines are secrets until a non-334 */
};

#define MXK_PROTO_CLIENT	0	/* line sent by the SMTP client */
#define MXK_PROTO_SERVER	1	/* line sent by the SMTP server */

/*
 * Log one protocol line (with or without CRLF) at level info.  Returns the
 * text that was logged in out (size outlen), so tests can check redaction;
 * out may be NULL.  Non-printable octets are shown as '?'.
 */
void	 mxk_log_proto(struct mxk_transcript *, int who, const char *line,
	    size_t len, char *out, size_t outlen);

#endif
