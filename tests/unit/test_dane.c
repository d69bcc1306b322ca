/* ISC license. */

/*
 * dane: usability and state rules from hand-made answers, the TLSA base
 * domain choice, name matching, TLSA data, and chain verification against
 * certificates made here with the GnuTLS x509 API.  The lookup is driven
 * against a fake resolver on 127.0.0.1 (a forked child).
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ldns/ldns.h>

#include "clock.h"
#include "dane.h"
#include "dns.h"
#include "err.h"
#include "t.h"

#define T0	1700000000LL
#define DAY	86400LL

#define CHECK(x) do {							\
	int check_r_ = (x);						\
	if (check_r_ < 0) {						\
		(void)fprintf(stderr, "%s:%d: %s: %s\n", __FILE__,	\
		    __LINE__, #x, gnutls_strerror(check_r_));		\
		abort();						\
	}								\
} while (0)

enum {
	C_NONE = 0, C_ROOT, C_INTER, C_LEAF, C_SELFEXP, C_OTHER, C_EXPLEAF,
	C_WILD, C_CNONLY, C_EVILROOT, C_EVILLEAF, C_OLDINTER, C_OLDLEAF,
	C_GARBAGE, C__N
};

static const struct {
	int		 id;
	const char	*cn;
	const char	*san;
	int		 ca;
	int		 issuer;	/* itself: self-signed */
	long long	 nb, na;	/* offsets from T0 */
} certspec[] = {
	{ C_ROOT, "DANE Test Root", NULL, 1, C_ROOT, -10 * DAY, 3650 * DAY },
	{ C_INTER, "DANE Test Intermediate", NULL, 1, C_ROOT, -10 * DAY,
	    1000 * DAY },
	{ C_LEAF, "mx.dane.example", "mx.dane.example", 0, C_INTER, -DAY,
	    90 * DAY },
	{ C_SELFEXP, "wrong.example", "wrong.example", 0, C_SELFEXP,
	    -20 * DAY, -10 * DAY },
	{ C_OTHER, "other.example", "other.example", 0, C_INTER, -DAY,
	    90 * DAY },
	{ C_EXPLEAF, "mx.dane.example", "mx.dane.example", 0, C_INTER,
	    -100 * DAY, -10 * DAY },
	{ C_WILD, "wildcard", "*.dane.example", 0, C_INTER, -DAY, 90 * DAY },
	{ C_CNONLY, "mx.dane.example", NULL, 0, C_INTER, -DAY, 90 * DAY },
	/* Same subject name as the real root, another key. */
	{ C_EVILROOT, "DANE Test Root", NULL, 1, C_EVILROOT, -10 * DAY,
	    3650 * DAY },
	{ C_EVILLEAF, "mx.dane.example", "mx.dane.example", 0, C_EVILROOT,
	    -DAY, 90 * DAY },
	/* An expired intermediate under the real root, and a valid leaf. */
	{ C_OLDINTER, "DANE Old Intermediate", NULL, 1, C_ROOT, -400 * DAY,
	    -10 * DAY },
	{ C_OLDLEAF, "mx.dane.example", "mx.dane.example", 0, C_OLDINTER,
	    -DAY, 90 * DAY },
};

static struct {
	gnutls_x509_privkey_t	 key;
	gnutls_x509_crt_t	 crt;
	gnutls_datum_t		 der;
} cert[C__N];

static unsigned char	garbage[] = "\x30\x03\x02\x01\x00 not a certificate";

static void
make_certs(void)
{
	unsigned char	kid[64];
	size_t		i, kidlen;
	unsigned char	serial;

	for (i = 0; i < sizeof(certspec) / sizeof(certspec[0]); i++) {
		int	id = certspec[i].id, is = certspec[i].issuer;

		CHECK(gnutls_x509_privkey_init(&cert[id].key));
		CHECK(gnutls_x509_privkey_generate(cert[id].key,
		    GNUTLS_PK_ECDSA,
		    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
		CHECK(gnutls_x509_crt_init(&cert[id].crt));
		CHECK(gnutls_x509_crt_set_version(cert[id].crt, 3));
		serial = (unsigned char)(id + 1);
		CHECK(gnutls_x509_crt_set_serial(cert[id].crt, &serial, 1));
		CHECK(gnutls_x509_crt_set_activation_time(cert[id].crt,
		    (time_t)(T0 + certspec[i].nb)));
		CHECK(gnutls_x509_crt_set_expiration_time(cert[id].crt,
		    (time_t)(T0 + certspec[i].na)));
		CHECK(gnutls_x509_crt_set_dn_by_oid(cert[id].crt,
		    GNUTLS_OID_X520_COMMON_NAME, 0, certspec[i].cn,
		    (unsigned)strlen(certspec[i].cn)));
		CHECK(gnutls_x509_crt_set_key(cert[id].crt, cert[id].key));
		if (certspec[i].san != NULL)
			CHECK(gnutls_x509_crt_set_subject_alt_name(
			    cert[id].crt, GNUTLS_SAN_DNSNAME,
			    certspec[i].san,
			    (unsigned)strlen(certspec[i].san),
			    GNUTLS_FSAN_APPEND));
		CHECK(gnutls_x509_crt_set_basic_constraints(cert[id].crt,
		    certspec[i].ca, -1));
		CHECK(gnutls_x509_crt_set_key_usage(cert[id].crt,
		    certspec[i].ca ? GNUTLS_KEY_KEY_CERT_SIGN |
		    GNUTLS_KEY_CRL_SIGN : GNUTLS_KEY_DIGITAL_SIGNATURE));
		kidlen = sizeof(kid);
		CHECK(gnutls_x509_crt_get_key_id(cert[id].crt, 0, kid,
		    &kidlen));
		CHECK(gnutls_x509_crt_set_subject_key_id(cert[id].crt, kid,
		    kidlen));
		CHECK(gnutls_x509_crt_sign2(cert[id].crt, cert[is].crt,
		    cert[is].key, GNUTLS_DIG_SHA256, 0));
		CHECK(gnutls_x509_crt_export2(cert[id].crt,
		    GNUTLS_X509_FMT_DER, &cert[id].der));
	}
	cert[C_GARBAGE].der.data = garbage;
	cert[C_GARBAGE].der.size = sizeof(garbage) - 1;
}

static void
free_certs(void)
{
	int	i;

	for (i = 0; i < C__N; i++) {
		if (i == C_GARBAGE || cert[i].crt == NULL)
			continue;
		gnutls_x509_crt_deinit(cert[i].crt);
		gnutls_x509_privkey_deinit(cert[i].key);
		gnutls_free(cert[i].der.data);
	}
}

/* TLSA data computed independently of lib/dane: GnuTLS's SPKI export. */
static size_t
ref_data(int id, int selector, int mtype, unsigned char *out)
{
	gnutls_pubkey_t	 pk;
	gnutls_datum_t	 spki = { NULL, 0 };
	const gnutls_datum_t *src = &cert[id].der;
	size_t		 n;

	if (selector == 1) {
		CHECK(gnutls_pubkey_init(&pk));
		CHECK(gnutls_pubkey_import_x509(pk, cert[id].crt, 0));
		CHECK(gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &spki));
		gnutls_pubkey_deinit(pk);
		src = &spki;
	}
	if (mtype == 0) {
		(void)memcpy(out, src->data, src->size);
		n = src->size;
	} else {
		CHECK(gnutls_hash_fast(mtype == 1 ? GNUTLS_DIG_SHA256 :
		    GNUTLS_DIG_SHA512, src->data, src->size, out));
		n = mtype == 1 ? 32 : 64;
	}
	gnutls_free(spki.data);
	return n;
}

static void
test_tlsa_data(void)
{
	unsigned char	a[4096], b[4096];
	size_t		alen, blen;
	const unsigned char *spki;
	size_t		spkilen;
	int		id, s, m;
	char		name[64];

	for (id = C_ROOT; id < C_GARBAGE; id++)
		for (s = 0; s <= 1; s++)
			for (m = 0; m <= 2; m++) {
				(void)snprintf(name, sizeof(name),
				    "tlsa data cert %d %d %d", id, s, m);
				alen = sizeof(a);
				T_EQ_INT(mxk_dane_tlsa_data(cert[id].der.data,
				    cert[id].der.size, s, m, a, &alen), 0,
				    name);
				blen = ref_data(id, s, m, b);
				T_OK(alen == blen && memcmp(a, b, alen) == 0,
				    "%s: differs from GnuTLS", name);
			}
	alen = 10;
	T_EQ_INT(mxk_dane_tlsa_data(cert[C_LEAF].der.data,
	    cert[C_LEAF].der.size, 0, 0, a, &alen), -1, "tlsa data no room");
	alen = 31;
	T_EQ_INT(mxk_dane_tlsa_data(cert[C_LEAF].der.data,
	    cert[C_LEAF].der.size, 1, 1, a, &alen), -1, "tlsa data 31");
	alen = sizeof(a);
	T_EQ_INT(mxk_dane_tlsa_data(cert[C_LEAF].der.data,
	    cert[C_LEAF].der.size, 2, 1, a, &alen), -1, "tlsa selector 2");
	alen = sizeof(a);
	T_EQ_INT(mxk_dane_tlsa_data(cert[C_LEAF].der.data,
	    cert[C_LEAF].der.size, 1, 3, a, &alen), -1, "tlsa mtype 3");
	alen = sizeof(a);
	T_EQ_INT(mxk_dane_tlsa_data(garbage, sizeof(garbage) - 1, 1, 1, a,
	    &alen), -1, "tlsa spki of garbage");
	/* Every truncation of a certificate must be refused, not overread. */
	for (alen = 0; alen < cert[C_LEAF].der.size; alen++)
		if (mxk_dane_spki(cert[C_LEAF].der.data, alen, &spki,
		    &spkilen) == 0 && spki + spkilen >
		    cert[C_LEAF].der.data + alen)
			break;
	T_OK(alen == cert[C_LEAF].der.size, "spki bounds at %zu", alen);
}

static void
test_hex(void)
{
	static unsigned char	d[] = { 0x00, 0xab, 0x7f, 0xff };
	struct mxk_tlsa		t = { 3, 1, 1, d, sizeof(d) };
	char			buf[32];

	T_EQ_INT(mxk_dane_hex(d, sizeof(d), buf, sizeof(buf)), 0, "hex");
	T_EQ_STR(buf, "00ab7fff", "hex text");
	T_EQ_INT(mxk_dane_hex(d, sizeof(d), buf, 8), -1, "hex no room");
	T_EQ_INT(mxk_dane_hex(d, sizeof(d), buf, 9), 0, "hex exact room");
	T_EQ_INT(mxk_dane_tlsa_format(&t, buf, sizeof(buf)), 0, "format");
	T_EQ_STR(buf, "3 1 1 00ab7fff", "format text");
	T_EQ_INT(mxk_dane_tlsa_format(&t, buf, 10), -1, "format no room");
}

static void
test_match_name(void)
{
	static const struct {
		const char	*cn, *ref;
		int		 want;
	} cases[] = {
		{ "mx.example.com", "mx.example.com", 1 },
		{ "MX.Example.COM", "mx.example.com", 1 },
		{ "mx.example.com.", "mx.example.com", 1 },
		{ "mx.example.com", "mx.example.com.", 1 },
		{ "mx.example.com", "mx2.example.com", 0 },
		{ "mx.example.com", "example.com", 0 },
		{ "*.example.com", "mx.example.com", 1 },
		{ "*.example.com", "a.b.example.com", 0 },
		{ "*.example.com", "example.com", 0 },
		{ "*.example.com", ".example.com", 0 },
		{ "*.com", "example.com", 0 },
		{ "f*.example.com", "foo.example.com", 0 },
		{ "*f.example.com", "f.example.com", 0 },
		{ "mx.*.com", "mx.example.com", 0 },
		{ "*", "mx", 0 },
		{ "", "mx.example.com", 0 },
		{ "mx.example.com", "", 0 },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		T_EQ_INT(mxk_dane_match_name(cases[i].cn,
		    strlen(cases[i].cn), cases[i].ref), cases[i].want,
		    cases[i].cn);
	T_EQ_INT(mxk_dane_match_name("mx.example.com\0.evil", 20,
	    "mx.example.com"), 0, "embedded NUL");
}

static void
test_base_domains(void)
{
	static const struct {
		const char	*name;
		const char	*host;
		enum mxk_dnssec	 sec;
		const char	*canon;
		int		 want;
		const char	*first, *second;
	} cases[] = {
		{ "no cname", "mx.example", MXK_DNSSEC_SECURE, NULL, 1,
		    "mx.example", NULL },
		{ "canon same", "mx.example.", MXK_DNSSEC_SECURE,
		    "mx.example", 1, "mx.example", NULL },
		{ "canon case", "MX.Example", MXK_DNSSEC_SECURE,
		    "mx.example.", 1, "mx.example", NULL },
		{ "canon empty", "mx.example", MXK_DNSSEC_SECURE, "", 1,
		    "mx.example", NULL },
		{ "secure cname", "mx.example", MXK_DNSSEC_SECURE,
		    "CDN.example.net.", 2, "cdn.example.net", "mx.example" },
		{ "insecure", "mx.example", MXK_DNSSEC_INSECURE,
		    "cdn.example.net", 0, NULL, NULL },
		{ "bogus", "mx.example", MXK_DNSSEC_BOGUS, NULL, 0, NULL,
		    NULL },
		{ "indeterminate", "mx.example", MXK_DNSSEC_INDETERMINATE,
		    NULL, 0, NULL, NULL },
		{ "empty host", "", MXK_DNSSEC_SECURE, NULL, -1, NULL, NULL },
		{ "empty label", "a..b", MXK_DNSSEC_SECURE, NULL, -1, NULL,
		    NULL },
		{ "bad canon", "mx.example", MXK_DNSSEC_SECURE, "bad name!",
		    -1, NULL, NULL },
	};
	char	out[2][MXK_DNS_NAMEMAX];
	size_t	i;
	int	n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = mxk_dane_base_domains(cases[i].host, cases[i].sec,
		    cases[i].canon, out);
		T_EQ_INT(n, cases[i].want, cases[i].name);
		if (n >= 1 && cases[i].first != NULL)
			T_EQ_STR(out[0], cases[i].first, cases[i].name);
		if (n >= 2 && cases[i].second != NULL)
			T_EQ_STR(out[1], cases[i].second, cases[i].name);
	}
}

/* Records as { usage, selector, mtype, cert } (cert C_NONE ends). */
struct rec {
	int	u, s, m, c;
	int	badlen;		/* data length off by this; <= -10000: 0 */
};

static struct mxk_dns_answer *
answer(enum mxk_dns_status st, enum mxk_dnssec sec, int chain_secure,
    const struct rec *r, size_t nr)
{
	struct mxk_dns_answer	*a;
	unsigned char		 buf[4096];
	size_t			 i, n;

	a = calloc(1, sizeof(*a));
	a->qtype = MXK_DNS_TLSA;
	a->status = st;
	a->dnssec = sec;
	a->chain_secure = chain_secure;
	a->rr = calloc(nr + 1, sizeof(*a->rr));
	for (i = 0; i < nr && r[i].c != C_NONE; i++) {
		struct mxk_dns_rr	*rr = &a->rr[a->nrr++];

		rr->type = MXK_DNS_TLSA;
		rr->usage = (unsigned char)r[i].u;
		rr->selector = (unsigned char)r[i].s;
		rr->mtype = (unsigned char)r[i].m;
		n = sizeof(buf);
		if (mxk_dane_tlsa_data(cert[r[i].c].der.data,
		    cert[r[i].c].der.size, r[i].s > 1 ? 0 : r[i].s,
		    r[i].m > 2 ? 1 : r[i].m, buf, &n) == -1)
			abort();
		n = r[i].badlen <= -10000 ? 0 : (size_t)((long)n +
		    r[i].badlen);
		rr->data = malloc(n + 1);
		(void)memcpy(rr->data, buf, n);
		rr->len = n;
	}
	return a;
}

static void
test_states(void)
{
	static const struct {
		const char		*name;
		enum mxk_dnssec		 addr;
		enum mxk_dns_status	 st;
		enum mxk_dnssec		 sec;
		int			 chain_secure;
		struct rec		 r[3];
		enum mxk_dane_state	 want;
		size_t			 nrec, nunusable;
	} cases[] = {
		{ "secure ok", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 3, 1, 1, C_LEAF, 0 } },
		    MXK_DANE_USABLE, 1, 0 },
		{ "secure ok, mixed", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 0, 0, 1, C_ROOT, 0 },
		    { 2, 0, 2, C_INTER, 0 }, { 3, 0, 0, C_LEAF, 0 } },
		    MXK_DANE_USABLE, 2, 1 },
		{ "insecure ok", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_INSECURE, 1, { { 3, 1, 1, C_LEAF, 0 } },
		    MXK_DANE_NA, 0, 0 },
		{ "secure, insecure cname", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 0, { { 3, 1, 1, C_LEAF, 0 } },
		    MXK_DANE_NA, 0, 0 },
		{ "indeterminate ok", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_INDETERMINATE, 1, { { 3, 1, 1, C_LEAF, 0 } },
		    MXK_DANE_FAIL, 0, 0 },
		{ "ok without records", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 0 } }, MXK_DANE_NA, 0, 0 },
		{ "nodata secure", MXK_DNSSEC_SECURE, MXK_DNS_NODATA,
		    MXK_DNSSEC_SECURE, 1, { { 0 } }, MXK_DANE_NA, 0, 0 },
		{ "nxdomain secure", MXK_DNSSEC_SECURE, MXK_DNS_NXDOMAIN,
		    MXK_DNSSEC_SECURE, 1, { { 0 } }, MXK_DANE_NA, 0, 0 },
		{ "nodata insecure", MXK_DNSSEC_SECURE, MXK_DNS_NODATA,
		    MXK_DNSSEC_INSECURE, 1, { { 0 } }, MXK_DANE_NA, 0, 0 },
		{ "nxdomain insecure", MXK_DNSSEC_SECURE, MXK_DNS_NXDOMAIN,
		    MXK_DNSSEC_INSECURE, 1, { { 0 } }, MXK_DANE_NA, 0, 0 },
		{ "nodata indeterminate", MXK_DNSSEC_SECURE, MXK_DNS_NODATA,
		    MXK_DNSSEC_INDETERMINATE, 1, { { 0 } }, MXK_DANE_FAIL, 0,
		    0 },
		{ "nxdomain indeterminate", MXK_DNSSEC_SECURE,
		    MXK_DNS_NXDOMAIN, MXK_DNSSEC_INDETERMINATE, 1, { { 0 } },
		    MXK_DANE_FAIL, 0, 0 },
		{ "servfail", MXK_DNSSEC_SECURE, MXK_DNS_SERVFAIL,
		    MXK_DNSSEC_BOGUS, 1, { { 0 } }, MXK_DANE_FAIL, 0, 0 },
		{ "timeout", MXK_DNSSEC_SECURE, MXK_DNS_TIMEOUT,
		    MXK_DNSSEC_INDETERMINATE, 1, { { 0 } }, MXK_DANE_FAIL, 0,
		    0 },
		{ "error", MXK_DNSSEC_SECURE, MXK_DNS_ERROR,
		    MXK_DNSSEC_INDETERMINATE, 1, { { 0 } }, MXK_DANE_FAIL, 0,
		    0 },
		{ "refused", MXK_DNSSEC_SECURE, MXK_DNS_REFUSED,
		    MXK_DNSSEC_INDETERMINATE, 1, { { 0 } }, MXK_DANE_FAIL, 0,
		    0 },
		{ "addr insecure, answer servfail", MXK_DNSSEC_INSECURE,
		    MXK_DNS_SERVFAIL, MXK_DNSSEC_BOGUS, 1, { { 0 } },
		    MXK_DANE_NA, 0, 0 },
		{ "addr insecure, answer usable", MXK_DNSSEC_INSECURE,
		    MXK_DNS_OK, MXK_DNSSEC_SECURE, 1,
		    { { 3, 1, 1, C_LEAF, 0 } }, MXK_DANE_NA, 0, 0 },
		{ "addr bogus", MXK_DNSSEC_BOGUS, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 3, 1, 1, C_LEAF, 0 } },
		    MXK_DANE_NA, 0, 0 },
		{ "addr indeterminate", MXK_DNSSEC_INDETERMINATE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 3, 1, 1, C_LEAF, 0 } },
		    MXK_DANE_NA, 0, 0 },
		{ "only pkix usages", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 0, 0, 1, C_ROOT, 0 },
		    { 1, 1, 1, C_LEAF, 0 } }, MXK_DANE_UNUSABLE, 0, 2 },
		{ "sha256 31 octets", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 3, 1, 1, C_LEAF, -1 } },
		    MXK_DANE_UNUSABLE, 0, 1 },
		{ "sha512 65 octets", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 3, 1, 2, C_LEAF, 1 } },
		    MXK_DANE_UNUSABLE, 0, 1 },
		{ "full, empty", MXK_DNSSEC_SECURE, MXK_DNS_OK,
		    MXK_DNSSEC_SECURE, 1, { { 3, 1, 0, C_LEAF, -100000 } },
		    MXK_DANE_UNUSABLE, 0, 1 },
		{ "unknown usage, selector, mtype", MXK_DNSSEC_SECURE,
		    MXK_DNS_OK, MXK_DNSSEC_SECURE, 1,
		    { { 4, 1, 1, C_LEAF, 0 }, { 3, 2, 1, C_LEAF, 0 },
		    { 3, 1, 3, C_LEAF, 0 } }, MXK_DANE_UNUSABLE, 0, 3 },
		{ "bad length beside a good record", MXK_DNSSEC_SECURE,
		    MXK_DNS_OK, MXK_DNSSEC_SECURE, 1,
		    { { 3, 1, 1, C_LEAF, 1 }, { 2, 1, 1, C_INTER, 0 } },
		    MXK_DANE_USABLE, 1, 1 },
	};
	struct mxk_dns_answer	*a;
	struct mxk_dane		*d;
	struct mxk_err		 e;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = answer(cases[i].st, cases[i].sec, cases[i].chain_secure,
		    cases[i].r, 3);
		d = NULL;
		T_EQ_INT(mxk_dane_from_answer("mx.dane.example", 25,
		    cases[i].addr, a, NULL, &d, &e), 0, cases[i].name);
		if (d == NULL) {
			mxk_dns_answer_free(a);
			continue;
		}
		T_OK(mxk_dane_state(d) == cases[i].want, "%s: state %s, want "
		    "%s (%s)", cases[i].name,
		    mxk_dane_state_name(mxk_dane_state(d)),
		    mxk_dane_state_name(cases[i].want), mxk_dane_why(d));
		T_EQ_INT(mxk_dane_nrecords(d), cases[i].nrec, cases[i].name);
		T_EQ_INT(mxk_dane_nunusable(d), cases[i].nunusable,
		    cases[i].name);
		mxk_dane_free(d);
		mxk_dns_answer_free(a);
	}

	/* The answer is not even looked at without secure addresses. */
	T_EQ_INT(mxk_dane_from_answer("mx.dane.example", 25,
	    MXK_DNSSEC_INSECURE, NULL, NULL, &d, &e), 0, "null answer, NA");
	T_EQ_INT(mxk_dane_state(d), MXK_DANE_NA, "null answer state");
	T_EQ_STR(mxk_dane_qname(d), "", "null answer qname");
	mxk_dane_free(d);
	T_EQ_INT(mxk_dane_from_answer("mx.dane.example", 25,
	    MXK_DNSSEC_SECURE, NULL, NULL, &d, &e), -1, "null answer, secure");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "null answer class");
	T_OK(d == NULL, "null answer out");

	T_EQ_STR(mxk_dane_state_name(MXK_DANE_NA), "na", "name na");
	T_EQ_STR(mxk_dane_state_name(MXK_DANE_USABLE), "usable",
	    "name usable");
	T_EQ_STR(mxk_dane_state_name(MXK_DANE_UNUSABLE), "unusable",
	    "name unusable");
	T_EQ_STR(mxk_dane_state_name(MXK_DANE_FAIL), "fail", "name fail");
	T_EQ_STR(mxk_dane_state_name(MXK_DANE__COUNT), "?", "name bad");
}

static void
test_names(void)
{
	static const struct rec	 r[] = { { 3, 1, 1, C_LEAF, 0 } };
	struct mxk_dns_answer	*a;
	struct mxk_dane		*d;
	struct mxk_err		 e;

	a = answer(MXK_DNS_OK, MXK_DNSSEC_SECURE, 1, r, 1);
	T_EQ_INT(mxk_dane_from_answer("MX.Dane.Example.", 0,
	    MXK_DNSSEC_SECURE, a, NULL, &d, &e), 0, "names default");
	T_EQ_STR(mxk_dane_base(d), "mx.dane.example", "base default");
	T_EQ_STR(mxk_dane_qname(d), "_25._tcp.mx.dane.example",
	    "qname default");
	T_EQ_INT(mxk_dane_nnames(d), 1, "nnames default");
	T_EQ_STR(mxk_dane_name(d, 0), "mx.dane.example", "name default");
	T_OK(mxk_dane_name(d, 1) == NULL, "name out of range");
	T_EQ_INT(mxk_dane_add_name(d, "Example.ORG.", &e), 0, "add name");
	T_EQ_INT(mxk_dane_add_name(d, "example.org", &e), 0, "add dup");
	T_EQ_INT(mxk_dane_nnames(d), 2, "nnames added");
	T_EQ_STR(mxk_dane_name(d, 1), "example.org", "name added");
	T_EQ_INT(mxk_dane_add_name(d, "bad name", &e), -1, "add bad name");
	mxk_dane_free(d);

	T_EQ_INT(mxk_dane_from_answer("mx.dane.example", 465,
	    MXK_DNSSEC_SECURE, a, "cdn.example.net", &d, &e), 0,
	    "names cname");
	T_EQ_STR(mxk_dane_base(d), "cdn.example.net", "base cname");
	T_EQ_STR(mxk_dane_qname(d), "_465._tcp.cdn.example.net",
	    "qname cname");
	T_EQ_INT(mxk_dane_nnames(d), 2, "nnames cname");
	T_EQ_STR(mxk_dane_name(d, 0), "cdn.example.net", "name 0 cname");
	T_EQ_STR(mxk_dane_name(d, 1), "mx.dane.example", "name 1 cname");
	mxk_dane_free(d);

	(void)snprintf(a->qname, sizeof(a->qname),
	    "_25._tcp.MX.dane.example");
	T_EQ_INT(mxk_dane_from_answer("mx.dane.example", 25,
	    MXK_DNSSEC_SECURE, a, NULL, &d, &e), 0, "qname matches");
	mxk_dane_free(d);
	T_EQ_INT(mxk_dane_from_answer("mx.dane.example", 26,
	    MXK_DNSSEC_SECURE, a, NULL, &d, &e), -1, "qname mismatch");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "qname mismatch class");
	T_EQ_INT(mxk_dane_from_answer("mx..example", 25,
	    MXK_DNSSEC_SECURE, a, NULL, &d, &e), -1, "bad host");
	T_EQ_INT(mxk_dane_from_answer("mx.dane.example", 65536,
	    MXK_DNSSEC_SECURE, a, NULL, &d, &e), -1, "bad port");
	T_EQ_INT(mxk_dane_lookup(NULL, "mx.dane.example", -1,
	    MXK_DNSSEC_INSECURE, NULL, 0, &d, &e), -1, "lookup bad port");
	mxk_dns_answer_free(a);
}

static struct mxk_dane *
dane_of(const struct rec *r, size_t nr)
{
	struct mxk_dns_answer	*a;
	struct mxk_dane		*d;
	struct mxk_err		 e;

	a = answer(MXK_DNS_OK, MXK_DNSSEC_SECURE, 1, r, nr);
	if (mxk_dane_from_answer("mx.dane.example", 25, MXK_DNSSEC_SECURE,
	    a, NULL, &d, &e) == -1)
		abort();
	mxk_dns_answer_free(a);
	return d;
}

static int
verify(const struct mxk_dane *d, const int *chain, long long now,
    struct mxk_dane_result *res, struct mxk_err *e)
{
	const unsigned char	*der[8];
	size_t			 len[8], n;

	for (n = 0; n < 8 && chain[n] != C_NONE; n++) {
		der[n] = cert[chain[n]].der.data;
		len[n] = cert[chain[n]].der.size;
	}
	return mxk_dane_verify(d, der, len, n, now, res, e);
}

static void
test_verify(void)
{
	static const struct {
		const char	*name;
		struct rec	 r[3];
		int		 chain[5];
		long long	 now;		/* offset from T0 */
		int		 ok;
		int		 usage;		/* of the match */
		long		 depth;		/* -1: not checked */
		const char	*why;		/* substring; NULL: none */
	} cases[] = {
		/* DANE-EE(3): names and dates ignored. */
		{ "3 1 1 self-signed expired wrong-name leaf",
		    { { 3, 1, 1, C_SELFEXP, 0 } }, { C_SELFEXP }, 0, 1, 3, 0,
		    "DANE-EE 3 1 1" },
		{ "3 0 1 leaf", { { 3, 0, 1, C_LEAF, 0 } },
		    { C_LEAF, C_INTER }, 0, 1, 3, 0, NULL },
		{ "3 1 2 leaf", { { 3, 1, 2, C_LEAF, 0 } },
		    { C_LEAF, C_INTER }, 0, 1, 3, 0, NULL },
		{ "3 0 0 leaf", { { 3, 0, 0, C_LEAF, 0 } },
		    { C_LEAF, C_INTER }, 0, 1, 3, 0, NULL },
		{ "3 1 0 leaf", { { 3, 1, 0, C_LEAF, 0 } }, { C_LEAF }, 0, 1,
		    3, 0, NULL },
		{ "3 0 2 expired leaf far in the future", {
		    { 3, 0, 2, C_EXPLEAF, 0 } }, { C_EXPLEAF }, 5000 * DAY,
		    1, 3, 0, NULL },
		{ "3 1 1 non-matching", { { 3, 1, 1, C_OTHER, 0 } },
		    { C_LEAF, C_INTER }, 0, 0, -1, -1,
		    "no TLSA record matched the presented chain" },
		{ "3 0 1 of the intermediate", { { 3, 0, 1, C_INTER, 0 } },
		    { C_LEAF, C_INTER }, 0, 0, -1, -1, "no TLSA record" },
		{ "3 1 1 garbage leaf", { { 3, 1, 1, C_LEAF, 0 } },
		    { C_GARBAGE }, 0, 0, -1, -1, "no TLSA record" },
		/* DANE-TA(2). */
		{ "2 0 1 intermediate, right name",
		    { { 2, 0, 1, C_INTER, 0 } }, { C_LEAF, C_INTER }, 0, 1,
		    2, 1, "DANE-TA 2 0 1" },
		{ "2 1 1 root sent", { { 2, 1, 1, C_ROOT, 0 } },
		    { C_LEAF, C_INTER, C_ROOT }, 0, 1, 2, 2, NULL },
		{ "2 1 2 root, chain out of order", {
		    { 2, 1, 2, C_ROOT, 0 } }, { C_LEAF, C_ROOT, C_INTER },
		    0, 1, 2, 1, NULL },
		{ "2 0 1 intermediate, root also sent",
		    { { 2, 0, 1, C_INTER, 0 } }, { C_LEAF, C_INTER, C_ROOT },
		    0, 1, 2, 1, NULL },
		{ "2 0 1 wildcard leaf", { { 2, 0, 1, C_INTER, 0 } },
		    { C_WILD, C_INTER }, 0, 1, 2, 1, NULL },
		{ "2 0 1 CN-only leaf", { { 2, 0, 1, C_INTER, 0 } },
		    { C_CNONLY, C_INTER }, 0, 1, 2, 1, NULL },
		{ "2 0 1 leaf itself", { { 2, 0, 1, C_LEAF, 0 } },
		    { C_LEAF }, 0, 1, 2, 0, NULL },
		{ "2 0 1 intermediate, wrong name",
		    { { 2, 0, 1, C_INTER, 0 } }, { C_OTHER, C_INTER }, 0, 0,
		    -1, -1, "DANE-TA matched but name mismatch: chain names "
		    "other.example, reference mx.dane.example" },
		{ "2 0 1 intermediate, expired leaf",
		    { { 2, 0, 1, C_INTER, 0 } }, { C_EXPLEAF, C_INTER }, 0, 0,
		    -1, -1, "DANE-TA matched but certificate at depth 0 "
		    "expired" },
		{ "2 0 1 intermediate, not yet valid",
		    { { 2, 0, 1, C_INTER, 0 } }, { C_LEAF, C_INTER },
		    -5 * DAY, 0, -1, -1, "not yet valid" },
		{ "2 1 1 root, whole chain expired by now",
		    { { 2, 1, 1, C_ROOT, 0 } }, { C_LEAF, C_INTER, C_ROOT },
		    1500 * DAY, 0, -1, -1, "depth 0 expired" },
		{ "2 1 1 root, intermediate expired",
		    { { 2, 1, 1, C_ROOT, 0 } },
		    { C_OLDLEAF, C_OLDINTER, C_ROOT }, 0, 0, -1, -1,
		    "certificate at depth 1 expired" },
		{ "2 0 1 expired intermediate as trust anchor",
		    { { 2, 0, 1, C_OLDINTER, 0 } }, { C_OLDLEAF, C_OLDINTER },
		    0, 0, -1, -1, "certificate at depth 1 expired" },
		{ "2 0 0 expired intermediate, not sent",
		    { { 2, 0, 0, C_OLDINTER, 0 } }, { C_OLDLEAF }, 0, 0, -1,
		    -1, "trust anchor in the record expired" },
		{ "2 0 1 intermediate, path through the wrong intermediate",
		    { { 2, 0, 1, C_INTER, 0 } },
		    { C_OLDLEAF, C_INTER, C_OLDINTER }, 0, 0, -1, -1,
		    "does not lead" },
		{ "2 0 1 self-signed expired wrong-name leaf itself",
		    { { 2, 0, 1, C_SELFEXP, 0 } }, { C_SELFEXP }, 0, 0, -1,
		    -1, "expired" },
		{ "2 0 1 leaf itself, wrong name", {
		    { 2, 0, 1, C_OTHER, 0 } }, { C_OTHER }, 0, 0, -1, -1,
		    "name mismatch" },
		{ "2 1 1 intermediate not sent", {
		    { 2, 1, 1, C_INTER, 0 } }, { C_LEAF }, 0, 0, -1, -1,
		    "trust anchor not in the presented chain" },
		{ "2 0 1 root not sent", { { 2, 0, 1, C_ROOT, 0 } },
		    { C_LEAF, C_INTER }, 0, 0, -1, -1,
		    "trust anchor not in the presented chain" },
		{ "2 0 0 intermediate not sent", {
		    { 2, 0, 0, C_INTER, 0 } }, { C_LEAF }, 0, 1, 2, 1, NULL },
		{ "2 0 0 root not sent", { { 2, 0, 0, C_ROOT, 0 } },
		    { C_LEAF, C_INTER }, 0, 1, 2, 2, NULL },
		{ "2 0 0 root not sent, intermediate missing", {
		    { 2, 0, 0, C_ROOT, 0 } }, { C_LEAF }, 0, 0, -1, -1,
		    "does not lead to the trust anchor in the record" },
		{ "2 1 1 root, leaf from an impostor of the same name", {
		    { 2, 1, 1, C_ROOT, 0 } }, { C_EVILLEAF, C_ROOT }, 0, 0,
		    -1, -1, "does not verify" },
		{ "2 0 1 intermediate, unrelated leaf", {
		    { 2, 0, 1, C_INTER, 0 } }, { C_EVILLEAF, C_INTER }, 0, 0,
		    -1, -1, "does not lead" },
		{ "2 0 1 intermediate, garbage leaf", {
		    { 2, 0, 1, C_INTER, 0 } }, { C_GARBAGE, C_INTER }, 0, 0,
		    -1, -1, "does not parse" },
		/* RRsets. */
		{ "{2 0 1 root, 3 1 1 leaf}, one-cert chain", {
		    { 2, 0, 1, C_ROOT, 0 }, { 3, 1, 1, C_SELFEXP, 0 } },
		    { C_SELFEXP }, 0, 1, 3, 0, NULL },
		{ "{2 0 1 leaf itself, 3 1 1 leaf}, expired", {
		    { 2, 0, 1, C_SELFEXP, 0 }, { 3, 1, 1, C_SELFEXP, 0 } },
		    { C_SELFEXP }, 0, 1, 3, 0, NULL },
		{ "{2 failing on name, 3 matching}", {
		    { 2, 0, 1, C_INTER, 0 }, { 3, 1, 1, C_OTHER, 0 } },
		    { C_OTHER, C_INTER }, 0, 1, 3, 0, NULL },
		{ "{2 0 1 other, 2 1 1 intermediate}", {
		    { 2, 0, 1, C_OTHER, 0 }, { 2, 1, 1, C_INTER, 0 } },
		    { C_LEAF, C_INTER }, 0, 1, 2, 1, "DANE-TA 2 1 1" },
		{ "closest failure: name over not-in-chain", {
		    { 2, 0, 1, C_ROOT, 0 }, { 2, 0, 1, C_INTER, 0 },
		    { 3, 1, 1, C_LEAF, 0 } }, { C_OTHER, C_INTER }, 0, 0, -1,
		    -1, "TLSA 2 0 1: DANE-TA matched but name mismatch" },
		{ "closest failure: expiry over bad path", {
		    { 2, 1, 1, C_EVILROOT, 0 }, { 2, 1, 1, C_INTER, 0 } },
		    { C_EXPLEAF, C_INTER, C_EVILROOT }, 0, 0, -1, -1,
		    "expired" },
	};
	struct mxk_dane_result	 res;
	struct mxk_dane		*d;
	struct mxk_err		 e;
	size_t			 i, nr;
	int			 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (nr = 0; nr < 3 && cases[i].r[nr].c != C_NONE; nr++)
			;
		d = dane_of(cases[i].r, nr);
		T_EQ_INT(mxk_dane_state(d), MXK_DANE_USABLE, cases[i].name);
		mxk_err_clear(&e);
		rc = verify(d, cases[i].chain, T0 + cases[i].now, &res, &e);
		T_OK(res.ok == cases[i].ok, "%s: ok %d, want %d (%s)",
		    cases[i].name, res.ok, cases[i].ok, res.why);
		T_EQ_INT(rc, cases[i].ok ? 0 : -1, cases[i].name);
		if (cases[i].ok) {
			T_EQ_INT(res.usage, cases[i].usage, cases[i].name);
			T_EQ_INT(e.class, MXK_ERR_OK, cases[i].name);
		} else {
			T_EQ_INT(res.usage, -1, cases[i].name);
			T_EQ_INT(e.class, MXK_ERR_TEMP, cases[i].name);
			T_EQ_STR(e.status, "4.7.5", cases[i].name);
		}
		if (cases[i].depth >= 0)
			T_EQ_INT(res.depth, cases[i].depth, cases[i].name);
		if (cases[i].why != NULL)
			T_OK(strstr(res.why, cases[i].why) != NULL,
			    "%s: why \"%s\", want \"%s\"", cases[i].name,
			    res.why, cases[i].why);
		mxk_dane_free(d);
	}
}

static void
test_verify_misc(void)
{
	static const struct rec	 ta[] = { { 2, 0, 1, C_INTER, 0 } };
	static const struct rec	 pkix[] = { { 1, 0, 1, C_LEAF, 0 } };
	static const int	 other[] = { C_OTHER, C_INTER, C_NONE };
	struct mxk_dane_result	 res;
	struct mxk_dane		*d;
	struct mxk_err		 e;

	/* An extra reference name makes the other leaf acceptable. */
	d = dane_of(ta, 1);
	T_EQ_INT(verify(d, other, T0, &res, &e), -1, "extra name before");
	T_EQ_INT(mxk_dane_add_name(d, "other.example", &e), 0, "add other");
	T_EQ_INT(verify(d, other, T0, &res, &e), 0, "extra name after");
	T_EQ_INT(res.ok, 1, "extra name ok");
	T_EQ_INT(mxk_dane_verify(d, NULL, NULL, 0, T0, &res, &e), -1,
	    "empty chain");
	T_OK(strstr(res.why, "no certificate") != NULL, "empty chain why");
	mxk_dane_free(d);

	/* No usable records: a usage error, not a verdict. */
	d = dane_of(pkix, 1);
	T_EQ_INT(mxk_dane_state(d), MXK_DANE_UNUSABLE, "pkix unusable");
	T_EQ_INT(verify(d, other, T0, &res, &e), -1, "verify unusable");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "verify unusable class");
	T_EQ_INT(res.ok, 0, "verify unusable ok");
	mxk_dane_free(d);
	T_EQ_INT(mxk_dane_verify(NULL, NULL, NULL, 0, T0, &res, &e), -1,
	    "verify null");
}

/*
 * A fake resolver on 127.0.0.1 (UDP only), AD=1 unless said:
 *   _25._tcp.target.t    NODATA (SOA)
 *   _25._tcp.mx.t        TLSA 3 1 1 <leaf>
 *   _25._tcp.target2.t   TLSA 3 1 1 <leaf>
 *   _25._tcp.insec.t     TLSA 3 1 1 <leaf>, AD=0
 *   _25._tcp.bogus.t     SERVFAIL, AD=0
 *   other                NXDOMAIN (SOA)
 */
#define SOA_T	"t. 600 IN SOA ns.t. h.t. 1 3600 600 86400 300"

static char	leaf_hex[200];

static unsigned char *
fake_answer(const unsigned char *q, size_t qlen, size_t *len)
{
	ldns_pkt	*qp = NULL, *p;
	ldns_rr		*rr = NULL, *qrr;
	char		*name, line[400];
	uint8_t		*w = NULL;

	if (ldns_wire2pkt(&qp, q, qlen) != LDNS_STATUS_OK)
		return NULL;
	if ((qrr = ldns_rr_list_rr(ldns_pkt_question(qp), 0)) == NULL) {
		ldns_pkt_free(qp);
		return NULL;
	}
	name = ldns_rdf2str(ldns_rr_owner(qrr));
	p = ldns_pkt_new();
	ldns_pkt_set_id(p, ldns_pkt_id(qp));
	ldns_pkt_set_qr(p, 1);
	ldns_pkt_set_rd(p, 1);
	ldns_pkt_set_ra(p, 1);
	ldns_pkt_set_ad(p, 1);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
	if (strcmp(name, "_25._tcp.mx.t.") == 0 ||
	    strcmp(name, "_25._tcp.target2.t.") == 0 ||
	    strcmp(name, "_25._tcp.insec.t.") == 0) {
		if (strstr(name, "insec") != NULL)
			ldns_pkt_set_ad(p, 0);
		(void)snprintf(line, sizeof(line), "%s 300 IN TLSA 3 1 1 %s",
		    name, leaf_hex);
		(void)ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	} else if (strcmp(name, "_25._tcp.bogus.t.") == 0) {
		ldns_pkt_set_ad(p, 0);
		ldns_pkt_set_rcode(p, LDNS_RCODE_SERVFAIL);
	} else {
		if (strcmp(name, "_25._tcp.target.t.") != 0)
			ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
		(void)ldns_rr_new_frm_str(&rr, SOA_T, 0, NULL, NULL);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	if (ldns_pkt2wire(&w, p, len) != LDNS_STATUS_OK)
		w = NULL;
	ldns_pkt_free(p);
	free(name);
	ldns_pkt_free(qp);
	return w;
}

static pid_t
fake_start(int *port)
{
	struct sockaddr_in	 sin;
	struct sockaddr_storage	 ss;
	struct pollfd		 pfd;
	socklen_t		 sl;
	unsigned char		 q[4096], *r;
	size_t			 rlen;
	ssize_t			 n;
	long long		 deadline;
	int			 fd;
	pid_t			 pid;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sl = sizeof(sin);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		(void)close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	if ((pid = fork()) != 0) {
		(void)close(fd);
		return pid;
	}
	deadline = mxk_deadline_in(15000);
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (mxk_ms_left(deadline) > 0) {
		if (poll(&pfd, 1, mxk_ms_left(deadline)) <= 0)
			continue;
		sl = sizeof(ss);
		n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&ss, &sl);
		if (n <= 0 || (r = fake_answer(q, (size_t)n, &rlen)) == NULL)
			continue;
		(void)sendto(fd, r, rlen, 0, (struct sockaddr *)&ss, sl);
		free(r);
	}
	_exit(0);
}

static void
test_lookup(void)
{
	static const struct {
		const char		*name;
		const char		*host;
		enum mxk_dnssec		 addr;
		const char		*canon;
		enum mxk_dane_state	 want;
		const char		*base;
		size_t			 nnames;
	} cases[] = {
		{ "no cname", "mx.t", MXK_DNSSEC_SECURE, NULL,
		    MXK_DANE_USABLE, "mx.t", 1 },
		{ "cname target has TLSA", "mx2.t", MXK_DNSSEC_SECURE,
		    "target2.t", MXK_DANE_USABLE, "target2.t", 2 },
		{ "cname target nodata, host has TLSA", "mx.t",
		    MXK_DNSSEC_SECURE, "target.t", MXK_DANE_USABLE, "mx.t",
		    1 },
		{ "cname target insecure, host has TLSA", "mx.t",
		    MXK_DNSSEC_SECURE, "insec.t", MXK_DANE_USABLE, "mx.t", 1 },
		{ "cname target bogus: no fallback", "mx.t",
		    MXK_DNSSEC_SECURE, "bogus.t", MXK_DANE_FAIL, "bogus.t",
		    2 },
		{ "no TLSA anywhere", "nx.t", MXK_DNSSEC_SECURE, "target.t",
		    MXK_DANE_NA, "nx.t", 1 },
		{ "insecure TLSA", "insec.t", MXK_DNSSEC_SECURE, NULL,
		    MXK_DANE_NA, "insec.t", 1 },
		{ "bogus", "bogus.t", MXK_DNSSEC_SECURE, NULL, MXK_DANE_FAIL,
		    "bogus.t", 1 },
	};
	struct mxk_dns_params	 p;
	struct mxk_dns		*dns;
	struct mxk_dane		*d;
	struct mxk_err		 e;
	unsigned char		 h[32];
	size_t			 hl = sizeof(h), i;
	char			 res[64];
	int			 port, status;
	pid_t			 pid;

	/* Without secure addresses no query is made: dns may be NULL. */
	T_EQ_INT(mxk_dane_lookup(NULL, "mx.t", 25, MXK_DNSSEC_INSECURE, NULL,
	    mxk_deadline_in(1000), &d, &e), 0, "lookup insecure addr");
	T_EQ_INT(mxk_dane_state(d), MXK_DANE_NA, "lookup insecure state");
	T_EQ_STR(mxk_dane_base(d), "", "lookup insecure base");
	mxk_dane_free(d);
	T_EQ_INT(mxk_dane_lookup(NULL, "mx.t", 25, MXK_DNSSEC_SECURE, NULL,
	    mxk_deadline_in(1000), &d, &e), -1, "lookup no dns");

	if (mxk_dane_tlsa_data(cert[C_LEAF].der.data, cert[C_LEAF].der.size,
	    1, 1, h, &hl) == -1 ||
	    mxk_dane_hex(h, hl, leaf_hex, sizeof(leaf_hex)) == -1)
		abort();
	if ((pid = fake_start(&port)) == -1) {
		T_OK(0, "fake resolver");
		return;
	}
	memset(&p, 0, sizeof(p));
	(void)snprintf(res, sizeof(res), "127.0.0.1:%d", port);
	p.resolver = res;
	p.timeout_ms = 1000;
	p.tries = 1;
	p.trust_ad = -1;
	if (mxk_dns_open(&dns, &p, &e) == -1) {
		T_OK(0, "dns open: %s", e.msg);
		(void)kill(pid, SIGTERM);
		(void)waitpid(pid, &status, 0);
		return;
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = NULL;
		T_EQ_INT(mxk_dane_lookup(dns, cases[i].host, 25,
		    cases[i].addr, cases[i].canon, mxk_deadline_in(5000), &d,
		    &e), 0, cases[i].name);
		if (d == NULL)
			continue;
		T_OK(mxk_dane_state(d) == cases[i].want, "%s: state %s, want "
		    "%s (%s)", cases[i].name,
		    mxk_dane_state_name(mxk_dane_state(d)),
		    mxk_dane_state_name(cases[i].want), mxk_dane_why(d));
		T_EQ_STR(mxk_dane_base(d), cases[i].base, cases[i].name);
		T_EQ_INT(mxk_dane_nnames(d), cases[i].nnames, cases[i].name);
		if (cases[i].want == MXK_DANE_USABLE) {
			static const int	chain[] = { C_LEAF, C_NONE };
			struct mxk_dane_result	vr;

			T_EQ_INT(verify(d, chain, T0, &vr, &e), 0,
			    cases[i].name);
		}
		mxk_dane_free(d);
	}
	mxk_dns_close(dns);
	(void)kill(pid, SIGTERM);
	(void)waitpid(pid, &status, 0);
}

int
main(void)
{
	make_certs();
	test_tlsa_data();
	test_hex();
	test_match_name();
	test_base_domains();
	test_states();
	test_names();
	test_verify();
	test_verify_misc();
	test_lookup();
	free_certs();
	return t_done("dane");
}
