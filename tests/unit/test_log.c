/* ISC license. */

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "t.h"

static char	last[4096];
static int	calls;

static void
capture(void *ctx, enum mxk_log_level l, const char *line)
{
	(void)ctx;
	(void)l;
	calls++;
	(void)snprintf(last, sizeof(last), "%s", line);
}

static void
test_levels(void)
{
	mxk_log_set_sink(capture, NULL);
	mxk_log_set_level(MXK_LOG_NOTICE);
	calls = 0;
	mxk_log(MXK_LOG_INFO, "hidden");
	T_EQ_INT(calls, 0, "info dropped at notice");
	mxk_log(MXK_LOG_WARN, "shown %d", 1);
	T_EQ_INT(calls, 1, "warn shown");
	T_EQ_STR(last, "shown 1", "formatted");
	mxk_log(MXK_LOG_ERROR, "ctl\x1b[31mred");
	T_EQ_STR(last, "ctl?[31mred", "escape sanitised");
	mxk_log_set_level(MXK_LOG_DEBUG);
	T_EQ_INT(mxk_log_enabled(MXK_LOG_DEBUG), 1, "debug enabled");
	T_EQ_INT(mxk_log_enabled(MXK_LOG_TRACE), 0, "trace disabled");
}

static void
test_proto(void)
{
	static const struct {
		const char	*name;
		int		 who;
		const char	*line;
		const char	*want;
	} steps[] = {
		{ "ehlo", MXK_PROTO_CLIENT, "EHLO client.test\r\n",
		    "EHLO client.test" },
		{ "reply", MXK_PROTO_SERVER, "250-mx.test\r\n", "250-mx.test" },
		{ "auth plain ir", MXK_PROTO_CLIENT,
		    "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n", "AUTH PLAIN ********" },
		{ "auth ok", MXK_PROTO_SERVER, "235 2.7.0 ok\r\n",
		    "235 2.7.0 ok" },
		{ "after auth", MXK_PROTO_CLIENT, "MAIL FROM:<a@b.test>\r\n",
		    "MAIL FROM:<a@b.test>" },
		{ "auth login", MXK_PROTO_CLIENT, "auth login\r\n",
		    "auth login" },
		{ "334 user", MXK_PROTO_SERVER, "334 VXNlcm5hbWU6\r\n",
		    "334 VXNlcm5hbWU6" },
		{ "user secret", MXK_PROTO_CLIENT, "dXNlcg==\r\n", "********" },
		{ "334 pass", MXK_PROTO_SERVER, "334 UGFzc3dvcmQ6\r\n",
		    "334 UGFzc3dvcmQ6" },
		{ "pass secret", MXK_PROTO_CLIENT, "c2VjcmV0\r\n", "********" },
		{ "535", MXK_PROTO_SERVER, "535 5.7.8 no\r\n", "535 5.7.8 no" },
		{ "quit", MXK_PROTO_CLIENT, "QUIT\r\n", "QUIT" },
		{ "binary", MXK_PROTO_SERVER, "220 \x01\xff ok\r\n",
		    "220 ?? ok" },
	};
	struct mxk_transcript	t = { 0 };
	char			out[256];
	size_t			i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		mxk_log_proto(&t, steps[i].who, steps[i].line,
		    strlen(steps[i].line), out, sizeof(out));
		T_EQ_STR(out, steps[i].want, steps[i].name);
	}
	T_EQ_STR(last, "<<< 220 ?? ok", "transcript reaches sink");
}

/* What was written to fd 2 since the file was set up (at most max-1). */
static size_t
grab(int fd, char *out, size_t max)
{
	ssize_t	n = pread(fd, out, max - 1, 0);

	n = n < 0 ? 0 : n;
	out[n] = '\0';
	return (size_t)n;
}

/* mxk_log_hold: lines held until a flush, a warning, a full buffer or
 * hold(0), in order, each once and whole.  fd 2 is a file meanwhile, so
 * what it held is looked at once fd 2 is back. */
static void
test_hold(void)
{
	static char	 got[64 * 1024], want[64 * 1024], big[20000];
	static char	 s1[256], s2[256], s3[256];
	char		 path[] = "/tmp/test_log.XXXXXX", line[64];
	size_t		 wl = 0, n, n0, n1, nall;
	int		 fd, saved, i, early = 0;

	if ((fd = mkstemp(path)) == -1 || (saved = dup(2)) == -1) {
		T_OK(0, "mkstemp/dup");
		return;
	}
	(void)unlink(path);
	(void)fcntl(fd, F_SETFL, O_APPEND);	/* writes follow ftruncate */
	(void)dup2(fd, 2);
	mxk_log_set_sink(mxk_log_sink_stderr, (void *)"p");
	mxk_log_set_level(MXK_LOG_INFO);

	mxk_log(MXK_LOG_NOTICE, "before");	/* not held: at once */
	n0 = grab(fd, got, sizeof(got));
	mxk_log_hold(1);
	mxk_log(MXK_LOG_NOTICE, "one");
	mxk_log_stderr_line("two", 3, 0);
	mxk_log(MXK_LOG_DEBUG, "dropped");
	n1 = grab(fd, got, sizeof(got));
	mxk_log_flush();
	grab(fd, s1, sizeof(s1));
	mxk_log(MXK_LOG_INFO, "three");
	mxk_log(MXK_LOG_WARN, "four");	/* at once, after three */
	mxk_log(MXK_LOG_INFO, "five");
	mxk_log_stderr_line("six", 3, 1);	/* now: at once, after five */
	grab(fd, s2, sizeof(s2));

	/* Past the buffer: written in order when full, the rest on hold(0). */
	(void)ftruncate(fd, 0);
	for (i = 0; i < 2000; i++) {
		n = (size_t)snprintf(line, sizeof(line), "p: line %04d", i);
		memcpy(want + wl, line, n);
		want[wl + n] = '\n';
		wl += n + 1;
		mxk_log(MXK_LOG_NOTICE, "line %04d", i);
		if (i == 1400)	/* 18 KiB logged */
			early = grab(fd, got, sizeof(got)) > 0;
	}
	memset(big, 'x', sizeof(big));
	mxk_log_stderr_line(big, sizeof(big), 0);	/* over the buffer: whole */
	memcpy(want + wl, big, sizeof(big));
	want[wl + sizeof(big)] = '\n';
	wl += sizeof(big) + 1;
	mxk_log_hold(0);
	nall = grab(fd, got, sizeof(got));
	(void)ftruncate(fd, 0);
	mxk_log(MXK_LOG_NOTICE, "after");	/* not held any more */
	grab(fd, s3, sizeof(s3));

	(void)dup2(saved, 2);
	(void)close(saved);
	(void)close(fd);
	T_OK(n0 > 0, "not holding: written at once");
	T_EQ_INT(n1, n0, "held lines not written yet");
	T_EQ_STR(s1, "p: before\np: one\ntwo\n", "flush writes held lines");
	T_EQ_STR(s2, "p: before\np: one\ntwo\np: three\np: warning: four\n"
	    "p: five\nsix\n", "a warning goes out at once, after what is held");
	T_OK(early, "a full buffer is written before the flush");
	T_EQ_INT(nall, wl, "every octet once");
	T_OK(nall == wl && memcmp(got, want, wl) == 0,
	    "lines whole and in order");
	T_EQ_STR(s3, "p: after\n", "hold(0): written at once");
}

int
main(void)
{
	test_levels();
	test_proto();
	test_hold();
	mxk_log_set_sink(NULL, NULL);
	return t_done("log");
}
