/* ISC license. */

/*
 * Fuzz target: the --check protocol of lib/check: the parser of a policy
 * program's answer lines, and the request encoder.
 *
 * Input: the bytes are split at LF; each piece is parsed as an answer
 * line and, NUL-terminated, encoded as a request value.  Invariants: an
 * answer is accepted (2xx) or a 4xx/5xx reply whose status code has the
 * reply's class; its text is printable and bounded; an encoded request is
 * one line of printable non-space octets but for the field separators,
 * and decodes back to the value.
 *
 * fuzz-args: -max_len=4096
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ?
	    c - 'A' + 10 : -1;
}

static void
one(const char *p, size_t n)
{
	struct mxk_check_result	 r;
	struct mxk_buf		 b;
	const char		*kv[2];
	char			*v, *d;
	size_t			 i, k;

	if (mxk_check_parse(p, n, &r) == 0) {
		if (r.accept)
			CHECK(r.code == 250);
		else {
			CHECK(r.code >= 400 && r.code <= 599);
			CHECK(r.status[0] == '0' + r.code / 100);
			CHECK(r.status[1] == '.');
		}
		CHECK(strlen(r.text) <= MXK_CHECK_TEXTMAX);
		for (i = 0; r.text[i] != '\0'; i++)
			CHECK((unsigned char)r.text[i] >= 32 &&
			    r.text[i] != 127);
	}
	if ((v = malloc(n + 1)) == NULL)
		return;
	memcpy(v, p, n);
	v[n] = '\0';
	kv[0] = "v";
	kv[1] = v;
	mxk_buf_init(&b, 3 * n + 16);
	if (mxk_check_encode(&b, kv, 1) == 0) {
		CHECK(b.len >= 3 && memcmp(b.p, "v=", 2) == 0);
		CHECK(b.p[b.len - 1] == '\n');
		if ((d = malloc(b.len)) != NULL) {
			/* Decode what follows "v=" and compare. */
			for (i = 2, k = 0; i < b.len - 1; i++) {
				unsigned char c = (unsigned char)b.p[i];

				CHECK(c > 0x20 && c < 0x7f);
				if (c == '%') {
					CHECK(i + 2 < b.len - 1 &&
					    hexval(b.p[i + 1]) >= 0 &&
					    hexval(b.p[i + 2]) >= 0);
					d[k++] = (char)(hexval(b.p[i + 1]) << 4 |
					    hexval(b.p[i + 2]));
					i += 2;
				} else
					d[k++] = (char)c;
			}
			CHECK(k == strlen(v) && memcmp(d, v, k) == 0);
			free(d);
		}
	}
	mxk_buf_free(&b);
	free(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *lf;
	size_t		 n;

	while (size > 0) {
		lf = memchr(p, '\n', size);
		n = lf != NULL ? (size_t)(lf - p) : size;
		one(p, n);
		if (lf == NULL)
			break;
		p += n + 1;
		size -= n + 1;
	}
	return 0;
}
