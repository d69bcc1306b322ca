/* ISC license. */

/*
 * Fuzz target: the Maildir path of a recipient (lib/store
 * mxk_store_expand()), where an address from the network becomes a
 * directory name: smtpd-lite --maildir /var/mail/%d/%u.
 *
 * Input: byte 0 picks the template, the rest is the address as the
 * server hands it over (a C string: it ends at the first NUL).  On
 * success the path must have exactly the template's components (an
 * address never adds a '/'), none of them "." or "..", empty, starting
 * with '.' or holding a control character; the template's fixed part
 * comes first, unchanged.  A refusal is
 * MXK_ERR_RCPT with 5.1.3 (an unsafe address) or MXK_ERR_CONFIG (too
 * long for the buffer), with a printable message.  The expansion into a
 * buffer one octet too small must be refused, not overrun.
 *
 * fuzz-args: -max_len=1024
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

static const char *const tmpls[] = {
	"/var/mail/%d/%u",
	"/var/mail/%u",
	"/m/%d",
	"/m/%u-%d/Maildir",
	"/m/x%%y/%u",
};
#define NTMPL	(sizeof(tmpls) / sizeof(tmpls[0]))

static size_t
count(const char *s, char c)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		n += *s == c;
	return n;
}

static void
check_path(const char *tmpl, const char *out)
{
	const char	*p, *q;
	size_t		 fixed = strcspn(tmpl, "%");

	CHECK(strncmp(out, tmpl, fixed) == 0);
	CHECK(count(out, '/') == count(tmpl, '/'));
	for (p = out + 1; ; p = q + 1) {
		q = strchr(p, '/');
		if (q == NULL)
			q = p + strlen(p);
		CHECK(q > p);			/* not empty */
		CHECK(p[0] != '.');		/* ".", "..", hidden */
		for (; p < q; p++)
			CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
		if (*q == '\0')
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxk_err	 e;
	const char	*tmpl;
	char		*addr, out[1024], *tight;
	size_t		 i, n;
	int		 rc;

	if (size < 1)
		return 0;
	tmpl = tmpls[data[0] % NTMPL];
	if ((addr = malloc(size)) == NULL)
		abort();
	memcpy(addr, data + 1, size - 1);
	addr[size - 1] = '\0';

	CHECK(mxk_store_expand(tmpl, NULL, NULL, 0, &e) == 0);
	rc = mxk_store_expand(tmpl, addr, out, sizeof(out), &e);
	CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		check_path(tmpl, out);
		n = strlen(out);
		if ((tight = malloc(n)) == NULL)
			abort();
		CHECK(mxk_store_expand(tmpl, addr, tight, n, &e) == -1);
		CHECK(mxk_store_expand(tmpl, addr, out, n + 1, &e) == 0);
		free(tight);
	} else {
		CHECK(e.class == MXK_ERR_RCPT || e.class == MXK_ERR_CONFIG);
		if (e.class == MXK_ERR_RCPT)
			CHECK(strcmp(e.status, "5.1.3") == 0);
		n = strnlen(e.msg, sizeof(e.msg));
		CHECK(n > 0 && n < sizeof(e.msg));
		for (i = 0; i < n; i++)
			CHECK((unsigned char)e.msg[i] >= 0x20);
	}
	free(addr);
	return 0;
}
