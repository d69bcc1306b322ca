/* ISC license. */

/*
 * Fuzz target: mailboxes, targets, domains and host names (lib/addr).
 *
 * The input, with its length (NULs included), goes to each parser:
 * mxk_addr_parse_mailbox() under three flag sets, mxk_addr_parse_target(),
 * mxk_addr_parse_domain() with full-size and tight buffers, and
 * mxk_addr_check_host().  Results are checked against addr.h: limits of
 * RFC 5321 §4.5.3.1, lowercase A-label domains, NUL-terminated fields,
 * errors of class DATA with the documented statuses.  A parsed address
 * written back with mxk_addr_format() must parse again to the same local
 * part and domain (in the A-label and the U-label form), and the format
 * must refuse a buffer one octet too small.
 *
 * fuzz-args: -max_len=2048
 */

#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "err.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#define TERMINATED(a)	(memchr((a), '\0', sizeof(a)) != NULL)

static void
check_err(const struct mxk_err *e)
{
	CHECK(e->class == MXK_ERR_DATA || e->class == MXK_ERR_INTERNAL);
	if (e->class == MXK_ERR_DATA)
		CHECK(strcmp(e->status, "5.1.3") == 0 ||
		    strcmp(e->status, "5.1.2") == 0 ||
		    strcmp(e->status, "5.6.7") == 0);
	CHECK(TERMINATED(e->msg));
	CHECK(e->msg[0] != '\0');
}

/* An A-label domain: lowercase LDH labels of 1-63, 253 at most. */
static void
check_alabel(const char *d)
{
	size_t	n = strlen(d), i, lab = 0;

	CHECK(n > 0 && n <= MXK_ADDR_DOMAINMAX);
	for (i = 0; i < n; i++) {
		if (d[i] == '.') {
			CHECK(lab > 0);
			lab = 0;
			continue;
		}
		CHECK((d[i] >= 'a' && d[i] <= 'z') ||
		    (d[i] >= '0' && d[i] <= '9') || d[i] == '-');
		CHECK(++lab <= MXK_ADDR_LABELMAX);
	}
	CHECK(lab > 0);
}

static void
check_addr(const struct mxk_addr *a, int target)
{
	CHECK(TERMINATED(a->local) && TERMINATED(a->domain) &&
	    TERMINATED(a->domain_utf8));
	if (a->is_null) {
		CHECK(a->local[0] == '\0' && a->domain[0] == '\0');
		return;
	}
	CHECK(strlen(a->local) <= MXK_ADDR_LOCALMAX);
	CHECK(strlen(a->local) + 1 + strlen(a->domain) <= MXK_ADDR_PATHMAX ||
	    a->local[0] == '\0');
	if (!target)
		CHECK(a->local[0] != '\0');
	if (a->is_literal) {
		CHECK(a->family == AF_INET || a->family == AF_INET6);
		CHECK(a->domain[0] == '[' &&
		    a->domain[strlen(a->domain) - 1] == ']');
		CHECK(strcmp(a->domain, a->domain_utf8) == 0);
	} else
		check_alabel(a->domain);
}

/* Write a back in both forms and parse it again. */
static void
roundtrip(const struct mxk_addr *a)
{
	struct mxk_addr	 b;
	struct mxk_err	 e;
	char		 big[2048], *tight;
	int		 utf8, n, rc;

	if (a->is_null)
		return;
	for (utf8 = 0; utf8 <= 1; utf8++) {
		n = mxk_addr_format(a, utf8, big, sizeof(big));
		if (n == -1) {
			CHECK(!utf8 && a->needs_smtputf8 &&
			    a->local[0] != '\0');
			continue;
		}
		CHECK((size_t)n == strlen(big));
		/* Exactly sized, then one short. */
		if ((tight = malloc((size_t)n + 1)) == NULL)
			abort();
		CHECK(mxk_addr_format(a, utf8, tight, (size_t)n + 1) == n);
		CHECK(strcmp(tight, big) == 0);
		CHECK(mxk_addr_format(a, utf8, tight, (size_t)n) == -1);
		free(tight);

		if (a->local[0] != '\0')
			rc = mxk_addr_parse_mailbox(&b, big, (size_t)n, 0, &e);
		else
			rc = mxk_addr_parse_target(&b, big, (size_t)n, &e);
		if (rc == -1) {
			(void)fprintf(stderr, "reparse of \"%s\": %s\n", big,
			    e.msg);
			CHECK(rc == 0);
		}
		CHECK(strcmp(b.local, a->local) == 0);
		CHECK(strcmp(b.domain, a->domain) == 0);
		CHECK(b.is_literal == a->is_literal);
		CHECK(b.needs_smtputf8 == a->needs_smtputf8);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	 flags[] = {
		0,
		MXK_ADDR_ALLOW_BRACKETS | MXK_ADDR_ALLOW_NULL,
		MXK_ADDR_ALLOW_BRACKETS | MXK_ADDR_ASCII_LOCAL,
	};
	const char		*s = (const char *)data;
	struct mxk_addr		 a;
	struct mxk_err		 e;
	char			 alabel[MXK_ADDR_DOMAINMAX + 1];
	char			 ulabel[MXK_ADDR_UDOMAINMAX + 1];
	char			*small;
	size_t			 i;
	int			 utf8, rc;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		memset(&a, 0xa5, sizeof(a));
		if (mxk_addr_parse_mailbox(&a, s, size, flags[i], &e) == 0) {
			check_addr(&a, 0);
			CHECK(a.is_null == 0 ||
			    (flags[i] & MXK_ADDR_ALLOW_NULL));
			if ((flags[i] & MXK_ADDR_ASCII_LOCAL) != 0)
				CHECK(!a.needs_smtputf8);
			roundtrip(&a);
		} else
			check_err(&e);
	}

	memset(&a, 0xa5, sizeof(a));
	if (mxk_addr_parse_target(&a, s, size, &e) == 0) {
		check_addr(&a, 1);
		CHECK(!a.is_null);
		roundtrip(&a);
	} else
		check_err(&e);

	utf8 = -1;
	if (mxk_addr_parse_domain(alabel, sizeof(alabel), ulabel,
	    sizeof(ulabel), s, size, &utf8, &e) == 0) {
		check_alabel(alabel);
		CHECK(utf8 == 0 || utf8 == 1);
		CHECK(TERMINATED(ulabel));
		/* A domain is a host name. */
		CHECK(mxk_addr_check_host(alabel, strlen(alabel), NULL) == 0);
		/* Too small an output buffer: refused, never overrun. */
		if ((small = malloc(strlen(alabel))) == NULL)
			abort();
		rc = mxk_addr_parse_domain(small, strlen(alabel), NULL, 0, s,
		    size, NULL, &e);
		CHECK(rc == -1);
		CHECK(e.class == MXK_ERR_INTERNAL);
		free(small);
	} else
		check_err(&e);

	if (mxk_addr_check_host(s, size, &e) == -1) {
		check_err(&e);
		CHECK(strcmp(e.status, "5.1.2") == 0);
		CHECK(mxk_addr_check_host(s, size, NULL) == -1);
	} else
		CHECK(size > 0 && size <= MXK_ADDR_DOMAINMAX + 1);
	return 0;
}
