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
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "clock.h"
#include "dns.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "msg.h"
#include "mx.h"
#include "net.h"
#include "reply.h"
#include "route.h"
#include "smtpc.h"
#include "starttls.h"
#include "tls.h"

#define PROG		"smtpsend"
#define MAXRCPT		10000
#define MAXATT		128

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
	long long	 timeout;
	int		 family;
};

static void
usage(FILE *f)
{
	(void)fprintf(f,
"usage: %s [options] RECIPIENT... < message\n"
"       %s -t [options] [RECIPIENT...] < message\n"
"\n"
"Send the message on standard input to the recipients, directly to their\n"
"domains' mail exchangers (DANE when published) or through a relay.\n"
"\n"
"  -f, --from SENDER          envelope sender (default: USER@HOSTNAME)\n"
"  -F, --fullname NAME        add \"From: NAME <SENDER>\" when there is none\n"
"  -t, --extract              recipients from To, Cc, Bcc (Bcc removed)\n"
"  -i, -oi                    a line with a single dot does not end input\n"
"      --host HOST[:PORT]     relay through HOST (or unix:/PATH for LMTP)\n"
"      --smtps                implicit TLS (RFC 8314; port 465)\n"
"      --lmtp                 speak LMTP (RFC 2033)\n"
"  -p, --port PORT            port (25, or 465 with --smtps)\n"
"      --ehlo NAME            EHLO name (default: this host's name)\n"
"      --tls POLICY           auto (DANE, else opportunistic), require (PKIX),\n"
"                             none; or may, encrypt, pkix, dane\n"
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
"      --timeout T            per domain, overall (1h)\n"
"      --json                 one JSON object per recipient\n"
"  -q, --quiet                print nothing; the exit status tells\n"
"  -v, --verbose              the SMTP transcript on stderr (AUTH hidden)\n"
"  -h, --help                 this text\n"
"  -V, --version              the version\n"
"\n"
"Output: one line per recipient: sent|deferred|bounced RCPT CODE STATUS TEXT\n"
"Exit: 0 all sent, 75 some deferred (retry later), 67 a recipient bounced,\n"
"69 message refused, 68 no such domain, 77 AUTH refused, 76 protocol error,\n"
"65 bad message or address, 64 usage.\n",
	    PROG, PROG);
}

static void die_usage(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die_usage(const char *fmt, ...)
{
	va_list	ap;

	(void)fprintf(stderr, "%s: error: ", PROG);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fprintf(stderr, "\n%s: try '%s --help'\n", PROG, PROG);
	exit(EX_USAGE);
}

/* "30", "1.5", "500ms", "30s", "2m", "1h" to milliseconds; -1 invalid. */
static long long
parse_duration(const char *s)
{
	char		*end;
	double		 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || v < 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		;
	else if (*end == '\0' || strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if (strcmp(end, "h") == 0)
		v *= 3600000;
	else
		return -1;
	if (v > 86400000.0 * 7)
		return -1;
	return (long long)v;
}

static long long
timeout_opt(const char *name, const char *arg)
{
	long long	v = parse_duration(arg);

	if (v <= 0)
		die_usage("%s %s: not a positive duration", name, arg);
	return v;
}

enum {
	OPT_HOST = 256, OPT_SMTPS, OPT_LMTP, OPT_EHLO, OPT_TLS, OPT_CAFILE,
	OPT_CERT, OPT_KEY, OPT_TLSPRIO, OPT_USER, OPT_PASSFILE, OPT_AUTHMECH,
	OPT_AUTHPLAIN, OPT_DSNNOTIFY, OPT_DSNRET, OPT_DSNENVID, OPT_DSNORCPT,
	OPT_NOCHUNK, OPT_NOPIPE, OPT_RESOLVER, OPT_TRUSTAD, OPT_CTIMEOUT,
	OPT_CMDTIMEOUT, OPT_DATATIMEOUT, OPT_TIMEOUT, OPT_JSON
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
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
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
	o->timeout = 3600000;

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
		case OPT_DSNENVID:
			o->dsn_envid = optarg;
			break;
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
		case OPT_JSON:
			o->json = 1;
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
	if (o->dsn_notify != NULL) {
		const char *p = o->dsn_notify;

		if (strcasecmp(p, "never") != 0 &&
		    strspn(p, "SUCCESFAILURDYsuccesfailurdy,") != strlen(p))
			die_usage("--dsn-notify %s: NEVER, or a list of "
			    "SUCCESS, FAILURE, DELAY", p);
	}
	if (o->tls_priority != NULL) {
		struct mxk_err e;

		if (mxk_tls_priority_check(o->tls_priority, &e) == -1)
			die_usage("--tls-priority: %s", e.msg);
	}
}

/* A recipient: what the user gave, the address sent, and its outcome. */
struct rcpt {
	const char		*given;
	char			 addr[MXK_ADDR_INPUTMAX];
	char			 domain[MXK_ADDR_DOMAINMAX + 1];
	int			 utf8;
	int			 literal;
	struct mxk_smtpc_rcpt	 r;
	char			 orcpt[MXK_ADDR_INPUTMAX];
	int			 done;
};

/* The outcome kinds that decide the exit status (worst last). */
struct tally {
	int	sent, deferred, bounced, nohost, refused, proto, auth;
};

static void
print_rcpt(const struct opts *o, const struct rcpt *rc, const char *host)
{
	static const char *const names[] = {
		"deferred", "sent", "deferred", "bounced"
	};
	const char	*st = names[rc->r.state];
	struct mxk_buf	 b;
	int		 first = 1, r = 0;

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
	r |= mxk_json_kv_str(&b, &first, "host", host);
	r |= mxk_buf_addch(&b, '}');
	if (r == 0)
		(void)printf("%s\n", b.p);
	mxk_buf_free(&b);
}

/* Give every pending recipient of the group the outcome of error e. */
static void
fail_group(struct rcpt *rc, size_t n, const struct mxk_err *e,
    struct tally *t)
{
	size_t	i;
	int	perm = e->class == MXK_ERR_PERM || e->class == MXK_ERR_NOHOST ||
		    e->class == MXK_ERR_RCPT;
	int	code = e->code >= 400 && e->code < 600 ? e->code : perm ? 550 :
		    451;

	if (e->class == MXK_ERR_AUTH)
		t->auth = 1;
	else if (e->class == MXK_ERR_PROTO)
		t->proto = 1;
	else if (e->class == MXK_ERR_NOHOST)
		t->nohost = 1;
	for (i = 0; i < n; i++) {
		if (rc[i].done)
			continue;
		rc[i].r.code = code;
		(void)snprintf(rc[i].r.status, sizeof(rc[i].r.status), "%s",
		    e->status[0] != '\0' ? e->status : perm ? "5.0.0" :
		    "4.0.0");
		(void)snprintf(rc[i].r.text, sizeof(rc[i].r.text), "%s",
		    e->msg);
		rc[i].r.state = perm && e->class != MXK_ERR_AUTH ?
		    MXK_RCPT_BOUNCED : MXK_RCPT_DEFERRED;
	}
}

static int
read_secret(const struct opts *o, char *buf, size_t len)
{
	const char	*env;
	FILE		*f;
	size_t		 n;

	if (o->passfile != NULL) {
		if ((f = fopen(o->passfile, "r")) == NULL) {
			(void)fprintf(stderr, "%s: error: --passfile %s: %s\n",
			    PROG, o->passfile, strerror(errno));
			return -1;
		}
		if (fgets(buf, (int)len, f) == NULL)
			buf[0] = '\0';
		(void)fclose(f);
	} else if ((env = getenv("SMTPSEND_PASSWORD")) != NULL) {
		(void)snprintf(buf, len, "%s", env);
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

/* Connect to a unix socket (LMTP) under a deadline. */
static int
unix_connect(const char *path, long long deadline, struct mxk_err *e)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return mxk_err_sys(e, MXK_ERR_TEMP, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
	    errno != EINPROGRESS && errno != EAGAIN) {
		(void)mxk_err_sys(e, MXK_ERR_TEMP, "connect %s", path);
		(void)close(fd);
		return -1;
	}
	(void)deadline;
	return fd;
}

struct session_ctx {
	const struct opts		*o;
	struct mxk_dns			*dns;
	struct mxk_msg			*msg;
	const char			*from;
	int				 smtputf8;
	const char			*secret;
	int				 refused;	/* MAIL/DATA 5xx */
};

/* AUTH, if asked, then the transaction, on an established session. */
static int
deliver_on(struct session_ctx *s, struct mxk_smtpc_io *io,
    const struct mxk_starttls_result *res, struct rcpt *rc, size_t n,
    long long deadline, struct mxk_err *e)
{
	const struct opts		*o = s->o;
	struct mxk_smtpc_txn		 t;
	struct mxk_smtpc_rcpt		*sr;
	size_t				 i;
	int				 ret;

	if (o->user != NULL) {
		if (!res->tls && !o->auth_plaintext)
			return mxk_err_set(e, MXK_ERR_AUTH, MXK_SRC_LOCAL,
			    "5.7.11", "not sending AUTH credentials in "
			    "cleartext: the server offered no TLS (use "
			    "--auth-plaintext to allow it)");
		if (mxk_smtpc_auth(io, &res->caps, o->auth_mech, o->user,
		    s->secret, mxk_deadline_in(o->command_timeout), e) == -1)
			return -1;
	}
	memset(&t, 0, sizeof(t));
	t.from = s->from;
	t.msg = s->msg;
	t.smtputf8 = s->smtputf8;
	t.dsn_notify = o->dsn_notify;
	t.dsn_ret = o->dsn_ret;
	t.dsn_envid = o->dsn_envid;
	t.lmtp = o->lmtp;
	t.no_chunking = o->no_chunking;
	t.no_pipelining = o->no_pipelining;
	t.mail_timeout_ms = t.rcpt_timeout_ms = (int)o->command_timeout;
	t.block_timeout_ms = (int)o->data_timeout;
	if ((sr = calloc(n, sizeof(*sr))) == NULL)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	for (i = 0; i < n; i++) {
		sr[i].addr = rc[i].addr;
		sr[i].orcpt = o->dsn_orcpt != NULL ? rc[i].orcpt : NULL;
	}
	ret = mxk_smtpc_transaction(io, &res->caps, &t, sr, n, deadline, e);
	if (ret == 0 && t.refused && t.last.code / 100 != 4)
		s->refused = 1;
	for (i = 0; i < n; i++) {
		if (sr[i].state == MXK_RCPT_PENDING)
			continue;
		rc[i].r = sr[i];
		rc[i].done = 1;
	}
	free(sr);
	return ret;
}

/* One group of recipients: one plan, one session. */
static void
deliver_group(struct session_ctx *s, const char *domain, struct rcpt *rc,
    size_t n, struct tally *t)
{
	const struct opts		*o = s->o;
	struct mxk_mx_params		 mp;
	struct mxk_mx_plan		*pl = NULL;
	struct mxk_route_params		 rp;
	struct mxk_starttls_params	 sp;
	struct mxk_starttls_conn	 c;
	struct mxk_net_attempt		 att[MAXATT];
	struct mxk_mx_static		 st;
	struct mxk_err			 e;
	char				 hostname[256], hostbuf[512];
	const char			*host = "-";
	long long			 deadline = mxk_deadline_in(o->timeout);
	int				 port, rc_ok = -1;
	size_t				 i;

	mxk_err_clear(&e);
	memset(&c, 0, sizeof(c));
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
	if (o->ehlo != NULL)
		sp.ehlo = o->ehlo;
	else if (gethostname(hostname, sizeof(hostname)) == 0) {
		hostname[sizeof(hostname) - 1] = '\0';
		sp.ehlo = hostname;
	}

	if (o->host != NULL && strncmp(o->host, "unix:", 5) == 0) {
		/* LMTP over a local socket: no DNS, no TLS. */
		struct mxk_mx_host	 h;
		int			 fd;

		memset(&h, 0, sizeof(h));
		(void)snprintf(h.name, sizeof(h.name), "%s", o->host + 5);
		if (sp.policy == MXK_TLSPOL_AUTO)
			sp.policy = MXK_TLSPOL_OFF;
		host = o->host;
		if ((fd = unix_connect(o->host + 5, deadline, &e)) == -1)
			goto fail;
		if ((c.conn = mxk_conn_new_fd(fd)) == NULL) {
			(void)close(fd);
			(void)mxk_err_set(&e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "out of memory");
			goto fail;
		}
		mxk_smtpc_io_init(&c.io, c.conn, NULL);
		if (mxk_starttls_session(&c.io, NULL, &h, &sp, deadline,
		    &c.res, &e) == -1)
			goto fail;
		rc_ok = deliver_on(s, &c.io, &c.res, rc, n, deadline, &e);
		goto done;
	}

	memset(&mp, 0, sizeof(mp));
	mp.port = port;
	mp.family = o->family;
	mp.shuffle = 1;
	if (o->host != NULL) {
		/* A relay: its name (or literal) is the only route. */
		struct mxk_addr	 ta;
		char		 hp[600];
		const char	*colon;

		(void)snprintf(hp, sizeof(hp), "%s", o->host);
		colon = strrchr(hp, ':');
		if (hp[0] == '[') {
			char *rb = strchr(hp, ']');

			colon = rb != NULL && rb[1] == ':' ? rb + 1 : NULL;
		} else if (colon != NULL && strchr(hp, ':') != colon)
			colon = NULL;	/* a bare IPv6 address */
		if (colon != NULL) {
			mp.port = atoi(colon + 1) > 0 && atoi(colon + 1) <
			    65536 ? atoi(colon + 1) : port;
			hp[colon - hp] = '\0';
		}
		if (hp[0] == '[') {
			memmove(hp, hp + 1, strlen(hp));
			hp[strcspn(hp, "]")] = '\0';
		}
		if (mxk_addr_parse_target(&ta, hp, strlen(hp), &e) == -1)
			goto fail;
		sp.port = mp.port;
		if (ta.is_literal) {
			struct sockaddr_storage	ss;
			socklen_t		sl;

			memset(&ss, 0, sizeof(ss));
			if (ta.family == AF_INET) {
				struct sockaddr_in *sa = (void *)&ss;

				sa->sin_family = AF_INET;
				memcpy(&sa->sin_addr, ta.ip, 4);
				sl = sizeof(*sa);
			} else {
				struct sockaddr_in6 *sa = (void *)&ss;

				sa->sin6_family = AF_INET6;
				memcpy(&sa->sin6_addr, ta.ip, 16);
				sl = sizeof(*sa);
			}
			if (mxk_mx_plan_literal((struct sockaddr *)&ss, sl,
			    ta.domain, &mp, &pl, &e) == -1)
				goto fail;
		} else {
			memset(&st, 0, sizeof(st));
			(void)snprintf(st.host, sizeof(st.host), "%s",
			    ta.domain);
			if (mxk_mx_plan(s->dns, ta.domain, &mp, &st, 1,
			    deadline, &pl, &e) == -1)
				goto fail;
		}
	} else if (rc[0].literal) {
		struct mxk_addr	ta;

		if (mxk_addr_parse_target(&ta, domain, strlen(domain),
		    &e) == -1)
			goto fail;
		{
			struct sockaddr_storage	ss;
			socklen_t		sl;

			memset(&ss, 0, sizeof(ss));
			if (ta.family == AF_INET) {
				struct sockaddr_in *sa = (void *)&ss;

				sa->sin_family = AF_INET;
				memcpy(&sa->sin_addr, ta.ip, 4);
				sl = sizeof(*sa);
			} else {
				struct sockaddr_in6 *sa = (void *)&ss;

				sa->sin6_family = AF_INET6;
				memcpy(&sa->sin6_addr, ta.ip, 16);
				sl = sizeof(*sa);
			}
			if (mxk_mx_plan_literal((struct sockaddr *)&ss, sl,
			    ta.domain, &mp, &pl, &e) == -1)
				goto fail;
		}
	} else if (mxk_mx_plan(s->dns, domain, &mp, NULL, 0, deadline, &pl,
	    &e) == -1)
		goto fail;

	switch (pl->result) {
	case MXK_MX_NXDOMAIN:
		(void)mxk_err_set(&e, MXK_ERR_NOHOST, MXK_SRC_DNS, "5.1.2",
		    "%s", pl->why);
		e.code = 550;
		goto fail;
	case MXK_MX_NULLMX:
		(void)mxk_err_set(&e, MXK_ERR_NOHOST, MXK_SRC_DNS, "5.1.10",
		    "%s", pl->why);
		e.code = 556;
		goto fail;
	case MXK_MX_TEMPFAIL:
		(void)mxk_err_set(&e, MXK_ERR_TEMP, MXK_SRC_DNS, "4.4.3", "%s",
		    pl->why);
		goto fail;
	default:
		break;
	}
	if (pl->ntarget == 0) {
		if (pl->nlookupfail > 0)
			(void)mxk_err_set(&e, MXK_ERR_TEMP, MXK_SRC_DNS,
			    "4.4.3", "%s: no usable MX host: address lookups "
			    "failed", pl->domain);
		else
			(void)mxk_err_set(&e, MXK_ERR_PERM, MXK_SRC_POLICY,
			    "5.4.4", "%s: no usable MX host", pl->domain);
		goto fail;
	}

	mxk_route_params_init(&rp);
	rp.net.connect_timeout_ms = (int)o->connect_timeout;
	rp.net.deadline = deadline;
	rp.greeting_timeout_ms = (int)o->command_timeout;
	rp.port = mp.port;
	c.route.att = att;
	c.route.natt = MAXATT;
	if (mxk_starttls_connect(pl, &rp, s->dns, &sp, NULL, NULL, &c,
	    &e) == -1)
		goto fail;
	(void)snprintf(hostbuf, sizeof(hostbuf), "%s", c.host->name);
	host = hostbuf;
	mxk_log(MXK_LOG_INFO, "%s: connected to %s, TLS %s (%s)", domain,
	    host, c.res.tls ? mxk_tls_trust_name(c.res.trust) : "none",
	    mxk_tls_level_name(c.res.level));
	rc_ok = deliver_on(s, &c.io, &c.res, rc, n, deadline, &e);
done:
	if (rc_ok == -1)
		goto fail;
	mxk_starttls_conn_close(&c, 1);
	goto report;
fail:
	fail_group(rc, n, &e, t);
	mxk_starttls_conn_close(&c, c.conn != NULL && c.res.have_greeting);
report:
	for (i = 0; i < n; i++) {
		if (rc[i].r.state == MXK_RCPT_SENT)
			t->sent = 1;
		else if (rc[i].r.state == MXK_RCPT_BOUNCED)
			t->bounced = 1;
		else
			t->deferred = 1;
		print_rcpt(o, &rc[i], host);
	}
	mxk_mx_plan_free(pl);
}

static int
cmp_domain(const void *a, const void *b)
{
	const struct rcpt *x = a, *y = b;

	return strcmp(x->domain, y->domain);
}

/* A recipient argument (or header address) to the address we send. */
static int
add_recipient(const struct opts *o, struct rcpt *rc, const char *given,
    struct mxk_err *e)
{
	struct mxk_addr	a;

	memset(rc, 0, sizeof(*rc));
	rc->given = given;
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
	(void)o;
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

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct mxk_err		 e;
	struct mxk_dns		*dns = NULL;
	struct mxk_dns_params	 dp;
	struct mxk_msg_params	 mp;
	struct mxk_msg		*msg = NULL;
	struct rcpt		*rc;
	struct tally		 t;
	struct session_ctx	 s;
	struct mxk_addr		 fa;
	char			 from[MXK_ADDR_INPUTMAX], sender[512];
	char			 fromhdr[1024], secret[1024];
	const char		*base;
	size_t			 n = 0, i, j;
	int			 first, fd, smtputf8 = 0;

	(void)signal(SIGPIPE, SIG_IGN);
	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		(void)close(fd);

	parse_args(argc, argv, &o, &first);
	base = strrchr(argv[0], '/');
	base = base != NULL ? base + 1 : argv[0];
	o.sendmail = strcmp(base, "sendmail") == 0;
	mxk_log_init_stderr(PROG, o.quiet ? -1 : o.verbose);
	mxk_err_clear(&e);
	memset(&t, 0, sizeof(t));

	if (first >= argc && !o.extract)
		die_usage("no recipient given (or -t to take them from the "
		    "header)%s", "");
	if (o.from == NULL) {
		default_sender(sender, sizeof(sender));
		o.from = sender;
	}
	if (o.from[0] == '\0' || strcmp(o.from, "<>") == 0)
		from[0] = '\0';
	else {
		if (mxk_addr_parse_mailbox(&fa, o.from, strlen(o.from),
		    MXK_ADDR_ALLOW_BRACKETS | MXK_ADDR_ALLOW_NULL, &e) == -1) {
			(void)fprintf(stderr, "%s: error: sender %s: %s\n",
			    PROG, o.from, e.msg);
			return EX_DATAERR;
		}
		if (fa.is_null)
			from[0] = '\0';
		else if (mxk_addr_format(&fa, fa.needs_smtputf8, from,
		    sizeof(from)) == -1) {
			(void)fprintf(stderr, "%s: error: sender too long\n",
			    PROG);
			return EX_DATAERR;
		}
		smtputf8 |= fa.needs_smtputf8;
	}
	if (o.user != NULL && read_secret(&o, secret, sizeof(secret)) == -1)
		return EX_USAGE;

	/* The message first: a bad one is refused before any traffic. */
	memset(&mp, 0, sizeof(mp));
	mp.dot_ends = o.sendmail && !o.ignore_dots;
	mp.extract_rcpts = o.extract;
	if (o.fullname != NULL) {
		(void)snprintf(fromhdr, sizeof(fromhdr), "\"%s\" <%s>",
		    o.fullname, from);
		mp.add_from = fromhdr;
	}
	if (mxk_msg_read(STDIN_FILENO, &mp, &msg, &e) == -1) {
		if (!o.quiet)
			(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		return e.class == MXK_ERR_DATA ? EX_DATAERR :
		    mxk_err_exitcode(&e);
	}

	n = (size_t)(argc - first) + mxk_msg_nrcpts(msg);
	if (n == 0) {
		(void)fprintf(stderr, "%s: error: no recipients (none on the "
		    "command line, none in To/Cc/Bcc)\n", PROG);
		mxk_msg_free(msg);
		return EX_USAGE;
	}
	if (n > MAXRCPT || (rc = calloc(n, sizeof(*rc))) == NULL) {
		(void)fprintf(stderr, "%s: error: too many recipients\n",
		    PROG);
		mxk_msg_free(msg);
		return EX_USAGE;
	}
	for (i = 0, j = 0; i < n; i++) {
		const char *g = (int)i < argc - first ? argv[first + (int)i] :
		    mxk_msg_rcpt(msg, i - (size_t)(argc - first));

		if (add_recipient(&o, &rc[j], g, &e) == -1) {
			if (!o.quiet)
				(void)fprintf(stderr, "%s: error: recipient "
				    "%s: %s\n", PROG, g, e.msg);
			free(rc);
			mxk_msg_free(msg);
			return EX_DATAERR;
		}
		smtputf8 |= rc[j].utf8;
		j++;
	}
	n = j;

	memset(&dp, 0, sizeof(dp));
	dp.resolver = o.resolver;
	dp.trust_ad = o.trust_ad;
	if ((o.host == NULL || strncmp(o.host, "unix:", 5) != 0) &&
	    mxk_dns_open(&dns, &dp, &e) == -1) {
		if (!o.quiet)
			(void)fprintf(stderr, "%s: error: %s\n", PROG, e.msg);
		free(rc);
		mxk_msg_free(msg);
		return mxk_err_exitcode(&e);
	}

	memset(&s, 0, sizeof(s));
	s.o = &o;
	s.dns = dns;
	s.msg = msg;
	s.from = from;
	s.smtputf8 = smtputf8;
	s.secret = o.user != NULL ? secret : NULL;

	if (o.host != NULL) {
		/* A relay takes every recipient in one session. */
		deliver_group(&s, o.host, rc, n, &t);
	} else {
		/* Direct: one session per domain, in a stable order. */
		qsort(rc, n, sizeof(*rc), cmp_domain);
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && strcmp(rc[j].domain,
			    rc[i].domain) == 0; j++)
				;
			deliver_group(&s, rc[i].domain, rc + i, j - i, &t);
		}
	}
	explicit_bzero(secret, sizeof(secret));
	free(rc);
	mxk_msg_free(msg);
	mxk_dns_close(dns);
	(void)fflush(stdout);
	if (ferror(stdout))
		return EX_IOERR;

	if (t.auth)
		return EX_NOPERM;
	if (t.proto)
		return EX_PROTOCOL;
	if (s.refused)
		return EX_UNAVAILABLE;
	if (t.nohost && !t.sent && !t.deferred)
		return EX_NOHOST;
	if (t.bounced)
		return EX_NOUSER;
	if (t.deferred)
		return EX_TEMPFAIL;
	return 0;
}
