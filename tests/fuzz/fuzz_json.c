/* ISC license. */

/*
 * Fuzz target: JSON string output (lib/json) on arbitrary bytes.
 *
 * Whatever the input, mxk_json_strn() must write one valid JSON string
 * (RFC 8259 §7: no raw control characters, only the defined escapes, valid
 * UTF-8, RFC 3629) and, when the input is itself valid UTF-8, the string
 * must decode back to the input exactly.  An object built with the
 * mxk_json_kv_*() helpers from the input must be a valid JSON object.  A
 * buffer cap smaller than the output must give -1 without overrunning it.
 * The validator and decoder below are our own, deliberately independent of
 * lib/json.c.
 *
 * fuzz-args: -max_len=4096
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

/* Strict UTF-8 (RFC 3629 §4): length of the sequence at s, 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		unsigned lo = s[0] == 0xe0 ? 0xa0 : 0x80,
		    hi = s[0] == 0xed ? 0x9f : 0xbf;

		return n >= 3 && s[1] >= lo && s[1] <= hi &&
		    (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		unsigned lo = s[0] == 0xf0 ? 0x90 : 0x80,
		    hi = s[0] == 0xf4 ? 0x8f : 0xbf;

		return n >= 4 && s[1] >= lo && s[1] <= hi &&
		    (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t	i, l;

	for (i = 0; i < n; i += l)
		if ((l = utf8_seq(s + i, n - i)) == 0)
			return 0;
	return 1;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Put code point cp as UTF-8 at out; returns the octets written. */
static size_t
put_utf8(unsigned long cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A JSON string at s[*i..n): check it and, when out is not NULL, decode it
 * there (room for n octets).  Returns 0 with *i past the closing quote and
 * *olen the decoded length, -1 if it is not a valid JSON string.
 */
static int
json_string(const unsigned char *s, size_t n, size_t *i, unsigned char *out,
    size_t *olen)
{
	size_t		 p = *i, o = 0, l;
	unsigned long	 cp, lo;
	unsigned char	 tmp[4];
	int		 k, h;

	if (p >= n || s[p] != '"')
		return -1;
	p++;
	for (;;) {
		if (p >= n)
			return -1;
		if (s[p] == '"')
			break;
		if (s[p] < 0x20)
			return -1;
		if (s[p] != '\\') {
			if ((l = utf8_seq(s + p, n - p)) == 0)
				return -1;
			if (out != NULL)
				memcpy(out + o, s + p, l);
			o += l;
			p += l;
			continue;
		}
		if (++p >= n)
			return -1;
		switch (s[p]) {
		case '"': case '\\': case '/':
			cp = s[p];
			break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			cp = 0;
			for (k = 1; k <= 4; k++) {
				if (p + (size_t)k >= n ||
				    (h = hexval(s[p + k])) < 0)
					return -1;
				cp = cp << 4 | (unsigned long)h;
			}
			p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -1;	/* lone low surrogate */
			if (cp >= 0xd800 && cp <= 0xdbff) {
				/* A high surrogate needs "\uDC00-DFFF". */
				if (p + 6 >= n || s[p + 1] != '\\' ||
				    s[p + 2] != 'u')
					return -1;
				lo = 0;
				for (k = 3; k <= 6; k++) {
					if ((h = hexval(s[p + k])) < 0)
						return -1;
					lo = lo << 4 | (unsigned long)h;
				}
				if (lo < 0xdc00 || lo > 0xdfff)
					return -1;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			}
			break;
		default:
			return -1;
		}
		p++;
		l = put_utf8(cp, tmp);
		if (out != NULL)
			memcpy(out + o, tmp, l);
		o += l;
	}
	*i = p + 1;
	if (olen != NULL)
		*olen = o;
	return 0;
}

static void
skip_ws(const unsigned char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' ||
	    s[*i] == '\r'))
		(*i)++;
}

/* A JSON scalar (string, integer, true, false, null) at s[*i..n). */
static int
json_scalar(const unsigned char *s, size_t n, size_t *i)
{
	static const char *const words[] = { "true", "false", "null" };
	size_t	k, l, start;

	if (*i < n && s[*i] == '"')
		return json_string(s, n, i, NULL, NULL);
	for (k = 0; k < 3; k++) {
		l = strlen(words[k]);
		if (n - *i >= l && memcmp(s + *i, words[k], l) == 0) {
			*i += l;
			return 0;
		}
	}
	/* Integers only: that is all mxk_json_kv_int() writes. */
	if (*i < n && s[*i] == '-')
		(*i)++;
	start = *i;
	if (*i < n && s[*i] == '0') {
		(*i)++;
		return 0;
	}
	while (*i < n && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return *i > start ? 0 : -1;
}

/* A flat JSON object of scalars, and nothing after it. */
static int
json_object(const unsigned char *s, size_t n)
{
	size_t	i = 0;

	skip_ws(s, n, &i);
	if (i >= n || s[i++] != '{')
		return -1;
	skip_ws(s, n, &i);
	if (i < n && s[i] == '}')
		i++;
	else
		for (;;) {
			skip_ws(s, n, &i);
			if (json_string(s, n, &i, NULL, NULL) == -1)
				return -1;
			skip_ws(s, n, &i);
			if (i >= n || s[i++] != ':')
				return -1;
			skip_ws(s, n, &i);
			if (json_scalar(s, n, &i) == -1)
				return -1;
			skip_ws(s, n, &i);
			if (i < n && s[i] == ',') {
				i++;
				continue;
			}
			if (i < n && s[i] == '}') {
				i++;
				break;
			}
			return -1;
		}
	skip_ws(s, n, &i);
	return i == n ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxk_buf	 b;
	unsigned char	*dec;
	char		*cstr;
	size_t		 i, dlen, cap;
	int		 first = 1, rc;

	/* Worst case: 6 octets ("\u0001") per input octet, two quotes. */
	mxk_buf_init(&b, 6 * size + 2);
	CHECK(mxk_json_strn(&b, (const char *)data, size) == 0);
	CHECK(b.len >= 2 && b.p[b.len] == '\0');
	if ((dec = malloc(b.len + 1)) == NULL)
		abort();
	i = 0;
	CHECK(json_string((const unsigned char *)b.p, b.len, &i, dec,
	    &dlen) == 0);
	CHECK(i == b.len);
	CHECK(utf8_valid(dec, dlen));
	if (utf8_valid(data, size))
		CHECK(dlen == size && memcmp(dec, data, size) == 0);
	free(dec);
	mxk_buf_free(&b);

	/* An object; the input as key and value (up to its first NUL). */
	if ((cstr = malloc(size + 1)) == NULL)
		abort();
	memcpy(cstr, data, size);
	cstr[size] = '\0';
	mxk_buf_init(&b, 24 * size + 256);
	CHECK(mxk_buf_addch(&b, '{') == 0);
	CHECK(mxk_json_kv_str(&b, &first, cstr, cstr) == 0);
	CHECK(first == 0);
	CHECK(mxk_json_kv_str(&b, &first, "null", NULL) == 0);
	CHECK(mxk_json_kv_int(&b, &first, cstr, (long long)size -
	    (size > 0 ? data[0] * 1000003LL : 0)) == 0);
	CHECK(mxk_json_kv_bool(&b, &first, "", size & 1) == 0);
	CHECK(mxk_buf_addch(&b, '}') == 0);
	CHECK(json_object((const unsigned char *)b.p, b.len) == 0);
	mxk_buf_free(&b);

	/* A cap too small: -1, never past the cap. */
	cap = size > 0 ? data[size - 1] % (size + 2) : 0;
	mxk_buf_init(&b, cap);
	rc = mxk_json_strn(&b, cstr, strlen(cstr));
	CHECK(rc == 0 || rc == -1);
	CHECK(b.len <= cap);
	mxk_buf_free(&b);
	free(cstr);
	return 0;
}
