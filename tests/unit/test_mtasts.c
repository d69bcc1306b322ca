/* ISC license. */

/*
 * mtasts tests: every pure function of lib/mtasts (TXT and TLS-RPT
 * records, the policy parser, pattern matching, enforcement, the cache
 * decision of RFC 8461 §3.1/§5.1/§10.2 with simulated outcomes, the cache
 * file format) and the cache directory itself in a mkdtemp directory,
 * with concurrent writers and readers in forked children.  No network.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dns.h"
#include "err.h"
#include "mtasts.h"
#include "tls.h"
#include "t.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
contains(const char *s, const char *sub)
{
	return s != NULL && sub != NULL && strstr(s, sub) != NULL;
}

/*
 * _mta-sts TXT records (RFC 8461 §3.1).
 */
static void
test_txt_parse(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		int		 rc;
		const char	*id;	/* or the message part on failure */
	} cases[] = {
		{ "minimal", "v=STSv1; id=20240101T000000", 0,
		    "20240101T000000" },
		{ "trailing delimiter", "v=STSv1; id=abc;", 0, "abc" },
		{ "trailing delimiter and blanks", "v=STSv1;id=abc ; ", 0,
		    "abc" },
		{ "no blanks", "v=STSv1;id=x1", 0, "x1" },
		{ "tabs", "v=STSv1\t;\tid=x1", 0, "x1" },
		{ "extension ignored", "v=STSv1; ext=foo; id=A1", 0, "A1" },
		{ "extension after id", "v=STSv1; id=A1; x-y.z_=v:/", 0,
		    "A1" },
		{ "32 characters", "v=STSv1; id=abcdefghijklmnopqrstuvwxyz012345",
		    0, "abcdefghijklmnopqrstuvwxyz012345" },
		{ "33 characters",
		    "v=STSv1; id=abcdefghijklmnopqrstuvwxyz0123456", -1,
		    "longer than 32" },
		{ "id with a dash", "v=STSv1; id=2024-01-01", -1,
		    "other than letters and digits" },
		{ "id with a dot", "v=STSv1; id=a.b", -1,
		    "other than letters and digits" },
		{ "empty id", "v=STSv1; id=", -1, "empty value" },
		{ "no id", "v=STSv1;", -1, "no id field" },
		{ "only the version", "v=STSv1", -1, "no id field" },
		{ "two ids", "v=STSv1; id=a; id=b", -1, "two id fields" },
		{ "wrong version", "v=STSv2; id=a", -1, "does not begin" },
		{ "longer version", "v=STSv10; id=a", -1, "does not begin" },
		{ "lowercase version", "v=stsv1; id=a", -1, "does not begin" },
		{ "version not first", "id=a; v=STSv1", -1, "does not begin" },
		{ "leading blank", " v=STSv1; id=a", -1, "does not begin" },
		{ "no delimiter", "v=STSv1 id=a", -1, "expected ';'" },
		{ "empty field", "v=STSv1;; id=a", -1, "has no '='" },
		{ "field without =", "v=STSv1; id", -1, "has no '='" },
		{ "bad field name", "v=STSv1; _x=1; id=a", -1,
		    "bad field name" },
		{ "= in a value", "v=STSv1; id=a; x=b=c", -1, "contains '='" },
		{ "control character", "v=STSv1; id=a\r", -1,
		    "control character" },
		{ "non-ASCII", "v=STSv1; id=\xc3\xa9", -1, "non-ASCII" },
		{ "empty", "", -1, "does not begin" },
	};
	char		id[MXK_MTASTS_IDMAX + 1];
	struct mxk_err	e;
	size_t		i;
	int		rc;

	for (i = 0; i < NELEM(cases); i++) {
		mxk_err_clear(&e);
		rc = mxk_mtasts_txt_parse(cases[i].in, strlen(cases[i].in), id,
		    &e);
		T_EQ_INT(rc, cases[i].rc, cases[i].name);
		if (cases[i].rc == 0)
			T_EQ_STR(id, cases[i].id, cases[i].name);
		else {
			T_OK(contains(e.msg, cases[i].id), "%s: message \"%s\" "
			    "lacks \"%s\"", cases[i].name, e.msg, cases[i].id);
			T_EQ_INT(e.class, MXK_ERR_DATA, cases[i].name);
			T_EQ_STR(id, "", cases[i].name);
		}
	}
	/* An embedded NUL is not the end of the record. */
	rc = mxk_mtasts_txt_parse("v=STSv1; id=a\0b", 15, id, &e);
	T_EQ_INT(rc, -1, "NUL inside");
	T_OK(contains(e.msg, "control character"), "NUL: %s", e.msg);
}

/* A hand-made answer with TXT records. */
static void
mkanswer(struct mxk_dns_answer *a, struct mxk_dns_rr *rr,
    enum mxk_dns_status st, const char *const *txt, size_t n)
{
	size_t	i;

	memset(a, 0, sizeof(*a));
	(void)snprintf(a->qname, sizeof(a->qname), "_mta-sts.example.test");
	a->qtype = MXK_DNS_TXT;
	a->status = st;
	for (i = 0; i < n; i++) {
		memset(&rr[i], 0, sizeof(rr[i]));
		rr[i].type = MXK_DNS_TXT;
		rr[i].data = (unsigned char *)txt[i];
		rr[i].len = strlen(txt[i]);
	}
	a->rr = rr;
	a->nrr = n;
}

static void
test_txt_select(void)
{
	static const char *const one[] = { "v=STSv1; id=abc" };
	static const char *const other[] = { "v=spf1 -all",
	    "v=STSv1; id=abc", "google-site-verification=x" };
	static const char *const two[] = { "v=STSv1; id=abc",
	    "v=STSv1; id=def" };
	static const char *const none[] = { "v=spf1 -all", "hello" };
	static const char *const bad[] = { "v=STSv1; id=a-b" };
	static const char *const v10[] = { "v=STSv10; id=a", "x" };
	static const char *const v10one[] = { "v=STSv10; id=a",
	    "v=STSv1;id=ok1" };
	static const struct {
		const char		*name;
		enum mxk_dns_status	 st;
		const char *const	*txt;
		size_t			 n;
		enum mxk_mtasts_txt	 want;
		const char		*id;
		const char		*why;
	} cases[] = {
		{ "one record", MXK_DNS_OK, one, 1, MXK_MTASTS_TXT_FOUND,
		    "abc", "id abc" },
		{ "among others", MXK_DNS_OK, other, 3, MXK_MTASTS_TXT_FOUND,
		    "abc", NULL },
		{ "two records", MXK_DNS_OK, two, 2, MXK_MTASTS_TXT_MULTIPLE,
		    "", "2 TXT records begin with v=STSv1" },
		{ "no STSv1 record", MXK_DNS_OK, none, 2,
		    MXK_MTASTS_TXT_ABSENT, "", "no TXT record begins" },
		{ "bad id", MXK_DNS_OK, bad, 1, MXK_MTASTS_TXT_INVALID, "",
		    "other than letters and digits" },
		{ "STSv10 discarded", MXK_DNS_OK, v10, 2,
		    MXK_MTASTS_TXT_ABSENT, "", NULL },
		{ "STSv10 beside STSv1", MXK_DNS_OK, v10one, 2,
		    MXK_MTASTS_TXT_FOUND, "ok1", NULL },
		{ "NXDOMAIN", MXK_DNS_NXDOMAIN, NULL, 0,
		    MXK_MTASTS_TXT_ABSENT, "", "NXDOMAIN" },
		{ "NODATA", MXK_DNS_NODATA, NULL, 0, MXK_MTASTS_TXT_ABSENT,
		    "", "no TXT record" },
		{ "SERVFAIL", MXK_DNS_SERVFAIL, NULL, 0,
		    MXK_MTASTS_TXT_TEMPFAIL, "", "lookup failed: servfail" },
		{ "timeout", MXK_DNS_TIMEOUT, NULL, 0,
		    MXK_MTASTS_TXT_TEMPFAIL, "", "lookup failed" },
		{ "refused", MXK_DNS_REFUSED, NULL, 0,
		    MXK_MTASTS_TXT_TEMPFAIL, "", NULL },
	};
	struct mxk_dns_answer	 a;
	struct mxk_dns_rr	 rr[4];
	struct mxk_mtasts_record r;
	size_t			 i;

	for (i = 0; i < NELEM(cases); i++) {
		mkanswer(&a, rr, cases[i].st, cases[i].txt, cases[i].n);
		mxk_mtasts_txt_select(&a, &r);
		T_EQ_STR(mxk_mtasts_txt_name(r.state),
		    mxk_mtasts_txt_name(cases[i].want), cases[i].name);
		T_EQ_STR(r.id, cases[i].id, cases[i].name);
		if (cases[i].why != NULL)
			T_OK(contains(r.why, cases[i].why), "%s: why \"%s\"",
			    cases[i].name, r.why);
		T_OK(contains(r.why, "_mta-sts.example.test"), "%s: why "
		    "names the query: %s", cases[i].name, r.why);
	}
	mxk_mtasts_txt_select(NULL, &r);
	T_EQ_INT(r.state, MXK_MTASTS_TXT_TEMPFAIL, "no answer");
}

/*
 * The policy (RFC 8461 §3.2).
 */
static void
test_policy_parse(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		const char	*err;	/* NULL: valid */
		int		 mode;
		long long	 max_age;
		const char	*mx;	/* patterns joined by ',' */
	} cases[] = {
		{ "LF", "version: STSv1\nmode: enforce\nmx: mx.example.test\n"
		    "max_age: 86400\n", NULL, MXK_MTASTS_MODE_ENFORCE, 86400,
		    "mx.example.test" },
		{ "CRLF", "version: STSv1\r\nmode: testing\r\nmx: a.test\r\n"
		    "mx: *.b.test\r\nmax_age: 604800\r\n", NULL,
		    MXK_MTASTS_MODE_TESTING, 604800, "a.test,*.b.test" },
		{ "no final newline", "version: STSv1\nmode: enforce\n"
		    "mx: a.test\nmax_age: 1", NULL, MXK_MTASTS_MODE_ENFORCE, 1,
		    "a.test" },
		{ "mixed terminators", "version: STSv1\r\nmode: enforce\n"
		    "mx: a.test\r\nmax_age: 2\n", NULL,
		    MXK_MTASTS_MODE_ENFORCE, 2, "a.test" },
		{ "blanks after colon and at end", "version:STSv1\n"
		    "mode:\t enforce \t\nmx:   A.Test.  \nmax_age: 3 \n", NULL,
		    MXK_MTASTS_MODE_ENFORCE, 3, "a.test" },
		{ "unknown keys ignored", "version: STSv1\nfoo: bar baz\n"
		    "mode: enforce\nx-y.z_: \xc3\xa9t\xc3\xa9\nmx: a.test\n"
		    "max_age: 5\n", NULL, MXK_MTASTS_MODE_ENFORCE, 5,
		    "a.test" },
		{ "blank lines skipped", "version: STSv1\n\nmode: enforce\n"
		    "  \nmx: a.test\nmax_age: 6\n\n\n", NULL,
		    MXK_MTASTS_MODE_ENFORCE, 6, "a.test" },
		{ "order free after version", "version: STSv1\nmax_age: 7\n"
		    "mx: a.test\nmode: testing\n", NULL,
		    MXK_MTASTS_MODE_TESTING, 7, "a.test" },
		{ "mode none without mx", "version: STSv1\nmode: none\n"
		    "max_age: 86400\n", NULL, MXK_MTASTS_MODE_NONE, 86400, "" },
		{ "max_age 0", "version: STSv1\nmode: enforce\nmx: a.test\n"
		    "max_age: 0\n", NULL, MXK_MTASTS_MODE_ENFORCE, 0,
		    "a.test" },
		{ "max_age at the limit", "version: STSv1\nmode: enforce\n"
		    "mx: a.test\nmax_age: 31557600\n", NULL,
		    MXK_MTASTS_MODE_ENFORCE, 31557600, "a.test" },
		{ "max_age leading zeros", "version: STSv1\nmode: enforce\n"
		    "mx: a.test\nmax_age: 0000000010\n", NULL,
		    MXK_MTASTS_MODE_ENFORCE, 10, "a.test" },
		/* Errors, each with its line. */
		{ "empty", "", "empty policy", 0, 0, NULL },
		{ "only blank lines", "\n \r\n\t\n", "empty policy", 0, 0,
		    NULL },
		{ "version not first", "mode: enforce\nversion: STSv1\n"
		    "mx: a.test\nmax_age: 1\n", "line 1: the first field must "
		    "be \"version: STSv1\", not \"mode\"", 0, 0, NULL },
		{ "version after a blank line", "\nmx: a.test\n",
		    "line 2: the first field must be", 0, 0, NULL },
		{ "wrong version", "version: STSv2\nmode: enforce\n",
		    "line 1: version \"STSv2\" is not STSv1", 0, 0, NULL },
		{ "version twice", "version: STSv1\nversion: STSv1\n",
		    "line 2: version given twice (first on line 1)", 0, 0,
		    NULL },
		{ "Version capitalised", "Version: STSv1\n",
		    "line 1: the first field must be", 0, 0, NULL },
		{ "bad mode", "version: STSv1\nmode: strict\n",
		    "line 2: mode \"strict\" is not enforce, testing or none",
		    0, 0, NULL },
		{ "mode uppercase", "version: STSv1\nmode: ENFORCE\n",
		    "line 2: mode \"ENFORCE\"", 0, 0, NULL },
		{ "mode report (a draft's)", "version: STSv1\n\nmode: report\n",
		    "line 3: mode \"report\"", 0, 0, NULL },
		{ "mode twice", "version: STSv1\nmode: enforce\nmx: a.test\n"
		    "mode: none\n", "line 4: mode given twice (first on line "
		    "2)", 0, 0, NULL },
		{ "max_age too large", "version: STSv1\nmode: enforce\n"
		    "max_age: 31557601\n", "line 3: max_age 31557601 is above "
		    "31557600", 0, 0, NULL },
		{ "max_age 11 digits", "version: STSv1\nmode: enforce\n"
		    "max_age: 00000000001\n", "line 3: max_age \"00000000001\" "
		    "is not 1 to 10 digits", 0, 0, NULL },
		{ "max_age negative", "version: STSv1\nmax_age: -1\n",
		    "line 2: max_age \"-1\" is not a number", 0, 0, NULL },
		{ "max_age with unit", "version: STSv1\nmax_age: 1d\n",
		    "line 2: max_age \"1d\" is not a number", 0, 0, NULL },
		{ "max_age empty", "version: STSv1\nmax_age:\n",
		    "line 2: max_age \"\" is not 1 to 10 digits", 0, 0, NULL },
		{ "max_age twice", "version: STSv1\nmax_age: 1\nmax_age: 2\n",
		    "line 3: max_age given twice (first on line 2)", 0, 0,
		    NULL },
		{ "mx empty", "version: STSv1\nmode: enforce\nmx:\n",
		    "line 3: mx \"\" is not a host name", 0, 0, NULL },
		{ "mx with a space", "version: STSv1\nmx: a b.test\n",
		    "line 2: mx \"a b.test\" is not a host name", 0, 0, NULL },
		{ "mx partial wildcard", "version: STSv1\nmx: m*.a.test\n",
		    "line 2: mx \"m*.a.test\"", 0, 0, NULL },
		{ "mx wildcard inside", "version: STSv1\nmx: a.*.test\n",
		    "line 2: mx \"a.*.test\"", 0, 0, NULL },
		{ "mx wildcard alone", "version: STSv1\nmx: *.\n",
		    "line 2: mx \"*.\"", 0, 0, NULL },
		{ "mx bare star", "version: STSv1\nmx: *\n",
		    "line 2: mx \"*\"", 0, 0, NULL },
		{ "mx a leading dot (a draft's)", "version: STSv1\n"
		    "mx: .example.test\n", "line 2: mx \".example.test\"", 0,
		    0, NULL },
		{ "mx an IP address", "version: STSv1\nmx: 192.0.2.1\n",
		    "line 2: mx \"192.0.2.1\"", 0, 0, NULL },
		{ "mx label too long", "version: STSv1\nmx: "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaa.test\n", "line 2: mx", 0, 0, NULL },
		{ "no colon", "version: STSv1\nmode enforce\n",
		    "line 2: no ':' (expected \"key: value\")", 0, 0, NULL },
		{ "blank before the colon", "version: STSv1\nmode : enforce\n",
		    "line 2: bad key \"mode \"", 0, 0, NULL },
		{ "leading blank", "version: STSv1\n mode: enforce\n",
		    "line 2: bad key \" mode\"", 0, 0, NULL },
		{ "bad unknown key", "version: STSv1\n_x: y\n",
		    "line 2: bad key \"_x\"", 0, 0, NULL },
		{ "empty key", "version: STSv1\n: y\n", "line 2: bad key \"\"",
		    0, 0, NULL },
		{ "control character", "version: STSv1\nmode: en\x01"
		    "force\n", "line 2: control character or non-ASCII", 0, 0,
		    NULL },
		{ "bare CR inside", "version: STSv1\nmode: enforce\rmx: a\n",
		    "line 2: control character", 0, 0, NULL },
		{ "non-ASCII in mx", "version: STSv1\nmx: b\xc3\xbc"
		    "cher.test\n", "line 2: control character or non-ASCII",
		    0, 0, NULL },
		{ "no mode", "version: STSv1\nmx: a.test\nmax_age: 1\n",
		    "no mode field", 0, 0, NULL },
		{ "no max_age", "version: STSv1\nmode: enforce\nmx: a.test\n",
		    "no max_age field", 0, 0, NULL },
		{ "no mx", "version: STSv1\nmode: enforce\nmax_age: 1\n",
		    "no mx field (required unless the mode is none", 0, 0,
		    NULL },
		{ "testing without mx", "version: STSv1\nmode: testing\n"
		    "max_age: 1\n", "no mx field", 0, 0, NULL },
	};
	struct mxk_mtasts_policy	*p;
	struct mxk_err			 e;
	char				 mx[1024];
	size_t				 i, j, len;
	int				 rc;

	for (i = 0; i < NELEM(cases); i++) {
		mxk_err_clear(&e);
		rc = mxk_mtasts_policy_parse(cases[i].in, strlen(cases[i].in),
		    0, &p, &e);
		if (cases[i].err != NULL) {
			T_EQ_INT(rc, -1, cases[i].name);
			T_OK(p == NULL, "%s: no policy", cases[i].name);
			T_OK(contains(e.msg, cases[i].err), "%s: message "
			    "\"%s\" lacks \"%s\"", cases[i].name, e.msg,
			    cases[i].err);
			T_EQ_INT(e.class, MXK_ERR_DATA, cases[i].name);
			T_EQ_INT(e.source, MXK_SRC_POLICY, cases[i].name);
			continue;
		}
		T_EQ_INT(rc, 0, cases[i].name);
		if (rc != 0) {
			(void)fprintf(stderr, "    %s\n", e.msg);
			continue;
		}
		T_EQ_INT(mxk_mtasts_policy_mode(p), cases[i].mode,
		    cases[i].name);
		T_EQ_INT(mxk_mtasts_policy_max_age(p), cases[i].max_age,
		    cases[i].name);
		mx[0] = '\0';
		for (j = 0; j < mxk_mtasts_policy_nmx(p); j++) {
			(void)strncat(mx, j > 0 ? "," : "", sizeof(mx) -
			    strlen(mx) - 1);
			(void)strncat(mx, mxk_mtasts_policy_mx(p, j),
			    sizeof(mx) - strlen(mx) - 1);
		}
		T_EQ_STR(mx, cases[i].mx, cases[i].name);
		T_OK(strcmp(mxk_mtasts_policy_text(p, &len), cases[i].in) ==
		    0 && len == strlen(cases[i].in), "%s: text kept",
		    cases[i].name);
		T_OK(mxk_mtasts_policy_mx(p, j) == NULL, "%s: mx past the end",
		    cases[i].name);
		mxk_mtasts_policy_free(p);
	}

	/* A NUL in a line. */
	rc = mxk_mtasts_policy_parse("version: STSv1\nmo\0de: x\n", 24, 0, &p,
	    &e);
	T_EQ_INT(rc, -1, "NUL");
	T_OK(contains(e.msg, "line 2: NUL"), "NUL: %s", e.msg);

	/* The number of patterns is a parameter. */
	{
		const char *three = "version: STSv1\nmode: enforce\nmx: a.test\n"
		    "mx: b.test\nmx: c.test\nmax_age: 1\n";

		rc = mxk_mtasts_policy_parse(three, strlen(three), 2, &p, &e);
		T_EQ_INT(rc, -1, "max_mx 2");
		T_OK(contains(e.msg, "line 5: more than 2 mx patterns"),
		    "max_mx: %s", e.msg);
		rc = mxk_mtasts_policy_parse(three, strlen(three), 3, &p, &e);
		T_EQ_INT(rc, 0, "max_mx 3");
		T_EQ_INT(mxk_mtasts_policy_nmx(p), 3, "max_mx 3 kept");
		mxk_mtasts_policy_free(p);
	}
	/* Many patterns: the array grows. */
	{
		struct mxk_buf	b;
		int		k, r = 0;

		mxk_buf_init(&b, 1 << 16);
		r |= mxk_buf_addstr(&b, "version: STSv1\nmode: enforce\n"
		    "max_age: 9\n");
		for (k = 0; k < 64; k++)
			r |= mxk_buf_printf(&b, "mx: mx%d.example.test\n", k);
		T_EQ_INT(r, 0, "64 patterns built");
		rc = mxk_mtasts_policy_parse(b.p, b.len, 0, &p, &e);
		T_EQ_INT(rc, 0, "64 patterns");
		T_EQ_INT(mxk_mtasts_policy_nmx(p), 64, "64 patterns kept");
		T_EQ_STR(mxk_mtasts_policy_mx(p, 63), "mx63.example.test",
		    "pattern 63");
		T_OK(mxk_mtasts_policy_match(p, "MX17.example.test."),
		    "match among 64");
		mxk_mtasts_policy_free(p);
		r = mxk_buf_addstr(&b, "mx: one-too-many.test\n");
		rc = mxk_mtasts_policy_parse(b.p, b.len, 0, &p, &e);
		T_EQ_INT(rc, -1, "65 patterns");
		T_OK(contains(e.msg, "line 68: more than 64"), "65: %s", e.msg);
		mxk_buf_free(&b);
	}
	{
		struct mxk_mtasts_policy *a, *b;
		const char *t1 = "version: STSv1\nmode: none\nmax_age: 1\n";
		const char *t2 = "version: STSv1\nmode: none\nmax_age: 2\n";

		T_EQ_INT(mxk_mtasts_policy_parse(t1, strlen(t1), 0, &a, &e), 0,
		    "same a");
		T_EQ_INT(mxk_mtasts_policy_parse(t2, strlen(t2), 0, &b, &e), 0,
		    "same b");
		T_OK(mxk_mtasts_policy_same(a, a), "same: itself");
		T_OK(!mxk_mtasts_policy_same(a, b), "same: differs");
		T_OK(!mxk_mtasts_policy_same(a, NULL), "same: NULL");
		T_OK(mxk_mtasts_policy_same(NULL, NULL), "same: both NULL");
		mxk_mtasts_policy_free(a);
		mxk_mtasts_policy_free(b);
	}
}

static void
test_mx_match(void)
{
	static const struct {
		const char	*pat;
		const char	*host;
		int		 want;
	} cases[] = {
		{ "mx.example.test", "mx.example.test", 1 },
		{ "mx.example.test", "MX.Example.TEST", 1 },
		{ "MX.EXAMPLE.TEST", "mx.example.test", 1 },
		{ "mx.example.test", "mx.example.test.", 1 },
		{ "mx.example.test.", "mx.example.test", 1 },
		{ "mx.example.test", "mx2.example.test", 0 },
		{ "mx.example.test", "a.mx.example.test", 0 },
		{ "mx.example.test", "example.test", 0 },
		{ "mx.example.test", "mx.example.test.evil", 0 },
		{ "*.example.test", "a.example.test", 1 },
		{ "*.example.test", "A.EXAMPLE.TEST.", 1 },
		{ "*.example.test", "a.b.example.test", 0 },
		{ "*.example.test", "example.test", 0 },
		{ "*.example.test", ".example.test", 0 },
		{ "*.example.test", "aexample.test", 0 },
		{ "*.example.test", "a.example.test.evil", 0 },
		{ "*.example.test", "*.example.test", 0 },
		{ "*.example.test", "a.notexample.test", 0 },
		{ "*.test", "a.test", 1 },
		{ "*.", "a", 0 },
		{ "*", "a", 0 },
		{ "m*.example.test", "mx.example.test", 0 },
		{ "", "a.test", 0 },
		{ "a.test", "", 0 },
		{ ".", ".", 0 },
	};
	size_t	i;
	char	name[300];

	for (i = 0; i < NELEM(cases); i++) {
		(void)snprintf(name, sizeof(name), "match \"%s\" \"%s\"",
		    cases[i].pat, cases[i].host);
		T_EQ_INT(mxk_mtasts_mx_match(cases[i].pat, cases[i].host),
		    cases[i].want, name);
	}
	T_EQ_INT(mxk_mtasts_mx_match(NULL, "a"), 0, "NULL pattern");
	T_EQ_INT(mxk_mtasts_mx_match("a", NULL), 0, "NULL host");
}

static struct mxk_mtasts_policy *
policy(const char *text)
{
	struct mxk_mtasts_policy	*p = NULL;
	struct mxk_err			 e;

	if (mxk_mtasts_policy_parse(text, strlen(text), 0, &p, &e) == -1)
		(void)fprintf(stderr, "policy: %s\n", e.msg);
	return p;
}

static void
test_enforce(void)
{
	struct mxk_mtasts_policy *enf = policy("version: STSv1\nmode: enforce\n"
	    "mx: mx.example.test\nmx: *.mx.example.test\nmax_age: 9\n");
	struct mxk_mtasts_policy *tst = policy("version: STSv1\nmode: testing\n"
	    "mx: mx.example.test\nmax_age: 9\n");
	struct mxk_mtasts_policy *non = policy("version: STSv1\nmode: none\n"
	    "max_age: 9\n");
	const struct {
		const char			*name;
		const struct mxk_mtasts_policy	*p;
		const char			*host;
		enum mxk_mtasts_tls		 tls;
		enum mxk_tls_trust		 trust;
		int				 allowed, matched, report;
		const char			*why;
	} cases[] = {
		{ "no policy", NULL, "any.test", MXK_MTASTS_TLS_NONE,
		    MXK_TLS_ANONYMOUS, 1, 0, 0, "no MTA-STS policy" },
		{ "mode none", non, "any.test", MXK_MTASTS_TLS_NONE,
		    MXK_TLS_ANONYMOUS, 1, 0, 0, "mode none" },
		{ "enforce, match, before TLS", enf, "mx.example.test",
		    MXK_MTASTS_TLS_UNKNOWN, MXK_TLS_ANONYMOUS, 1, 1, 0,
		    "matches the policy" },
		{ "enforce, wildcard, before TLS", enf, "a.mx.example.test",
		    MXK_MTASTS_TLS_UNKNOWN, MXK_TLS_ANONYMOUS, 1, 1, 0, NULL },
		{ "enforce, no match", enf, "other.example.test",
		    MXK_MTASTS_TLS_UNKNOWN, MXK_TLS_ANONYMOUS, 0, 0, 1,
		    "matches no mx pattern" },
		{ "enforce, two labels below the wildcard", enf,
		    "a.b.mx.example.test", MXK_MTASTS_TLS_DONE,
		    MXK_TLS_VERIFIED, 0, 0, 1, "matches no mx pattern" },
		{ "enforce, verified", enf, "mx.example.test",
		    MXK_MTASTS_TLS_DONE, MXK_TLS_VERIFIED, 1, 1, 0,
		    "certificate is valid" },
		{ "enforce, trusted (name mismatch)", enf, "mx.example.test",
		    MXK_MTASTS_TLS_DONE, MXK_TLS_TRUSTED, 0, 1, 1,
		    "certificate Trusted" },
		{ "enforce, untrusted", enf, "mx.example.test",
		    MXK_MTASTS_TLS_DONE, MXK_TLS_UNTRUSTED, 0, 1, 1,
		    "certificate Untrusted" },
		{ "enforce, anonymous", enf, "mx.example.test",
		    MXK_MTASTS_TLS_DONE, MXK_TLS_ANONYMOUS, 0, 1, 1, NULL },
		{ "enforce, no TLS", enf, "mx.example.test",
		    MXK_MTASTS_TLS_NONE, MXK_TLS_ANONYMOUS, 0, 1, 1,
		    "STARTTLS is required" },
		{ "testing, no match", tst, "other.example.test",
		    MXK_MTASTS_TLS_UNKNOWN, MXK_TLS_ANONYMOUS, 1, 0, 1,
		    "matches no mx pattern" },
		{ "testing, untrusted", tst, "mx.example.test",
		    MXK_MTASTS_TLS_DONE, MXK_TLS_UNTRUSTED, 1, 1, 1, NULL },
		{ "testing, no TLS", tst, "mx.example.test",
		    MXK_MTASTS_TLS_NONE, MXK_TLS_ANONYMOUS, 1, 1, 1, NULL },
		{ "testing, verified", tst, "MX.example.test.",
		    MXK_MTASTS_TLS_DONE, MXK_TLS_VERIFIED, 1, 1, 0, NULL },
	};
	struct mxk_mtasts_verdict	v;
	size_t				i;

	T_OK(enf != NULL && tst != NULL && non != NULL, "enforce policies");
	for (i = 0; i < NELEM(cases); i++) {
		mxk_mtasts_enforce(cases[i].p, cases[i].host, cases[i].tls,
		    cases[i].trust, &v);
		T_EQ_INT(v.allowed, cases[i].allowed, cases[i].name);
		T_EQ_INT(v.matched, cases[i].matched, cases[i].name);
		T_EQ_INT(v.report, cases[i].report, cases[i].name);
		if (cases[i].why != NULL)
			T_OK(contains(v.why, cases[i].why), "%s: why \"%s\"",
			    cases[i].name, v.why);
	}
	mxk_mtasts_policy_free(enf);
	mxk_mtasts_policy_free(tst);
	mxk_mtasts_policy_free(non);
}

/*
 * TLS-RPT (RFC 8460 §3).
 */
static void
test_tlsrpt(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		int		 rc;
		size_t		 nrua;
		const char	*first;	/* first URI, or message part */
	} cases[] = {
		{ "mailto", "v=TLSRPTv1; rua=mailto:tlsrpt@example.test", 0, 1,
		    "mailto:tlsrpt@example.test" },
		{ "https", "v=TLSRPTv1;rua=https://reports.example.test/v1", 0,
		    1, "https://reports.example.test/v1" },
		{ "two URIs", "v=TLSRPTv1; rua=mailto:a@example.test,"
		    "https://r.example.test/x?y=z", 0, 2,
		    "mailto:a@example.test" },
		{ "blanks around the comma", "v=TLSRPTv1; rua=mailto:a@b.test "
		    ", mailto:c@d.test;", 0, 2, "mailto:a@b.test" },
		{ "extension ignored", "v=TLSRPTv1; x=1; rua=mailto:a@b.test",
		    0, 1, "mailto:a@b.test" },
		{ "uppercase scheme", "v=TLSRPTv1; rua=MAILTO:a@b.test", 0, 1,
		    NULL },
		{ "no rua", "v=TLSRPTv1;", -1, 0, "no rua field" },
		{ "only version", "v=TLSRPTv1", -1, 0, "no rua field" },
		{ "ftp", "v=TLSRPTv1; rua=ftp://x.test/", -1, 0,
		    "neither mailto: with an address nor https:" },
		{ "mailto without address", "v=TLSRPTv1; rua=mailto:nobody",
		    -1, 0, "neither mailto:" },
		{ "https without host", "v=TLSRPTv1; rua=https:///x", -1, 0,
		    "neither mailto:" },
		{ "empty URI", "v=TLSRPTv1; rua=mailto:a@b.test,,mailto:c@d.test",
		    -1, 0, "empty URI" },
		{ "two rua fields", "v=TLSRPTv1; rua=mailto:a@b.test; "
		    "rua=mailto:c@d.test", -1, 0, "two rua fields" },
		{ "wrong version", "v=TLSRPTv2; rua=mailto:a@b.test", -1, 0,
		    "does not begin" },
		{ "longer version", "v=TLSRPTv10; rua=mailto:a@b.test", -1, 0,
		    "does not begin" },
		{ "no delimiter", "v=TLSRPTv1 rua=mailto:a@b.test", -1, 0,
		    "expected ';'" },
		{ "empty value", "v=TLSRPTv1; rua=", -1, 0, "empty value" },
	};
	struct mxk_mtasts_tlsrpt_record	 r;
	struct mxk_err			 e;
	size_t				 i;
	int				 rc;

	for (i = 0; i < NELEM(cases); i++) {
		mxk_err_clear(&e);
		rc = mxk_mtasts_tlsrpt_parse(cases[i].in, strlen(cases[i].in),
		    &r, &e);
		T_EQ_INT(rc, cases[i].rc, cases[i].name);
		if (cases[i].rc == 0) {
			T_EQ_INT(r.state, MXK_MTASTS_TLSRPT_VALID,
			    cases[i].name);
			T_EQ_INT(r.nrua, cases[i].nrua, cases[i].name);
			if (cases[i].first != NULL)
				T_EQ_STR(r.rua[0], cases[i].first,
				    cases[i].name);
		} else {
			T_EQ_INT(r.state, MXK_MTASTS_TLSRPT_INVALID,
			    cases[i].name);
			T_OK(contains(e.msg, cases[i].first), "%s: message "
			    "\"%s\" lacks \"%s\"", cases[i].name, e.msg,
			    cases[i].first);
		}
	}

	{
		static const char *const good[] = { "v=spf1 -all",
		    "v=TLSRPTv1; rua=mailto:r@example.test" };
		static const char *const two[] = {
		    "v=TLSRPTv1; rua=mailto:r@example.test",
		    "v=TLSRPTv1; rua=mailto:s@example.test" };
		static const char *const bad[] = { "v=TLSRPTv1; rua=ftp://x" };
		static const char *const other[] = { "hello" };
		static const struct {
			const char		*name;
			enum mxk_dns_status	 st;
			const char *const	*txt;
			size_t			 n;
			enum mxk_mtasts_tlsrpt	 want;
			const char		*why;
		} sel[] = {
			{ "select valid", MXK_DNS_OK, good, 2,
			    MXK_MTASTS_TLSRPT_VALID, "1 rua URI" },
			{ "select two", MXK_DNS_OK, two, 2,
			    MXK_MTASTS_TLSRPT_INVALID, "2 TXT records" },
			{ "select bad", MXK_DNS_OK, bad, 1,
			    MXK_MTASTS_TLSRPT_INVALID, "neither" },
			{ "select other", MXK_DNS_OK, other, 1,
			    MXK_MTASTS_TLSRPT_ABSENT, "no TXT record begins" },
			{ "select NXDOMAIN", MXK_DNS_NXDOMAIN, NULL, 0,
			    MXK_MTASTS_TLSRPT_ABSENT, "NXDOMAIN" },
			{ "select NODATA", MXK_DNS_NODATA, NULL, 0,
			    MXK_MTASTS_TLSRPT_ABSENT, NULL },
			{ "select SERVFAIL", MXK_DNS_SERVFAIL, NULL, 0,
			    MXK_MTASTS_TLSRPT_TEMPFAIL, "lookup failed" },
		};
		struct mxk_dns_answer	a;
		struct mxk_dns_rr	rr[4];

		for (i = 0; i < NELEM(sel); i++) {
			mkanswer(&a, rr, sel[i].st, sel[i].txt, sel[i].n);
			mxk_mtasts_tlsrpt_select(&a, &r);
			T_EQ_STR(mxk_mtasts_tlsrpt_name(r.state),
			    mxk_mtasts_tlsrpt_name(sel[i].want), sel[i].name);
			if (sel[i].why != NULL)
				T_OK(contains(r.why, sel[i].why), "%s: why "
				    "\"%s\"", sel[i].name, r.why);
		}
	}
}

/*
 * The decision (RFC 8461 §3.1, §3.3, §5.1, §10.2), from simulated
 * outcomes.
 */
static void
test_decide(void)
{
	enum { NOW = 1000000 };
	static const struct {
		const char		*name;
		enum mxk_mtasts_txt	 txt;
		const char		*txt_id;
		int			 have_cache;
		const char		*cache_id;
		long long		 fetched, expires;
		int			 refresh;
		enum mxk_mtasts_fetchst	 fetch;
		int			 same;
		/* expected */
		int			 do_fetch, use_cache, use_fetched;
		enum mxk_mtasts_status	 status;
		int			 warn;
	} cases[] = {
		/* First call: is a fetch needed? */
		{ "no cache: fetch", MXK_MTASTS_TXT_FOUND, "a1", 0, NULL, 0, 0,
		    0, MXK_MTASTS_FETCH_NOTDONE, 0, 1, 0, 0, MXK_MTASTS_OK, 0 },
		{ "unchanged id, valid cache: no fetch", MXK_MTASTS_TXT_FOUND,
		    "a1", 1, "a1", NOW - 100, NOW + 100, 0,
		    MXK_MTASTS_FETCH_NOTDONE, 0, 0, 1, 0, MXK_MTASTS_OK, 0 },
		{ "changed id: fetch", MXK_MTASTS_TXT_FOUND, "b2", 1, "a1",
		    NOW - 100, NOW + 100, 0, MXK_MTASTS_FETCH_NOTDONE, 0, 1, 0,
		    0, MXK_MTASTS_OK, 0 },
		{ "expired cache, same id: fetch", MXK_MTASTS_TXT_FOUND, "a1",
		    1, "a1", NOW - 200, NOW - 1, 0, MXK_MTASTS_FETCH_NOTDONE,
		    0, 1, 0, 0, MXK_MTASTS_OK, 0 },
		{ "expires now: expired", MXK_MTASTS_TXT_FOUND, "a1", 1, "a1",
		    NOW - 200, NOW, 0, MXK_MTASTS_FETCH_NOTDONE, 0, 1, 0, 0,
		    MXK_MTASTS_OK, 0 },
		{ "refresh, plenty left: no fetch", MXK_MTASTS_TXT_FOUND, "a1",
		    1, "a1", NOW - 10, NOW + 90, 1, MXK_MTASTS_FETCH_NOTDONE,
		    0, 0, 1, 0, MXK_MTASTS_OK, 0 },
		{ "refresh, little left: fetch", MXK_MTASTS_TXT_FOUND, "a1", 1,
		    "a1", NOW - 90, NOW + 10, 1, MXK_MTASTS_FETCH_NOTDONE, 0,
		    1, 0, 0, MXK_MTASTS_OK, 0 },
		{ "no refresh, little left: no fetch", MXK_MTASTS_TXT_FOUND,
		    "a1", 1, "a1", NOW - 90, NOW + 10, 0,
		    MXK_MTASTS_FETCH_NOTDONE, 0, 0, 1, 0, MXK_MTASTS_OK, 0 },
		{ "TXT vanished, valid cache: kept (§5.1)",
		    MXK_MTASTS_TXT_ABSENT, NULL, 1, "a1", NOW - 100, NOW + 100,
		    0, MXK_MTASTS_FETCH_NOTDONE, 0, 0, 1, 0, MXK_MTASTS_OK, 1 },
		{ "TXT vanished, expired cache: none", MXK_MTASTS_TXT_ABSENT,
		    NULL, 1, "a1", NOW - 100, NOW - 1, 0,
		    MXK_MTASTS_FETCH_NOTDONE, 0, 0, 0, 0, MXK_MTASTS_NONE, 0 },
		{ "no TXT, no cache: none", MXK_MTASTS_TXT_ABSENT, NULL, 0,
		    NULL, 0, 0, 0, MXK_MTASTS_FETCH_NOTDONE, 0, 0, 0, 0,
		    MXK_MTASTS_NONE, 0 },
		{ "TXT lookup failed, valid cache: kept (§10.2)",
		    MXK_MTASTS_TXT_TEMPFAIL, NULL, 1, "a1", NOW - 100,
		    NOW + 100, 0, MXK_MTASTS_FETCH_NOTDONE, 0, 0, 1, 0,
		    MXK_MTASTS_OK, 1 },
		{ "TXT lookup failed, no cache: unreachable",
		    MXK_MTASTS_TXT_TEMPFAIL, NULL, 0, NULL, 0, 0, 0,
		    MXK_MTASTS_FETCH_NOTDONE, 0, 0, 0, 0,
		    MXK_MTASTS_UNREACHABLE, 0 },
		{ "TXT lookup failed, expired cache: unreachable",
		    MXK_MTASTS_TXT_TEMPFAIL, NULL, 1, "a1", NOW - 100, NOW - 50,
		    0, MXK_MTASTS_FETCH_NOTDONE, 0, 0, 0, 0,
		    MXK_MTASTS_UNREACHABLE, 0 },
		{ "several TXT, valid cache: kept, invalid",
		    MXK_MTASTS_TXT_MULTIPLE, NULL, 1, "a1", NOW - 100,
		    NOW + 100, 0, MXK_MTASTS_FETCH_NOTDONE, 0, 0, 1, 0,
		    MXK_MTASTS_INVALID, 1 },
		{ "several TXT, no cache: invalid, no policy",
		    MXK_MTASTS_TXT_MULTIPLE, NULL, 0, NULL, 0, 0, 0,
		    MXK_MTASTS_FETCH_NOTDONE, 0, 0, 0, 0, MXK_MTASTS_INVALID,
		    0 },
		{ "bad TXT, valid cache: kept", MXK_MTASTS_TXT_INVALID, NULL, 1,
		    "a1", NOW - 100, NOW + 100, 0, MXK_MTASTS_FETCH_NOTDONE, 0,
		    0, 1, 0, MXK_MTASTS_INVALID, 1 },
		{ "bad TXT, no cache", MXK_MTASTS_TXT_INVALID, NULL, 0, NULL, 0,
		    0, 0, MXK_MTASTS_FETCH_NOTDONE, 0, 0, 0, 0,
		    MXK_MTASTS_INVALID, 0 },
		/* Second call: the fetch outcome. */
		{ "fetched, no cache: ok", MXK_MTASTS_TXT_FOUND, "a1", 0, NULL,
		    0, 0, 0, MXK_MTASTS_FETCH_OK, 0, 0, 0, 1, MXK_MTASTS_OK,
		    0 },
		{ "fetched, new id: changed", MXK_MTASTS_TXT_FOUND, "b2", 1,
		    "a1", NOW - 100, NOW + 100, 0, MXK_MTASTS_FETCH_OK, 0, 0,
		    0, 1, MXK_MTASTS_CHANGED, 0 },
		{ "fetched, new id, same text: changed", MXK_MTASTS_TXT_FOUND,
		    "b2", 1, "a1", NOW - 100, NOW + 100, 0, MXK_MTASTS_FETCH_OK,
		    1, 0, 0, 1, MXK_MTASTS_CHANGED, 0 },
		{ "refetched, same id and text: ok", MXK_MTASTS_TXT_FOUND,
		    "a1", 1, "a1", NOW - 200, NOW - 1, 0, MXK_MTASTS_FETCH_OK,
		    1, 0, 0, 1, MXK_MTASTS_OK, 0 },
		{ "refetched, same id, other text: changed",
		    MXK_MTASTS_TXT_FOUND, "a1", 1, "a1", NOW - 200, NOW - 1, 0,
		    MXK_MTASTS_FETCH_OK, 0, 0, 0, 1, MXK_MTASTS_CHANGED, 0 },
		{ "refresh failed, valid cache: kept", MXK_MTASTS_TXT_FOUND,
		    "b2", 1, "a1", NOW - 100, NOW + 100, 0,
		    MXK_MTASTS_FETCH_TEMPFAIL, 0, 0, 1, 0, MXK_MTASTS_OK, 1 },
		{ "refresh invalid, valid cache: kept, invalid",
		    MXK_MTASTS_TXT_FOUND, "b2", 1, "a1", NOW - 100, NOW + 100,
		    0, MXK_MTASTS_FETCH_INVALID, 0, 0, 1, 0,
		    MXK_MTASTS_INVALID, 1 },
		{ "fetch failed, expired cache: unreachable",
		    MXK_MTASTS_TXT_FOUND, "a1", 1, "a1", NOW - 200, NOW - 1, 0,
		    MXK_MTASTS_FETCH_TEMPFAIL, 0, 0, 0, 0,
		    MXK_MTASTS_UNREACHABLE, 0 },
		{ "fetch failed, no cache: unreachable", MXK_MTASTS_TXT_FOUND,
		    "a1", 0, NULL, 0, 0, 0, MXK_MTASTS_FETCH_TEMPFAIL, 0, 0, 0,
		    0, MXK_MTASTS_UNREACHABLE, 0 },
		{ "invalid policy, no cache: invalid", MXK_MTASTS_TXT_FOUND,
		    "a1", 0, NULL, 0, 0, 0, MXK_MTASTS_FETCH_INVALID, 0, 0, 0,
		    0, MXK_MTASTS_INVALID, 0 },
		{ "invalid policy, expired cache: invalid, not kept",
		    MXK_MTASTS_TXT_FOUND, "a1", 1, "a1", NOW - 200, NOW - 1, 0,
		    MXK_MTASTS_FETCH_INVALID, 0, 0, 0, 0, MXK_MTASTS_INVALID,
		    0 },
	};
	struct mxk_mtasts_state		s;
	struct mxk_mtasts_decision	d;
	size_t				i;

	for (i = 0; i < NELEM(cases); i++) {
		memset(&s, 0, sizeof(s));
		s.txt = cases[i].txt;
		s.txt_id = cases[i].txt_id;
		s.have_cache = cases[i].have_cache;
		s.cache_id = cases[i].cache_id;
		s.cache_fetched = cases[i].fetched;
		s.cache_expires = cases[i].expires;
		s.now = NOW;
		s.refresh = cases[i].refresh;
		s.fetch = cases[i].fetch;
		s.fetched_same = cases[i].same;
		mxk_mtasts_decide(&s, &d);
		T_EQ_INT(d.fetch, cases[i].do_fetch, cases[i].name);
		T_EQ_INT(d.use_cache, cases[i].use_cache, cases[i].name);
		T_EQ_INT(d.use_fetched, cases[i].use_fetched, cases[i].name);
		if (!d.fetch)
			T_EQ_STR(mxk_mtasts_status_name(d.status),
			    mxk_mtasts_status_name(cases[i].status),
			    cases[i].name);
		T_EQ_INT(d.warn, cases[i].warn, cases[i].name);
		T_OK(d.why != NULL && d.why[0] != '\0', "%s: a reason",
		    cases[i].name);
		/* Never both, and never a fetch on the second call. */
		T_OK(!(d.use_cache && d.use_fetched), "%s: one policy",
		    cases[i].name);
		T_OK(cases[i].fetch == MXK_MTASTS_FETCH_NOTDONE || !d.fetch,
		    "%s: no second fetch", cases[i].name);
	}

	/* The refresh threshold is a parameter. */
	memset(&s, 0, sizeof(s));
	s.txt = MXK_MTASTS_TXT_FOUND;
	s.txt_id = s.cache_id = "a1";
	s.have_cache = 1;
	s.cache_fetched = NOW - 30;
	s.cache_expires = NOW + 70;
	s.now = NOW;
	s.refresh = 1;
	mxk_mtasts_decide(&s, &d);
	T_EQ_INT(d.fetch, 0, "refresh 70% left, threshold 50%");
	s.refresh_percent = 80;
	mxk_mtasts_decide(&s, &d);
	T_EQ_INT(d.fetch, 1, "refresh 70% left, threshold 80%");
	/* Fetched in the future (the clock went back), even 10^17 s: a
	 * refresh, and no overflow in the arithmetic. */
	s.refresh_percent = 0;
	s.cache_fetched = NOW + 100;
	s.cache_expires = NOW + 200;
	mxk_mtasts_decide(&s, &d);
	T_EQ_INT(d.fetch, 1, "fetched in the future: refreshed");
	s.cache_fetched = 100000000000000000LL;
	s.cache_expires = s.cache_fetched + 86400;
	mxk_mtasts_decide(&s, &d);
	T_EQ_INT(d.fetch, 1, "fetched far in the future: refreshed");
}

/*
 * Cache entries and the cache directory.
 */
static const char *const texts[] = {
	"version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n",
	("version: STSv1\r\nmode: testing\r\nmx: *.example.test\r\n"
	    "max_age: 600\r\n"),
	"version: STSv1\nmode: none\nmax_age: 0\n",
};

static int
mkentry(struct mxk_mtasts_entry *en, const char *domain, const char *id,
    const char *text, long long fetched)
{
	struct mxk_err	e;

	memset(en, 0, sizeof(*en));
	(void)snprintf(en->domain, sizeof(en->domain), "%s", domain);
	(void)snprintf(en->id, sizeof(en->id), "%s", id);
	if (mxk_mtasts_policy_parse(text, strlen(text), 0, &en->policy, &e) ==
	    -1)
		return -1;
	en->fetched = fetched;
	en->expires = fetched + mxk_mtasts_policy_max_age(en->policy);
	return 0;
}

static void
test_entry_format(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		const char	*err;
	} bad[] = {
		{ "empty", "", "not an mxkit-mta-sts 1 file" },
		{ "other magic", "mxkit-mta-sts 2\n", "not an" },
		{ "no domain", "mxkit-mta-sts 1\nid: a\n", "bad domain" },
		{ "bad domain", "mxkit-mta-sts 1\ndomain: ../x\n",
		    "bad domain" },
		{ "bad id", "mxkit-mta-sts 1\ndomain: a.test\nid: a-b\n",
		    "bad id" },
		{ "bad fetched", "mxkit-mta-sts 1\ndomain: a.test\nid: a\n"
		    "fetched: x\n", "bad fetched" },
		{ "fetched with a leading zero", "mxkit-mta-sts 1\n"
		    "domain: a.test\nid: a\nfetched: 010\n", "bad fetched" },
		{ "negative fetched", "mxkit-mta-sts 1\ndomain: a.test\n"
		    "id: a\nfetched: -1\n", "bad fetched" },
		{ "expires before fetched", "mxkit-mta-sts 1\ndomain: a.test\n"
		    "id: a\nfetched: 10\nexpires: 9\n", "bad expires" },
		{ "bad length", "mxkit-mta-sts 1\ndomain: a.test\nid: a\n"
		    "fetched: 10\nexpires: 10\nlength: -1\n", "bad length" },
		{ "no blank line", "mxkit-mta-sts 1\ndomain: a.test\nid: a\n"
		    "fetched: 10\nexpires: 10\nlength: 1\nx", "no blank line" },
		{ "short (torn)", "mxkit-mta-sts 1\ndomain: a.test\nid: a\n"
		    "fetched: 10\nexpires: 10\nlength: 100\n\nversion: STSv1\n",
		    "100 policy octets expected" },
		{ "long", "mxkit-mta-sts 1\ndomain: a.test\nid: a\n"
		    "fetched: 10\nexpires: 10\nlength: 1\n\nvv",
		    "1 policy octets expected" },
		{ "lifetime longer than max_age", "mxkit-mta-sts 1\n"
		    "domain: a.test\nid: a\nfetched: 10\nexpires: 12\n"
		    "length: 37\n\nversion: STSv1\nmode: none\nmax_age: 1\n",
		    "expires is not fetched + max_age" },
		{ "bad policy", "mxkit-mta-sts 1\ndomain: a.test\nid: a\n"
		    "fetched: 10\nexpires: 10\nlength: 15\n\nversion: STSv2\n",
		    "policy: line 1: version" },
	};
	struct mxk_mtasts_entry	 en, back;
	struct mxk_buf		 b;
	struct mxk_err		 e;
	size_t			 i, la, lb;

	for (i = 0; i < NELEM(texts); i++) {
		T_EQ_INT(mkentry(&en, "example.test", "id42", texts[i],
		    1700000000), 0, "entry");
		mxk_buf_init(&b, 1 << 16);
		T_EQ_INT(mxk_mtasts_entry_format(&en, &b, &e), 0, "format");
		T_OK(b.len > 0 && strncmp(b.p, "mxkit-mta-sts 1\ndomain: "
		    "example.test\nid: id42\nfetched: 1700000000\n", 56) == 0,
		    "format header: %s", b.p);
		T_EQ_INT(mxk_mtasts_entry_parse(b.p, b.len, 0, &back, &e), 0,
		    "parse back");
		T_EQ_STR(back.domain, "example.test", "round trip domain");
		T_EQ_STR(back.id, "id42", "round trip id");
		T_EQ_INT(back.fetched, en.fetched, "round trip fetched");
		T_EQ_INT(back.expires, en.expires, "round trip expires");
		T_OK(mxk_mtasts_policy_same(back.policy, en.policy),
		    "round trip text");
		(void)mxk_mtasts_policy_text(back.policy, &la);
		(void)mxk_mtasts_policy_text(en.policy, &lb);
		T_EQ_INT(la, lb, "round trip length");
		/* Every cut of the file is refused. */
		{
			size_t cut, refused = 0;

			for (cut = 0; cut < b.len; cut++) {
				struct mxk_mtasts_entry t;

				if (mxk_mtasts_entry_parse(b.p, cut, 0, &t,
				    &e) == -1)
					refused++;
				else
					mxk_mtasts_entry_clear(&t);
			}
			T_EQ_INT(refused, b.len, "every truncation refused");
		}
		mxk_buf_free(&b);
		mxk_mtasts_entry_clear(&back);
		mxk_mtasts_entry_clear(&en);
	}
	for (i = 0; i < NELEM(bad); i++) {
		T_EQ_INT(mxk_mtasts_entry_parse(bad[i].in, strlen(bad[i].in), 0,
		    &back, &e), -1, bad[i].name);
		T_OK(contains(e.msg, bad[i].err), "%s: \"%s\" lacks \"%s\"",
		    bad[i].name, e.msg, bad[i].err);
		T_OK(back.policy == NULL, "%s: nothing kept", bad[i].name);
	}
	/* A NUL inside a header value does not cut it short (found by
	 * tests/fuzz/fuzz_mtasts.c). */
	{
		static const char nul[] = "mxkit-mta-sts 1\ndomain: ex\0mple."
		    "test\nid: v1\nfetched: 1\nexpires: 1\nlength: 0\n\n";

		T_EQ_INT(mxk_mtasts_entry_parse(nul, sizeof(nul) - 1, 0, &back,
		    &e), -1, "NUL in a header value");
		T_OK(contains(e.msg, "bad domain"), "NUL: %s", e.msg);
	}
	memset(&en, 0, sizeof(en));
	mxk_buf_init(&b, 1024);
	T_EQ_INT(mxk_mtasts_entry_format(&en, &b, &e), -1, "format empty");
	mxk_buf_free(&b);
}

static char	tmpdir[64];

static size_t
count_files(const char *dir, int dotted)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (size_t)-1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((de->d_name[0] == '.') == (dotted != 0))
			n++;
	}
	(void)closedir(d);
	return n;
}

#define WRITERS		4
#define WRITES		60
#define READS_MAX	1000000	/* reads while writers run, at most */

static void
test_cache(void)
{
	struct mxk_mtasts_cache	*c = NULL, *c2 = NULL;
	struct mxk_mtasts_entry	 en, got;
	struct mxk_err		 e;
	char			 dir[128], path[256];
	pid_t			 pid[WRITERS];
	size_t			 i, alive, reads_after = 0;
	int			 rc, fd, status, torn = 0, seen = 0;
	int			 wstat[WRITERS];

	(void)snprintf(dir, sizeof(dir), "%s/a/b/mta-sts", tmpdir);
	T_EQ_INT(mxk_mtasts_cache_open(dir, 0, &c, &e), -1, "open missing");
	T_EQ_INT(mxk_mtasts_cache_open(dir, MXK_MTASTS_CACHE_CREATE, &c, &e),
	    0, "open create");
	if (c == NULL) {
		(void)fprintf(stderr, "cache: %s\n", e.msg);
		return;
	}
	T_EQ_STR(mxk_mtasts_cache_dir(c), dir, "cache dir");
	{
		struct stat st;

		T_OK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700,
		    "created 0700");
	}
	T_EQ_INT(mxk_mtasts_cache_get(c, "example.test", 0, 0, &got, &e), 0,
	    "get absent");
	T_EQ_INT(mxk_mtasts_cache_get(c, "../etc/passwd", 0, 0, &got, &e), -1,
	    "get refuses a path");
	T_EQ_INT(mkentry(&en, "example.test", "v1", texts[0], 1000), 0,
	    "entry v1");
	T_EQ_INT(mxk_mtasts_cache_put(c, &en, &e), 0, "put v1");
	mxk_mtasts_entry_clear(&en);
	T_EQ_INT(mxk_mtasts_cache_get(c, "EXAMPLE.test.", 0, 0, &got, &e), 1,
	    "get v1 (case, dot)");
	T_EQ_STR(got.id, "v1", "get v1 id");
	T_EQ_INT(got.expires, 1000 + 86400, "get v1 expires");
	T_EQ_INT(mxk_mtasts_policy_mode(got.policy), MXK_MTASTS_MODE_ENFORCE,
	    "get v1 mode");
	mxk_mtasts_entry_clear(&got);
	(void)snprintf(path, sizeof(path), "%s/example.test", dir);
	{
		struct stat st;

		T_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644,
		    "file 0644");
	}
	T_EQ_INT(mkentry(&en, "example.test", "v2", texts[1], 2000), 0,
	    "entry v2");
	T_EQ_INT(mxk_mtasts_cache_put(c, &en, &e), 0, "put v2");
	mxk_mtasts_entry_clear(&en);
	T_EQ_INT(mxk_mtasts_cache_get(c, "example.test", 0, 0, &got, &e), 1,
	    "get v2");
	T_EQ_STR(got.id, "v2", "replaced");
	mxk_mtasts_entry_clear(&got);
	T_EQ_INT(count_files(dir, 1), 0, "no temporary file left");
	T_EQ_INT(count_files(dir, 0), 1, "one file");

	/* A torn file (as a foreign writer could leave) is refused. */
	(void)snprintf(path, sizeof(path), "%s/torn.test", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_OK(fd != -1, "torn file created");
	if (fd != -1) {
		const char *t = "mxkit-mta-sts 1\ndomain: torn.test\nid: a\n"
		    "fetched: 1\nexpires: 2\nlength: 60\n\nversion: STSv1\n";

		T_OK(write(fd, t, strlen(t)) == (ssize_t)strlen(t),
		    "torn written");
		(void)close(fd);
	}
	T_EQ_INT(mxk_mtasts_cache_get(c, "torn.test", 0, 0, &got, &e), -1,
	    "torn refused");
	T_OK(contains(e.msg, "60 policy octets expected"), "torn: %s", e.msg);
	/* A file that names another domain. */
	(void)snprintf(path, sizeof(path), "%s/other.test", dir);
	{
		char from[256];

		(void)snprintf(from, sizeof(from), "%s/example.test", dir);
		T_OK(link(from, path) == 0, "link other.test");
	}
	T_EQ_INT(mxk_mtasts_cache_get(c, "other.test", 0, 0, &got, &e), -1,
	    "other domain refused");
	T_OK(contains(e.msg, "names another domain"), "other: %s", e.msg);
	/* A file too large for the limits. */
	T_EQ_INT(mxk_mtasts_cache_get(c, "example.test", 0, 10, &got, &e), 1,
	    "small max_body still fits the header allowance");
	mxk_mtasts_entry_clear(&got);

	/* A directory others may write is refused. */
	T_OK(chmod(dir, 0777) == 0, "chmod 0777");
	T_EQ_INT(mxk_mtasts_cache_open(dir, 0, &c2, &e), -1,
	    "group/world-writable refused");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "refused: config");
	T_OK(contains(e.msg, "not be writable by group or others"),
	    "refused: %s", e.msg);
	T_OK(chmod(dir, 0700) == 0, "chmod 0700");

	/*
	 * Concurrent writers (each replacing the file with one of three
	 * policies) and a reader: every read gives a whole file.
	 */
	for (i = 0; i < WRITERS; i++) {
		if ((pid[i] = fork()) == 0) {
			struct mxk_mtasts_cache *wc;
			int k, bad = 0;

			if (mxk_mtasts_cache_open(dir, 0, &wc, &e) == -1)
				_exit(2);
			for (k = 0; k < WRITES; k++) {
				struct mxk_mtasts_entry w;
				char id[16];

				(void)snprintf(id, sizeof(id), "w%zuk%d", i, k);
				if (mkentry(&w, "race.test", id,
				    texts[(i + (size_t)k) % NELEM(texts)],
				    1000 + k) == -1 ||
				    mxk_mtasts_cache_put(wc, &w, &e) == -1)
					bad = 1;
				mxk_mtasts_entry_clear(&w);
			}
			mxk_mtasts_cache_close(wc);
			_exit(bad);
		}
	}
	/*
	 * Read while any writer runs (bounded), and once more after: the
	 * children may start late on a loaded machine.
	 */
	for (i = 0, alive = WRITERS; alive > 0 || i == 0 ||
	    reads_after == 0; i++) {
		if (alive == 0)
			reads_after++;
		else if (i >= READS_MAX)
			break;
		else {
			size_t j;

			for (j = 0, alive = 0; j < WRITERS; j++) {
				if (pid[j] == 0)
					continue;
				if (waitpid(pid[j], &status, WNOHANG) == pid[j]) {
					wstat[j] = status;
					pid[j] = 0;
				} else
					alive++;
			}
		}
		rc = mxk_mtasts_cache_get(c, "race.test", 0, 0, &got, &e);
		if (rc == -1) {
			torn++;
			(void)fprintf(stderr, "race read: %s\n", e.msg);
		} else if (rc == 1) {
			size_t k, ok = 0;

			seen++;
			for (k = 0; k < NELEM(texts); k++)
				if (strcmp(mxk_mtasts_policy_text(got.policy,
				    NULL), texts[k]) == 0)
					ok = 1;
			if (!ok || got.id[0] != 'w')
				torn++;
			mxk_mtasts_entry_clear(&got);
		}
	}
	for (i = 0; i < WRITERS; i++) {
		if (pid[i] != 0 && waitpid(pid[i], &wstat[i], 0) != pid[i])
			wstat[i] = -1;
		T_OK(WIFEXITED(wstat[i]) && WEXITSTATUS(wstat[i]) == 0,
		    "writer %zu", i);
	}
	T_EQ_INT(torn, 0, "no torn read among concurrent writes");
	T_OK(seen > 0, "reads saw the file (%d)", seen);
	T_EQ_INT(mxk_mtasts_cache_get(c, "race.test", 0, 0, &got, &e), 1,
	    "race file whole at the end");
	mxk_mtasts_entry_clear(&got);
	T_EQ_INT(count_files(dir, 1), 0, "no temporary file left after race");
	mxk_mtasts_cache_close(c);
}

static void
test_names(void)
{
	T_EQ_STR(mxk_mtasts_mode_name(MXK_MTASTS_MODE_ENFORCE), "enforce",
	    "mode name");
	T_EQ_STR(mxk_mtasts_mode_name(MXK_MTASTS_MODE__COUNT), "?",
	    "mode name out of range");
	T_EQ_STR(mxk_mtasts_status_name(MXK_MTASTS_UNREACHABLE),
	    "unreachable", "status name");
	T_EQ_STR(mxk_mtasts_tlsrpt_name(MXK_MTASTS_TLSRPT_TEMPFAIL), "unknown",
	    "tlsrpt name");
	T_EQ_STR(mxk_mtasts_fetch_name(MXK_MTASTS_FETCH_INVALID), "invalid",
	    "fetch name");
	T_EQ_STR(mxk_mtasts_txt_name(MXK_MTASTS_TXT_MULTIPLE), "multiple",
	    "txt name");
}

static void
rmtree(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	char		 p[512];

	if ((d = opendir(path)) == NULL) {
		(void)unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		(void)snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		rmtree(p);
	}
	(void)closedir(d);
	(void)rmdir(path);
}

int
main(void)
{
	(void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/mxk-mtasts.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_txt_parse();
	test_txt_select();
	test_policy_parse();
	test_mx_match();
	test_enforce();
	test_tlsrpt();
	test_decide();
	test_entry_format();
	test_cache();
	test_names();
	rmtree(tmpdir);
	return t_done("mtasts");
}
