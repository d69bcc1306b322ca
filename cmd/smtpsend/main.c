/* ISC license. */

/*
 * smtpsend: send a message read on standard input, from a script.
 * Options, output and exit codes only; the work is in lib/.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
#include "msg.h"
#include "mtasts.h"
#include "mx.h"
#include "net.h"
#include "reply.h"
#include "route.h"
#include "smtpc.h"
#include "spool.h"
#include "starttls.h"
#include "tls.h"

#define PROG		"smtpsend"
#define MAXRCPT		10000
#define MAXATT		128
#define MAXTO		1000

struct opts {
	const char	*from, *fullname;
	int		 extract, ignore_dots, sendmail;
	const char	*host;		/* relay HOST[:PORT] or unix:/path */
	int		 port;		/* 0: 25, 465 with --smtps */
	int		 smtps, lmtp;
	const char	*ehlo;
	int		 tls_policy;
	const char	*cafile, *certfile, *keyfile, *tls_priority;
	const char	*user, *passfile, *auth_mech;
	int		 auth_plaintext;
	const char	*dsn_notify, *dsn_ret, *dsn_envid, *dsn_orcpt;
	int		 no_chunking, no_pipelining;
	int		 json, quiet, verbose;
	const char	*resolver;
	int		 trust_ad;
	long long	 connect_timeout, command_timeout, data_timeout;
	long long	 data_start_timeout, final_timeout;
	long long	 timeout;
	int		 family;
	int		 each;
	const char	*to[MAXTO];
	size_t		 nto;
	const char	*spool, *flush;
	int		 flush_all;
	long long	 lifetime;
	int		 no_mta_sts;
	const char	*sts_cache;
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
"usage: %s [options] RECIPIENT... < message\n"
"       %s -t [options] [RECIPIENT...] < message\n"
"       %s --each [--to RCPT]... [-t] [options] FILE...\n"
"       %s --flush DIR [options]\n"
"\n"
"Send the message on standard input to the recipients, directly to their\n"
"domains' mail exchangers (DANE when published) or through a relay.\n"
"\n"
"  -f, --from SENDER          envelope sender (default: USER@HOSTNAME)\n"
"  -F, --fullname NAME        add 'From: \"NAME\" <SENDER>' when there is none\n"
"  -t, --extract              recipients from To, Cc, Bcc (Bcc removed)\n"
"  -i, -oi                    a line with a single dot does not end input\n"
"      --host HOST[:PORT]     relay through HOST (or unix:/PATH for LMTP)\n"
"      --smtps                implicit TLS (RFC 8314; port 465)\n"
"      --lmtp                 speak LMTP (RFC 2033)\n"
"  -p, --port PORT            port (25, or 465 with --smtps)\n"
"      --ehlo NAME            EHLO name (default: this host's name)\n"
"      --tls POLICY           auto (DANE, else MTA-STS, else opportunistic),\n"
"                             require (PKIX), none; or may, encrypt, pkix, dane\n"
"      --no-mta-sts           do not look up or apply MTA-STS policies\n"
"      --mta-sts-cache DIR    the MTA-STS policy cache (shared with\n"
"                             mtasts-check; default ~/.cache/mxkit/mta-sts)\n"
"      --cafile FILE          trust anchors for PKIX (default SSL_CERT_FILE)\n"
"      --cert FILE, --key FILE  client certificate and key (PEM)\n"
"      --tls-priority S       GnuTLS priority string\n"
"      --user NAME            AUTH as NAME; the secret from --passfile or\n"
"                             SMTPSEND_PASSWORD, never the command line\n"
"      --passfile FILE        the AUTH secret (first line of FILE)\n"
"      --auth-mech MECH       PLAIN, LOGIN, CRAM-MD5 or XOAUTH2\n"
"      --auth-plaintext       allow AUTH without TLS\n"
"      --dsn-notify LIST      NEVER, or SUCCESS,FAILURE,DELAY (RFC 3461)\n"
"      --dsn-ret FULL|HDRS    what a bounce returns\n"
"      --dsn-envid ID         envelope identifier\n"
"      --dsn-orcpt            send ORCPT with each recipient\n"
"      --no-chunking          DATA even when BDAT is offered\n"
"      --no-pipelining        one command at a time\n"
"  -4, -6                     IPv4 or IPv6 only\n"
"      --resolver ADDR[:PORT] DNS resolver (default: /etc/resolv.conf)\n"
"      --trust-ad             believe the AD bit from a non-loopback resolver\n"
"      --connect-timeout T    per connection attempt (30s)\n"
"      --command-timeout T    each command's reply (300s, RFC 5321 4.5.3.2)\n"
"      --data-timeout T       each block of the message (180s)\n"
"      --data-start-timeout T DATA to its 354 (120s)\n"
"      --final-timeout T      the reply after the message (600s)\n"
"      --timeout T            per domain, overall (1h)\n"
"      --each                 the operands are message files, one\n"
"                             transaction each over one session per route\n"
"      --to RCPT              a recipient of every --each message\n"
"      --spool DIR            keep what is deferred in DIR and say queued\n"
"      --flush DIR            retry what DIR holds (with backoff)\n"
"      --retry-now            with --flush: ignore the backoff\n"
"      --queue-lifetime T     with --flush: bounce after T (5 days)\n"
"      --json                 one JSON object per recipient\n"
"  -q, --quiet                print nothing; the exit status tells\n"
"  -v, --verbose              the SMTP transcript on stderr (AUTH hidden)\n"
"  -h, --help                 this text\n"
"  -V, --version              the version\n"
"  sendmail's -r (as -f), -N (as --dsn-notify), -R (as --dsn-ret), -B, -o\n"
"  are accepted; invoked as sendmail, a lone dot ends the input unless -i\n"
"\n"
"Output: one line per recipient: sent|deferred|bounced|queued RCPT CODE\n"
"STATUS TEXT\n"
"Exit: 0 all sent, 75 some deferred (retry later), 67 a recipient bounced,\n"
"69 message refused, 68 no such domain, 77 AUTH refused, 76 protocol error,\n"
"65 bad message or address, 64 usage, 74 output error, 78 configuration.\n",
	    PROG, PROG, PROG, PROG);
}

/* lib/cli writes the message; exiting is the program's part. */
#define die_usage(...)	exit(mxk_cli_usage(stderr, PROG, __VA_ARGS__))

static long long
timeout_opt(const char *name, const char *arg)
{
	struct mxk_err	e;
	long long	v;

	/* At most 7 days. */
	if (mxk_cli_duration(arg, 86400000LL * 7, MXK_CLI_HOURS, &v, &e) ==
	    -1 || v <= 0)
		die_usage("%s %s: not a positive duration", name, arg);
	return v;
}

enum {
	OPT_HOST = 256, OPT_SMTPS, OPT_LMTP, OPT_EHLO, OPT_TLS, OPT_CAFILE,
	OPT_CERT, OPT_KEY, OPT_TLSPRIO, OPT_USER, OPT_PASSFILE, OPT_AUTHMECH,
	OPT_AUTHPLAIN, OPT_DSNNOTIFY, OPT_DSNRET, OPT_DSNENVID, OPT_DSNORCPT,
	OPT_NOCHUNK, OPT_NOPIPE, OPT_RESOLVER, OPT_TRUSTAD, OPT_CTIMEOUT,
	OPT_CMDTIMEOUT, OPT_DATATIMEOUT, OPT_TIMEOUT, OPT_JSON, OPT_EACH,
	OPT_TO, OPT_SPOOL, OPT_FLUSH, OPT_RETRYNOW, OPT_LIFETIME,
	OPT_DSTIMEOUT, OPT_FINTIMEOUT, OPT_NOSTS, OPT_STSCACHE
};

static const struct option longopts[] = {
	{ "from", required_argument, NULL, 'f' },
	{ "fullname", required_argument, NULL, 'F' },
	{ "extract", no_argument, NULL, 't' },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "smtps", no_argument, NULL, OPT_SMTPS },
	{ "lmtp", no_argument, NULL, OPT_LMTP },
	{ "port", required_argument, NULL, 'p' },
	{ "ehlo", required_argument, NULL, OPT_EHLO },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "no-mta-sts", no_argument, NULL, OPT_NOSTS },
	{ "mta-sts-cache", required_argument, NULL, OPT_STSCACHE },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "tls-priority", required_argument, NULL, OPT_TLSPRIO },
	{ "user", required_argument, NULL, OPT_USER },
	{ "passfile", required_argument, NULL, OPT_PASSFILE },
	{ "auth-mech", required_argument, NULL, OPT_AUTHMECH },
	{ "auth-plaintext", no_argument, NULL, OPT_AUTHPLAIN },
	{ "dsn-notify", required_argument, NULL, OPT_DSNNOTIFY },
	{ "dsn-ret", required_argument, NULL, OPT_DSNRET },
	{ "dsn-envid", required_argument, NULL, OPT_DSNENVID },
	{ "dsn-orcpt", no_argument, NULL, OPT_DSNORCPT },
	{ "no-chunking", no_argument, NULL, OPT_NOCHUNK },
	{ "no-pipelining", no_argument, NULL, OPT_NOPIPE },
	{ "resolver", required_argument, NULL, OPT_RESOLVER },
	{ "trust-ad", no_argument, NULL, OPT_TRUSTAD },
	{ "connect-timeout", required_argument, NULL, OPT_CTIMEOUT },
	{ "command-timeout", required_argument, NULL, OPT_CMDTIMEOUT },
	{ "data-timeout", required_argument, NULL, OPT_DATATIMEOUT },
	{ "data-start-timeout", required_argument, NULL, OPT_DSTIMEOUT },
	{ "final-timeout", required_argument, NULL, OPT_FINTIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "each", no_argument, NULL, OPT_EACH },
	{ "to", required_argument, NULL, OPT_TO },
	{ "spool", required_argument, NULL, OPT_SPOOL },
	{ "flush", required_argument, NULL, OPT_FLUSH },
	{ "retry-now", no_argument, NULL, OPT_RETRYNOW },
	{ "queue-lifetime", required_argument, NULL, OPT_LIFETIME },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* sendmail's -o options: -oi is ours, the others are ignored. */
static void
sendmail_o(struct opts *o, const char *arg)
{
	if (strcmp(arg, "i") == 0)
		o->ignore_dots = 1;
	else if (arg[0] == 'd' || arg[0] == 'e' || arg[0] == 'm')
		;	/* -odi, -oem, -om: delivery modes, nothing to do */
	else
		(void)fprintf(stderr, "%s: note: option -o%s ignored\n", PROG,
		    arg);
}

/* NEVER, or a list of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1). */
static const char *
check_notify(const char *arg)
{
	static const char *const kw[] = { "NEVER", "SUCCESS", "FAILURE",
	    "DELAY" };
	static char	 out[64];
	const char	*p = arg;
	size_t		 o = 0, w, k;
	int		 never = 0, n = 0;

	for (;;) {
		w = strcspn(p, ",");
		for (k = 0; k < 4; k++)
			if (strlen(kw[k]) == w && strncasecmp(p, kw[k], w) == 0)
				break;
		if (k == 4 || o + w + 2 > sizeof(out))
			die_usage("--dsn-notify %s: NEVER, or a list of "
			    "SUCCESS, FAILURE, DELAY", arg);
		never |= k == 0;
		if (n++ > 0)
			out[o++] = ',';
		memcpy(out + o, kw[k], w);
		o += w;
		if (p[w] == '\0')
			break;
		p += w + 1;
	}
	out[o] = '\0';
	if (never && n > 1)
		die_usage("--dsn-notify %s: NEVER stands alone", arg);
	return out;
}

static void
parse_args(int argc, char **argv, struct opts *o, int *first)
{
	char	*end;
	long	 v;
	int	 c;

	memset(o, 0, sizeof(*o));
	o->tls_policy = MXK_TLSPOL_AUTO;
	o->trust_ad = -1;
	o->connect_timeout = 30000;
	o->command_timeout = 300000;
	o->data_timeout = 180000;
	o->data_start_timeout = 120000;
	o->final_timeout = 600000;
	o->timeout = 3600000;
	o->lifetime = 5LL * 86400000;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":46B:f:F:hio:p:qr:tvVN:R:",
	    longopts, NULL)) != -1) {
		switch (c) {
		case '4':
			o->family = AF_INET;
			break;
		case '6':
			o->family = AF_INET6;
			break;
		case 'f':
		case 'r':
			o->from = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 't':
			o->extract = 1;
			break;
		case 'i':
			o->ignore_dots = 1;
			break;
		case 'o':
			sendmail_o(o, optarg);
			break;
		case 'B':
		case 'N':
		case 'R':
			/* sendmail -B type, -N dsn, -R ret: map what we can. */
			if (c == 'N')
				o->dsn_notify = optarg;
			else if (c == 'R')
				o->dsn_ret = strcasecmp(optarg, "hdrs") == 0 ?
				    "HDRS" : "FULL";
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
		case 'v':
			o->verbose++;
			break;
		case 'V':
			(void)printf("%s %s\n", PROG, MXK_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_HOST:
			o->host = optarg;
			break;
		case OPT_SMTPS:
			o->smtps = 1;
			break;
		case OPT_LMTP:
			o->lmtp = 1;
			break;
		case OPT_EHLO:
			o->ehlo = optarg;
			break;
		case OPT_TLS:
			if (strcasecmp(optarg, "require") == 0)
				o->tls_policy = MXK_TLSPOL_PKIX;
			else if ((o->tls_policy = mxk_tls_policy_parse(
			    optarg)) == -1)
				die_usage("--tls %s: not one of auto, require, "
				    "none, may, encrypt, pkix, dane", optarg);
			break;
		case OPT_CAFILE:
			o->cafile = optarg;
			break;
		case OPT_NOSTS:
			o->no_mta_sts = 1;
			break;
		case OPT_STSCACHE:
			o->sts_cache = optarg;
			break;
		case OPT_CERT:
			o->certfile = optarg;
			break;
		case OPT_KEY:
			o->keyfile = optarg;
			break;
		case OPT_TLSPRIO:
			o->tls_priority = optarg;
			break;
		case OPT_USER:
			o->user = optarg;
			break;
		case OPT_PASSFILE:
			o->passfile = optarg;
			break;
		case OPT_AUTHMECH:
			o->auth_mech = optarg;
			break;
		case OPT_AUTHPLAIN:
			o->auth_plaintext = 1;
			break;
		case OPT_DSNNOTIFY:
			o->dsn_notify = optarg;
			break;
		case OPT_DSNRET:
			if (strcasecmp(optarg, "full") != 0 &&
			    strcasecmp(optarg, "hdrs") != 0)
				die_usage("--dsn-ret %s: FULL or HDRS", optarg);
			o->dsn_ret = strcasecmp(optarg, "full") == 0 ? "FULL" :
			    "HDRS";
			break;
		case OPT_DSNENVID: {
			char	xt[MXK_DSN_ENVID_MAX + 1];
			size_t	k;

			/* RFC 3461 §4.4: printable ASCII (graphic and
			 * space), at most 100 characters once encoded. */
			for (k = 0; optarg[k] != '\0'; k++)
				if (optarg[k] < ' ' || optarg[k] > '~')
					break;
			if (optarg[0] == '\0' || optarg[k] != '\0' ||
			    mxk_smtpc_xtext(optarg, xt, sizeof(xt)) == -1)
				die_usage("--dsn-envid %s: printable ASCII, at "
				    "most %d characters once encoded (RFC "
				    "3461)", optarg, MXK_DSN_ENVID_MAX);
			o->dsn_envid = optarg;
			break;
		}
		case OPT_DSNORCPT:
			o->dsn_orcpt = "yes";
			break;
		case OPT_NOCHUNK:
			o->no_chunking = 1;
			break;
		case OPT_NOPIPE:
			o->no_pipelining = 1;
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
		case OPT_CMDTIMEOUT:
			o->command_timeout = timeout_opt("--command-timeout",
			    optarg);
			break;
		case OPT_DATATIMEOUT:
			o->data_timeout = timeout_opt("--data-timeout",
			    optarg);
			break;
		case OPT_TIMEOUT:
			o->timeout = timeout_opt("--timeout", optarg);
			break;
		case OPT_DSTIMEOUT:
			o->data_start_timeout = timeout_opt(
			    "--data-start-timeout", optarg);
			break;
		case OPT_FINTIMEOUT:
			o->final_timeout = timeout_opt("--final-timeout",
			    optarg);
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_EACH:
			o->each = 1;
			break;
		case OPT_TO:
			if (o->nto >= MAXTO)
				die_usage("too many --to options%s", "");
			o->to[o->nto++] = optarg;
			break;
		case OPT_SPOOL:
			o->spool = optarg;
			break;
		case OPT_FLUSH:
			o->flush = optarg;
			break;
		case OPT_RETRYNOW:
			o->flush_all = 1;
			break;
		case OPT_LIFETIME:
			o->lifetime = timeout_opt("--queue-lifetime", optarg);
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
	*first = optind;
	if (o->json && o->quiet)
		die_usage("--json and --quiet exclude each other%s", "");
	if (o->keyfile != NULL && o->certfile == NULL)
		die_usage("--key needs --cert%s", "");
	if (o->passfile != NULL && o->user == NULL)
		die_usage("--passfile needs --user%s", "");
	if (o->lmtp && o->host == NULL)
		die_usage("--lmtp needs --host HOST[:PORT] or --host "
		    "unix:/PATH%s", "");
	if (o->smtps && o->host != NULL && strncmp(o->host, "unix:", 5) == 0)
		die_usage("--smtps and a unix socket exclude each other%s",
		    "");
	if (o->dsn_notify != NULL)
		o->dsn_notify = check_notify(o->dsn_notify);
	if (o->auth_mech != NULL) {
		static const char *const mechs[] = {
			"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"
		};
		size_t	i;

		for (i = 0; i < 4 && strcasecmp(o->auth_mech, mechs[i]) != 0;
		    i++)
			;
		if (i == 4)
			die_usage("--auth-mech %s: PLAIN, LOGIN, CRAM-MD5 or "
			    "XOAUTH2", o->auth_mech);
		o->auth_mech = mechs[i];
	}
	if (o->user != NULL && o->host == NULL)
		die_usage("--user goes with --host: credentials are for a "
		    "relay, not for every MX on the way%s", "");
	if (o->host != NULL && strncmp(o->host, "unix:", 5) != 0) {
		const char	*pc = o->host[0] == '[' ?
				    strstr(o->host, "]:") : strrchr(o->host, ':');
		char		*pend;
		long		 pv;

		if (pc != NULL && o->host[0] == '[')
			pc++;
		if (pc != NULL && (o->host[0] == '[' ||
		    strchr(o->host, ':') == pc)) {
			errno = 0;
			pv = strtol(pc + 1, &pend, 10);
			if (errno != 0 || *pend != '\0' || pv < 1 ||
			    pv > 65535)
				die_usage("--host %s: bad port", o->host);
		}
	} else if (o->host != NULL && (strlen(o->host + 5) == 0 ||
	    strlen(o->host + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		die_usage("--host %s: no socket path, or a path too long",
		    o->host);
	if (o->tls_priority != NULL) {
		struct mxk_err e;

		if (mxk_tls_priority_check(o->tls_priority, &e) == -1)
			die_usage("--tls-priority: %s", e.msg);
	}
}

/*
 * A message to send (a job) and its recipients.  Messages from files
 * (--each) and from the spool (--flush) are read when a transaction needs
 * them and let go after it, so that thousands of them cost no more than
 * one.
 */
struct job {
	const char		*file;		/* NULL: standard input */
	struct mxk_msg		*msg;		/* kept for stdin */
	char			 from[MXK_ADDR_INPUTMAX];
	int			 smtputf8;
	struct mxk_spool_entry	*spool;		/* --flush */
	int			 bad;		/* unreadable message */
};

struct rcpt {
	const char		*given;
	char			 addr[MXK_ADDR_INPUTMAX];
	char			 domain[MXK_ADDR_DOMAINMAX + 1];
	int			 utf8;
	int			 literal;
	struct mxk_smtpc_rcpt	 r;
	char			 orcpt[MXK_ADDR_INPUTMAX];
	int			 done;
	int			 queued;	/* spooled for a retry */
	size_t			 job;
	size_t			 order;		/* for the output */
	char			 host[MXK_DNS_NAMEMAX];
	const char		*sts;		/* MTA-STS mode applied */
};

/* The outcome kinds that decide the exit status. */
struct tally {
	int	sent, deferred, bounced, nohost, refused, proto, auth, data;
	int	config, usage;	/* a local error no retry mends */
};

struct ctx {
	const struct opts	*o;
	struct mxk_dns		*dns;
	struct mxk_msg_params	 mp;
	struct job		*jobs;
	const char		*secret;
	struct tally		 t;
	struct mxk_mtasts_cache	*sts_cache;
	int			 sts_opened;	/* tried to open it */
	struct mxk_err		 sts_err;	/* --mta-sts-cache unusable */
};

static const char *const state_names[] = {
	"deferred", "sent", "deferred", "bounced"
};

static void
print_rcpt(const struct ctx *c, const struct rcpt *rc)
{
	const struct opts	*o = c->o;
	const struct job	*j = &c->jobs[rc->job];
	const char		*st = rc->queued ? "queued" :
				    state_names[rc->r.state];
	struct mxk_buf		 b;
	int			 first = 1, r = 0;

	if (o->quiet)
		return;
	if (!o->json) {
		(void)printf("%s %s %d %s %s\n", st, rc->given, rc->r.code,
		    rc->r.status[0] != '\0' ? rc->r.status : "-", rc->r.text);
		return;
	}
	mxk_buf_init(&b, 64 * 1024);
	r |= mxk_buf_addch(&b, '{');
	r |= mxk_json_kv_str(&b, &first, "result", st);
	r |= mxk_json_kv_str(&b, &first, "recipient", rc->given);
	r |= mxk_json_kv_str(&b, &first, "address", rc->addr);
	r |= mxk_json_kv_int(&b, &first, "code", rc->r.code);
	r |= mxk_json_kv_str(&b, &first, "status", rc->r.status);
	r |= mxk_json_kv_str(&b, &first, "text", rc->r.text);
	r |= mxk_json_kv_str(&b, &first, "host", rc->host[0] != '\0' ?
	    rc->host : NULL);
	if (rc->sts != NULL)
		r |= mxk_json_kv_str(&b, &first, "mta_sts", rc->sts);
	if (j->file != NULL)
		r |= mxk_json_kv_str(&b, &first, "message", j->file);
	if (j->spool != NULL)
		r |= mxk_json_kv_str(&b, &first, "spool", j->spool->name);
	r |= mxk_buf_addch(&b, '}');
	if (r == 0)
		(void)printf("%s\n", b.p);
	mxk_buf_free(&b);
}

/* Give every recipient not done yet the outcome of error e. */
static void
fail_rcpts(struct ctx *c, struct rcpt *rc, size_t n, const struct mxk_err *e)
{
	size_t	i;
	int	perm = e->class == MXK_ERR_PERM || e->class == MXK_ERR_NOHOST ||
		    e->class == MXK_ERR_RCPT || e->class == MXK_ERR_DATA;
	int	code = e->code >= 400 && e->code < 600 ? e->code :
		    e->class == MXK_ERR_AUTH ? 530 : perm ? 550 : 451;

	if (e->class == MXK_ERR_AUTH)
		c->t.auth = 1;
	else if (e->class == MXK_ERR_PROTO)
		c->t.proto = 1;
	else if (e->class == MXK_ERR_NOHOST)
		c->t.nohost = 1;
	else if (e->class == MXK_ERR_DATA)
		c->t.data = 1;
	else if (e->class == MXK_ERR_CONFIG)
		c->t.config = 1;
	else if (e->class == MXK_ERR_USAGE)
		c->t.usage = 1;
	for (i = 0; i < n; i++) {
		if (rc[i].done)
			continue;
		rc[i].done = 1;
		rc[i].r.code = code;
		(void)snprintf(rc[i].r.status, sizeof(rc[i].r.status), "%s",
		    e->status[0] != '\0' ? e->status : perm ? "5.0.0" :
		    "4.0.0");
		/*
		 * RFC 3463 §2: the class of the status is that of the
		 * reply.  A local failure of another class (5.5.0 for a
		 * malformed reply, which defers) takes the code's class.
		 */
		if (rc[i].r.status[0] != '0' + code / 100)
			rc[i].r.status[0] = (char)('0' + code / 100);
		(void)snprintf(rc[i].r.text, sizeof(rc[i].r.text), "%s",
		    e->msg);
		rc[i].r.state = perm && e->class != MXK_ERR_AUTH ?
		    MXK_RCPT_BOUNCED : MXK_RCPT_DEFERRED;
	}
}

/*
 * The AUTH secret, never from argv (every local user can read it).  The
 * file is read unbuffered, so that no stdio buffer keeps a copy; the
 * environment variable is wiped and removed once read, so that nothing
 * smtpsend might start inherits it and /proc/PID/environ no longer
 * shows it.
 */
static int
read_secret(const struct opts *o, char *buf, size_t len)
{
	char		*env;
	FILE		*f;
	size_t		 n;
	struct stat	 st;

	if (o->passfile != NULL) {
		if ((f = fopen(o->passfile, "r")) == NULL) {
			(void)fprintf(stderr, "%s: error: --passfile %s: %s\n",
			    PROG, o->passfile, strerror(errno));
			return -1;
		}
		(void)setvbuf(f, NULL, _IONBF, 0);
		if (fstat(fileno(f), &st) == 0 &&
		    (st.st_mode & (S_IRGRP | S_IROTH)) != 0)
			(void)fprintf(stderr, "%s: warning: --passfile %s is "
			    "readable by other users\n", PROG, o->passfile);
		if (fgets(buf, (int)len, f) == NULL)
			buf[0] = '\0';
		(void)fclose(f);
	} else if ((env = getenv("SMTPSEND_PASSWORD")) != NULL) {
		(void)snprintf(buf, len, "%s", env);
		explicit_bzero(env, strlen(env));
		(void)unsetenv("SMTPSEND_PASSWORD");
	} else {
		(void)fprintf(stderr, "%s: error: --user needs a secret: "
		    "--passfile FILE or SMTPSEND_PASSWORD in the environment\n",
		    PROG);
		return -1;
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return 0;
}

/* Connect to a local socket (LMTP); connect() is immediate there. */
static int
unix_connect(const char *path, struct mxk_err *e)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return mxk_err_sys(e, MXK_ERR_TEMP, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_TEMP, "connect %s", path);
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* The job's message, read if it is not at hand. */
static struct mxk_msg *
job_msg(struct ctx *c, struct job *j, struct mxk_err *e)
{
	int	fd;

	if (j->msg != NULL)
		return j->msg;
	if (j->spool != NULL) {
		if (lseek(j->spool->fd, 0, SEEK_SET) == -1) {
			(void)mxk_err_sys(e, MXK_ERR_IO, "spool entry");
			return NULL;
		}
		/* Skip the header again: the entry is re-opened cheaply
		 * by reading up to the empty line. */
		{
			char	ch, prev = 0;
			ssize_t	n;

			while ((n = read(j->spool->fd, &ch, 1)) == 1) {
				if (ch == '\n' && prev == '\n')
					break;
				prev = ch;
			}
			if (n != 1) {
				(void)mxk_err_set(e, MXK_ERR_DATA,
				    MXK_SRC_LOCAL, "5.6.0", "spool entry %s "
				    "has no message", j->spool->name);
				return NULL;
			}
		}
		if (mxk_spool_message(j->spool, &j->msg, e) == -1)
			return NULL;
		return j->msg;
	}
	if ((fd = open(j->file, O_RDONLY | O_CLOEXEC)) == -1) {
		(void)mxk_err_sys(e, MXK_ERR_DATA, "%s", j->file);
		(void)snprintf(e->status, sizeof(e->status), "5.6.0");
		return NULL;
	}
	if (mxk_msg_read(fd, &c->mp, &j->msg, e) == -1) {
		mxk_err_prefix(e, "%s", j->file);
		(void)close(fd);
		return NULL;
	}
	(void)close(fd);
	return j->msg;
}

static void
job_release(struct job *j)
{
	if (j->file != NULL || j->spool != NULL) {
		mxk_msg_free(j->msg);
		j->msg = NULL;
	}
}

/* One transaction on an established session. */
static int
transaction(struct ctx *c, struct mxk_smtpc_io *io, const struct mxk_ehlo *caps,
    struct job *j, struct rcpt *rc, size_t n, int rset, long long deadline,
    struct mxk_err *e)
{
	const struct opts	*o = c->o;
	struct mxk_smtpc_txn	 t;
	struct mxk_smtpc_rcpt	*sr;
	struct mxk_msg		*msg;
	size_t			*idx, i, k;
	int			 ret;

	if ((msg = job_msg(c, j, e)) == NULL) {
		/* This message only: the session goes on. */
		fail_rcpts(c, rc, n, e);
		j->bad = 1;
		return 0;
	}
	if ((sr = calloc(n, sizeof(*sr))) == NULL ||
	    (idx = calloc(n, sizeof(*idx))) == NULL) {
		free(sr);
		job_release(j);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	memset(&t, 0, sizeof(t));
	t.from = j->from;
	t.msg = msg;
	/*
	 * RFC 6531: SMTPUTF8 only when this transaction has a non-ASCII
	 * address.  A server without it refuses every recipient when the
	 * sender needs it (the engine says so), and otherwise only those
	 * that need it: the others go without.
	 */
	t.smtputf8 = j->smtputf8;
	for (i = 0, k = 0; i < n; i++) {
		if (rc[i].utf8 && !j->smtputf8 && !caps->smtputf8) {
			rc[i].done = 1;
			rc[i].r.state = MXK_RCPT_BOUNCED;
			rc[i].r.code = 553;
			(void)snprintf(rc[i].r.status, sizeof(rc[i].r.status),
			    "5.6.7");
			(void)snprintf(rc[i].r.text, sizeof(rc[i].r.text),
			    "the server does not offer SMTPUTF8, needed for "
			    "non-ASCII addresses (RFC 6531)");
			c->t.refused = 1;
			continue;
		}
		t.smtputf8 |= rc[i].utf8;
		idx[k++] = i;
	}
	if (k == 0) {
		free(sr);
		free(idx);
		job_release(j);
		return 0;
	}
	t.dsn_notify = o->dsn_notify;
	t.dsn_ret = o->dsn_ret;
	t.dsn_envid = o->dsn_envid;
	t.lmtp = o->lmtp;
	t.no_chunking = o->no_chunking;
	t.no_pipelining = o->no_pipelining;
	t.rset = rset;
	t.mail_timeout_ms = t.rcpt_timeout_ms = (int)o->command_timeout;
	t.block_timeout_ms = (int)o->data_timeout;
	t.data_timeout_ms = (int)o->data_start_timeout;
	t.final_timeout_ms = (int)o->final_timeout;
	for (i = 0; i < k; i++) {
		sr[i].addr = rc[idx[i]].addr;
		sr[i].orcpt = o->dsn_orcpt != NULL ? rc[idx[i]].orcpt : NULL;
	}
	ret = mxk_smtpc_transaction(io, caps, &t, sr, k, deadline, e);
	if (ret == 0 && t.refused && t.last.code / 100 != 4)
		c->t.refused = 1;
	for (i = 0; i < k; i++) {
		if (sr[i].state == MXK_RCPT_PENDING)
			continue;
		rc[idx[i]].r = sr[i];
		rc[idx[i]].done = 1;
	}
	free(sr);
	free(idx);
	job_release(j);
	return ret;
}

/* The route plan of a group: the relay, an address literal, or the MX. */
static int
group_plan(struct ctx *c, const char *domain, int literal,
    struct mxk_mx_params *mp, long long deadline, struct mxk_mx_plan **pl,
    struct mxk_err *e)
{
	const struct opts	*o = c->o;
	struct mxk_mx_static	 st;
	struct mxk_addr		 ta;
	char			 hp[600], *colon, *end;
	long			 port;

	if (o->host == NULL) {
		if (literal) {
			if (mxk_addr_parse_target(&ta, domain, strlen(domain),
			    e) == -1)
				return -1;
			return mxk_mx_plan_addr(&ta, mp, pl, e);
		}
		return mxk_mx_plan(c->dns, domain, mp, NULL, 0, deadline, pl,
		    e);
	}
	/* --host HOST[:PORT], [ADDRESS]:PORT, or a bare IPv6 address. */
	(void)snprintf(hp, sizeof(hp), "%s", o->host);
	colon = NULL;
	if (hp[0] == '[') {
		char *rb = strchr(hp, ']');

		if (rb != NULL && rb[1] == ':')
			colon = rb + 1;
	} else if ((colon = strrchr(hp, ':')) != NULL &&
	    strchr(hp, ':') != colon)
		colon = NULL;
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "--host %s: bad port", o->host);
		mp->port = (int)port;
		*colon = '\0';
	}
	if (hp[0] == '[') {
		memmove(hp, hp + 1, strlen(hp));
		hp[strcspn(hp, "]")] = '\0';
	}
	if (mxk_addr_parse_target(&ta, hp, strlen(hp), e) == -1)
		return -1;
	if (ta.is_literal)
		return mxk_mx_plan_addr(&ta, mp, pl, e);
	memset(&st, 0, sizeof(st));
	(void)snprintf(st.host, sizeof(st.host), "%s", ta.domain);
	return mxk_mx_plan(c->dns, ta.domain, mp, &st, 1, deadline, pl, e);
}

static int
plan_error(const struct mxk_mx_plan *pl, struct mxk_err *e)
{
	switch (pl->result) {
	case MXK_MX_NXDOMAIN:
		(void)mxk_err_set(e, MXK_ERR_NOHOST, MXK_SRC_DNS, "5.1.2",
		    "%s", pl->why);
		e->code = 550;
		return -1;
	case MXK_MX_NULLMX:
		(void)mxk_err_set(e, MXK_ERR_NOHOST, MXK_SRC_DNS, "5.1.10",
		    "%s", pl->why);
		e->code = 556;
		return -1;
	case MXK_MX_TEMPFAIL:
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, "4.4.3", "%s",
		    pl->why);
	default:
		break;
	}
	if (pl->ntarget == 0) {
		if (pl->nlookupfail > 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS,
			    "4.4.3", "%s: no usable MX host: address lookups "
			    "failed", pl->domain);
		return mxk_err_set(e, MXK_ERR_PERM, MXK_SRC_POLICY, "5.4.4",
		    "%s: no usable MX host", pl->domain);
	}
	return 0;
}

/*
 * The MTA-STS policy in force for a domain (RFC 8461 §5.1), through the
 * cache every tool shares.  No cache (none can be named or opened, and
 * none was asked for): the policy is fetched each time.  A discovery that
 * cannot run at all leaves no policy, as a failed fetch does (§5.1).
 * 0, or -1 when the cache the user named cannot be used.
 */
static int
sts_discover(struct ctx *c, const char *domain, long long deadline,
    struct mxk_mtasts_result *sr, struct mxk_err *e)
{
	const struct opts		*o = c->o;
	struct mxk_mtasts_params	 mtp;
	struct mxk_err			 de;
	const char			*names[1];
	char				 dir[PATH_MAX];

	dir[0] = '\0';
	mxk_err_clear(&de);
	/* A --mta-sts-cache that cannot be used fails every domain that
	 * would use it, not only the first. */
	if (c->sts_err.class != MXK_ERR_OK) {
		*e = c->sts_err;
		return -1;
	}
	if (!c->sts_opened) {
		c->sts_opened = 1;
		if (o->sts_cache != NULL) {
			if (mxk_mtasts_cache_open(o->sts_cache,
			    MXK_MTASTS_CACHE_CREATE, &c->sts_cache, e) == -1) {
				mxk_err_prefix(e, "--mta-sts-cache");
				e->class = MXK_ERR_CONFIG;
				c->sts_err = *e;
				return -1;
			}
		} else if (mxk_mtasts_cache_default(dir, sizeof(dir)) == -1 ||
		    mxk_mtasts_cache_open(dir, MXK_MTASTS_CACHE_CREATE,
		    &c->sts_cache, &de) == -1)
			mxk_log(MXK_LOG_INFO, "MTA-STS: no policy cache (%s): "
			    "policies are fetched each time", c->sts_cache ==
			    NULL && dir[0] != '\0' ? de.msg : "no directory");
	}
	memset(&mtp, 0, sizeof(mtp));
	mtp.cafile = o->cafile;
	if (mtp.cafile == NULL && (mtp.cafile = getenv("SSL_CERT_FILE")) !=
	    NULL && mtp.cafile[0] == '\0')
		mtp.cafile = NULL;
	mtp.connect_timeout_ms = (int)o->connect_timeout;
	/* RFC 8461 §3.3 suggests a minute for the whole fetch. */
	mtp.fetch_timeout_ms = (int)(o->command_timeout < 60000 ?
	    o->command_timeout : 60000);
	names[0] = domain;
	memset(sr, 0, sizeof(*sr));
	mxk_err_clear(&de);
	if (mxk_mtasts_discover(c->dns, c->sts_cache, &mtp, names, 1,
	    deadline, sr, &de) == -1) {
		mxk_log(MXK_LOG_WARN, "%s: MTA-STS discovery failed: %s "
		    "(going on without a policy)", domain, de.msg);
		mxk_mtasts_result_clear(sr);
		memset(sr, 0, sizeof(*sr));
		return 0;
	}
	if (sr->eff.policy != NULL)
		mxk_log(MXK_LOG_INFO, "%s: MTA-STS policy id %s, mode %s (%s)",
		    domain, sr->eff.id, mxk_mtasts_mode_name(
		    mxk_mtasts_policy_mode(sr->eff.policy)), sr->from_cache ?
		    "cached" : "fetched");
	else
		mxk_log(MXK_LOG_DEBUG, "%s: no MTA-STS policy (%s)", domain,
		    mxk_mtasts_status_name(sr->status));
	if (sr->status == MXK_MTASTS_INVALID || sr->dec.warn)
		mxk_log(MXK_LOG_WARN, "%s: MTA-STS: %s", domain, sr->reason);
	return 0;
}

/*
 * One group of recipients (one domain, or everything for a relay), sorted
 * by job: one session, one transaction per job, RSET between.
 */
/* -v: say why an MX was left for the next one. */
static void
mx_report(void *arg, const struct mxk_mx_host *h,
    const struct mxk_route_result *rr, const struct mxk_starttls_result *sr,
    const struct mxk_err *err)
{
	(void)arg;
	(void)rr;
	(void)sr;
	if (h != NULL && err != NULL)
		mxk_log(MXK_LOG_INFO, "MX %s failed: %s", h->name, err->msg);
}

static void
deliver_group(struct ctx *c, const char *domain, struct rcpt *rc, size_t n)
{
	const struct opts		*o = c->o;
	struct mxk_mx_params		 mp;
	struct mxk_mx_plan		*pl = NULL;
	struct mxk_route_params		 rp;
	struct mxk_starttls_params	 sp;
	struct mxk_starttls_conn	 sc;
	struct mxk_net_attempt		 att[MAXATT];
	struct mxk_mtasts_result	 sr;
	struct mxk_err			 e;
	const char			*host = NULL;
	long long			 deadline = mxk_deadline_in(o->timeout);
	size_t				 i, k;
	int				 port, ntx = 0;

	mxk_err_clear(&e);
	memset(&sc, 0, sizeof(sc));
	memset(&sr, 0, sizeof(sr));
	port = o->port > 0 ? o->port : o->smtps ? 465 : 25;

	mxk_starttls_params_init(&sp);
	sp.policy = (enum mxk_tls_policy)o->tls_policy;
	sp.port = port;
	sp.implicit = o->smtps;
	sp.lmtp = o->lmtp;
	sp.tls.cafile = o->cafile;
	sp.tls.certfile = o->certfile;
	sp.tls.keyfile = o->keyfile;
	sp.tls.priority = o->tls_priority;
	sp.cmd_timeout_ms = (int)o->command_timeout;
	sp.tls_timeout_ms = (int)o->command_timeout;
	sp.ehlo = o->ehlo;	/* NULL: the library's default */

	if (o->host != NULL && strncmp(o->host, "unix:", 5) == 0) {
		/* LMTP over a local socket: no DNS, no TLS. */
		struct mxk_mx_host	 h;
		int			 fd;

		memset(&h, 0, sizeof(h));
		(void)snprintf(h.name, sizeof(h.name), "%s", o->host + 5);
		if (sp.policy == MXK_TLSPOL_AUTO)
			sp.policy = MXK_TLSPOL_OFF;
		host = o->host;
		if ((fd = unix_connect(o->host + 5, &e)) == -1)
			goto fail;
		if ((sc.conn = mxk_conn_new_fd(fd)) == NULL) {
			(void)close(fd);
			(void)mxk_err_set(&e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "out of memory");
			goto fail;
		}
		mxk_smtpc_io_init(&sc.io, sc.conn, NULL);
		if (mxk_starttls_session(&sc.io, NULL, &h, &sp, deadline,
		    &sc.res, &e) == -1)
			goto fail;
	} else {
		memset(&mp, 0, sizeof(mp));
		mp.port = port;
		mp.family = o->family;
		mp.shuffle = 1;
		if (group_plan(c, domain, rc[0].literal, &mp, deadline, &pl,
		    &e) == -1 || plan_error(pl, &e) == -1)
			goto fail;
		sp.port = mp.port;
		/* MTA-STS (RFC 8461): direct delivery to a domain's MX
		 * hosts under the auto policy only. */
		if (o->host == NULL && !rc[0].literal && !o->no_mta_sts &&
		    !o->smtps && sp.policy == MXK_TLSPOL_AUTO) {
			if (sts_discover(c, domain, deadline, &sr, &e) == -1)
				goto fail;
			sp.sts = sr.eff.policy;
			sp.sts_domain = domain;
			if (sp.sts != NULL && mxk_mtasts_policy_mode(sp.sts) ==
			    MXK_MTASTS_MODE_ENFORCE && mxk_starttls_sts_filter(
			    pl, c->dns, &sp, deadline) == 0) {
				(void)mxk_err_set(&e, MXK_ERR_TEMP,
				    MXK_SRC_TLS, "4.7.5", "%s: no MX host "
				    "matches the MTA-STS policy (mode "
				    "enforce, id %s): not delivering", domain,
				    sr.eff.id);
				goto fail;
			}
		}
		mxk_route_params_init(&rp);
		rp.net.connect_timeout_ms = (int)o->connect_timeout;
		rp.net.deadline = deadline;
		rp.greeting_timeout_ms = (int)o->command_timeout;
		rp.port = mp.port;
		sc.route.att = att;
		sc.route.natt = MAXATT;
		if (mxk_starttls_connect(pl, &rp, c->dns, &sp, mx_report, NULL,
		    &sc, &e) == -1)
			goto fail;
		host = sc.host->name;
	}
	mxk_log(MXK_LOG_INFO, "%s: connected to %s, TLS %s (level %s)", domain,
	    host, sc.res.tls ? mxk_tls_trust_name(sc.res.trust) : "none",
	    mxk_tls_level_name(sc.res.level));
	if (sc.res.sts == MXK_MTASTS_MODE_TESTING && sc.res.stsv.report)
		mxk_log(MXK_LOG_WARN, "%s: MTA-STS policy (mode testing) "
		    "not met: %s; delivering anyway (RFC 8461 §5)", domain,
		    sc.res.stsv.why);
	for (i = 0; i < n; i++) {
		(void)snprintf(rc[i].host, sizeof(rc[i].host), "%s", host);
		if (sc.res.sts != MXK_MTASTS_MODE_NONE)
			rc[i].sts = mxk_mtasts_mode_name(sc.res.sts);
	}

	if (o->user != NULL) {
		/* --timeout bounds the whole delivery, AUTH too. */
		long long adl = mxk_deadline_in(o->command_timeout);

		if (deadline < adl)
			adl = deadline;
		if (!sc.res.tls && !o->auth_plaintext) {
			(void)mxk_err_set(&e, MXK_ERR_AUTH, MXK_SRC_LOCAL,
			    "5.7.11", "not sending AUTH credentials in "
			    "cleartext: the server offered no TLS (use "
			    "--auth-plaintext to allow it)");
			goto fail;
		}
		if (mxk_smtpc_auth(&sc.io, &sc.res.caps, o->auth_mech, o->user,
		    c->secret, adl, &e) == -1)
			goto fail;
	}

	/* One transaction per job, in order; RSET between them. */
	for (i = 0; i < n; i = k) {
		for (k = i + 1; k < n && rc[k].job == rc[i].job; k++)
			;
		if (transaction(c, &sc.io, &sc.res.caps, &c->jobs[rc[i].job],
		    rc + i, k - i, ntx++ > 0, deadline, &e) == -1)
			goto fail;
	}
	mxk_starttls_conn_close(&sc, 1);
	mxk_mx_plan_free(pl);
	mxk_mtasts_result_clear(&sr);
	return;
fail:
	fail_rcpts(c, rc, n, &e);
	mxk_starttls_conn_close(&sc, sc.conn != NULL && sc.res.have_greeting);
	mxk_mx_plan_free(pl);
	mxk_mtasts_result_clear(&sr);
}

static int
cmp_group(const void *a, const void *b)
{
	const struct rcpt	*x = a, *y = b;
	int			 d = strcmp(x->domain, y->domain);

	if (d != 0)
		return d;
	return x->job < y->job ? -1 : x->job > y->job;
}

static int
cmp_job(const void *a, const void *b)
{
	const struct rcpt *x = a, *y = b;

	if (x->job != y->job)
		return x->job < y->job ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
cmp_order(const void *a, const void *b)
{
	const struct rcpt *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* Deliver every recipient: one group for a relay, else one per domain. */
static void
deliver_all(struct ctx *c, struct rcpt *rc, size_t n)
{
	size_t	i, k;

	if (c->o->host != NULL) {
		qsort(rc, n, sizeof(*rc), cmp_job);
		deliver_group(c, c->o->host, rc, n);
		return;
	}
	qsort(rc, n, sizeof(*rc), cmp_group);
	for (i = 0; i < n; i = k) {
		for (k = i + 1; k < n && strcmp(rc[k].domain,
		    rc[i].domain) == 0; k++)
			;
		deliver_group(c, rc[i].domain, rc + i, k - i);
	}
}

/* A recipient argument (or header address) to the address we send. */
static int
add_recipient(struct rcpt *rc, const char *given, size_t job, size_t order,
    struct mxk_err *e)
{
	struct mxk_addr	a;

	memset(rc, 0, sizeof(*rc));
	rc->given = given;
	rc->job = job;
	rc->order = order;
	if (mxk_addr_parse_mailbox(&a, given, strlen(given),
	    MXK_ADDR_ALLOW_BRACKETS, e) == -1)
		return -1;
	if (a.local[0] == '\0')
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.1.3",
		    "%s: not a mailbox (no local part)", given);
	if (mxk_addr_format(&a, a.needs_smtputf8, rc->addr,
	    sizeof(rc->addr)) == -1)
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.1.3",
		    "%s: address too long", given);
	(void)snprintf(rc->domain, sizeof(rc->domain), "%s", a.domain);
	(void)snprintf(rc->orcpt, sizeof(rc->orcpt), "%s", rc->addr);
	rc->utf8 = a.needs_smtputf8;
	rc->literal = a.is_literal;
	return 0;
}

static void
default_sender(char *buf, size_t len)
{
	struct passwd	*pw = getpwuid(getuid());
	const char	*user = getenv("USER");
	char		 host[256];

	if (pw != NULL && pw->pw_name != NULL)
		user = pw->pw_name;
	if (user == NULL)
		user = "nobody";
	if (gethostname(host, sizeof(host)) != 0)
		(void)snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	(void)snprintf(buf, len, "%s@%s", user, host);
}

/* The envelope sender in the form we send; -1 when invalid. */
static int
parse_sender(const char *s, char *out, size_t len, int *utf8)
{
	struct mxk_addr	a;
	struct mxk_err	e;

	*utf8 = 0;
	if (s[0] == '\0' || strcmp(s, "<>") == 0) {
		out[0] = '\0';
		return 0;
	}
	if (mxk_addr_parse_mailbox(&a, s, strlen(s), MXK_ADDR_ALLOW_BRACKETS |
	    MXK_ADDR_ALLOW_NULL, &e) == -1) {
		(void)fprintf(stderr, "%s: error: sender %s: %s\n", PROG, s,
		    e.msg);
		return -1;
	}
	if (a.is_null) {
		out[0] = '\0';
		return 0;
	}
	*utf8 = a.needs_smtputf8;
	if (mxk_addr_format(&a, a.needs_smtputf8, out, len) == -1) {
		(void)fprintf(stderr, "%s: error: sender too long\n", PROG);
		return -1;
	}
	return 0;
}

/* A growable array of recipients. */
struct rcpts {
	struct rcpt	*v;
	size_t		 n, cap;
};

static int
rcpts_add(struct rcpts *r, const char *given, size_t job, const struct opts *o)
{
	struct mxk_err	 e;
	struct rcpt	*nv;

	if (r->n >= MAXRCPT * 10) {
		(void)fprintf(stderr, "%s: error: too many recipients\n",
		    PROG);
		return -1;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap > 0 ? 2 * r->cap : 16;

		if ((nv = realloc(r->v, cap * sizeof(*nv))) == NULL) {
			(void)fprintf(stderr, "%s: error: out of memory\n",
			    PROG);
			return -1;
		}
		r->v = nv;
		r->cap = cap;
	}
	if (add_recipient(&r->v[r->n], given, job, r->n, &e) == -1) {
		if (!o->quiet)
			(void)fprintf(stderr, "%s: error: recipient %s: %s\n",
			    PROG, given, e.msg);
		return -1;
	}
	r->n++;
	return 0;
}

/*
 * After delivery: with --spool, deferred recipients are stored for a
 * later --flush ("queued"); when flushing, the entry is updated, given up
 * (bounced) after the queue lifetime, or removed when nothing is left.
 */
static void
spool_after(struct ctx *c, struct rcpt *rc, size_t n, long long now)
{
	const struct opts	*o = c->o;
	struct mxk_spool_meta	 m;
	struct mxk_err		 e;
	const char		**left;
	struct job		*j;
	size_t			 i, k, nl, jn;
	char			 why[600];

	if (o->spool == NULL && o->flush == NULL)
		return;
	qsort(rc, n, sizeof(*rc), cmp_job);
	if ((left = calloc(n > 0 ? n : 1, sizeof(*left))) == NULL)
		return;
	for (i = 0; i < n; i = k) {
		for (k = i + 1; k < n && rc[k].job == rc[i].job; k++)
			;
		j = &c->jobs[rc[i].job];
		for (nl = 0, jn = i; jn < k; jn++)
			if (rc[jn].r.state == MXK_RCPT_DEFERRED)
				left[nl++] = rc[jn].addr;
		why[0] = '\0';
		for (jn = i; jn < k; jn++)
			if (rc[jn].r.state == MXK_RCPT_DEFERRED) {
				(void)snprintf(why, sizeof(why), "%d %s %s",
				    rc[jn].r.code, rc[jn].r.status,
				    rc[jn].r.text);
				break;
			}
		memset(&m, 0, sizeof(m));
		m.from = j->from;
		m.rcpt = left;
		m.nrcpt = nl;
		m.error = why;
		if (j->spool != NULL) {
			/* --flush: the entry's fate. */
			m.first = j->spool->first;
			m.attempts = j->spool->attempts + 1;
			if (nl > 0 && now - j->spool->first >= o->lifetime /
			    1000) {
				for (jn = i; jn < k; jn++)
					if (rc[jn].r.state ==
					    MXK_RCPT_DEFERRED) {
						char t[MXK_ERR_MSGMAX];

						(void)snprintf(t, sizeof(t),
						    "%s", rc[jn].r.text);
						rc[jn].r.state =
						    MXK_RCPT_BOUNCED;
						(void)snprintf(rc[jn].r.text,
						    sizeof(rc[jn].r.text),
						    "gave up after %d "
						    "attempts: %.400s",
						    m.attempts, t);
					}
				nl = 0;
			}
			if (nl == 0 && !j->bad) {
				if (mxk_spool_remove(o->flush, j->spool,
				    &e) == -1)
					(void)fprintf(stderr, "%s: warning: "
					    "%s\n", PROG, e.msg);
				continue;
			}
			if (j->bad)
				continue;
			m.next = now + mxk_spool_backoff(m.attempts);
			if (job_msg(c, j, &e) == NULL ||
			    mxk_spool_put(o->flush, j->spool->name, &m,
			    j->msg, NULL, 0, &e) == -1) {
				(void)fprintf(stderr, "%s: error: spool "
				    "entry %s not updated: %s\n", PROG,
				    j->spool->name, e.msg);
				job_release(j);
				continue;
			}
			job_release(j);
			for (jn = i; jn < k; jn++)
				if (rc[jn].r.state == MXK_RCPT_DEFERRED)
					rc[jn].queued = 1;
			continue;
		}
		if (nl == 0)
			continue;
		m.first = now;
		m.attempts = 1;
		m.next = now + mxk_spool_backoff(1);
		if (job_msg(c, j, &e) == NULL || mxk_spool_put(o->spool, NULL,
		    &m, j->msg, NULL, 0, &e) == -1) {
			/* Not stored: they stay "deferred" (exit 75), so
			 * the caller still knows to retry. */
			(void)fprintf(stderr, "%s: error: could not spool: "
			    "%s\n", PROG, e.msg);
			job_release(j);
			continue;
		}
		job_release(j);
		for (jn = i; jn < k; jn++)
			if (rc[jn].r.state == MXK_RCPT_DEFERRED)
				rc[jn].queued = 1;
	}
	free(left);
}

/* The precedence of exit_status(), for runs that add up (--flush). */
static int
rank(int code)
{
	static const int order[] = {
		0, EX_TEMPFAIL, EX_NOUSER, EX_NOHOST, EX_UNAVAILABLE,
		EX_DATAERR, EX_PROTOCOL, EX_NOPERM
	};
	int	i;

	for (i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++)
		if (order[i] == code)
			return i;
	return 8;	/* anything else (I/O, internal) counts most */
}

static int
exit_status(const struct ctx *c, const struct rcpt *rc, size_t n)
{
	struct tally	t = c->t;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (rc[i].queued)
			continue;
		if (rc[i].r.state == MXK_RCPT_SENT)
			t.sent = 1;
		else if (rc[i].r.state == MXK_RCPT_BOUNCED)
			t.bounced = 1;
		else
			t.deferred = 1;
	}
	if (t.usage)
		return EX_USAGE;
	if (t.config)
		return EX_CONFIG;
	if (t.auth)
		return EX_NOPERM;
	if (t.proto)
		return EX_PROTOCOL;
	if (t.data)
		return EX_DATAERR;
	if (t.refused)
		return EX_UNAVAILABLE;
	if (t.nohost && !t.sent && !t.deferred)
		return EX_NOHOST;
	if (t.bounced)
		return EX_NOUSER;
	if (t.deferred)
		return EX_TEMPFAIL;
	return 0;
}

static void
finish_run(struct ctx *c, struct rcpt *rc, size_t n)
{
	size_t	i;

	spool_after(c, rc, n, (long long)time(NULL));
	qsort(rc, n, sizeof(*rc), cmp_order);
	for (i = 0; i < n; i++) {
		/* --each: which message the lines below are about. */
		if (c->o->each && !c->o->quiet && !c->o->json &&
		    (i == 0 || rc[i].job != rc[i - 1].job))
			(void)printf("message %s\n", c->jobs[rc[i].job].file);
		print_rcpt(c, &rc[i]);
	}
}

/* --flush DIR: each due entry is one run of its own. */
static int
flush(struct ctx *c)
{
	const struct opts	*o = c->o;
	struct mxk_spool_entry	 en;
	struct mxk_err		 e;
	struct rcpts		 r;
	struct job		 job;
	char			**names;
	size_t			 n, i, k;
	long long		 now = (long long)time(NULL);
	int			 code, worst = 0, got;

	if (mxk_spool_list(o->flush, &names, &n, &e) == -1) {
		(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		return mxk_err_exitcode(&e);
	}
	for (i = 0; i < n; i++) {
		if ((got = mxk_spool_open(o->flush, names[i], &en, &e)) == 1)
			continue;	/* another flush has it, or gone */
		if (got == -1) {
			(void)fprintf(stderr, "%s: warning: %s (left alone)\n",
			    PROG, e.msg);
			continue;
		}
		if (en.next > now && !o->flush_all) {
			mxk_log(MXK_LOG_INFO, "%s: not before %lld", en.name,
			    en.next);
			mxk_spool_close(&en);
			continue;
		}
		memset(&job, 0, sizeof(job));
		(void)snprintf(job.from, sizeof(job.from), "%s", en.from);
		job.spool = &en;
		memset(&r, 0, sizeof(r));
		for (k = 0; k < en.nrcpt; k++)
			if (rcpts_add(&r, en.rcpt[k], 0, o) == -1)
				break;
		if (k < en.nrcpt) {
			free(r.v);
			mxk_spool_close(&en);
			continue;
		}
		{
			char	tmp[MXK_ADDR_INPUTMAX];

			if (parse_sender(en.from, tmp, sizeof(tmp),
			    &job.smtputf8) == -1)
				job.smtputf8 = 0;
		}
		c->jobs = &job;
		memset(&c->t, 0, sizeof(c->t));
		deliver_all(c, r.v, r.n);
		finish_run(c, r.v, r.n);
		code = exit_status(c, r.v, r.n);
		if (rank(code) > rank(worst))
			worst = code;
		job_release(&job);
		free(r.v);
		mxk_spool_close(&en);
	}
	mxk_spool_names_free(names, n);
	/* Deferred entries stay queued ("queued", not counted); 75 is left
	 * only for what could not be queued again. */
	return worst;
}

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct mxk_err		 e;
	struct mxk_dns_params	 dp;
	struct ctx		 c;
	struct rcpts		 r;
	struct job		*jobs;
	char			 from[MXK_ADDR_INPUTMAX], sender[512];
	char			 fromhdr[MXK_ADDR_INPUTMAX + 256], secret[1024];
	const char		*base;
	size_t			 njobs, i, k;
	int			 first, fd, fromutf8, code;

	(void)signal(SIGPIPE, SIG_IGN);
	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		(void)close(fd);

	base = strrchr(argv[0], '/');
	base = base != NULL ? base + 1 : argv[0];
	parse_args(argc, argv, &o, &first);
	o.sendmail = strcmp(base, "sendmail") == 0;
	mxk_log_init_stderr(PROG, o.quiet ? -1 : o.verbose);
	mxk_err_clear(&e);
	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	c.o = &o;
	secret[0] = '\0';

	if (o.flush == NULL && !o.each && first >= argc && !o.extract)
		die_usage("no recipient given (or -t to take them from the "
		    "header)%s", "");
	if (o.each && first >= argc)
		die_usage("--each needs message files%s", "");
	if (o.each && o.nto == 0 && !o.extract)
		die_usage("--each needs --to RCPT or -t%s", "");
	if (o.flush != NULL && (first < argc || o.each || o.spool != NULL))
		die_usage("--flush DIR takes no recipients, --each or "
		    "--spool%s", "");
	if (o.from == NULL) {
		default_sender(sender, sizeof(sender));
		o.from = sender;
	}
	if (parse_sender(o.from, from, sizeof(from), &fromutf8) == -1)
		return EX_DATAERR;
	if (o.user != NULL && read_secret(&o, secret, sizeof(secret)) == -1)
		return EX_USAGE;
	c.secret = o.user != NULL ? secret : NULL;

	memset(&c.mp, 0, sizeof(c.mp));
	c.mp.dot_ends = o.sendmail && !o.ignore_dots && !o.each;
	c.mp.extract_rcpts = o.extract;
	if (o.fullname != NULL) {
		int fl = snprintf(fromhdr, sizeof(fromhdr), "\"%.200s\" <%s>",
		    o.fullname, from);

		if (fl < 0 || (size_t)fl >= sizeof(fromhdr) ||
		    strpbrk(o.fullname, "\"\\\r\n") != NULL)
			die_usage("-F %s: too long, or holds a quote, "
			    "backslash or line break", o.fullname);
		c.mp.add_from = fromhdr;
	}

	memset(&dp, 0, sizeof(dp));
	dp.resolver = o.resolver;
	dp.trust_ad = o.trust_ad;
	if ((o.host == NULL || strncmp(o.host, "unix:", 5) != 0) &&
	    mxk_dns_open(&c.dns, &dp, &e) == -1) {
		if (!o.quiet)
			(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		return mxk_err_exitcode(&e);
	}

	if (o.flush != NULL) {
		code = flush(&c);
		mxk_dns_close(c.dns);
		mxk_mtasts_cache_close(c.sts_cache);
		explicit_bzero(secret, sizeof(secret));
		(void)fflush(stdout);
		return ferror(stdout) ? EX_IOERR : code;
	}

	/* The messages first: a bad one is refused before any traffic. */
	njobs = o.each ? (size_t)(argc - first) : 1;
	if ((jobs = calloc(njobs, sizeof(*jobs))) == NULL) {
		(void)fprintf(stderr, "%s: error: out of memory\n", PROG);
		return EX_OSERR;
	}
	c.jobs = jobs;
	for (i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];

		(void)snprintf(j->from, sizeof(j->from), "%s", from);
		j->smtputf8 = fromutf8;
		j->file = o.each ? argv[first + (int)i] : NULL;
		if (o.each) {
			for (k = 0; k < o.nto; k++)
				if (rcpts_add(&r, o.to[k], i, &o) == -1)
					return EX_DATAERR;
		} else
			for (k = (size_t)first; k < (size_t)argc; k++)
				if (rcpts_add(&r, argv[k], i, &o) == -1)
					return EX_DATAERR;
		if (!o.each || o.extract) {
			if (j->file == NULL) {
				if (mxk_msg_read(STDIN_FILENO, &c.mp, &j->msg,
				    &e) == -1) {
					if (!o.quiet)
						(void)fprintf(stderr, "%s: "
						    "error: %s\n", PROG, e.msg);
					return e.class == MXK_ERR_DATA ?
					    EX_DATAERR : mxk_err_exitcode(&e);
				}
			} else if (job_msg(&c, j, &e) == NULL) {
				(void)fprintf(stderr, "%s: error: %s\n", PROG,
				    e.msg);
				return EX_DATAERR;
			}
			for (k = 0; k < mxk_msg_nrcpts(j->msg); k++) {
				char *g = strdup(mxk_msg_rcpt(j->msg, k));

				if (g == NULL || rcpts_add(&r, g, i, &o) == -1)
					return EX_DATAERR;
			}
			job_release(j);
		}
	}
	if (r.n == 0) {
		(void)fprintf(stderr, "%s: error: no recipients (none on the "
		    "command line, none in To/Cc/Bcc)\n", PROG);
		return EX_USAGE;
	}

	deliver_all(&c, r.v, r.n);
	finish_run(&c, r.v, r.n);
	code = exit_status(&c, r.v, r.n);

	explicit_bzero(secret, sizeof(secret));
	for (i = 0; i < njobs; i++)
		mxk_msg_free(jobs[i].msg);
	free(jobs);
	free(r.v);
	mxk_dns_close(c.dns);
	mxk_mtasts_cache_close(c.sts_cache);
	(void)fflush(stdout);
	if (ferror(stdout))
		return EX_IOERR;
	return code;
}
