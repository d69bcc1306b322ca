/* ISC license. */

#include <string.h>

#include "reply.h"
#include "t.h"

int
main(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		int		 want;		/* 1, 0, -1 */
		int		 code;
		const char	*status;
		const char	*text;
		size_t		 used;
		size_t		 nlines;
	} cases[] = {
		{ "simple", "220 mx.test ESMTP\r\n", 1, 220, "2.0.0",
		    "mx.test ESMTP", 19, 1 },
		{ "status", "250 2.1.0 Ok\r\n", 1, 250, "2.1.0", "Ok", 14, 1 },
		{ "status mismatch", "250 5.1.1 odd\r\n", 1, 250, "2.0.0",
		    "5.1.1 odd", 15, 1 },
		{ "multi", "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
		    1, 250, "2.0.0", "mx.test\nPIPELINING\nSIZE 10", 42, 3 },
		{ "bare code", "250\r\n", 1, 250, "2.0.0", "", 5, 1 },
		{ "bare LF", "421 4.3.2 bye\n", 1, 421, "4.3.2", "bye", 14, 1 },
		{ "trailing data kept", "250 ok\r\n250 next\r\n", 1, 250,
		    "2.0.0", "ok", 8, 1 },
		{ "incomplete line", "220 mx.te", 0, 0, "", "", 0, 0 },
		{ "incomplete multi", "250-a\r\n250-b\r\n", 0, 0, "", "", 0,
		    0 },
		{ "empty", "", 0, 0, "", "", 0, 0 },
		{ "bad first digit", "650 no\r\n", -1, 0, "", "", 0, 0 },
		{ "letters", "abc\r\n", -1, 0, "", "", 0, 0 },
		{ "short", "25\r\n", -1, 0, "", "", 0, 0 },
		{ "bad separator", "250xok\r\n", -1, 0, "", "", 0, 0 },
		{ "code change", "250-a\r\n251 b\r\n", -1, 0, "", "", 0, 0 },
		{ "binary text", "554 \x01\xfe\r\n", 1, 554, "5.0.0", "??", 8,
		    1 },
		{ "354", "354 go ahead\r\n", 1, 354, "2.0.0", "go ahead", 14,
		    1 },
		{ "4xx status", "450 4.2.0 busy\r\n", 1, 450, "4.2.0", "busy",
		    16, 1 },
		{ "status only", "250 2.0.0\r\n", 1, 250, "2.0.0", "", 11, 1 },
	};
	struct mxk_reply		r;
	struct mxk_err			e;
	struct mxk_reply_params		rp = { .linemax = 64, .max = 256 };
	char				big[1024], first[16];
	const char			*bin = "\xff\x9b" "31m\x1b[0m\xc3\xa9\r\n";
	size_t				i, used;
	int				got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		used = 0;
		got = mxk_reply_parse(cases[i].in, strlen(cases[i].in), NULL,
		    &r, &used, &e);
		T_EQ_INT(got, cases[i].want, cases[i].name);
		if (got == 1) {
			T_EQ_INT(r.code, cases[i].code, cases[i].name);
			T_EQ_STR(r.status, cases[i].status, cases[i].name);
			T_EQ_STR(r.text, cases[i].text, cases[i].name);
			T_EQ_INT(used, cases[i].used, cases[i].name);
			T_EQ_INT(r.nlines, cases[i].nlines, cases[i].name);
		} else if (got == -1) {
			T_EQ_INT(e.class, MXK_ERR_PROTO, cases[i].name);
			T_EQ_STR(e.status, "5.5.0", cases[i].name);
		}
	}
	/* Limits. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "250 ", 4);
	T_EQ_INT(mxk_reply_parse(big, 64, &rp, &r, &used, &e), -1,
	    "line at linemax without LF");
	T_EQ_INT(mxk_reply_parse(big, 63, &rp, &r, &used, &e), 0,
	    "line under linemax: need more");
	for (i = 0; i + 7 < sizeof(big); i += 7)
		memcpy(big + i, "250-ab\n", 7);
	T_EQ_INT(mxk_reply_parse(big, sizeof(big), &rp, &r, &used, &e), -1,
	    "reply over max");
	T_OK(strstr(e.msg, "longer than 256") != NULL, "max message: %s",
	    e.msg);
	/* A malformed line is quoted in the error, but never raw: no
	 * control, C1 (0x9b is a CSI) or other non-ASCII octet gets out. */
	T_EQ_INT(mxk_reply_parse(bin, strlen(bin), NULL, &r, &used, &e), -1,
	    "binary reply line");
	T_EQ_STR(e.msg, "malformed reply line \"??31m?[0m??\"",
	    "binary reply line shown sanitised");
	(void)mxk_reply_parse("250-abc\r\n250 d\r\n", 16, NULL, &r, &used, &e);
	T_EQ_STR(mxk_reply_first_line(&r, first, sizeof(first)), "abc",
	    "first line");
	T_EQ_STR(mxk_reply_first_line(&r, first, 3), "ab", "first line cut");
	return t_done("reply");
}
