/* ISC license. */

#include <errno.h>
#include <string.h>
#include <sysexits.h>

#include "err.h"
#include "t.h"

static void
test_status_valid(void)
{
	static const struct {
		const char	*in;
		int		 want;
	} cases[] = {
		{ "2.0.0", 1 }, { "4.7.5", 1 }, { "5.1.1", 1 }, { "5.123.456", 1 },
		{ "3.0.0", 0 }, { "5.1", 0 }, { "5..1", 0 }, { "5.1.1.1", 0 },
		{ "5.1234.1", 0 }, { "", 0 }, { "x.1.1", 0 }, { "5.1.1 ", 0 },
		{ "5.1.", 0 }, { ".1.1", 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		T_EQ_INT(mxk_err_status_valid(cases[i].in), cases[i].want,
		    cases[i].in);
	T_EQ_INT(mxk_err_status_valid(NULL), 0, "NULL status");
}

static void
test_smtp(void)
{
	static const struct {
		const char		*name;
		int			 code;
		const char		*status;
		enum mxk_err_class	 perm;
		enum mxk_err_class	 want_class;
		const char		*want_status;
		int			 want_exit;
	} cases[] = {
		{ "4xx temp", 451, "4.3.0", MXK_ERR_OK, MXK_ERR_TEMP, "4.3.0",
		    EX_TEMPFAIL },
		{ "5xx perm", 554, "5.7.1", MXK_ERR_OK, MXK_ERR_PERM, "5.7.1",
		    EX_UNAVAILABLE },
		{ "5xx rcpt", 550, "5.1.1", MXK_ERR_RCPT, MXK_ERR_RCPT, "5.1.1",
		    EX_NOUSER },
		{ "class mismatch", 450, "5.1.1", MXK_ERR_OK, MXK_ERR_TEMP,
		    "4.0.0", EX_TEMPFAIL },
		{ "no status", 550, NULL, MXK_ERR_OK, MXK_ERR_PERM, "5.0.0",
		    EX_UNAVAILABLE },
		{ "bad status", 421, "4.x.0", MXK_ERR_OK, MXK_ERR_TEMP, "4.0.0",
		    EX_TEMPFAIL },
		{ "garbage code", 999, NULL, MXK_ERR_OK, MXK_ERR_PROTO, "5.5.0",
		    EX_PROTOCOL },
	};
	struct mxk_err	e;
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_err_clear(&e);
		T_EQ_INT(mxk_err_smtp(&e, cases[i].code, cases[i].status,
		    cases[i].perm, "text"), -1, cases[i].name);
		T_EQ_INT(e.class, cases[i].want_class, cases[i].name);
		T_EQ_STR(e.status, cases[i].want_status, cases[i].name);
		T_EQ_INT(e.code, cases[i].code, cases[i].name);
		T_EQ_INT(mxk_err_exitcode(&e), cases[i].want_exit,
		    cases[i].name);
		T_EQ_INT(e.source, MXK_SRC_SMTP, cases[i].name);
	}
}

static void
test_exitcodes(void)
{
	static const struct {
		enum mxk_err_class	c;
		int			want;
	} cases[] = {
		{ MXK_ERR_OK, 0 }, { MXK_ERR_TEMP, 75 }, { MXK_ERR_PERM, 69 },
		{ MXK_ERR_USAGE, 64 }, { MXK_ERR_DATA, 65 },
		{ MXK_ERR_NOHOST, 68 }, { MXK_ERR_RCPT, 67 },
		{ MXK_ERR_PROTO, 76 }, { MXK_ERR_AUTH, 77 }, { MXK_ERR_IO, 74 },
		{ MXK_ERR_CONFIG, 78 }, { MXK_ERR_INTERNAL, 70 },
		{ (enum mxk_err_class)99, 70 },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		T_EQ_INT(mxk_err_class_exitcode(cases[i].c), cases[i].want,
		    mxk_err_class_name(cases[i].c));
}

static void
test_set(void)
{
	struct mxk_err	e;
	char		long_text[2000];

	mxk_err_clear(&e);
	T_EQ_INT(e.class, MXK_ERR_OK, "clear");
	T_EQ_INT(mxk_err_set(&e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.1.3",
	    "bad %s\r\nX", "addr"), -1, "set returns -1");
	T_EQ_STR(e.msg, "bad addr??X", "control characters sanitised");
	T_EQ_STR(e.status, "5.1.3", "status kept");
	(void)mxk_err_set(&e, MXK_ERR_DATA, MXK_SRC_LOCAL, "bogus", "x");
	T_EQ_STR(e.status, "", "invalid status dropped");
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	(void)mxk_err_set(&e, MXK_ERR_DATA, MXK_SRC_LOCAL, NULL, "%s",
	    long_text);
	T_EQ_INT(strlen(e.msg), MXK_ERR_MSGMAX - 1, "message truncated");
	errno = ENOENT;
	(void)mxk_err_sys(&e, MXK_ERR_IO, "open %s", "/x");
	T_EQ_INT(e.sys_errno, ENOENT, "errno saved");
	T_OK(strstr(e.msg, "open /x: ") == e.msg, "sys message: %s", e.msg);
	T_EQ_INT(e.source, MXK_SRC_SYS, "sys source");
	(void)mxk_err_set(&e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.1", "refused");
	mxk_err_prefix(&e, "mx %d", 1);
	T_EQ_STR(e.msg, "mx 1: refused", "prefix");
	T_EQ_INT(mxk_err_is_temp(&e), 1, "is_temp");
	(void)mxk_err_set(&e, MXK_ERR_PERM, MXK_SRC_NET, "5.4.4", "x");
	T_EQ_INT(mxk_err_is_temp(&e), 0, "not temp");
	T_EQ_STR(mxk_err_source_name(MXK_SRC_DNS), "dns", "source name");
}

int
main(void)
{
	test_status_valid();
	test_smtp();
	test_exitcodes();
	test_set();
	return t_done("err");
}
