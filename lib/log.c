/* ISC license. */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <limits.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "net.h"

#define LOG_LINEMAX	2048
/* Held stderr lines (mxk_log_hold): one write of at most PIPE_BUF is never
 * mixed with another process's on a pipe (workers share stderr). */
#define HOLD_MAX	PIPE_BUF

static mxk_log_sink	*sink;
static void		*sink_ctx;
static enum mxk_log_level threshold = MXK_LOG_NOTICE;

/* The stderr sink's held lines; any thread may log. */
static pthread_mutex_t	 hold_mu = PTHREAD_MUTEX_INITIALIZER;
static int		 holding;
static size_t		 held;
static char		 hold_buf[HOLD_MAX];

static const char *const level_names[] = {
	"error", "warning", "notice", "info", "debug", "trace"
};

void
mxk_log_set_sink(mxk_log_sink *fn, void *ctx)
{
	sink = fn;
	sink_ctx = ctx;
}

void
mxk_log_set_level(enum mxk_log_level l)
{
	threshold = l;
}

enum mxk_log_level
mxk_log_get_level(void)
{
	return threshold;
}

int
mxk_log_enabled(enum mxk_log_level l)
{
	return sink != NULL && l <= threshold;
}

const char *
mxk_log_level_name(enum mxk_log_level l)
{
	if ((int)l < 0 || l > MXK_LOG_TRACE)
		return "?";
	return level_names[l];
}

void
mxk_vlog(enum mxk_log_level l, const char *fmt, va_list ap)
{
	char		 line[LOG_LINEMAX];
	unsigned char	*p;

	if (!mxk_log_enabled(l))
		return;
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	for (p = (unsigned char *)line; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	sink(sink_ctx, l, line);
}

void
mxk_log(enum mxk_log_level l, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	mxk_vlog(l, fmt, ap);
	va_end(ap);
}

/* Write len octets of p to stderr whole; stderr gone: the lines are lost. */
static void
write_all(const char *p, size_t len)
{
	(void)mxk_net_write_full(STDERR_FILENO, p, len);
}

/* A line out (len octets of p, then a newline): held while holding and now
 * is 0, else written with what is held before it, so the order stays. */
static void
put(const char *p, size_t len, int now)
{
	(void)pthread_mutex_lock(&hold_mu);
	if (held + len + 1 > sizeof(hold_buf)) {
		write_all(hold_buf, held);
		held = 0;
	}
	if (len + 1 <= sizeof(hold_buf)) {
		memcpy(hold_buf + held, p, len);
		hold_buf[held + len] = '\n';
		held += len + 1;
		/* What was held and this line in one write. */
		if (now || !holding) {
			write_all(hold_buf, held);
			held = 0;
		}
	} else {
		/* Longer than the buffer: the line and its newline at once. */
		struct iovec	v[2];
		ssize_t		n;

		v[0].iov_base = (void *)(uintptr_t)p;
		v[0].iov_len = len;
		v[1].iov_base = (void *)(uintptr_t)"\n";
		v[1].iov_len = 1;
		while ((n = writev(STDERR_FILENO, v, 2)) == -1 &&
		    errno == EINTR)
			;
		if (n >= 0 && (size_t)n < len + 1) {	/* short: the rest */
			if ((size_t)n < len)
				write_all(p + n, len - (size_t)n);
			write_all("\n", 1);
		}
	}
	(void)pthread_mutex_unlock(&hold_mu);
}

void
mxk_log_stderr_line(const char *text, size_t len, int now)
{
	put(text, len, now);
}

void
mxk_log_sink_stderr(void *ctx, enum mxk_log_level l, const char *line)
{
	const char	*prog = ctx != NULL ? ctx : "mxkit";
	char		 out[LOG_LINEMAX + 64];
	int		 n;

	if (l == MXK_LOG_INFO || l == MXK_LOG_DEBUG || l == MXK_LOG_TRACE ||
	    l == MXK_LOG_NOTICE)
		n = snprintf(out, sizeof(out), "%s: %s", prog, line);
	else
		n = snprintf(out, sizeof(out), "%s: %s: %s", prog,
		    mxk_log_level_name(l), line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(out))
		n = (int)sizeof(out) - 1;
	/* Warnings and errors go out at once. */
	put(out, (size_t)n, l < MXK_LOG_NOTICE);
}

void
mxk_log_hold(int on)
{
	(void)pthread_mutex_lock(&hold_mu);
	holding = on;
	(void)pthread_mutex_unlock(&hold_mu);
	if (!on)
		mxk_log_flush();
}

void
mxk_log_flush(void)
{
	(void)pthread_mutex_lock(&hold_mu);
	write_all(hold_buf, held);
	held = 0;
	(void)pthread_mutex_unlock(&hold_mu);
}

void
mxk_log_sink_syslog(void *ctx, enum mxk_log_level l, const char *line)
{
	static const int pri[] = {
		LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG, LOG_DEBUG
	};

	(void)ctx;
	syslog(pri[l <= MXK_LOG_TRACE ? l : MXK_LOG_TRACE], "%s", line);
}

void
mxk_log_init_stderr(const char *prog, int verbose)
{
	int	l = MXK_LOG_NOTICE + verbose;

	mxk_log_set_sink(mxk_log_sink_stderr, (void *)(uintptr_t)prog);
	mxk_log_set_level(l > MXK_LOG_TRACE ? MXK_LOG_TRACE :
	    (enum mxk_log_level)l);
}

static size_t
printable(char *out, size_t outlen, const char *in, size_t len)
{
	size_t	i;

	if (outlen == 0)
		return 0;
	for (i = 0; i < len && i + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];
		out[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[i] = '\0';
	return i;
}

void
mxk_log_proto(struct mxk_transcript *t, int who, const char *line,
    size_t len, char *out, size_t outlen)
{
	char	 text[LOG_LINEMAX];
	size_t	 n, sp;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (who == MXK_PROTO_SERVER) {
		/* A 334 continues an AUTH exchange; anything else ends it. */
		if (t->in_auth && !(len >= 3 && memcmp(line, "334", 3) == 0))
			t->in_auth = 0;
		(void)printable(text, sizeof(text), line, len);
	} else if (t->in_auth) {
		(void)snprintf(text, sizeof(text), "********");
	} else if (len >= 5 && strncasecmp(line, "AUTH ", 5) == 0) {
		t->in_auth = 1;
		/* Keep "AUTH MECH", hide an initial response. */
		for (sp = 5; sp < len && line[sp] != ' '; sp++)
			;
		n = printable(text, sizeof(text), line, sp);
		if (sp < len && n + 10 < sizeof(text))
			(void)snprintf(text + n, sizeof(text) - n, " ********");
	} else
		(void)printable(text, sizeof(text), line, len);
	if (out != NULL && outlen > 0)
		(void)snprintf(out, outlen, "%s", text);
	mxk_log(MXK_LOG_INFO, "%s %s",
	    who == MXK_PROTO_SERVER ? "<<<" : ">>>", text);
}
