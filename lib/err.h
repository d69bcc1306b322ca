/* ISC license. */

/*
 * err: the error value every lib/ function fills in.
 *
 * A function that can fail returns 0 on success or -1 on failure and fills a
 * caller-supplied struct mxk_err.  The struct carries:
 *   class     what kind of failure (temporary, permanent, usage, ...); decided
 *             where the failure happens, never guessed later;
 *   source    which layer saw it (smtp, dns, tls, sys, local, ...);
 *   code      an SMTP reply code (0 when none);
 *   status    an RFC 3463 enhanced status "C.S.D" ("" when none);
 *   sys_errno the errno saved at the failure (0 when none);
 *   msg       a fixed-size, NUL-terminated, printable message.
 * Nothing on the error path allocates.  Programs turn an error into a
 * sysexits(3) code with mxk_err_exitcode(), in one place.
 */
#ifndef MXK_ERR_H
#define MXK_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum mxk_err_class {
	MXK_ERR_OK = 0,
	MXK_ERR_TEMP,		/* try again later: timeouts, 4xx, SERVFAIL, TLS auth */
	MXK_ERR_PERM,		/* will not work as is: 5xx, policy */
	MXK_ERR_USAGE,		/* the caller asked for something malformed */
	MXK_ERR_DATA,		/* bad input data (message, address, policy) */
	MXK_ERR_NOHOST,		/* no such domain, null MX */
	MXK_ERR_RCPT,		/* a recipient was refused */
	MXK_ERR_PROTO,		/* the remote side broke the protocol */
	MXK_ERR_AUTH,		/* authentication refused */
	MXK_ERR_IO,		/* local I/O error */
	MXK_ERR_CONFIG,		/* configuration error */
	MXK_ERR_INTERNAL,	/* a bug or resource exhaustion */
	MXK_ERR__COUNT
};

enum mxk_err_source {
	MXK_SRC_NONE = 0,
	MXK_SRC_LOCAL,
	MXK_SRC_SYS,
	MXK_SRC_DNS,
	MXK_SRC_NET,
	MXK_SRC_TLS,
	MXK_SRC_SMTP,
	MXK_SRC_POLICY,
	MXK_SRC__COUNT
};

#define MXK_ERR_MSGMAX	512

struct mxk_err {
	enum mxk_err_class	 class;
	enum mxk_err_source	 source;
	int			 code;
	char			 status[16];
	int			 sys_errno;
	char			 msg[MXK_ERR_MSGMAX];
};

/* Reset to "no error". */
void	 mxk_err_clear(struct mxk_err *);

/*
 * Fill an error and return -1, so a caller can write
 * "return mxk_err_set(e, ...);".  status may be NULL.  The formatted text is
 * truncated to fit and made printable (control characters become '?').
 */
int	 mxk_err_set(struct mxk_err *, enum mxk_err_class, enum mxk_err_source,
	    const char *status, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
int	 mxk_err_vset(struct mxk_err *, enum mxk_err_class, enum mxk_err_source,
	    const char *status, const char *fmt, va_list)
	    __attribute__((format(printf, 5, 0)));

/* As mxk_err_set(), appending ": strerror(errno)" and saving errno. */
int	 mxk_err_sys(struct mxk_err *, enum mxk_err_class, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * From an SMTP reply: code 4xx gives TEMP, 5xx PERM (or the given permanent
 * class, e.g. MXK_ERR_RCPT).  The enhanced status is kept only when its class
 * digit equals the reply's first digit; otherwise "C.0.0" is synthesised
 * (Postfix smtp_chat_resp() does the same).
 */
int	 mxk_err_smtp(struct mxk_err *, int code, const char *status,
	    enum mxk_err_class permclass, const char *text);

/* Prefix the current message with "what: " (context while unwinding). */
void	 mxk_err_prefix(struct mxk_err *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* 1 when the error is temporary (class TEMP or a 4.x.x status). */
int	 mxk_err_is_temp(const struct mxk_err *);

/* The sysexits(3) code for an error class (0 for OK). */
int	 mxk_err_exitcode(const struct mxk_err *);
int	 mxk_err_class_exitcode(enum mxk_err_class);

const char	*mxk_err_class_name(enum mxk_err_class);
const char	*mxk_err_source_name(enum mxk_err_source);

/* Check the syntax of an RFC 3463 enhanced status "C.SSS.DDD". */
int	 mxk_err_status_valid(const char *);

#endif
