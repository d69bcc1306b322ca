/* ISC license. */

/*
 * mtasts: SMTP MTA Strict Transport Security (RFC 8461) for senders and
 * monitors, and the TLS-RPT record (RFC 8460 §3).
 *
 * Pure parts (no I/O, no allocation unless said; for tests and fuzzing):
 *   mxk_mtasts_txt_parse()      one "_mta-sts" TXT record (RFC 8461 §3.1)
 *   mxk_mtasts_txt_select()     the records of a TXT answer: exactly one
 *                               must begin with "v=STSv1" (§3.1)
 *   mxk_mtasts_policy_parse()   the policy file (§3.2); allocates
 *   mxk_mtasts_mx_match()       one "mx" pattern against an MX host (§4.1)
 *   mxk_mtasts_tlsrpt_parse()   one "_smtp._tls" TXT record (RFC 8460 §3)
 *   mxk_mtasts_tlsrpt_select()  the records of its answer
 *   mxk_mtasts_decide()         the cache and refresh rules of §3.3, §5.1
 *                               and §10.2, from simulated outcomes
 *   mxk_mtasts_enforce()        may mail go to this MX under this policy
 *   mxk_mtasts_entry_format() / _entry_parse()   the cache file format
 * I/O parts:
 *   mxk_mtasts_cache_*()        one directory, one file per domain, atomic
 *                               replacement (mkstemp, write, fsync, rename,
 *                               fsync the directory)
 *   mxk_mtasts_fetch_run()      HTTPS GET of policies with libcurl's multi
 *                               interface, several at once
 *   mxk_mtasts_discover()       the whole §5.1 flow for a batch of domains:
 *                               TXT (and TLS-RPT, MX) lookups in parallel
 *                               through lib/dns, cache, fetches, decisions
 *
 * Errors: every function that can fail returns 0 or -1 with a struct
 * mxk_err.  A syntax error of a record or policy is MXK_ERR_DATA, source
 * MXK_SRC_POLICY, with a message that says what is wrong and, for
 * policies, on which line ("line 3: mode \"strict\" is not enforce,
 * testing or none").  Cache I/O errors are MXK_ERR_IO; a cache file that
 * does not parse is MXK_ERR_DATA (callers treat it as absent).  What
 * happens to one domain during discovery (no record, fetch failed, ...)
 * is a state in its result, never an error of the batch.
 *
 * Limits are parameters (struct mxk_mtasts_params; zeros give the
 * defaults below): the policy body size (64 KiB, the size RFC 8461 §3.3
 * suggests; the transfer is aborted beyond it), the number of "mx"
 * patterns kept, connect and total timeouts of each fetch, the number of
 * transfers at once.  Every network wait is also bounded by the caller's
 * absolute deadline (lib/clock.h).
 *
 * Names are A-labels in lowercase without a trailing dot (lib/addr gives
 * them so); functions that take a domain refuse anything else that could
 * be unsafe as a file name or URL part.
 *
 * Trust: policies are fetched over HTTPS with PKIX validation and the
 * name mta-sts.DOMAIN checked (RFC 8461 §3.3), from params.cafile when
 * given (libcurl reads neither SSL_CERT_FILE nor CURL_CA_BUNDLE by
 * itself; the tool passes one), else libcurl's built-in store.  DNS
 * answers are not required to be DNSSEC-secure (MTA-STS does not need
 * DNSSEC): an attacker who can forge or block DNS can hide a policy that
 * is not cached yet, which is why an unexpired cached policy is never
 * dropped because DNS said so (§10.2).
 *
 * Not thread-safe per object; curl_global_init() is called once by
 * mxk_mtasts_fetch_run() (and is not thread-safe itself).
 */
#ifndef MXK_MTASTS_H
#define MXK_MTASTS_H

#include <stddef.h>

#include "buf.h"
#include "dns.h"
#include "err.h"
#include "tls.h"

#define MXK_MTASTS_IDMAX	32		/* RFC 8461 §3.1 */
#define MXK_MTASTS_MAXAGE_MAX	31557600LL	/* RFC 8461 §3.2 */
#define MXK_MTASTS_BODYMAX	65536		/* default body limit */
#define MXK_MTASTS_MXMAX	64		/* default patterns kept */
#define MXK_MTASTS_RUAMAX	8		/* TLS-RPT URIs kept */
#define MXK_MTASTS_WHYMAX	256

/* Parameters; zero members take the defaults. */
struct mxk_mtasts_params {
	size_t		 max_body;	/* 0: MXK_MTASTS_BODYMAX */
	size_t		 max_mx;	/* 0: MXK_MTASTS_MXMAX */
	int		 connect_timeout_ms; /* per fetch; 0: 10000 */
	int		 fetch_timeout_ms; /* per fetch, all of it; 0: 60000
					 * (RFC 8461 §3.3 suggests a minute) */
	size_t		 parallel;	/* transfers at once; 0: 8 */
	const char	*cafile;	/* PEM trust anchors; NULL: libcurl's */
	const char	*user_agent;	/* NULL: "mxkit/" MXK_VERSION */
	int		 port;		/* HTTPS port; 0: 443 */
	int		 refresh;	/* refetch an unchanged policy whose
					 * remaining lifetime is short */
	int		 refresh_percent; /* "short": less than this percent
					 * of max_age left; 0: 50 */
	long long	 now;		/* Unix time; 0: time(NULL) */
	int		 want_tlsrpt;	/* discover: look up _smtp._tls too */
	int		 want_mx;	/* discover: look up the MX RRset too */
};

enum mxk_mtasts_mode {
	MXK_MTASTS_MODE_NONE = 0,
	MXK_MTASTS_MODE_TESTING,
	MXK_MTASTS_MODE_ENFORCE,
	MXK_MTASTS_MODE__COUNT
};

/*
 * The "_mta-sts" TXT record (RFC 8461 §3.1).
 */
enum mxk_mtasts_txt {
	MXK_MTASTS_TXT_FOUND = 0,	/* exactly one valid record: id set */
	MXK_MTASTS_TXT_ABSENT,		/* NXDOMAIN, NODATA, or no record
					 * begins with "v=STSv1" */
	MXK_MTASTS_TXT_MULTIPLE,	/* more than one does: no policy */
	MXK_MTASTS_TXT_INVALID,		/* one does, with a syntax error */
	MXK_MTASTS_TXT_TEMPFAIL,	/* SERVFAIL (bogus), timeout, ... */
	MXK_MTASTS_TXT__COUNT
};

struct mxk_mtasts_record {
	enum mxk_mtasts_txt	 state;
	char			 id[MXK_MTASTS_IDMAX + 1];
	char			 why[MXK_MTASTS_WHYMAX];
};

/* One record's text: 0 with id set (NUL-terminated), or -1 (DATA). */
int	 mxk_mtasts_txt_parse(const char *txt, size_t len,
	    char id[MXK_MTASTS_IDMAX + 1], struct mxk_err *);
/* Classify an answer to "_mta-sts.DOMAIN TXT" (NULL: no answer). */
void	 mxk_mtasts_txt_select(const struct mxk_dns_answer *,
	    struct mxk_mtasts_record *);
/* Look it up through lib/dns; -1 only when DNS could not work at all. */
int	 mxk_mtasts_txt_lookup(struct mxk_dns *, const char *domain,
	    long long deadline, struct mxk_mtasts_record *, struct mxk_err *);

/*
 * The policy (RFC 8461 §3.2), opaque.  Lines end in LF or CRLF; each is
 * "key: value" (the key case-sensitive, blanks after the colon and at the
 * end ignored).  "version: STSv1" must come first; "mode" (enforce,
 * testing or none) and "max_age" (0..31557600) once each; "mx" once or
 * more (it may be absent when the mode is none, §3.2), each an LDH host
 * name or "*." and one; unknown keys with a well-formed name are ignored.
 * Blank lines are skipped.  Control characters (other than a tab) and
 * non-ASCII octets are errors, except in the values of unknown keys.
 * More than max_mx patterns is an error.  The text is kept as given.
 */
struct mxk_mtasts_policy;

int	 mxk_mtasts_policy_parse(const char *text, size_t len, size_t max_mx,
	    struct mxk_mtasts_policy **, struct mxk_err *);
void	 mxk_mtasts_policy_free(struct mxk_mtasts_policy *);
enum mxk_mtasts_mode mxk_mtasts_policy_mode(const struct mxk_mtasts_policy *);
long long mxk_mtasts_policy_max_age(const struct mxk_mtasts_policy *);
size_t	 mxk_mtasts_policy_nmx(const struct mxk_mtasts_policy *);
const char *mxk_mtasts_policy_mx(const struct mxk_mtasts_policy *, size_t);
const char *mxk_mtasts_policy_text(const struct mxk_mtasts_policy *,
	    size_t *len);
/* 1 when the two policies have the same text. */
int	 mxk_mtasts_policy_same(const struct mxk_mtasts_policy *,
	    const struct mxk_mtasts_policy *);
/* 1 when some pattern of the policy matches host. */
int	 mxk_mtasts_policy_match(const struct mxk_mtasts_policy *,
	    const char *host);

/*
 * One "mx" pattern against a host name (RFC 8461 §4.1): ASCII
 * case-insensitive, one trailing dot on either side ignored; "*.example.com"
 * matches exactly one non-empty leftmost label ("a.example.com", not
 * "example.com" nor "a.b.example.com").  A host containing '*' never
 * matches.  1 match, 0 not.
 */
int	 mxk_mtasts_mx_match(const char *pattern, const char *host);

/*
 * The TLS-RPT record "_smtp._tls.DOMAIN" (RFC 8460 §3):
 * "v=TLSRPTv1; rua=URI[,URI...]" with URIs mailto: (with an address) or
 * https: (with a host); other fields with well-formed names are ignored.
 */
enum mxk_mtasts_tlsrpt {
	MXK_MTASTS_TLSRPT_ABSENT = 0,
	MXK_MTASTS_TLSRPT_VALID,
	MXK_MTASTS_TLSRPT_INVALID,	/* syntax, or several records */
	MXK_MTASTS_TLSRPT_TEMPFAIL,	/* the lookup failed */
	MXK_MTASTS_TLSRPT__COUNT
};

struct mxk_mtasts_tlsrpt_record {
	enum mxk_mtasts_tlsrpt	 state;
	size_t			 nrua;
	char			 rua[MXK_MTASTS_RUAMAX][256];
	char			 why[MXK_MTASTS_WHYMAX];
};

int	 mxk_mtasts_tlsrpt_parse(const char *txt, size_t len,
	    struct mxk_mtasts_tlsrpt_record *, struct mxk_err *);
void	 mxk_mtasts_tlsrpt_select(const struct mxk_dns_answer *,
	    struct mxk_mtasts_tlsrpt_record *);

/*
 * Enforcement for a sending tool (RFC 8461 §4, §5).  Call before
 * connecting (tls UNKNOWN: is this MX a candidate at all?) and after the
 * STARTTLS handshake (tls DONE with the PKIX verdict for the MX host name,
 * lib/tls mxk_tls_verify_pkix(); or NONE when no TLS was made):
 *   no policy or mode none   allowed;
 *   testing                  allowed; report set when the MX matches no
 *                            pattern or TLS is not VERIFIED (TLS-RPT);
 *   enforce                  allowed only when the MX matches a pattern
 *                            and (once known) TLS is VERIFIED; report set
 *                            whenever not allowed.
 */
enum mxk_mtasts_tls {
	MXK_MTASTS_TLS_UNKNOWN = 0,	/* not connected yet */
	MXK_MTASTS_TLS_NONE,		/* no TLS session */
	MXK_MTASTS_TLS_DONE		/* a session; trust says how good */
};

struct mxk_mtasts_verdict {
	int	 allowed;
	int	 matched;	/* the MX matches a pattern */
	int	 report;	/* a failure for TLS-RPT */
	char	 why[MXK_MTASTS_WHYMAX];
};

void	 mxk_mtasts_enforce(const struct mxk_mtasts_policy *,
	    const char *mxhost, enum mxk_mtasts_tls, enum mxk_tls_trust,
	    struct mxk_mtasts_verdict *);

/*
 * A cached policy.  fetched and expires are Unix times; expires is
 * fetched + max_age.  policy is owned (mxk_mtasts_entry_clear() frees it).
 */
struct mxk_mtasts_entry {
	char			 domain[MXK_DNS_NAMEMAX];
	char			 id[MXK_MTASTS_IDMAX + 1];
	long long		 fetched;
	long long		 expires;
	struct mxk_mtasts_policy *policy;
};

void	 mxk_mtasts_entry_clear(struct mxk_mtasts_entry *);

/*
 * The file: a header of "key: value" lines ("mxkit-mta-sts 1" first,
 * then domain, id, fetched, expires, length), a blank line, and exactly
 * length octets of policy text.  Parsing checks every line, the length
 * and the policy; max_mx as for mxk_mtasts_policy_parse().
 */
int	 mxk_mtasts_entry_format(const struct mxk_mtasts_entry *,
	    struct mxk_buf *, struct mxk_err *);
int	 mxk_mtasts_entry_parse(const char *, size_t, size_t max_mx,
	    struct mxk_mtasts_entry *, struct mxk_err *);

/*
 * The cache directory.  open: with MXK_MTASTS_CACHE_CREATE, missing
 * directories are made (mode 0700).  The directory must belong to us and
 * not be writable by group or others: whoever can write it can replace a
 * policy with one of mode none (CONFIG error otherwise).  get: 1 with the
 * entry filled, 0 when there is none, -1 when it cannot be read or does
 * not parse (the caller goes on as if there were none).  put: atomic
 * replacement; a concurrent reader sees the old file or the new one,
 * never a mix, and concurrent writers leave one of their files whole.
 * The file name is the domain (checked: LDH labels only).  With CREATE
 * (a writer), temporary files a killed writer left (".DOMAIN.XXXXXX",
 * older than an hour) are removed.
 */
struct mxk_mtasts_cache;

#define MXK_MTASTS_CACHE_CREATE	0x01

int	 mxk_mtasts_cache_open(const char *dir, int flags,
	    struct mxk_mtasts_cache **, struct mxk_err *);
void	 mxk_mtasts_cache_close(struct mxk_mtasts_cache *);
const char *mxk_mtasts_cache_dir(const struct mxk_mtasts_cache *);
/*
 * The default directory every tool shares: $MXKIT_MTA_STS_CACHE when it
 * is an absolute path, else /var/cache/mxkit/mta-sts for root (the system's MTA), else $XDG_CACHE_HOME/mxkit/mta-sts, else
 * $HOME/.cache/mxkit/mta-sts.  -1 when none can be named.
 */
int	 mxk_mtasts_cache_default(char *buf, size_t len);
int	 mxk_mtasts_cache_get(struct mxk_mtasts_cache *, const char *domain,
	    size_t max_mx, size_t max_body, struct mxk_mtasts_entry *,
	    struct mxk_err *);
int	 mxk_mtasts_cache_put(struct mxk_mtasts_cache *,
	    const struct mxk_mtasts_entry *, struct mxk_err *);

/*
 * The decision (pure).  Called twice for a domain: first with fetch
 * NOTDONE, which says whether to fetch; then, when it said so, with the
 * fetch outcome.  The rules:
 *   - an unexpired cached policy whose id equals the TXT id is used as it
 *     is, without a fetch (§3.1: the id tells whether the policy
 *     changed), unless params.refresh asks to refetch it because little
 *     of its lifetime is left;
 *   - a TXT id that differs from the cached one, an expired cache or no
 *     cache make a fetch;
 *   - when the fetch fails or gives an invalid policy, an unexpired
 *     cached policy stays in force (§3.3, §5.1);
 *   - when the TXT record is absent, invalid, multiple or its lookup
 *     fails, an unexpired cached policy stays in force (§3.1 note, §5.1,
 *     §10.2: an attacker who blocks or forges DNS must not turn a known
 *     policy off); without one there is no policy;
 *   - an expired cached policy is never used (§5.1).
 * status is what a monitor reports: OK, CHANGED (a policy replaced a
 * cached one of another id or text), NONE (no policy, nothing wrong),
 * INVALID (the record or the fetched policy is invalid, whether or not a
 * cached policy is kept), UNREACHABLE (a temporary failure and no cached
 * policy to fall back on).  warn is set when a cached policy was kept
 * because something failed.
 */
enum mxk_mtasts_fetchst {
	MXK_MTASTS_FETCH_NOTDONE = 0,
	MXK_MTASTS_FETCH_OK,		/* 200, text/plain, parsed */
	MXK_MTASTS_FETCH_INVALID,	/* HTTP status, type, size, syntax,
					 * certificate, no policy host */
	MXK_MTASTS_FETCH_TEMPFAIL,	/* connect, timeout, TLS handshake,
					 * DNS failure */
	MXK_MTASTS_FETCH__COUNT
};

enum mxk_mtasts_status {
	MXK_MTASTS_OK = 0,
	MXK_MTASTS_CHANGED,
	MXK_MTASTS_NONE,
	MXK_MTASTS_INVALID,
	MXK_MTASTS_UNREACHABLE,
	MXK_MTASTS_STATUS__COUNT
};

struct mxk_mtasts_state {
	enum mxk_mtasts_txt	 txt;
	const char		*txt_id;	/* with FOUND */
	int			 have_cache;
	const char		*cache_id;
	long long		 cache_fetched;
	long long		 cache_expires;
	long long		 now;
	int			 refresh;
	int			 refresh_percent; /* 0: 50 */
	enum mxk_mtasts_fetchst	 fetch;
	int			 fetched_same;	/* the fetched text equals the
						 * cached text */
};

struct mxk_mtasts_decision {
	int			 fetch;		/* fetch now */
	int			 use_cache;	/* the cached policy is in force */
	int			 use_fetched;	/* the fetched one is: store it */
	int			 cache_valid;	/* a cached policy, unexpired */
	enum mxk_mtasts_status	 status;
	int			 warn;
	const char		*why;		/* static text */
};

void	 mxk_mtasts_decide(const struct mxk_mtasts_state *,
	    struct mxk_mtasts_decision *);

/*
 * Fetching.  For each f[i], GET https://mta-sts.DOMAIN[:port]/.well-known/
 * mta-sts.txt with at most params.parallel transfers at once: no
 * redirects (a 3xx is a failure, §3.3), only 200, Content-Type text/plain
 * (parameters allowed), the body bounded by max_body, no proxy unless the
 * environment names one for libcurl.  With addrs set (a comma-separated
 * list of addresses the caller resolved through lib/dns), libcurl is told
 * to use them (CURLOPT_RESOLVE) and does no DNS of its own; the
 * certificate is still checked for the host name.  0 with every f[i]
 * filled (state OK: body holds the policy text, not parsed yet; else
 * why); -1 only when libcurl cannot be set up.
 */
struct mxk_mtasts_fetch {
	const char		*domain;	/* in */
	const char		*addrs;		/* in; NULL: libcurl resolves */
	enum mxk_mtasts_fetchst	 state;		/* out */
	long			 http_code;
	char			 content_type[128];
	struct mxk_buf		 body;
	char			 why[MXK_MTASTS_WHYMAX];
	long long		 elapsed_ms;
};

int	 mxk_mtasts_fetch_run(struct mxk_mtasts_fetch *, size_t n,
	    const struct mxk_mtasts_params *, long long deadline,
	    struct mxk_err *);
void	 mxk_mtasts_fetch_free(struct mxk_mtasts_fetch *, size_t n);

/*
 * Discovery of the policies in force for n domains (RFC 8461 §5.1), all
 * at once: one parallel DNS batch for the TXT records (and _smtp._tls and
 * MX when asked), the cache (NULL: none), the decisions, one batch for
 * the addresses of the policy hosts to fetch, the fetches, the parsing,
 * the decisions again, and the cache writes.  0 with every res[i] filled;
 * -1 only when DNS or libcurl could not work at all.
 */
struct mxk_mtasts_result {
	char				 domain[MXK_DNS_NAMEMAX];
	struct mxk_mtasts_record	 txt;
	int				 had_cache;	/* a cache entry */
	char				 cache_id[MXK_MTASTS_IDMAX + 1];
	long long			 cache_expires;
	int				 cache_error;	/* unreadable entry */
	enum mxk_mtasts_fetchst		 fetch;
	long				 http_code;
	char				 fetch_why[MXK_MTASTS_WHYMAX];
	struct mxk_mtasts_decision	 dec;
	enum mxk_mtasts_status		 status;	/* = dec.status */
	char				 reason[2 * MXK_MTASTS_WHYMAX];
	struct mxk_mtasts_entry		 eff;		/* policy in force;
							 * eff.policy NULL:
							 * none */
	int				 from_cache;
	int				 stored;	/* written to the cache */
	char				 store_why[MXK_MTASTS_WHYMAX];
	struct mxk_mtasts_tlsrpt_record	 tlsrpt;	/* want_tlsrpt */
	struct mxk_dns_answer		*mx;		/* want_mx; owned */
};

int	 mxk_mtasts_discover(struct mxk_dns *, struct mxk_mtasts_cache *,
	    const struct mxk_mtasts_params *, const char *const *domains,
	    size_t n, long long deadline, struct mxk_mtasts_result *,
	    struct mxk_err *);
void	 mxk_mtasts_result_clear(struct mxk_mtasts_result *);

const char	*mxk_mtasts_mode_name(enum mxk_mtasts_mode);
const char	*mxk_mtasts_txt_name(enum mxk_mtasts_txt);
const char	*mxk_mtasts_tlsrpt_name(enum mxk_mtasts_tlsrpt);
const char	*mxk_mtasts_fetch_name(enum mxk_mtasts_fetchst);
/* "ok", "changed", "none", "invalid", "unreachable". */
const char	*mxk_mtasts_status_name(enum mxk_mtasts_status);

#endif
