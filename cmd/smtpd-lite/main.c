/* ISC license. */

/*
 * smtpd-lite: a small SMTP/LMTP receiver.  One event-driven process
 * (epoll) serves every session; the protocol is lib/smtpd (no I/O), the
 * delivery lib/store, TLS lib/tls, AUTH lib/passwd.  Options, the loop
 * and logging only.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "check.h"
#include "cli.h"
#include "clock.h"
#include "dns.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "net.h"
#include "passwd.h"
#include "smtpd.h"
#include "store.h"
#include "tls.h"

#define PROG		"smtpd-lite"
#define MAXLISTEN	16
#define MAXDOMAINS	256
#define READBUF		(64 * 1024)
#define OUT_HIGH	(256 * 1024)	/* stop reading a client that does
					 * not read its replies */
#define MAXHOLDS	16		/* delayed replies queued per session */
#define MAXDNSBL	16		/* --dnsbl zones */
#define MAXWORKERS	64
/* epoll tags below any pointer: listeners 0..MAXLISTEN-1, then these. */
#define TAG_DNS		(MAXLISTEN + 0)
#define TAG_CHECK	(MAXLISTEN + 1)
#define TAG_JOBS	(MAXLISTEN + 2)
#define MAXTHREADS	64
/* --busy-poll auto: BP_AUTO_US per poll; polling on while the score is
 * BP_ON or more, a find adds BP_HIT, a miss takes BP_MISS (so it stays
 * on while more than two polls in three find something); when off, one
 * wait in BP_PROBE polls to see whether it would pay again. */
#define BP_AUTO_US	50
#define BP_ON		8
#define BP_MAX		16
#define BP_HIT		2
#define BP_MISS		4
#define BP_PROBE	64
#define AUTHMAX		4	/* AUTH jobs waiting per store thread */
#define TAG_MAX		(MAXLISTEN + 8)
#define REAPMAX		512	/* sessions touched by one loop batch */
#define WALK_MS		200	/* timers()' walk, at least this often */

/*
 * Fault injection points: the connection, each command, and the end of a
 * message (DOT: the final dot, or the end of the BDAT LAST chunk).
 */
enum point {
	P_CONNECT, P_EHLO, P_HELO, P_LHLO, P_MAIL, P_RCPT, P_DATA, P_BDAT,
	P_DOT, P_RSET, P_NOOP, P_QUIT, P_VRFY, P_HELP, P_STARTTLS, P_AUTH,
	P__COUNT
};

static const char *const point_names[P__COUNT] = {
	"CONNECT", "EHLO", "HELO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT",
	"DOT", "RSET", "NOOP", "QUIT", "VRFY", "HELP", "STARTTLS", "AUTH"
};

struct fault {
	int			 reply_set;
	struct mxk_smtpd_reply	 reply;
	long long		 delay;		/* ms; 0: none */
	int			 drop;
};

struct opts {
	const char	*listen[MAXLISTEN];
	size_t		 nlisten;
	int		 stdio;
	const char	*user;
	const char	*hostname;
	unsigned long long max_size;
	size_t		 max_rcpt;
	int		 max_clients, max_per_ip;
	unsigned	 max_auth_fail;		/* 0: no limit */
	long long	 auth_fail_window;
	long long	 timeout, data_timeout, greet_delay, shutdown_grace;
	const char	*certfile, *keyfile, *passwd;
	int		 require_tls, require_auth, auth_plaintext, lmtp, strict;
	enum mxk_store_kind kind;
	const char	*maildir;
	char		**argv_exec;
	const char	*domains[MAXDOMAINS];
	size_t		 ndomains;
	int		 verbose, use_syslog, json_log;
	int		 kind_set;
	struct fault	 faults[P__COUNT];
	int		 nfaults;
	double		 reject_rate;
	enum point	 reject_at;
	unsigned long long seed;
	int		 seed_set;
	const char	*dnsbl[MAXDNSBL];
	size_t		 ndnsbl;
	long long	 dnsbl_timeout;
	size_t		 dnsbl_cache;
	const char	*resolver;
	char		**argv_check;
	long long	 check_timeout;
	int		 workers;
	int		 threads;
	int		 busy_poll;	/* --busy-poll µs; 0: none */
	int		 busy_auto;	/* --busy-poll auto: only while it pays */
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
"usage: %s [options] -l ADDR:PORT... (--maildir DIR | --exec CMD [ARG...] |\n"
"           --discard)        (or sockets from systemd: LISTEN_FDS)\n"
"       %s --stdio [options] (--maildir DIR | --exec CMD [ARG...] | --discard)\n"
"\n"
"Receive mail by SMTP (or LMTP) and deliver it to a Maildir, a program or\n"
"nowhere; 250 is said only once the message is stored durably.\n"
"\n"
"  -l, --listen ADDR:PORT     listen there ([IPv6]:PORT; repeatable)\n"
"      --stdio                one session on stdin/stdout (inetd, tcpserver)\n"
"  -u, --user USER            drop privileges to USER after binding\n"
"      --workers N            N processes, each its own loop (SO_REUSEPORT)\n"
"      --store-threads N      threads for the fsyncs, --exec waits and AUTH\n"
"                             hashes, off the event loop (16; 0: none)\n"
"      --busy-poll USEC|auto  after events, poll USEC microseconds more\n"
"                             before sleeping (auto: 50, while it pays)\n"
"      --hostname NAME        name in the greeting (default: this host's)\n"
"      --maildir DIR          deliver to the Maildir DIR (%%d domain, %%u user)\n"
"      --exec CMD [ARG...] -- deliver to CMD's stdin (the rest of the line,\n"
"                             up to a lone --)\n"
"      --discard              accept and drop (benchmarks)\n"
"      --lmtp                 speak LMTP (RFC 2033)\n"
"      --accept-domain D      only recipients in D (repeatable)\n"
"      --max-size N           message size limit (30 MiB; k, M suffixes)\n"
"      --max-rcpt N           recipients per message (100)\n"
"      --max-clients N        sessions at once, all workers together (1000)\n"
"      --max-per-ip N         sessions per client address, likewise (20)\n"
"      --timeout T            time for each command before 421 (300s)\n"
"      --data-timeout T       the whole of DATA (600s)\n"
"      --greet-delay T        wait before the greeting; talkers refused (0)\n"
"      --cert FILE, --key FILE  offer STARTTLS with this certificate\n"
"      --require-tls          MAIL only after STARTTLS\n"
"      --passwd FILE          offer AUTH PLAIN LOGIN for user:crypt-hash lines\n"
"      --auth-plaintext       AUTH also without TLS\n"
"      --require-auth         MAIL only after AUTH\n"
"      --max-auth-fail N[/T]  after N failed AUTH from one client address\n"
"                             within T (10m), 454 4.7.0 to AUTH until T is over\n"
"      --strict               refuse bare CR or LF in messages\n"
"      --check CMD [ARG...] -- ask the long-running program CMD about each\n"
"                             recipient (a line protocol: see the manual)\n"
"      --check-timeout T      its answer's deadline (10s)\n"
"      --dnsbl ZONE           refuse clients ZONE lists, at RCPT (repeatable)\n"
"      --dnsbl-timeout T      how long the lookups may take (2s)\n"
"      --dnsbl-cache N        answers kept for their TTL (10000; 0: none)\n"
"      --resolver ADDR[:PORT] DNS resolver (default: /etc/resolv.conf)\n"
"      --json-log             one JSON record per message on stderr\n"
"Fault injection (for testing senders):\n"
"      --reply CMD=CODE[:TEXT]  answer CMD (EHLO, MAIL, RCPT, DATA, DOT...,\n"
"                             CONNECT) with CODE instead (repeatable)\n"
"      --delay CMD=MS         delay the reply to CMD (repeatable)\n"
"      --drop-after CMD       close the connection when CMD comes, no reply\n"
"      --reject-rate P        refuse a share P (0..1) of transactions, 451\n"
"      --reject-at CMD        where: MAIL, RCPT, DATA or DOT (DOT)\n"
"      --seed N               seed of --reject-rate's choice (random)\n"
"      --syslog               log to syslog (mail facility)\n"
"  -v, --verbose              the SMTP transcript (AUTH hidden)\n"
"  -h, --help                 this text\n"
"  -V, --version              the version\n"
"\n"
"T is seconds, or a number with ms, s or m.\n"
"Exit: 0 stopped by SIGTERM, 64 usage, 69 cannot listen, 78 configuration.\n",
	    PROG, PROG);
}

/* lib/cli writes the message; exiting is the program's part. */
#define die_usage(...)	exit(mxk_cli_usage(stderr, PROG, __VA_ARGS__))

/* At most 24 hours; e says "not a duration" or "out of range". */
static long long
duration(const char *name, const char *s, int allow_zero)
{
	struct mxk_err	e;
	long long	v;

	if (mxk_cli_duration(s, 86400000, 0, &v, &e) == -1)
		die_usage("%s %s: %s", name, s, e.msg);
	if (v == 0 && !allow_zero)
		die_usage("%s %s: out of range", name, s);
	return v;
}

static unsigned long long
number(const char *name, const char *s, unsigned long long max)
{
	char			*end;
	unsigned long long	 v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || s[0] == '-')
		die_usage("%s %s: not a number", name, s);
	if (*end == 'k' || *end == 'K') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end != '\0' || v == 0 || v > max)
		die_usage("%s %s: out of range", name, s);
	return v;
}

enum {
	OPT_STDIO = 256, OPT_HOSTNAME, OPT_MAILDIR, OPT_EXEC, OPT_DISCARD,
	OPT_LMTP, OPT_ACCEPT, OPT_MAXSIZE, OPT_MAXRCPT, OPT_MAXCLIENTS,
	OPT_MAXPERIP, OPT_TIMEOUT, OPT_DATATIMEOUT, OPT_GREETDELAY, OPT_CERT,
	OPT_KEY, OPT_REQTLS, OPT_PASSWD, OPT_AUTHPLAIN, OPT_REQAUTH,
	OPT_STRICT, OPT_JSONLOG, OPT_SYSLOG, OPT_REPLY, OPT_DELAY, OPT_DROP,
	OPT_REJRATE, OPT_REJAT, OPT_SEED, OPT_DNSBL, OPT_DNSBLTIMEOUT,
	OPT_RESOLVER, OPT_CHECK, OPT_CHECKTIMEOUT, OPT_WORKERS, OPT_THREADS,
	OPT_BUSYPOLL,
	OPT_DNSBLCACHE, OPT_MAXAUTHFAIL
};

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "stdio", no_argument, NULL, OPT_STDIO },
	{ "user", required_argument, NULL, 'u' },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "maildir", required_argument, NULL, OPT_MAILDIR },
	{ "exec", required_argument, NULL, OPT_EXEC },
	{ "discard", no_argument, NULL, OPT_DISCARD },
	{ "lmtp", no_argument, NULL, OPT_LMTP },
	{ "accept-domain", required_argument, NULL, OPT_ACCEPT },
	{ "max-size", required_argument, NULL, OPT_MAXSIZE },
	{ "max-rcpt", required_argument, NULL, OPT_MAXRCPT },
	{ "max-clients", required_argument, NULL, OPT_MAXCLIENTS },
	{ "max-per-ip", required_argument, NULL, OPT_MAXPERIP },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "data-timeout", required_argument, NULL, OPT_DATATIMEOUT },
	{ "greet-delay", required_argument, NULL, OPT_GREETDELAY },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "require-tls", no_argument, NULL, OPT_REQTLS },
	{ "passwd", required_argument, NULL, OPT_PASSWD },
	{ "auth-plaintext", no_argument, NULL, OPT_AUTHPLAIN },
	{ "require-auth", no_argument, NULL, OPT_REQAUTH },
	{ "max-auth-fail", required_argument, NULL, OPT_MAXAUTHFAIL },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "json-log", no_argument, NULL, OPT_JSONLOG },
	{ "syslog", no_argument, NULL, OPT_SYSLOG },
	{ "reply", required_argument, NULL, OPT_REPLY },
	{ "delay", required_argument, NULL, OPT_DELAY },
	{ "drop-after", required_argument, NULL, OPT_DROP },
	{ "reject-rate", required_argument, NULL, OPT_REJRATE },
	{ "reject-at", required_argument, NULL, OPT_REJAT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "dnsbl", required_argument, NULL, OPT_DNSBL },
	{ "dnsbl-timeout", required_argument, NULL, OPT_DNSBLTIMEOUT },
	{ "dnsbl-cache", required_argument, NULL, OPT_DNSBLCACHE },
	{ "resolver", required_argument, NULL, OPT_RESOLVER },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "check-timeout", required_argument, NULL, OPT_CHECKTIMEOUT },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "store-threads", required_argument, NULL, OPT_THREADS },
	{ "busy-poll", required_argument, NULL, OPT_BUSYPOLL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* "RCPT" (any case) -> P_RCPT; -1 when unknown. */
static int
point_of(const char *s, size_t n)
{
	int	i;

	for (i = 0; i < P__COUNT; i++)
		if (strlen(point_names[i]) == n &&
		    strncasecmp(s, point_names[i], n) == 0)
			return i;
	return -1;
}

static int
point_arg(const char *opt, const char *s, size_t n)
{
	int	p = point_of(s, n);

	if (p == -1)
		die_usage("%s %s: not a command (EHLO, HELO, LHLO, MAIL, RCPT, "
		    "DATA, BDAT, DOT, RSET, NOOP, QUIT, VRFY, HELP, STARTTLS, "
		    "AUTH, CONNECT)", opt, s);
	return p;
}

/*
 * --reply CMD=CODE[:TEXT]: CODE 4xx or 5xx (CONNECT: 421 or 5xx); TEXT may
 * start with an enhanced status code of the same class (RFC 3463).
 */
static void
parse_reply(struct opts *o, const char *arg)
{
	const char		*eq = strchr(arg, '='), *t;
	struct mxk_smtpd_reply	*r;
	char			*end;
	long			 code;
	int			 p, a, b, c, n = 0;

	if (eq == NULL)
		die_usage("--reply %s: CMD=CODE[:TEXT]", arg);
	p = point_arg("--reply", arg, (size_t)(eq - arg));
	errno = 0;
	code = strtol(eq + 1, &end, 10);
	if (errno != 0 || end != eq + 4 || (*end != '\0' && *end != ':') ||
	    code < 400 || code > 599 || (p == P_CONNECT && code / 100 == 4 &&
	    code != 421))
		die_usage("--reply %s: CODE is 400 to 599 (a greeting: 421 or "
		    "5xx)", arg);
	r = &o->faults[p].reply;
	memset(r, 0, sizeof(*r));
	r->code = (int)code;
	t = *end == ':' ? end + 1 : "";
	for (; *t != '\0'; t++)
		if ((unsigned char)*t < 32 || *t == 127)
			die_usage("--reply %s: a control character in TEXT",
			    arg);
	t = *end == ':' ? end + 1 : "";
	if (sscanf(t, "%1d.%3d.%3d %n", &a, &b, &c, &n) == 3 && n > 0 &&
	    a == code / 100 && b >= 0 && c >= 0) {
		char st[48];

		(void)snprintf(st, sizeof(st), "%d.%d.%d", a, b, c);
		(void)snprintf(r->status, sizeof(r->status), "%.15s", st);
		t += n;
	} else
		(void)snprintf(r->status, sizeof(r->status), "%ld.0.0",
		    code / 100);
	if (*t == '\0')
		t = "Error: injected fault (smtpd-lite --reply)";
	if (snprintf(r->text, sizeof(r->text), "%s", t) >=
	    (int)sizeof(r->text))
		die_usage("--reply %s: TEXT too long", arg);
	o->faults[p].reply_set = 1;
	o->nfaults++;
}

/* --delay CMD=MS: milliseconds, or a number with ms, s or m. */
static void
parse_delay(struct opts *o, const char *arg)
{
	const char	*eq = strchr(arg, '=');
	char		 v[64];
	int		 p;

	if (eq == NULL)
		die_usage("--delay %s: CMD=MS", arg);
	p = point_arg("--delay", arg, (size_t)(eq - arg));
	if (snprintf(v, sizeof(v), "%s%s", eq + 1, eq[1] != '\0' &&
	    strspn(eq + 1, "0123456789.") == strlen(eq + 1) ? "ms" : "") >=
	    (int)sizeof(v))
		die_usage("--delay %s: not a duration", arg);
	o->faults[p].delay = duration("--delay", v, 0);
	o->nfaults++;
}

static double
rate_arg(const char *s)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno == 0 && end != s && *end == '%' && end[1] == '\0')
		v /= 100;
	else if (errno != 0 || end == s || *end != '\0')
		v = -1;
	if (!(v >= 0 && v <= 1))
		die_usage("--reject-rate %s: a share from 0 to 1 (or 0%% to "
		    "100%%)", s);
	return v;
}

static void
set_kind(struct opts *o, enum mxk_store_kind k)
{
	if (o->kind_set)
		die_usage("--maildir, --exec and --discard exclude each "
		    "other%s", "");
	o->kind = k;
	o->kind_set = 1;
}

/*
 * systemd socket activation, sd_listen_fds(3) without libsystemd:
 * LISTEN_PID is ours and LISTEN_FDS counts descriptors from 3 on.
 */
#define LISTEN_FDS_START	3

static int
activated_env(void)
{
	const char	*pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	char		*end;
	long		 v;

	if (pid == NULL || n == NULL)
		return 0;
	errno = 0;
	v = strtol(pid, &end, 10);
	if (errno != 0 || *end != '\0' || v != (long)getpid())
		return 0;
	v = strtol(n, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0 || v > MAXLISTEN)
		return 0;
	return (int)v;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	int	c, i;

	memset(o, 0, sizeof(*o));
	o->max_size = 30ULL * 1024 * 1024;
	o->max_rcpt = 100;
	o->max_clients = 1000;
	o->max_per_ip = 20;
	o->timeout = 300000;
	o->data_timeout = 600000;
	o->shutdown_grace = 10000;
	o->reject_at = P_DOT;
	o->dnsbl_timeout = 2000;
	o->dnsbl_cache = 10000;
	o->check_timeout = 10000;
	o->threads = 16;
	o->busy_auto = 1;
	o->busy_poll = BP_AUTO_US;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:u:hvV", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 'l':
			if (o->nlisten >= MAXLISTEN)
				die_usage("too many -l options%s", "");
			o->listen[o->nlisten++] = optarg;
			break;
		case 'u':
			o->user = optarg;
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
		case OPT_STDIO:
			o->stdio = 1;
			break;
		case OPT_HOSTNAME:
			o->hostname = optarg;
			break;
		case OPT_MAILDIR:
			set_kind(o, MXK_STORE_MAILDIR);
			o->maildir = optarg;
			break;
		case OPT_EXEC:
		case OPT_CHECK:
			if (c == OPT_EXEC)
				set_kind(o, MXK_STORE_EXEC);
			else if (o->argv_check != NULL)
				die_usage("--check given twice%s", "");
			/* CMD and its arguments, up to a lone "--". */
			i = optind - 1;
			if (c == OPT_EXEC)
				o->argv_exec = &argv[i];
			else
				o->argv_check = &argv[i];
			for (; i < argc && strcmp(argv[i], "--") != 0; i++)
				;
			if (i < argc) {
				argv[i] = NULL;
				optind = i + 1;
			} else
				optind = argc;
			break;
		case OPT_THREADS:
			o->threads = strcmp(optarg, "0") == 0 ? 0 :
			    (int)number("--store-threads", optarg, MAXTHREADS);
			break;
		case OPT_BUSYPOLL:
			/* auto: BP_AUTO_US, while it pays; a number: always. */
			o->busy_auto = strcmp(optarg, "auto") == 0;
			o->busy_poll = o->busy_auto ? BP_AUTO_US :
			    strcmp(optarg, "0") == 0 ? 0 :
			    (int)number("--busy-poll", optarg, 1000);
			break;
		case OPT_WORKERS:
			o->workers = (int)number("--workers", optarg,
			    MAXWORKERS);
			break;
		case OPT_CHECKTIMEOUT:
			o->check_timeout = duration("--check-timeout", optarg,
			    0);
			break;
		case OPT_DISCARD:
			set_kind(o, MXK_STORE_DISCARD);
			break;
		case OPT_LMTP:
			o->lmtp = 1;
			break;
		case OPT_ACCEPT:
			if (o->ndomains >= MAXDOMAINS)
				die_usage("too many --accept-domain%s", "");
			o->domains[o->ndomains++] = optarg;
			break;
		case OPT_MAXSIZE:
			o->max_size = number("--max-size", optarg,
			    1ULL << 40);
			break;
		case OPT_MAXRCPT:
			o->max_rcpt = (size_t)number("--max-rcpt", optarg,
			    100000);
			break;
		case OPT_MAXCLIENTS:
			o->max_clients = (int)number("--max-clients", optarg,
			    1000000);
			break;
		case OPT_MAXPERIP:
			o->max_per_ip = (int)number("--max-per-ip", optarg,
			    1000000);
			break;
		case OPT_MAXAUTHFAIL: {
			char	*sl = strchr(optarg, '/');

			o->auth_fail_window = sl != NULL ? duration(
			    "--max-auth-fail", sl + 1, 0) : 600000;
			if (sl != NULL)
				*sl = '\0';
			o->max_auth_fail = (unsigned)number("--max-auth-fail",
			    optarg, 1000000);
			if (o->max_auth_fail == 0)
				die_usage("--max-auth-fail %s: out of range",
				    optarg);
			break;
		}
		case OPT_TIMEOUT:
			o->timeout = duration("--timeout", optarg, 0);
			break;
		case OPT_DATATIMEOUT:
			o->data_timeout = duration("--data-timeout", optarg,
			    0);
			break;
		case OPT_GREETDELAY:
			o->greet_delay = duration("--greet-delay", optarg, 1);
			break;
		case OPT_CERT:
			o->certfile = optarg;
			break;
		case OPT_KEY:
			o->keyfile = optarg;
			break;
		case OPT_REQTLS:
			o->require_tls = 1;
			break;
		case OPT_PASSWD:
			o->passwd = optarg;
			break;
		case OPT_AUTHPLAIN:
			o->auth_plaintext = 1;
			break;
		case OPT_REQAUTH:
			o->require_auth = 1;
			break;
		case OPT_STRICT:
			o->strict = 1;
			break;
		case OPT_JSONLOG:
			o->json_log = 1;
			break;
		case OPT_SYSLOG:
			o->use_syslog = 1;
			break;
		case OPT_REPLY:
			parse_reply(o, optarg);
			break;
		case OPT_DNSBL:
			if (o->ndnsbl >= MAXDNSBL)
				die_usage("too many --dnsbl (%d)", MAXDNSBL);
			/* Room for 32 nibbles and the dots before it. */
			if (optarg[0] == '\0' || optarg[0] == '.' ||
			    strlen(optarg) > 180 || strchr(optarg, ' ') != NULL)
				die_usage("--dnsbl %s: not a zone name", optarg);
			o->dnsbl[o->ndnsbl++] = optarg;
			break;
		case OPT_DNSBLTIMEOUT:
			o->dnsbl_timeout = duration("--dnsbl-timeout", optarg,
			    0);
			break;
		case OPT_DNSBLCACHE:
			o->dnsbl_cache = strcmp(optarg, "0") == 0 ? 0 :
			    (size_t)number("--dnsbl-cache", optarg, 1000000);
			break;
		case OPT_RESOLVER:
			o->resolver = optarg;
			break;
		case OPT_DELAY:
			parse_delay(o, optarg);
			break;
		case OPT_DROP:
			o->faults[point_arg("--drop-after", optarg,
			    strlen(optarg))].drop = 1;
			o->nfaults++;
			break;
		case OPT_REJRATE:
			o->reject_rate = rate_arg(optarg);
			break;
		case OPT_REJAT:
			o->reject_at = point_arg("--reject-at", optarg,
			    strlen(optarg));
			if (o->reject_at != P_MAIL && o->reject_at != P_RCPT &&
			    o->reject_at != P_DATA && o->reject_at != P_DOT)
				die_usage("--reject-at %s: MAIL, RCPT, DATA "
				    "or DOT", optarg);
			break;
		case OPT_SEED:
		{
			char *end;

			errno = 0;
			o->seed = strtoull(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    optarg[0] == '-')
				die_usage("--seed %s: not a number", optarg);
			o->seed_set = 1;
		}
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
	if (optind < argc)
		die_usage("unexpected argument \"%s\"", argv[optind]);
	if (!o->kind_set)
		die_usage("say where mail goes: --maildir DIR, --exec CMD or "
		    "--discard%s", "");
	if (o->kind == MXK_STORE_EXEC && (o->argv_exec == NULL ||
	    o->argv_exec[0] == NULL || o->argv_exec[0][0] == '\0'))
		die_usage("--exec needs a program%s", "");
	if (o->argv_check != NULL && (o->argv_check[0] == NULL ||
	    o->argv_check[0][0] == '\0'))
		die_usage("--check needs a program%s", "");
	if (!o->stdio && o->nlisten == 0 && !activated_env())
		die_usage("nothing to serve: -l ADDR:PORT, sockets from "
		    "systemd (LISTEN_FDS) or --stdio%s", "");
	if (o->stdio && o->nlisten > 0)
		die_usage("--stdio and -l exclude each other%s", "");
	if (o->stdio && o->workers > 1)
		die_usage("--stdio and --workers exclude each other%s", "");
	if ((o->certfile == NULL) != (o->keyfile == NULL) &&
	    o->keyfile != NULL)
		die_usage("--key needs --cert%s", "");
	if (o->require_tls && o->certfile == NULL)
		die_usage("--require-tls needs --cert and --key%s", "");
	if (o->require_auth && o->passwd == NULL)
		die_usage("--require-auth needs --passwd%s", "");
	if (o->auth_plaintext && o->passwd == NULL)
		die_usage("--auth-plaintext needs --passwd%s", "");
	if (o->max_auth_fail > 0 && o->passwd == NULL)
		die_usage("--max-auth-fail needs --passwd%s", "");
	if (o->max_auth_fail > 0 && o->stdio)
		die_usage("--max-auth-fail: not with --stdio (a process per "
		    "session keeps no count)%s", "");
}

/* The server's shared state. */
struct server {
	struct opts		*o;
	struct mxk_store_params	 sp;
	_Atomic int		 store_cancel;	/* sp.cancel: stopping, the
						 * grace is over */
	int			 bp_score;	/* --busy-poll auto */
	unsigned		 bp_skip;
	unsigned long long	 bp_polls, bp_found;
	struct mxk_tls_server_ctx *tls;
	struct mxk_passwd	*pw;
	char			 hostname[256];
	int			 ep;
	int			 lfd[MAXLISTEN];
	size_t			 nlfd;
	struct sess		*sessions;
	int			 nsess;
	unsigned long		 qcounter;
	volatile sig_atomic_t	 stop, reload;
	int			 reader;	/* -u's file reader, or -1 */
	pid_t			 reader_pid;
	long long		 stop_deadline;
	int			 shared[MAXLISTEN];	/* lfd of all workers */
	int			 worker;	/* 1..N with --workers, else 0 */
	long long		 next_wake;	/* the nearest fine deadline */
	unsigned long long	 rng;		/* --reject-rate's state */
	struct mxk_dns		*dns;		/* --dnsbl */
	struct mxk_check	*check;		/* --check */
	struct pool		*pool;		/* --store-threads */
	unsigned long		 check_gen;	/* its program, registered */
	int			 check_rreg, check_wreg;
	unsigned long		 nsessions;	/* sessions so far, for ids */
	struct lim		*lim;		/* client limits, all workers */
	struct blc_ent		*blc;		/* --dnsbl-cache */
	size_t			 blc_nb;
	unsigned long long	 blc_key;
	/*
	 * The event loop's batch: the sessions it touched, freed at its
	 * end if done (walk: more than REAPMAX, timers() frees them), and
	 * whether it had DNS list or policy program events.
	 */
	struct sess		*reap[REAPMAX];
	size_t			 nreap;
	int			 walk, lookups;
	long long		 next_walk;	/* timers()' next walk */
	struct sess		*dnsq;		/* DNS list lookups under way */
};

/* A reply held back by --delay: bytes of output before it go out, then
 * it waits ms (from when it would have gone out). */
struct hold {
	size_t		 mark;
	long long	 ms, until;	/* until: 0 while not started */
};

enum sstate { SS_GREETWAIT, SS_RUN, SS_TLSWAIT, SS_TLS, SS_DONE };

struct sess {
	struct server		*srv;
	struct sess		*next, *prev;
	int			 fd, wfd;	/* wfd: --stdio writes fd 1 */
	struct mxk_conn		*conn;
	struct mxk_smtpd	*eng;
	struct mxk_tls		*hs;		/* handshake in progress */
	enum sstate		 st;
	int			 reap;		/* in srv->reap[] */
	struct sess		*dnext, *dprev;	/* srv->dnsq, if indns */
	int			 indns;
	long long		 last, greet_at, data_until;
	char			 ip[64];
	int			 port;
	char			 qid[32];
	struct mxk_store_msg	*msg;
	char			 tlsdesc[192];
	unsigned long		 nmsg;
	int			 events;
	long long		 started;
	struct hold		 holds[MAXHOLDS];
	int			 nholds;
	int			 closing;	/* the engine is done: flush */
	char			 fault[200];	/* injected in this transaction */
	int			 reject;	/* picked by --reject-rate */
	/* --dnsbl: the lookups (A and TXT per zone) and what they said. */
	struct mxk_dns_batch	*dnsbl;
	struct mxk_dns_query	*dq;
	char			*dqnames;
	unsigned char		 dqzone[MAXDNSBL];	/* the zones asked */
	size_t			 ndq;
	int			 listed;	/* zone index, -1 none */
	char			 listed_txt[128];
	/* A RCPT whose decision is not made yet. */
	enum { W_NONE, W_DNSBL, W_CHECK } wait;
	char			 pend_to[MXK_ADDR_INPUTMAX];
	unsigned long		 id;
	struct job		*job;		/* the message being synced */
	size_t			 lim_row;	/* its row in srv->lim, + 1 */
	/* Commands so far, and at the latest wait (sess_rdhup()). */
	unsigned long		 ncmd, wait_mark;
	int			 rdhup;		/* the client's FIN, seen */
	int			 epmask;	/* events as registered */
};

/*
 * The end of a message on a store thread: mxk_store_end() (the fsyncs of
 * a Maildir delivery, the wait for an --exec program) runs there while
 * the event loop goes on; the engine holds the session meanwhile
 * (mxk_smtpd_defer()), and the replies come when the job is back.  Many
 * sessions syncing at once share the file system's journal commits.
 * Only the loop's thread touches sessions: a job knows its session, and
 * the session its job, and either may go first (sess_free() clears
 * job->sess; a job without a session is only freed).
 */
struct job {
	struct job		*next;
	struct sess		*sess;
	struct mxk_store_msg	*msg;
	struct mxk_store_result	*res;
	size_t			 nrcpt, nreplies;
	int			 rc;
	struct mxk_err		 err;
	/*
	 * Or a password to hash (crypt(3) is slow by design: tens of
	 * milliseconds that would stall every session if the loop did
	 * it).  The job has its own copy of the hash, so a SIGHUP reload
	 * meanwhile is harmless.
	 */
	int			 auth;
	int			 known, ok;
	_Atomic int		 gone;		/* its session ended: skip */
	char			*user, *pass;
	char			 ip[64];
	char			 hash[MXK_PASSWD_HASHMAX];
};

struct pool {
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	/* Messages first: AUTH jobs never hold up a fsync. */
	struct job		*todo, **todo_tail;
	struct job		*atodo, **atodo_tail;
	int			 nauth;		/* AUTH jobs out (loop's) */
	struct job		*done, **done_tail;
	int			 efd;		/* eventfd: jobs are done */
	int			 stop;
	int			 nthreads;
	pthread_t		 th[MAXTHREADS];
};

static struct server	*the_server;

static void
on_signal(int sig)
{
	if (the_server == NULL)
		return;
	if (sig == SIGHUP)
		the_server->reload = 1;
	else
		the_server->stop = 1;
}

/* Logging: key=value lines, one per session and per message. */
static void
logkv(struct server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A store error without the "store: " most of them start with: the log
 * lines say "store" once, whether the message has its own or not. */
static const char *
store_why(const char *msg)
{
	return strncmp(msg, "store: ", 7) == 0 ? msg + 7 : msg;
}

static void
logkv(struct server *srv, const char *fmt, ...)
{
	char	line[2048], out[2048 + 64], *p;
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Values come from clients: one line, no escapes. */
	for (p = line; *p != '\0'; p++)
		if ((unsigned char)*p < 32 || *p == 127)
			*p = '?';
	if (srv->o->use_syslog) {
		syslog(LOG_MAIL | LOG_INFO, "%s", line);
		return;
	}
	n = srv->worker > 0 ? snprintf(out, sizeof(out), "%s[%d]: %s", PROG,
	    srv->worker, line) : snprintf(out, sizeof(out), "%s: %s", PROG,
	    line);
	/* Warnings and errors at once: a crash loses only routine lines. */
	if (n > 0)
		mxk_log_stderr_line(out, (size_t)n < sizeof(out) ? (size_t)n :
		    sizeof(out) - 1, strncmp(line, "error", 5) == 0 ||
		    strncmp(line, "warning", 7) == 0);
}

/* A --json-log record built in b (x: a build error), to syslog or
 * stderr as one line; b is freed. */
static void
json_emit(struct server *srv, struct mxk_buf *b, int x)
{
	if (x == 0) {
		if (srv->o->use_syslog)
			syslog(LOG_MAIL | LOG_INFO, "%s", b->p);
		else
			mxk_log_stderr_line(b->p, b->len, 0);
	}
	mxk_buf_free(b);
}

static void
new_qid(struct sess *s)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	/* Workers differ in the counter's top six bits. */
	(void)snprintf(s->qid, sizeof(s->qid), "%08llX%05lX%04X",
	    (unsigned long long)ts.tv_sec & 0xffffffffULL,
	    (unsigned long)(ts.tv_nsec / 1000) & 0xfffffUL,
	    s->srv->worker > 0 ? (unsigned)((s->srv->worker - 1) << 10 |
	    (++s->srv->qcounter & 0x3ff)) :
	    (unsigned)(++s->srv->qcounter & 0xffff));
}

static void
wake_at(struct server *srv, long long t)
{
	if (t < srv->next_wake)
		srv->next_wake = t;
}

/* SplitMix64 (Steele, Lea, Flood 2014): a small, seedable generator, so
 * that --seed replays a run's choices. */
static double
rng_next(struct server *srv)
{
	unsigned long long z = (srv->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Hold what the engine answers from now on back for ms. */
static void
hold_add(struct sess *s, long long ms)
{
	size_t	n;

	(void)mxk_smtpd_output(s->eng, &n);
	s->wait_mark = s->ncmd;
	if (s->nholds == MAXHOLDS) {
		s->holds[MAXHOLDS - 1].ms += ms;
		return;
	}
	s->holds[s->nholds].mark = n;
	s->holds[s->nholds].ms = ms;
	s->holds[s->nholds].until = 0;
	s->nholds++;
}

static void
fault_note(struct sess *s, const char *what, enum point p,
    const struct mxk_smtpd_reply *r, long long ms)
{
	size_t	n = strlen(s->fault);
	char	one[64];

	if (r != NULL)
		(void)snprintf(one, sizeof(one), "%s %s=%d", what,
		    point_names[p], r->code);
	else if (ms > 0)
		(void)snprintf(one, sizeof(one), "%s %s=%lldms", what,
		    point_names[p], ms);
	else
		(void)snprintf(one, sizeof(one), "%s %s", what,
		    point_names[p]);
	(void)snprintf(s->fault + n, sizeof(s->fault) - n, "%s%s",
	    n > 0 ? "," : "", one);
}

/* One record per injected fault (those at DOT are in the message's). */
static void
log_fault(struct sess *s, const char *what, enum point p,
    const struct mxk_smtpd_reply *r, long long ms)
{
	struct server	*srv = s->srv;
	struct mxk_buf	 b;
	char		 rep[MXK_SMTPD_TEXTMAX + 32] = "";
	int		 first = 1, x = 0;

	fault_note(s, what, p, r, ms);
	if (r != NULL)
		(void)snprintf(rep, sizeof(rep), "%d %s %s", r->code,
		    r->status, r->text);
	if (!srv->o->json_log) {
		char	extra[MXK_SMTPD_TEXTMAX + 64] = "";

		if (ms > 0)
			(void)snprintf(extra, sizeof(extra), " delay=%lldms",
			    ms);
		else if (r != NULL)
			(void)snprintf(extra, sizeof(extra), " reply=\"%s\"",
			    rep);
		logkv(srv, "fault client=%s command=%s fault=%s%s", s->ip,
		    point_names[p], what, extra);
		return;
	}
	mxk_buf_init(&b, 4096);
	x |= mxk_buf_addch(&b, '{');
	x |= mxk_json_kv_str(&b, &first, "event", "fault");
	x |= mxk_json_kv_str(&b, &first, "client", s->ip);
	x |= mxk_json_kv_str(&b, &first, "helo", mxk_smtpd_helo(s->eng));
	x |= mxk_json_kv_str(&b, &first, "from", mxk_smtpd_from(s->eng));
	x |= mxk_json_kv_int(&b, &first, "rcpts",
	    (long long)mxk_smtpd_nrcpt(s->eng));
	x |= mxk_json_kv_str(&b, &first, "command", point_names[p]);
	x |= mxk_json_kv_str(&b, &first, "fault", what);
	if (ms > 0)
		x |= mxk_json_kv_int(&b, &first, "delay_ms", ms);
	if (r != NULL)
		x |= mxk_json_kv_str(&b, &first, "reply", rep);
	x |= mxk_buf_addch(&b, '}');
	json_emit(srv, &b, x);
}

static void
reject_reply(struct mxk_smtpd_reply *r)
{
	r->code = 451;
	(void)snprintf(r->status, sizeof(r->status), "4.3.0");
	(void)snprintf(r->text, sizeof(r->text), "Error: try again later "
	    "(fault injected by smtpd-lite --reject-rate)");
}

static void *
pool_thread(void *arg)
{
	struct pool	*p = arg;
	struct job	*j;
	uint64_t	 one = 1;
	ssize_t		 w;

	for (;;) {
		(void)pthread_mutex_lock(&p->mu);
		while (p->todo == NULL && p->atodo == NULL && !p->stop)
			(void)pthread_cond_wait(&p->cv, &p->mu);
		if ((j = p->todo) != NULL) {
			if ((p->todo = j->next) == NULL)
				p->todo_tail = &p->todo;
		} else if ((j = p->atodo) != NULL) {
			if ((p->atodo = j->next) == NULL)
				p->atodo_tail = &p->atodo;
		} else {
			(void)pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		(void)pthread_mutex_unlock(&p->mu);

		if (j->auth)
			j->ok = atomic_load(&j->gone) ? 0 :
			    mxk_passwd_verify(j->hash, j->known, j->pass);
		else {
			j->rc = mxk_store_end(j->msg, j->res, &j->err);
			j->msg = NULL;
		}

		(void)pthread_mutex_lock(&p->mu);
		j->next = NULL;
		*p->done_tail = j;
		p->done_tail = &j->next;
		(void)pthread_mutex_unlock(&p->mu);
		do
			w = write(p->efd, &one, sizeof(one));
		while (w == -1 && errno == EINTR);
	}
}

static struct pool *
pool_new(int n)
{
	struct pool	*p;
	sigset_t	 all, old;
	int		 i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		free(p);
		return NULL;
	}
	(void)pthread_mutex_init(&p->mu, NULL);
	(void)pthread_cond_init(&p->cv, NULL);
	p->todo_tail = &p->todo;
	p->atodo_tail = &p->atodo;
	p->done_tail = &p->done;
	/* Signals are for the loop's thread: the threads block them all. */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < n; i++)
		if (pthread_create(&p->th[p->nthreads], NULL, pool_thread,
		    p) == 0)
			p->nthreads++;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nthreads == 0) {
		(void)close(p->efd);
		free(p);
		return NULL;
	}
	return p;
}

static void
pool_submit(struct pool *p, struct job *j)
{
	(void)pthread_mutex_lock(&p->mu);
	j->next = NULL;
	if (j->auth) {
		*p->atodo_tail = j;
		p->atodo_tail = &j->next;
	} else {
		*p->todo_tail = j;
		p->todo_tail = &j->next;
	}
	(void)pthread_cond_signal(&p->cv);
	(void)pthread_mutex_unlock(&p->mu);
}

/* The jobs done so far, oldest first. */
static struct job *
pool_take(struct pool *p)
{
	struct job	*j;
	uint64_t	 v;

	(void)read(p->efd, &v, sizeof(v));
	(void)pthread_mutex_lock(&p->mu);
	j = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	(void)pthread_mutex_unlock(&p->mu);
	return j;
}

static void
job_free(struct job *j)
{
	if (j->msg != NULL)
		mxk_store_abort(j->msg);
	free(j->res);
	if (j->pass != NULL) {
		explicit_bzero(j->pass, strlen(j->pass));
		free(j->pass);
	}
	free(j->user);
	explicit_bzero(j->hash, sizeof(j->hash));
	free(j);
}

/* Threads finish what they have (every job ends by itself: fsyncs, a
 * program's deadline), then stop. */
static void
pool_free(struct pool *p)
{
	struct job	*j, *next;
	int		 i;

	if (p == NULL)
		return;
	(void)pthread_mutex_lock(&p->mu);
	p->stop = 1;
	(void)pthread_cond_broadcast(&p->cv);
	(void)pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		(void)pthread_join(p->th[i], NULL);
	for (j = pool_take(p); j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	(void)close(p->efd);
	(void)pthread_mutex_destroy(&p->mu);
	(void)pthread_cond_destroy(&p->cv);
	free(p);
}

/* Hooks of the engine. */

/* Fault injection at each command: delay, drop, reply, --reject-rate. */
static int
h_command(void *arg, struct mxk_smtpd *e, const char *verb,
    const char *cmdarg, struct mxk_smtpd_reply *r)
{
	struct sess		*s = arg;
	struct server		*srv = s->srv;
	const struct opts	*o = srv->o;
	const struct fault	*f;
	int			 p = point_of(verb, strlen(verb));

	s->ncmd++;
	if (p == -1)
		return 0;
	if (p == P_MAIL) {
		/* A transaction begins: is it one --reject-rate refuses? */
		s->fault[0] = '\0';
		s->reject = o->reject_rate > 0 && rng_next(srv) <
		    o->reject_rate;
	}
	f = &o->faults[p];
	if (p == P_BDAT && f->delay == 0 && !f->drop && !f->reply_set &&
	    !mxk_smtpd_bdat(e) && mxk_smtpd_from(e) != NULL) {
		/* The first BDAT starts the message as DATA does: DATA's
		 * faults apply to it, unless BDAT has its own. */
		p = P_DATA;
		f = &o->faults[P_DATA];
	}
	if (f->delay > 0) {
		hold_add(s, f->delay);
		log_fault(s, "delay", p, NULL, f->delay);
	}
	if (f->drop) {
		log_fault(s, "drop", p, NULL, 0);
		mxk_smtpd_drop(e);
		return 0;
	}
	if (f->reply_set) {
		*r = f->reply;
		log_fault(s, "reply", p, r, 0);
		return -1;
	}
	if (s->reject && (p == (int)o->reject_at ||
	    (o->reject_at == P_DATA && p == P_BDAT))) {
		reject_reply(r);
		log_fault(s, "reject-rate", p, r, 0);
		return -1;
	}
	return 0;
}

/*
 * --dnsbl (RFC 5782): the client's address, reversed (IPv4 octets, IPv6
 * nibbles), under each zone, asked for A and TXT at once when the session
 * starts.  The answer is awaited only at the first RCPT, within
 * --dnsbl-timeout of the start, and never by the event loop: the lookups
 * are stepped by it.
 */
static int
dnsbl_name(const char *ip, const char *zone, char *out, size_t len)
{
	struct in6_addr	a6;
	struct in_addr	a4;
	const unsigned char *b;
	size_t		o = 0;
	int		i, n;

	if (inet_pton(AF_INET, ip, &a4) == 1 ||
	    (inet_pton(AF_INET6, ip, &a6) == 1 &&
	    IN6_IS_ADDR_V4MAPPED(&a6) && (memcpy(&a4, &a6.s6_addr[12], 4),
	    1))) {
		b = (const unsigned char *)&a4;
		n = snprintf(out, len, "%u.%u.%u.%u.%s", b[3], b[2], b[1],
		    b[0], zone);
		return n > 0 && (size_t)n < len ? 0 : -1;
	}
	if (inet_pton(AF_INET6, ip, &a6) != 1)
		return -1;
	for (i = 15; i >= 0; i--) {
		n = snprintf(out + o, len - o, "%x.%x.", a6.s6_addr[i] & 15,
		    a6.s6_addr[i] >> 4);
		if (n <= 0 || (size_t)n >= len - o)
			return -1;
		o += (size_t)n;
	}
	n = snprintf(out + o, len - o, "%s", zone);
	return n > 0 && (size_t)n < len - o ? 0 : -1;
}

static void
dnsbl_register(struct sess *s)
{
	struct pollfd		 pfd[2 * MAXDNSBL];
	struct epoll_event	 ev;
	long long		 wake;
	size_t			 i, n;

	n = mxk_dns_batch_fds(s->dnsbl, pfd, 2 * MAXDNSBL, &wake);
	wake_at(s->srv, wake);
	if (s->srv->ep == -1)
		return;
	for (i = 0; i < n; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = pfd[i].events & POLLOUT ? EPOLLOUT : EPOLLIN;
		ev.data.u64 = TAG_DNS;
		if (epoll_ctl(s->srv->ep, EPOLL_CTL_ADD, pfd[i].fd, &ev) ==
		    -1 && errno == EEXIST)
			(void)epoll_ctl(s->srv->ep, EPOLL_CTL_MOD, pfd[i].fd,
			    &ev);
	}
}

/* A client address as 16 octets (IPv4 v4-mapped); -1 when not one. */
static int
addr16(const char *ip, unsigned char *a)
{
	struct in_addr	a4;

	memset(a, 0, 16);
	if (inet_pton(AF_INET6, ip, a) == 1)
		return 0;
	if (inet_pton(AF_INET, ip, &a4) != 1)
		return -1;
	a[10] = a[11] = 0xff;
	memcpy(a + 12, &a4, 4);
	return 0;
}

/* SplitMix64's finaliser over 16 octets and a key. */
static unsigned long long
hash16(unsigned long long h, const unsigned char *a)
{
	unsigned long long	w;
	int			i;

	for (i = 0; i < 2; i++) {
		memcpy(&w, a + 8 * i, 8);
		h ^= w;
		h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
		h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
		h ^= h >> 31;
	}
	return h;
}

/*
 * The answers of the lists, kept by each process (each worker) for
 * --dnsbl-cache entries: (client, zone) -> listed, with the A and the
 * TXT, or not listed (NXDOMAIN, NODATA), until the answer's TTL runs out:
 * an hour at most for a listing, five minutes at most for the other; an
 * answer without a TTL (0; a negative answer without an SOA) counts as
 * BLC_NOTTL, capped alike.  Failures, timeouts and ignored answers are
 * asked again by the next session.  Buckets of BLC_WAYS entries by a
 * keyed hash; a full bucket gives up its entry nearest to expiry.
 */
#define BLC_WAYS	8
#define BLC_LISTED_MAX	3600
#define BLC_CLEAN_MAX	300
#define BLC_NOTTL	60

struct blc_ent {
	long long	 until;		/* ms; <= now: free */
	unsigned char	 addr[16];
	unsigned char	 zone;
	unsigned char	 listed;
	char		 a[INET_ADDRSTRLEN];
	char		 txt[128];
};

static struct blc_ent *
blc_bucket(struct server *srv, const unsigned char *a, size_t zone)
{
	if (srv->blc == NULL) {
		if (srv->o->dnsbl_cache == 0)
			return NULL;
		srv->blc_nb = (srv->o->dnsbl_cache + BLC_WAYS - 1) / BLC_WAYS;
		if ((srv->blc = calloc(srv->blc_nb * BLC_WAYS,
		    sizeof(*srv->blc))) == NULL)
			return NULL;
		if (getrandom(&srv->blc_key, sizeof(srv->blc_key),
		    GRND_NONBLOCK) != (ssize_t)sizeof(srv->blc_key))
			srv->blc_key = srv->rng ^ (unsigned long long)getpid();
	}
	return srv->blc + (hash16(srv->blc_key ^ zone, a) % srv->blc_nb) *
	    BLC_WAYS;
}

static const struct blc_ent *
blc_get(struct server *srv, const unsigned char *a, size_t zone,
    long long now)
{
	struct blc_ent	*b = blc_bucket(srv, a, zone);
	int		 i;

	for (i = 0; b != NULL && i < BLC_WAYS; i++)
		if (b[i].until > now && b[i].zone == zone &&
		    memcmp(b[i].addr, a, 16) == 0)
			return &b[i];
	return NULL;
}

static void
blc_put(struct server *srv, const char *ip, size_t zone, unsigned ttl,
    const char *addr, const char *txt)
{
	struct blc_ent	*b, *e = NULL;
	unsigned char	 a[16];
	long long	 now = mxk_now_ms();
	unsigned	 max = addr != NULL ? BLC_LISTED_MAX : BLC_CLEAN_MAX;
	int		 i;

	if (addr16(ip, a) == -1 || (b = blc_bucket(srv, a, zone)) == NULL)
		return;
	if (ttl == 0)
		ttl = BLC_NOTTL;
	if (ttl > max)
		ttl = max;
	for (i = 0; i < BLC_WAYS; i++) {
		if (b[i].until > now && b[i].zone == zone &&
		    memcmp(b[i].addr, a, 16) == 0) {
			e = &b[i];
			break;
		}
		if (e == NULL || b[i].until < e->until)
			e = &b[i];
	}
	memcpy(e->addr, a, 16);
	e->zone = (unsigned char)zone;
	e->until = now + (long long)ttl * 1000;
	e->listed = addr != NULL;
	(void)snprintf(e->a, sizeof(e->a), "%s", addr != NULL ? addr : "");
	(void)snprintf(e->txt, sizeof(e->txt), "%s", txt != NULL ? txt : "");
}

/*
 * The cached answers for this client: 1 when one lists it (then nothing
 * is asked), else 0 with the zones still to ask in s->dqzone.
 */
static int
dnsbl_cached(struct sess *s)
{
	const struct opts	*o = s->srv->o;
	const struct blc_ent	*c;
	unsigned char		 a[16];
	long long		 now = mxk_now_ms();
	size_t			 i;
	int			 ok = addr16(s->ip, a) == 0;

	s->ndq = 0;
	for (i = 0; i < o->ndnsbl; i++) {
		if (!ok || (c = blc_get(s->srv, a, i, now)) == NULL) {
			s->dqzone[s->ndq++] = (unsigned char)i;
			continue;
		}
		if (!c->listed) {
			logkv(s->srv, "dnsbl client=%s zone=%s result=not-listed "
			    "cached=yes ttl=%llds", s->ip, o->dnsbl[i],
			    (c->until - now + 999) / 1000);
			continue;
		}
		s->listed = (int)i;
		(void)snprintf(s->listed_txt, sizeof(s->listed_txt), "%s",
		    c->txt);
		logkv(s->srv, "dnsbl client=%s zone=%s a=%s result=listed "
		    "txt=\"%s\" cached=yes ttl=%llds", s->ip, o->dnsbl[i], c->a,
		    c->txt, (c->until - now + 999) / 1000);
		return 1;
	}
	return 0;
}

static void
dnsbl_start(struct sess *s)
{
	const struct opts	*o = s->srv->o;
	struct mxk_err		 e;
	size_t			 i, nz;

	s->listed = -1;
	if (o->ndnsbl == 0 || s->srv->dns == NULL)
		return;
	if (dnsbl_cached(s) || (nz = s->ndq) == 0)
		return;
	s->dq = calloc(2 * nz, sizeof(*s->dq));
	s->dqnames = malloc(nz * MXK_DNS_NAMEMAX);
	if (s->dq == NULL || s->dqnames == NULL)
		goto fail;
	for (i = 0; i < nz; i++) {
		char *name = s->dqnames + i * MXK_DNS_NAMEMAX;

		if (dnsbl_name(s->ip, o->dnsbl[s->dqzone[i]], name,
		    MXK_DNS_NAMEMAX) == -1)
			goto fail;	/* not an address: nothing to ask */
		s->dq[2 * i].name = s->dq[2 * i + 1].name = name;
		s->dq[2 * i].type = MXK_DNS_A;
		s->dq[2 * i + 1].type = MXK_DNS_TXT;
	}
	if (mxk_dns_batch_start(s->srv->dns, s->dq, 2 * nz,
	    mxk_deadline_in(o->dnsbl_timeout), &s->dnsbl, &e) == -1) {
		logkv(s->srv, "dnsbl client=%s error=\"%s\"", s->ip, e.msg);
		goto fail;
	}
	s->indns = 1;
	s->dprev = NULL;
	if ((s->dnext = s->srv->dnsq) != NULL)
		s->dnext->dprev = s;
	s->srv->dnsq = s;
	dnsbl_register(s);
	return;
fail:
	free(s->dq);
	free(s->dqnames);
	s->dq = NULL;
	s->dqnames = NULL;
	s->ndq = 0;
}

/* Listed: an A record in 127.0.0.0/8 (RFC 5782 §2.1), but not
 * 127.255.255.0/24, which lists use for errors (a refused query).  Each
 * zone's verdict is cached; the first listing zone (in the order of the
 * options) names the refusal. */
static void
dnsbl_judge(struct sess *s)
{
	const struct opts	*o = s->srv->o;
	struct mxk_dns_answer	*a, *t;
	size_t			 i, j, k, z;
	unsigned long		 v;
	char			 addr[INET_ADDRSTRLEN], txt[128];
	int			 listed;

	for (i = 0; i < s->ndq; i++) {
		z = s->dqzone[i];
		a = s->dq[2 * i].ans;
		t = s->dq[2 * i + 1].ans;
		if (a == NULL)
			continue;
		if (a->status != MXK_DNS_OK && a->status != MXK_DNS_NXDOMAIN &&
		    a->status != MXK_DNS_NODATA) {
			logkv(s->srv, "dnsbl client=%s zone=%s result=%s "
			    "(not listed)", s->ip, o->dnsbl[z],
			    mxk_dns_status_name(a->status));
			continue;
		}
		if (a->status != MXK_DNS_OK) {
			blc_put(s->srv, s->ip, z, a->ttl, NULL, NULL);
			continue;
		}
		for (j = 0, listed = 0; j < a->nrr && !listed; j++) {
			if (a->rr[j].type != MXK_DNS_A)
				continue;
			v = ntohl(a->rr[j].a.s_addr);
			(void)inet_ntop(AF_INET, &a->rr[j].a, addr,
			    sizeof(addr));
			if ((v >> 24) != 127 || (v >> 8) == 0x7fffffUL) {
				logkv(s->srv, "dnsbl client=%s zone=%s "
				    "a=%s result=ignored", s->ip,
				    o->dnsbl[z], addr);
				continue;
			}
			listed = 1;
			txt[0] = '\0';
			if (t != NULL && t->status == MXK_DNS_OK &&
			    t->nrr > 0 && t->rr[0].type == MXK_DNS_TXT) {
				/* The list's words: printable, bounded. */
				for (k = 0; k < t->rr[0].len &&
				    k + 1 < sizeof(txt); k++) {
					unsigned char c = t->rr[0].data[k];

					txt[k] = c >= 32 && c < 127 ?
					    (char)c : '?';
				}
				txt[k] = '\0';
			}
			logkv(s->srv, "dnsbl client=%s zone=%s a=%s "
			    "result=listed txt=\"%s\"", s->ip, o->dnsbl[z],
			    addr, txt);
			blc_put(s->srv, s->ip, z, a->ttl, addr, txt);
			if (s->listed == -1) {
				s->listed = (int)z;
				(void)snprintf(s->listed_txt,
				    sizeof(s->listed_txt), "%s", txt);
			}
		}
	}
}

static void
dnsbl_free(struct sess *s)
{
	size_t	i;

	mxk_dns_batch_free(s->dnsbl);
	s->dnsbl = NULL;
	if (s->indns) {
		if (s->dprev != NULL)
			s->dprev->dnext = s->dnext;
		else
			s->srv->dnsq = s->dnext;
		if (s->dnext != NULL)
			s->dnext->dprev = s->dprev;
		s->indns = 0;
	}
	if (s->dq != NULL)
		for (i = 0; i < 2 * s->ndq; i++)
			mxk_dns_answer_free(s->dq[i].ans);
	free(s->dq);
	free(s->dqnames);
	s->dq = NULL;
	s->dqnames = NULL;
	s->ndq = 0;
}

static int	rcpt_policy(struct sess *, struct mxk_smtpd_reply *);
static int	check_ask(struct sess *);
static void	rcpt_decided(struct sess *, int, struct mxk_smtpd_reply *);
static void	after_feed(struct sess *, int);
static void	sess_read(struct sess *);
static void	sess_free(struct sess *);
static void	touch(struct sess *);
static void	reload(struct server *);
static int	af_count(struct server *, const char *, int);

/* Step the lookups; when done, judge, and go on with a waiting RCPT. */
static void
dnsbl_step(struct sess *s)
{
	struct mxk_smtpd_reply	 r;
	struct mxk_err		 e;
	int			 rc;

	if ((rc = mxk_dns_batch_step(s->dnsbl, &e)) == 0) {
		dnsbl_register(s);
		return;
	}
	if (rc == 1)
		dnsbl_judge(s);
	else
		logkv(s->srv, "dnsbl client=%s error=\"%s\" (not listed)",
		    s->ip, e.msg);
	dnsbl_free(s);
	/* A RCPT waits (unless a timeout or shutdown took it away). */
	if (s->wait == W_DNSBL && mxk_smtpd_paused(s->eng)) {
		s->wait = W_NONE;
		memset(&r, 0, sizeof(r));
		rcpt_decided(s, rcpt_policy(s, &r), &r);
	}
}

/* The RCPT decision after the checks of h_rcpt(): DNS lists. */
static int
rcpt_policy(struct sess *s, struct mxk_smtpd_reply *r)
{
	const struct opts	*o = s->srv->o;

	if (s->dnsbl != NULL) {
		s->wait = W_DNSBL;
		s->wait_mark = s->ncmd;
		return MXK_SMTPD_PENDING;
	}
	if (s->listed >= 0) {
		/* As Postfix words it (reject_rbl_client). */
		r->code = 554;
		(void)snprintf(r->status, sizeof(r->status), "5.7.1");
		(void)snprintf(r->text, sizeof(r->text), "Service unavailable; "
		    "client [%s] blocked using %s%s%.120s", s->ip,
		    o->dnsbl[s->listed], s->listed_txt[0] != '\0' ? ": " : "",
		    s->listed_txt);
		return -1;
	}
	if (s->srv->check != NULL) {
		if (check_ask(s) == -1) {
			r->code = 451;
			(void)snprintf(r->status, sizeof(r->status), "4.3.0");
			(void)snprintf(r->text, sizeof(r->text), "Error: "
			    "policy check unavailable, try again later");
			return -1;
		}
		s->wait = W_CHECK;
		s->wait_mark = s->ncmd;
		return MXK_SMTPD_PENDING;
	}
	return 0;
}

/* A pending RCPT is decided (rc as a rcpt hook returns). */
static void
rcpt_decided(struct sess *s, int rc, struct mxk_smtpd_reply *r)
{
	if (rc == MXK_SMTPD_PENDING)
		return;
	s->wait = W_NONE;
	if (!mxk_smtpd_paused(s->eng))
		return;		/* timed out or shut down meanwhile */
	rc = mxk_smtpd_resume(s->eng, rc == 0 ? NULL : r);
	after_feed(s, rc);
	/* Input the TLS layer decoded already raises no epoll event. */
	if (s->st == SS_RUN && mxk_conn_pending(s->conn) > 0)
		sess_read(s);
}

static int
h_rcpt(void *arg, struct mxk_smtpd *e, const char *to,
    struct mxk_smtpd_reply *r)
{
	struct sess	*s = arg;
	const struct opts *o = s->srv->o;
	const char	*at = strrchr(to, '@');
	struct mxk_err	 err;
	char		 path[PATH_MAX];
	size_t		 i;

	/*
	 * The postmaster of this host (as a bare "<Postmaster>" arrives, see
	 * lib/smtpd.c) whatever --accept-domain says: RFC 5321 §4.5.1.
	 */
	if (o->ndomains > 0 && !(at != NULL && at - to == 10 &&
	    strncasecmp(to, "postmaster", 10) == 0 &&
	    strcasecmp(at + 1, s->srv->hostname) == 0)) {
		for (i = 0; at != NULL && i < o->ndomains; i++)
			if (strcasecmp(at + 1, o->domains[i]) == 0)
				break;
		if (at == NULL || i == o->ndomains) {
			r->code = 550;
			(void)snprintf(r->status, sizeof(r->status), "5.7.1");
			(void)snprintf(r->text, sizeof(r->text), "Error: "
			    "relay access denied: not a domain of this server");
			return -1;
		}
	}
	/* A folder name the address would make unsafe: refused now, not
	 * after the message (store.h). */
	if (o->kind == MXK_STORE_MAILDIR && mxk_store_expand(o->maildir, to,
	    path, sizeof(path), &err) == -1) {
		r->code = err.class == MXK_ERR_RCPT ? 550 : 451;
		(void)snprintf(r->status, sizeof(r->status), "%s",
		    err.class == MXK_ERR_RCPT ? "5.1.3" : "4.3.0");
		(void)snprintf(r->text, sizeof(r->text), "Error: %s",
		    err.class == MXK_ERR_RCPT ? "unsafe recipient address for "
		    "a mailbox" : "cannot deliver to that address now");
		return -1;
	}
	(void)snprintf(s->pend_to, sizeof(s->pend_to), "%s", to);
	return rcpt_policy(s, r);
}

/*
 * --check: keep the epoll registrations in step with the program's pipes
 * (they change when it is started again), and the wake-up time.
 */
static void
check_sync(struct server *srv)
{
	struct epoll_event	ev;
	unsigned long		gen = mxk_check_starts(srv->check);
	int			rfd, wfd;

	mxk_check_fds(srv->check, &rfd, &wfd);
	wake_at(srv, mxk_check_wake(srv->check));
	if (srv->ep == -1)
		return;
	if (gen != srv->check_gen) {
		/* Closed pipes left epoll by themselves. */
		srv->check_gen = gen;
		srv->check_rreg = srv->check_wreg = -1;
	}
	memset(&ev, 0, sizeof(ev));
	ev.data.u64 = TAG_CHECK;
	if (rfd != -1 && rfd != srv->check_rreg) {
		ev.events = EPOLLIN;
		(void)epoll_ctl(srv->ep, EPOLL_CTL_ADD, rfd, &ev);
		srv->check_rreg = rfd;
	}
	if (wfd != srv->check_wreg) {
		if (srv->check_wreg != -1)
			(void)epoll_ctl(srv->ep, EPOLL_CTL_DEL,
			    srv->check_wreg, NULL);
		ev.events = EPOLLOUT;
		if (wfd != -1)
			(void)epoll_ctl(srv->ep, EPOLL_CTL_ADD, wfd, &ev);
		srv->check_wreg = wfd;
	}
}

/* One request: the session and the envelope so far (lib/check.h). */
static int
check_ask(struct sess *s)
{
	struct mxk_smtpd	*e = s->eng;
	struct mxk_err		 err;
	char			 id[32], n[32];
	const char		*kv[20];
	int			 rc;

	(void)snprintf(id, sizeof(id), "%lu", s->id);
	(void)snprintf(n, sizeof(n), "%zu", mxk_smtpd_nrcpt(e));
	kv[0] = "request";	kv[1] = "rcpt";
	kv[2] = "session";	kv[3] = id;
	kv[4] = "client";	kv[5] = s->ip;
	kv[6] = "helo";		kv[7] = mxk_smtpd_helo(e);
	kv[8] = "tls";		kv[9] = mxk_smtpd_tls(e);
	kv[10] = "auth";	kv[11] = mxk_smtpd_auth_user(e);
	kv[12] = "from";	kv[13] = mxk_smtpd_from(e);
	kv[14] = "rcpt";	kv[15] = s->pend_to;
	kv[16] = "nrcpt";	kv[17] = n;
	kv[18] = "server";	kv[19] = s->srv->hostname;
	rc = mxk_check_submit(s->srv->check, kv, 10, s, &err);
	if (rc == -1)
		logkv(s->srv, "check client=%s rcpt=<%s> error=\"%s\"", s->ip,
		    s->pend_to, err.msg);
	check_sync(s->srv);
	return rc;
}

/* The program's answer (from mxk_check_step()). */
static void
check_done(void *cookie, const struct mxk_check_result *cr)
{
	struct sess		*s = cookie;
	struct mxk_smtpd_reply	 r;

	touch(s);
	if (s->wait != W_CHECK)
		return;
	s->wait = W_NONE;
	if (cr->accept) {
		rcpt_decided(s, 0, NULL);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.code = cr->code;
	(void)snprintf(r.status, sizeof(r.status), "%s", cr->status);
	(void)snprintf(r.text, sizeof(r.text), "%s", cr->text);
	logkv(s->srv, "check client=%s rcpt=<%s> result=\"%d %s %s\"", s->ip,
	    s->pend_to, r.code, r.status, r.text);
	rcpt_decided(s, -1, &r);
}

/* RFC 5322 §3.3 date. */
static void
rfc5322_date(char *buf, size_t len)
{
	time_t		now = time(NULL);
	struct tm	tm;

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		(void)snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 +0000");
}

/* RFC 5321 §4.4 trace field, RFC 3848 protocol names. */
static int
received(struct sess *s, struct mxk_buf *b)
{
	struct mxk_smtpd	*e = s->eng;
	const char		*tls = mxk_smtpd_tls(e);
	const char		*auth = mxk_smtpd_auth_user(e);
	char			 date[64], proto[16];
	char			 helo[128];
	size_t			 i;

	(void)snprintf(proto, sizeof(proto), "%s%s%s", s->srv->o->lmtp ?
	    "LMTP" : mxk_smtpd_esmtp(e) ? "ESMTP" : "SMTP",
	    !s->srv->o->lmtp && mxk_smtpd_esmtp(e) && tls != NULL ? "S" : "",
	    !s->srv->o->lmtp && mxk_smtpd_esmtp(e) && auth != NULL ? "A" : "");
	/* The HELO name is the client's word: printable, bounded. */
	(void)snprintf(helo, sizeof(helo), "%s", mxk_smtpd_helo(e));
	for (i = 0; helo[i] != '\0'; i++)
		if ((unsigned char)helo[i] <= 32 || (unsigned char)helo[i] >=
		    127 || helo[i] == '(' || helo[i] == ')')
			helo[i] = '?';
	rfc5322_date(date, sizeof(date));
	if (mxk_buf_printf(b, "Received: from %s ([%s])\r\n\tby %s (%s) with "
	    "%s id %s", helo[0] != '\0' ? helo : "unknown", s->ip,
	    s->srv->hostname, PROG, proto, s->qid) == -1)
		return -1;
	if (tls != NULL && mxk_buf_printf(b, "\r\n\t(%s)", tls) == -1)
		return -1;
	if (mxk_smtpd_nrcpt(e) == 1 && mxk_buf_printf(b, "\r\n\tfor <%s>",
	    mxk_smtpd_rcpt(e, 0)->addr) == -1)
		return -1;
	return mxk_buf_printf(b, ";\r\n\t%s\r\n", date);
}

static int
h_begin(void *arg, struct mxk_smtpd *e, struct mxk_smtpd_reply *r)
{
	struct sess		*s = arg;
	struct mxk_store_env	 env;
	struct mxk_err		 err;
	struct mxk_buf		 b;
	const char		**rcpt;
	size_t			 i, n = mxk_smtpd_nrcpt(e);

	new_qid(s);
	if ((rcpt = calloc(n, sizeof(*rcpt))) == NULL)
		goto temp;
	for (i = 0; i < n; i++)
		rcpt[i] = mxk_smtpd_rcpt(e, i)->addr;
	memset(&env, 0, sizeof(env));
	env.sender = mxk_smtpd_from(e);
	env.rcpt = rcpt;
	env.nrcpt = n;
	env.client_ip = s->ip;
	env.helo = mxk_smtpd_helo(e);
	env.tls_cipher = mxk_smtpd_tls(e);
	env.auth_user = mxk_smtpd_auth_user(e);
	env.queue_id = s->qid;
	env.body = mxk_smtpd_body(e);
	if (mxk_store_begin(&s->srv->sp, &env, &s->msg, &err) == -1) {
		free(rcpt);
		logkv(s->srv, "error qid=%s client=%s store: %s", s->qid, s->ip,
		    store_why(err.msg));
		goto temp;
	}
	free(rcpt);
	s->data_until = mxk_now_ms() + s->srv->o->data_timeout;
	mxk_buf_init(&b, 4096);
	if (received(s, &b) == 0)
		(void)mxk_store_write(s->msg, b.p, b.len, &err);
	mxk_buf_free(&b);
	return 0;
temp:
	r->code = 451;
	(void)snprintf(r->status, sizeof(r->status), "4.3.0");
	(void)snprintf(r->text, sizeof(r->text), "Error: cannot store the "
	    "message now");
	return -1;
}

static void
h_data(void *arg, struct mxk_smtpd *e, const char *p, size_t n)
{
	struct sess	*s = arg;
	struct mxk_err	 err;

	if (s->msg != NULL)
		(void)mxk_store_write(s->msg, p, n, &err);
}

static void
log_message(struct sess *s, const struct mxk_smtpd_reply *r, size_t n)
{
	struct mxk_smtpd	*e = s->eng;
	struct server		*srv = s->srv;
	struct mxk_buf		 b;
	size_t			 i;
	int			 first = 1, x = 0;

	if (!srv->o->json_log) {
		logkv(srv, "msg qid=%s client=%s helo=%s from=<%s> rcpts=%zu "
		    "size=%llu tls=%s auth=%s body=%s bdat=%s%s%s result=\"%d "
		    "%s %s\"", s->qid, s->ip, mxk_smtpd_helo(e),
		    mxk_smtpd_from(e) != NULL ? mxk_smtpd_from(e) : "",
		    mxk_smtpd_nrcpt(e), mxk_smtpd_msg_size(e),
		    mxk_smtpd_tls(e) != NULL ? "yes" : "no",
		    mxk_smtpd_auth_user(e) != NULL ? mxk_smtpd_auth_user(e) :
		    "-", mxk_smtpd_body(e), mxk_smtpd_bdat(e) ? "yes" : "no",
		    s->fault[0] != '\0' ? " fault=" : "", s->fault,
		    r[0].code, r[0].status, r[0].text);
		return;
	}
	mxk_buf_init(&b, 64 * 1024);
	x |= mxk_buf_addch(&b, '{');
	x |= mxk_json_kv_str(&b, &first, "event", "message");
	x |= mxk_json_kv_str(&b, &first, "qid", s->qid);
	x |= mxk_json_kv_str(&b, &first, "client", s->ip);
	x |= mxk_json_kv_str(&b, &first, "helo", mxk_smtpd_helo(e));
	x |= mxk_json_kv_str(&b, &first, "from", mxk_smtpd_from(e));
	x |= mxk_json_kv_int(&b, &first, "size",
	    (long long)mxk_smtpd_msg_size(e));
	x |= mxk_json_kv_str(&b, &first, "tls", mxk_smtpd_tls(e));
	x |= mxk_json_kv_str(&b, &first, "auth", mxk_smtpd_auth_user(e));
	x |= mxk_json_kv_str(&b, &first, "body", mxk_smtpd_body(e));
	x |= mxk_json_kv_bool(&b, &first, "smtputf8", mxk_smtpd_smtputf8(e));
	x |= mxk_json_kv_bool(&b, &first, "bdat", mxk_smtpd_bdat(e));
	x |= mxk_json_kv_str(&b, &first, "ret", mxk_smtpd_dsn_ret(e));
	x |= mxk_json_kv_str(&b, &first, "envid", mxk_smtpd_dsn_envid(e));
	if (s->fault[0] != '\0')
		x |= mxk_json_kv_str(&b, &first, "fault", s->fault);
	x |= mxk_json_key(&b, &first, "rcpts");
	x |= mxk_buf_addch(&b, '[');
	for (i = 0; i < mxk_smtpd_nrcpt(e); i++) {
		const struct mxk_smtpd_rcpt	*rc = mxk_smtpd_rcpt(e, i);
		const struct mxk_smtpd_reply	*ri = &r[i < n ? i : 0];
		int				 f2 = 1;

		x |= mxk_buf_addstr(&b, i > 0 ? ",{" : "{");
		x |= mxk_json_kv_str(&b, &f2, "to", rc->addr);
		x |= mxk_json_kv_str(&b, &f2, "notify", rc->notify);
		x |= mxk_json_kv_str(&b, &f2, "orcpt", rc->orcpt);
		x |= mxk_json_kv_int(&b, &f2, "code", ri->code);
		x |= mxk_json_kv_str(&b, &f2, "status", ri->status);
		x |= mxk_json_kv_str(&b, &f2, "text", ri->text);
		x |= mxk_buf_addch(&b, '}');
	}
	x |= mxk_buf_addstr(&b, "]}");
	json_emit(srv, &b, x);
}

/* The replies to a message from the store's results. */
static void
end_replies(struct sess *s, const struct mxk_store_result *res, size_t nr,
    struct mxk_smtpd_reply *r, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		const struct mxk_store_result *x = &res[i < nr ? i : 0];

		r[i].code = x->code;
		(void)snprintf(r[i].status, sizeof(r[i].status), "%s",
		    x->status);
		(void)snprintf(r[i].text, sizeof(r[i].text), "%s", x->text);
	}
	if (!s->srv->o->lmtp && n == 1)
		for (i = 1; i < nr; i++)
			if (res[i].code / 100 != 2 && r[0].code / 100 == 2) {
				/* SMTP has one reply: the worst wins. */
				r[0].code = res[i].code;
				(void)snprintf(r[0].status,
				    sizeof(r[0].status), "%s", res[i].status);
				(void)snprintf(r[0].text, sizeof(r[0].text),
				    "%s", res[i].text);
			}
}

static void	job_done(struct server *, struct job *);

static void
h_end(void *arg, struct mxk_smtpd *e, int bad, struct mxk_smtpd_reply *r,
    size_t n)
{
	struct sess		*s = arg;
	struct mxk_store_result	*res;
	struct mxk_err		 err;
	size_t			 i, nr = mxk_smtpd_nrcpt(e);

	const struct fault	*f = &s->srv->o->faults[P_DOT];

	if (s->msg == NULL)
		return;
	if (f->delay > 0) {
		hold_add(s, f->delay);
		fault_note(s, "delay", P_DOT, NULL, f->delay);
	}
	if (f->drop) {
		/* Nothing is stored: the client never heard of it. */
		mxk_store_abort(s->msg);
		s->msg = NULL;
		fault_note(s, "drop", P_DOT, NULL, 0);
		for (i = 0; i < n; i++) {
			r[i].code = 0;
			(void)snprintf(r[i].status, sizeof(r[i].status), "-");
			(void)snprintf(r[i].text, sizeof(r[i].text),
			    "dropped without a reply");
		}
		log_message(s, r, n);
		mxk_smtpd_drop(e);
		return;
	}
	if (!bad && (f->reply_set || (s->reject &&
	    s->srv->o->reject_at == P_DOT))) {
		/* An injected refusal: nothing is stored either. */
		mxk_store_abort(s->msg);
		s->msg = NULL;
		for (i = 0; i < n; i++) {
			if (f->reply_set)
				r[i] = f->reply;
			else
				reject_reply(&r[i]);
		}
		fault_note(s, f->reply_set ? "reply" : "reject-rate", P_DOT,
		    &r[0], 0);
		log_message(s, r, n);
		return;
	}
	if (bad) {
		mxk_store_abort(s->msg);
		s->msg = NULL;
		log_message(s, r, n);
		return;
	}
	if ((res = calloc(nr > 0 ? nr : 1, sizeof(*res))) == NULL) {
		mxk_store_abort(s->msg);
		s->msg = NULL;
		return;
	}
	if (s->srv->pool != NULL && s->srv->o->kind != MXK_STORE_DISCARD) {
		struct job *j;

		if ((j = calloc(1, sizeof(*j))) == NULL) {
			free(res);
			mxk_store_abort(s->msg);
			s->msg = NULL;
			return;
		}
		/* Synced on a thread: the replies come in job_done(). */
		j->sess = s;
		j->msg = s->msg;
		j->res = res;
		j->nrcpt = nr;
		j->nreplies = n;
		s->msg = NULL;
		s->job = j;
		pool_submit(s->srv->pool, j);
		mxk_smtpd_defer(e);
		return;
	}
	/* res is always filled: -1 only says that not all got 250. */
	if (mxk_store_end(s->msg, res, &err) == -1)
		logkv(s->srv, "store qid=%s: %s", s->qid, store_why(err.msg));
	s->msg = NULL;
	end_replies(s, res, nr, r, n);
	s->nmsg++;
	log_message(s, r, n);
	free(res);
}

/*
 * The loop's batch touched s: it is freed at the end of the batch if it
 * is done by then (not before: a later event of the batch may name it).
 * Beyond REAPMAX sessions timers() walks them all instead.
 */
static void
touch(struct sess *s)
{
	struct server	*srv = s->srv;

	if (s->reap)
		return;
	if (srv->nreap == REAPMAX) {
		srv->walk = 1;
		return;
	}
	s->reap = 1;
	srv->reap[srv->nreap++] = s;
}

/* The end of a batch: free the touched sessions that are done. */
static void
reap(struct server *srv)
{
	struct sess	*s;
	size_t		 i;

	for (i = 0; i < srv->nreap; i++) {
		if ((s = srv->reap[i]) == NULL)
			continue;
		s->reap = 0;
		srv->reap[i] = NULL;
		if (s->st == SS_DONE)
			sess_free(s);
	}
	srv->nreap = 0;
}

/* A job is back from its thread: reply, and go on with the session. */
static void
job_done(struct server *srv, struct job *j)
{
	struct sess		*s = j->sess;
	struct mxk_smtpd_reply	*r;
	size_t			 n = j->nreplies;
	int			 rc;

	if (s != NULL)
		touch(s);
	if (j->auth)
		srv->pool->nauth--;
	if (s == NULL) {
		/* Stored, but nobody heard of it: the client will retry. */
		if (!j->auth && j->rc == -1)
			mxk_log(MXK_LOG_WARN, "store: %s",
			    store_why(j->err.msg));
		if (j->auth)
			logkv(srv, "auth client=%s user=%s "
			    "result=abandoned", j->ip, j->user);
		job_free(j);
		return;
	}
	s->job = NULL;
	if (j->auth) {
		logkv(s->srv, "auth client=%s user=%s result=%s", s->ip,
		    j->user, j->ok ? "ok" : "refused");
		if (j->ok)
			(void)af_count(srv, s->ip, 0);
		rc = mxk_smtpd_auth_done(s->eng, j->ok);
		job_free(j);
		after_feed(s, rc);
		if (s->st == SS_RUN && mxk_conn_pending(s->conn) > 0)
			sess_read(s);
		return;
	}
	if (j->rc == -1)
		logkv(s->srv, "store qid=%s: %s", s->qid,
		    store_why(j->err.msg));
	if ((r = calloc(n > 0 ? n : 1, sizeof(*r))) == NULL) {
		job_free(j);
		rc = mxk_smtpd_resume_message(s->eng, NULL, 0);
		after_feed(s, rc);
		return;
	}
	end_replies(s, j->res, j->nrcpt, r, n);
	s->nmsg++;
	log_message(s, r, n);
	rc = mxk_smtpd_resume_message(s->eng, r, n);
	free(r);
	job_free(j);
	after_feed(s, rc);
	if (s->st == SS_RUN && mxk_conn_pending(s->conn) > 0)
		sess_read(s);
}

static void
h_abort(void *arg, struct mxk_smtpd *e)
{
	struct sess *s = arg;

	if (s->msg != NULL) {
		mxk_store_abort(s->msg);
		s->msg = NULL;
	}
}

static int
h_auth(void *arg, struct mxk_smtpd *e, const char *user, const char *pass)
{
	struct sess	*s = arg;
	struct job	*j;
	int		 ok;

	(void)e;
	/* Not even hashed: no answer to learn from, no CPU to spend. */
	if (af_count(s->srv, s->ip, 1)) {
		logkv(s->srv, "auth client=%s user=%s result=blocked "
		    "reason=max-auth-fail", s->ip, user);
		return MXK_SMTPD_AUTH_LIMITED;
	}
	if (s->srv->pool != NULL && s->job == NULL &&
	    mxk_passwd_count(s->srv->pw) > 0) {
		/*
		 * Hashed on a thread: the reply comes in job_done().  At
		 * most AUTHMAX per thread wait at a time; beyond that a
		 * flood of attempts gets 454 4.7.0 (try again later)
		 * rather than a queue that grows without bound.
		 */
		if (s->srv->pool->nauth >= AUTHMAX * s->srv->pool->nthreads ||
		    (j = calloc(1, sizeof(*j))) == NULL) {
			logkv(s->srv, "auth client=%s user=%s result=busy",
			    s->ip, user);
			(void)af_count(s->srv, s->ip, 0);
			return -1;
		}
		j->auth = 1;
		j->sess = s;
		(void)snprintf(j->ip, sizeof(j->ip), "%s", s->ip);
		if (mxk_passwd_lookup(s->srv->pw, user, j->hash,
		    sizeof(j->hash), &j->known) == -1 ||
		    (j->user = strdup(user)) == NULL ||
		    (j->pass = strdup(pass)) == NULL) {
			job_free(j);
			(void)af_count(s->srv, s->ip, 0);
			return -1;	/* 454 4.7.0 */
		}
		s->job = j;
		s->srv->pool->nauth++;
		pool_submit(s->srv->pool, j);
		return MXK_SMTPD_AUTH_PENDING;
	}
	ok = mxk_passwd_check(s->srv->pw, user, pass);
	logkv(s->srv, "auth client=%s user=%s result=%s", s->ip, user,
	    ok ? "ok" : "refused");
	if (ok)
		(void)af_count(s->srv, s->ip, 0);
	return ok;
}

static void
h_trace(void *arg, int from_client, const char *p, size_t n)
{
	struct sess	*s = arg;
	char		 line[600];
	size_t		 i, k = 0;

	if (s->srv->o->verbose == 0)
		return;
	/* One log line per protocol line. */
	for (i = 0; i <= n; i++) {
		if (i == n || p[i] == '\n') {
			if (k > 0 && line[k - 1] == '\r')
				k--;
			line[k] = '\0';
			if (k > 0 || i < n)
				mxk_log(MXK_LOG_INFO, "%s %s %s", s->ip,
				    from_client ? ">>>" : "<<<", line);
			k = 0;
			continue;
		}
		if (p[i] == '\r')
			continue;
		if (k + 1 < sizeof(line))
			line[k++] = (unsigned char)p[i] < 32 ||
			    (unsigned char)p[i] >= 127 ? '?' : p[i];
	}
}

/*
 * --max-clients and --max-per-ip, counted in a table of client addresses
 * (so that an accept() costs no walk over the sessions), which with
 * --workers holds across the workers.  The supervisor maps one table
 * (MAP_SHARED | MAP_ANONYMOUS) before the first fork: the sessions of
 * each worker, and for each client address a row with one count per
 * worker.  A worker changes its own counts only; a
 * total is a sum.  When a worker dies the supervisor zeroes its counts
 * before it starts the next one in its place, so that sessions of the
 * dead hold no slot.
 *
 * A process-shared robust mutex guards the table.  A worker killed while
 * it holds the mutex leaves the table consistent, because every step
 * writes one count, or the address of a row nobody counts yet: the next
 * process to lock it (EOWNERDEAD) just goes on.  The worker's own total
 * goes up before a row's count and down after it, so a worker with no
 * sessions has no row to clear.
 *
 * Addresses (IPv4 as v4-mapped IPv6) go to buckets of LIM_WAYS rows by a
 * hash keyed at start, so that clients cannot choose to collide; a row
 * is free when its counts sum to 0.  The table has four rows per
 * --max-clients session, 2^17 at most.  A connection whose bucket is full
 * of other addresses is refused (421 4.7.0) rather than let in uncounted:
 * the limit never lapses.
 */
#define LIM_WAYS	16
#define LIM_MAXROWS	(1UL << 17)

struct lim {
	pthread_mutex_t		 mu;
	int			 nw;
	size_t			 nbuckets;	/* a power of two */
	size_t			 stride;	/* octets per row */
	unsigned long long	 key;
	unsigned		 clients[MAXWORKERS];
	size_t			 rows;		/* offset of the first row */
	size_t			 af;		/* of the first afrow; 0: none */
};

/*
 * --max-auth-fail N/T: failed AUTH attempts per client address (an IPv6
 * one by its /64, what one host is given), in the same shared memory (so
 * all workers count together), for T from the first.  An attempt counts
 * as it starts and is taken back when it succeeds or fails for a reason
 * of ours, so parallel sessions get no more than N guesses.  AF_ROWS rows
 * in buckets of AF_WAYS by the same keyed hash; a full bucket gives up
 * the row with the lowest count (the oldest of those), so a blocked
 * address is the last to go.  The count is zeroed before the row changes
 * hands: a worker dying in between leaves a free row, never its count on
 * another address.
 */
#define AF_WAYS		8
#define AF_ROWS		4096

struct afrow {
	unsigned char	a[16];
	unsigned	n;		/* 0: free */
	long long	start;		/* mxk_now_ms() of its first attempt */
};

/* A row: 16 octets of address, then nw counts. */
static unsigned char *
lim_row(struct lim *l, size_t i)
{
	return (unsigned char *)l + l->rows + i * l->stride;
}

static unsigned *
lim_counts(struct lim *l, size_t i)
{
	return (unsigned *)(void *)(lim_row(l, i) + 16);
}

static struct lim *
lim_new(int nw, int max_clients, int authfail)
{
	pthread_mutexattr_t	 ma;
	struct lim		*l;
	size_t			 rows = 16 * LIM_WAYS, stride, off, len, af = 0;
	void			*p;

	while (rows < 4 * (size_t)max_clients && rows < LIM_MAXROWS)
		rows *= 2;
	stride = 16 + (size_t)nw * sizeof(unsigned);
	off = (sizeof(*l) + 63) & ~(size_t)63;
	len = off + rows * stride;
	if (authfail) {
		af = (len + 63) & ~(size_t)63;
		len = af + AF_ROWS * sizeof(struct afrow);
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	l = p;
	l->nw = nw;
	l->nbuckets = rows / LIM_WAYS;
	l->stride = stride;
	l->rows = off;
	l->af = af;
	if (getrandom(&l->key, sizeof(l->key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(l->key))
		l->key = (unsigned long long)mxk_now_ms() * 0x9E3779B97F4A7C15ULL ^
		    (unsigned long long)getpid();
	if (pthread_mutexattr_init(&ma) != 0 ||
	    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&l->mu, &ma) != 0) {
		(void)munmap(p, len);
		return NULL;
	}
	(void)pthread_mutexattr_destroy(&ma);
	return l;
}

static void
lim_lock(struct lim *l)
{
	if (pthread_mutex_lock(&l->mu) == EOWNERDEAD)
		(void)pthread_mutex_consistent(&l->mu);
}

static size_t
lim_bucket(const struct lim *l, const unsigned char *a)
{
	return (size_t)hash16(l->key, a) & (l->nbuckets - 1);
}

static unsigned
lim_sum(const struct lim *l, const unsigned *c)
{
	unsigned	n = 0;
	int		k;

	for (k = 0; k < l->nw; k++)
		n += c[k];
	return n;
}

/* The column of this process: its worker number, or the only one. */
static int
lim_col(const struct server *srv)
{
	return srv->worker > 0 ? srv->worker - 1 : 0;
}

/*
 * A session of worker w (0..nw-1) from ip: NULL when admitted (*row set,
 * for lim_give()), else the reason of the refusal.
 */
static const char *
lim_take(struct lim *l, int w, const char *ip, int max_clients,
    int max_per_ip, size_t *row)
{
	unsigned char	a[16];
	size_t		b, i, r, fr = SIZE_MAX;
	unsigned	total = 0;
	int		k;

	(void)addr16(ip, a);	/* accept()'s: always an address */
	b = lim_bucket(l, a) * LIM_WAYS;
	lim_lock(l);
	for (k = 0; k < l->nw; k++)
		total += l->clients[k];
	if (total >= (unsigned)max_clients) {
		(void)pthread_mutex_unlock(&l->mu);
		return "max-clients";
	}
	for (i = 0, r = SIZE_MAX; i < LIM_WAYS; i++) {
		unsigned n = lim_sum(l, lim_counts(l, b + i));

		if (n == 0) {
			if (fr == SIZE_MAX)
				fr = b + i;
		} else if (memcmp(lim_row(l, b + i), a, 16) == 0) {
			if (n >= (unsigned)max_per_ip) {
				(void)pthread_mutex_unlock(&l->mu);
				return "max-per-ip";
			}
			r = b + i;
		}
	}
	if (r == SIZE_MAX) {
		if (fr == SIZE_MAX) {
			(void)pthread_mutex_unlock(&l->mu);
			return "table-full";
		}
		r = fr;
		memcpy(lim_row(l, r), a, 16);
	}
	l->clients[w]++;
	lim_counts(l, r)[w]++;
	(void)pthread_mutex_unlock(&l->mu);
	*row = r;
	return NULL;
}

static void
lim_give(struct lim *l, int w, size_t row)
{
	lim_lock(l);
	if (lim_counts(l, row)[w] > 0)
		lim_counts(l, row)[w]--;
	if (l->clients[w] > 0)
		l->clients[w]--;
	(void)pthread_mutex_unlock(&l->mu);
}

/* ip's row of AUTH failures (lim_lock held), NULL if none and !make;
 * counts T old are dropped on the way. */
static struct afrow *
af_row(struct lim *l, const char *ip, long long now, long long win,
    int make)
{
	static const unsigned char v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};
	unsigned char	 a[16];
	struct afrow	*b, *empty = NULL, *least = NULL;
	size_t		 i;

	if (l->af == 0 || addr16(ip, a) == -1)
		return NULL;
	if (memcmp(a, v4mapped, sizeof(v4mapped)) != 0)
		memset(a + 8, 0, 8);	/* IPv6: the /64 */
	b = (struct afrow *)(void *)((unsigned char *)l + l->af) +
	    (hash16(~l->key, a) & (AF_ROWS / AF_WAYS - 1)) * AF_WAYS;
	for (i = 0; i < AF_WAYS; i++) {
		if (b[i].n > 0 && now - b[i].start >= win)
			b[i].n = 0;
		if (b[i].n == 0) {
			if (empty == NULL)
				empty = &b[i];
		} else if (memcmp(b[i].a, a, 16) == 0)
			return &b[i];
		else if (least == NULL || b[i].n < least->n || (b[i].n ==
		    least->n && b[i].start < least->start))
			least = &b[i];
	}
	if (!make)
		return NULL;
	b = empty != NULL ? empty : least;
	b->n = 0;
	memcpy(b->a, a, 16);
	b->start = now;
	return b;
}

/*
 * An AUTH attempt from ip (take 1): 1 when it has had --max-auth-fail
 * failures within its window (refuse it), else 0 and the attempt counts.
 * take 0: an attempt counted did not fail (235, or a 454 of ours).
 */
static int
af_count(struct server *srv, const char *ip, int take)
{
	struct afrow	*r;
	int		 blocked = 0;

	if (srv->o->max_auth_fail == 0 || srv->lim == NULL)
		return 0;
	lim_lock(srv->lim);
	r = af_row(srv->lim, ip, mxk_now_ms(), srv->o->auth_fail_window, take);
	if (r != NULL && take && r->n >= srv->o->max_auth_fail)
		blocked = 1;
	else if (r != NULL && take)
		r->n++;
	else if (r != NULL && r->n > 0)
		r->n--;
	(void)pthread_mutex_unlock(&srv->lim->mu);
	return blocked;
}

/* Worker w is dead: its sessions are gone (the supervisor). */
static void
lim_clear(struct lim *l, int w)
{
	size_t	i;

	/* Every row: a worker that died between its two increments left
	 * a count in a row with clients[w] still 0. */
	lim_lock(l);
	for (i = 0; i < l->nbuckets * LIM_WAYS; i++)
		lim_counts(l, i)[w] = 0;
	l->clients[w] = 0;
	(void)pthread_mutex_unlock(&l->mu);
}

/* Sessions. */

static void
sess_events(struct sess *s, int ev)
{
	struct epoll_event	e;

	int			m = ev | (s->rdhup ? 0 : EPOLLRDHUP);

	if (s->srv->ep == -1) {
		s->events = ev;
		return;
	}
	if (s->events == ev && s->epmask == m)
		return;
	memset(&e, 0, sizeof(e));
	e.events = (uint32_t)m;
	e.data.ptr = s;
	if (epoll_ctl(s->srv->ep, EPOLL_CTL_MOD, s->fd, &e) == 0) {
		s->events = ev;
		s->epmask = m;
	}
}

/*
 * The client's FIN came (EPOLLRDHUP) while the session reads nothing.
 * When the session waits (a --delay, a DNS list, the --check program)
 * for the reply to the last thing the client said, nobody is left to
 * hear it: the session ends now, its message aborted and its policy
 * request forgotten (sess_free(), as after a timeout), not at the end of
 * the wait.  A client that said more (pipelined commands after it, QUIT
 * among them, then a half-close) still gets its replies, as before: its
 * EOF is read once they are out.  So does a session that waits for
 * nothing of the kind (output to a slow reader, a message being synced).
 */
static void
sess_rdhup(struct sess *s)
{
	int	n = 0;

	if ((s->nholds > 0 || s->wait != W_NONE) &&
	    s->ncmd == s->wait_mark && mxk_smtpd_held(s->eng) == 0 &&
	    mxk_conn_pending(s->conn) == 0 &&
	    (ioctl(s->fd, FIONREAD, &n) == -1 || n == 0)) {
		logkv(s->srv, "gone client=%s wait=%s state=%s", s->ip,
		    s->wait == W_DNSBL ? "dnsbl" : s->wait == W_CHECK ?
		    "check" : "delay", mxk_smtpd_state_name(s->eng));
		s->st = SS_DONE;
		return;
	}
	s->rdhup = 1;		/* once: the FIN stays readable */
	sess_events(s, s->events);
}

static void
sess_free(struct sess *s)
{
	struct server	*srv = s->srv;
	size_t		 i;

	/* Touched (a policy answer inside timers()), freed before reap(). */
	if (s->reap)
		for (i = 0; i < srv->nreap; i++)
			if (srv->reap[i] == s)
				srv->reap[i] = NULL;
	logkv(srv, "close client=%s:%d messages=%lu duration=%lldms tls=%s "
	    "state=%s", s->ip, s->port, s->nmsg, mxk_now_ms() - s->started,
	    mxk_smtpd_tls(s->eng) != NULL ? "yes" : "no",
	    mxk_smtpd_state_name(s->eng));
	/* Aborted once here; the engine's data_abort hook then finds none. */
	if (s->msg != NULL) {
		mxk_store_abort(s->msg);
		s->msg = NULL;
	}
	if (s->hs != NULL)
		mxk_tls_abandon(s->hs);
	dnsbl_free(s);
	if (srv->check != NULL)
		mxk_check_cancel(srv->check, s);
	if (s->job != NULL) {
		s->job->sess = NULL;	/* it frees itself when back */
		atomic_store(&s->job->gone, 1);
	}
	if (s->lim_row > 0)
		lim_give(srv->lim, lim_col(srv), s->lim_row - 1);
	mxk_smtpd_free(s->eng);
	if (srv->ep != -1)
		(void)epoll_ctl(srv->ep, EPOLL_CTL_DEL, s->fd, NULL);
	mxk_conn_free(s->conn);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	srv->nsess--;
	free(s);
}

/*
 * Write what the engine has: 1 when all is out, 0 blocked on the client,
 * 2 held back by --delay (the timer goes on), -1 dead.
 */
static int
sess_flush(struct sess *s)
{
	struct mxk_err	 e;
	const char	*p;
	size_t		 n;
	ssize_t		 w;
	int		 i;

	for (;;) {
		p = mxk_smtpd_output(s->eng, &n);
		if (s->nholds > 0) {
			struct hold	*h = &s->holds[0];
			long long	 now;

			if (h->mark == 0) {
				now = mxk_now_ms();
				if (h->until == 0)
					h->until = now + h->ms;
				if (now < h->until) {
					wake_at(s->srv, h->until);
					return 2;
				}
				memmove(&s->holds[0], &s->holds[1],
				    (size_t)(s->nholds - 1) * sizeof(*h));
				s->nholds--;
				continue;
			}
			if (n > h->mark)
				n = h->mark;
		}
		if (n == 0)
			return 1;
		if (s->wfd != s->fd)
			w = write(s->wfd, p, n);
		else
			w = mxk_conn_write_nb(s->conn, p, n, &e);
		if (w == MXK_CONN_WANT_READ || w == MXK_CONN_WANT_WRITE ||
		    (w == -1 && s->wfd != s->fd && (errno == EAGAIN ||
		    errno == EINTR)))
			return 0;
		if (w <= 0)
			return -1;
		mxk_smtpd_consume(s->eng, (size_t)w);
		/* The command timer runs from the last reply. */
		s->last = mxk_now_ms();
		for (i = 0; i < s->nholds; i++)
			s->holds[i].mark -= (size_t)w;
	}
}

static void	sess_step(struct sess *);

static void
start_tls(struct sess *s)
{
	struct mxk_err	e;

	if (mxk_tls_server_start(s->conn, s->srv->tls, &s->hs, &e) == -1) {
		logkv(s->srv, "error client=%s TLS: %s", s->ip, e.msg);
		s->st = SS_DONE;
		return;
	}
	s->st = SS_TLS;
}

static void
tls_step(struct sess *s)
{
	struct mxk_tls_peer	peer;
	struct mxk_err		e;
	int			r;

	r = mxk_tls_server_step(s->conn, s->hs, &e);
	if (r == 1) {
		if (mxk_tls_peer_info(s->hs, &peer, &e) == 0)
			(void)snprintf(s->tlsdesc, sizeof(s->tlsdesc),
			    "%s %s", peer.protocol, peer.cipher);
		else
			(void)snprintf(s->tlsdesc, sizeof(s->tlsdesc), "TLS");
		s->hs = NULL;	/* owned by the connection now */
		mxk_smtpd_tls_done(s->eng, s->tlsdesc);
		s->st = SS_RUN;
		s->last = mxk_now_ms();
		sess_events(s, EPOLLIN);
		return;
	}
	if (r == -1) {
		logkv(s->srv, "tls client=%s result=failed reason=\"%s\"",
		    s->ip, e.msg);
		s->st = SS_DONE;
		return;
	}
	sess_events(s, r == MXK_CONN_WANT_WRITE ? EPOLLOUT : EPOLLIN);
}

/* React to the engine's answer to what was fed. */
static void
after_feed(struct sess *s, int rc)
{
	int	f;

	if (rc == MXK_SMTPD_CLOSE)
		s->closing = 1;
	if ((f = sess_flush(s)) == -1) {
		s->st = SS_DONE;
		return;
	}
	if (s->closing) {
		if (f == 1)
			s->st = SS_DONE;
		else
			sess_events(s, f == 0 ? EPOLLOUT : 0);
		return;
	}
	if (rc == MXK_SMTPD_STARTTLS) {
		/* The 220 must be out before the handshake starts. */
		s->st = SS_TLSWAIT;
		if (f == 1) {
			start_tls(s);
			if (s->st == SS_TLS)
				tls_step(s);
		} else
			sess_events(s, f == 0 ? EPOLLOUT : 0);
		return;
	}
	if (f == 2 || mxk_smtpd_paused(s->eng)) {
		/* Nothing is read while a reply is held or a RCPT waits. */
		sess_events(s, f == 0 ? EPOLLOUT : 0);
		return;
	}
	{
		size_t n;

		(void)mxk_smtpd_output(s->eng, &n);
		sess_events(s, n > OUT_HIGH ? EPOLLOUT : f == 1 ? EPOLLIN :
		    EPOLLIN | EPOLLOUT);
	}
}

static void
sess_read(struct sess *s)
{
	static char	 buf[READBUF];
	struct mxk_err	 e;
	ssize_t		 n;
	int		 rc, i;

	/* A few reads per wake-up, so one busy client cannot starve the
	 * others. */
	for (i = 0; i < 4 && (s->st == SS_RUN || s->st == SS_GREETWAIT) &&
	    s->nholds == 0 && !s->closing && !mxk_smtpd_paused(s->eng); i++) {
		n = mxk_conn_read_nb(s->conn, buf, sizeof(buf), &e);
		if (n == MXK_CONN_WANT_READ || n == MXK_CONN_WANT_WRITE)
			return;
		if (n <= 0) {
			/* EOF or error: an unfinished message is dropped. */
			s->st = SS_DONE;
			return;
		}
		/* Outside a message only a reply restarts the timer, so a
		 * command must be complete within --timeout of the last
		 * reply however slowly its bytes come (Postfix's
		 * smtpd_per_record_deadline); a message has its own total
		 * deadline, and its bytes keep the session alive. */
		if (mxk_smtpd_in_data(s->eng))
			s->last = mxk_now_ms();
		rc = mxk_smtpd_feed(s->eng, buf, (size_t)n);
		after_feed(s, rc);
		if (rc != MXK_SMTPD_CONTINUE)
			return;
		/* A short read of plain text emptied the socket: the next
		 * read would say EAGAIN (TLS may hold a decrypted record). */
		if ((size_t)n < sizeof(buf) && s->tlsdesc[0] == '\0')
			return;
	}
}

static void
sess_step(struct sess *s)
{
	switch (s->st) {
	case SS_RUN:
	case SS_GREETWAIT:
		/* Before the greeting the engine refuses what it gets. */
		sess_read(s);
		break;
	case SS_TLSWAIT: {
		int f = sess_flush(s);

		if (f == -1)
			s->st = SS_DONE;
		else if (f == 1) {
			start_tls(s);
			if (s->st == SS_TLS)
				tls_step(s);
		}
		break;
	}
	case SS_TLS:
		tls_step(s);
		break;
	default:
		break;
	}
}

static struct mxk_smtpd_params engine_params;
static struct mxk_smtpd_hooks engine_hooks;

/* The greeting, or what --delay, --drop-after and --reply make of it. */
static void
sess_greet(struct sess *s)
{
	const struct fault	*f = &s->srv->o->faults[P_CONNECT];

	s->st = SS_RUN;
	if (f->delay > 0) {
		hold_add(s, f->delay);
		log_fault(s, "delay", P_CONNECT, NULL, f->delay);
	}
	if (f->drop) {
		log_fault(s, "drop", P_CONNECT, NULL, 0);
		s->st = SS_DONE;
		return;
	}
	if (f->reply_set) {
		log_fault(s, "reply", P_CONNECT, &f->reply, 0);
		after_feed(s, mxk_smtpd_greet_refuse(s->eng, &f->reply));
		return;
	}
	mxk_smtpd_greet(s->eng);
	after_feed(s, MXK_SMTPD_CONTINUE);
}

static struct sess *
sess_new(struct server *srv, int fd, int wfd, const char *ip, int port)
{
	struct sess		*s;
	struct mxk_smtpd_hooks	 h = engine_hooks;
	struct epoll_event	 ev;

	/* On failure fd is closed here, and only here. */
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		(void)close(fd);
		return NULL;
	}
	s->srv = srv;
	s->fd = fd;
	s->wfd = wfd;
	(void)snprintf(s->ip, sizeof(s->ip), "%s", ip);
	s->port = port;
	s->started = s->last = mxk_now_ms();
	s->id = ++srv->nsessions;
	h.arg = s;
	/* With the event loop fd comes from accept4(SOCK_NONBLOCK). */
	s->conn = srv->ep != -1 ? mxk_conn_new_sock(fd) : mxk_conn_new_fd(fd);
	if (s->conn == NULL ||
	    (s->eng = mxk_smtpd_new(&engine_params, &h)) == NULL) {
		if (s->conn != NULL)
			mxk_conn_free(s->conn);
		else
			(void)close(fd);
		free(s);
		return NULL;
	}
	s->next = srv->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	srv->sessions = s;
	srv->nsess++;
	if (srv->ep != -1) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = s;
		(void)epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev);
	}
	s->events = EPOLLIN;
	s->epmask = EPOLLIN | EPOLLRDHUP;
	dnsbl_start(s);
	if (srv->o->greet_delay > 0) {
		s->st = SS_GREETWAIT;
		s->greet_at = s->started + srv->o->greet_delay;
		wake_at(srv, s->greet_at);
	} else
		sess_greet(s);
	return s;
}

static void
accept_all(struct server *srv, int lfd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 ip[64];
	const char		*why;
	size_t			 row = 0;
	int			 fd, one = 1;
	struct sess		*s;

	for (;;) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;	/* EAGAIN, EMFILE...: next time */
		}
		/* The address alone (no port, no brackets); an IPv4 client of
		 * a dual-stack socket (systemd's) as IPv4. */
		if (ss.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
		    &((struct sockaddr_in6 *)&ss)->sin6_addr))
			(void)inet_ntop(AF_INET, &((struct sockaddr_in6 *)
			    &ss)->sin6_addr.s6_addr[12], ip, sizeof(ip));
		else
			(void)mxk_net_addr_str((struct sockaddr *)&ss, ip,
			    sizeof(ip));
		if (srv->stop)
			why = "stopping";
		else
			why = lim_take(srv->lim, lim_col(srv), ip,
			    srv->o->max_clients, srv->o->max_per_ip, &row);
		if (why != NULL) {
			static const char busy[] =
			    "421 4.3.2 Too many connections, try later\r\n";
			static const char full[] =
			    "421 4.7.0 Too many client addresses, try later\r\n";

			if (strcmp(why, "table-full") == 0)
				(void)write(fd, full, sizeof(full) - 1);
			else
				(void)write(fd, busy, sizeof(busy) - 1);
			(void)close(fd);
			logkv(srv, "refused client=%s reason=%s", ip, why);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if ((s = sess_new(srv, fd, fd, ip,
		    mxk_net_addr_port((struct sockaddr *)&ss))) == NULL) {
			lim_give(srv->lim, lim_col(srv), row);
			continue;
		}
		s->lim_row = row + 1;
		if (s->st == SS_DONE)
			sess_free(s);
	}
}

/*
 * The policy program, and the DNS list lookups under way: after a batch
 * with their events, and in timers() (their own deadlines).
 */
static void
lookups_step(struct server *srv)
{
	struct sess	*s, *next;

	if (srv->check != NULL) {
		mxk_check_step(srv->check);
		check_sync(srv);
	}
	for (s = srv->dnsq; s != NULL; s = next) {
		next = s->dnext;
		touch(s);
		if (s->st != SS_DONE)
			dnsbl_step(s);
	}
}

/* Deadlines: greeting delays, idle sessions, DATA, shutdown. */
static void
timers(struct server *srv)
{
	struct sess	*s, *next;
	long long	 now = mxk_now_ms();
	int		 ours;

	srv->next_wake = LLONG_MAX;
	lookups_step(srv);
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->st == SS_GREETWAIT) {
			if (now < s->greet_at) {
				wake_at(srv, s->greet_at);
				continue;
			}
			/* Silent so far (a talker was read and refused by
			 * the engine in sess_read()): greet. */
			sess_greet(s);
			continue;
		}
		if (s->st == SS_DONE)
			continue;
		if (s->nholds > 0 && s->holds[0].mark == 0 &&
		    s->holds[0].until > 0) {
			if (now >= s->holds[0].until) {
				/* A delayed reply is due. */
				if (s->st == SS_TLSWAIT)
					sess_step(s);
				else if (s->st == SS_RUN) {
					after_feed(s, MXK_SMTPD_CONTINUE);
					if (s->st == SS_RUN)
						sess_read(s);
				}
			} else
				wake_at(srv, s->holds[0].until);
		}
		if (srv->stop && !mxk_smtpd_in_data(s->eng) &&
		    (s->st == SS_RUN || s->st == SS_GREETWAIT)) {
			after_feed(s, mxk_smtpd_shutdown(s->eng));
			continue;
		}
		/*
		 * While the client waits for us (a held reply, a DNS list,
		 * the policy program, a store or AUTH job) its time does not
		 * run: each of those has its own deadline, and the reply
		 * that ends the wait restarts the clock (sess_flush()).
		 */
		ours = s->job != NULL || s->wait != W_NONE ||
		    (s->nholds > 0 && s->holds[0].mark == 0);
		if ((!ours && ((mxk_smtpd_in_data(s->eng) &&
		    s->data_until > 0 && now >= s->data_until) ||
		    now - s->last >= srv->o->timeout)) ||
		    (srv->stop && now >= srv->stop_deadline)) {
			logkv(srv, "timeout client=%s state=%s", s->ip,
			    mxk_smtpd_state_name(s->eng));
			if (s->st == SS_RUN)
				after_feed(s, mxk_smtpd_timeout(s->eng));
			else
				s->st = SS_DONE;
			if (s->st != SS_DONE)
				s->st = SS_DONE;	/* no more waiting */
		}
	}
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->st == SS_DONE)
			sess_free(s);
	}
}

/* "ADDR:PORT", "[V6]:PORT", ":PORT" (all addresses). */
static int
open_listener(const char *spec, int reuseport, struct mxk_err *e)
{
	struct sockaddr_storage	 ss;
	char			 host[128], *colon, *end;
	long			 port;
	int			 fd, one = 1, fam;
	socklen_t		 len;

	if (snprintf(host, sizeof(host), "%s", spec) >= (int)sizeof(host))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "-l %s: too long", spec);
	if ((colon = strrchr(host, ':')) == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "-l %s: ADDR:PORT or [ADDR]:PORT", spec);
	*colon = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "-l %s: bad port", spec);
	memset(&ss, 0, sizeof(ss));
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "-l %s: bad IPv6 address", spec);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		if (host[0] == '\0')
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "-l %s: bad IPv4 address", spec);
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		len = sizeof(*s4);
	}
	fam = ss.ss_family;
	if ((fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return mxk_err_sys(e, MXK_ERR_TEMP, "socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* --workers: one socket per worker on the same port; the kernel
	 * spreads connections over them. */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_TEMP, "SO_REUSEPORT");
		(void)close(fd);
		return -1;
	}
	if (fam == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, 1024) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_TEMP, "listen on %s", spec);
		(void)close(fd);
		return -1;
	}
	return fd;
}

/*
 * With -u, a reader stays root for SIGHUP: it reads the certificate, key
 * and password files (the paths given at start, nothing else) for the
 * server, which may no longer open them (a key only root may read is
 * common).  A request is one octet ('c', 'k', 'p') with a socket passed
 * along (SCM_RIGHTS), on a SOCK_SEQPACKET channel that the workers share;
 * the answer, on the passed socket: 4 octets of errno (0: read), then
 * the file (at most READER_MAX).  The reader exits when the channel's last
 * other end closes.  Nothing else reaches it.
 */
#define READER_MAX	(1024 * 1024)

/*
 * 1 when nobody but root can change what path names: every directory on
 * the way is root's and writable by root alone, or sticky with the entry
 * in it root's (then only root may rename or remove that entry).  Group
 * write is refused even for group root: an ACL granting a user write
 * shows there as the mask.  The
 * path is walked one entry at a time as the kernel would, every link on
 * every hop followed by hand (at most 40), so a link that only passes
 * through a directory of the server's user counts too.  The walk's end,
 * free of links, goes to real (PATH_MAX): the reader opens that, not the
 * path again, so nothing can be swapped between this check and the open.
 * So the root reader never reads a file the server's user put there (a
 * link to /etc/shadow).  0: not safe, or not there.
 */
static int
path_safe(const char *path, char *real)
{
	char		 rest[PATH_MAX], next[PATH_MAX], lnk[PATH_MAX];
	char		 ent[PATH_MAX], *r, *sl;
	struct stat	 sd, se;
	size_t		 cl = 0, n;
	ssize_t		 ll;
	int		 hops = 0;

	if (path == NULL || path[0] == '\0')
		return 0;
	if (path[0] == '/')
		n = (size_t)snprintf(rest, sizeof(rest), "%s", path);
	else if (getcwd(next, sizeof(next)) == NULL)
		return 0;
	else
		n = (size_t)snprintf(rest, sizeof(rest), "%s/%s", next, path);
	if (n >= sizeof(rest))
		return 0;
	real[0] = '\0';	/* "": the root; else "/a/b", no links */
	r = rest;
	for (;;) {
		/* Only a directory may be followed by a slash. */
		if ((n = strspn(r, "/")) > 0 && cl > 0 &&
		    (stat(real, &sd) == -1 || !S_ISDIR(sd.st_mode)))
			return 0;
		r += n;
		if (*r == '\0')
			break;
		n = strcspn(r, "/");
		if (n == 1 && r[0] == '.') {
			r += n;
			continue;
		}
		if (n == 2 && r[0] == '.' && r[1] == '.') {
			if ((sl = strrchr(real, '/')) != NULL)
				*sl = '\0';
			cl = strlen(real);
			r += n;
			continue;
		}
		if (cl + 1 + n >= sizeof(ent))
			return 0;
		memcpy(ent, real, cl);
		ent[cl] = '/';
		memcpy(ent + cl + 1, r, n);
		ent[cl + 1 + n] = '\0';
		r += n;
		if (stat(cl > 0 ? real : "/", &sd) == -1 ||
		    lstat(ent, &se) == -1)
			return 0;
		if ((sd.st_uid != 0 || (sd.st_mode & (S_IWGRP | S_IWOTH))) &&
		    !((sd.st_mode & S_ISVTX) && sd.st_uid == 0 &&
		    se.st_uid == 0))
			return 0;
		if (!S_ISLNK(se.st_mode)) {
			memcpy(real, ent, cl + 1 + n + 1);
			cl += 1 + n;
			continue;
		}
		/* A link: its target, then what was left, walked on. */
		if (++hops > 40 ||
		    (ll = readlink(ent, lnk, sizeof(lnk) - 1)) <= 0)
			return 0;
		lnk[ll] = '\0';
		if ((size_t)snprintf(next, sizeof(next), "%s%s%s", lnk,
		    *r != '\0' ? "/" : "", r) >= sizeof(next))
			return 0;
		memcpy(rest, next, strlen(next) + 1);
		r = rest;
		if (lnk[0] == '/') {
			real[0] = '\0';
			cl = 0;
		}
	}
	if (cl == 0)
		(void)snprintf(real, PATH_MAX, "/");
	return 1;
}

static void
reader_answer(int fd, const char *path)
{
	static char	 buf[READER_MAX + 1];
	char		 real[PATH_MAX];
	struct stat	 st;
	struct mxk_err	 e;
	long long	 deadline = mxk_deadline_in(2000);
	uint32_t	 err = 0;
	size_t		 len = 0;
	ssize_t		 n;
	int		 f = -1, type = 0;
	socklen_t	 tl = sizeof(type);

	/* Only a stream socket of ours, written without blocking. */
	if (fstat(fd, &st) == -1 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 ||
	    type != SOCK_STREAM || fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		return;
	if (path == NULL)
		err = EINVAL;
	else if (!path_safe(path, real))
		err = EPERM;
	else if ((f = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK | O_NOFOLLOW)) == -1)
		err = (uint32_t)errno;
	else if (fstat(f, &st) == -1 || !S_ISREG(st.st_mode))
		err = EINVAL;
	while (f != -1 && err == 0 && len < sizeof(buf)) {
		n = read(f, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err = (uint32_t)errno;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (f != -1)
		(void)close(f);
	if (err == 0 && len > READER_MAX)
		err = EFBIG;
	/* errno, then the file, within one deadline for the whole. */
	if (mxk_net_write_all(fd, &err, sizeof(err), deadline, &e) == 0 &&
	    err == 0)
		(void)mxk_net_write_all(fd, buf, len, deadline, &e);
	explicit_bzero(buf, len);	/* what was read, sent or not */
}

static void
reader_main(int ch, const struct opts *o)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(8 * sizeof(int))];
	}		 cm;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*c;
	char		 what[2];
	ssize_t		 n;
	size_t		 k, nfd;
	int		 fds[8], fd;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = what;
		iov.iov_len = sizeof(what);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		n = recvmsg(ch, &mh, MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		/* Every descriptor that came is closed again, whatever it
		 * was; a request is one octet and one socket. */
		nfd = 0;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL;
		    c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS ||
			    c->cmsg_len < CMSG_LEN(0))
				continue;
			for (k = 0; k < (c->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int) && nfd < 8; k++)
				memcpy(&fds[nfd++], CMSG_DATA(c) + k *
				    sizeof(int), sizeof(int));
		}
		if (n == 1 && nfd == 1 && !(mh.msg_flags &
		    (MSG_CTRUNC | MSG_TRUNC))) {
			fd = fds[0];
			reader_answer(fd, what[0] == 'c' ? o->certfile :
			    what[0] == 'k' ? (o->keyfile != NULL ?
			    o->keyfile : o->certfile) : what[0] == 'p' ?
			    o->passwd : NULL);
		}
		for (k = 0; k < nfd; k++)
			(void)close(fds[k]);
	}
}

/* Fork the reader (before -u): the server's end of its channel, or -1. */
static int
reader_start(const struct opts *o, pid_t *rpid)
{
	struct sigaction	sa;
	sigset_t		none;
	int			ch[2];
	pid_t			pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) == -1)
		return -1;
	if ((pid = fork()) == -1) {
		(void)close(ch[0]);
		(void)close(ch[1]);
		return -1;
	}
	if (pid == 0) {
		/* Only the channel: no listener, no client, no store. */
		int	nul = open("/dev/null", O_RDWR);

		if (nul == -1 || dup2(nul, 0) == -1 || dup2(nul, 1) == -1 ||
		    dup2(nul, 2) == -1 || dup2(ch[1], 3) == -1)
			_exit(1);
		(void)close_range(4, ~0U, 0);
		/* Out of the terminal's reach, and no core with the key. */
		(void)setsid();
		(void)prctl(PR_SET_DUMPABLE, 0);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		(void)sigaction(SIGTERM, &sa, NULL);
		(void)sigaction(SIGINT, &sa, NULL);
		sa.sa_handler = SIG_IGN;
		(void)sigaction(SIGHUP, &sa, NULL);
		(void)sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)prctl(PR_SET_NAME, "smtpd-lite-rd");
		reader_main(3, o);
	}
	(void)close(ch[1]);
	*rpid = pid;
	return ch[0];
}

/* File what ('c', 'k', 'p') from the reader into b (wiped by the caller). */
static int
reader_fetch(int ch, char what, struct mxk_buf *b, struct mxk_err *e)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(int))];
	}		 cm;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*c;
	long long	 deadline = mxk_deadline_in(2000);
	uint32_t	 err;
	char		 chunk[16384];
	ssize_t		 n;
	int		 sp[2];

	/* All the room at once: growing would leave copies of a key in
	 * freed memory, where no wipe reaches. */
	if (mxk_buf_space(b, b->max - b->len) == NULL)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_LOCAL, NULL,
		    "reader: out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1)
		return mxk_err_sys(e, MXK_ERR_TEMP, "reader: socketpair");
	memset(&mh, 0, sizeof(mh));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = &what;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sp[1], sizeof(int));
	while ((n = sendmsg(ch, &mh, MSG_NOSIGNAL | MSG_DONTWAIT)) == -1 &&
	    errno == EINTR)
		;
	(void)close(sp[1]);
	if (n != 1) {
		int	gone = errno != EAGAIN;

		(void)close(sp[0]);
		(void)mxk_err_sys(e, MXK_ERR_TEMP, "%s", gone ? "reader gone" :
		    "reader busy");
		return gone ? -2 : -1;
	}
	(void)mxk_net_nonblock(sp[0]);
	while ((n = mxk_net_read(sp[0], chunk, sizeof(chunk), deadline,
	    e)) != 0) {
		if (n == -1) {
			explicit_bzero(chunk, sizeof(chunk));
			(void)close(sp[0]);
			return -1;	/* 4.4.2 read timed out */
		}
		if (mxk_buf_add(b, chunk, (size_t)n) == -1) {
			explicit_bzero(chunk, sizeof(chunk));
			(void)close(sp[0]);
			return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL,
			    NULL, "reader: file over 1 MiB");
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	(void)close(sp[0]);
	if (b->len < sizeof(err))
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_LOCAL, NULL,
		    "reader: no answer");
	memcpy(&err, b->p, sizeof(err));
	if (err != 0) {
		errno = (int)err;
		return mxk_err_sys(e, MXK_ERR_CONFIG, "%s", what == 'c' ?
		    "certificate" : what == 'k' ? "key" : "passwd");
	}
	memmove(b->p, b->p + sizeof(err), b->len - sizeof(err));
	b->len -= sizeof(err);
	return 0;
}

static int
drop_privileges(const char *user)
{
	struct passwd	*pw;

	if ((pw = getpwnam(user)) == NULL) {
		(void)fprintf(stderr, "%s: error: no user %s\n", PROG, user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		(void)fprintf(stderr, "%s: error: cannot become %s: %s\n",
		    PROG, user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 && pw->pw_uid != 0) {
		(void)fprintf(stderr, "%s: error: could regain root\n", PROG);
		return -1;
	}
	return 0;
}

/* reload() through the reader (-u): the files as root reads them. */
static void
reload_read(struct server *srv)
{
	struct mxk_passwd	*pw;
	struct mxk_buf		 c, k;
	struct mxk_err		 e;
	int			 rc;

	mxk_buf_init(&c, READER_MAX + 4);
	mxk_buf_init(&k, READER_MAX + 4);
	rc = reader_fetch(srv->reader, srv->tls != NULL ? 'c' : 'p', &c, &e);
	/* Gone (killed, say): the files as this user reads them, from now. */
	if (rc == -2) {
		logkv(srv, "warning: %s: reading the files as user %s from now "
		    "on", e.msg, srv->o->user);
		(void)close(srv->reader);
		srv->reader = -1;
		if (srv->worker == 0)
			(void)waitpid(srv->reader_pid, NULL, WNOHANG);
		mxk_buf_wipe(&c);
		reload(srv);
		return;
	}
	if (srv->tls != NULL) {
		if (rc < 0 || reader_fetch(srv->reader, 'k', &k, &e) < 0 ||
		    mxk_tls_server_ctx_reload_mem(srv->tls, c.p, c.len, k.p,
		    k.len, &e) == -1)
			logkv(srv, "reload certificates failed (kept the old "
			    "ones): %s", e.msg);
		mxk_buf_wipe(&c);
		mxk_buf_wipe(&k);
		if (srv->o->passwd != NULL)
			rc = reader_fetch(srv->reader, 'p', &c, &e);
	}
	if (srv->o->passwd != NULL) {
		if (rc < 0 || mxk_passwd_load_mem(srv->o->passwd, c.p, c.len,
		    &pw, &e) == -1)
			logkv(srv, "reload passwd failed (kept the old one): "
			    "%s", e.msg);
		else {
			mxk_passwd_free(srv->pw);
			srv->pw = pw;
		}
		mxk_buf_wipe(&c);
	}
	logkv(srv, "reloaded");
}

static void
reload(struct server *srv)
{
	struct mxk_passwd	*pw;
	struct mxk_err		 e;

	srv->reload = 0;
	if (srv->reader != -1) {
		reload_read(srv);
		return;
	}
	if (srv->tls != NULL && mxk_tls_server_ctx_reload(srv->tls, &e) == -1)
		logkv(srv, "reload certificates failed (kept the old ones): %s",
		    e.msg);
	if (srv->o->passwd != NULL) {
		if (mxk_passwd_load(srv->o->passwd, &pw, &e) == -1)
			logkv(srv, "reload passwd failed (kept the old one): "
			    "%s", e.msg);
		else {
			mxk_passwd_free(srv->pw);
			srv->pw = pw;
		}
	}
	logkv(srv, "reloaded");
}

/* How long the loop may sleep: at most max ms, less when a fine deadline
 * (a delayed reply, a greeting) is near. */
static int
wait_ms(struct server *srv, int max)
{
	long long	left;

	if (srv->next_wake == LLONG_MAX)
		return max;
	left = srv->next_wake - mxk_now_ms();
	if (left <= 0)
		return 0;
	return left < max ? (int)left : max;
}

/* --stdio: one session on fds 0 and 1 (inetd, tcpserver, systemd). */
static int
run_stdio(struct server *srv)
{
	const char		*ip = getenv("TCPREMOTEIP");
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 peer[64];
	struct stat		 st;
	struct sess		*s;
	struct pollfd		 pfd[4 + 2 * MAXDNSBL];
	long long		 now, wake;
	int			 sock, w, np, ns, i, port = 0;

	/* A socket on fd 0 carries both directions (and STARTTLS). */
	sock = fstat(0, &st) == 0 && S_ISSOCK(st.st_mode);
	if (!sock)
		engine_params.starttls = 0;
	/*
	 * The client: tcpserver's TCPREMOTEIP, systemd's REMOTE_ADDR
	 * (Accept=yes), or the socket's peer.
	 */
	if (ip == NULL || *ip == '\0')
		ip = getenv("REMOTE_ADDR");
	if ((ip == NULL || *ip == '\0') && sock &&
	    getpeername(0, (struct sockaddr *)&ss, &sl) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		(void)mxk_net_addr_str((struct sockaddr *)&ss, peer,
		    sizeof(peer));
		port = mxk_net_addr_port((struct sockaddr *)&ss);
		ip = peer;
	}
	if (ip != NULL && strncmp(ip, "::ffff:", 7) == 0 &&
	    strchr(ip + 7, ':') == NULL)
		ip += 7;	/* an IPv4 client of a dual-stack socket */
	srv->ep = -1;
	if ((s = sess_new(srv, 0, sock ? 0 : 1, ip != NULL && *ip != '\0' ?
	    ip : "stdin", port)) == NULL)
		return EX_OSERR;
	while (s != NULL && s->st != SS_DONE) {
		now = mxk_now_ms();
		np = 0;
		if (s->events & EPOLLIN) {
			pfd[np].fd = s->fd;
			pfd[np++].events = POLLIN;
		}
		if (s->events & EPOLLOUT) {
			if (np > 0 && s->wfd == s->fd)
				pfd[0].events |= POLLOUT;
			else {
				pfd[np].fd = s->wfd;
				pfd[np++].events = POLLOUT;
			}
		}
		ns = np;	/* the session's; then the others' */
		if (srv->check != NULL) {
			int rfd, wfd;

			mxk_check_fds(srv->check, &rfd, &wfd);
			if (rfd != -1) {
				pfd[np].fd = rfd;
				pfd[np++].events = POLLIN;
			}
			if (wfd != -1) {
				pfd[np].fd = wfd;
				pfd[np++].events = POLLOUT;
			}
		}
		if (s->dnsbl != NULL)
			np += (int)mxk_dns_batch_fds(s->dnsbl, pfd + np,
			    2 * MAXDNSBL, &wake);
		for (i = 0; i < np; i++)
			pfd[i].revents = 0;
		w = poll(pfd, (nfds_t)np, wait_ms(srv, 1000));
		if (w == -1 && errno != EINTR)
			break;
		if (srv->stop && srv->stop_deadline == 0)
			srv->stop_deadline = now + srv->o->shutdown_grace;
		for (i = 0; w > 0 && i < ns && s->st != SS_DONE; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (s->st == SS_RUN && (pfd[i].revents & POLLOUT) &&
			    !(pfd[i].revents & POLLIN)) {
				if (sess_flush(s) == -1)
					s->st = SS_DONE;
				else
					after_feed(s, MXK_SMTPD_CONTINUE);
			} else
				sess_step(s);
		}
		reap(srv);
		timers(srv);
		s = srv->sessions;
	}
	if (srv->sessions != NULL)
		sess_free(srv->sessions);
	return 0;
}

/*
 * --busy-poll: after a wait that brought events, look again without
 * sleeping for up to busy_poll µs.  A client on this host whose next
 * command comes within that time finds the loop awake: its write then
 * does not have to wake a sleeping process, which costs the client more
 * than the poll costs here (the 1 KiB bench cells, bench/README.md).  A
 * client across a network is rarely that quick, and there the poll is
 * CPU spent for nothing.  Hence auto, the default: poll only while most
 * polls find something (BP_*), else try one wait in BP_PROBE, so that a
 * slow client costs a 50 µs poll per 64 waits at most.  Returns what
 * epoll_wait() returned, 0 when nothing came (the caller then waits).
 */
static int
busy_poll(struct server *srv, struct epoll_event *evs, int max, int lastn)
{
	long long	end;
	int		n;

	if (srv->o->busy_poll == 0 || lastn <= 0 || srv->stop || srv->reload)
		return 0;
	/* auto: poll while most polls find something; else only probe. */
	if (srv->o->busy_auto && srv->bp_score < BP_ON &&
	    ++srv->bp_skip < BP_PROBE)
		return 0;
	srv->bp_skip = 0;
	srv->bp_polls++;
	end = mxk_now_us() + srv->o->busy_poll;
	do {
		/* A signal meanwhile: to the loop at once. */
		if (srv->stop || srv->reload)
			return 0;
		if ((n = epoll_wait(srv->ep, evs, max, 0)) != 0) {
			if (n > 0) {
				srv->bp_found++;
				srv->bp_score = srv->bp_score + BP_HIT >
				    BP_MAX ? BP_MAX : srv->bp_score + BP_HIT;
			}
			return n;
		}
	} while (mxk_now_us() < end);
	srv->bp_score = srv->bp_score > BP_MISS ? srv->bp_score - BP_MISS : 0;
	return 0;
}

/* The event loop of one process (or of one worker). */
static int
serve(struct server *srv)
{
	const struct opts	*o = srv->o;
	struct epoll_event	 evs[256], ev;
	long long		 now;
	size_t			 i;
	int			 n, k, lastn = 0;

	if ((srv->ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		(void)fprintf(stderr, "%s: error: epoll: %s\n", PROG,
		    strerror(errno));
		return EX_OSERR;
	}
	if (o->threads > 0 && (o->kind != MXK_STORE_DISCARD ||
	    srv->pw != NULL)) {
		if ((srv->pool = pool_new(o->threads)) == NULL) {
			(void)fprintf(stderr, "%s: error: store threads: %s\n",
			    PROG, strerror(errno));
			return EX_OSERR;
		}
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u64 = TAG_JOBS;
		(void)epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->pool->efd, &ev);
	}
	for (i = 0; i < srv->nlfd; i++) {
		memset(&ev, 0, sizeof(ev));
		/* A socket every worker waits on wakes one of them. */
		ev.events = EPOLLIN | (srv->shared[i] ? EPOLLEXCLUSIVE : 0);
		ev.data.u64 = i;	/* listeners: small integers */
		(void)epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->lfd[i], &ev);
	}
	if (srv->worker <= 1) {
		if (o->ndomains == 0)
			logkv(srv, "warning: no --accept-domain: mail for "
			    "every domain is accepted");
		if (o->nfaults > 0 || o->reject_rate > 0)
			logkv(srv, "warning: fault injection is on (--reply, "
			    "--delay, --drop-after, --reject-rate): for "
			    "testing only");
		if (o->reject_rate > 0)
			logkv(srv, "reject-rate=%g at=%s seed=%llu",
			    o->reject_rate, point_names[o->reject_at],
			    o->seed);
		for (i = 0; i < o->ndnsbl; i++)
			logkv(srv, "dnsbl zone=%s timeout=%lldms cache=%zu",
			    o->dnsbl[i], o->dnsbl_timeout, o->dnsbl_cache);
		if (o->argv_check != NULL)
			logkv(srv, "check program=%s timeout=%lldms",
			    o->argv_check[0], o->check_timeout);
	}
	logkv(srv, "start listen=%zu store=%s tls=%s auth=%s", srv->nlfd,
	    o->kind == MXK_STORE_MAILDIR ? "maildir" : o->kind ==
	    MXK_STORE_EXEC ? "exec" : "discard", srv->tls != NULL ? "yes" :
	    "no", srv->pw != NULL ? "yes" : "no");

	/* The log lines of a batch go out in one write, before the wait;
	 * not with --store-threads 0, where the loop itself would wait for
	 * fsync, --exec or crypt(3) with lines held. */
	mxk_log_hold(srv->pool != NULL || (o->kind == MXK_STORE_DISCARD &&
	    o->passwd == NULL));
	for (;;) {
		if (srv->reload)
			reload(srv);
		if (srv->stop && srv->stop_deadline == 0) {
			srv->stop_deadline = mxk_now_ms() +
			    srv->o->shutdown_grace;
			for (i = 0; i < srv->nlfd; i++) {
				(void)epoll_ctl(srv->ep, EPOLL_CTL_DEL,
				    srv->lfd[i], NULL);
				(void)close(srv->lfd[i]);
			}
			srv->nlfd = 0;
			logkv(srv, "stopping sessions=%d", srv->nsess);
		}
		if (srv->stop && srv->sessions == NULL)
			break;
		mxk_log_flush();
		n = busy_poll(srv, evs, 256, lastn);
		/* A signal that came during the poll is seen now. */
		if (n == 0)
			n = epoll_wait(srv->ep, evs, 256, srv->reload ||
			    (srv->stop && srv->stop_deadline == 0) ? 0 :
			    wait_ms(srv, 200));
		lastn = n;
		if (n == -1 && errno != EINTR)
			break;
		for (k = 0; k < n; k++) {
			if (evs[k].data.u64 == TAG_JOBS) {
				struct job *j, *next;

				for (j = pool_take(srv->pool); j != NULL;
				    j = next) {
					next = j->next;
					job_done(srv, j);
				}
				continue;
			}
			if (evs[k].data.u64 >= MAXLISTEN &&
			    evs[k].data.u64 < TAG_MAX) {
				/* DNS lists, the policy program: stepped
				 * after the batch. */
				srv->lookups = 1;
				continue;
			}
			if (evs[k].data.u64 < MAXLISTEN) {
				if (srv->nlfd > 0)
					accept_all(srv, srv->lfd[
					    evs[k].data.u64]);
				continue;
			}
			{
				struct sess *s = evs[k].data.ptr;

				touch(s);
				if (s->st == SS_DONE)
					continue;
				if (evs[k].events & EPOLLRDHUP &&
				    !(s->events & EPOLLIN)) {
					sess_rdhup(s);
					if (s->st == SS_DONE)
						continue;
				}
				if (evs[k].events & (EPOLLERR | EPOLLHUP) &&
				    !(evs[k].events & EPOLLIN))
					s->st = SS_DONE;
				else if (evs[k].events & EPOLLOUT &&
				    s->st == SS_RUN) {
					if (sess_flush(s) == -1)
						s->st = SS_DONE;
					else
						after_feed(s,
						    MXK_SMTPD_CONTINUE);
					if (s->st == SS_RUN &&
					    (evs[k].events & EPOLLIN))
						sess_read(s);
				} else if (evs[k].events & (EPOLLIN | EPOLLOUT))
					/* Not on a bare RDHUP: reading now would
					 * pass over the output's back-pressure. */
					sess_step(s);
			}
		}
		/*
		 * A session the batch ended is freed now; the walk over every
		 * session (deadlines, shutdown) runs when something is due,
		 * not after every batch: with thousands of sessions open that
		 * would cost more than the batch.
		 */
		if (srv->lookups) {
			srv->lookups = 0;
			lookups_step(srv);
		}
		reap(srv);
		now = mxk_now_ms();
		if (srv->walk || srv->stop || now >= srv->next_wake ||
		    now >= srv->next_walk) {
			srv->walk = 0;
			srv->next_walk = now + WALK_MS;
			timers(srv);
		}
		/* The grace is over: a --exec program still running is
		 * killed now, not at its own deadline (the store threads
		 * are joined below). */
		if (srv->stop && srv->stop_deadline > 0 &&
		    now >= srv->stop_deadline)
			atomic_store(&srv->store_cancel, 1);
	}
	atomic_store(&srv->store_cancel, 1);
	pool_free(srv->pool);
	srv->pool = NULL;
	if (o->busy_poll > 0)
		logkv(srv, "stopped busy-poll=%llu found=%llu", srv->bp_polls,
		    srv->bp_found);
	else
		logkv(srv, "stopped");
	mxk_log_hold(0);
	mxk_passwd_free(srv->pw);
	mxk_tls_server_ctx_free(srv->tls);
	mxk_dns_close(srv->dns);
	mxk_check_free(srv->check);
	free(srv->blc);
	return 0;
}

/*
 * The sockets systemd passed (LISTEN_FDS, from fd 3): listening stream
 * sockets only; made non-blocking and close-on-exec; the variables are
 * removed so that programs started later do not take them for theirs.
 */
static int
activated(int *fds, struct mxk_err *e)
{
	int		n = activated_env(), i, fd, v, fl;
	socklen_t	len;

	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	for (i = 0; i < n; i++) {
		fd = LISTEN_FDS_START + i;
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == -1 ||
		    v == 0)
			return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL,
			    NULL, "LISTEN_FDS: descriptor %d is not a "
			    "listening socket", fd);
		len = sizeof(v);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == -1 ||
		    v != SOCK_STREAM)
			return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL,
			    NULL, "LISTEN_FDS: descriptor %d is not a stream "
			    "socket", fd);
		if ((fl = fcntl(fd, F_GETFL)) == -1 ||
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
			return mxk_err_sys(e, MXK_ERR_CONFIG, "LISTEN_FDS: "
			    "descriptor %d", fd);
		fds[i] = fd;
	}
	return n;
}

/*
 * --workers: the parent forks N workers, each with its own event loop and
 * listening sockets (its own SO_REUSEPORT set of -l, and every socket from
 * systemd), and only supervises: a worker that dies is started again (one
 * second later when it lived less than a second), SIGHUP is passed on,
 * SIGTERM too, and the parent waits for the workers to finish their
 * sessions (the grace, then 5 seconds, then SIGKILL).  The parent keeps
 * every socket, so that a new worker takes over its predecessor's.
 */
static pid_t
spawn(struct server *srv, int k, const int *act, int nact, const int *own,
    int nw)
{
	sigset_t	none;
	pid_t		pid, parent = getpid();
	size_t		i, nl = srv->o->nlisten;
	int		j;

	if ((pid = fork()) != 0)
		return pid;
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* The supervisor gone (SIGKILL): stop too. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	srv->worker = k + 1;
	srv->nlfd = 0;
	for (j = 0; j < nact; j++) {
		srv->shared[srv->nlfd] = 1;
		srv->lfd[srv->nlfd++] = act[j];
	}
	for (j = 0; j < nw; j++)
		for (i = 0; i < nl; i++) {
			if (j == k) {
				srv->shared[srv->nlfd] = 0;
				srv->lfd[srv->nlfd++] = own[(size_t)j * nl + i];
			} else
				(void)close(own[(size_t)j * nl + i]);
		}
	exit(serve(srv));
}

static int
supervise(struct server *srv, const int *act, int nact, const int *own,
    int nw)
{
	pid_t		 pids[MAXWORKERS], pid;
	long long	 born[MAXWORKERS], again[MAXWORKERS], now, until = 0;
	sigset_t	 set;
	siginfo_t	 si;
	struct timespec	 ts;
	int		 k, sig, st, stopping = 0, left;

	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGTERM);
	(void)sigaddset(&set, SIGINT);
	(void)sigaddset(&set, SIGHUP);
	(void)sigaddset(&set, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	logkv(srv, "start workers=%d listen=%d", nw, nact +
	    (int)srv->o->nlisten);
	for (k = 0; k < nw; k++) {
		pids[k] = 0;
		again[k] = 0;
	}
	for (;;) {
		now = mxk_now_ms();
		for (k = 0; k < nw && !stopping; k++) {
			if (pids[k] != 0 || now < again[k])
				continue;
			if ((pids[k] = spawn(srv, k, act, nact, own, nw)) ==
			    -1) {
				logkv(srv, "error: fork: %s", strerror(errno));
				pids[k] = 0;
				again[k] = now + 1000;
				continue;
			}
			born[k] = now;
			logkv(srv, "worker %d pid=%ld started", k + 1,
			    (long)pids[k]);
		}
		ts.tv_sec = 0;
		ts.tv_nsec = 250 * 1000000L;
		sig = sigtimedwait(&set, &si, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!stopping) {
				logkv(srv, "stopping workers=%d", nw);
				until = mxk_now_ms() +
				    srv->o->shutdown_grace + 5000;
			}
			stopping = 1;
			for (k = 0; k < nw; k++)
				if (pids[k] > 0)
					(void)kill(pids[k], SIGTERM);
		} else if (sig == SIGHUP) {
			for (k = 0; k < nw; k++)
				if (pids[k] > 0)
					(void)kill(pids[k], SIGHUP);
		}
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (k = 0; k < nw && pids[k] != pid; k++)
				;
			if (k == nw)
				continue;
			pids[k] = 0;
			/* Its sessions died with it: their slots are free. */
			lim_clear(srv->lim, k);
			if (stopping)
				continue;
			now = mxk_now_ms();
			logkv(srv, "worker %d pid=%ld %s %d; starting it again",
			    k + 1, (long)pid, WIFSIGNALED(st) ? "killed by "
			    "signal" : "exited", WIFSIGNALED(st) ?
			    WTERMSIG(st) : WEXITSTATUS(st));
			again[k] = now - born[k] < 1000 ? now + 1000 : now;
		}
		if (stopping) {
			for (k = 0, left = 0; k < nw; k++)
				left += pids[k] > 0;
			if (left == 0)
				break;
			if (mxk_now_ms() >= until)
				for (k = 0; k < nw; k++)
					if (pids[k] > 0)
						(void)kill(pids[k], SIGKILL);
		}
	}
	logkv(srv, "stopped");
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct server		 srv;
	struct mxk_err		 e;
	struct sigaction	 sa;
	struct rlimit		 rl;
	size_t			 i;
	int			 k, fd, nact, nw, act[MAXLISTEN], *own = NULL;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		(void)close(fd);
	parse_args(argc, argv, &o);
	mxk_log_init_stderr(PROG, o.verbose);
	if (o.use_syslog) {
		openlog(PROG, LOG_PID, LOG_MAIL);
		mxk_log_set_sink(mxk_log_sink_syslog, NULL);
	}

	memset(&srv, 0, sizeof(srv));
	srv.o = &o;
	srv.ep = -1;
	srv.reader = -1;
	srv.next_wake = LLONG_MAX;
	if (!o.seed_set &&
	    getrandom(&o.seed, sizeof(o.seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(o.seed))
		o.seed = (unsigned long long)time(NULL) ^
		    ((unsigned long long)getpid() << 32);
	srv.rng = o.seed;
	if (o.hostname != NULL)
		(void)snprintf(srv.hostname, sizeof(srv.hostname), "%s",
		    o.hostname);
	else if (gethostname(srv.hostname, sizeof(srv.hostname)) != 0)
		(void)snprintf(srv.hostname, sizeof(srv.hostname),
		    "localhost");
	srv.hostname[sizeof(srv.hostname) - 1] = '\0';

	memset(&srv.sp, 0, sizeof(srv.sp));
	srv.sp.kind = o.kind;
	srv.sp.maildir = o.maildir;
	srv.sp.argv = o.argv_exec;
	srv.sp.lmtp = o.lmtp;
	srv.sp.hostname = srv.hostname;
	srv.sp.cancel = &srv.store_cancel;
	if (o.kind == MXK_STORE_MAILDIR) {
		char probe[PATH_MAX];

		if (mxk_store_expand(o.maildir, "probe@example.test", probe,
		    sizeof(probe), &e) == -1) {
			(void)fprintf(stderr, "%s: error: --maildir %s: %s\n",
			    PROG, o.maildir, e.msg);
			return EX_CONFIG;
		}
	}
	/* Found when the first message comes is too late: mail would
	 * pile up at the senders with a 451 each time. */
	if (o.kind == MXK_STORE_EXEC && mxk_store_check(&srv.sp, &e) == -1) {
		(void)fprintf(stderr, "%s: error: --exec %s\n", PROG, e.msg);
		return EX_CONFIG;
	}
	if (o.certfile != NULL && mxk_tls_server_ctx_new(o.certfile,
	    o.keyfile != NULL ? o.keyfile : o.certfile, NULL, &srv.tls,
	    &e) == -1) {
		(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		return EX_CONFIG;
	}
	if (o.passwd != NULL && mxk_passwd_load(o.passwd, &srv.pw, &e) == -1) {
		(void)fprintf(stderr, "%s: error: --passwd: %s\n", PROG, e.msg);
		return EX_CONFIG;
	}
	if (o.argv_check != NULL) {
		struct mxk_check_params	cp;

		memset(&cp, 0, sizeof(cp));
		cp.argv = o.argv_check;
		cp.timeout_ms = (int)o.check_timeout;
		if (mxk_check_new(&cp, check_done, &srv.check, &e) == -1) {
			(void)fprintf(stderr, "%s: error: --check: %s\n", PROG,
			    e.msg);
			return EX_CONFIG;
		}
		srv.check_rreg = srv.check_wreg = -1;
	}
	if (o.ndnsbl > 0) {
		struct mxk_dns_params	dp;

		memset(&dp, 0, sizeof(dp));
		dp.resolver = o.resolver;
		dp.trust_ad = -1;
		/* Each try within the deadline; two tries fit. */
		dp.timeout_ms = (int)(o.dnsbl_timeout / 2 > 0 ?
		    o.dnsbl_timeout / 2 : 1);
		if (dp.timeout_ms > 2000)
			dp.timeout_ms = 2000;
		if (mxk_dns_open(&srv.dns, &dp, &e) == -1) {
			(void)fprintf(stderr, "%s: error: --dnsbl: %s\n", PROG,
			    e.msg);
			return EX_CONFIG;
		}
	}

	memset(&engine_params, 0, sizeof(engine_params));
	engine_params.hostname = srv.hostname;
	engine_params.max_size = o.max_size;
	engine_params.max_rcpt = o.max_rcpt;
	engine_params.lmtp = o.lmtp;
	engine_params.starttls = srv.tls != NULL;
	engine_params.auth = srv.pw != NULL;
	engine_params.auth_plaintext = o.auth_plaintext;
	engine_params.require_tls = o.require_tls;
	engine_params.require_auth = o.require_auth;
	engine_params.strict = o.strict;
	memset(&engine_hooks, 0, sizeof(engine_hooks));
	engine_hooks.command = h_command;
	engine_hooks.rcpt = h_rcpt;
	engine_hooks.data_begin = h_begin;
	engine_hooks.data = h_data;
	engine_hooks.data_end = h_end;
	engine_hooks.data_abort = h_abort;
	engine_hooks.auth = h_auth;
	engine_hooks.trace = h_trace;

	the_server = &srv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);

	/* -u applies to --stdio too (inetd, tcpserver started as root). */
	if (o.stdio && o.user != NULL && drop_privileges(o.user) == -1)
		return EX_CONFIG;
	if (o.stdio) {
		int rc = run_stdio(&srv);

		mxk_check_free(srv.check);
		mxk_dns_close(srv.dns);
		free(srv.blc);
		return rc;
	}

	/* Listening sockets: systemd's (shared by every worker), then -l
	 * (one per worker with --workers, SO_REUSEPORT). */
	if ((nact = activated(act, &e)) == -1) {
		(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		return EX_CONFIG;
	}
	nw = o.workers > 1 ? o.workers : 1;
	if (nact + o.nlisten > MAXLISTEN)
		die_usage("too many listening sockets (%d)", MAXLISTEN);
	if (o.nlisten > 0 && (own = calloc((size_t)nw * o.nlisten,
	    sizeof(*own))) == NULL) {
		(void)fprintf(stderr, "%s: error: out of memory\n", PROG);
		return EX_OSERR;
	}
	for (k = 0; k < nw; k++)
		for (i = 0; i < o.nlisten; i++) {
			if ((fd = open_listener(o.listen[i], nw > 1, &e)) ==
			    -1) {
				(void)fprintf(stderr, "%s: error: %s\n", PROG,
				    e.msg);
				return e.class == MXK_ERR_USAGE ? EX_USAGE :
				    EX_UNAVAILABLE;
			}
			own[(size_t)k * o.nlisten + i] = fd;
		}
	if (o.user != NULL && geteuid() == 0 && (srv.tls != NULL ||
	    srv.pw != NULL)) {
		const char	*f[3] = { o.certfile, o.keyfile, o.passwd };
		char		 real[PATH_MAX];

		for (i = 0; i < 3; i++)
			if (f[i] != NULL && !path_safe(f[i], real))
				(void)fprintf(stderr, "%s: warning: %s is in "
				    "a directory others than root may change: "
				    "SIGHUP will not read it again\n", PROG,
				    f[i]);
		if ((srv.reader = reader_start(&o, &srv.reader_pid)) == -1)
			(void)fprintf(stderr, "%s: warning: no file reader "
			    "(%s): SIGHUP will read the files as %s\n", PROG,
			    strerror(errno), o.user);
	}
	if (o.user != NULL && drop_privileges(o.user) == -1)
		return EX_CONFIG;
	/* Enough descriptors for max-clients sessions. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <
	    (rlim_t)o.max_clients + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)o.max_clients + 64 ?
		    rl.rlim_max : (rlim_t)o.max_clients + 64;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* The counts of --max-clients and --max-per-ip (one table for all
	 * --workers). */
	if ((srv.lim = lim_new(nw, o.max_clients, o.max_auth_fail > 0)) ==
	    NULL) {
		(void)fprintf(stderr, "%s: error: client limits: %s\n",
		    PROG, strerror(errno));
		return EX_OSERR;
	}
	if (nw > 1)
		return supervise(&srv, act, nact, own, nw);
	for (i = 0; i < (size_t)nact; i++) {
		srv.shared[srv.nlfd] = 0;
		srv.lfd[srv.nlfd++] = act[i];
	}
	for (i = 0; i < o.nlisten; i++)
		srv.lfd[srv.nlfd++] = own[i];
	free(own);
	return serve(&srv);
}
