/* ISC license. */

/*
 * dane: DANE for SMTP (RFC 7672, with RFC 7671 and RFC 6698): the TLSA
 * lookup through lib/dns, the usability rules, and our own matching of a
 * presented certificate chain against the usable records.
 *
 * Lookup.  mxk_dane_lookup() decides for one MX host and port whether DANE
 * applies, and keeps the usable TLSA records.  The outcome is a state:
 *   NA        DANE does not apply: the host's address records are not
 *             DNSSEC-secure (no TLSA query is made), or the TLSA RRset is
 *             insecure, or it securely does not exist;
 *   USABLE    a secure TLSA RRset with at least one usable record: TLS is
 *             mandatory and the peer must match (mxk_dane_verify());
 *   UNUSABLE  a secure TLSA RRset without a usable record: TLS is
 *             mandatory, without authentication (RFC 7672 §2.2);
 *   FAIL      the TLSA lookup failed (bogus, SERVFAIL, timeout, no
 *             trusted answer): this MX host must not be used; a temporary
 *             failure (RFC 7672 §2.2).
 * The lookup returns 0 with *out allocated for any state; -1 only when it
 * could not work at all (no memory, dns could not send; the error from
 * lib/dns, TEMP 4.4.3) or for bad arguments (USAGE).  Free with
 * mxk_dane_free().
 *
 * TLSA base domain (RFC 7672 §2.2.2).  When the host's address records were
 * reached through a CNAME chain and every response was secure (addr_dnssec
 * SECURE, addr_canon differing from the host name), TLSA is first asked at
 * _PORT._tcp.<CNAME-expanded name>; when that gives no secure TLSA RRset
 * (state NA there: secure or insecure denial, or insecure records) it is
 * asked again at _PORT._tcp.<MX host name>.  A failed lookup (FAIL) at the
 * expanded name is final: a bogus answer must not be routed around.  The
 * TLSA answer may itself follow CNAMEs (lib/dns does); it counts as secure
 * only when every response used was.
 *
 * Usable records (RFC 7672 §3.1): certificate usage DANE-TA(2) or
 * DANE-EE(3), selector Cert(0) or SPKI(1), matching type Full(0),
 * SHA2-256(1) or SHA2-512(2), with a digest of the right length (32, 64)
 * or non-empty full data.  PKIX-TA(0) and PKIX-EE(1) records and unknown
 * parameters are unusable and dropped.
 *
 * Reference identifiers (RFC 7672 §3.2.2), used only for DANE-TA: the
 * TLSA base domain the records were found at and the MX host name, both
 * kept (once each).  The next-hop (recipient) domain is not added: for
 * MX-based delivery RFC 7672 §3.2.2 names the MX host, since the MX RRset
 * itself was DNSSEC-validated.  A caller with other rules (a next-hop that
 * is not an MX lookup, say) adds names with mxk_dane_add_name().
 *
 * Verification.  mxk_dane_verify() is pure: it takes the peer's chain as
 * DER blobs (leaf first, as sent) and a Unix time for date checks.
 *   DANE-EE(3): the leaf matches; names and dates are ignored (RFC 7672
 *     §3.1.1).
 *   DANE-TA(2): some presented certificate matches; the path from the leaf
 *     to it verifies with it as the only trust anchor (signatures, CA
 *     constraints); every certificate from the leaf to the anchor is
 *     within its validity at now; the leaf carries a reference name.  A
 *     record matching the leaf itself makes the leaf its own trust anchor
 *     (RFC 7671 §5.2.2): its dates and names are still checked.  A "2 0 0"
 *     record carries the whole trust-anchor certificate, so that anchor
 *     may be absent from the chain.  A digest of an absent trust anchor
 *     cannot be used (RFC 7671 §5.2.2): that record fails.
 * Every usable record is tried; one match is enough (so a failing DANE-TA
 * record never hides a matching DANE-EE one).  Returns 0 when a record
 * matched, -1 otherwise: no match is TEMP, source TLS, 4.7.5 (RFC 7672
 * §2.2 makes it a deferral); a state other than USABLE is USAGE; no memory
 * or a GnuTLS setup failure is INTERNAL.  The result says which record
 * matched at which chain depth, or the closest failure.
 *
 * Nothing here prints; lookups log their outcome at level debug.
 */
#ifndef MXK_DANE_H
#define MXK_DANE_H

#include <stddef.h>

#include "dns.h"
#include "err.h"

/* Usages, selectors and matching types (RFC 6698 §2.1, RFC 7218). */
#define MXK_DANE_PKIX_TA	0
#define MXK_DANE_PKIX_EE	1
#define MXK_DANE_DANE_TA	2
#define MXK_DANE_DANE_EE	3
#define MXK_DANE_SEL_CERT	0
#define MXK_DANE_SEL_SPKI	1
#define MXK_DANE_MT_FULL	0
#define MXK_DANE_MT_SHA256	1
#define MXK_DANE_MT_SHA512	2

enum mxk_dane_state {
	MXK_DANE_NA = 0,
	MXK_DANE_USABLE,
	MXK_DANE_UNUSABLE,
	MXK_DANE_FAIL,
	MXK_DANE__COUNT
};

/* One TLSA record; data is owned by the struct mxk_dane it came from. */
struct mxk_tlsa {
	unsigned char	 usage, selector, mtype;
	unsigned char	*data;
	size_t		 len;
};

struct mxk_dane;

struct mxk_dane_result {
	int	 ok;			/* a record matched */
	int	 usage, selector, mtype;	/* of the matching record (-1) */
	size_t	 depth;			/* chain index of the matched cert;
					 * nchain: the anchor came from a
					 * "2 0 0" record */
	char	 why[256];		/* what matched, or the closest miss */
};

/*
 * Look up TLSA for mxhost (A-label, trailing dot optional) and port (0:
 * 25).  addr_dnssec is the DNSSEC status of the host's address records
 * (lib/mx: host->dnssec); addr_canon their CNAME-expanded name (NULL or
 * the host name itself: no CNAME).  dns may be NULL when addr_dnssec is
 * not SECURE (no query is made then).
 */
int	 mxk_dane_lookup(struct mxk_dns *, const char *mxhost, int port,
	    enum mxk_dnssec addr_dnssec, const char *addr_canon,
	    long long deadline, struct mxk_dane **out, struct mxk_err *);

/*
 * The TLSA base domains to try, in order (RFC 7672 §2.2.2): the expanded
 * name first when it differs and addr_dnssec is SECURE, then the host
 * name.  Names are lowercased without the trailing dot.  Returns how many
 * were written (0 when addr_dnssec is not SECURE: DANE does not apply),
 * or -1 for a name that is empty or too long.
 */
int	 mxk_dane_base_domains(const char *mxhost, enum mxk_dnssec addr_dnssec,
	    const char *addr_canon, char out[2][MXK_DNS_NAMEMAX]);

/*
 * Without DNS, for tests and fuzzing: the result for one TLSA answer,
 * asked at _PORT._tcp.base (base NULL: mxhost).  When addr_dnssec is not
 * SECURE the answer is not looked at (it may be NULL) and the state is
 * NA.  When the answer's qname is set it must be that TLSA name (USAGE
 * otherwise).
 */
int	 mxk_dane_from_answer(const char *mxhost, int port,
	    enum mxk_dnssec addr_dnssec, const struct mxk_dns_answer *tlsa,
	    const char *base, struct mxk_dane **out, struct mxk_err *);

void	 mxk_dane_free(struct mxk_dane *);

enum mxk_dane_state	 mxk_dane_state(const struct mxk_dane *);
const char		*mxk_dane_state_name(enum mxk_dane_state);
/* Why the state is what it is ("secure TLSA RRset, 2 usable"). */
const char		*mxk_dane_why(const struct mxk_dane *);
/* The TLSA base domain used ("" when none was asked); the SNI to send. */
const char		*mxk_dane_base(const struct mxk_dane *);
/* The TLSA query name used ("_25._tcp.mx.example"; "" when none). */
const char		*mxk_dane_qname(const struct mxk_dane *);
/* Usable records kept, and how many records of the RRset were not. */
size_t			 mxk_dane_nrecords(const struct mxk_dane *);
const struct mxk_tlsa	*mxk_dane_record(const struct mxk_dane *, size_t);
size_t			 mxk_dane_nunusable(const struct mxk_dane *);

/* Reference identifiers for DANE-TA name checks. */
size_t		 mxk_dane_nnames(const struct mxk_dane *);
const char	*mxk_dane_name(const struct mxk_dane *, size_t);
/* Add a name (A-label); a duplicate is ignored.  0, or -1 (USAGE/INTERNAL). */
int		 mxk_dane_add_name(struct mxk_dane *, const char *,
		    struct mxk_err *);

/*
 * Check a chain (der[0] the leaf, nchain >= 1) against the usable records;
 * now is Unix time for DANE-TA date checks.  res is always filled.
 */
int	 mxk_dane_verify(const struct mxk_dane *,
	    const unsigned char *const *der, const size_t *derlen,
	    size_t nchain, long long now, struct mxk_dane_result *res,
	    struct mxk_err *);

/*
 * Does a certificate name (SAN dNSName or CN) match a reference name?
 * ASCII case-insensitive, one trailing dot ignored, "*" only as the whole
 * leftmost label, matching one non-empty label, with two labels after it.
 */
int	 mxk_dane_match_name(const char *certname, size_t len,
	    const char *ref);

/*
 * TLSA association data for a certificate (DER): selector 0/1, mtype
 * 0/1/2.  *outlen is the room in out on entry, the length on return.
 * Returns 0, or -1 for a bad selector or mtype, a certificate whose SPKI
 * cannot be found, or too little room.
 */
int	 mxk_dane_tlsa_data(const unsigned char *der, size_t len, int selector,
	    int mtype, unsigned char *out, size_t *outlen);
/* The SubjectPublicKeyInfo of a DER certificate, in place: 0 or -1. */
int	 mxk_dane_spki(const unsigned char *der, size_t len,
	    const unsigned char **spki, size_t *spkilen);
/* Lowercase hex of data into buf (NUL-terminated); -1 if it does not fit. */
int	 mxk_dane_hex(const unsigned char *data, size_t len, char *buf,
	    size_t buflen);
/* "3 1 1 ab12..." into buf; -1 if it does not fit. */
int	 mxk_dane_tlsa_format(const struct mxk_tlsa *, char *buf,
	    size_t buflen);

#endif
