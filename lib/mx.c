/* ISC license. */

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "clock.h"
#include "dns.h"
#include "log.h"
#include "addr.h"
#include "mx.h"
#include "net.h"

static const char *const result_names[MXK_MX__COUNT] = {
	[MXK_MX_OK] = "ok",
	[MXK_MX_NXDOMAIN] = "nxdomain",
	[MXK_MX_NULLMX] = "nullmx",
	[MXK_MX_TEMPFAIL] = "tempfail",
};

static const char *const skip_names[MXK_MX__SKIPCOUNT] = {
	[MXK_MX_USABLE] = "usable",
	[MXK_MX_SKIP_NOADDR] = "no address records",
	[MXK_MX_SKIP_LOOKUP] = "address lookup failed",
	[MXK_MX_SKIP_FAMILY] = "address family disabled",
	[MXK_MX_SKIP_LOCAL] = "local address blocked",
	[MXK_MX_SKIP_IGNORED] = "ignored",
	[MXK_MX_SKIP_BADNAME] = "invalid host name",
	[MXK_MX_SKIP_DUPLICATE] = "duplicate",
	[MXK_MX_SKIP_LIMIT] = "over the limit",
	[MXK_MX_SKIP_POLICY] = "excluded by the MTA-STS policy",
};

const char *
mxk_mx_result_name(enum mxk_mx_result r)
{
	if ((int)r < 0 || r >= MXK_MX__COUNT)
		return "?";
	return result_names[r];
}

const char *
mxk_mx_skip_name(enum mxk_mx_skip s)
{
	if ((int)s < 0 || s >= MXK_MX__SKIPCOUNT)
		return "?";
	return skip_names[s];
}

static int
port_of(const struct mxk_mx_params *p)
{
	return p != NULL && p->port > 0 ? p->port : 25;
}

/* MX records by preference; equal ones in answer order (stable). */
static int
cmp_rr_pref(const void *a, const void *b)
{
	const struct mxk_dns_rr *x = *(const struct mxk_dns_rr *const *)a;
	const struct mxk_dns_rr *y = *(const struct mxk_dns_rr *const *)b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x < y ? -1 : x > y;
}

static struct mxk_mx_plan *
plan_new(const char *domain, size_t nhost, struct mxk_err *e)
{
	struct mxk_mx_plan	*pl;

	if ((pl = calloc(1, sizeof(*pl))) == NULL ||
	    (nhost > 0 && (pl->host = calloc(nhost, sizeof(*pl->host))) ==
	    NULL)) {
		free(pl);
		(void)mxk_err_sys(e, MXK_ERR_INTERNAL, "route plan");
		return NULL;
	}
	(void)snprintf(pl->domain, sizeof(pl->domain), "%s", domain);
	pl->mx_dnssec = MXK_DNSSEC_INDETERMINATE;
	return pl;
}

void
mxk_mx_plan_free(struct mxk_mx_plan *pl)
{
	if (pl == NULL)
		return;
	free(pl->host);
	free(pl->target);
	free(pl);
}

/* A uniformly distributed index below n (n > 0). */
static size_t
random_below(size_t n)
{
	unsigned int	r, lim;

	lim = (unsigned int)(-(unsigned int)n % (unsigned int)n);
	for (;;) {
		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r = (unsigned int)mxk_now_ms() * 2654435761u;
		if (r >= lim)
			return r % n;
	}
}

static int
host_cmp(const void *a, const void *b)
{
	const struct mxk_mx_host *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return 0;
}

/*
 * RFC 5321 §5.1: MX records are tried lowest preference first; among equal
 * preferences the sender SHOULD pick at random to spread the load.  qsort is
 * not stable, so the order within a group is only fixed by the shuffle (or,
 * without it, by a stable insertion sort below).
 */
static void
sort_hosts(struct mxk_mx_plan *pl, int shuffle)
{
	size_t			i, j, k;
	struct mxk_mx_host	tmp;

	/* Insertion sort: stable, and n is small (MXK_MX_MAXHOSTS). */
	for (i = 1; i < pl->nhost; i++) {
		for (j = i; j > 0 && host_cmp(&pl->host[j - 1],
		    &pl->host[j]) > 0; j--) {
			tmp = pl->host[j];
			pl->host[j] = pl->host[j - 1];
			pl->host[j - 1] = tmp;
		}
	}
	if (!shuffle)
		return;
	for (i = 0; i < pl->nhost; i = j) {
		for (j = i + 1; j < pl->nhost &&
		    pl->host[j].pref == pl->host[i].pref; j++)
			;
		/* Fisher-Yates on [i, j). */
		for (k = j - 1; k > i; k--) {
			size_t r = i + random_below(k - i + 1);
			if (r != k) {
				tmp = pl->host[k];
				pl->host[k] = pl->host[r];
				pl->host[r] = tmp;
			}
		}
	}
}

static int
host_ignored(const char *name, const struct mxk_mx_params *p)
{
	size_t	i, n;

	if (p == NULL)
		return 0;
	for (i = 0; i < p->nignore; i++) {
		n = strlen(p->ignore[i]);
		if (n > 0 && p->ignore[i][n - 1] == '.')
			n--;
		if (strlen(name) == n && strncasecmp(name, p->ignore[i], n) == 0)
			return 1;
	}
	return 0;
}

static int
sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return 0;
}

static int
addr_ignored(const struct sockaddr_storage *ss, const struct mxk_mx_params *p)
{
	struct sockaddr_storage	 other;
	size_t			 i;

	if (p == NULL)
		return 0;
	for (i = 0; i < p->nignore; i++) {
		memset(&other, 0, sizeof(other));
		if (inet_pton(AF_INET, p->ignore[i],
		    &((struct sockaddr_in *)&other)->sin_addr) == 1)
			other.ss_family = AF_INET;
		else if (inet_pton(AF_INET6, p->ignore[i],
		    &((struct sockaddr_in6 *)&other)->sin6_addr) == 1)
			other.ss_family = AF_INET6;
		else
			continue;
		if (sa_equal(ss, &other))
			return 1;
	}
	return 0;
}

static void
host_set(struct mxk_mx_host *h, const char *name, unsigned pref)
{
	(void)snprintf(h->name, sizeof(h->name), "%s", name);
	h->pref = pref;
	h->dnssec = MXK_DNSSEC_INDETERMINATE;
}

int
mxk_mx_plan_hosts(const char *domain, const struct mxk_dns_answer *mx,
    const struct mxk_mx_static *st, size_t nstatic,
    const struct mxk_mx_params *p, struct mxk_mx_plan **out,
    struct mxk_err *e)
{
	struct mxk_mx_plan	*pl;
	const struct mxk_dns_rr	**order;
	size_t			 i, j, n, nord = 0;
	int			 nullmx = 0;

	*out = NULL;
	n = st != NULL && nstatic > 0 ? nstatic :
	    (mx != NULL && mx->nrr > 0 ? mx->nrr : 1);
	if ((pl = plan_new(domain, n, e)) == NULL)
		return -1;

	if (st != NULL && nstatic > 0) {
		pl->from_static = 1;
		for (i = 0; i < nstatic; i++) {
			struct mxk_mx_host *h = &pl->host[pl->nhost++];

			host_set(h, st[i].host, st[i].pref);
			h->is_static = 1;
			for (j = 0; j < st[i].naddr &&
			    h->naddr < sizeof(h->addr) / sizeof(h->addr[0]); j++) {
				struct mxk_mx_addr *a = &h->addr[h->naddr++];

				a->sa = st[i].addr[j];
				a->salen = st[i].addrlen[j];
				a->dnssec = MXK_DNSSEC_INDETERMINATE;
			}
		}
		sort_hosts(pl, p != NULL && p->shuffle);
		*out = pl;
		return 0;
	}

	if (mx == NULL) {
		mxk_mx_plan_free(pl);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "route plan: no MX answer");
	}
	pl->mx_dnssec = mx->dnssec;
	switch (mx->status) {
	case MXK_DNS_OK:
		break;
	case MXK_DNS_NXDOMAIN:
		/* RFC 5321 §5.1: a name that does not exist is an error. */
		pl->result = MXK_MX_NXDOMAIN;
		(void)snprintf(pl->why, sizeof(pl->why),
		    "%s: no such domain (NXDOMAIN)", domain);
		*out = pl;
		return 0;
	case MXK_DNS_NODATA:
		/*
		 * RFC 5321 §5.1: without MX records the domain itself is the
		 * implicit MX, at preference 0.
		 */
		pl->implicit = 1;
		host_set(&pl->host[0], mx->canon[0] != '\0' ? mx->canon :
		    domain, 0);
		pl->host[0].implicit = 1;
		pl->nhost = 1;
		*out = pl;
		return 0;
	default:
		pl->result = MXK_MX_TEMPFAIL;
		(void)snprintf(pl->why, sizeof(pl->why),
		    "%s: MX lookup failed: %s%s%s", domain,
		    mx->status == MXK_DNS_SERVFAIL ?
		    "SERVFAIL (DNSSEC bogus or server failure)" :
		    mxk_dns_status_name(mx->status),
		    mx->why[0] != '\0' ? ": " : "", mx->why);
		*out = pl;
		return 0;
	}

	/*
	 * In preference order, so that the MXK_MX_MAXHOSTS kept are the
	 * most preferred, whatever order the answer came in.
	 */
	if ((order = calloc(mx->nrr > 0 ? mx->nrr : 1,
	    sizeof(*order))) == NULL) {
		mxk_mx_plan_free(pl);
		return mxk_err_sys(e, MXK_ERR_INTERNAL, "route plan");
	}
	for (i = 0; i < mx->nrr; i++)
		if (mx->rr[i].type == MXK_DNS_MX)
			order[nord++] = &mx->rr[i];
	qsort(order, nord, sizeof(*order), cmp_rr_pref);
	for (i = 0; i < nord; i++) {
		const struct mxk_dns_rr *rr = order[i];
		struct mxk_mx_host	*h;

		if (strcmp(rr->name, ".") == 0 || rr->name[0] == '\0') {
			/*
			 * RFC 7505 §3: a null MX is the single record
			 * "0 .".  Mixed with other records it is not a
			 * valid host and is skipped (§4.3 says such
			 * domains are misconfigured).
			 */
			if (mx->nrr == 1) {
				nullmx = 1;
				break;
			}
			h = &pl->host[pl->nhost++];
			host_set(h, ".", rr->pref);
			h->skip = MXK_MX_SKIP_BADNAME;
			(void)snprintf(h->why, sizeof(h->why),
			    "null MX mixed with other MX records");
			continue;
		}
		if (pl->nhost >= MXK_MX_MAXHOSTS) {
			mxk_log(MXK_LOG_INFO, "%s: %zu MX records beyond the "
			    "%d most preferred left out", domain, nord - i,
			    MXK_MX_MAXHOSTS);
			break;
		}
		h = &pl->host[pl->nhost++];
		host_set(h, rr->name, rr->pref);
		if (rr->unsafe ||
		    mxk_addr_check_host(rr->name, strlen(rr->name), NULL) == -1) {
			h->skip = MXK_MX_SKIP_BADNAME;
			(void)snprintf(h->why, sizeof(h->why),
			    "MX target is not a host name");
			continue;
		}
		for (j = 0; j + 1 < pl->nhost; j++)
			if (strcasecmp(pl->host[j].name, h->name) == 0)
				break;
		if (j + 1 < pl->nhost) {
			/* Keep the lowest preference of a repeated host. */
			if (h->pref < pl->host[j].pref)
				pl->host[j].pref = h->pref;
			pl->nhost--;
			continue;
		}
		if (host_ignored(h->name, p)) {
			h->skip = MXK_MX_SKIP_IGNORED;
			(void)snprintf(h->why, sizeof(h->why),
			    "host ignored (--ignore-host)");
		}
	}
	free(order);
	if (nullmx) {
		pl->result = MXK_MX_NULLMX;
		pl->nhost = 0;
		(void)snprintf(pl->why, sizeof(pl->why),
		    "%s: domain accepts no mail (null MX, RFC 7505)", domain);
		*out = pl;
		return 0;
	}
	if (pl->nhost == 0) {
		/* Records of another type only: treat as no MX. */
		pl->implicit = 1;
		host_set(&pl->host[0], domain, 0);
		pl->host[0].implicit = 1;
		pl->nhost = 1;
	}
	sort_hosts(pl, p != NULL && p->shuffle);
	*out = pl;
	return 0;
}

static enum mxk_dnssec
combine(enum mxk_dnssec a, enum mxk_dnssec b, int first)
{
	if (first)
		return b;
	if (a == MXK_DNSSEC_SECURE && b == MXK_DNSSEC_SECURE)
		return MXK_DNSSEC_SECURE;
	if (a == MXK_DNSSEC_BOGUS || b == MXK_DNSSEC_BOGUS)
		return MXK_DNSSEC_BOGUS;
	if (a == MXK_DNSSEC_INDETERMINATE || b == MXK_DNSSEC_INDETERMINATE)
		return MXK_DNSSEC_INDETERMINATE;
	return MXK_DNSSEC_INSECURE;
}

static void
add_answer(struct mxk_mx_host *h, const struct mxk_dns_answer *ans,
    int port, int *used)
{
	size_t	i, kept = 0;

	if (ans == NULL || ans->status != MXK_DNS_OK)
		return;
	h->dnssec = combine(h->dnssec, ans->dnssec, *used == 0);
	(*used)++;
	for (i = 0; i < ans->nrr; i++) {
		const struct mxk_dns_rr	*rr = &ans->rr[i];
		struct mxk_mx_addr	*a;

		if (rr->type != MXK_DNS_A && rr->type != MXK_DNS_AAAA)
			continue;
		if (kept++ >= MXK_MX_MAXADDRS ||
		    h->naddr >= sizeof(h->addr) / sizeof(h->addr[0]))
			break;
		a = &h->addr[h->naddr++];
		memset(a, 0, sizeof(*a));
		a->dnssec = ans->dnssec;
		if (rr->type == MXK_DNS_A) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;

			sin->sin_family = AF_INET;
			sin->sin_port = htons((unsigned short)port);
			sin->sin_addr = rr->a;
			a->salen = sizeof(*sin);
		} else {
			struct sockaddr_in6 *sin6 =
			    (struct sockaddr_in6 *)&a->sa;

			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((unsigned short)port);
			sin6->sin6_addr = rr->aaaa;
			a->salen = sizeof(*sin6);
		}
	}
}

static int
answer_failed(const struct mxk_dns_answer *ans)
{
	return ans != NULL && ans->status != MXK_DNS_OK &&
	    ans->status != MXK_DNS_NODATA && ans->status != MXK_DNS_NXDOMAIN;
}

void
mxk_mx_plan_addrs(struct mxk_mx_plan *pl, size_t hi,
    const struct mxk_dns_answer *a, const struct mxk_dns_answer *aaaa,
    const struct mxk_mx_params *p)
{
	struct mxk_mx_host	*h;
	int			 used = 0, port = port_of(p);

	if (hi >= pl->nhost)
		return;
	h = &pl->host[hi];
	if (h->skip != MXK_MX_USABLE)
		return;
	if (p != NULL && p->prefer_ipv6) {
		add_answer(h, aaaa, port, &used);
		add_answer(h, a, port, &used);
	} else {
		add_answer(h, a, port, &used);
		add_answer(h, aaaa, port, &used);
	}
	if (h->naddr > 0)
		return;
	if (answer_failed(a) || answer_failed(aaaa)) {
		const struct mxk_dns_answer *f = answer_failed(a) ? a : aaaa;

		h->skip = MXK_MX_SKIP_LOOKUP;
		h->dnssec = f->status == MXK_DNS_SERVFAIL ? MXK_DNSSEC_BOGUS :
		    MXK_DNSSEC_INDETERMINATE;
		(void)snprintf(h->why, sizeof(h->why), "%s lookup: %s%s%s",
		    mxk_dns_type_name(f->qtype), mxk_dns_status_name(f->status),
		    f->why[0] != '\0' ? ": " : "", f->why);
		pl->nlookupfail++;
	} else {
		h->skip = MXK_MX_SKIP_NOADDR;
		(void)snprintf(h->why, sizeof(h->why), "no %s records",
		    p != NULL && p->family == AF_INET ? "A" :
		    p != NULL && p->family == AF_INET6 ? "AAAA" : "A or AAAA");
	}
}

int
mxk_mx_plan_finish(struct mxk_mx_plan *pl, const struct mxk_mx_params *p,
    struct mxk_err *e)
{
	size_t	 i, j, k, n = 0;
	int	 port = port_of(p);

	free(pl->target);
	pl->target = NULL;
	pl->ntarget = 0;
	pl->nskipped = 0;
	for (i = 0; i < pl->nhost; i++)
		n += pl->host[i].naddr;
	if (n > 0 && (pl->target = calloc(n, sizeof(*pl->target))) == NULL)
		return mxk_err_sys(e, MXK_ERR_INTERNAL, "route plan");

	for (i = 0; i < pl->nhost; i++) {
		struct mxk_mx_host *h = &pl->host[i];

		if (h->skip == MXK_MX_USABLE && h->naddr == 0) {
			h->skip = MXK_MX_SKIP_NOADDR;
			(void)snprintf(h->why, sizeof(h->why),
			    "no address records");
		}
		if (h->skip != MXK_MX_USABLE) {
			pl->nskipped++;
			continue;
		}
		for (j = 0; j < h->naddr; j++) {
			struct mxk_mx_addr	*a = &h->addr[j];
			struct mxk_net_target	*t;

			if (a->sa.ss_family == AF_INET)
				((struct sockaddr_in *)&a->sa)->sin_port =
				    htons((unsigned short)port);
			else if (a->sa.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&a->sa)->sin6_port =
				    htons((unsigned short)port);
			if (p != NULL && p->family != AF_UNSPEC &&
			    a->sa.ss_family != p->family)
				a->skip = MXK_MX_SKIP_FAMILY;
			else if (addr_ignored(&a->sa, p))
				a->skip = MXK_MX_SKIP_IGNORED;
			else if (p != NULL && p->block_local &&
			    mxk_net_addr_is_local((struct sockaddr *)&a->sa))
				a->skip = MXK_MX_SKIP_LOCAL;
			else {
				/* The same address under two hosts is
				 * tried once, under the first. */
				for (k = 0; k < pl->ntarget; k++)
					if (sa_equal(&pl->target[k].addr,
					    &a->sa))
						break;
				if (k < pl->ntarget)
					a->skip = MXK_MX_SKIP_DUPLICATE;
			}
			if (a->skip != MXK_MX_USABLE) {
				pl->nskipped++;
				continue;
			}
			t = &pl->target[pl->ntarget++];
			memcpy(&t->addr, &a->sa, sizeof(t->addr));
			t->addrlen = a->salen;
			t->host = h->name;
			t->pref = (int)h->pref;
			t->udata = h;
		}
	}
	return 0;
}

int
mxk_mx_plan(struct mxk_dns *dns, const char *domain,
    const struct mxk_mx_params *p, const struct mxk_mx_static *st,
    size_t nstatic, long long deadline, struct mxk_mx_plan **out,
    struct mxk_err *e)
{
	struct mxk_dns_answer	*mx = NULL;
	struct mxk_dns_query	*q = NULL;
	struct mxk_mx_plan	*pl = NULL;
	size_t			*qhost = NULL, nq = 0, i;
	int			 fam = p != NULL ? p->family : AF_UNSPEC;
	long long		 start = mxk_now_ms();

	*out = NULL;
	if (st == NULL || nstatic == 0) {
		if (mxk_dns_lookup(dns, domain, MXK_DNS_MX, &mx, deadline,
		    e) == -1)
			return -1;
		mxk_log(MXK_LOG_INFO, "MX %s: %s, %s, %zu records, %lld ms",
		    domain, mxk_dns_status_name(mx->status),
		    mxk_dnssec_name(mx->dnssec), mx->nrr, mx->elapsed_ms);
	}
	if (mxk_mx_plan_hosts(domain, mx, st, nstatic, p, &pl, e) == -1) {
		mxk_dns_answer_free(mx);
		return -1;
	}
	mxk_dns_answer_free(mx);
	if (pl->result != MXK_MX_OK)
		goto done;

	/* Every address query of every host, in one parallel batch. */
	if ((q = calloc(2 * pl->nhost + 1, sizeof(*q))) == NULL ||
	    (qhost = calloc(2 * pl->nhost + 1, sizeof(*qhost))) == NULL) {
		(void)mxk_err_sys(e, MXK_ERR_INTERNAL, "route plan");
		goto fail;
	}
	for (i = 0; i < pl->nhost; i++) {
		struct mxk_mx_host *h = &pl->host[i];

		if (h->skip != MXK_MX_USABLE || (h->is_static && h->naddr > 0))
			continue;
		if (fam != AF_INET6) {
			q[nq].name = h->name;
			q[nq].type = MXK_DNS_A;
			qhost[nq++] = i;
		}
		if (fam != AF_INET) {
			q[nq].name = h->name;
			q[nq].type = MXK_DNS_AAAA;
			qhost[nq++] = i;
		}
	}
	if (nq > 0 && mxk_dns_resolve(dns, q, nq, deadline, e) == -1)
		goto fail;
	for (i = 0; i < nq; i++) {
		const struct mxk_dns_answer *a = NULL, *aaaa = NULL;

		if (q[i].ans == NULL)
			continue;
		mxk_log(MXK_LOG_INFO, "%s %s: %s, %s, %zu records, %lld ms",
		    mxk_dns_type_name(q[i].type), q[i].name,
		    mxk_dns_status_name(q[i].ans->status),
		    mxk_dnssec_name(q[i].ans->dnssec), q[i].ans->nrr,
		    q[i].ans->elapsed_ms);
		/* The pair of one host is adjacent: A then AAAA. */
		if (q[i].type == MXK_DNS_A) {
			a = q[i].ans;
			if (i + 1 < nq && qhost[i + 1] == qhost[i]) {
				aaaa = q[i + 1].ans;
				i++;
			}
		} else
			aaaa = q[i].ans;
		mxk_mx_plan_addrs(pl, qhost[i], a, aaaa, p);
	}
	for (i = 0; i < nq; i++)
		mxk_dns_answer_free(q[i].ans);
	free(q);
	free(qhost);
	q = NULL;
	qhost = NULL;
done:
	if (pl->result == MXK_MX_OK && mxk_mx_plan_finish(pl, p, e) == -1)
		goto fail;
	pl->elapsed_ms = mxk_now_ms() - start;
	*out = pl;
	return 0;
fail:
	if (q != NULL)
		for (i = 0; i < nq; i++)
			mxk_dns_answer_free(q[i].ans);
	free(q);
	free(qhost);
	mxk_mx_plan_free(pl);
	return -1;
}

int
mxk_mx_plan_literal(const struct sockaddr *sa, socklen_t salen,
    const char *literal, const struct mxk_mx_params *p,
    struct mxk_mx_plan **out, struct mxk_err *e)
{
	struct mxk_mx_plan	*pl;
	struct mxk_mx_host	*h;

	*out = NULL;
	if (salen > sizeof(struct sockaddr_storage))
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "address too long");
	if ((pl = plan_new(literal, 1, e)) == NULL)
		return -1;
	pl->literal = 1;
	h = &pl->host[0];
	host_set(h, literal, 0);
	memcpy(&h->addr[0].sa, sa, salen);
	h->addr[0].salen = salen;
	h->addr[0].dnssec = MXK_DNSSEC_INDETERMINATE;
	h->naddr = 1;
	pl->nhost = 1;
	if (mxk_mx_plan_finish(pl, p, e) == -1) {
		mxk_mx_plan_free(pl);
		return -1;
	}
	*out = pl;
	return 0;
}

static int
parse_addr(const char *s, size_t len, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	char	buf[64];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (buf[0] == '[' && buf[len - 1] == ']') {
		memmove(buf, buf + 1, len - 2);
		buf[len - 2] = '\0';
	}
	if (inet_pton(AF_INET, buf,
	    &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		*sslen = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, buf,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		*sslen = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

int
mxk_mx_parse_static(const char *spec, struct mxk_mx_static *st,
    struct mxk_err *e)
{
	const char	*eq, *colon, *hend, *s, *comma;
	char		 num[16];
	unsigned long	 pref = 0;
	char		*end;
	size_t		 n;

	memset(st, 0, sizeof(*st));
	eq = strchr(spec, '=');
	hend = eq != NULL ? eq : spec + strlen(spec);
	colon = memchr(spec, ':', (size_t)(hend - spec));
	if (colon != NULL) {
		n = (size_t)(hend - colon - 1);
		if (n == 0 || n >= sizeof(num))
			goto badpref;
		memcpy(num, colon + 1, n);
		num[n] = '\0';
		errno = 0;
		pref = strtoul(num, &end, 10);
		if (errno != 0 || *end != '\0' || num[0] == '-' ||
		    pref > 65535)
			goto badpref;
		hend = colon;
	}
	if (hend == spec)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "--mx %s: empty host name", spec);
	if (mxk_addr_parse_domain(st->host, sizeof(st->host), NULL, 0, spec,
	    (size_t)(hend - spec), NULL, e) == -1) {
		e->class = MXK_ERR_USAGE;
		mxk_err_prefix(e, "--mx %s", spec);
		return -1;
	}
	st->pref = (unsigned)pref;
	if (eq == NULL)
		return 0;
	for (s = eq + 1; ; s = comma + 1) {
		comma = strchr(s, ',');
		n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (st->naddr >= MXK_MX_STATIC_ADDRS)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "--mx %s: more than %d addresses", spec,
			    MXK_MX_STATIC_ADDRS);
		if (parse_addr(s, n, &st->addr[st->naddr],
		    &st->addrlen[st->naddr]) == -1)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "--mx %s: \"%.*s\" is not an IPv4 or IPv6 "
			    "address", spec, (int)(n > 64 ? 64 : n), s);
		st->naddr++;
		if (comma == NULL)
			break;
	}
	return 0;
badpref:
	return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
	    "--mx %s: preference must be a number from 0 to 65535", spec);
}

int
mxk_mx_plan_addr(const struct mxk_addr *ta, const struct mxk_mx_params *mp,
    struct mxk_mx_plan **pl, struct mxk_err *e)
{
	struct sockaddr_storage	ss;
	socklen_t		sl;

	if (!ta->is_literal)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "%s: not an address literal", ta->domain);
	memset(&ss, 0, sizeof(ss));
	if (ta->family == AF_INET) {
		struct sockaddr_in *sa = (struct sockaddr_in *)&ss;

		sa->sin_family = AF_INET;
		memcpy(&sa->sin_addr, ta->ip, 4);
		sl = sizeof(*sa);
	} else {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;

		sa->sin6_family = AF_INET6;
		memcpy(&sa->sin6_addr, ta->ip, 16);
		sl = sizeof(*sa);
	}
	return mxk_mx_plan_literal((struct sockaddr *)&ss, sl, ta->domain, mp,
	    pl, e);
}
