/* ISC license. */

#include <string.h>

#include "buf.h"
#include "t.h"

static void
test_caps(void)
{
	struct mxk_buf	b;
	int		i, r = 0;

	mxk_buf_init(&b, 10);
	T_EQ_INT(mxk_buf_addstr(&b, "0123456789"), 0, "fill to max");
	T_EQ_INT(mxk_buf_addch(&b, 'x'), -1, "over max fails");
	T_EQ_INT(b.len, 10, "unchanged after failure");
	T_EQ_STR(b.p, "0123456789", "content and NUL");
	mxk_buf_reset(&b);
	T_EQ_INT(b.len, 0, "reset");
	T_EQ_INT(mxk_buf_printf(&b, "%d-%s", 42, "abcdefgh"), -1,
	    "printf over max fails");
	T_EQ_INT(b.len, 0, "printf failure leaves buffer");
	T_EQ_INT(mxk_buf_printf(&b, "%d-%s", 42, "ab"), 0, "printf");
	T_EQ_STR(b.p, "42-ab", "printf content");
	mxk_buf_free(&b);

	mxk_buf_init(&b, 1 << 20);
	for (i = 0; i < 10000; i++)
		r |= mxk_buf_add(&b, "abcdefghij", 10);
	T_EQ_INT(r, 0, "many appends");
	T_EQ_INT(b.len, 100000, "length after appends");
	T_OK(b.cap <= (1 << 20) + 1, "cap bounded by max (%zu)", b.cap);
	mxk_buf_consume(&b, 99995);
	T_EQ_STR(b.p, "fghij", "consume");
	mxk_buf_truncate(&b, 2);
	T_EQ_STR(b.p, "fg", "truncate");
	mxk_buf_wipe(&b);
	T_OK(b.p == NULL && b.len == 0, "wipe frees");

	mxk_buf_init(&b, 0);
	T_EQ_INT(mxk_buf_add(&b, "", 0), 0, "empty append with max 0");
	T_EQ_INT(mxk_buf_addch(&b, 'a'), -1, "max 0 refuses");
	mxk_buf_free(&b);

	mxk_buf_init(&b, 100);
	{
		char *s = mxk_buf_space(&b, 5);
		T_OK(s != NULL, "space");
		if (s != NULL) {
			memcpy(s, "hello", 5);
			mxk_buf_commit(&b, 5);
		}
		T_EQ_STR(b.p, "hello", "space+commit");
		T_OK(mxk_buf_space(&b, 96) == NULL, "space over max");
	}
	mxk_buf_free(&b);
}

static void
test_lines(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		size_t		 limit;
		int		 want;
		size_t		 want_len;
	} cases[] = {
		{ "simple", "HELO x\r\n", 512, MXK_LINE_OK, 8 },
		{ "bare LF", "a\nb\n", 512, MXK_LINE_OK, 2 },
		{ "incomplete", "MAIL FROM:<a@b>", 512, MXK_LINE_MORE, 0 },
		{ "empty", "", 512, MXK_LINE_MORE, 0 },
		{ "exactly limit", "abc\n", 4, MXK_LINE_OK, 4 },
		{ "over limit", "abcd\n", 4, MXK_LINE_LONG, 0 },
		{ "long no LF", "abcdefgh", 4, MXK_LINE_LONG, 0 },
		{ "under limit no LF", "abc", 4, MXK_LINE_MORE, 0 },
		{ "NUL inside", "a\0b\n", 10, MXK_LINE_OK, 4 },
	};
	struct mxk_buf	b;
	size_t		i, n, inlen;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_buf_init(&b, 1024);
		inlen = strlen(cases[i].in);
		if (strcmp(cases[i].name, "NUL inside") == 0)
			inlen = 4;
		T_EQ_INT(mxk_buf_add(&b, cases[i].in, inlen), 0, cases[i].name);
		n = 0;
		T_EQ_INT(mxk_buf_line(&b, cases[i].limit, &n), cases[i].want,
		    cases[i].name);
		if (cases[i].want == MXK_LINE_OK)
			T_EQ_INT(n, cases[i].want_len, cases[i].name);
		mxk_buf_free(&b);
	}

	mxk_buf_init(&b, 1024);
	T_EQ_INT(mxk_buf_addstr(&b, "xxxxxxxxxxxx\r\nNEXT\r\n"), 0, "skip setup");
	T_EQ_INT(mxk_buf_line(&b, 5, &n), MXK_LINE_LONG, "skip: long");
	T_EQ_INT(mxk_buf_skipline(&b), 1, "skipline finds LF");
	T_EQ_INT(mxk_buf_line(&b, 512, &n), MXK_LINE_OK, "line after skip");
	T_EQ_INT(mxk_line_trim(b.p, n), 4, "trim CRLF");
	T_EQ_INT(mxk_line_trim("ab\n", 3), 2, "trim LF");
	T_EQ_INT(mxk_line_trim("ab", 2), 2, "trim nothing");
	mxk_buf_reset(&b);
	T_EQ_INT(mxk_buf_addstr(&b, "partial"), 0, "skip partial setup");
	T_EQ_INT(mxk_buf_skipline(&b), 0, "skipline without LF");
	T_EQ_INT(b.len, 0, "skipline drops partial");
	mxk_buf_free(&b);
}

int
main(void)
{
	test_caps();
	test_lines();
	return t_done("buf");
}
