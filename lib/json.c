/* ISC license. */

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "json.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t		len, i;
	unsigned int	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

int
mxk_json_strn(struct mxk_buf *b, const char *str, size_t n)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 i, l;
	char			 esc[8];

	if (mxk_buf_addch(b, '"') == -1)
		return -1;
	for (i = 0; i < n; i += l) {
		l = 1;
		if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			if (mxk_buf_add(b, esc, 2) == -1)
				return -1;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			(void)snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			if (mxk_buf_addstr(b, esc) == -1)
				return -1;
		} else if (s[i] < 0x80) {
			if (mxk_buf_addch(b, (char)s[i]) == -1)
				return -1;
		} else if ((l = utf8_len(s + i, n - i)) == 0) {
			l = 1;
			if (mxk_buf_addstr(b, "\xef\xbf\xbd") == -1)
				return -1;
		} else if (mxk_buf_add(b, s + i, l) == -1)
			return -1;
	}
	return mxk_buf_addch(b, '"');
}

int
mxk_json_str(struct mxk_buf *b, const char *s)
{
	if (s == NULL)
		return mxk_buf_addstr(b, "null");
	return mxk_json_strn(b, s, strlen(s));
}

int
mxk_json_key(struct mxk_buf *b, int *first, const char *key)
{
	if (!*first && mxk_buf_addch(b, ',') == -1)
		return -1;
	*first = 0;
	if (mxk_json_str(b, key) == -1)
		return -1;
	return mxk_buf_addch(b, ':');
}

int
mxk_json_kv_str(struct mxk_buf *b, int *first, const char *key,
    const char *val)
{
	if (mxk_json_key(b, first, key) == -1)
		return -1;
	return mxk_json_str(b, val);
}

int
mxk_json_kv_int(struct mxk_buf *b, int *first, const char *key, long long v)
{
	if (mxk_json_key(b, first, key) == -1)
		return -1;
	return mxk_buf_printf(b, "%lld", v);
}

int
mxk_json_kv_bool(struct mxk_buf *b, int *first, const char *key, int v)
{
	if (mxk_json_key(b, first, key) == -1)
		return -1;
	return mxk_buf_addstr(b, v ? "true" : "false");
}
