/* ISC license. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "err.h"

static const char *const class_names[MXK_ERR__COUNT] = {
	[MXK_ERR_OK] = "ok",
	[MXK_ERR_TEMP] = "temporary",
	[MXK_ERR_PERM] = "permanent",
	[MXK_ERR_USAGE] = "usage",
	[MXK_ERR_DATA] = "data",
	[MXK_ERR_NOHOST] = "nohost",
	[MXK_ERR_RCPT] = "recipient",
	[MXK_ERR_PROTO] = "protocol",
	[MXK_ERR_AUTH] = "auth",
	[MXK_ERR_IO] = "io",
	[MXK_ERR_CONFIG] = "config",
	[MXK_ERR_INTERNAL] = "internal",
};

static const char *const source_names[MXK_SRC__COUNT] = {
	[MXK_SRC_NONE] = "none",
	[MXK_SRC_LOCAL] = "local",
	[MXK_SRC_SYS] = "sys",
	[MXK_SRC_DNS] = "dns",
	[MXK_SRC_NET] = "net",
	[MXK_SRC_TLS] = "tls",
	[MXK_SRC_SMTP] = "smtp",
	[MXK_SRC_POLICY] = "policy",
};

/* sysexits per class, after msmtp smtp_exitcode() and Postfix sys_exits.c. */
static const int class_exit[MXK_ERR__COUNT] = {
	[MXK_ERR_OK] = 0,
	[MXK_ERR_TEMP] = EX_TEMPFAIL,
	[MXK_ERR_PERM] = EX_UNAVAILABLE,
	[MXK_ERR_USAGE] = EX_USAGE,
	[MXK_ERR_DATA] = EX_DATAERR,
	[MXK_ERR_NOHOST] = EX_NOHOST,
	[MXK_ERR_RCPT] = EX_NOUSER,
	[MXK_ERR_PROTO] = EX_PROTOCOL,
	[MXK_ERR_AUTH] = EX_NOPERM,
	[MXK_ERR_IO] = EX_IOERR,
	[MXK_ERR_CONFIG] = EX_CONFIG,
	[MXK_ERR_INTERNAL] = EX_SOFTWARE,
};

static void
sanitise(char *s)
{
	unsigned char	*p;

	for (p = (unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Append src to the NUL-terminated dst of size n, truncating. */
static size_t
strlcat_bounded(char *dst, const char *src, size_t n)
{
	size_t	d = strlen(dst), i;

	for (i = 0; src[i] != '\0' && d + 1 < n; i++)
		dst[d++] = src[i];
	dst[d] = '\0';
	return d;
}

void
mxk_err_clear(struct mxk_err *e)
{
	if (e == NULL)
		return;
	e->class = MXK_ERR_OK;
	e->source = MXK_SRC_NONE;
	e->code = 0;
	e->status[0] = '\0';
	e->sys_errno = 0;
	e->msg[0] = '\0';
}

int
mxk_err_vset(struct mxk_err *e, enum mxk_err_class class,
    enum mxk_err_source source, const char *status, const char *fmt,
    va_list ap)
{
	if (e == NULL)
		return -1;
	e->class = class;
	e->source = source;
	e->code = 0;
	e->sys_errno = 0;
	e->status[0] = '\0';
	if (status != NULL && mxk_err_status_valid(status))
		(void)snprintf(e->status, sizeof(e->status), "%s", status);
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	sanitise(e->msg);
	return -1;
}

int
mxk_err_set(struct mxk_err *e, enum mxk_err_class class,
    enum mxk_err_source source, const char *status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)mxk_err_vset(e, class, source, status, fmt, ap);
	va_end(ap);
	return -1;
}

int
mxk_err_sys(struct mxk_err *e, enum mxk_err_class class, const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;
	size_t	len;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	(void)mxk_err_vset(e, class, MXK_SRC_SYS,
	    class == MXK_ERR_TEMP ? "4.3.0" : NULL, fmt, ap);
	va_end(ap);
	e->sys_errno = saved;
	len = strlen(e->msg);
	if (len < sizeof(e->msg))
		(void)snprintf(e->msg + len, sizeof(e->msg) - len, ": %s",
		    strerror(saved));
	sanitise(e->msg);
	errno = saved;
	return -1;
}

int
mxk_err_smtp(struct mxk_err *e, int code, const char *status,
    enum mxk_err_class permclass, const char *text)
{
	enum mxk_err_class	class;
	int			digit = code / 100;

	if (digit == 4)
		class = MXK_ERR_TEMP;
	else if (digit == 5)
		class = permclass == MXK_ERR_OK ? MXK_ERR_PERM : permclass;
	else
		class = MXK_ERR_PROTO;
	(void)mxk_err_set(e, class, MXK_SRC_SMTP, NULL, "%s",
	    text != NULL ? text : "");
	e->code = code;
	/*
	 * An enhanced status code is believed only when its class digit
	 * matches the reply code (RFC 3463 §2; Postfix smtp_chat_resp()):
	 * "250 5.1.1" is garbage, not a rejection.
	 */
	if (status != NULL && mxk_err_status_valid(status) &&
	    status[0] - '0' == digit)
		(void)snprintf(e->status, sizeof(e->status), "%s", status);
	else if (digit >= 2 && digit <= 5)
		(void)snprintf(e->status, sizeof(e->status), "%d.0.0",
		    digit == 3 ? 2 : digit);
	else
		(void)snprintf(e->status, sizeof(e->status), "5.5.0");
	return -1;
}

void
mxk_err_prefix(struct mxk_err *e, const char *fmt, ...)
{
	char	pre[MXK_ERR_MSGMAX], old[MXK_ERR_MSGMAX];
	va_list	ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	e->msg[0] = '\0';
	(void)strlcat_bounded(e->msg, pre, sizeof(e->msg));
	(void)strlcat_bounded(e->msg, ": ", sizeof(e->msg));
	(void)strlcat_bounded(e->msg, old, sizeof(e->msg));
	sanitise(e->msg);
}

int
mxk_err_is_temp(const struct mxk_err *e)
{
	return e->class == MXK_ERR_TEMP || e->status[0] == '4';
}

int
mxk_err_class_exitcode(enum mxk_err_class c)
{
	if ((int)c < 0 || c >= MXK_ERR__COUNT)
		return EX_SOFTWARE;
	return class_exit[c];
}

int
mxk_err_exitcode(const struct mxk_err *e)
{
	return mxk_err_class_exitcode(e->class);
}

const char *
mxk_err_class_name(enum mxk_err_class c)
{
	if ((int)c < 0 || c >= MXK_ERR__COUNT)
		return "unknown";
	return class_names[c];
}

const char *
mxk_err_source_name(enum mxk_err_source s)
{
	if ((int)s < 0 || s >= MXK_SRC__COUNT)
		return "unknown";
	return source_names[s];
}

/* RFC 3463 §2: class "." subject "." detail; class 2, 4 or 5; subject 1-3
 * digits; detail 1-3 digits. */
int
mxk_err_status_valid(const char *s)
{
	int	n;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	s += 2;
	for (n = 0; *s >= '0' && *s <= '9'; s++)
		n++;
	if (n < 1 || n > 3 || *s != '.')
		return 0;
	s++;
	for (n = 0; *s >= '0' && *s <= '9'; s++)
		n++;
	return n >= 1 && n <= 3 && *s == '\0';
}
