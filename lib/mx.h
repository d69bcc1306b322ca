/* ISC license. */

/*
 * mx: the route plan of RFC 5321 §5.1 for one domain.
 *
 * mxk_mx_plan() looks up the MX RRset of an A-label domain, sorts the hosts
 * by preference (lowest first) and shuffles hosts of equal preference (the
 * RFC asks senders to spread load that way), then resolves the A and AAAA
 * records of every host in one parallel batch (lib/dns) and applies the
 * filters: address family, local addresses, ignored hosts and addresses.
 * The result is a plan: every host with its addresses and DNSSEC status,
 * every host or address that was skipped with its reason, and the flat
 * list of connect targets in order, ready for mxk_net_connect().
 *
 * Outcomes for the domain (plan->result):
 *   OK        at least one MX or implicit MX host; targets may still be
 *             empty when everything was filtered or failed to resolve;
 *   NXDOMAIN  the domain does not exist (RFC 5321 §5.1: permanent);
 *   NULLMX    "MX 0 ." (RFC 7505): the domain accepts no mail;
 *   TEMPFAIL  the MX lookup failed (SERVFAIL, bogus, timeout): retry later.
 * No MX records (NODATA) means the implicit MX: the domain itself, at
 * preference 0.
 *
 * Pre-resolved routes (struct mxk_mx_static) skip the MX lookup; hosts given
 * without addresses are resolved.  An address literal target skips DNS
 * entirely (mxk_mx_plan_literal()).
 *
 * The planning steps are exported too (mxk_mx_plan_hosts, _addrs, _finish)
 * so that unit tests and fuzzers can drive them with hand-made answers.
 * A plan is allocated; free it with mxk_mx_plan_free().
 */
#ifndef MXK_MX_H
#define MXK_MX_H

#include <sys/socket.h>
#include <stddef.h>

#include "dns.h"
#include "err.h"
#include "net.h"

#define MXK_MX_MAXHOSTS		32	/* MX hosts kept (RFC 5321 §5.1 lets a
					 * sender cap the list) */
#define MXK_MX_MAXADDRS		16	/* addresses kept per host and family */
#define MXK_MX_STATIC_ADDRS	8

enum mxk_mx_result {
	MXK_MX_OK = 0,
	MXK_MX_NXDOMAIN,
	MXK_MX_NULLMX,
	MXK_MX_TEMPFAIL,
	MXK_MX__COUNT
};

enum mxk_mx_skip {
	MXK_MX_USABLE = 0,
	MXK_MX_SKIP_NOADDR,	/* no A/AAAA records */
	MXK_MX_SKIP_LOOKUP,	/* address lookup failed (SERVFAIL, timeout) */
	MXK_MX_SKIP_FAMILY,	/* -4 / -6 */
	MXK_MX_SKIP_LOCAL,	/* --block-local */
	MXK_MX_SKIP_IGNORED,	/* --ignore-host */
	MXK_MX_SKIP_BADNAME,	/* MX target is not a usable host name */
	MXK_MX_SKIP_DUPLICATE,	/* same host or address listed before */
	MXK_MX_SKIP_LIMIT,	/* beyond MXK_MX_MAXHOSTS / MAXADDRS */
	MXK_MX_SKIP_POLICY,	/* excluded by an MTA-STS enforce policy */
	MXK_MX__SKIPCOUNT
};

struct mxk_mx_params {
	int		 port;		/* 0: 25 */
	int		 family;	/* AF_UNSPEC, AF_INET or AF_INET6 */
	int		 prefer_ipv6;	/* a host's IPv6 addresses first */
	int		 shuffle;	/* shuffle equal preferences */
	int		 block_local;	/* skip mxk_net_addr_is_local() */
	const char *const *ignore;	/* host names or IP literals */
	size_t		 nignore;
	long long	 dns_deadline;	/* for the lookups; 0: the caller's */
};

struct mxk_mx_static {
	char			 host[MXK_DNS_NAMEMAX];	/* A-label */
	unsigned		 pref;
	struct sockaddr_storage	 addr[MXK_MX_STATIC_ADDRS];
	socklen_t		 addrlen[MXK_MX_STATIC_ADDRS];
	size_t			 naddr;
};

struct mxk_mx_addr {
	struct sockaddr_storage	 sa;
	socklen_t		 salen;
	enum mxk_mx_skip	 skip;
	enum mxk_dnssec		 dnssec;
};

struct mxk_mx_host {
	char			 name[MXK_DNS_NAMEMAX];
	unsigned		 pref;
	int			 implicit;	/* the domain itself (no MX) */
	int			 is_static;	/* given with --mx */
	enum mxk_mx_skip	 skip;		/* whole host skipped */
	char			 why[160];	/* detail for skip */
	enum mxk_dnssec		 dnssec;	/* of its address records: SECURE
						 * only when every answer used
						 * was secure */
	struct mxk_mx_addr	 addr[2 * MXK_MX_MAXADDRS];
	size_t			 naddr;
};

struct mxk_mx_plan {
	char			 domain[MXK_DNS_NAMEMAX];
	enum mxk_mx_result	 result;
	enum mxk_dnssec		 mx_dnssec;	/* of the MX answer */
	int			 implicit;
	int			 from_static;
	int			 literal;
	char			 why[200];	/* detail for a failed result */
	struct mxk_mx_host	*host;
	size_t			 nhost;
	struct mxk_net_target	*target;	/* usable addresses, in order;
						 * udata points at the host */
	size_t			 ntarget;
	size_t			 nskipped;	/* hosts or addresses skipped */
	size_t			 nlookupfail;	/* hosts whose lookup failed */
	long long		 elapsed_ms;
};

/* Full plan with DNS.  Returns 0 with *out set (whatever plan->result), or
 * -1 when DNS could not work at all. */
int	 mxk_mx_plan(struct mxk_dns *, const char *domain,
	    const struct mxk_mx_params *, const struct mxk_mx_static *,
	    size_t nstatic, long long deadline, struct mxk_mx_plan **out,
	    struct mxk_err *);

/* A plan with one address and no DNS (address literal targets). */
int	 mxk_mx_plan_literal(const struct sockaddr *, socklen_t,
	    const char *literal, const struct mxk_mx_params *,
	    struct mxk_mx_plan **out, struct mxk_err *);

/* The same for the address literal of a parsed target (lib/addr:
 * is_literal set). */
struct mxk_addr;
int	 mxk_mx_plan_addr(const struct mxk_addr *, const struct mxk_mx_params *,
	    struct mxk_mx_plan **out, struct mxk_err *);

/* Step 1: a plan from the MX answer (NULL with static routes). */
int	 mxk_mx_plan_hosts(const char *domain, const struct mxk_dns_answer *mx,
	    const struct mxk_mx_static *, size_t nstatic,
	    const struct mxk_mx_params *, struct mxk_mx_plan **out,
	    struct mxk_err *);
/* Step 2: a host's address answers (either may be NULL: not asked). */
void	 mxk_mx_plan_addrs(struct mxk_mx_plan *, size_t host,
	    const struct mxk_dns_answer *a, const struct mxk_dns_answer *aaaa,
	    const struct mxk_mx_params *);
/* Step 3: filters and the target list. */
int	 mxk_mx_plan_finish(struct mxk_mx_plan *, const struct mxk_mx_params *,
	    struct mxk_err *);

void	 mxk_mx_plan_free(struct mxk_mx_plan *);

/* Parse "HOST[:PREF][=ADDR,...]" (HOST may be Unicode). 0 or -1 (USAGE). */
int	 mxk_mx_parse_static(const char *, struct mxk_mx_static *,
	    struct mxk_err *);

const char	*mxk_mx_result_name(enum mxk_mx_result);
const char	*mxk_mx_skip_name(enum mxk_mx_skip);

#endif
