/* ISC license. */

/*
 * mtasts-check: check the MTA-STS policies (RFC 8461) of domains, keep
 * them in the shared cache, compare them with the real MX hosts and,
 * with --tls, with the certificates those hosts present.
 * Options, output and exit codes only; the work is in lib/.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "dns.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "mtasts.h"
#include "mx.h"
#include "net.h"
#include "route.h"
#include "starttls.h"
#include "tls.h"

#define PROG		"mtasts-check"
#define JOBS_MAX	64
#define LINE_MAX_IN	1024
#define MAXATT		64
#define MXHOSTS		MXK_MX_MAXHOSTS

struct opts {
	int		 json, quiet, verbose;
	int		 refresh, require, no_cache, no_mx, tls;
	size_t		 jobs;
	const char	*file;
	const char	*cache_dir;
	const char	*cafile;
	const char	*resolver;
	long long	 timeout;
	char		**args;
	int		 nargs;
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
"usage: %s [-qv] [options] DOMAIN...\n"
"       %s [-qv] [options] -f FILE\n"
"\n"
"Check the MTA-STS policy (RFC 8461) of each DOMAIN: the _mta-sts TXT\n"
"record, the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt\n"
"(cached), the domain's MX hosts against its mx patterns, and the TLS-RPT\n"
"record (RFC 8460).  One line per domain:\n"
"  DOMAIN STATUS mode=M id=I max_age=S mx=P,... source=S tlsrpt=T [reason=...]\n"
"STATUS is ok, changed, none, invalid, mismatch or unreachable.\n"
"\n"
"  -f, --file FILE        read domains from FILE, one a line, # comments\n"
"                         (- for stdin)\n"
"      --json             one JSON object per domain and line\n"
"  -q, --quiet            print only problems and changes (for cron)\n"
"      --refresh          refetch cached policies with less than half of\n"
"                         their max_age left\n"
"  -j, --jobs N           domains checked at once (8; at most %d)\n"
"      --require          a domain without a policy in force is a failure\n"
"      --tls              probe each MX: STARTTLS and a certificate valid\n"
"                         for the MX name (PKIX), as the policy requires\n"
"      --no-mx            do not look up the MX hosts\n"
"      --cache-dir DIR    the policy cache (default: see the manual)\n"
"      --no-cache         neither read nor write the cache\n"
"      --cafile FILE      trust anchors for HTTPS and --tls (default\n"
"                         $SSL_CERT_FILE, else the system store)\n"
"      --resolver ADDR[:PORT]  DNS resolver (default: /etc/resolv.conf)\n"
"      --timeout T        for each batch of domains (30s)\n"
"  -v, --verbose          more detail on stderr (repeat for more)\n"
"  -h, --help             this text\n"
"  -V, --version          the version\n"
"\n"
"T is a number of seconds, or a number with ms, s or m.\n"
"Exit: 0 all fine, 65 a policy or record invalid or an MX mismatch, 68 no\n"
"such domain or null MX, 75 a temporary failure with no usable cached\n"
"policy, 64 usage, 66 a file that cannot be read, 74/78 cache problems.\n",
	    PROG, PROG, JOBS_MAX);
}

/* lib/cli writes the message; exiting is the program's part. */
#define die_usage(...)	exit(mxk_cli_usage(stderr, PROG, __VA_ARGS__))

enum {
	OPT_JSON = 256, OPT_REFRESH, OPT_REQUIRE, OPT_TLS, OPT_NOMX,
	OPT_CACHEDIR, OPT_NOCACHE, OPT_CAFILE, OPT_RESOLVER, OPT_TIMEOUT
};

static const struct option longopts[] = {
	{ "file", required_argument, NULL, 'f' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "refresh", no_argument, NULL, OPT_REFRESH },
	{ "jobs", required_argument, NULL, 'j' },
	{ "require", no_argument, NULL, OPT_REQUIRE },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "no-mx", no_argument, NULL, OPT_NOMX },
	{ "cache-dir", required_argument, NULL, OPT_CACHEDIR },
	{ "no-cache", no_argument, NULL, OPT_NOCACHE },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "resolver", required_argument, NULL, OPT_RESOLVER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void
parse_args(int argc, char **argv, struct opts *o)
{
	struct mxk_err	 e;
	char		*end;
	long		 v;
	int		 c;

	memset(o, 0, sizeof(*o));
	o->jobs = 8;
	o->timeout = 30000;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:hj:qvV", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 'f':
			o->file = optarg;
			break;
		case 'j':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    v < 1 || v > JOBS_MAX)
				die_usage("--jobs %s: not a number from 1 to %d",
				    optarg, JOBS_MAX);
			o->jobs = (size_t)v;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'V':
			(void)printf("%s %s\n", PROG, MXK_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_REFRESH:
			o->refresh = 1;
			break;
		case OPT_REQUIRE:
			o->require = 1;
			break;
		case OPT_TLS:
			o->tls = 1;
			break;
		case OPT_NOMX:
			o->no_mx = 1;
			break;
		case OPT_CACHEDIR:
			if (*optarg == '\0')
				die_usage("--cache-dir: empty directory name%s",
				    "");
			o->cache_dir = optarg;
			break;
		case OPT_NOCACHE:
			o->no_cache = 1;
			break;
		case OPT_CAFILE:
			o->cafile = optarg;
			break;
		case OPT_RESOLVER:
			o->resolver = optarg;
			break;
		case OPT_TIMEOUT:
			/* At most a day. */
			if (mxk_cli_duration(optarg, 86400000, 0, &o->timeout,
			    &e) == -1 || o->timeout <= 0)
				die_usage("--timeout %s: not a duration above 0 "
				    "(seconds, or a number with ms, s or m)",
				    optarg);
			break;
		case ':':
			die_usage("option %s needs an argument",
			    argv[optind - 1]);
		default:
			if (optopt != 0 && optopt < 256)
				die_usage("unknown option -%c", optopt);
			die_usage("unknown option %s", argv[optind - 1]);
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (o->nargs == 0 && o->file == NULL)
		die_usage("no DOMAIN given (or -f FILE)%s", "");
	if (o->nargs > 0 && o->file != NULL)
		die_usage("give domains as arguments or with -f, not both%s",
		    "");
	if (o->no_cache && o->cache_dir != NULL)
		die_usage("--cache-dir and --no-cache exclude each other%s", "");
	if (o->no_cache && o->refresh)
		die_usage("--refresh needs the cache%s", "");
	if (o->json && o->quiet)
		die_usage("--json and --quiet exclude each other%s", "");
	if (o->no_mx && o->tls)
		die_usage("--tls needs the MX hosts (drop --no-mx)%s", "");
}

/*
 * Domains, from the arguments or a file: one a line, '#' to the end of
 * the line is a comment, blanks around are dropped.  Read in batches, so
 * that a long list needs no more memory than one batch.
 */
struct input {
	const struct opts	*o;
	FILE			*f;
	int			 argi;
	unsigned long		 line;
	int			 eof;
};

/* s into buf, cut to fit (len > 0). */
static void
cut_copy(char *buf, size_t len, const char *s)
{
	size_t	n = strlen(s);

	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* 1 with the next domain text in buf, 0 at the end, -1 on a read error. */
static int
next_domain(struct input *in, char *buf, size_t len)
{
	char	 line[LINE_MAX_IN + 2], *s, *e;
	size_t	 n;

	if (in->f == NULL) {
		if (in->argi >= in->o->nargs)
			return 0;
		cut_copy(buf, len, in->o->args[in->argi++]);
		return 1;
	}
	while (!in->eof) {
		if (fgets(line, sizeof(line), in->f) == NULL) {
			if (ferror(in->f))
				return -1;
			in->eof = 1;
			break;
		}
		in->line++;
		n = strlen(line);
		if (n > 0 && line[n - 1] != '\n' && !feof(in->f)) {
			int c;

			/* Too long: skip to the end of the line, and let
			 * the domain parser refuse what we kept. */
			while ((c = getc(in->f)) != EOF && c != '\n')
				;
			line[LINE_MAX_IN] = '\0';
		}
		if ((e = strchr(line, '#')) != NULL)
			*e = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' ||
		    e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*s == '\0')
			continue;
		cut_copy(buf, len, s);
		return 1;
	}
	return 0;
}

/* What the tool says about one domain. */
struct mxinfo {
	char			 name[MXK_DNS_NAMEMAX];
	int			 match;
	int			 probed;
	int			 tls;
	enum mxk_tls_trust	 trust;
	int			 tls_ok;
	char			 why[300];
};

struct rep {
	char			 input[LINE_MAX_IN + 1];
	char			 domain[MXK_ADDR_DOMAINMAX + 1];
	int			 bad_input;
	const char		*word;
	int			 code;
	int			 warn;
	struct mxk_buf		 reason;
	struct mxinfo		 mx[MXHOSTS];
	size_t			 nmx;
	int			 nohost, nullmx;
};

static void
reason_add(struct rep *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reason_add(struct rep *p, const char *fmt, ...)
{
	va_list	ap;

	if (p->reason.len > 0 && mxk_buf_addstr(&p->reason, "; ") == -1)
		return;
	va_start(ap, fmt);
	if (mxk_buf_vprintf(&p->reason, fmt, ap) == -1) {
		/* Over the cap: the reason is long enough as it is. */
	}
	va_end(ap);
}

/* snprintf for messages: cut to fit, never an error. */
static void
cut(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cut(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (vsnprintf(buf, len, fmt, ap) < 0 && len > 0)
		buf[0] = '\0';
	va_end(ap);
}

static const char *
fmt_time(long long t, char *buf, size_t len)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, len, "-");
	return buf;
}

/* The MX hosts of the domain against the policy's patterns. */
static void
check_mx(const struct mxk_mtasts_result *r, struct rep *p)
{
	const struct mxk_dns_answer	*a = r->mx;
	const struct mxk_mtasts_policy	*pol = r->eff.policy;
	size_t				 i, bad = 0;
	char				 list[512] = "";

	if (a == NULL)
		return;
	switch (a->status) {
	case MXK_DNS_OK:
		for (i = 0; i < a->nrr && p->nmx < MXHOSTS; i++) {
			if (a->rr[i].type != MXK_DNS_MX)
				continue;
			if (a->rr[i].pref == 0 && strcmp(a->rr[i].name, ".") ==
			    0) {
				p->nullmx = 1;
				continue;
			}
			(void)snprintf(p->mx[p->nmx++].name,
			    sizeof(p->mx[0].name), "%s", a->rr[i].name);
		}
		break;
	case MXK_DNS_NODATA:
		/* No MX: the implicit MX is the domain (RFC 5321 §5.1). */
		(void)snprintf(p->mx[p->nmx++].name, sizeof(p->mx[0].name),
		    "%s", p->domain);
		break;
	case MXK_DNS_NXDOMAIN:
		p->nohost = 1;
		reason_add(p, "%s: no such domain (NXDOMAIN)", p->domain);
		return;
	default:
		p->warn = 1;
		reason_add(p, "MX lookup failed: %s%s%s: MX hosts not checked",
		    mxk_dns_status_name(a->status), a->why[0] != '\0' ? ": " :
		    "", a->why);
		return;
	}
	if (p->nullmx) {
		reason_add(p, "null MX: the domain accepts no mail (RFC 7505)");
		return;
	}
	for (i = 0; i < p->nmx; i++) {
		p->mx[i].match = mxk_mtasts_policy_match(pol, p->mx[i].name);
		if (pol != NULL && mxk_mtasts_policy_mode(pol) !=
		    MXK_MTASTS_MODE_NONE && !p->mx[i].match) {
			size_t l = strlen(list);

			(void)snprintf(list + l, sizeof(list) - l, "%s%s",
			    bad > 0 ? "," : "", p->mx[i].name);
			bad++;
		}
	}
	if (bad > 0) {
		p->code = EX_DATAERR;
		if (strcmp(p->word, "ok") == 0 || strcmp(p->word, "changed") ==
		    0)
			p->word = "mismatch";
		reason_add(p, "MX %s match%s no mx pattern of the policy (mode "
		    "%s: %s)", list, bad == 1 ? "es" : "",
		    mxk_mtasts_mode_name(mxk_mtasts_policy_mode(pol)),
		    mxk_mtasts_policy_mode(pol) == MXK_MTASTS_MODE_ENFORCE ?
		    "mail to it fails" : "delivery goes on, reported");
	}
}

static struct mxinfo *
mxinfo_for(struct rep *p, const char *name)
{
	size_t	i;

	for (i = 0; i < p->nmx; i++)
		if (strcasecmp(p->mx[i].name, name) == 0)
			return &p->mx[i];
	if (p->nmx >= MXHOSTS)
		return NULL;
	(void)snprintf(p->mx[p->nmx].name, sizeof(p->mx[0].name), "%s", name);
	return &p->mx[p->nmx++];
}

/*
 * --tls: STARTTLS on every MX host that matches the policy, PKIX with the
 * MX host name (RFC 8461 §4.1), one host at a time.
 */
static void
probe_tls(const struct opts *o, struct mxk_dns *dns, const char *cafile,
    const struct mxk_mtasts_result *r, struct rep *p)
{
	const struct mxk_mtasts_policy	*pol = r->eff.policy;
	struct mxk_mx_params		 mp;
	struct mxk_mx_plan		*pl = NULL;
	struct mxk_err			 e;
	struct mxk_net_target		*tg = NULL;
	long long			 deadline = mxk_deadline_in(o->timeout);
	char				 ehlo[256];
	size_t				 hi, i, k, nfail = 0, nunreach = 0;

	if (pol == NULL || mxk_mtasts_policy_mode(pol) == MXK_MTASTS_MODE_NONE
	    || p->nohost || p->nullmx)
		return;
	memset(&mp, 0, sizeof(mp));
	mp.port = 25;
	if (mxk_mx_plan(dns, p->domain, &mp, NULL, 0, deadline, &pl, &e) ==
	    -1 || pl->result != MXK_MX_OK) {
		p->warn = 1;
		reason_add(p, "tls: no MX plan: %s", pl != NULL ? pl->why :
		    e.msg);
		mxk_mx_plan_free(pl);
		return;
	}
	if (gethostname(ehlo, sizeof(ehlo)) != 0 || ehlo[0] == '\0')
		(void)snprintf(ehlo, sizeof(ehlo), "localhost");
	ehlo[sizeof(ehlo) - 1] = '\0';
	if (pl->ntarget > 0 && (tg = calloc(pl->ntarget, sizeof(*tg))) ==
	    NULL) {
		mxk_mx_plan_free(pl);
		reason_add(p, "tls: out of memory");
		return;
	}
	for (hi = 0; hi < pl->nhost; hi++) {
		const struct mxk_mx_host	*h = &pl->host[hi];
		struct mxk_mx_plan		 sub = *pl;
		struct mxk_route_params		 rp;
		struct mxk_starttls_params	 sp;
		struct mxk_starttls_conn	 c;
		struct mxk_mtasts_verdict	 v;
		struct mxk_net_attempt		 att[MAXATT];
		struct mxinfo			*mi;

		if ((mi = mxinfo_for(p, h->name)) == NULL)
			continue;
		if (!mxk_mtasts_policy_match(pol, h->name))
			continue;	/* a mismatch already */
		mi->probed = 1;
		/* This host's targets only. */
		for (i = 0, k = 0; i < pl->ntarget; i++)
			if (pl->target[i].udata == h)
				tg[k++] = pl->target[i];
		sub.target = tg;
		sub.ntarget = k;
		if (h->skip != MXK_MX_USABLE || k == 0) {
			cut(mi->why, sizeof(mi->why), "not reachable: %s",
			    h->why[0] != '\0' ? h->why : "no usable address");
			nunreach++;
			continue;
		}
		mxk_route_params_init(&rp);
		rp.net.connect_timeout_ms = (int)(o->timeout < 10000 ?
		    o->timeout : 10000);
		rp.net.deadline = deadline;
		rp.greeting_timeout_ms = (int)(o->timeout < 30000 ?
		    o->timeout : 30000);
		rp.port = 25;
		mxk_starttls_params_init(&sp);
		sp.policy = MXK_TLSPOL_PKIX;
		sp.ehlo = ehlo;
		sp.tls.cafile = cafile;
		sp.cmd_timeout_ms = rp.greeting_timeout_ms;
		sp.tls_timeout_ms = rp.greeting_timeout_ms;
		memset(&c, 0, sizeof(c));
		c.route.att = att;
		c.route.natt = MAXATT;
		mxk_err_clear(&e);
		if (mxk_starttls_connect(&sub, &rp, dns, &sp, NULL, NULL, &c,
		    &e) == 0) {
			mi->tls = 1;
			mi->trust = c.res.trust;
			mxk_starttls_conn_close(&c, 1);
		} else if (c.ntried == 0 || (!c.res.tls &&
		    (e.source == MXK_SRC_NET || (e.code >= 400 &&
		    e.code < 500)))) {
			/* No connection, or a temporary refusal before TLS
			 * (EHLO 421, STARTTLS 454, a timeout): the MX could
			 * not be judged, which is no policy mismatch. */
			cut(mi->why, sizeof(mi->why), "not reachable: %s",
			    e.msg);
			nunreach++;
			continue;
		} else {
			mi->tls = c.res.tls;
			mi->trust = c.res.trust;
		}
		mxk_mtasts_enforce(pol, h->name, mi->tls ? MXK_MTASTS_TLS_DONE :
		    MXK_MTASTS_TLS_NONE, mi->trust, &v);
		mi->tls_ok = !v.report;
		if (v.report) {
			cut(mi->why, sizeof(mi->why), "%s%s%s", v.why,
			    e.msg[0] != '\0' ? ": " : "", e.msg);
			nfail++;
		} else
			cut(mi->why, sizeof(mi->why), "%s", v.why);
		mxk_log(MXK_LOG_INFO, "%s: tls %s: %s", p->domain, h->name,
		    mi->why);
	}
	free(tg);
	mxk_mx_plan_free(pl);
	for (i = 0; i < p->nmx; i++) {
		if (!p->mx[i].probed || p->mx[i].tls_ok)
			continue;
		reason_add(p, "tls %s: %s", p->mx[i].name, p->mx[i].why);
	}
	if (nfail > 0) {
		p->code = EX_DATAERR;
		if (strcmp(p->word, "ok") == 0 || strcmp(p->word, "changed") ==
		    0)
			p->word = "mismatch";
	} else if (nunreach > 0) {
		if (p->code == 0)
			p->code = EX_TEMPFAIL;
		if (strcmp(p->word, "ok") == 0 || strcmp(p->word, "changed") ==
		    0)
			p->word = "unreachable";
	}
}

/* Severity order of exit codes for the whole run. */
static int
rank(int code)
{
	switch (code) {
	case EX_IOERR:		/* lines lost: the caller must hear of it */
		return 5;
	case EX_DATAERR:
		return 4;
	case EX_NOHOST:
		return 3;
	case EX_TEMPFAIL:
		return 2;
	case 0:
		return 0;
	default:
		return 1;
	}
}

static void
worse(int *code, int c)
{
	if (rank(c) > rank(*code))
		*code = c;
}

static void
print_text(const struct mxk_mtasts_result *r, const struct rep *p,
    int verbose)
{
	const struct mxk_mtasts_policy	*pol = r != NULL ? r->eff.policy : NULL;
	char				 mx[1024] = "-", age[32] = "-";
	size_t				 i, l = 0;

	if (pol != NULL) {
		for (i = 0; i < mxk_mtasts_policy_nmx(pol); i++) {
			int n = snprintf(mx + l, sizeof(mx) - l, "%s%s",
			    i > 0 ? "," : "", mxk_mtasts_policy_mx(pol, i));

			if (n < 0 || (size_t)n >= sizeof(mx) - l)
				break;
			l += (size_t)n;
		}
		if (l == 0)
			(void)snprintf(mx, sizeof(mx), "-");
		(void)snprintf(age, sizeof(age), "%lld",
		    mxk_mtasts_policy_max_age(pol));
	}
	(void)printf("%s %s mode=%s id=%s max_age=%s mx=%s source=%s "
	    "tlsrpt=%s", p->bad_input ? p->input : p->domain, p->word,
	    pol != NULL ? mxk_mtasts_mode_name(mxk_mtasts_policy_mode(pol)) :
	    "-", pol != NULL ? r->eff.id : "-", age, mx, pol == NULL ? "-" :
	    r->from_cache ? "cache" : "fetch", r != NULL ?
	    mxk_mtasts_tlsrpt_name(r->tlsrpt.state) : "-");
	if (p->reason.len > 0 && (strcmp(p->word, "ok") != 0 || p->warn ||
	    p->code != 0 || verbose))
		(void)printf(" reason=%s", p->reason.p);
	(void)printf("\n");
}

static void
print_json(const struct mxk_mtasts_result *r, const struct rep *p)
{
	const struct mxk_mtasts_policy	*pol = r != NULL ? r->eff.policy : NULL;
	struct mxk_buf			 b;
	char				 t1[32];
	size_t				 i;
	int				 f = 1, x = 0;

	mxk_buf_init(&b, 1 << 18);
	x |= mxk_buf_addch(&b, '{');
	x |= mxk_json_kv_str(&b, &f, "domain", p->bad_input ? p->input :
	    p->domain);
	x |= mxk_json_kv_str(&b, &f, "status", p->word);
	x |= mxk_json_kv_int(&b, &f, "exit", p->code);
	x |= mxk_json_kv_str(&b, &f, "mode", pol != NULL ?
	    mxk_mtasts_mode_name(mxk_mtasts_policy_mode(pol)) : NULL);
	x |= mxk_json_kv_str(&b, &f, "id", pol != NULL ? r->eff.id : NULL);
	if (pol != NULL)
		x |= mxk_json_kv_int(&b, &f, "max_age",
		    mxk_mtasts_policy_max_age(pol));
	else
		x |= mxk_json_kv_str(&b, &f, "max_age", NULL);
	x |= mxk_json_key(&b, &f, "mx");
	x |= mxk_buf_addch(&b, '[');
	for (i = 0; i < mxk_mtasts_policy_nmx(pol); i++) {
		x |= mxk_buf_addstr(&b, i > 0 ? "," : "");
		x |= mxk_json_str(&b, mxk_mtasts_policy_mx(pol, i));
	}
	x |= mxk_buf_addch(&b, ']');
	x |= mxk_json_kv_str(&b, &f, "source", pol == NULL ? NULL :
	    r->from_cache ? "cache" : "fetch");
	x |= mxk_json_kv_str(&b, &f, "fetched", pol != NULL ?
	    fmt_time(r->eff.fetched, t1, sizeof(t1)) : NULL);
	x |= mxk_json_kv_str(&b, &f, "expires", pol != NULL ?
	    fmt_time(r->eff.expires, t1, sizeof(t1)) : NULL);
	if (r != NULL) {
		x |= mxk_json_kv_str(&b, &f, "txt",
		    mxk_mtasts_txt_name(r->txt.state));
		x |= mxk_json_kv_str(&b, &f, "txt_id", r->txt.id[0] != '\0' ?
		    r->txt.id : NULL);
		x |= mxk_json_kv_str(&b, &f, "txt_why", r->txt.why);
		x |= mxk_json_kv_str(&b, &f, "fetch",
		    mxk_mtasts_fetch_name(r->fetch));
		if (r->http_code > 0)
			x |= mxk_json_kv_int(&b, &f, "http_status",
			    r->http_code);
		else
			x |= mxk_json_kv_str(&b, &f, "http_status", NULL);
		x |= mxk_json_kv_str(&b, &f, "fetch_why", r->fetch_why[0] !=
		    '\0' ? r->fetch_why : NULL);
		x |= mxk_json_kv_str(&b, &f, "cached_id", r->had_cache ?
		    r->cache_id : NULL);
		x |= mxk_json_kv_bool(&b, &f, "stored", r->stored);
		x |= mxk_json_kv_str(&b, &f, "tlsrpt",
		    mxk_mtasts_tlsrpt_name(r->tlsrpt.state));
		x |= mxk_json_kv_str(&b, &f, "tlsrpt_why", r->tlsrpt.why[0] !=
		    '\0' ? r->tlsrpt.why : NULL);
		x |= mxk_json_key(&b, &f, "tlsrpt_rua");
		x |= mxk_buf_addch(&b, '[');
		for (i = 0; i < r->tlsrpt.nrua; i++) {
			x |= mxk_buf_addstr(&b, i > 0 ? "," : "");
			x |= mxk_json_str(&b, r->tlsrpt.rua[i]);
		}
		x |= mxk_buf_addch(&b, ']');
	} else {
		/* Not looked up (not a domain name): the same members,
		 * null, as the man page says. */
		static const char *const none[] = { "txt", "txt_id",
		    "txt_why", "fetch", "http_status", "fetch_why",
		    "cached_id", "stored", "tlsrpt", "tlsrpt_why" };

		for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
			x |= mxk_json_kv_str(&b, &f, none[i], NULL);
		x |= mxk_json_key(&b, &f, "tlsrpt_rua");
		x |= mxk_buf_addstr(&b, "[]");
	}
	x |= mxk_json_key(&b, &f, "mx_hosts");
	x |= mxk_buf_addch(&b, '[');
	for (i = 0; i < p->nmx; i++) {
		int f2 = 1;

		x |= mxk_buf_addstr(&b, i > 0 ? ",{" : "{");
		x |= mxk_json_kv_str(&b, &f2, "host", p->mx[i].name);
		x |= mxk_json_kv_bool(&b, &f2, "match", p->mx[i].match);
		if (p->mx[i].probed) {
			x |= mxk_json_kv_str(&b, &f2, "tls", p->mx[i].tls ?
			    mxk_tls_trust_name(p->mx[i].trust) : "none");
			x |= mxk_json_kv_bool(&b, &f2, "tls_ok",
			    p->mx[i].tls_ok);
			x |= mxk_json_kv_str(&b, &f2, "tls_why", p->mx[i].why);
		}
		x |= mxk_buf_addch(&b, '}');
	}
	x |= mxk_buf_addch(&b, ']');
	x |= mxk_json_kv_bool(&b, &f, "warn", p->warn);
	x |= mxk_json_kv_str(&b, &f, "reason", p->reason.len > 0 ?
	    p->reason.p : NULL);
	x |= mxk_buf_addch(&b, '}');
	if (x != 0)
		(void)fprintf(stderr, "%s: warning: %s: JSON output "
		    "truncated\n", PROG, p->domain);
	else
		(void)printf("%s\n", b.p);
	mxk_buf_free(&b);
}

/* The tool's verdict for one discovered domain. */
static void
judge(const struct opts *o, struct mxk_dns *dns, const char *cafile,
    const struct mxk_mtasts_result *r, struct rep *p)
{
	const struct mxk_mtasts_policy *pol = r->eff.policy;

	p->word = mxk_mtasts_status_name(r->status);
	p->warn = r->dec.warn;
	switch (r->status) {
	case MXK_MTASTS_OK:
	case MXK_MTASTS_CHANGED:
		p->code = 0;
		break;
	case MXK_MTASTS_NONE:
		p->code = o->require ? EX_DATAERR : 0;
		break;
	case MXK_MTASTS_INVALID:
		p->code = EX_DATAERR;
		break;
	default:
		p->code = EX_TEMPFAIL;
		break;
	}
	if (r->status != MXK_MTASTS_OK || r->dec.warn || o->verbose)
		reason_add(p, "%s", r->reason);
	if (r->cache_error)
		reason_add(p, "the cached entry could not be read");
	if (r->fetch == MXK_MTASTS_FETCH_OK && !r->stored &&
	    r->store_why[0] != '\0') {
		p->warn = 1;
		reason_add(p, "not cached: %s", r->store_why);
	}
	if (o->require && pol != NULL &&
	    mxk_mtasts_policy_mode(pol) == MXK_MTASTS_MODE_NONE) {
		p->code = EX_DATAERR;
		reason_add(p, "--require: the policy's mode is none");
	}
	if (r->tlsrpt.state == MXK_MTASTS_TLSRPT_INVALID) {
		p->warn = 1;
		reason_add(p, "tlsrpt: %s", r->tlsrpt.why);
	}
	check_mx(r, p);
	if (p->nohost || p->nullmx)
		worse(&p->code, EX_NOHOST);
	if (o->tls)
		probe_tls(o, dns, cafile, r, p);
}

static int
run_batch(const struct opts *o, struct mxk_dns *dns,
    struct mxk_mtasts_cache *cache, const struct mxk_mtasts_params *mp,
    const char *cafile, struct rep *reps, size_t n)
{
	struct mxk_mtasts_result	 res[JOBS_MAX];
	const char			*names[JOBS_MAX];
	size_t				 nd = 0, i;
	struct mxk_err			 e;
	int				 code = 0, problem;

	for (i = 0; i < n; i++)
		if (!reps[i].bad_input)
			names[nd++] = reps[i].domain;
	if (mxk_mtasts_discover(dns, cache, mp, names, nd,
	    mxk_deadline_in(o->timeout), res, &e) == -1) {
		(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		return mxk_err_exitcode(&e);
	}
	for (i = 0, nd = 0; i < n; i++) {
		struct rep			*p = &reps[i];
		const struct mxk_mtasts_result	*r = NULL;

		if (!p->bad_input) {
			r = &res[nd++];
			judge(o, dns, cafile, r, p);
		}
		worse(&code, p->code);
		/* -q: problems and changes only; a domain without a policy
		 * is neither unless --require says so. */
		problem = strcmp(p->word, "ok") != 0 || p->warn ||
		    p->code != 0;
		if (strcmp(p->word, "none") == 0 && p->code == 0 && !p->warn)
			problem = 0;
		if (o->json)
			print_json(r, p);
		else if (!o->quiet || problem)
			print_text(r, p, o->verbose);
	}
	(void)fflush(stdout);
	for (i = 0; i < nd; i++)
		mxk_mtasts_result_clear(&res[i]);
	return code;
}

int
main(int argc, char **argv)
{
	struct opts			 o;
	struct input			 in;
	struct mxk_dns			*dns = NULL;
	struct mxk_dns_params		 dp;
	struct mxk_mtasts_cache		*cache = NULL;
	struct mxk_mtasts_params	 mp;
	struct mxk_err			 e;
	struct rep			*reps;
	char				 dir[PATH_MAX];
	const char			*cafile;
	size_t				 n, i;
	int				 code = 0, fd, r = 0;

	(void)signal(SIGPIPE, SIG_IGN);
	/* fds 0, 1, 2 must be open, or a socket could land on them. */
	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		(void)close(fd);

	parse_args(argc, argv, &o);
	mxk_log_init_stderr(PROG, o.verbose);

	/* libcurl reads neither SSL_CERT_FILE nor CURL_CA_BUNDLE: the
	 * trust anchors are handed over explicitly. */
	cafile = o.cafile;
	if (cafile == NULL && (cafile = getenv("SSL_CERT_FILE")) != NULL &&
	    *cafile == '\0')
		cafile = NULL;
	if (cafile != NULL && access(cafile, R_OK) == -1) {
		(void)fprintf(stderr, "%s: error: CA file %s: %s\n", PROG,
		    cafile, strerror(errno));
		return EX_NOINPUT;
	}

	memset(&in, 0, sizeof(in));
	in.o = &o;
	if (o.file != NULL) {
		if (strcmp(o.file, "-") == 0)
			in.f = stdin;
		else if ((in.f = fopen(o.file, "r")) == NULL) {
			(void)fprintf(stderr, "%s: error: %s: %s\n", PROG,
			    o.file, strerror(errno));
			return EX_NOINPUT;
		}
	}

	if (!o.no_cache) {
		if (o.cache_dir == NULL && mxk_mtasts_cache_default(dir,
		    sizeof(dir)) == -1) {
			(void)fprintf(stderr, "%s: error: no cache directory: "
			    "set HOME or XDG_CACHE_HOME, or give --cache-dir\n",
			    PROG);
			return EX_CONFIG;
		}
		if (mxk_mtasts_cache_open(o.cache_dir != NULL ? o.cache_dir :
		    dir, MXK_MTASTS_CACHE_CREATE, &cache, &e) == -1) {
			(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
			return mxk_err_exitcode(&e);
		}
		mxk_log(MXK_LOG_INFO, "cache %s", mxk_mtasts_cache_dir(cache));
	}

	memset(&dp, 0, sizeof(dp));
	dp.resolver = o.resolver;
	dp.trust_ad = -1;
	if (mxk_dns_open(&dns, &dp, &e) == -1) {
		(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		mxk_mtasts_cache_close(cache);
		return e.class == MXK_ERR_USAGE ? EX_USAGE : EX_CONFIG;
	}

	memset(&mp, 0, sizeof(mp));
	mp.cafile = cafile;
	mp.parallel = o.jobs;
	mp.fetch_timeout_ms = (int)(o.timeout > INT_MAX ? INT_MAX : o.timeout);
	mp.connect_timeout_ms = (int)(o.timeout < 10000 ? o.timeout : 10000);
	mp.refresh = o.refresh;
	mp.want_tlsrpt = 1;
	mp.want_mx = !o.no_mx;

	if ((reps = calloc(o.jobs, sizeof(*reps))) == NULL) {
		(void)fprintf(stderr, "%s: error: out of memory\n", PROG);
		return EX_OSERR;
	}
	for (;;) {
		for (n = 0; n < o.jobs; n++) {
			struct rep *p = &reps[n];

			memset(p, 0, sizeof(*p));
			mxk_buf_init(&p->reason, 4096);
			if ((r = next_domain(&in, p->input, sizeof(p->input))) !=
			    1) {
				mxk_buf_free(&p->reason);
				break;
			}
			if (mxk_addr_parse_domain(p->domain, sizeof(p->domain),
			    NULL, 0, p->input, strlen(p->input), NULL, &e) ==
			    -1) {
				p->bad_input = 1;
				p->word = "invalid";
				p->code = EX_DATAERR;
				reason_add(p, "not a domain name: %s", e.msg);
			}
		}
		if (r == -1) {
			(void)fprintf(stderr, "%s: error: reading %s: %s\n",
			    PROG, o.file, strerror(errno));
			worse(&code, EX_IOERR);
		}
		if (n > 0)
			worse(&code, run_batch(&o, dns, cache, &mp, cafile,
			    reps, n));
		for (i = 0; i < n; i++)
			mxk_buf_free(&reps[i].reason);
		if (n < o.jobs)
			break;
	}
	free(reps);
	/* A full disk or a closed pipe: the results did not reach the
	 * caller, which must not take the run for a clean one. */
	if (fflush(stdout) == EOF || ferror(stdout)) {
		(void)fprintf(stderr, "%s: error: writing standard output: "
		    "%s\n", PROG, strerror(errno));
		worse(&code, EX_IOERR);
	}
	if (in.f != NULL && in.f != stdin)
		(void)fclose(in.f);
	mxk_dns_close(dns);
	mxk_mtasts_cache_close(cache);
	return code;
}
