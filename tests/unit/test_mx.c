/* ISC license. */

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "mx.h"
#include "net.h"
#include "t.h"

/* A hand-made answer: "pref host" pairs for MX, addresses for A/AAAA. */
static struct mxk_dns_answer *
answer(int type, enum mxk_dns_status st, enum mxk_dnssec sec,
    const char *const *items, size_t n)
{
	struct mxk_dns_answer	*a;
	size_t			 i;

	a = calloc(1, sizeof(*a));
	a->qtype = type;
	a->status = st;
	a->dnssec = sec;
	if (n > 0)
		a->rr = calloc(n, sizeof(*a->rr));
	for (i = 0; i < n; i++) {
		struct mxk_dns_rr *rr = &a->rr[a->nrr++];

		rr->type = type;
		if (type == MXK_DNS_MX) {
			char	*sp;

			rr->pref = (unsigned)strtoul(items[i], &sp, 10);
			(void)snprintf(rr->name, sizeof(rr->name), "%s",
			    sp + 1);
		} else if (type == MXK_DNS_A)
			(void)inet_pton(AF_INET, items[i], &rr->a);
		else
			(void)inet_pton(AF_INET6, items[i], &rr->aaaa);
	}
	return a;
}

static void
answer_free(struct mxk_dns_answer *a)
{
	if (a != NULL)
		free(a->rr);
	free(a);
}

static const char *
target_str(const struct mxk_mx_plan *pl, size_t i, char *buf, size_t len)
{
	char	ip[MXK_NET_ADDRSTRLEN];

	(void)snprintf(buf, len, "%s/%s", pl->target[i].host,
	    mxk_net_addr_port_str((const struct sockaddr *)&pl->target[i].addr,
	    ip, sizeof(ip)));
	return buf;
}

static void
test_results(void)
{
	static const char *const null_mx[] = { "0 ." };
	static const char *const mixed[] = { "0 .", "10 mx.x.test" };
	struct mxk_dns_answer	*mx;
	struct mxk_mx_plan	*pl;
	struct mxk_err		 e;

	mx = answer(MXK_DNS_MX, MXK_DNS_NXDOMAIN, MXK_DNSSEC_SECURE, NULL, 0);
	T_EQ_INT(mxk_mx_plan_hosts("nosuch.test", mx, NULL, 0, NULL, &pl, &e),
	    0, "nxdomain plan");
	T_EQ_INT(pl->result, MXK_MX_NXDOMAIN, "nxdomain result");
	mxk_mx_plan_free(pl);
	answer_free(mx);

	mx = answer(MXK_DNS_MX, MXK_DNS_OK, MXK_DNSSEC_SECURE, null_mx, 1);
	(void)mxk_mx_plan_hosts("nullmx.test", mx, NULL, 0, NULL, &pl, &e);
	T_EQ_INT(pl->result, MXK_MX_NULLMX, "null MX");
	T_EQ_INT(pl->nhost, 0, "null MX has no hosts");
	T_OK(strstr(pl->why, "accepts no mail") != NULL, "null MX why: %s",
	    pl->why);
	mxk_mx_plan_free(pl);
	answer_free(mx);

	mx = answer(MXK_DNS_MX, MXK_DNS_OK, MXK_DNSSEC_SECURE, mixed, 2);
	(void)mxk_mx_plan_hosts("x.test", mx, NULL, 0, NULL, &pl, &e);
	T_EQ_INT(pl->result, MXK_MX_OK, "null MX mixed is not null MX");
	T_EQ_INT(pl->nhost, 2, "mixed hosts");
	T_EQ_INT(pl->host[0].skip, MXK_MX_SKIP_BADNAME, "'.' host skipped");
	mxk_mx_plan_free(pl);
	answer_free(mx);

	/* More than MXK_MX_MAXHOSTS records: the most preferred are kept,
	 * whatever the order of the answer. */
	{
		static char	 names[MXK_MX_MAXHOSTS + 1][32];
		const char	*items[MXK_MX_MAXHOSTS + 1];
		size_t		 k, best = 0;

		for (k = 0; k <= MXK_MX_MAXHOSTS; k++) {
			(void)snprintf(names[k], sizeof(names[k]),
			    "%d h%zu.x.test", k == MXK_MX_MAXHOSTS ? 10 : 50,
			    k);
			items[k] = names[k];
		}
		mx = answer(MXK_DNS_MX, MXK_DNS_OK, MXK_DNSSEC_SECURE, items,
		    MXK_MX_MAXHOSTS + 1);
		(void)mxk_mx_plan_hosts("x.test", mx, NULL, 0, NULL, &pl, &e);
		T_EQ_INT(pl->nhost, MXK_MX_MAXHOSTS, "hosts capped");
		for (k = 0; k < pl->nhost; k++)
			if (pl->host[k].pref == 10)
				best++;
		T_EQ_INT(best, 1, "the preference-10 MX kept, though last");
		mxk_mx_plan_free(pl);
		answer_free(mx);
	}

	mx = answer(MXK_DNS_MX, MXK_DNS_SERVFAIL, MXK_DNSSEC_BOGUS, NULL, 0);
	(void)mxk_mx_plan_hosts("bogus.test", mx, NULL, 0, NULL, &pl, &e);
	T_EQ_INT(pl->result, MXK_MX_TEMPFAIL, "servfail is temporary");
	T_EQ_INT(pl->mx_dnssec, MXK_DNSSEC_BOGUS, "bogus carried");
	mxk_mx_plan_free(pl);
	answer_free(mx);

	mx = answer(MXK_DNS_MX, MXK_DNS_TIMEOUT, MXK_DNSSEC_INDETERMINATE,
	    NULL, 0);
	(void)mxk_mx_plan_hosts("slow.test", mx, NULL, 0, NULL, &pl, &e);
	T_EQ_INT(pl->result, MXK_MX_TEMPFAIL, "timeout is temporary");
	mxk_mx_plan_free(pl);
	answer_free(mx);

	mx = answer(MXK_DNS_MX, MXK_DNS_NODATA, MXK_DNSSEC_INSECURE, NULL, 0);
	(void)snprintf(mx->canon, sizeof(mx->canon), "implicit.test");
	(void)mxk_mx_plan_hosts("implicit.test", mx, NULL, 0, NULL, &pl, &e);
	T_EQ_INT(pl->result, MXK_MX_OK, "implicit ok");
	T_EQ_INT(pl->implicit, 1, "implicit flag");
	T_EQ_INT(pl->nhost, 1, "implicit one host");
	T_EQ_STR(pl->host[0].name, "implicit.test", "implicit host");
	T_EQ_INT(pl->host[0].pref, 0, "implicit pref 0");
	mxk_mx_plan_free(pl);
	answer_free(mx);
}

static void
test_order_and_filters(void)
{
	static const char *const mxs[] = {
		"30 live.prio.test", "10 dead.prio.test", "20 refuse.prio.test",
		"20 REFUSE.prio.test", "40 bad_name!.test", "50 ignored.test",
	};
	static const char *const a_dead[] = { "192.0.2.66" };
	static const char *const a_ref[] = { "192.0.2.67" };
	static const char *const a_live[] = { "192.0.2.20", "127.0.0.1" };
	static const char *const aaaa_live[] = { "2001:db8::20" };
	static const char *const want[] = {
		"dead.prio.test/192.0.2.66:25",
		"refuse.prio.test/192.0.2.67:25",
		"live.prio.test/192.0.2.20:25",
		"live.prio.test/[2001:db8::20]:25",
	};
	static const char *const ign[] = { "ignored.test." };
	struct mxk_mx_params	 p = { .port = 25, .block_local = 1,
				    .ignore = ign, .nignore = 1 };
	struct mxk_dns_answer	*mx, *a[3], *aaaa, *nodata;
	struct mxk_mx_plan	*pl;
	struct mxk_err		 e;
	char			 buf[256];
	size_t			 i;

	mx = answer(MXK_DNS_MX, MXK_DNS_OK, MXK_DNSSEC_SECURE, mxs, 6);
	T_EQ_INT(mxk_mx_plan_hosts("prio.test", mx, NULL, 0, &p, &pl, &e), 0,
	    "prio plan");
	T_EQ_INT(pl->nhost, 5, "duplicate host merged");
	T_EQ_STR(pl->host[0].name, "dead.prio.test", "lowest pref first");
	T_EQ_STR(pl->host[1].name, "refuse.prio.test", "then 20");
	T_EQ_STR(pl->host[2].name, "live.prio.test", "then 30");
	T_EQ_INT(pl->host[3].skip, MXK_MX_SKIP_BADNAME, "bad name skipped");
	T_EQ_INT(pl->host[4].skip, MXK_MX_SKIP_IGNORED, "ignored host");
	a[0] = answer(MXK_DNS_A, MXK_DNS_OK, MXK_DNSSEC_SECURE, a_dead, 1);
	a[1] = answer(MXK_DNS_A, MXK_DNS_OK, MXK_DNSSEC_SECURE, a_ref, 1);
	a[2] = answer(MXK_DNS_A, MXK_DNS_OK, MXK_DNSSEC_SECURE, a_live, 2);
	aaaa = answer(MXK_DNS_AAAA, MXK_DNS_OK, MXK_DNSSEC_INSECURE,
	    aaaa_live, 1);
	nodata = answer(MXK_DNS_AAAA, MXK_DNS_NODATA, MXK_DNSSEC_SECURE,
	    NULL, 0);
	mxk_mx_plan_addrs(pl, 0, a[0], nodata, &p);
	mxk_mx_plan_addrs(pl, 1, a[1], nodata, &p);
	mxk_mx_plan_addrs(pl, 2, a[2], aaaa, &p);
	T_EQ_INT(mxk_mx_plan_finish(pl, &p, &e), 0, "finish");
	T_EQ_INT(pl->ntarget, 4, "targets");
	for (i = 0; i < pl->ntarget && i < 4; i++)
		T_EQ_STR(target_str(pl, i, buf, sizeof(buf)), want[i],
		    "target order");
	T_EQ_INT(pl->host[2].addr[1].skip, MXK_MX_SKIP_LOCAL,
	    "127.0.0.1 blocked");
	T_EQ_INT(pl->host[0].dnssec, MXK_DNSSEC_SECURE, "secure host");
	T_EQ_INT(pl->host[2].dnssec, MXK_DNSSEC_INSECURE,
	    "mixed secure+insecure is insecure");

	/* -6 and --prefer-ipv6 on the same answers. */
	p.family = AF_INET6;
	T_EQ_INT(mxk_mx_plan_finish(pl, &p, &e), 0, "finish -6");
	T_EQ_INT(pl->ntarget, 1, "-6 leaves one target");
	T_EQ_INT(pl->host[0].addr[0].skip, MXK_MX_SKIP_FAMILY, "-6 skips v4");
	mxk_mx_plan_free(pl);

	p.family = AF_UNSPEC;
	p.prefer_ipv6 = 1;
	p.block_local = 0;
	(void)mxk_mx_plan_hosts("prio.test", mx, NULL, 0, &p, &pl, &e);
	mxk_mx_plan_addrs(pl, 2, a[2], aaaa, &p);
	(void)mxk_mx_plan_finish(pl, &p, &e);
	T_EQ_STR(target_str(pl, 0, buf, sizeof(buf)),
	    "live.prio.test/[2001:db8::20]:25", "--prefer-ipv6");
	T_EQ_INT(pl->ntarget, 3, "127.0.0.1 kept without --block-local");
	T_EQ_INT(pl->host[0].skip, MXK_MX_SKIP_NOADDR, "no answers: noaddr");
	mxk_mx_plan_free(pl);

	/* --ignore-host with an address. */
	{
		static const char *const ign2[] = { "192.0.2.20" };
		struct mxk_mx_params p2 = { .ignore = ign2, .nignore = 1 };

		(void)mxk_mx_plan_hosts("prio.test", mx, NULL, 0, &p2, &pl,
		    &e);
		mxk_mx_plan_addrs(pl, 2, a[2], NULL, &p2);
		(void)mxk_mx_plan_finish(pl, &p2, &e);
		T_EQ_INT(pl->host[2].addr[0].skip, MXK_MX_SKIP_IGNORED,
		    "ignored address");
		T_EQ_INT(pl->ntarget, 1, "only 127.0.0.1 left");
		mxk_mx_plan_free(pl);
	}
	for (i = 0; i < 3; i++)
		answer_free(a[i]);
	answer_free(aaaa);
	answer_free(nodata);
	answer_free(mx);
}

static void
test_lookup_failure(void)
{
	static const char *const mxs[] = { "10 a.test", "20 b.test" };
	struct mxk_dns_answer	*mx, *sf, *nd;
	struct mxk_mx_plan	*pl;
	struct mxk_err		 e;

	mx = answer(MXK_DNS_MX, MXK_DNS_OK, MXK_DNSSEC_SECURE, mxs, 2);
	sf = answer(MXK_DNS_A, MXK_DNS_SERVFAIL, MXK_DNSSEC_BOGUS, NULL, 0);
	nd = answer(MXK_DNS_AAAA, MXK_DNS_NXDOMAIN, MXK_DNSSEC_SECURE, NULL,
	    0);
	(void)mxk_mx_plan_hosts("x.test", mx, NULL, 0, NULL, &pl, &e);
	mxk_mx_plan_addrs(pl, 0, sf, nd, NULL);
	mxk_mx_plan_addrs(pl, 1, NULL, nd, NULL);
	(void)mxk_mx_plan_finish(pl, NULL, &e);
	T_EQ_INT(pl->host[0].skip, MXK_MX_SKIP_LOOKUP, "servfail host");
	T_EQ_INT(pl->host[0].dnssec, MXK_DNSSEC_BOGUS, "servfail bogus");
	T_EQ_INT(pl->host[1].skip, MXK_MX_SKIP_NOADDR, "nxdomain host");
	T_EQ_INT(pl->nlookupfail, 1, "lookup failures counted");
	T_EQ_INT(pl->ntarget, 0, "no targets");
	T_EQ_INT(pl->nskipped, 2, "skipped counted");
	mxk_mx_plan_free(pl);
	answer_free(mx);
	answer_free(sf);
	answer_free(nd);
}

static void
test_shuffle(void)
{
	static const char *const mxs[] = {
		"10 a.equal.test", "10 b.equal.test", "5 first.test",
	};
	struct mxk_mx_params	 p = { .shuffle = 1 };
	struct mxk_dns_answer	*mx;
	struct mxk_mx_plan	*pl;
	struct mxk_err		 e;
	int			 seen_a = 0, seen_b = 0, first_ok = 1, i;

	mx = answer(MXK_DNS_MX, MXK_DNS_OK, MXK_DNSSEC_SECURE, mxs, 3);
	for (i = 0; i < 200; i++) {
		(void)mxk_mx_plan_hosts("equal.test", mx, NULL, 0, &p, &pl,
		    &e);
		if (strcmp(pl->host[0].name, "first.test") != 0)
			first_ok = 0;
		if (strcmp(pl->host[1].name, "a.equal.test") == 0)
			seen_a++;
		else
			seen_b++;
		mxk_mx_plan_free(pl);
	}
	T_OK(first_ok, "shuffle keeps preference order");
	T_OK(seen_a > 0 && seen_b > 0, "both orders seen (%d/%d)", seen_a,
	    seen_b);
	p.shuffle = 0;
	for (i = 0; i < 20; i++) {
		(void)mxk_mx_plan_hosts("equal.test", mx, NULL, 0, &p, &pl,
		    &e);
		if (strcmp(pl->host[1].name, "a.equal.test") != 0)
			first_ok = 0;
		mxk_mx_plan_free(pl);
	}
	T_OK(first_ok, "--no-shuffle keeps DNS order");
	answer_free(mx);
}

static void
test_static(void)
{
	static const struct {
		const char	*spec;
		int		 ok;
		const char	*host;
		unsigned	 pref;
		size_t		 naddr;
	} cases[] = {
		{ "mx.example.test", 1, "mx.example.test", 0, 0 },
		{ "mx.example.test:20", 1, "mx.example.test", 20, 0 },
		{ "mx.example.test:5=192.0.2.1,2001:db8::1", 1,
		    "mx.example.test", 5, 2 },
		{ "mx.example.test=[2001:db8::2]", 1, "mx.example.test", 0, 1 },
		{ "Bücher.test=192.0.2.3", 1, "xn--bcher-kva.test", 0, 1 },
		{ ":10", 0, NULL, 0, 0 },
		{ "mx.test:x", 0, NULL, 0, 0 },
		{ "mx.test:70000", 0, NULL, 0, 0 },
		{ "mx.test:-1", 0, NULL, 0, 0 },
		{ "mx.test=not-an-ip", 0, NULL, 0, 0 },
		{ "mx.test=192.0.2.1,", 0, NULL, 0, 0 },
		{ "bad..name", 0, NULL, 0, 0 },
	};
	struct mxk_mx_static	 st[2];
	struct mxk_mx_plan	*pl;
	struct mxk_err		 e;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = mxk_mx_parse_static(cases[i].spec, &st[0], &e);

		T_EQ_INT(r == 0, cases[i].ok, cases[i].spec);
		if (r != 0) {
			T_EQ_INT(e.class, MXK_ERR_USAGE, cases[i].spec);
			continue;
		}
		T_EQ_STR(st[0].host, cases[i].host, cases[i].spec);
		T_EQ_INT(st[0].pref, cases[i].pref, cases[i].spec);
		T_EQ_INT(st[0].naddr, cases[i].naddr, cases[i].spec);
	}
	(void)mxk_mx_parse_static("b.test:20=192.0.2.2", &st[0], &e);
	(void)mxk_mx_parse_static("a.test:10=192.0.2.1", &st[1], &e);
	T_EQ_INT(mxk_mx_plan_hosts("x.test", NULL, st, 2, NULL, &pl, &e), 0,
	    "static plan");
	(void)mxk_mx_plan_finish(pl, NULL, &e);
	T_EQ_INT(pl->from_static, 1, "from static");
	T_EQ_INT(pl->ntarget, 2, "static targets");
	T_EQ_STR(pl->target[0].host, "a.test", "static sorted");
	mxk_mx_plan_free(pl);
}

static void
test_literal(void)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	struct mxk_mx_params	 p = { .port = 2525, .block_local = 1 };
	struct mxk_mx_plan	*pl;
	struct mxk_err		 e;
	char			 buf[128];

	(void)inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	T_EQ_INT(mxk_mx_plan_literal((struct sockaddr *)&sin, sizeof(sin),
	    "[192.0.2.1]", &p, &pl, &e), 0, "literal");
	T_EQ_STR(target_str(pl, 0, buf, sizeof(buf)),
	    "[192.0.2.1]/192.0.2.1:2525", "literal target with port");
	mxk_mx_plan_free(pl);
	(void)inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	(void)mxk_mx_plan_literal((struct sockaddr *)&sin, sizeof(sin),
	    "[127.0.0.1]", &p, &pl, &e);
	T_EQ_INT(pl->ntarget, 0, "local literal blocked");
	mxk_mx_plan_free(pl);
}

int
main(void)
{
	test_results();
	test_order_and_filters();
	test_lookup_failure();
	test_shuffle();
	test_static();
	test_literal();
	return t_done("mx");
}
