/* ISC license. */

/*
 * Fuzz target: DANE (lib/dane) from the wire: a raw TLSA response goes
 * through lib/dns (ldns) into mxk_dane_from_answer(), and the records it
 * keeps are matched by mxk_dane_verify() against a certificate chain.
 *
 * Input: segments, each preceded by its length in two octets (network
 * order; a length running past the end takes what is left).  Segment 0 is
 * the DNS response, parsed as the answer to "_PORT._tcp.BASE TLSA".  Its
 * header ID picks the options: bit 0 trusts the AD bit, bit 1 makes the
 * host's address records insecure (DANE must not apply), bit 2 port 465
 * instead of 25, bit 3 the TLSA base domain "alias.dane.test" (a CNAME
 * expansion) instead of the MX host "mx.dane.test", bits 4-5 which
 * built-in chain (dane_certs.h) is presented when the input has no other
 * segment: leaf+intermediate, leaf+intermediate+root, leaf alone, an
 * unrelated self-signed certificate.  Segments 1-4, when present, are the
 * chain instead (DER, leaf first, as a TLS peer would send them: hostile
 * ASN.1 for lib/dane's own SPKI parser and for GnuTLS).  Segment 5, when
 * present, is a certificate name handed to mxk_dane_match_name().
 * With MXK_FUZZ_VERBOSE set in the environment each run prints its
 * outcome (to check that seeds reach what they are meant to).
 *
 * Checked against dane.h: the state follows the answer (USABLE only for a
 * secure, non-empty TLSA RRset behind secure address records), kept
 * records are usable ones (usage 2/3, selector 0/1, digests of the right
 * length), kept + unusable = the TLSA records of the answer; verify refuses
 * any state but USABLE with USAGE; its result agrees with its return value;
 * and a DANE-EE record whose data equals the leaf's (computed with
 * mxk_dane_tlsa_data()) always matches, whatever the names and dates.
 *
 * fuzz-args: -max_len=16384
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dane.h"
#include "dns.h"
#include "err.h"

#include "dane_certs.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#define MXHOST		"mx.dane.test"
#define ALIAS		"alias.dane.test"
#define NOW		1750000000LL	/* 2025-06-15, inside the validity */
#define MAXSEG		6
#define MAXCHAIN	4

struct seg {
	const uint8_t	*p;
	size_t		 len;
};

static size_t
split(const uint8_t *data, size_t size, struct seg *s, size_t max)
{
	size_t	n = 0, off = 0, l;

	while (off < size && n < max) {
		if (size - off < 2) {
			s[n].p = data + off;
			s[n++].len = size - off;
			break;
		}
		l = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (l > size - off)
			l = size - off;
		s[n].p = data + off;
		s[n++].len = l;
		off += l;
	}
	return n;
}

/* An exact copy, so that reading past the end is an ASan report. */
static uint8_t *
copy(const uint8_t *p, size_t len)
{
	uint8_t	*c;

	if ((c = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memcpy(c, p, len);
	return c;
}

static void
check_err(const struct mxk_err *e)
{
	size_t	i, n = strnlen(e->msg, sizeof(e->msg));

	CHECK(n < sizeof(e->msg));
	for (i = 0; i < n; i++)
		CHECK((unsigned char)e->msg[i] >= 0x20);
}

static size_t
count_tlsa(const struct mxk_dns_answer *a)
{
	size_t	i, n = 0;

	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].type == MXK_DNS_TLSA)
			n++;
	return n;
}

static void
check_records(const struct mxk_dane *d)
{
	size_t	i;

	for (i = 0; i < mxk_dane_nrecords(d); i++) {
		const struct mxk_tlsa	*t = mxk_dane_record(d, i);
		char			 buf[2 * 65536 + 16];

		CHECK(t != NULL);
		CHECK(t->usage == MXK_DANE_DANE_TA ||
		    t->usage == MXK_DANE_DANE_EE);
		CHECK(t->selector == MXK_DANE_SEL_CERT ||
		    t->selector == MXK_DANE_SEL_SPKI);
		switch (t->mtype) {
		case MXK_DANE_MT_FULL:
			CHECK(t->len > 0);
			break;
		case MXK_DANE_MT_SHA256:
			CHECK(t->len == 32);
			break;
		case MXK_DANE_MT_SHA512:
			CHECK(t->len == 64);
			break;
		default:
			CHECK(0);
		}
		CHECK(mxk_dane_tlsa_format(t, buf, sizeof(buf)) == 0);
		CHECK(strlen(buf) == 6 + 2 * t->len);
		/* One octet short of room must be refused, not overrun. */
		CHECK(mxk_dane_tlsa_format(t, buf, strlen(buf)) == -1);
	}
	CHECK(mxk_dane_record(d, i) == NULL);
}

/* Does a DANE-EE record carry exactly the leaf's association data? */
static int
ee_matches_leaf(const struct mxk_dane *d, const uint8_t *der, size_t len)
{
	unsigned char	 data[4096];
	size_t		 i, n;

	for (i = 0; i < mxk_dane_nrecords(d); i++) {
		const struct mxk_tlsa *t = mxk_dane_record(d, i);

		if (t->usage != MXK_DANE_DANE_EE)
			continue;
		n = sizeof(data);
		if (mxk_dane_tlsa_data(der, len, t->selector, t->mtype, data,
		    &n) == -1)
			continue;
		if (n == t->len && memcmp(data, t->data, n) == 0)
			return 1;
	}
	return 0;
}

/* lib/dane's own DER walking on hostile certificates. */
static void
poke_cert(const uint8_t *der, size_t len)
{
	const unsigned char	*spki;
	unsigned char		 out[100];
	size_t			 spkilen, n;
	int			 s, m;

	if (mxk_dane_spki(der, len, &spki, &spkilen) == 0)
		CHECK(spki >= der && spkilen > 0 &&
		    spkilen <= len - (size_t)(spki - der));
	for (s = 0; s < 3; s++)
		for (m = 0; m < 4; m++) {
			n = m == 0 ? sizeof(out) : m == 1 ? 32 : 64;
			if (mxk_dane_tlsa_data(der, len, s, m, out, &n) == 0)
				CHECK(s < 2 && m < 3 && n <= sizeof(out));
		}
	/* Too little room is an error, never an overrun. */
	n = 31;
	CHECK(mxk_dane_tlsa_data(der, len, 1, 1, out, &n) == -1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const unsigned char	*der[3];
		size_t			 len[3];
		size_t			 n;
	} builtin[4] = {
		{ { cert_leaf, cert_inter }, { sizeof(cert_leaf),
		    sizeof(cert_inter) }, 2 },
		{ { cert_leaf, cert_inter, cert_root }, { sizeof(cert_leaf),
		    sizeof(cert_inter), sizeof(cert_root) }, 3 },
		{ { cert_leaf }, { sizeof(cert_leaf) }, 1 },
		{ { cert_other }, { sizeof(cert_other) }, 1 },
	};
	struct seg		 s[MAXSEG];
	struct mxk_dns_answer	*a = NULL;
	struct mxk_dane		*d = NULL;
	struct mxk_dane_result	 res;
	struct mxk_err		 e;
	const unsigned char	*der[MAXCHAIN];
	size_t			 derlen[MAXCHAIN], ns, nchain, i;
	uint8_t			*w, *chain[MAXCHAIN] = { NULL };
	char			 qname[MXK_DNS_NAMEMAX];
	const char		*base;
	enum mxk_dnssec		 addr;
	unsigned		 id;
	int			 trusted, port, rc, which;

	if ((ns = split(data, size, s, MAXSEG)) == 0)
		return 0;
	id = s[0].len >= 2 ? (unsigned)s[0].p[0] << 8 | s[0].p[1] : 0;
	trusted = id & 1;
	addr = (id & 2) ? MXK_DNSSEC_INSECURE : MXK_DNSSEC_SECURE;
	port = (id & 4) ? 465 : 25;
	base = (id & 8) ? ALIAS : MXHOST;
	which = (int)(id >> 4 & 3);
	(void)snprintf(qname, sizeof(qname), "_%d._tcp.%s", port, base);

	w = copy(s[0].p, s[0].len);
	if (mxk_dns_parse_answer(w, s[0].len, qname, MXK_DNS_TLSA, trusted,
	    NULL, &a, &e) == -1) {
		check_err(&e);
		a = NULL;
	}
	free(w);
	if (a == NULL)
		return 0;
	CHECK(a->qtype == MXK_DNS_TLSA);

	rc = mxk_dane_from_answer(MXHOST, port, addr, a, (id & 8) ? ALIAS :
	    NULL, &d, &e);
	/* The answer was parsed for this very name: never a usage error. */
	CHECK(rc == 0 && d != NULL);
	CHECK(mxk_dane_state(d) < MXK_DANE__COUNT);
	(void)mxk_dane_state_name(mxk_dane_state(d));
	CHECK(strlen(mxk_dane_why(d)) < 256);
	check_records(d);
	if (addr != MXK_DNSSEC_SECURE) {
		/* RFC 7672 §2.1.1: no DANE without secure address records. */
		CHECK(mxk_dane_state(d) == MXK_DANE_NA);
		CHECK(mxk_dane_nrecords(d) == 0);
	}
	if (mxk_dane_state(d) == MXK_DANE_USABLE) {
		CHECK(mxk_dane_nrecords(d) > 0);
		CHECK(a->status == MXK_DNS_OK);
		CHECK(a->dnssec == MXK_DNSSEC_SECURE && a->chain_secure);
		CHECK(mxk_dane_nrecords(d) + mxk_dane_nunusable(d) ==
		    count_tlsa(a));
		CHECK(strcasecmp(mxk_dane_base(d), base) == 0);
		CHECK(strcasecmp(mxk_dane_qname(d), qname) == 0);
	} else
		CHECK(mxk_dane_nrecords(d) == 0);
	if (mxk_dane_state(d) == MXK_DANE_UNUSABLE)
		CHECK(mxk_dane_nunusable(d) > 0);
	/* Insecure TLSA records carry no authority. */
	if (a->dnssec != MXK_DNSSEC_SECURE)
		CHECK(mxk_dane_state(d) != MXK_DANE_USABLE &&
		    mxk_dane_state(d) != MXK_DANE_UNUSABLE);
	CHECK(mxk_dane_nnames(d) >= 1);
	for (i = 0; i < mxk_dane_nnames(d); i++)
		CHECK(strlen(mxk_dane_name(d, i)) > 0);

	/* The chain: from the input, or built in. */
	if (ns > 1) {
		nchain = ns - 1 > MAXCHAIN ? MAXCHAIN : ns - 1;
		for (i = 0; i < nchain; i++) {
			chain[i] = copy(s[1 + i].p, s[1 + i].len);
			der[i] = chain[i];
			derlen[i] = s[1 + i].len;
			poke_cert(der[i], derlen[i]);
		}
	} else {
		nchain = builtin[which].n;
		for (i = 0; i < nchain; i++) {
			der[i] = builtin[which].der[i];
			derlen[i] = builtin[which].len[i];
		}
	}

	rc = mxk_dane_verify(d, der, derlen, nchain, NOW, &res, &e);
	CHECK(rc == 0 || rc == -1);
	CHECK(memchr(res.why, '\0', sizeof(res.why)) != NULL);
	if (mxk_dane_state(d) != MXK_DANE_USABLE) {
		CHECK(rc == -1 && e.class == MXK_ERR_USAGE);
	} else if (rc == 0) {
		CHECK(res.ok);
		CHECK(res.usage == MXK_DANE_DANE_TA ||
		    res.usage == MXK_DANE_DANE_EE);
		CHECK(res.selector == 0 || res.selector == 1);
		CHECK(res.mtype >= 0 && res.mtype <= 2);
		CHECK(res.depth <= nchain);
		if (res.usage == MXK_DANE_DANE_EE)
			CHECK(res.depth == 0);
	} else {
		CHECK(!res.ok);
		CHECK(e.class == MXK_ERR_TEMP || e.class == MXK_ERR_INTERNAL);
		if (e.class == MXK_ERR_TEMP)
			CHECK(strcmp(e.status, "4.7.5") == 0);
		check_err(&e);
		/* RFC 7672 §3.1.1: a matching DANE-EE record is enough. */
		CHECK(!ee_matches_leaf(d, der[0], derlen[0]));
	}
	if (rc == -1 && mxk_dane_state(d) == MXK_DANE_USABLE)
		CHECK(res.usage == -1);
	if (getenv("MXK_FUZZ_VERBOSE") != NULL)
		(void)fprintf(stderr, "dane: %s (%s), %zu usable, verify %d: "
		    "%s\n", mxk_dane_state_name(mxk_dane_state(d)),
		    mxk_dane_why(d), mxk_dane_nrecords(d), rc, res.why);

	/* A certificate name against the reference identifiers. */
	if (ns > 5) {
		w = copy(s[5].p, s[5].len);
		for (i = 0; i < mxk_dane_nnames(d); i++) {
			const char *ref = mxk_dane_name(d, i);

			rc = mxk_dane_match_name((const char *)w, s[5].len,
			    ref);
			CHECK(rc == 0 || rc == 1);
			if (s[5].len == strlen(ref) && strncasecmp(
			    (const char *)w, ref, s[5].len) == 0)
				CHECK(rc == 1);
			if (memchr(w, '\0', s[5].len) != NULL)
				CHECK(rc == 0);
		}
		free(w);
	}

	for (i = 0; i < MAXCHAIN; i++)
		free(chain[i]);
	mxk_dane_free(d);
	mxk_dns_answer_free(a);
	return 0;
}
