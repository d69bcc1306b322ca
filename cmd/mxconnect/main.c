/* ISC license. */

/*
 * mxconnect: find and connect to a domain's mail exchangers.
 * Options, output and exit codes only; the work is in lib/.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
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
#include "reply.h"
#include "route.h"
#include "starttls.h"
#include "tls.h"

#define PROG		"mxconnect"
#define MAXATT		128
#define MAXSTATIC	16
#define MAXIGNORE	64

enum mode {
	MODE_REPORT,
	MODE_PLAN,
	MODE_PIPE,
	MODE_EXEC
};

struct opts {
	enum mode		 mode;
	int			 json, quiet, verbose;
	int			 port;
	int			 family, prefer_ipv6, block_local, shuffle;
	const char		*resolver;
	int			 trust_ad;
	long long		 connect_timeout, attempt_delay, timeout;
	long long		 greeting_timeout, dns_timeout;
	const char		*ignore[MAXIGNORE];
	size_t			 nignore;
	struct mxk_mx_static	 mx[MAXSTATIC];
	size_t			 nmx;
	const char		*local, *local4, *local6;
	const char		*proxy;
	struct mxk_net_proxy	 px;
	struct sockaddr_storage	 pxsa;
	socklen_t		 pxsalen;
	int			 crlf;
	int			 starttls, print_tlsa;
	int			 no_mta_sts;
	const char		*sts_cache;
	int			 tls_policy;
	const char		*tls_priority, *cafile, *certfile, *keyfile;
	const char		*ehlo;
	char			*prog;
	char			**prog_argv;
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
"usage: %s [-46cnqsv] [options] TARGET\n"
"       %s [options] TARGET -- PROG [ARG...]\n"
"       %s [options] -e PROG TARGET [ARG...]\n"
"\n"
"Find the mail exchangers of TARGET (a domain, an e-mail address or an\n"
"address literal) and connect to the first one that answers.\n"
"\n"
"  -n, --plan                 resolve only; print one route per line\n"
"  -c, --pipe                 bridge stdin/stdout with the connection\n"
"      --crlf                 with --pipe: send typed LF as CRLF\n"
"  -e, --exec PROG            run PROG with the connection on fd 6/7\n"
"      --json                 one JSON object on stdout\n"
"  -q, --quiet                print nothing; the exit status tells\n"
"  -v, --verbose              more detail on stderr (repeat for more)\n"
"  -p, --port PORT            port (25)\n"
"  -4, -6                     IPv4 or IPv6 only\n"
"      --prefer-ipv6          a host's IPv6 addresses first\n"
"      --block-local          skip loopback, private, link-local and own\n"
"                             addresses\n"
"      --ignore-host H        skip this MX host name or address (repeatable)\n"
"      --mx HOST[:PREF][=ADDR,...]  use this route, no MX lookup (repeatable)\n"
"      --no-shuffle           keep DNS order among equal preferences\n"
"      --resolver ADDR[:PORT] DNS resolver (default: /etc/resolv.conf)\n"
"      --trust-ad             believe the AD bit from a non-loopback resolver\n"
"      --connect-timeout T    per connection attempt (30s)\n"
"      --attempt-delay T      start the next address after T (500ms; 0: one\n"
"                             at a time)\n"
"      --greeting-timeout T   wait for the 220 greeting (300s)\n"
"      --dns-timeout T        for all DNS lookups (30s)\n"
"      --timeout T            overall (600s)\n"
"      --local-address ADDR   bind to ADDR (also -v4 ADDR / -v6 ADDR forms:\n"
"      --local-address-v4 ADDR, --local-address-v6 ADDR)\n"
"      --proxy socks5h://HOST:PORT  connect through a SOCKS5 proxy\n"
"  -s, --starttls             EHLO, STARTTLS and verify the server (DANE,\n"
"                             PKIX); the next MX when one fails\n"
"      --tls-policy P         auto (DANE when secure TLSA, else may), may,\n"
"                             encrypt, pkix, dane, none (default auto);\n"
"                             auto also applies the domain's MTA-STS policy\n"
"      --no-mta-sts           do not look up or apply MTA-STS (RFC 8461)\n"
"      --mta-sts-cache DIR    the MTA-STS cache shared with mtasts-check\n"
"      --tls-priority S       GnuTLS priority string\n"
"      --cafile FILE          trust anchors for pkix (default SSL_CERT_FILE,\n"
"                             else the system store)\n"
"      --cert FILE, --key FILE  client certificate and key (PEM)\n"
"      --ehlo NAME            EHLO name (default: this host's name)\n"
"      --print-tlsa           print TLSA records for the presented chain\n"
"  -h, --help                 this text\n"
"  -V, --version              the version\n"
"\n"
"T is a number of seconds, or a number with ms, s or m.\n"
"Exit: 0 connected, 64 usage, 65 invalid target, 68 no such domain or null\n"
"MX, 69 refused permanently or all filtered, 75 nothing reachable now (or,\n"
"with --starttls, TLS failed or was not as authenticated as the policy\n"
"requires), 76 the server does not speak SMTP.\n",
	    PROG, PROG, PROG);
}

/* lib/cli writes the message; exiting is the program's part. */
#define die_usage(...)	exit(mxk_cli_usage(stderr, PROG, __VA_ARGS__))

/* At most a year. */
static long long
duration_opt(const char *name, const char *arg)
{
	struct mxk_err	e;
	long long	v;

	if (mxk_cli_duration(arg, 86400000LL * 365, 0, &v, &e) == -1) {
		(void)fprintf(stderr, "%s: error: %s %s: not a duration "
		    "(seconds, or a number with ms, s or m)\n", PROG, name,
		    arg);
		exit(EX_USAGE);
	}
	return v;
}

static int
parse_local(const char *s, struct sockaddr_storage *ss, socklen_t *len,
    int want)
{
	memset(ss, 0, sizeof(*ss));
	if ((want == 0 || want == AF_INET) && inet_pton(AF_INET, s,
	    &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		*len = sizeof(struct sockaddr_in);
		return AF_INET;
	}
	if ((want == 0 || want == AF_INET6) && inet_pton(AF_INET6, s,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		*len = sizeof(struct sockaddr_in6);
		return AF_INET6;
	}
	return -1;
}

/* --ignore-host: an IP address as is, a name in its A-label form. */
static const char *
normalise_host(const char *arg)
{
	struct in6_addr	 a6;
	struct mxk_err	 e;
	char		*out;
	size_t		 n = strlen(arg);

	if (inet_pton(AF_INET, arg, &a6) == 1 ||
	    inet_pton(AF_INET6, arg, &a6) == 1)
		return arg;
	if ((out = malloc(MXK_ADDR_DOMAINMAX + 1)) == NULL) {
		(void)fprintf(stderr, "%s: error: out of memory\n", PROG);
		exit(EX_OSERR);
	}
	if (mxk_addr_parse_domain(out, MXK_ADDR_DOMAINMAX + 1, NULL, 0, arg,
	    n, NULL, &e) == -1)
		die_usage("--ignore-host %s: %s", arg, e.msg);
	return out;
}

static void
set_mode(struct opts *o, enum mode m)
{
	static const char *const names[] = {
		"report", "--plan", "--pipe", "--exec"
	};

	if (o->mode != MODE_REPORT && o->mode != m)
		die_usage("%s and %s exclude each other", names[o->mode],
		    names[m]);
	o->mode = m;
}

/* A timeout must be positive: 0 would fail at once. */
static long long
timeout_opt(const char *name, const char *arg)
{
	long long	v = duration_opt(name, arg);

	if (v == 0)
		die_usage("%s %s: must be greater than 0", name, arg);
	return v;
}

enum {
	OPT_CRLF = 256, OPT_JSON, OPT_PREFER6, OPT_BLOCKLOCAL, OPT_IGNORE,
	OPT_MX, OPT_NOSHUFFLE, OPT_RESOLVER, OPT_TRUSTAD, OPT_CTIMEOUT,
	OPT_ADELAY, OPT_GTIMEOUT, OPT_DTIMEOUT, OPT_TIMEOUT, OPT_LOCAL,
	OPT_LOCAL4, OPT_LOCAL6, OPT_PROXY, OPT_TLSPOLICY, OPT_TLSPRIO,
	OPT_NOSTS, OPT_STSCACHE,
	OPT_CAFILE, OPT_CERT, OPT_KEY, OPT_EHLO, OPT_PRINTTLSA
};

static const struct option longopts[] = {
	{ "plan", no_argument, NULL, 'n' },
	{ "pipe", no_argument, NULL, 'c' },
	{ "crlf", no_argument, NULL, OPT_CRLF },
	{ "exec", required_argument, NULL, 'e' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "port", required_argument, NULL, 'p' },
	{ "prefer-ipv6", no_argument, NULL, OPT_PREFER6 },
	{ "block-local", no_argument, NULL, OPT_BLOCKLOCAL },
	{ "ignore-host", required_argument, NULL, OPT_IGNORE },
	{ "mx", required_argument, NULL, OPT_MX },
	{ "no-shuffle", no_argument, NULL, OPT_NOSHUFFLE },
	{ "resolver", required_argument, NULL, OPT_RESOLVER },
	{ "trust-ad", no_argument, NULL, OPT_TRUSTAD },
	{ "connect-timeout", required_argument, NULL, OPT_CTIMEOUT },
	{ "attempt-delay", required_argument, NULL, OPT_ADELAY },
	{ "greeting-timeout", required_argument, NULL, OPT_GTIMEOUT },
	{ "dns-timeout", required_argument, NULL, OPT_DTIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "local-address", required_argument, NULL, OPT_LOCAL },
	{ "local-address-v4", required_argument, NULL, OPT_LOCAL4 },
	{ "local-address-v6", required_argument, NULL, OPT_LOCAL6 },
	{ "proxy", required_argument, NULL, OPT_PROXY },
	{ "starttls", no_argument, NULL, 's' },
	{ "tls-policy", required_argument, NULL, OPT_TLSPOLICY },
	{ "no-mta-sts", no_argument, NULL, OPT_NOSTS },
	{ "mta-sts-cache", required_argument, NULL, OPT_STSCACHE },
	{ "tls-priority", required_argument, NULL, OPT_TLSPRIO },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "ehlo", required_argument, NULL, OPT_EHLO },
	{ "print-tlsa", no_argument, NULL, OPT_PRINTTLSA },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void
parse_args(int argc, char **argv, struct opts *o, const char **target)
{
	struct mxk_err	 e;
	char		*end, *pw;
	long		 v;
	int		 c;

	memset(o, 0, sizeof(*o));
	o->port = 25;
	o->shuffle = 1;
	o->trust_ad = -1;
	o->connect_timeout = 30000;
	o->attempt_delay = 500;
	o->greeting_timeout = 300000;
	o->dns_timeout = 30000;
	o->timeout = 600000;
	o->tls_policy = MXK_TLSPOL_AUTO;

	/* "+": stop at TARGET; what follows it belongs to PROG.  ":": we
	 * print the errors ourselves. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:46ce:hnp:qsvV", longopts,
	    NULL)) != -1) {
		switch (c) {
		case '4':
			o->family = AF_INET;
			break;
		case '6':
			o->family = AF_INET6;
			break;
		case 'c':
			set_mode(o, MODE_PIPE);
			break;
		case 'e':
			set_mode(o, MODE_EXEC);
			o->prog = optarg;
			break;
		case 'n':
			set_mode(o, MODE_PLAN);
			break;
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
				die_usage("--port %s: not a port number",
				    optarg);
			o->port = (int)v;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 's':
			o->starttls = 1;
			break;
		case OPT_NOSTS:
			o->no_mta_sts = 1;
			break;
		case OPT_STSCACHE:
			o->sts_cache = optarg;
			break;
		case OPT_TLSPOLICY:
			if ((o->tls_policy = mxk_tls_policy_parse(optarg)) ==
			    -1)
				die_usage("--tls-policy %s: not one of auto, "
				    "may, encrypt, pkix, dane, none", optarg);
			break;
		case OPT_TLSPRIO:
			o->tls_priority = optarg;
			break;
		case OPT_CAFILE:
			o->cafile = optarg;
			break;
		case OPT_CERT:
			o->certfile = optarg;
			break;
		case OPT_KEY:
			o->keyfile = optarg;
			break;
		case OPT_EHLO:
			o->ehlo = optarg;
			break;
		case OPT_PRINTTLSA:
			o->print_tlsa = 1;
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
		case OPT_CRLF:
			o->crlf = 1;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_PREFER6:
			o->prefer_ipv6 = 1;
			break;
		case OPT_BLOCKLOCAL:
			o->block_local = 1;
			break;
		case OPT_IGNORE:
			if (o->nignore >= MAXIGNORE)
				die_usage("too many --ignore-host options%s",
				    "");
			o->ignore[o->nignore++] = normalise_host(optarg);
			break;
		case OPT_MX:
			if (o->nmx >= MAXSTATIC)
				die_usage("too many --mx options%s", "");
			if (mxk_mx_parse_static(optarg, &o->mx[o->nmx],
			    &e) == -1)
				die_usage("%s", e.msg);
			o->nmx++;
			break;
		case OPT_NOSHUFFLE:
			o->shuffle = 0;
			break;
		case OPT_RESOLVER:
			o->resolver = optarg;
			break;
		case OPT_TRUSTAD:
			o->trust_ad = 1;
			break;
		case OPT_CTIMEOUT:
			o->connect_timeout = timeout_opt("--connect-timeout",
			    optarg);
			break;
		case OPT_ADELAY:
			o->attempt_delay = duration_opt("--attempt-delay",
			    optarg);
			break;
		case OPT_GTIMEOUT:
			o->greeting_timeout = timeout_opt("--greeting-timeout",
			    optarg);
			break;
		case OPT_DTIMEOUT:
			o->dns_timeout = timeout_opt("--dns-timeout", optarg);
			break;
		case OPT_TIMEOUT:
			o->timeout = timeout_opt("--timeout", optarg);
			break;
		case OPT_LOCAL:
			o->local = optarg;
			break;
		case OPT_LOCAL4:
			o->local4 = optarg;
			break;
		case OPT_LOCAL6:
			o->local6 = optarg;
			break;
		case OPT_PROXY:
			o->proxy = optarg;
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
	argc -= optind;
	argv += optind;
	if (argc < 1)
		die_usage("no TARGET given%s", "");
	*target = argv[0];
	argc--;
	argv++;
	if (argc > 0 && strcmp(argv[0], "--") == 0) {
		argc--;
		argv++;
		if (o->mode != MODE_EXEC) {
			if (argc == 0)
				die_usage("no PROG after --%s", "");
			set_mode(o, MODE_EXEC);
			o->prog = argv[0];
		}
	} else if (argc > 0 && o->mode != MODE_EXEC)
		die_usage("unexpected argument \"%s\" after TARGET (to run a "
		    "program on the connection, put -- before it)", argv[0]);
	if (o->mode == MODE_EXEC) {
		/* -e PROG: the remaining words are its arguments. */
		if (o->prog == argv[0] && argc > 0) {
			o->prog_argv = argv;
		} else {
			static char	*none[2];
			char		**pa;
			int		 i;

			if ((pa = calloc((size_t)argc + 2, sizeof(*pa))) ==
			    NULL) {
				(void)fprintf(stderr, "%s: error: out of "
				    "memory\n", PROG);
				exit(EX_OSERR);
			}
			pa[0] = o->prog;
			for (i = 0; i < argc; i++)
				pa[i + 1] = argv[i];
			o->prog_argv = argc + 1 > 1 ? pa : none;
			if (o->prog_argv == none) {
				none[0] = o->prog;
				free(pa);
			}
		}
	}
	if (o->proxy != NULL) {
		if (mxk_net_parse_proxy(o->proxy, &o->px, &e) == -1)
			die_usage("--proxy: %s", e.msg);
		/*
		 * Secrets stay out of argv, which every local user can read
		 * (ps, /proc/PID/cmdline): the RFC 1929 password comes from
		 * the environment, and is removed from it once read.
		 */
		if (o->px.pass[0] != '\0') {
			explicit_bzero(o->px.pass, sizeof(o->px.pass));
			die_usage("--proxy: no password in the URL (any user "
			    "can read the command line); put it in "
			    "MXCONNECT_PROXY_PASSWORD%s", "");
		}
		if (o->px.user[0] != '\0' &&
		    (pw = getenv("MXCONNECT_PROXY_PASSWORD")) != NULL) {
			if (strlen(pw) >= sizeof(o->px.pass))
				die_usage("MXCONNECT_PROXY_PASSWORD: longer than "
				    "255 octets%s", "");
			(void)snprintf(o->px.pass, sizeof(o->px.pass), "%s",
			    pw);
			explicit_bzero(pw, strlen(pw));
			(void)unsetenv("MXCONNECT_PROXY_PASSWORD");
		}
		if (parse_local(o->px.host, &o->pxsa, &o->pxsalen, 0) == -1)
			die_usage("--proxy %s: give the proxy as an IP address",
			    o->px.host);
	}
	if (o->json && o->quiet)
		die_usage("--json and --quiet exclude each other%s", "");
	if (o->crlf && o->mode != MODE_PIPE)
		die_usage("--crlf goes with --pipe%s", "");
	if (!o->starttls && (o->print_tlsa || o->tls_policy !=
	    MXK_TLSPOL_AUTO || o->tls_priority != NULL || o->cafile != NULL ||
	    o->certfile != NULL || o->keyfile != NULL || o->ehlo != NULL ||
	    o->no_mta_sts || o->sts_cache != NULL))
		die_usage("--tls-policy, --tls-priority, --cafile, --cert, "
		    "--key, --ehlo, --print-tlsa, --no-mta-sts and "
		    "--mta-sts-cache go with --starttls%s", "");
	if (o->no_mta_sts && o->sts_cache != NULL)
		die_usage("--no-mta-sts and --mta-sts-cache exclude each "
		    "other%s", "");
	if (o->starttls && o->mode != MODE_REPORT)
		die_usage("--starttls goes with the report mode, not with "
		    "--plan, --pipe or --exec%s", "");
	if (o->keyfile != NULL && o->certfile == NULL)
		die_usage("--key needs --cert%s", "");
	if (o->tls_priority != NULL) {
		if (mxk_tls_priority_check(o->tls_priority, &e) == -1)
			die_usage("--tls-priority: %s", e.msg);
	}
}

/* Output. */

static const char	*winner_addr(const struct mxk_route_result *);

static const char *
addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	return mxk_net_addr_str((const struct sockaddr *)ss, buf, len);
}

static void
print_plan(const struct mxk_mx_plan *pl, int with_skips)
{
	char	ip[MXK_NET_ADDRSTRLEN];
	size_t	i, j;

	for (i = 0; i < pl->nhost; i++) {
		const struct mxk_mx_host *h = &pl->host[i];

		if (h->skip != MXK_MX_USABLE) {
			if (with_skips)
				(void)printf("skip %u %s - %s: %s\n", h->pref,
				    h->name, mxk_mx_skip_name(h->skip),
				    h->why);
			continue;
		}
		for (j = 0; j < h->naddr; j++) {
			const struct mxk_mx_addr *a = &h->addr[j];

			if (a->skip != MXK_MX_USABLE) {
				if (with_skips)
					(void)printf("skip %u %s %s %s\n",
					    h->pref, h->name,
					    addr_str(&a->sa, ip, sizeof(ip)),
					    mxk_mx_skip_name(a->skip));
				continue;
			}
			(void)printf("%s %u %s %s %s\n", with_skips ?
			    "route" : "", h->pref, h->name,
			    addr_str(&a->sa, ip, sizeof(ip)),
			    mxk_dnssec_name(a->dnssec));
		}
	}
}

static void
print_plan_lines(const struct mxk_mx_plan *pl)
{
	char	ip[MXK_NET_ADDRSTRLEN];
	size_t	i;

	/* One route per line: PREF HOST ADDRESS DNSSEC. */
	for (i = 0; i < pl->ntarget; i++) {
		const struct mxk_mx_host *h = pl->target[i].udata;
		size_t j;
		enum mxk_dnssec sec = MXK_DNSSEC_INDETERMINATE;

		for (j = 0; j < h->naddr; j++)
			if (memcmp(&h->addr[j].sa, &pl->target[i].addr,
			    sizeof(h->addr[j].sa)) == 0)
				sec = h->addr[j].dnssec;
		(void)printf("%u %s %s %s\n", h->pref, h->name,
		    addr_str(&pl->target[i].addr, ip, sizeof(ip)),
		    mxk_dnssec_name(sec));
	}
}

static void
print_skips_stderr(const struct mxk_mx_plan *pl)
{
	char	ip[MXK_NET_ADDRSTRLEN];
	size_t	i, j;

	for (i = 0; i < pl->nhost; i++) {
		const struct mxk_mx_host *h = &pl->host[i];

		if (h->skip != MXK_MX_USABLE) {
			(void)fprintf(stderr, "%s: skipped MX %u %s: %s\n",
			    PROG, h->pref, h->name, h->why);
			continue;
		}
		for (j = 0; j < h->naddr; j++)
			if (h->addr[j].skip != MXK_MX_USABLE)
				(void)fprintf(stderr, "%s: skipped %s (%s): "
				    "%s\n", PROG, addr_str(&h->addr[j].sa, ip,
				    sizeof(ip)), h->name,
				    mxk_mx_skip_name(h->addr[j].skip));
	}
}

static void
print_attempts(const struct mxk_route_result *res,
    const struct mxk_mx_plan *pl, int proxy)
{
	size_t	i;

	for (i = 0; i < res->natt; i++) {
		const struct mxk_net_attempt *a = &res->att[i];
		const char *host = proxy ? pl->host[a->target].name :
		    pl->target[a->target].host;

		(void)printf("attempt %s %s %s %lldms%s%s\n", a->addr,
		    host != NULL ? host : "-", mxk_net_outcome_name(a->outcome),
		    a->elapsed_ms, a->detail[0] != '\0' ? " " : "",
		    a->detail);
	}
}

static int
json_plan(struct mxk_buf *b, const struct mxk_mx_plan *pl)
{
	char	ip[MXK_NET_ADDRSTRLEN];
	size_t	i, j;
	int	first, r = 0;

	r |= mxk_buf_addch(b, '[');
	for (i = 0; i < pl->nhost; i++) {
		const struct mxk_mx_host *h = &pl->host[i];

		first = 1;
		r |= mxk_buf_addstr(b, i > 0 ? ",{" : "{");
		r |= mxk_json_kv_int(b, &first, "pref", h->pref);
		r |= mxk_json_kv_str(b, &first, "host", h->name);
		r |= mxk_json_kv_bool(b, &first, "implicit", h->implicit);
		r |= mxk_json_kv_str(b, &first, "dnssec",
		    mxk_dnssec_name(h->dnssec));
		r |= mxk_json_kv_str(b, &first, "skip", h->skip ==
		    MXK_MX_USABLE ? NULL : mxk_mx_skip_name(h->skip));
		if (h->skip != MXK_MX_USABLE)
			r |= mxk_json_kv_str(b, &first, "reason", h->why);
		r |= mxk_json_key(b, &first, "addresses");
		r |= mxk_buf_addch(b, '[');
		for (j = 0; j < h->naddr; j++) {
			int f2 = 1;

			r |= mxk_buf_addstr(b, j > 0 ? ",{" : "{");
			r |= mxk_json_kv_str(b, &f2, "address",
			    addr_str(&h->addr[j].sa, ip, sizeof(ip)));
			r |= mxk_json_kv_str(b, &f2, "dnssec",
			    mxk_dnssec_name(h->addr[j].dnssec));
			r |= mxk_json_kv_str(b, &f2, "skip",
			    h->addr[j].skip == MXK_MX_USABLE ? NULL :
			    mxk_mx_skip_name(h->addr[j].skip));
			r |= mxk_buf_addch(b, '}');
		}
		r |= mxk_buf_addstr(b, "]}");
	}
	r |= mxk_buf_addch(b, ']');
	return r;
}

static void
print_json(const char *target, const struct mxk_mx_plan *pl,
    const struct mxk_route_result *res, int connected, int proxy,
    const struct mxk_err *e, int code)
{
	struct mxk_buf	b;
	size_t		i;
	int		first = 1, r = 0;

	mxk_buf_init(&b, 1 << 20);
	r |= mxk_buf_addch(&b, '{');
	r |= mxk_json_kv_str(&b, &first, "target", target);
	if (pl != NULL) {
		r |= mxk_json_kv_str(&b, &first, "domain", pl->domain);
		r |= mxk_json_kv_str(&b, &first, "result",
		    mxk_mx_result_name(pl->result));
		r |= mxk_json_kv_str(&b, &first, "mx_dnssec",
		    pl->literal || pl->from_static ? NULL :
		    mxk_dnssec_name(pl->mx_dnssec));
		r |= mxk_json_kv_bool(&b, &first, "implicit_mx", pl->implicit);
		r |= mxk_json_kv_int(&b, &first, "plan_ms", pl->elapsed_ms);
		r |= mxk_json_key(&b, &first, "plan");
		r |= json_plan(&b, pl);
	}
	if (res != NULL) {
		r |= mxk_json_key(&b, &first, "attempts");
		r |= mxk_buf_addch(&b, '[');
		for (i = 0; i < res->natt; i++) {
			const struct mxk_net_attempt *a = &res->att[i];
			int f2 = 1;

			r |= mxk_buf_addstr(&b, i > 0 ? ",{" : "{");
			r |= mxk_json_kv_str(&b, &f2, "address", a->addr);
			r |= mxk_json_kv_str(&b, &f2, "host", proxy ?
			    pl->host[a->target].name :
			    pl->target[a->target].host);
			r |= mxk_json_kv_str(&b, &f2, "outcome",
			    mxk_net_outcome_name(a->outcome));
			r |= mxk_json_kv_int(&b, &f2, "started_ms",
			    a->started_ms);
			r |= mxk_json_kv_int(&b, &f2, "elapsed_ms",
			    a->elapsed_ms);
			r |= mxk_json_kv_str(&b, &f2, "detail",
			    a->detail[0] != '\0' ? a->detail : NULL);
			r |= mxk_buf_addch(&b, '}');
		}
		r |= mxk_buf_addch(&b, ']');
	}
	if (connected) {
		int f2 = 1;

		r |= mxk_json_key(&b, &first, "connected");
		r |= mxk_buf_addch(&b, '{');
		r |= mxk_json_kv_str(&b, &f2, "host", res->host);
		r |= mxk_json_kv_int(&b, &f2, "pref", res->pref);
		r |= mxk_json_kv_str(&b, &f2, "address", winner_addr(res));
		r |= mxk_json_kv_str(&b, &f2, "dnssec",
		    mxk_dnssec_name(res->dnssec));
		r |= mxk_json_kv_int(&b, &f2, "code", res->greeting.code);
		r |= mxk_json_kv_str(&b, &f2, "greeting", res->greeting.text);
		r |= mxk_buf_addch(&b, '}');
	}
	if (e != NULL && e->class != MXK_ERR_OK) {
		r |= mxk_json_kv_str(&b, &first, "error", e->msg);
		r |= mxk_json_kv_str(&b, &first, "status", e->status[0] !=
		    '\0' ? e->status : NULL);
	}
	r |= mxk_json_kv_int(&b, &first, "exit", code);
	r |= mxk_buf_addch(&b, '}');
	if (r != 0)
		(void)fprintf(stderr, "%s: warning: JSON output truncated\n",
		    PROG);
	else
		(void)printf("%s\n", b.p);
	mxk_buf_free(&b);
}

/* Modes after connecting. */

static void
set_env_addr(const char *ipname, const char *portname, int fd, int peer)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 ip[MXK_NET_ADDRSTRLEN], port[16];
	int			 r;

	r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) :
	    getsockname(fd, (struct sockaddr *)&ss, &len);
	if (r == -1)
		return;
	(void)setenv(ipname, mxk_net_addr_str((struct sockaddr *)&ss, ip,
	    sizeof(ip)), 1);
	(void)snprintf(port, sizeof(port), "%d",
	    mxk_net_addr_port((struct sockaddr *)&ss));
	(void)setenv(portname, port, 1);
}

/*
 * UCSPI client convention (s6-tcpclient, tcpclient): the program reads
 * the connection on fd 6 and writes it on fd 7; the greeting is unread.
 */
static int
run_exec(const struct opts *o, const struct mxk_route_result *res)
{
	char	num[16];
	int	fd = res->fd, fl;

	set_env_addr("TCPREMOTEIP", "TCPREMOTEPORT", fd, 1);
	set_env_addr("TCPLOCALIP", "TCPLOCALPORT", fd, 0);
	(void)setenv("PROTO", "TCP", 1);
	(void)setenv("MXHOST", res->host != NULL ? res->host : "", 1);
	(void)snprintf(num, sizeof(num), "%u", res->pref);
	(void)setenv("MXPREF", num, 1);
	(void)setenv("MXDNSSEC", mxk_dnssec_name(res->dnssec), 1);
	/* The program expects a blocking socket. */
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		(void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if (fd != 6 && dup2(fd, 6) == -1) {
		(void)fprintf(stderr, "%s: error: dup2: %s\n", PROG,
		    strerror(errno));
		return EX_OSERR;
	}
	if (dup2(6, 7) == -1) {
		(void)fprintf(stderr, "%s: error: dup2: %s\n", PROG,
		    strerror(errno));
		return EX_OSERR;
	}
	if (fd != 6 && fd != 7)
		(void)close(fd);
	(void)fcntl(6, F_SETFD, 0);
	(void)fcntl(7, F_SETFD, 0);
	(void)signal(SIGPIPE, SIG_DFL);
	execvp(o->prog, o->prog_argv);
	(void)fprintf(stderr, "%s: error: cannot run %s: %s\n", PROG, o->prog,
	    strerror(errno));
	return errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR;
}

/* Copy stdin to the socket and the socket to stdout until both end. */
static int
run_pipe(const struct opts *o, int fd)
{
	char		 in[4096], out[2 * sizeof(in)];
	struct pollfd	 pfd[2];
	int		 in_open = 1, net_open = 1, prev_cr = 0;
	long long	 close_deadline = MXK_DEADLINE_NONE;
	ssize_t		 n, i;
	size_t		 m;
	struct mxk_err	 e;

	while (net_open) {
		pfd[0].fd = in_open ? 0 : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, in_open ? -1 : mxk_ms_left(close_deadline))
		    == -1) {
			if (errno == EINTR)
				continue;
			(void)fprintf(stderr, "%s: error: poll: %s\n", PROG,
			    strerror(errno));
			return EX_OSERR;
		}
		if (!in_open && mxk_ms_left(close_deadline) == 0) {
			(void)fprintf(stderr, "%s: warning: the server did "
			    "not close the connection; closing\n", PROG);
			break;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = read(fd, in, sizeof(in));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0) {
				net_open = 0;
				break;
			}
			if (fwrite(in, 1, (size_t)n, stdout) != (size_t)n ||
			    fflush(stdout) == EOF)
				return EX_IOERR;
		}
		if (in_open && (pfd[0].revents & (POLLIN | POLLHUP))) {
			n = read(0, in, sizeof(in));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				in_open = 0;
				(void)shutdown(fd, SHUT_WR);
				/* Give the server time to answer and close. */
				close_deadline = mxk_deadline_in(10000);
				continue;
			}
			for (i = 0, m = 0; i < n; i++) {
				if (o->crlf && in[i] == '\n' && !prev_cr)
					out[m++] = '\r';
				prev_cr = in[i] == '\r';
				out[m++] = in[i];
			}
			if (mxk_net_write_all(fd, out, m,
			    mxk_deadline_in(o->timeout), &e) == -1) {
				(void)fprintf(stderr, "%s: error: %s\n", PROG,
				    e.msg);
				return EX_TEMPFAIL;
			}
		}
	}
	(void)close(fd);
	return 0;
}

/* Politely end a report-mode session. */
static void
say_quit(int fd, long long timeout)
{
	struct mxk_reply	r;
	struct mxk_err		e;
	char			buf[4096];
	size_t			used;
	long long		dl = mxk_deadline_in(timeout < 5000 ? timeout :
				    5000);
	ssize_t			n;

	/* Consume the greeting we only peeked at, then QUIT. */
	if (mxk_route_peek_reply(fd, dl, &r, &e) == 1) {
		n = recv(fd, buf, sizeof(buf), MSG_PEEK);
		if (n > 0 && mxk_reply_parse(buf, (size_t)n, NULL, &r, &used,
		    &e) == 1)
			(void)recv(fd, buf, used, 0);
	}
	if (mxk_net_write_all(fd, "QUIT\r\n", 6, dl, &e) == 0)
		(void)mxk_route_peek_reply(fd, dl, &r, &e);
}

/* The attempt that won (attempts are in start order, not end order). */
static const char *
winner_addr(const struct mxk_route_result *res)
{
	size_t	i;

	for (i = 0; i < res->natt; i++)
		if (res->att[i].outcome == MXK_NET_CONNECTED)
			return res->att[i].addr;
	return "-";
}

static int
exit_code(const struct mxk_err *e)
{
	return mxk_err_exitcode(e);
}

static int
plan_failure(const struct mxk_mx_plan *pl, struct mxk_err *e)
{
	switch (pl->result) {
	case MXK_MX_NXDOMAIN:
		return mxk_err_set(e, MXK_ERR_NOHOST, MXK_SRC_DNS, "5.1.2",
		    "%s", pl->why);
	case MXK_MX_NULLMX:
		return mxk_err_set(e, MXK_ERR_NOHOST, MXK_SRC_DNS, "5.1.10",
		    "%s", pl->why);
	case MXK_MX_TEMPFAIL:
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, "4.4.3",
		    "%s", pl->why);
	default:
		break;
	}
	if (pl->ntarget == 0) {
		if (pl->nlookupfail > 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS,
			    "4.4.3", "%s: no usable MX host: address lookups "
			    "failed", pl->domain);
		return mxk_err_set(e, MXK_ERR_PERM, MXK_SRC_POLICY, "5.4.4",
		    "%s: no usable MX host: every route was skipped",
		    pl->domain);
	}
	return 0;
}

/* --starttls: what each MX tried showed, as text or JSON. */

struct tls_report {
	const struct opts	*o;
	const struct mxk_mx_plan *pl;
	struct mxk_buf		 json;	/* "tries" array elements */
	size_t			 ntries;
};

static void
fmt_time(long long t, char *buf, size_t len)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (t < 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, len, "-");
}

/* TLSA records for the presented chain: 3 1 1 and 3 0 1 for the leaf,
 * 2 0 1 and 2 1 1 for each issuer (RFC 7671 §5.1, §5.2). */
static int
tlsa_lines(struct mxk_tls *t, const char *host, int port, struct mxk_buf *b,
    int json)
{
	static const unsigned char forms[2][2][3] = {
		{ { 3, 1, 1 }, { 3, 0, 1 } },	/* the leaf */
		{ { 2, 0, 1 }, { 2, 1, 1 } }	/* an issuer */
	};
	const unsigned char	*der[MXK_TLS_MAXCHAIN];
	unsigned char		 data[64];
	size_t			 len[MXK_TLS_MAXCHAIN], n, i, dl;
	struct mxk_tlsa		 rec;
	char			 line[256];
	int			 k, r = 0, first = 1;

	n = mxk_tls_chain(t, der, len, MXK_TLS_MAXCHAIN);
	for (i = 0; i < n; i++) {
		for (k = 0; k < 2; k++) {
			const unsigned char *f = forms[i > 0][k];

			dl = sizeof(data);
			if (mxk_dane_tlsa_data(der[i], len[i], f[1], f[2],
			    data, &dl) == -1)
				continue;
			rec.usage = f[0];
			rec.selector = f[1];
			rec.mtype = f[2];
			rec.data = data;
			rec.len = dl;
			if (mxk_dane_tlsa_format(&rec, line, sizeof(line)) ==
			    -1)
				continue;
			if (json) {
				r |= mxk_buf_addstr(b, first ? "" : ",");
				r |= mxk_json_str(b, line);
				first = 0;
			} else
				(void)printf("_%d._tcp.%s. IN TLSA %s\n",
				    port, host, line);
		}
	}
	return r;
}

static void
print_peer_text(const struct tls_report *tr, const struct mxk_mx_host *h,
    const struct mxk_starttls_result *sr)
{
	struct mxk_tls_peer	 peer;
	struct mxk_err		 e;
	char			 nb[32], na[32], hex[65];
	size_t			 i;

	if (mxk_tls_peer_info(sr->session, &peer, &e) == -1)
		return;
	(void)printf("tls %s %s%s%s\n", peer.protocol, peer.cipher,
	    peer.group[0] != '\0' ? " group " : "", peer.group);
	for (i = 0; i < peer.nchain; i++) {
		const struct mxk_tls_cert_info *ci = &peer.chain[i];

		fmt_time(ci->not_before, nb, sizeof(nb));
		fmt_time(ci->not_after, na, sizeof(na));
		(void)mxk_dane_hex(ci->spki_sha256, 32, hex, sizeof(hex));
		(void)printf("cert %zu subject %s\n", i, ci->subject);
		(void)printf("cert %zu issuer %s\n", i, ci->issuer);
		if (ci->san[0] != '\0')
			(void)printf("cert %zu san %s\n", i, ci->san);
		(void)printf("cert %zu valid %s %s\n", i, nb, na);
		(void)printf("cert %zu spki-sha256 %s\n", i, hex);
	}
	if (tr->o->print_tlsa)
		(void)tlsa_lines(sr->session, h->name, tr->o->port, NULL, 0);
}

static int
json_peer(struct mxk_buf *b, int *first, const struct tls_report *tr,
    const struct mxk_mx_host *h, const struct mxk_starttls_result *sr)
{
	struct mxk_tls_peer	 peer;
	struct mxk_err		 e;
	char			 nb[32], na[32], hex[65];
	size_t			 i;
	int			 r = 0;

	if (mxk_tls_peer_info(sr->session, &peer, &e) == -1)
		return 0;
	r |= mxk_json_kv_str(b, first, "protocol", peer.protocol);
	r |= mxk_json_kv_str(b, first, "cipher", peer.cipher);
	r |= mxk_json_kv_str(b, first, "group", peer.group[0] != '\0' ?
	    peer.group : NULL);
	r |= mxk_json_key(b, first, "chain");
	r |= mxk_buf_addch(b, '[');
	for (i = 0; i < peer.nchain; i++) {
		const struct mxk_tls_cert_info *ci = &peer.chain[i];
		int f2 = 1;

		fmt_time(ci->not_before, nb, sizeof(nb));
		fmt_time(ci->not_after, na, sizeof(na));
		(void)mxk_dane_hex(ci->spki_sha256, 32, hex, sizeof(hex));
		r |= mxk_buf_addstr(b, i > 0 ? ",{" : "{");
		r |= mxk_json_kv_str(b, &f2, "subject", ci->subject);
		r |= mxk_json_kv_str(b, &f2, "issuer", ci->issuer);
		r |= mxk_json_kv_str(b, &f2, "san", ci->san);
		r |= mxk_json_kv_str(b, &f2, "not_before", nb);
		r |= mxk_json_kv_str(b, &f2, "not_after", na);
		r |= mxk_json_kv_str(b, &f2, "spki_sha256", hex);
		r |= mxk_buf_addch(b, '}');
	}
	r |= mxk_buf_addch(b, ']');
	if (tr->o->print_tlsa) {
		r |= mxk_json_key(b, first, "tlsa");
		r |= mxk_buf_addch(b, '[');
		r |= tlsa_lines(sr->session, h->name, tr->o->port, b, 1);
		r |= mxk_buf_addch(b, ']');
	}
	return r;
}

static const char *
verdict_name(const struct mxk_starttls_result *sr)
{
	return sr->tls ? mxk_tls_trust_name(sr->trust) : "Cleartext";
}

static void
tls_report_cb(void *arg, const struct mxk_mx_host *h,
    const struct mxk_route_result *rr, const struct mxk_starttls_result *sr,
    const struct mxk_err *err)
{
	struct tls_report	*tr = arg;
	const struct opts	*o = tr->o;
	struct mxk_buf		*b = &tr->json;
	char			 first[256];
	size_t			 i;
	int			 f = 1, r = 0;

	if (o->quiet)
		return;
	if (!o->json) {
		print_attempts(rr, tr->pl, o->proxy != NULL);
		if (h == NULL)
			return;
		(void)printf("connected %s %s pref %u dnssec %s\n",
		    winner_addr(rr), h->name, h->pref,
		    mxk_dnssec_name(h->dnssec));
		if (sr->dane != MXK_DANE_NA || sr->tlsa_qname[0] != '\0')
			(void)printf("tlsa %s %s %s\n", sr->tlsa_qname[0] !=
			    '\0' ? sr->tlsa_qname : "-",
			    mxk_dane_state_name(sr->dane), sr->dane_why);
		if (sr->have_greeting)
			(void)printf("greeting %d %s\n", sr->greeting.code,
			    mxk_reply_first_line(&sr->greeting, first,
			    sizeof(first)));
		if (sr->tls)
			print_peer_text(tr, h, sr);
		if (sr->tls || sr->why[0] != '\0')
			(void)printf("verdict %s %s %s level %s: %s\n",
			    verdict_name(sr), h->name, winner_addr(rr),
			    mxk_tls_level_name(sr->level), sr->why);
		if (sr->sts != MXK_MTASTS_MODE_NONE)
			(void)printf("mta-sts %s %s %s: %s\n", h->name,
			    mxk_mtasts_mode_name(sr->sts), sr->stsv.report ?
			    "fail" : "pass", sr->stsv.why);
		if (err != NULL)
			(void)printf("failed %s %s: %s\n", h->name,
			    winner_addr(rr), err->msg);
		return;
	}

	/* JSON: one element of "tries" per round. */
	r |= mxk_buf_addstr(b, tr->ntries++ > 0 ? ",{" : "{");
	r |= mxk_json_key(b, &f, "attempts");
	r |= mxk_buf_addch(b, '[');
	for (i = 0; i < rr->natt; i++) {
		const struct mxk_net_attempt *a = &rr->att[i];
		int f2 = 1;

		r |= mxk_buf_addstr(b, i > 0 ? ",{" : "{");
		r |= mxk_json_kv_str(b, &f2, "address", a->addr);
		r |= mxk_json_kv_str(b, &f2, "outcome",
		    mxk_net_outcome_name(a->outcome));
		r |= mxk_json_kv_int(b, &f2, "elapsed_ms", a->elapsed_ms);
		r |= mxk_json_kv_str(b, &f2, "detail", a->detail[0] != '\0' ?
		    a->detail : NULL);
		r |= mxk_buf_addch(b, '}');
	}
	r |= mxk_buf_addch(b, ']');
	if (h != NULL) {
		r |= mxk_json_kv_str(b, &f, "host", h->name);
		r |= mxk_json_kv_int(b, &f, "pref", h->pref);
		r |= mxk_json_kv_str(b, &f, "address", winner_addr(rr));
		r |= mxk_json_kv_str(b, &f, "dnssec",
		    mxk_dnssec_name(h->dnssec));
		r |= mxk_json_kv_str(b, &f, "level",
		    mxk_tls_level_name(sr->level));
		r |= mxk_json_kv_str(b, &f, "dane",
		    mxk_dane_state_name(sr->dane));
		r |= mxk_json_kv_str(b, &f, "tlsa_qname",
		    sr->tlsa_qname[0] != '\0' ? sr->tlsa_qname : NULL);
		r |= mxk_json_kv_str(b, &f, "dane_why", sr->dane_why[0] !=
		    '\0' ? sr->dane_why : NULL);
		if (sr->have_greeting) {
			r |= mxk_json_kv_int(b, &f, "code", sr->greeting.code);
			r |= mxk_json_kv_str(b, &f, "greeting",
			    sr->greeting.text);
		}
		r |= mxk_json_kv_bool(b, &f, "starttls_offered", sr->offered);
		r |= mxk_json_kv_bool(b, &f, "tls", sr->tls);
		if (sr->tls || sr->why[0] != '\0') {
			r |= mxk_json_kv_str(b, &f, "verdict",
			    verdict_name(sr));
			r |= mxk_json_kv_str(b, &f, "why", sr->why);
		}
		if (sr->tls)
			r |= json_peer(b, &f, tr, h, sr);
		if (sr->sts != MXK_MTASTS_MODE_NONE) {
			r |= mxk_json_kv_str(b, &f, "mta_sts",
			    mxk_mtasts_mode_name(sr->sts));
			r |= mxk_json_kv_bool(b, &f, "mta_sts_ok",
			    !sr->stsv.report);
			r |= mxk_json_kv_str(b, &f, "mta_sts_why",
			    sr->stsv.why);
		}
	}
	if (err != NULL) {
		r |= mxk_json_kv_str(b, &f, "error", err->msg);
		r |= mxk_json_kv_str(b, &f, "status", err->status[0] != '\0' ?
		    err->status : NULL);
	}
	r |= mxk_buf_addch(b, '}');
	if (r != 0)
		mxk_log(MXK_LOG_WARN, "JSON output truncated");
}

/*
 * The MTA-STS policy of the domain (RFC 8461 §5.1) through the shared
 * cache (none when it cannot be opened, unless --mta-sts-cache named it).
 * 0, or -1 with e set (the named cache is unusable).
 */
static int
sts_discover(const struct opts *o, struct mxk_dns *dns, const char *domain,
    long long deadline, struct mxk_mtasts_result *sr, struct mxk_err *e)
{
	struct mxk_mtasts_cache		*cache = NULL;
	struct mxk_mtasts_params	 mtp;
	struct mxk_err			 de;
	const char			*names[1];
	char				 dir[PATH_MAX];

	mxk_err_clear(&de);
	if (o->sts_cache != NULL) {
		if (mxk_mtasts_cache_open(o->sts_cache,
		    MXK_MTASTS_CACHE_CREATE, &cache, e) == -1) {
			mxk_err_prefix(e, "--mta-sts-cache");
			e->class = MXK_ERR_CONFIG;
			return -1;
		}
	} else if (mxk_mtasts_cache_default(dir, sizeof(dir)) == -1 ||
	    mxk_mtasts_cache_open(dir, MXK_MTASTS_CACHE_CREATE, &cache,
	    &de) == -1)
		mxk_log(MXK_LOG_INFO, "MTA-STS: no policy cache: %s",
		    de.msg[0] != '\0' ? de.msg : "no directory");
	memset(&mtp, 0, sizeof(mtp));
	mtp.cafile = o->cafile;
	if (mtp.cafile == NULL && (mtp.cafile = getenv("SSL_CERT_FILE")) !=
	    NULL && mtp.cafile[0] == '\0')
		mtp.cafile = NULL;
	mtp.connect_timeout_ms = (int)(o->connect_timeout > INT_MAX ?
	    INT_MAX : o->connect_timeout);
	mtp.fetch_timeout_ms = 60000;
	names[0] = domain;
	memset(sr, 0, sizeof(*sr));
	if (mxk_mtasts_discover(dns, cache, &mtp, names, 1, deadline, sr,
	    &de) == -1) {
		mxk_log(MXK_LOG_WARN, "%s: MTA-STS discovery failed: %s "
		    "(going on without a policy)", domain, de.msg);
		mxk_mtasts_result_clear(sr);
		memset(sr, 0, sizeof(*sr));
	}
	mxk_mtasts_cache_close(cache);
	return 0;
}

static int
run_starttls(const struct opts *o, const char *target, struct mxk_dns *dns,
    struct mxk_mx_plan *pl, const struct mxk_route_params *rp,
    struct mxk_net_attempt *att, size_t natt)
{
	struct mxk_starttls_params	 sp;
	struct mxk_starttls_conn	 c;
	struct mxk_mtasts_result	 sr;
	struct tls_report		 tr;
	struct mxk_err			 e;
	size_t				 i;
	int				 code, rc;

	mxk_starttls_params_init(&sp);
	sp.policy = (enum mxk_tls_policy)o->tls_policy;
	sp.port = o->port;
	sp.tls.priority = o->tls_priority;
	sp.tls.cafile = o->cafile;
	sp.tls.certfile = o->certfile;
	sp.tls.keyfile = o->keyfile;
	sp.cmd_timeout_ms = (int)(o->greeting_timeout > INT_MAX ? INT_MAX :
	    o->greeting_timeout);
	sp.tls_timeout_ms = sp.cmd_timeout_ms;
	sp.ehlo = o->ehlo;	/* NULL: the library's default */
	memset(&tr, 0, sizeof(tr));
	tr.o = o;
	tr.pl = pl;
	mxk_buf_init(&tr.json, 1 << 20);
	memset(&c, 0, sizeof(c));
	memset(&sr, 0, sizeof(sr));
	c.route.att = att;
	c.route.natt = natt;
	mxk_err_clear(&e);

	/* MTA-STS (RFC 8461) under the auto policy, for a domain's MXes. */
	rc = 0;
	if (sp.policy == MXK_TLSPOL_AUTO && !o->no_mta_sts && !pl->literal) {
		rc = sts_discover(o, dns, pl->domain, rp->net.deadline, &sr,
		    &e);
		sp.sts = sr.eff.policy;
		sp.sts_domain = pl->domain;
		if (rc == 0 && sp.sts != NULL && !o->quiet && !o->json)
			(void)printf("mta-sts %s mode %s id %s max_age %lld "
			    "source %s\n", pl->domain, mxk_mtasts_mode_name(
			    mxk_mtasts_policy_mode(sp.sts)), sr.eff.id,
			    mxk_mtasts_policy_max_age(sp.sts), sr.from_cache ?
			    "cache" : "fetch");
		if (rc == 0 && sp.sts != NULL && mxk_mtasts_policy_mode(sp.sts)
		    == MXK_MTASTS_MODE_ENFORCE) {
			size_t left = mxk_starttls_sts_filter(pl, dns, &sp,
			    rp->net.deadline);

			for (i = 0; i < pl->nhost && !o->quiet && !o->json;
			    i++)
				if (pl->host[i].skip == MXK_MX_SKIP_POLICY)
					(void)printf("mta-sts skip %s: %s\n",
					    pl->host[i].name,
					    pl->host[i].why);
			if (left == 0) {
				(void)mxk_err_set(&e, MXK_ERR_TEMP,
				    MXK_SRC_TLS, "4.7.5", "%s: no MX host "
				    "matches the MTA-STS policy (mode "
				    "enforce, id %s)", pl->domain, sr.eff.id);
				rc = -1;
			}
		}
	}
	if (rc == 0)
		rc = mxk_starttls_connect(pl, rp, dns, &sp, tls_report_cb, &tr,
		    &c, &e);
	code = rc == 0 ? 0 : exit_code(&e);
	if (o->json) {
		struct mxk_buf	b;
		int		first = 1, r = 0;

		mxk_buf_init(&b, 2 << 20);
		r |= mxk_buf_addch(&b, '{');
		r |= mxk_json_kv_str(&b, &first, "target", target);
		r |= mxk_json_kv_str(&b, &first, "domain", pl->domain);
		r |= mxk_json_kv_str(&b, &first, "mx_dnssec",
		    pl->literal || pl->from_static ? NULL :
		    mxk_dnssec_name(pl->mx_dnssec));
		r |= mxk_json_kv_str(&b, &first, "tls_policy",
		    mxk_tls_policy_name(sp.policy));
		if (sp.sts != NULL) {
			int f2 = 1;

			r |= mxk_json_key(&b, &first, "mta_sts");
			r |= mxk_buf_addch(&b, '{');
			r |= mxk_json_kv_str(&b, &f2, "mode",
			    mxk_mtasts_mode_name(mxk_mtasts_policy_mode(
			    sp.sts)));
			r |= mxk_json_kv_str(&b, &f2, "id", sr.eff.id);
			r |= mxk_json_kv_int(&b, &f2, "max_age",
			    mxk_mtasts_policy_max_age(sp.sts));
			r |= mxk_json_kv_str(&b, &f2, "source",
			    sr.from_cache ? "cache" : "fetch");
			r |= mxk_buf_addch(&b, '}');
		}
		r |= mxk_json_key(&b, &first, "plan");
		r |= json_plan(&b, pl);
		r |= mxk_json_key(&b, &first, "tries");
		r |= mxk_buf_addch(&b, '[');
		r |= mxk_buf_add(&b, tr.json.p != NULL ? tr.json.p : "",
		    tr.json.len);
		r |= mxk_buf_addch(&b, ']');
		if (rc == 0) {
			r |= mxk_json_kv_str(&b, &first, "host", c.host->name);
			r |= mxk_json_kv_str(&b, &first, "verdict",
			    verdict_name(&c.res));
			r |= mxk_json_kv_str(&b, &first, "level",
			    mxk_tls_level_name(c.res.level));
		} else {
			r |= mxk_json_kv_str(&b, &first, "error", e.msg);
			r |= mxk_json_kv_str(&b, &first, "status",
			    e.status[0] != '\0' ? e.status : NULL);
		}
		r |= mxk_json_kv_int(&b, &first, "exit", code);
		r |= mxk_buf_addch(&b, '}');
		if (r != 0)
			(void)fprintf(stderr, "%s: warning: JSON output "
			    "truncated\n", PROG);
		else
			(void)printf("%s\n", b.p);
		mxk_buf_free(&b);
	} else if (rc == -1 && !o->quiet) {
		(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		if (code == EX_TEMPFAIL)
			(void)fprintf(stderr, "%s: this is temporary: try "
			    "again later\n", PROG);
	}
	mxk_buf_free(&tr.json);
	mxk_starttls_conn_close(&c, 1);
	mxk_mtasts_result_clear(&sr);
	return code;
}

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct mxk_addr		 ta;
	struct mxk_err		 e;
	struct mxk_dns		*dns = NULL;
	struct mxk_dns_params	 dp;
	struct mxk_mx_params	 mp;
	struct mxk_mx_plan	*pl = NULL;
	struct mxk_route_params	 rp;
	struct mxk_route_result	 res;
	struct mxk_net_attempt	 att[MAXATT];
	struct mxk_net_proxy	 proxy;
	struct sockaddr_storage	 l4, l6, psa;
	socklen_t		 l4len = 0, l6len = 0, psalen = 0;
	const char		*target;
	long long		 deadline;
	int			 code, connected = 0;
	char			 first[256];

	(void)signal(SIGPIPE, SIG_IGN);
	/* fds 0, 1, 2 must be open, or a socket could land on them. */
	while ((code = open("/dev/null", O_RDWR)) != -1 && code <= 2)
		;
	if (code > 2)
		(void)close(code);

	parse_args(argc, argv, &o, &target);
	mxk_log_init_stderr(PROG, o.quiet ? -1 : o.verbose);
	mxk_err_clear(&e);
	memset(&res, 0, sizeof(res));
	res.fd = -1;
	deadline = mxk_deadline_in(o.timeout);

	if (o.local != NULL) {
		struct sockaddr_storage	ss;
		socklen_t		len;

		switch (parse_local(o.local, &ss, &len, 0)) {
		case AF_INET:
			l4 = ss;
			l4len = len;
			break;
		case AF_INET6:
			l6 = ss;
			l6len = len;
			break;
		default:
			die_usage("--local-address %s: not an IP address",
			    o.local);
		}
	}
	if (o.local4 != NULL &&
	    (int)(l4len = 0, parse_local(o.local4, &l4, &l4len, AF_INET)) ==
	    -1)
		die_usage("--local-address-v4 %s: not an IPv4 address",
		    o.local4);
	if (o.local6 != NULL &&
	    parse_local(o.local6, &l6, &l6len, AF_INET6) == -1)
		die_usage("--local-address-v6 %s: not an IPv6 address",
		    o.local6);

	if (mxk_addr_parse_target(&ta, target, strlen(target), &e) == -1) {
		if (!o.quiet && !o.json)
			(void)fprintf(stderr, "%s: error: invalid target "
			    "\"%s\": %s\n", PROG, target, e.msg);
		code = EX_DATAERR;
		if (o.json)
			print_json(target, NULL, NULL, 0, 0, &e, code);
		return code;
	}

	memset(&mp, 0, sizeof(mp));
	mp.port = o.port;
	mp.family = o.family;
	mp.prefer_ipv6 = o.prefer_ipv6;
	mp.shuffle = o.shuffle;
	mp.block_local = o.block_local;
	mp.ignore = o.ignore;
	mp.nignore = o.nignore;

	if (ta.is_literal) {
		if (mxk_mx_plan_addr(&ta, &mp, &pl, &e) == -1)
			goto fail;
	} else {
		long long dnsdl = mxk_deadline_in(o.dns_timeout);

		memset(&dp, 0, sizeof(dp));
		dp.resolver = o.resolver;
		dp.trust_ad = o.trust_ad;
		if (mxk_dns_open(&dns, &dp, &e) == -1)
			goto fail;
		if (o.verbose > 0) {
			size_t	i;
			char	srv[80];
			int	trusted;

			for (i = 0; i < mxk_dns_nservers(dns); i++)
				if (mxk_dns_server(dns, i, srv, sizeof(srv),
				    &trusted) == 0)
					mxk_log(MXK_LOG_INFO, "resolver %s (AD "
					    "%s)", srv, trusted ? "trusted" :
					    "not trusted");
		}
		if (mxk_mx_plan(dns, ta.domain, &mp, o.nmx > 0 ? o.mx : NULL,
		    o.nmx, dnsdl < deadline ? dnsdl : deadline, &pl, &e) == -1)
			goto fail;
		mxk_log(MXK_LOG_INFO, "%s: plan ready in %lld ms", ta.domain,
		    pl->elapsed_ms);
	}

	if (o.proxy == NULL && plan_failure(pl, &e) == -1)
		goto fail;
	if (o.proxy != NULL && pl->result != MXK_MX_OK) {
		(void)plan_failure(pl, &e);
		goto fail;
	}

	if (o.mode == MODE_PLAN) {
		if (o.json)
			print_json(target, pl, NULL, 0, 0, &e, 0);
		else if (!o.quiet) {
			print_plan_lines(pl);
			if (o.verbose > 0)
				print_skips_stderr(pl);
		}
		mxk_mx_plan_free(pl);
		mxk_dns_close(dns);
		return 0;
	}
	if (!o.quiet && !o.json && o.mode == MODE_REPORT) {
		(void)printf("domain %s%s%s mx-dnssec %s%s\n", pl->domain,
		    ta.utf8_domain ? " " : "", ta.utf8_domain ?
		    ta.domain_utf8 : "", pl->literal ? "-" : pl->from_static ?
		    "static" : mxk_dnssec_name(pl->mx_dnssec),
		    pl->implicit ? " implicit-mx" : "");
		print_plan(pl, 1);
	} else if (!o.quiet && !o.json)
		print_skips_stderr(pl);

	mxk_route_params_init(&rp);
	rp.net.connect_timeout_ms = (int)(o.connect_timeout > INT_MAX ?
	    INT_MAX : o.connect_timeout);
	rp.net.attempt_delay_ms = (int)(o.attempt_delay > INT_MAX ? INT_MAX :
	    o.attempt_delay);
	rp.net.deadline = deadline;
	if (l4len > 0) {
		rp.net.local4 = (struct sockaddr *)&l4;
		rp.net.local4len = l4len;
	}
	if (l6len > 0) {
		rp.net.local6 = (struct sockaddr *)&l6;
		rp.net.local6len = l6len;
	}
	rp.greeting_timeout_ms = (int)(o.greeting_timeout > INT_MAX ?
	    INT_MAX : o.greeting_timeout);
	rp.port = o.port;
	if (o.proxy != NULL) {
		proxy = o.px;
		psa = o.pxsa;
		psalen = o.pxsalen;
		if (psa.ss_family == AF_INET)
			((struct sockaddr_in *)&psa)->sin_port =
			    htons((unsigned short)proxy.port);
		else
			((struct sockaddr_in6 *)&psa)->sin6_port =
			    htons((unsigned short)proxy.port);
		rp.proxy = &proxy;
		rp.proxy_sa = (struct sockaddr *)&psa;
		rp.proxy_salen = psalen;
	}
	if (o.starttls) {
		code = run_starttls(&o, target, dns, pl, &rp, att, MAXATT);
		mxk_mx_plan_free(pl);
		mxk_dns_close(dns);
		return code;
	}
	res.att = att;
	res.natt = MAXATT;
	if (mxk_route_connect(pl, &rp, &res, &e) == -1) {
		if (!o.quiet && !o.json && o.mode == MODE_REPORT)
			print_attempts(&res, pl, o.proxy != NULL);
		goto fail;
	}
	connected = 1;
	mxk_log(MXK_LOG_INFO, "connected to %s (%s)", winner_addr(&res),
	    res.host);

	switch (o.mode) {
	case MODE_EXEC:
		if (o.json)
			print_json(target, pl, &res, 1, o.proxy != NULL, &e, 0);
		(void)fflush(stdout);
		code = run_exec(&o, &res);
		break;
	case MODE_PIPE:
		code = run_pipe(&o, res.fd);
		break;
	default:
		if (o.json)
			print_json(target, pl, &res, 1, o.proxy != NULL, &e, 0);
		else if (!o.quiet) {
			print_attempts(&res, pl, o.proxy != NULL);
			(void)printf("connected %s %s pref %u dnssec %s\n",
			    winner_addr(&res), res.host, res.pref,
			    mxk_dnssec_name(res.dnssec));
			(void)printf("greeting %d %s\n", res.greeting.code,
			    mxk_reply_first_line(&res.greeting, first,
			    sizeof(first)));
		}
		say_quit(res.fd, o.timeout);
		(void)close(res.fd);
		code = 0;
		break;
	}
	mxk_mx_plan_free(pl);
	mxk_dns_close(dns);
	return code;

fail:
	code = exit_code(&e);
	if (o.json)
		print_json(target, pl, res.att != NULL ? &res : NULL, connected,
		    o.proxy != NULL, &e, code);
	else if (!o.quiet)
		(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
	if (!o.quiet && !o.json && code == EX_TEMPFAIL)
		(void)fprintf(stderr, "%s: this is temporary: try again "
		    "later\n", PROG);
	mxk_mx_plan_free(pl);
	mxk_dns_close(dns);
	return code;
}
