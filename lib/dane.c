/* ISC license. */

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "dane.h"
#include "dns.h"
#include "err.h"
#include "log.h"

struct mxk_dane {
	enum mxk_dane_state	 state;
	int			 port;
	char			 host[MXK_DNS_NAMEMAX];
	char			 base[MXK_DNS_NAMEMAX];
	char			 qname[MXK_DNS_NAMEMAX];
	char			 why[200];
	struct mxk_tlsa		*rec;
	size_t			 nrec;
	size_t			 nunusable;
	char			(*names)[MXK_DNS_NAMEMAX];
	size_t			 nnames;
};

static const char *const state_names[MXK_DANE__COUNT] = {
	[MXK_DANE_NA] = "na",
	[MXK_DANE_USABLE] = "usable",
	[MXK_DANE_UNUSABLE] = "unusable",
	[MXK_DANE_FAIL] = "fail",
};

const char *
mxk_dane_state_name(enum mxk_dane_state s)
{
	if ((int)s < 0 || s >= MXK_DANE__COUNT)
		return "?";
	return state_names[s];
}

/*
 * A host name as we keep it: lowercase, no trailing dot, 1 to 253
 * characters of [a-z0-9-_.] with no empty label.  0 or -1.
 */
static int
name_norm(const char *in, char out[MXK_DNS_NAMEMAX])
{
	size_t	len, i;

	if (in == NULL)
		return -1;
	len = strlen(in);
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char	c = (unsigned char)in[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		else if (c == '.') {
			if (i == 0 || in[i - 1] == '.')
				return -1;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' &&
		    c <= '9') || c == '-' || c == '_'))
			return -1;
		out[i] = (char)c;
	}
	out[len] = '\0';
	return 0;
}

static int
port_of(int port)
{
	return port > 0 ? port : 25;
}

/* "_PORT._tcp.base" (RFC 6698 §3), or -1 when longer than a DNS name. */
static int
tlsa_qname(int port, const char *base, char out[MXK_DNS_NAMEMAX])
{
	int	n;

	n = snprintf(out, MXK_DNS_NAMEMAX, "_%d._tcp.%s", port, base);
	if (n < 0 || n > 253) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
mxk_dane_base_domains(const char *mxhost, enum mxk_dnssec addr_dnssec,
    const char *addr_canon, char out[2][MXK_DNS_NAMEMAX])
{
	char	host[MXK_DNS_NAMEMAX], canon[MXK_DNS_NAMEMAX];
	int	n = 0;

	if (name_norm(mxhost, host) == -1)
		return -1;
	/*
	 * RFC 7672 §2.1.1: without secure address records an attacker could
	 * have chosen the host we reach, so DANE does not apply and TLSA is
	 * not even asked for.
	 */
	if (addr_dnssec != MXK_DNSSEC_SECURE)
		return 0;
	/*
	 * RFC 7672 §2.2.2: secure address records reached through CNAMEs
	 * (addr_dnssec covers every CNAME hop, lib/dns) make the expanded
	 * name the preferred TLSA base domain; the host name is the
	 * fallback.
	 */
	if (addr_canon != NULL && addr_canon[0] != '\0') {
		if (name_norm(addr_canon, canon) == -1)
			return -1;
		if (strcmp(canon, host) != 0)
			(void)memcpy(out[n++], canon, sizeof(canon));
	}
	(void)memcpy(out[n++], host, sizeof(host));
	return n;
}

static struct mxk_dane *
dane_new(const char *host, int port, struct mxk_err *e)
{
	struct mxk_dane	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		(void)mxk_err_sys(e, MXK_ERR_INTERNAL, "dane");
		return NULL;
	}
	d->state = MXK_DANE_NA;
	d->port = port_of(port);
	if (port < 0 || port > 65535 || name_norm(host, d->host) == -1) {
		free(d);
		(void)mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "dane: invalid host name or port");
		return NULL;
	}
	return d;
}

void
mxk_dane_free(struct mxk_dane *d)
{
	size_t	i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nrec; i++)
		free(d->rec[i].data);
	free(d->rec);
	free(d->names);
	free(d);
}

int
mxk_dane_add_name(struct mxk_dane *d, const char *name, struct mxk_err *e)
{
	char	  n[MXK_DNS_NAMEMAX];
	char	(*nn)[MXK_DNS_NAMEMAX];
	size_t	  i;

	if (d == NULL || name_norm(name, n) == -1)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "dane: invalid reference name");
	for (i = 0; i < d->nnames; i++)
		if (strcmp(d->names[i], n) == 0)
			return 0;
	if ((nn = realloc(d->names, (d->nnames + 1) * sizeof(*nn))) == NULL)
		return mxk_err_sys(e, MXK_ERR_INTERNAL, "dane");
	d->names = nn;
	(void)memcpy(d->names[d->nnames++], n, sizeof(n));
	return 0;
}

/*
 * RFC 7672 §3.1: only DANE-TA(2) and DANE-EE(3) are usable for SMTP
 * (there is no agreed set of public CAs for MX hosts, so PKIX-TA(0) and
 * PKIX-EE(1) are unusable), with the selectors and matching types of RFC
 * 6698 §2.1.  A digest of the wrong length can never match; treating it
 * as unusable (rather than usable-but-failing) follows RFC 7671 §4.1 on
 * malformed records.
 */
static int
tlsa_usable(const struct mxk_dns_rr *rr)
{
	if (rr->usage != MXK_DANE_DANE_TA && rr->usage != MXK_DANE_DANE_EE)
		return 0;
	if (rr->selector != MXK_DANE_SEL_CERT &&
	    rr->selector != MXK_DANE_SEL_SPKI)
		return 0;
	switch (rr->mtype) {
	case MXK_DANE_MT_FULL:
		return rr->len > 0 && rr->data != NULL;
	case MXK_DANE_MT_SHA256:
		return rr->len == 32 && rr->data != NULL;
	case MXK_DANE_MT_SHA512:
		return rr->len == 64 && rr->data != NULL;
	default:
		return 0;
	}
}

static int
keep_records(struct mxk_dane *d, const struct mxk_dns_answer *a,
    struct mxk_err *e)
{
	size_t	i;

	if (a->nrr > 0 && (d->rec = calloc(a->nrr, sizeof(*d->rec))) == NULL)
		return mxk_err_sys(e, MXK_ERR_INTERNAL, "dane");
	for (i = 0; i < a->nrr; i++) {
		const struct mxk_dns_rr	*rr = &a->rr[i];
		struct mxk_tlsa		*t;

		if (rr->type != MXK_DNS_TLSA)
			continue;
		if (!tlsa_usable(rr)) {
			d->nunusable++;
			continue;
		}
		t = &d->rec[d->nrec];
		if ((t->data = malloc(rr->len)) == NULL)
			return mxk_err_sys(e, MXK_ERR_INTERNAL, "dane");
		(void)memcpy(t->data, rr->data, rr->len);
		t->len = rr->len;
		t->usage = rr->usage;
		t->selector = rr->selector;
		t->mtype = rr->mtype;
		d->nrec++;
	}
	return 0;
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

/* The state for a TLSA answer (RFC 7672 §2.2), with d->why. */
static void
classify(struct mxk_dane *d, const struct mxk_dns_answer *a)
{
	enum mxk_dns_status	st = a->status;

	if (st == MXK_DNS_OK && count_tlsa(a) == 0)
		st = MXK_DNS_NODATA;
	switch (st) {
	case MXK_DNS_OK:
		/*
		 * Only a validated RRset is trusted.  dnssec already covers
		 * every CNAME hop the answer followed; chain_secure is
		 * checked too so that an inconsistent answer errs towards
		 * "not secure".  Insecure TLSA records carry no authority
		 * (an attacker could have forged them), so DANE does not
		 * apply; anything else (bogus, indeterminate) means that
		 * records may exist which we cannot see: FAIL.
		 */
		if (a->dnssec == MXK_DNSSEC_SECURE && a->chain_secure)
			d->state = MXK_DANE_USABLE;
		else if (a->dnssec == MXK_DNSSEC_SECURE ||
		    a->dnssec == MXK_DNSSEC_INSECURE) {
			d->state = MXK_DANE_NA;
			(void)snprintf(d->why, sizeof(d->why),
			    "TLSA RRset is insecure");
		} else {
			d->state = MXK_DANE_FAIL;
			(void)snprintf(d->why, sizeof(d->why),
			    "TLSA answer is %s", mxk_dnssec_name(a->dnssec));
		}
		break;
	case MXK_DNS_NXDOMAIN:
	case MXK_DNS_NODATA:
		/*
		 * RFC 7672 §2.2: a denial of existence, secure or not,
		 * means no TLSA records: DANE does not apply.  An
		 * unvalidated ("indeterminate") or bogus denial may hide
		 * records: FAIL.
		 */
		if (a->dnssec == MXK_DNSSEC_SECURE ||
		    a->dnssec == MXK_DNSSEC_INSECURE) {
			d->state = MXK_DANE_NA;
			(void)snprintf(d->why, sizeof(d->why),
			    "no TLSA records (%s, %s)",
			    mxk_dns_status_name(st),
			    mxk_dnssec_name(a->dnssec));
		} else {
			d->state = MXK_DANE_FAIL;
			(void)snprintf(d->why, sizeof(d->why),
			    "TLSA %s is %s", mxk_dns_status_name(st),
			    mxk_dnssec_name(a->dnssec));
		}
		break;
	default:
		/*
		 * RFC 7672 §2.2: SERVFAIL (how a validating resolver reports
		 * bogus data), timeouts and other failures make the MX host
		 * unusable for now; it must not be tried without DANE, or an
		 * attacker could block TLSA to downgrade.
		 */
		d->state = MXK_DANE_FAIL;
		(void)snprintf(d->why, sizeof(d->why), "TLSA lookup: %s%s%s",
		    mxk_dns_status_name(st), a->why[0] != '\0' ? ": " : "",
		    a->why);
		break;
	}
}

int
mxk_dane_from_answer(const char *mxhost, int port,
    enum mxk_dnssec addr_dnssec, const struct mxk_dns_answer *tlsa,
    const char *base, struct mxk_dane **out, struct mxk_err *e)
{
	struct mxk_dane	*d;

	*out = NULL;
	if ((d = dane_new(mxhost, port, e)) == NULL)
		return -1;
	if (addr_dnssec != MXK_DNSSEC_SECURE) {
		/* RFC 7672 §2.1.1; see mxk_dane_base_domains(). */
		(void)snprintf(d->why, sizeof(d->why),
		    "address records are %s", mxk_dnssec_name(addr_dnssec));
		goto done;
	}
	if (tlsa == NULL)
		goto usage;
	if (base == NULL)
		(void)memcpy(d->base, d->host, sizeof(d->base));
	else if (name_norm(base, d->base) == -1)
		goto usage;
	if (tlsa_qname(d->port, d->base, d->qname) == -1) {
		/* No such name can exist in the DNS, nor TLSA records. */
		d->base[0] = '\0';
		(void)snprintf(d->why, sizeof(d->why), "TLSA name too long");
		goto done;
	}
	if (tlsa->qname[0] != '\0' && strcasecmp(tlsa->qname, d->qname) != 0)
		goto usage;
	classify(d, tlsa);
	if (d->state == MXK_DANE_USABLE) {
		if (keep_records(d, tlsa, e) == -1) {
			mxk_dane_free(d);
			return -1;
		}
		if (d->nrec == 0)
			d->state = MXK_DANE_UNUSABLE;
		(void)snprintf(d->why, sizeof(d->why),
		    "secure TLSA RRset: %zu usable, %zu unusable", d->nrec,
		    d->nunusable);
	}
	/*
	 * Reference identifiers (RFC 7672 §3.2.2): the TLSA base domain and
	 * the MX host name.  The next-hop domain is not added (see dane.h).
	 */
	if (d->base[0] != '\0' && mxk_dane_add_name(d, d->base, e) == -1) {
		mxk_dane_free(d);
		return -1;
	}
done:
	if (mxk_dane_add_name(d, d->host, e) == -1) {
		mxk_dane_free(d);
		return -1;
	}
	*out = d;
	return 0;
usage:
	mxk_dane_free(d);
	return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
	    "dane: bad TLSA answer or base domain");
}

int
mxk_dane_lookup(struct mxk_dns *dns, const char *mxhost, int port,
    enum mxk_dnssec addr_dnssec, const char *addr_canon, long long deadline,
    struct mxk_dane **out, struct mxk_err *e)
{
	char			 bases[2][MXK_DNS_NAMEMAX];
	char			 qname[MXK_DNS_NAMEMAX];
	struct mxk_dns_answer	*ans;
	struct mxk_dane		*d = NULL;
	int			 n, i;

	*out = NULL;
	if (port < 0 || port > 65535 || (n = mxk_dane_base_domains(mxhost,
	    addr_dnssec, addr_canon, bases)) == -1)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "dane: invalid host name or port");
	if (n == 0) {
		if (mxk_dane_from_answer(mxhost, port, addr_dnssec, NULL,
		    NULL, &d, e) == -1)
			return -1;
		mxk_log(MXK_LOG_DEBUG, "dane: %s: %s (%s)", mxhost,
		    mxk_dane_state_name(d->state), d->why);
		*out = d;
		return 0;
	}
	if (dns == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "dane: no resolver");
	for (i = 0; i < n; i++) {
		if (tlsa_qname(port_of(port), bases[i], qname) == -1) {
			/* No such name can exist: no TLSA records there. */
			if ((d = dane_new(mxhost, port, e)) == NULL)
				return -1;
			(void)snprintf(d->why, sizeof(d->why),
			    "TLSA name too long");
			if (mxk_dane_add_name(d, d->host, e) == -1) {
				mxk_dane_free(d);
				return -1;
			}
		} else {
			if (mxk_dns_lookup(dns, qname, MXK_DNS_TLSA, &ans,
			    deadline, e) == -1)
				return -1;
			if (mxk_dane_from_answer(mxhost, port, addr_dnssec,
			    ans, bases[i], &d, e) == -1) {
				mxk_dns_answer_free(ans);
				return -1;
			}
			mxk_dns_answer_free(ans);
		}
		mxk_log(MXK_LOG_DEBUG, "dane: %s: %s (%s)", qname,
		    mxk_dane_state_name(d->state), d->why);
		/*
		 * RFC 7672 §2.2.2: only "no secure TLSA RRset" at the
		 * expanded name moves on to the host name; USABLE, UNUSABLE
		 * and FAIL there are final.
		 */
		if (d->state != MXK_DANE_NA || i + 1 == n)
			break;
		mxk_dane_free(d);
		d = NULL;
	}
	*out = d;
	return 0;
}

enum mxk_dane_state
mxk_dane_state(const struct mxk_dane *d)
{
	return d != NULL ? d->state : MXK_DANE_NA;
}

const char *
mxk_dane_why(const struct mxk_dane *d)
{
	return d != NULL ? d->why : "";
}

const char *
mxk_dane_base(const struct mxk_dane *d)
{
	return d != NULL ? d->base : "";
}

const char *
mxk_dane_qname(const struct mxk_dane *d)
{
	return d != NULL ? d->qname : "";
}

size_t
mxk_dane_nrecords(const struct mxk_dane *d)
{
	return d != NULL ? d->nrec : 0;
}

const struct mxk_tlsa *
mxk_dane_record(const struct mxk_dane *d, size_t i)
{
	return d != NULL && i < d->nrec ? &d->rec[i] : NULL;
}

size_t
mxk_dane_nunusable(const struct mxk_dane *d)
{
	return d != NULL ? d->nunusable : 0;
}

size_t
mxk_dane_nnames(const struct mxk_dane *d)
{
	return d != NULL ? d->nnames : 0;
}

const char *
mxk_dane_name(const struct mxk_dane *d, size_t i)
{
	return d != NULL && i < d->nnames ? d->names[i] : NULL;
}

/*
 * DER: one tag-length header at p (n octets available).  Only low tag
 * numbers and definite lengths of up to four octets; the content must fit.
 */
static int
der_tlv(const unsigned char *p, size_t n, unsigned *tag, size_t *hlen,
    size_t *clen)
{
	size_t	len, k, i;

	if (n < 2 || (p[0] & 0x1f) == 0x1f)
		return -1;
	*tag = p[0];
	if (p[1] < 0x80) {
		len = p[1];
		*hlen = 2;
	} else {
		k = p[1] & 0x7f;
		if (k == 0 || k > 4 || n < 2 + k)
			return -1;
		for (len = 0, i = 0; i < k; i++)
			len = len << 8 | p[2 + i];
		*hlen = 2 + k;
	}
	if (len > n - *hlen)
		return -1;
	*clen = len;
	return 0;
}

/*
 * Certificate ::= SEQUENCE { tbsCertificate, ... }; TBSCertificate ::=
 * SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
 * validity, subject, subjectPublicKeyInfo, ... } (RFC 5280 §4.1).  The
 * SPKI is taken as the octets in the certificate: a re-encoding (as
 * gnutls_pubkey_export() gives) need not be identical, and TLSA "x 1 x"
 * records hash the encoding the certificate carries.
 */
int
mxk_dane_spki(const unsigned char *der, size_t len,
    const unsigned char **spki, size_t *spkilen)
{
	const unsigned char	*p;
	size_t			 n, h, c;
	unsigned		 tag;
	int			 field;

	if (der == NULL || der_tlv(der, len, &tag, &h, &c) == -1 ||
	    tag != 0x30)
		return -1;
	p = der + h;
	n = c;
	if (der_tlv(p, n, &tag, &h, &c) == -1 || tag != 0x30)
		return -1;
	p += h;
	n = c;
	for (field = 0; field < 7; field++) {
		if (der_tlv(p, n, &tag, &h, &c) == -1)
			return -1;
		if (field == 0 && tag != 0xa0)
			field++;	/* no version: v1 */
		if (field == 1 && tag != 0x02)
			return -1;
		if (field >= 2 && tag != 0x30)
			return -1;
		if (field == 6) {
			*spki = p;
			*spkilen = h + c;
			return 0;
		}
		p += h + c;
		n -= h + c;
	}
	return -1;
}

int
mxk_dane_tlsa_data(const unsigned char *der, size_t len, int selector,
    int mtype, unsigned char *out, size_t *outlen)
{
	const unsigned char	*data;
	size_t			 dlen, need;
	gnutls_digest_algorithm_t alg;

	if (der == NULL || out == NULL || outlen == NULL)
		return -1;
	if (selector == MXK_DANE_SEL_CERT) {
		data = der;
		dlen = len;
	} else if (selector == MXK_DANE_SEL_SPKI) {
		if (mxk_dane_spki(der, len, &data, &dlen) == -1)
			return -1;
	} else
		return -1;
	switch (mtype) {
	case MXK_DANE_MT_FULL:
		if (*outlen < dlen)
			return -1;
		(void)memcpy(out, data, dlen);
		*outlen = dlen;
		return 0;
	case MXK_DANE_MT_SHA256:
		alg = GNUTLS_DIG_SHA256;
		need = 32;
		break;
	case MXK_DANE_MT_SHA512:
		alg = GNUTLS_DIG_SHA512;
		need = 64;
		break;
	default:
		return -1;
	}
	if (*outlen < need || gnutls_hash_fast(alg, data, dlen, out) < 0)
		return -1;
	*outlen = need;
	return 0;
}

int
mxk_dane_hex(const unsigned char *data, size_t len, char *buf,
    size_t buflen)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i;

	if (buf == NULL || buflen == 0)
		return -1;
	if (len > (buflen - 1) / 2) {
		buf[0] = '\0';
		return -1;
	}
	for (i = 0; i < len; i++) {
		buf[2 * i] = hex[data[i] >> 4];
		buf[2 * i + 1] = hex[data[i] & 0xf];
	}
	buf[2 * len] = '\0';
	return 0;
}

int
mxk_dane_tlsa_format(const struct mxk_tlsa *t, char *buf, size_t buflen)
{
	int	n;

	if (t == NULL || buf == NULL)
		return -1;
	n = snprintf(buf, buflen, "%u %u %u ", t->usage, t->selector,
	    t->mtype);
	if (n < 0 || (size_t)n >= buflen)
		return -1;
	return mxk_dane_hex(t->data, t->len, buf + n, buflen - (size_t)n);
}

/* Name matching. */

int
mxk_dane_match_name(const char *cn, size_t len, const char *ref)
{
	size_t		 rlen, i;
	const char	*dot;

	if (cn == NULL || ref == NULL || memchr(cn, '\0', len) != NULL)
		return 0;
	rlen = strlen(ref);
	if (len > 0 && cn[len - 1] == '.')
		len--;
	if (rlen > 0 && ref[rlen - 1] == '.')
		rlen--;
	if (len == 0 || rlen == 0)
		return 0;
	/*
	 * RFC 7672 §3.2.3 (and RFC 6125 §6.4.3): a wildcard only as the
	 * complete leftmost label, standing for exactly one label.  "*.com"
	 * is refused, as lib/tls does, so one certificate cannot claim a
	 * whole top-level domain.
	 */
	if (len > 2 && cn[0] == '*' && cn[1] == '.') {
		if (memchr(cn + 2, '.', len - 2) == NULL)
			return 0;
		if ((dot = memchr(ref, '.', rlen)) == NULL || dot == ref)
			return 0;
		i = (size_t)(dot + 1 - ref);
		return rlen - i == len - 2 &&
		    strncasecmp(ref + i, cn + 2, len - 2) == 0;
	}
	if (memchr(cn, '*', len) != NULL)
		return 0;
	return rlen == len && strncasecmp(ref, cn, len) == 0;
}

/* Verification. */

struct cert {
	const unsigned char	*der;
	size_t			 len;
	gnutls_x509_crt_t	 crt;	/* NULL: did not parse */
	const unsigned char	*spki;	/* NULL: not found */
	size_t			 spkilen;
};

struct verdict {
	int	 rank;		/* how close the best failure came */
	char	 why[256];
};

/* Failure ranks: a better-ranked failure replaces the reason given. */
#define RANK_NOTINCHAIN	1
#define RANK_PATH	2
#define RANK_CHECKS	3

static void
miss(struct verdict *v, int rank, const struct mxk_tlsa *t, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
miss(struct verdict *v, int rank, const struct mxk_tlsa *t, const char *fmt,
    ...)
{
	va_list	ap;
	int	n;

	if (rank <= v->rank)
		return;
	v->rank = rank;
	n = snprintf(v->why, sizeof(v->why), "TLSA %u %u %u: ", t->usage,
	    t->selector, t->mtype);
	if (n < 0 || (size_t)n >= sizeof(v->why))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(v->why + n, sizeof(v->why) - (size_t)n, fmt, ap);
	va_end(ap);
}

static int
data_matches(const struct mxk_tlsa *t, const unsigned char *data,
    size_t len)
{
	unsigned char	md[64];

	if (data == NULL)
		return 0;
	switch (t->mtype) {
	case MXK_DANE_MT_FULL:
		return t->len == len && memcmp(t->data, data, len) == 0;
	case MXK_DANE_MT_SHA256:
		return t->len == 32 && gnutls_hash_fast(GNUTLS_DIG_SHA256,
		    data, len, md) >= 0 && memcmp(md, t->data, 32) == 0;
	case MXK_DANE_MT_SHA512:
		return t->len == 64 && gnutls_hash_fast(GNUTLS_DIG_SHA512,
		    data, len, md) >= 0 && memcmp(md, t->data, 64) == 0;
	default:
		return 0;
	}
}

static int
cert_matches(const struct mxk_tlsa *t, const struct cert *c)
{
	if (t->selector == MXK_DANE_SEL_CERT)
		return data_matches(t, c->der, c->len);
	return data_matches(t, c->spki, c->spkilen);
}

/* "a, b, c" into buf, truncated with "..." when needed. */
static void
list_add(char *buf, size_t len, const char *s, size_t slen)
{
	size_t	n = strlen(buf);
	int	r;

	if (n + 4 >= len)
		return;
	r = snprintf(buf + n, len - n, "%s%.*s", n > 0 ? ", " : "",
	    (int)(slen > 80 ? 80 : slen), s);
	if (r < 0 || (size_t)r >= len - n)
		(void)snprintf(buf + len - 4, 4, "...");
}

/*
 * Does the leaf carry a reference identifier?  RFC 7672 §3.2.3: SAN
 * dNSName entries; the subject CN only when there is no dNSName.  names
 * gets the leaf's names for the diagnostic.
 */
static int
leaf_name_ok(gnutls_x509_crt_t crt, const struct mxk_dane *d, char *names,
    size_t nameslen)
{
	char		buf[MXK_DNS_NAMEMAX];
	size_t		size, i;
	unsigned	seq;
	int		ret, had_dns = 0, ok = 0;

	names[0] = '\0';
	for (seq = 0; seq < 1024; seq++) {
		size = sizeof(buf);
		ret = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf,
		    &size, NULL);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret != GNUTLS_SAN_DNSNAME)
			continue;	/* other types, too long, errors */
		had_dns = 1;
		list_add(names, nameslen, buf, size);
		for (i = 0; i < d->nnames && !ok; i++)
			ok = mxk_dane_match_name(buf, size, d->names[i]);
	}
	if (had_dns)
		return ok;
	for (seq = 0; seq < 16; seq++) {
		size = sizeof(buf);
		ret = gnutls_x509_crt_get_dn_by_oid(crt,
		    GNUTLS_OID_X520_COMMON_NAME, seq, 0, buf, &size);
		if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (ret < 0)
			continue;
		list_add(names, nameslen, buf, size);
		for (i = 0; i < d->nnames && !ok; i++)
			ok = mxk_dane_match_name(buf, size, d->names[i]);
	}
	return ok;
}

/* Within its validity period at now?  0, or -1 with what in *what. */
static int
dates_ok(gnutls_x509_crt_t crt, long long now, const char **what)
{
	time_t	nb = gnutls_x509_crt_get_activation_time(crt);
	time_t	na = gnutls_x509_crt_get_expiration_time(crt);

	if (nb == (time_t)-1 || na == (time_t)-1) {
		*what = "has unreadable validity dates";
		return -1;
	}
	if (now < (long long)nb) {
		*what = "is not yet valid";
		return -1;
	}
	if (now > (long long)na) {
		*what = "expired";
		return -1;
	}
	return 0;
}

/*
 * The path from the leaf to the trust anchor (anchor: the chain index
 * ta, or the external certificate ext when ta is -1).  Issuers are found
 * by name among the presented certificates, next-in-order first, so an
 * unordered chain (TLS 1.3 allows one) still works; each certificate is
 * used once.  Returns the path length, or 0 when no path reaches it.
 */
static size_t
build_path(const struct cert *c, size_t n, long ta, gnutls_x509_crt_t anchor,
    size_t *path, char *used)
{
	size_t	plen = 1, cur = 0, j, k;

	(void)memset(used, 0, n);
	path[0] = 0;
	used[0] = 1;
	if (ta >= 0)
		used[ta] = 1;
	for (k = 0; k < n; k++) {
		if (gnutls_x509_crt_check_issuer(c[cur].crt, anchor))
			return plen;
		for (j = 0; j < n; j++) {
			size_t	cand = (cur + 1 + j) % n;

			if (!used[cand] && c[cand].crt != NULL &&
			    gnutls_x509_crt_check_issuer(c[cur].crt,
			    c[cand].crt))
				break;
		}
		if (j == n)
			return 0;
		cur = (cur + 1 + j) % n;
		used[cur] = 1;
		path[plen++] = cur;
	}
	return 0;
}

/*
 * Signatures and CA constraints along the path, with the anchor as the
 * only trust anchor.  GnuTLS's own time checks are off: dates are checked
 * against the caller's now (see dates_ok()).  No purpose and no host name
 * are given: RFC 7672 requires neither an EKU nor GnuTLS's name rules.
 * Returns 0 verified, -1 not (why in buf), -2 internal failure.
 */
static int
path_verifies(const struct cert *c, const size_t *path, size_t plen,
    const unsigned char *ader, size_t alen, char *buf, size_t buflen)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t	 ta = NULL;
	gnutls_x509_crt_t	 list[64];
	gnutls_datum_t		 dt, pr = { NULL, 0 };
	unsigned		 status = 0, i;
	int			 rc = -2;

	if (plen > sizeof(list) / sizeof(list[0])) {
		(void)snprintf(buf, buflen, "chain too long");
		return -1;
	}
	for (i = 0; i < plen; i++)
		list[i] = c[path[i]].crt;
	dt.data = (unsigned char *)(uintptr_t)ader;
	dt.size = (unsigned)alen;
	if (gnutls_x509_trust_list_init(&tl, 0) < 0)
		return -2;
	if (gnutls_x509_crt_init(&ta) < 0)
		goto out;
	if (gnutls_x509_crt_import(ta, &dt, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(ta);
		(void)snprintf(buf, buflen, "trust anchor does not parse");
		rc = -1;
		goto out;
	}
	/* The list owns ta from here on. */
	if (gnutls_x509_trust_list_add_cas(tl, &ta, 1, 0) != 1) {
		gnutls_x509_crt_deinit(ta);
		goto out;
	}
	if (gnutls_x509_trust_list_verify_crt2(tl, list, plen, NULL, 0,
	    GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
	    GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS, &status, NULL) < 0)
		goto out;
	if (status == 0)
		rc = 0;
	else {
		rc = -1;
		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &pr, 0) == 0) {
			size_t	l;

			(void)snprintf(buf, buflen, "%s", (char *)pr.data);
			gnutls_free(pr.data);
			for (l = strlen(buf); l > 0 && buf[l - 1] == ' '; l--)
				buf[l - 1] = '\0';
		} else
			(void)snprintf(buf, buflen, "status 0x%x", status);
	}
out:
	gnutls_x509_trust_list_deinit(tl, 1);
	return rc;
}

/*
 * One DANE-TA record whose trust anchor is chain[ta] (ta >= 0) or the
 * certificate ext carried in a "2 0 0" record (ta == -1).  0: verified;
 * -1: not (the reason went to v); -2: internal failure.
 */
static int
ta_check(const struct mxk_dane *d, const struct mxk_tlsa *t,
    const struct cert *c, size_t n, long ta, gnutls_x509_crt_t ext,
    long long now, size_t *path, char *used, struct verdict *v)
{
	gnutls_x509_crt_t	 anchor = ta >= 0 ? c[ta].crt : ext;
	char			 buf[200], names[160];
	const char		*what;
	size_t			 plen, i;
	int			 rc;

	if (c[0].crt == NULL) {
		miss(v, RANK_PATH, t, "the leaf certificate does not parse");
		return -1;
	}
	if (ta == 0) {
		/*
		 * The record names the leaf itself.  RFC 7671 §5.2.2 lets a
		 * trust anchor be the end entity; it is then still a
		 * DANE-TA match, not DANE-EE, so the leaf's dates and names
		 * are checked as for any DANE-TA chain (only DANE-EE waives
		 * them, RFC 7672 §3.1.1).  No signature to check.
		 */
		plen = 1;
		path[0] = 0;
	} else {
		if (anchor == NULL) {
			miss(v, RANK_PATH, t, "the trust anchor does not "
			    "parse");
			return -1;
		}
		if ((plen = build_path(c, n, ta, anchor, path, used)) == 0) {
			if (ta > 0)
				miss(v, RANK_PATH, t, "trust anchor matched at "
				    "depth %ld, but the chain does not lead to "
				    "it", ta);
			else
				miss(v, RANK_PATH, t, "the chain does not lead "
				    "to the trust anchor in the record");
			return -1;
		}
		rc = path_verifies(c, path, plen,
		    ta >= 0 ? c[ta].der : t->data, ta >= 0 ? c[ta].len :
		    t->len, buf, sizeof(buf));
		if (rc == -2)
			return -2;
		if (rc == -1) {
			miss(v, RANK_PATH, t, "trust anchor matched, but the "
			    "chain does not verify: %s", buf);
			return -1;
		}
	}
	/*
	 * Dates of every certificate from the leaf up to and including the
	 * trust anchor certificate (chain[ta], or the one a "2 0 0" record
	 * carries).  RFC 5280 §6.1.1(d) would let an anchor's own dates go
	 * unchecked, but OpenSSL's DANE code (Postfix, Exim) checks them, and
	 * a domain that publishes a digest of an expired CA certificate
	 * should hear about it rather than have it silently honoured.
	 */
	for (i = 0; i < plen; i++)
		if (dates_ok(c[path[i]].crt, now, &what) == -1) {
			miss(v, RANK_CHECKS, t, "DANE-TA matched but "
			    "certificate at depth %zu %s", path[i], what);
			return -1;
		}
	if (ta != 0 && dates_ok(anchor, now, &what) == -1) {
		if (ta > 0)
			miss(v, RANK_CHECKS, t, "DANE-TA matched but "
			    "certificate at depth %ld %s", ta, what);
		else
			miss(v, RANK_CHECKS, t, "DANE-TA matched but the "
			    "trust anchor in the record %s", what);
		return -1;
	}
	if (!leaf_name_ok(c[0].crt, d, names, sizeof(names))) {
		buf[0] = '\0';
		for (i = 0; i < d->nnames; i++)
			list_add(buf, sizeof(buf), d->names[i],
			    strlen(d->names[i]));
		miss(v, RANK_CHECKS, t, "DANE-TA matched but name mismatch: "
		    "chain names %s, reference %s", names[0] != '\0' ? names :
		    "(none)", buf);
		return -1;
	}
	return 0;
}

static void
result_set(struct mxk_dane_result *res, const struct mxk_tlsa *t,
    size_t depth)
{
	res->ok = 1;
	res->usage = t->usage;
	res->selector = t->selector;
	res->mtype = t->mtype;
	res->depth = depth;
	(void)snprintf(res->why, sizeof(res->why), "DANE-%s %u %u %u "
	    "matched the certificate at depth %zu",
	    t->usage == MXK_DANE_DANE_TA ? "TA" : "EE", t->usage, t->selector,
	    t->mtype, depth);
}

int
mxk_dane_verify(const struct mxk_dane *d, const unsigned char *const *der,
    const size_t *derlen, size_t nchain, long long now,
    struct mxk_dane_result *res, struct mxk_err *e)
{
	struct cert	*c = NULL;
	struct verdict	 v;
	gnutls_datum_t	 dt;
	size_t		*path = NULL, i, k;
	char		*used = NULL;
	int		 rc = -1, r;

	(void)memset(res, 0, sizeof(*res));
	res->usage = res->selector = res->mtype = -1;
	if (d == NULL || d->state != MXK_DANE_USABLE || d->nrec == 0) {
		(void)snprintf(res->why, sizeof(res->why), "DANE state %s: no "
		    "usable TLSA records", mxk_dane_state_name(mxk_dane_state(
		    d)));
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "%s", res->why);
	}
	if (nchain == 0 || der == NULL || derlen == NULL) {
		(void)snprintf(res->why, sizeof(res->why),
		    "no certificate presented");
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.5",
		    "DANE: %s", res->why);
	}
	if ((c = calloc(nchain, sizeof(*c))) == NULL ||
	    (path = calloc(nchain, sizeof(*path))) == NULL ||
	    (used = calloc(nchain, 1)) == NULL) {
		(void)snprintf(res->why, sizeof(res->why), "out of memory");
		(void)mxk_err_sys(e, MXK_ERR_INTERNAL, "dane");
		goto out;
	}
	for (i = 0; i < nchain; i++) {
		c[i].der = der[i];
		c[i].len = derlen[i];
		if (der[i] == NULL || derlen[i] == 0 || derlen[i] > UINT_MAX)
			continue;
		(void)mxk_dane_spki(der[i], derlen[i], &c[i].spki,
		    &c[i].spkilen);
		if (gnutls_x509_crt_init(&c[i].crt) < 0) {
			c[i].crt = NULL;
			continue;
		}
		dt.data = (unsigned char *)(uintptr_t)der[i];
		dt.size = (unsigned)derlen[i];
		if (gnutls_x509_crt_import(c[i].crt, &dt,
		    GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(c[i].crt);
			c[i].crt = NULL;
		}
	}
	v.rank = 0;
	(void)snprintf(v.why, sizeof(v.why),
	    "no TLSA record matched the presented chain");

	/* DANE-EE(3): the leaf alone; RFC 7672 §3.1.1 waives names, dates. */
	for (k = 0; k < d->nrec; k++) {
		const struct mxk_tlsa	*t = &d->rec[k];

		if (t->usage == MXK_DANE_DANE_EE && cert_matches(t, &c[0])) {
			result_set(res, t, 0);
			rc = 0;
			goto out;
		}
	}
	/* DANE-TA(2): RFC 7672 §3.1.2, RFC 7671 §5.2. */
	for (k = 0; k < d->nrec; k++) {
		const struct mxk_tlsa	*t = &d->rec[k];
		int			 found = 0;

		if (t->usage != MXK_DANE_DANE_TA)
			continue;
		for (i = 0; i < nchain; i++) {
			if (!cert_matches(t, &c[i]))
				continue;
			found = 1;
			r = ta_check(d, t, c, nchain, (long)i, NULL, now, path,
			    used, &v);
			if (r == -2)
				goto internal;
			if (r == 0) {
				result_set(res, t, i);
				rc = 0;
				goto out;
			}
		}
		if (found)
			continue;
		/*
		 * The anchor was not sent.  A "2 0 0" record is the anchor
		 * certificate itself, so the chain can still be checked
		 * against it (RFC 7671 §5.2.2).  A digest, or a bare key
		 * ("2 1 0"), gives nothing to check the signature of the
		 * top certificate with here: the record cannot be satisfied.
		 */
		if (t->selector == MXK_DANE_SEL_CERT &&
		    t->mtype == MXK_DANE_MT_FULL && t->len <= UINT_MAX) {
			gnutls_x509_crt_t	ext;

			if (gnutls_x509_crt_init(&ext) < 0)
				goto internal;
			dt.data = t->data;
			dt.size = (unsigned)t->len;
			if (gnutls_x509_crt_import(ext, &dt,
			    GNUTLS_X509_FMT_DER) < 0) {
				gnutls_x509_crt_deinit(ext);
				miss(&v, RANK_NOTINCHAIN, t, "trust anchor not "
				    "in the presented chain, and the record "
				    "is not a certificate");
				continue;
			}
			r = ta_check(d, t, c, nchain, -1, ext, now, path,
			    used, &v);
			gnutls_x509_crt_deinit(ext);
			if (r == -2)
				goto internal;
			if (r == 0) {
				result_set(res, t, nchain);
				rc = 0;
				goto out;
			}
			continue;
		}
		miss(&v, RANK_NOTINCHAIN, t,
		    "trust anchor not in the presented chain");
	}
	(void)snprintf(res->why, sizeof(res->why), "%s", v.why);
	(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.5", "DANE: %s",
	    v.why);
	goto out;
internal:
	(void)snprintf(res->why, sizeof(res->why),
	    "certificate verification could not be set up");
	(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL, "DANE: %s",
	    res->why);
out:
	if (c != NULL)
		for (i = 0; i < nchain; i++)
			if (c[i].crt != NULL)
				gnutls_x509_crt_deinit(c[i].crt);
	free(c);
	free(path);
	free(used);
	return rc;
}
