/* ISC license. */

#include <string.h>

#include "buf.h"
#include "json.h"
#include "t.h"

int
main(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		size_t		 len;
		const char	*want;
	} cases[] = {
		{ "plain", "abc", 3, "\"abc\"" },
		{ "quote", "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
		{ "control", "a\r\n\x01", 4, "\"a\\u000d\\u000a\\u0001\"" },
		{ "utf8", "b\xc3\xbc" "cher", 7, "\"b\xc3\xbc" "cher\"" },
		{ "bad utf8", "\xff", 1, "\"\xef\xbf\xbd\"" },
		{ "truncated utf8", "\xc3", 1, "\"\xef\xbf\xbd\"" },
		{ "overlong", "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "surrogate", "\xed\xa0\x80", 3,
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "NUL", "a\0b", 3, "\"a\\u0000b\"" },
		{ "del", "\x7f", 1, "\"\\u007f\"" },
	};
	struct mxk_buf	b;
	size_t		i;
	int		first = 1;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_buf_init(&b, 256);
		T_EQ_INT(mxk_json_strn(&b, cases[i].in, cases[i].len), 0,
		    cases[i].name);
		T_EQ_STR(b.p, cases[i].want, cases[i].name);
		mxk_buf_free(&b);
	}
	mxk_buf_init(&b, 256);
	T_EQ_INT(mxk_buf_addch(&b, '{'), 0, "open");
	T_EQ_INT(mxk_json_kv_str(&b, &first, "a", "x"), 0, "kv str");
	T_EQ_INT(mxk_json_kv_int(&b, &first, "n", -5), 0, "kv int");
	T_EQ_INT(mxk_json_kv_bool(&b, &first, "t", 1), 0, "kv bool");
	T_EQ_INT(mxk_json_kv_str(&b, &first, "z", NULL), 0, "kv null");
	T_EQ_INT(mxk_buf_addch(&b, '}'), 0, "close");
	T_EQ_STR(b.p, "{\"a\":\"x\",\"n\":-5,\"t\":true,\"z\":null}", "object");
	mxk_buf_free(&b);
	mxk_buf_init(&b, 4);
	T_EQ_INT(mxk_json_str(&b, "abcdef"), -1, "cap reached");
	mxk_buf_free(&b);
	return t_done("json");
}
