/* ISC license. */

#include <string.h>

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

int
main(void)
{
	test_levels();
	test_proto();
	mxk_log_set_sink(NULL, NULL);
	return t_done("log");
}
