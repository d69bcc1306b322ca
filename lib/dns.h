/* ISC license. */

/*
 * dns: a stub resolver client with deadlines, DNSSEC status and parallel
 * queries.
 *
 * ldns builds the queries and parses the answers; the socket I/O is ours, so
 * that a batch of independent queries (the A and AAAA of every MX host of a
 * domain, say) is in flight at the same time and waited for under one
 * absolute CLOCK_MONOTONIC deadline (lib/clock.h).  ldns_resolver_send()
 * cannot do that: it handles one query at a time.
 *
 * Every query carries EDNS0 (UDP payload size 1232) with the DO bit, RD=1,
 * CD=0, a random 16-bit ID and a kernel-chosen source port on a fresh
 * connected socket.  An answer is accepted only when its ID, its question
 * (name compared case-insensitively, type, class) and its source address
 * match; other datagrams are dropped.  TC=1 makes the query go again over
 * TCP to the same server.  Each try waits timeout_ms; tries * nservers tries
 * are made in turn across the configured servers.
 *
 * Results: mxk_dns_resolve() fills q[i].ans for every query with an answer
 * it allocated (free each with mxk_dns_answer_free()).  A failure of one
 * query (SERVFAIL, timeout, NXDOMAIN) is a status in its answer, not an
 * error.  The function returns -1 (class MXK_ERR_TEMP, source MXK_SRC_DNS,
 * status 4.4.3) only when it could not work at all (no socket, no memory);
 * then every q[i].ans is NULL.
 *
 * Names handed out are lowercase text without the trailing dot; the root
 * name is ".".  Names from the DNS are hostile: a label octet outside
 * [A-Za-z0-9-_] is shown as '?' and the record is flagged unsafe (never use
 * an unsafe name as a host name).  TXT and TLSA data are raw bytes with a
 * length; the TXT copy is NUL-terminated for convenience but may itself
 * contain NULs and control characters.  Sizes are bounded by max_answer.
 *
 * Not thread-safe per handle; separate handles are independent.
 */
#ifndef MXK_DNS_H
#define MXK_DNS_H

#include <stddef.h>
#include <netinet/in.h>

#include "err.h"

/* Record types we parse (the DNS type numbers). */
#define MXK_DNS_A	1
#define MXK_DNS_NS	2
#define MXK_DNS_CNAME	5
#define MXK_DNS_PTR	12
#define MXK_DNS_MX	15
#define MXK_DNS_TXT	16
#define MXK_DNS_AAAA	28
#define MXK_DNS_TLSA	52

/* A name as text: 253 characters at most, plus room for "." and the NUL. */
#define MXK_DNS_NAMEMAX	256
/* Configured servers at most (glibc keeps 3). */
#define MXK_DNS_MAXNS	8

struct mxk_dns_params {
	/*
	 * NULL: read resolv_conf.  Otherwise a list of ADDR, ADDR:PORT,
	 * [V6ADDR]:PORT or V6ADDR separated by commas or blanks.
	 */
	const char	*resolver;
	const char	*resolv_conf;	/* NULL: /etc/resolv.conf */
	int		 timeout_ms;	/* per try; 0: resolv.conf, 2s */
	int		 tries;		/* 0: resolv.conf/2 */
	/*
	 * Whose AD bit is believed: -1 loopback servers only (auto),
	 * 0 never, 1 every server (see server_trusted() in dns.c).  Note
	 * that a zeroed struct means "never": set -1 for auto.
	 */
	int		 trust_ad;
	int		 cname_max;	/* CNAME hops followed; 0: 8 */
	size_t		 max_answer;	/* octets; 0: 65535 */
};

enum mxk_dns_status {
	MXK_DNS_OK = 0,		/* records of the asked type */
	MXK_DNS_NXDOMAIN,	/* the (final) name does not exist */
	MXK_DNS_NODATA,		/* the name exists, not the type */
	MXK_DNS_SERVFAIL,	/* server failure; bogus data looks so */
	MXK_DNS_REFUSED,	/* the server refused */
	/*
	 * Other rcode, malformed or truncated answer, CNAME loop or chain
	 * too long, unsafe CNAME target, invalid query name, no server
	 * reachable; why says which.
	 */
	MXK_DNS_ERROR,
	MXK_DNS_TIMEOUT,	/* no answer before the deadline */
	MXK_DNS__COUNT
};

enum mxk_dnssec {
	/* No usable answer, or AD=1 from a resolver we do not trust. */
	MXK_DNSSEC_INDETERMINATE = 0,
	/* AD=1 from a trusted resolver in every response used. */
	MXK_DNSSEC_SECURE,
	/* AD=0 (in the final response or on a CNAME hop). */
	MXK_DNSSEC_INSECURE,
	/* SERVFAIL: how a validating resolver reports bogus data. */
	MXK_DNSSEC_BOGUS,
	MXK_DNSSEC__COUNT
};

/*
 * One record.  Which members are set depends on type:
 *   MX            pref, name (exchange; null MX RFC 7505 is pref 0, ".")
 *   A, AAAA       a, aaaa
 *   TXT           data, len: the character-strings concatenated
 *   TLSA          usage, selector, mtype, data, len
 *   CNAME NS PTR  name
 *   other         data, len: the uncompressed RDATA
 * ttl follows RFC 2181 §8: a TTL with the top bit set counts as 0.
 * unsafe: name held octets outside [A-Za-z0-9-_], shown as '?'.
 */
struct mxk_dns_rr {
	int		 type;
	unsigned	 ttl;
	int		 unsafe;
	unsigned	 pref;
	char		 name[MXK_DNS_NAMEMAX];
	struct in_addr	 a;
	struct in6_addr	 aaaa;
	unsigned char	 usage, selector, mtype;
	unsigned char	*data;
	size_t		 len;
};

struct mxk_dns_name {
	char	 name[MXK_DNS_NAMEMAX];
};

/*
 * An answer.  rcode, ad, ad_trusted and tcp describe the last response;
 * dnssec covers every response used (a CNAME hop answered without AD makes
 * the whole answer insecure).
 *
 * canon is the final name after CNAMEs (qname when there were none); chain
 * lists the CNAME owners in order (qname first, then each intermediate
 * target), and chain_secure says every response holding a CNAME hop was
 * SECURE (1 when there were none).  DANE needs both for the TLSA base
 * domain (RFC 7672 §2.2.2).
 *
 * ttl is the smallest TTL of the records and CNAMEs used; for NXDOMAIN and
 * NODATA the negative TTL of RFC 2308 §5, min(SOA TTL, SOA MINIMUM), or 0
 * without an SOA.
 *
 * incomplete is set by mxk_dns_parse_answer() only: the chain stopped at
 * canon without records of the type and without an SOA; mxk_dns_resolve()
 * then asks again for canon.
 */
struct mxk_dns_answer {
	char			 qname[MXK_DNS_NAMEMAX];
	int			 qtype;
	enum mxk_dns_status	 status;
	enum mxk_dnssec		 dnssec;
	int			 rcode;		/* -1: no response */
	int			 ad;
	int			 ad_trusted;
	int			 cd;		/* we never set CD: 0 */
	int			 tc;		/* a response had TC=1 */
	int			 tcp;
	char			 canon[MXK_DNS_NAMEMAX];
	struct mxk_dns_name	*chain;
	size_t			 nchain;
	int			 chain_secure;
	int			 incomplete;
	struct mxk_dns_rr	*rr;		/* qtype, owned by canon */
	size_t			 nrr;
	unsigned		 ttl;
	long long		 elapsed_ms;	/* first send to end */
	int			 tries;		/* queries sent */
	char			 server[64];	/* "ADDR#PORT" */
	char			 why[128];	/* detail for failures */
};

/* A query in a batch: name and type in, ans out (allocated). */
struct mxk_dns_query {
	const char		*name;
	int			 type;
	struct mxk_dns_answer	*ans;
};

struct mxk_dns;

/* Read the configuration and set up a handle (no traffic yet). */
int	 mxk_dns_open(struct mxk_dns **, const struct mxk_dns_params *,
	    struct mxk_err *);
void	 mxk_dns_close(struct mxk_dns *);

/* The configured servers, for -v output: "ADDR#PORT", AD trusted or not. */
size_t	 mxk_dns_nservers(const struct mxk_dns *);
int	 mxk_dns_server(const struct mxk_dns *, size_t i, char *buf,
	    size_t len, int *trusted);

/*
 * Resolve n queries at once; return by the absolute deadline (lib/clock.h)
 * at the latest.  Queries not answered by then have status TIMEOUT.  On 0
 * every q[i].ans is set; on -1 none is.
 */
int	 mxk_dns_resolve(struct mxk_dns *, struct mxk_dns_query *q, size_t n,
	    long long deadline, struct mxk_err *);
/*
 * The same without waiting, for event loops.  mxk_dns_batch_start() sends
 * the first tries and returns 0 with *b set (or -1 as mxk_dns_resolve(),
 * *b NULL); q must stay in place until the batch is done or freed.
 * mxk_dns_batch_fds() gives the sockets to wait on (at most max; the
 * count is the return value; they change from one step to the next) and
 * *wake, the absolute time at which to step even without an event.
 * mxk_dns_batch_step() does what can be done now, never waiting: 0 while
 * queries are in flight, 1 when every q[i].ans is set (the caller owns
 * them), -1 on failure (no answers), as mxk_dns_resolve() would return.
 * mxk_dns_batch_free() abandons what is in flight (sockets closed,
 * unfinished answers freed); answers already handed out are the caller's.
 */
struct mxk_dns_batch;
struct pollfd;

int	 mxk_dns_batch_start(struct mxk_dns *, struct mxk_dns_query *q,
	    size_t n, long long deadline, struct mxk_dns_batch **,
	    struct mxk_err *);
size_t	 mxk_dns_batch_fds(const struct mxk_dns_batch *, struct pollfd *,
	    size_t max, long long *wake);
int	 mxk_dns_batch_step(struct mxk_dns_batch *, struct mxk_err *);
void	 mxk_dns_batch_free(struct mxk_dns_batch *);

/* One query: as mxk_dns_resolve() with n = 1. */
int	 mxk_dns_lookup(struct mxk_dns *, const char *name, int type,
	    struct mxk_dns_answer **, long long deadline, struct mxk_err *);

void	 mxk_dns_answer_free(struct mxk_dns_answer *);

/*
 * Parse one response (wire format) to a question, without sockets: for unit
 * tests and fuzzing.  p may be NULL (defaults); ad_trusted says whether the
 * AD bit is believed.  Returns 0 with *out allocated for any well-formed
 * response (whatever its rcode; TC=1 gives status ERROR with tc set), or -1
 * (class MXK_ERR_PROTO, source MXK_SRC_DNS, 4.4.3) when the response is
 * malformed, too large, or not an answer to this question.  The ID is not
 * checked here.
 */
int	 mxk_dns_parse_answer(const unsigned char *wire, size_t len,
	    const char *qname, int qtype, int ad_trusted,
	    const struct mxk_dns_params *p, struct mxk_dns_answer **out,
	    struct mxk_err *);

const char	*mxk_dns_status_name(enum mxk_dns_status);
const char	*mxk_dnssec_name(enum mxk_dnssec);
/* "A", "MX", ...; "TYPE" for types we do not name. */
const char	*mxk_dns_type_name(int type);

#endif
