/* ISC license. */

/*
 * Fuzz target: DNS answers handed to the route planner (lib/dns, lib/mx).
 *
 * Input: DNS messages, each preceded by its length in two octets (network
 * order, as over TCP, RFC 1035 §4.2.2); a length running past the end
 * takes what is left.  Message 0 is parsed as the answer to "example.test
 * MX" and mxk_mx_plan_hosts() builds the plan from it.  Then, as
 * mxk_mx_plan() does, every usable host gets an A and an AAAA answer:
 * messages 1, 2, ... in turn, parsed for that host's name (message 0 again
 * once they run out), given to mxk_mx_plan_addrs(); mxk_mx_plan_finish()
 * makes the targets.  The ID of message 0 picks the parameters (bit 0
 * prefer_ipv6, bits 1-2 family, bit 3 block_local, bit 4 shuffle, bit 5
 * trust AD, bit 6 port 587, bit 7 --ignore-host entries).  The plan is
 * checked against mx.h: results, hosts in preference order, no host twice,
 * no address twice among the targets, targets only from usable hosts and
 * of the allowed family, with the right port.
 *
 * fuzz-args: -max_len=65535
 */

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "dns.h"
#include "err.h"
#include "mx.h"
#include "net.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#define DOMAIN		"example.test"
#define MAXMSG		(2 * MXK_MX_MAXHOSTS + 1)

struct msg {
	const uint8_t	*p;
	size_t		 len;
};

static size_t
split(const uint8_t *data, size_t size, struct msg *m, size_t max)
{
	size_t	n = 0, off = 0, l;

	while (off < size && n < max) {
		if (size - off < 2) {
			m[n].p = data + off;
			m[n++].len = size - off;
			break;
		}
		l = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (l > size - off)
			l = size - off;
		m[n].p = data + off;
		m[n++].len = l;
		off += l;
	}
	return n;
}

static struct mxk_dns_answer *
parse(const struct msg *m, const char *name, int type, int trusted)
{
	struct mxk_dns_answer	*a;
	struct mxk_err		 e;
	uint8_t			*copy;

	/* An exact copy: reading past the message is an ASan report. */
	if ((copy = malloc(m->len > 0 ? m->len : 1)) == NULL)
		abort();
	memcpy(copy, m->p, m->len);
	if (mxk_dns_parse_answer(copy, m->len, name, type, trusted, NULL, &a,
	    &e) == -1)
		a = NULL;
	free(copy);
	return a;
}

static int
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static void
check_plan(const struct mxk_mx_plan *pl, const struct mxk_mx_params *p,
    int finished)
{
	size_t	i, j, naddr = 0, nskip = 0;
	int	port = p->port > 0 ? p->port : 25;

	CHECK(pl->result >= MXK_MX_OK && pl->result < MXK_MX__COUNT);
	CHECK(memchr(pl->why, '\0', sizeof(pl->why)) != NULL);
	CHECK(strcmp(pl->domain, DOMAIN) == 0);
	(void)mxk_mx_result_name(pl->result);
	if (pl->result == MXK_MX_NULLMX || pl->result == MXK_MX_NXDOMAIN ||
	    pl->result == MXK_MX_TEMPFAIL) {
		CHECK(pl->why[0] != '\0');
		CHECK(pl->ntarget == 0);
		if (pl->result == MXK_MX_NULLMX)
			CHECK(pl->nhost == 0);
		return;
	}
	CHECK(pl->nhost >= 1);
	if (pl->implicit)
		CHECK(pl->nhost == 1 && pl->host[0].implicit &&
		    pl->host[0].pref == 0);
	for (i = 0; i < pl->nhost; i++) {
		const struct mxk_mx_host *h = &pl->host[i];

		CHECK(memchr(h->name, '\0', sizeof(h->name)) != NULL);
		CHECK(memchr(h->why, '\0', sizeof(h->why)) != NULL);
		CHECK(h->skip >= MXK_MX_USABLE && h->skip < MXK_MX__SKIPCOUNT);
		CHECK(h->pref <= 65535);
		CHECK(h->naddr <= 2 * MXK_MX_MAXADDRS);
		(void)mxk_mx_skip_name(h->skip);
		/* RFC 5321 §5.1: lowest preference first. */
		if (i > 0)
			CHECK(pl->host[i - 1].pref <= h->pref);
		if (h->skip == MXK_MX_USABLE || h->skip == MXK_MX_SKIP_LOOKUP ||
		    h->skip == MXK_MX_SKIP_NOADDR) {
			/* Usable names pass the host-name check ... */
			if (!h->implicit)
				CHECK(mxk_addr_check_host(h->name,
				    strlen(h->name), NULL) == 0);
			/* ... and appear once. */
			for (j = 0; j < i; j++)
				if (pl->host[j].skip != MXK_MX_SKIP_BADNAME)
					CHECK(strcasecmp(pl->host[j].name,
					    h->name) != 0);
		}
		if (!finished)
			continue;
		if (h->skip != MXK_MX_USABLE) {
			nskip++;
			continue;
		}
		CHECK(h->naddr > 0);
		for (j = 0; j < h->naddr; j++) {
			const struct mxk_mx_addr *a = &h->addr[j];

			CHECK(a->sa.ss_family == AF_INET ||
			    a->sa.ss_family == AF_INET6);
			CHECK(a->skip >= MXK_MX_USABLE &&
			    a->skip < MXK_MX__SKIPCOUNT);
			if (a->skip != MXK_MX_USABLE)
				nskip++;
			else
				naddr++;
		}
	}
	if (!finished)
		return;
	CHECK(pl->ntarget == naddr);
	CHECK(pl->nskipped == nskip);
	for (i = 0; i < pl->ntarget; i++) {
		const struct mxk_net_target *t = &pl->target[i];
		const struct mxk_mx_host *h = t->udata;

		CHECK(h >= pl->host && h < pl->host + pl->nhost);
		CHECK(h->skip == MXK_MX_USABLE);
		CHECK(t->host == h->name);
		CHECK(t->pref == (int)h->pref);
		CHECK(port_of(&t->addr) == port);
		CHECK(t->addrlen == (t->addr.ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)));
		if (p->family != AF_UNSPEC)
			CHECK(t->addr.ss_family == p->family);
		if (i > 0)
			CHECK(pl->target[i - 1].pref <= t->pref);
		for (j = 0; j < i; j++)
			CHECK(!same_addr(&pl->target[j].addr, &t->addr));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	 families[4] = {
		AF_UNSPEC, AF_INET, AF_INET6, AF_UNSPEC
	};
	static const char *const ignore[] = {
		"mx1." DOMAIN ".", "192.0.2.1", "2001:db8::1",
	};
	struct msg		 m[MAXMSG];
	struct mxk_mx_params	 p;
	struct mxk_mx_plan	*pl;
	struct mxk_dns_answer	*mx, *a, *aaaa;
	struct mxk_err		 e;
	size_t			 nm, next = 1, i;
	unsigned		 id;
	int			 trusted;

	if ((nm = split(data, size, m, MAXMSG)) == 0)
		return 0;
	id = m[0].len >= 2 ? (unsigned)m[0].p[0] << 8 | m[0].p[1] : 0;
	memset(&p, 0, sizeof(p));
	p.prefer_ipv6 = id & 1;
	p.family = families[id >> 1 & 3];
	p.block_local = (id & 8) != 0;
	p.shuffle = (id & 0x10) != 0;
	trusted = (id & 0x20) != 0;
	p.port = (id & 0x40) != 0 ? 587 : 0;
	if (id & 0x80) {
		p.ignore = ignore;
		p.nignore = sizeof(ignore) / sizeof(ignore[0]);
	}

	if ((mx = parse(&m[0], DOMAIN, MXK_DNS_MX, trusted)) == NULL)
		return 0;
	CHECK(mxk_mx_plan_hosts(DOMAIN, mx, NULL, 0, &p, &pl, &e) == 0);
	mxk_dns_answer_free(mx);
	check_plan(pl, &p, 0);
	if (pl->result != MXK_MX_OK) {
		mxk_mx_plan_free(pl);
		return 0;
	}
	for (i = 0; i < pl->nhost; i++) {
		const char *name = pl->host[i].name;

		if (pl->host[i].skip != MXK_MX_USABLE)
			continue;
		a = aaaa = NULL;
		if (p.family != AF_INET6)
			a = parse(&m[next < nm ? next++ : 0], name, MXK_DNS_A,
			    trusted);
		if (p.family != AF_INET)
			aaaa = parse(&m[next < nm ? next++ : 0], name,
			    MXK_DNS_AAAA, trusted);
		mxk_mx_plan_addrs(pl, i, a, aaaa, &p);
		mxk_dns_answer_free(a);
		mxk_dns_answer_free(aaaa);
	}
	/* Out of range: ignored. */
	mxk_mx_plan_addrs(pl, pl->nhost, NULL, NULL, &p);
	CHECK(mxk_mx_plan_finish(pl, &p, &e) == 0);
	check_plan(pl, &p, 1);
	/* Finishing twice gives the same targets. */
	i = pl->ntarget;
	CHECK(mxk_mx_plan_finish(pl, &p, &e) == 0);
	CHECK(pl->ntarget == i);
	mxk_mx_plan_free(pl);
	return 0;
}
