/* ISC license. */

/*
 * Fuzz target: DNS responses (lib/dns mxk_dns_parse_answer) as they come
 * off the wire.
 *
 * Input: one DNS message.  It is parsed as the answer to the question it
 * carries itself (first question name and type, read here, so that the
 * question check passes and the answer, CNAME and authority code is
 * reached), and as the answer to the fixed question "example.test MX" (so
 * that mismatches are exercised too).  The header ID, which the parser
 * does not check, chooses the options: bit 0 trusts the AD bit, bits 1-3
 * give cname_max, bit 4 a small max_answer.  Answers are checked against
 * dns.h: status and DNSSEC values in range, records of the asked type only,
 * names lowercase text of safe octets ('?' otherwise, flagged unsafe), the
 * CNAME chain within cname_max, printable "why".
 *
 * fuzz-args: -max_len=65535
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"
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

/* Text of a name from dns: lowercase, safe octets or '?', no final dot. */
static void
check_name(const char *n, size_t size)
{
	size_t	i, len;

	CHECK(memchr(n, '\0', size) != NULL);
	len = strlen(n);
	CHECK(len <= 254);
	if (len == 0)
		return;
	if (strcmp(n, ".") == 0)
		return;
	CHECK(n[0] != '.' && n[len - 1] != '.');
	for (i = 0; i < len; i++)
		CHECK((n[i] >= 'a' && n[i] <= 'z') ||
		    (n[i] >= '0' && n[i] <= '9') || n[i] == '-' ||
		    n[i] == '_' || n[i] == '?' ||
		    (n[i] == '.' && n[i + 1] != '.'));
}

static void
check_answer(const struct mxk_dns_answer *a, const char *qname, int qtype,
    int cname_max)
{
	size_t	i, j;

	CHECK(a->qtype == qtype);
	CHECK(a->status >= MXK_DNS_OK && a->status < MXK_DNS__COUNT);
	CHECK(a->status != MXK_DNS_TIMEOUT);
	CHECK(a->dnssec >= MXK_DNSSEC_INDETERMINATE &&
	    a->dnssec < MXK_DNSSEC__COUNT);
	CHECK(a->rcode >= 0 && a->rcode <= 4095);
	CHECK(TERMINATED(a->qname) && TERMINATED(a->canon) &&
	    TERMINATED(a->why) && TERMINATED(a->server));
	CHECK(strcasecmp(a->qname, qname) == 0 ||
	    (strlen(a->qname) + 1 == strlen(qname) &&
	    strncasecmp(a->qname, qname, strlen(a->qname)) == 0));
	check_name(a->canon, sizeof(a->canon));
	for (i = 0; a->why[i] != '\0'; i++)
		CHECK(a->why[i] >= 0x20 && a->why[i] < 0x7f);
	CHECK(a->nchain <= (size_t)cname_max);
	CHECK((a->nchain == 0) == (a->chain == NULL));
	for (i = 0; i < a->nchain; i++)
		check_name(a->chain[i].name, sizeof(a->chain[i].name));
	if (a->status == MXK_DNS_OK)
		CHECK(a->nrr > 0);
	if (a->status == MXK_DNS_NXDOMAIN || a->status == MXK_DNS_ERROR ||
	    a->status == MXK_DNS_SERVFAIL || a->status == MXK_DNS_REFUSED)
		CHECK(a->nrr == 0 || a->status == MXK_DNS_ERROR);
	if (a->status == MXK_DNS_SERVFAIL)
		CHECK(a->dnssec == MXK_DNSSEC_BOGUS);
	if (a->dnssec == MXK_DNSSEC_SECURE)
		CHECK(a->ad && a->ad_trusted);
	if (a->incomplete)
		CHECK(a->status == MXK_DNS_NODATA && a->nchain > 0);
	CHECK(a->chain_secure == 0 || a->chain_secure == 1);
	for (i = 0; i < a->nrr; i++) {
		const struct mxk_dns_rr *r = &a->rr[i];

		CHECK(r->type == qtype);
		CHECK(r->ttl < 0x80000000U);
		CHECK(r->ttl >= a->ttl);
		CHECK(TERMINATED(r->name));
		switch (r->type) {
		case MXK_DNS_MX:
			CHECK(r->pref <= 65535);
			/* FALLTHROUGH */
		case MXK_DNS_CNAME:
		case MXK_DNS_NS:
		case MXK_DNS_PTR:
			check_name(r->name, sizeof(r->name));
			CHECK(r->name[0] != '\0');
			CHECK(r->unsafe == (strchr(r->name, '?') != NULL));
			break;
		case MXK_DNS_A:
		case MXK_DNS_AAAA:
			break;
		case MXK_DNS_TXT:
			CHECK(r->data != NULL && r->data[r->len] == '\0');
			break;
		default:
			CHECK(r->data != NULL);
			/* Touch every octet: ASan checks the length. */
			for (j = 0; j < r->len; j++)
				CHECK(r->data[j] == r->data[j]);
			break;
		}
	}
}

/*
 * The first question of a message as text ("a.b") and its type, when its
 * name is made of plain labels of safe octets.  0, or -1 when there is none.
 */
static int
question(const uint8_t *w, size_t n, char *name, size_t namelen, int *qtype)
{
	size_t	p = 12, o = 0, l, k;

	if (n < 12 || (w[4] == 0 && w[5] == 0))
		return -1;
	for (;;) {
		if (p >= n)
			return -1;
		l = w[p++];
		if (l == 0)
			break;
		if (l > 63 || l > n - p)
			return -1;
		if (o > 0 && o + 1 < namelen)
			name[o++] = '.';
		for (k = 0; k < l; k++) {
			unsigned char c = w[p + k];

			if (o + 1 >= namelen || !((c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_'))
				return -1;
			name[o++] = (char)c;
		}
		p += l;
	}
	if (o == 0)
		name[o++] = '.';
	name[o] = '\0';
	if (n - p < 4)
		return -1;
	*qtype = w[p] << 8 | w[p + 1];
	return 0;
}

static void
one(const uint8_t *data, size_t size, const char *qname, int qtype,
    const struct mxk_dns_params *p, int trusted)
{
	struct mxk_dns_answer	*a = (void *)1;
	struct mxk_err		 e;
	int			 rc;

	rc = mxk_dns_parse_answer(data, size, qname, qtype, trusted, p, &a,
	    &e);
	if (rc == 0) {
		CHECK(a != NULL);
		check_answer(a, qname, qtype, p->cname_max > 0 ?
		    p->cname_max : 8);
		(void)mxk_dns_status_name(a->status);
		(void)mxk_dnssec_name(a->dnssec);
		(void)mxk_dns_type_name(a->qtype);
		mxk_dns_answer_free(a);
	} else {
		CHECK(rc == -1 && a == NULL);
		CHECK(e.msg[0] != '\0');
		CHECK(e.class == MXK_ERR_PROTO || e.class == MXK_ERR_USAGE);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxk_dns_params	 p;
	char			 qname[MXK_DNS_NAMEMAX];
	int			 qtype, trusted = 0;
	unsigned		 id = 0;

	memset(&p, 0, sizeof(p));
	if (size >= 2)
		id = (unsigned)data[0] << 8 | data[1];
	trusted = id & 1;
	p.cname_max = (int)(id >> 1 & 7);
	if (id & 0x10)
		p.max_answer = 512;
	if (question(data, size, qname, sizeof(qname), &qtype) == 0 &&
	    qtype > 0)
		one(data, size, qname, qtype, &p, trusted);
	one(data, size, "example.test", MXK_DNS_MX, &p, trusted);
	return 0;
}
