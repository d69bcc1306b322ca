/* ISC license. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "err.h"
#include "t.h"

static void
test_duration(void)
{
	static const struct {
		const char	*in;
		long long	 max;
		int		 flags;
		int		 rc;
		long long	 ms;
		const char	*msg;
	} cases[] = {
		{ "30", 86400000, 0, 0, 30000, NULL },
		{ "1.5", 86400000, 0, 0, 1500, NULL },
		{ "0", 86400000, 0, 0, 0, NULL },
		{ "500ms", 86400000, 0, 0, 500, NULL },
		{ "1.6ms", 86400000, 0, 0, 2, NULL },
		{ "1.4ms", 86400000, 0, 0, 1, NULL },
		{ "30s", 86400000, 0, 0, 30000, NULL },
		{ "2m", 86400000, 0, 0, 120000, NULL },
		{ "0.5m", 86400000, 0, 0, 30000, NULL },
		{ "86400", 86400000, 0, 0, 86400000, NULL },
		{ "1440m", 86400000, 0, 0, 86400000, NULL },
		{ "86400000ms", 86400000, 0, 0, 86400000, NULL },
		{ "86400001ms", 86400000, 0, -1, 0, "out of range" },
		{ "86401", 86400000, 0, -1, 0, "out of range" },
		{ "1441m", 86400000, 0, -1, 0, "out of range" },
		{ "inf", 86400000, 0, -1, 0, "out of range" },
		{ "1h", 86400000, 0, -1, 0, "not a duration" },
		{ "1h", 86400000, MXK_CLI_HOURS, 0, 3600000, NULL },
		{ "168h", 86400000LL * 7, MXK_CLI_HOURS, 0, 604800000, NULL },
		{ "169h", 86400000LL * 7, MXK_CLI_HOURS, -1, 0, "out of range" },
		{ "", 86400000, 0, -1, 0, "not a duration" },
		{ "soon", 86400000, 0, -1, 0, "not a duration" },
		{ "-1", 86400000, 0, -1, 0, "not a duration" },
		{ "-0.5s", 86400000, 0, -1, 0, "not a duration" },
		{ "nan", 86400000, 0, -1, 0, "not a duration" },
		{ "5 s", 86400000, 0, -1, 0, "not a duration" },
		{ "5S", 86400000, 0, -1, 0, "not a duration" },
		{ "5sec", 86400000, 0, -1, 0, "not a duration" },
		{ "5mss", 86400000, 0, -1, 0, "not a duration" },
		{ "1e999", 86400000, 0, -1, 0, "not a duration" },
		{ "ms", 86400000, 0, -1, 0, "not a duration" },
	};
	struct mxk_err	e;
	long long	ms;
	size_t		i;
	int		rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = -7;
		mxk_err_clear(&e);
		rc = mxk_cli_duration(cases[i].in, cases[i].max,
		    cases[i].flags, &ms, &e);
		T_EQ_INT(rc, cases[i].rc, cases[i].in);
		if (cases[i].rc == 0) {
			T_EQ_INT(ms, cases[i].ms, cases[i].in);
		} else {
			T_EQ_INT(ms, -7, cases[i].in);
			T_EQ_STR(e.msg, cases[i].msg, cases[i].in);
			T_EQ_INT(e.class, MXK_ERR_USAGE, cases[i].in);
		}
	}
}

static void
test_usage(void)
{
	char	*p = NULL;
	size_t	 n = 0;
	FILE	*f;

	if ((f = open_memstream(&p, &n)) == NULL) {
		T_OK(0, "open_memstream");
		return;
	}
	T_EQ_INT(mxk_cli_usage(f, "prog", "--x %s: %s", "5q",
	    "not a duration"), EX_USAGE, "usage: EX_USAGE");
	T_EQ_INT(mxk_cli_usage(f, "prog", "no TARGET given%s", ""), EX_USAGE,
	    "usage: EX_USAGE again");
	(void)fclose(f);
	T_EQ_STR(p, "prog: error: --x 5q: not a duration\n"
	    "prog: try 'prog --help'\n"
	    "prog: error: no TARGET given\n"
	    "prog: try 'prog --help'\n", "usage: text");
	free(p);
}

int
main(void)
{
	test_duration();
	test_usage();
	return t_done("cli");
}
