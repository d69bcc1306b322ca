/* ISC license. */

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dane.h"
#include "err.h"
#include "log.h"
#include "mtasts.h"
#include "mx.h"
#include "net.h"
#include "reply.h"
#include "route.h"
#include "smtpc.h"
#include "starttls.h"
#include "tls.h"

#define DEFAULT_TIMEOUT_MS	300000

static const char *const policy_names[MXK_TLSPOL__COUNT] = {
	"none", "may", "auto", "encrypt", "pkix", "dane"
};

static const char *const level_names[MXK_TLSLVL__COUNT] = {
	"none", "may", "encrypt", "verify", "dane"
};

const char *
mxk_tls_policy_name(enum mxk_tls_policy p)
{
	return (unsigned)p < MXK_TLSPOL__COUNT ? policy_names[p] : "?";
}

int
mxk_tls_policy_parse(const char *s)
{
	int	i;

	if (s == NULL)
		return -1;
	for (i = 0; i < MXK_TLSPOL__COUNT; i++)
		if (strcasecmp(s, policy_names[i]) == 0)
			return i;
	/* Postfix's names for the same things. */
	if (strcasecmp(s, "verify") == 0 || strcasecmp(s, "secure") == 0)
		return MXK_TLSPOL_PKIX;
	if (strcasecmp(s, "dane-only") == 0)
		return MXK_TLSPOL_DANE;
	return -1;
}

const char *
mxk_tls_level_name(enum mxk_tls_level l)
{
	return (unsigned)l < MXK_TLSLVL__COUNT ? level_names[l] : "?";
}

void
mxk_starttls_params_init(struct mxk_starttls_params *p)
{
	memset(p, 0, sizeof(*p));
	p->policy = MXK_TLSPOL_AUTO;
	mxk_tls_params_init(&p->tls);
}

static long long
step_deadline(int ms, long long deadline)
{
	long long d = mxk_deadline_in(ms > 0 ? ms : DEFAULT_TIMEOUT_MS);

	return d < deadline ? d : deadline;
}

static int
mandatory(enum mxk_tls_level l)
{
	return l >= MXK_TLSLVL_ENCRYPT;
}

/* Is name itself a CNAME record, DNSSEC-secure? */
static int
secure_cname(struct mxk_dns *dns, const char *name, long long deadline)
{
	struct mxk_dns_answer	*a = NULL;
	struct mxk_err		 e;
	int			 yes;

	if (mxk_dns_lookup(dns, name, MXK_DNS_CNAME, &a, deadline, &e) == -1)
		return 0;
	yes = a->status == MXK_DNS_OK && a->nrr > 0 &&
	    a->dnssec == MXK_DNSSEC_SECURE;
	mxk_dns_answer_free(a);
	return yes;
}

/* Does the MTA-STS policy of the params apply to this MX at all? */
static enum mxk_mtasts_mode
sts_mode(const struct mxk_starttls_params *p, const struct mxk_mx_host *h)
{
	if (p->policy != MXK_TLSPOL_AUTO || p->sts == NULL ||
	    p->implicit || h->name[0] == '[' || h->name[0] == '/')
		return MXK_MTASTS_MODE_NONE;
	return mxk_mtasts_policy_mode(p->sts);
}

static const char *
sts_domain(const struct mxk_starttls_params *p)
{
	return p->sts_domain != NULL ? p->sts_domain : "the domain";
}

/*
 * MTA-STS on top of the level AUTO gave (RFC 8461 §4, §5), unless DANE
 * applies (§2).  Enforce: the MX must match a pattern, and the level
 * becomes verify (STARTTLS and PKIX for the MX host name).
 */
static int
apply_sts(const struct mxk_mx_host *h, const struct mxk_starttls_params *p,
    struct mxk_starttls_result *res, struct mxk_err *e)
{
	enum mxk_mtasts_mode	m = sts_mode(p, h);

	if (m == MXK_MTASTS_MODE_NONE || res->level == MXK_TLSLVL_DANE)
		return 0;
	res->sts = m;
	if (m != MXK_MTASTS_MODE_ENFORCE)
		return 0;
	if (!mxk_mtasts_policy_match(p->sts, h->name))
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.5",
		    "%s matches no mx pattern of the MTA-STS policy of %s "
		    "(mode enforce, RFC 8461 §4.1): not using this MX",
		    h->name, sts_domain(p));
	res->level = MXK_TLSLVL_VERIFY;
	return 0;
}

size_t
mxk_starttls_sts_filter(struct mxk_mx_plan *pl, struct mxk_dns *dns,
    const struct mxk_starttls_params *p, long long deadline)
{
	size_t	i, left = 0;

	for (i = 0; i < pl->nhost; i++) {
		struct mxk_mx_host *h = &pl->host[i];

		if (h->skip != MXK_MX_USABLE)
			continue;
		if (sts_mode(p, h) == MXK_MTASTS_MODE_ENFORCE &&
		    !mxk_mtasts_policy_match(p->sts, h->name) &&
		    h->dnssec != MXK_DNSSEC_SECURE &&
		    (dns == NULL || !secure_cname(dns, h->name, deadline))) {
			h->skip = MXK_MX_SKIP_POLICY;
			(void)snprintf(h->why, sizeof(h->why), "matches no mx "
			    "pattern of the MTA-STS policy of %s (mode "
			    "enforce), and cannot have DANE",
			    sts_domain(p));
			continue;
		}
		left++;
	}
	return left;
}

/*
 * Decide the level from the policy and, for AUTO and DANE, the TLSA
 * records (RFC 7672 §2.2).  A failed TLSA lookup makes the MX unusable:
 * using it in cleartext would let an attacker who can break DNS for the
 * TLSA name strip the protection DANE promises.
 */
static int
decide_level(struct mxk_dns *dns, const struct mxk_mx_host *h,
    const struct mxk_starttls_params *p, long long deadline,
    struct mxk_starttls_result *res, struct mxk_dane **danep,
    struct mxk_err *e)
{
	struct mxk_dane	*d = NULL;
	enum mxk_dnssec	 addr_dnssec;

	*danep = NULL;
	res->dane = MXK_DANE_NA;
	switch (p->policy) {
	case MXK_TLSPOL_OFF:
		res->level = MXK_TLSLVL_NONE;
		return 0;
	case MXK_TLSPOL_MAY:
		res->level = MXK_TLSLVL_MAY;
		return 0;
	case MXK_TLSPOL_ENCRYPT:
		res->level = MXK_TLSLVL_ENCRYPT;
		return 0;
	case MXK_TLSPOL_PKIX:
		res->level = MXK_TLSLVL_VERIFY;
		return 0;
	case MXK_TLSPOL_AUTO:
	case MXK_TLSPOL_DANE:
		break;
	default:
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "unknown TLS policy %d", (int)p->policy);
	}
	if (h->name[0] == '[' || h->name[0] == '/') {
		/* An address literal or a socket: no name, no TLSA. */
		res->level = p->policy == MXK_TLSPOL_DANE ? MXK_TLSLVL_DANE :
		    MXK_TLSLVL_MAY;
		if (p->policy == MXK_TLSPOL_DANE)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS,
			    "4.7.5", "%s: DANE needs a host name, and the "
			    "policy is dane", h->name);
		return 0;
	}
	addr_dnssec = h->dnssec;
	if (addr_dnssec == MXK_DNSSEC_INSECURE && dns != NULL &&
	    secure_cname(dns, h->name, deadline)) {
		/*
		 * RFC 7672 §2.2.2: the MX host name is a DNSSEC-validated
		 * alias of a name in an unsigned zone.  The expanded name
		 * cannot be a TLSA base domain, but the original one can:
		 * an attacker who forges the insecure target's address
		 * still has to present a certificate matching the TLSA
		 * records of the original name.  Postfix does the same.
		 */
		mxk_log(MXK_LOG_DEBUG, "%s: a secure CNAME to an insecure "
		    "target: TLSA at the original name", h->name);
		addr_dnssec = MXK_DNSSEC_SECURE;
	}
	if (mxk_dane_lookup(addr_dnssec == MXK_DNSSEC_SECURE ? dns : NULL,
	    h->name, p->port, addr_dnssec, NULL, deadline, &d, e) == -1)
		return -1;
	res->dane = mxk_dane_state(d);
	(void)snprintf(res->dane_why, sizeof(res->dane_why), "%s",
	    mxk_dane_why(d));
	(void)snprintf(res->tlsa_qname, sizeof(res->tlsa_qname), "%s",
	    mxk_dane_qname(d));
	res->ntlsa = mxk_dane_nrecords(d);
	res->nunusable = mxk_dane_nunusable(d);
	switch (res->dane) {
	case MXK_DANE_USABLE:
		res->level = MXK_TLSLVL_DANE;
		*danep = d;
		return 0;
	case MXK_DANE_UNUSABLE:
		/* --tls-policy dane: only an MX with usable records. */
		if (p->policy == MXK_TLSPOL_DANE) {
			mxk_dane_free(d);
			res->level = MXK_TLSLVL_DANE;
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS,
			    "4.7.5", "%s: no usable DNSSEC-secure TLSA "
			    "records (%s), and the policy is dane",
			    h->name, res->dane_why);
		}
		/* RFC 7672 §2.2: TLS is still mandatory. */
		res->level = MXK_TLSLVL_ENCRYPT;
		break;
	case MXK_DANE_FAIL:
		mxk_dane_free(d);
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.5",
		    "%s: TLSA lookup failed (%s): not using this MX, and "
		    "never in cleartext", h->name, res->dane_why);
	default:
		if (p->policy == MXK_TLSPOL_DANE) {
			mxk_dane_free(d);
			res->level = MXK_TLSLVL_DANE;
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS,
			    "4.7.5", "%s: no usable DNSSEC-secure TLSA "
			    "records (%s), and the policy is dane",
			    h->name, res->dane_why);
		}
		res->level = MXK_TLSLVL_MAY;
		break;
	}
	mxk_dane_free(d);
	return 0;
}

static int
verify(const struct mxk_mx_host *h, const struct mxk_dane *d,
    const struct mxk_starttls_params *p, struct mxk_starttls_result *res,
    struct mxk_err *e)
{
	const unsigned char	*der[MXK_TLS_MAXCHAIN];
	size_t			 len[MXK_TLS_MAXCHAIN], n;
	const char		*names[1];
	struct mxk_err		 ve;
	enum mxk_tls_trust	 t = MXK_TLS_ANONYMOUS;

	n = mxk_tls_chain(res->session, der, len, MXK_TLS_MAXCHAIN);
	if (res->level == MXK_TLSLVL_DANE) {
		long long now = p->now != 0 ? p->now : (long long)time(NULL);

		if (n == 0) {
			res->trust = MXK_TLS_ANONYMOUS;
			(void)snprintf(res->why, sizeof(res->why),
			    "no certificate presented");
		} else if (mxk_dane_verify(d, der, len, n, now, &res->dres,
		    &ve) == 0) {
			res->trust = MXK_TLS_VERIFIED;
			res->authenticated = 1;
			(void)snprintf(res->why, sizeof(res->why), "%s",
			    res->dres.why);
			return 0;
		} else {
			if (ve.class == MXK_ERR_INTERNAL) {
				*e = ve;
				return -1;
			}
			res->trust = MXK_TLS_UNTRUSTED;
			(void)snprintf(res->why, sizeof(res->why), "%s",
			    res->dres.why);
		}
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.5",
		    "%s: server certificate not trusted: %s (DANE, RFC 7672 "
		    "§2.2: deferred)", h->name, res->why);
	}

	/* Every other level: the PKIX verdict, enforced only by VERIFY. */
	names[0] = h->name;
	if (mxk_tls_verify_pkix(res->session, names, 1, 0, &t, res->why,
	    sizeof(res->why), e) == -1)
		return -1;
	res->pkix = t;
	/*
	 * Verdicts as Postfix logs them: "Verified" only where the level
	 * checks the name; at may and encrypt a valid chain is "Trusted"
	 * whatever the name, and under verify a name mismatch fails the
	 * verification: "Untrusted".
	 */
	if (res->level != MXK_TLSLVL_VERIFY) {
		if (t == MXK_TLS_VERIFIED) {
			t = MXK_TLS_TRUSTED;
			char	m[sizeof(res->why)];

			(void)snprintf(m, sizeof(m), "%s", res->why);
			if (snprintf(res->why, sizeof(res->why), "chain "
			    "trusted, %.200s (names are not checked at level "
			    "%s)", m, mxk_tls_level_name(res->level)) < 0)
				res->why[0] = '\0';
		}
		res->trust = t;
		res->authenticated = 1;
		return 0;
	}
	if (t == MXK_TLS_VERIFIED) {
		res->trust = t;
		res->authenticated = 1;
		return 0;
	}
	res->trust = MXK_TLS_UNTRUSTED;
	return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.5",
	    "%s: server certificate verification failed (%s): %s", h->name,
	    t == MXK_TLS_TRUSTED ? "chain trusted, name mismatch" :
	    mxk_tls_trust_name(t), res->why);
}

/* The TLS handshake and the verification the level asks for. */
static int
handshake(struct mxk_smtpc_io *io, const struct mxk_mx_host *h,
    const struct mxk_dane *d, const struct mxk_starttls_params *p,
    long long deadline, struct mxk_starttls_result *res, struct mxk_err *e)
{
	struct mxk_tls_params	tp = p->tls;

	/* SNI: the TLSA base domain under DANE (RFC 7672 §8), else the MX
	 * host.  Address literals and socket paths get none. */
	tp.servername = d != NULL && mxk_dane_base(d)[0] != '\0' ?
	    mxk_dane_base(d) : h->name[0] != '[' && h->name[0] != '/' ?
	    h->name : NULL;
	if (mxk_tls_client(io->conn, &tp, step_deadline(p->tls_timeout_ms,
	    deadline), &res->session, e) == -1) {
		mxk_err_prefix(e, "%s: TLS handshake", h->name);
		return -1;
	}
	res->tls = 1;
	return verify(h, d, p, res, e);
}

/*
 * Our name for EHLO when the caller gives none (RFC 5321 §4.1.4): this
 * host's name when it is a domain name (has a dot), else the address
 * literal of our end of the connection, which a server can check, rather
 * than a bare "vm" that many refuse as no fully-qualified name; a
 * connection that is no IP socket (LMTP over a local socket): the name,
 * or "localhost".
 */
void
mxk_starttls_ehlo_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 a[INET6_ADDRSTRLEN], hn[256];

	hn[0] = '\0';
	if (gethostname(hn, sizeof(hn)) == 0)
		hn[sizeof(hn) - 1] = '\0';
	else
		hn[0] = '\0';
	if (strchr(hn, '.') != NULL && hn[strlen(hn) - 1] != '.') {
		(void)snprintf(out, len, "%s", hn);
		return;
	}
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET && inet_ntop(AF_INET,
		    &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a)) !=
		    NULL) {
			(void)snprintf(out, len, "[%s]", a);
			return;
		}
		if (ss.ss_family == AF_INET6 && inet_ntop(AF_INET6,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof(a)) !=
		    NULL) {
			(void)snprintf(out, len, "[IPv6:%s]", a);
			return;
		}
	}
	(void)snprintf(out, len, "%s", hn[0] != '\0' ? hn : "localhost");
}

int
mxk_starttls_session(struct mxk_smtpc_io *io, struct mxk_dns *dns,
    const struct mxk_mx_host *h, const struct mxk_starttls_params *p,
    long long deadline, struct mxk_starttls_result *res, struct mxk_err *e)
{
	struct mxk_dane		*d = NULL;
	struct mxk_reply	 r;
	char			 first[256], name[300];
	const char		*ehlo = p->ehlo;
	int			 rc = -1;

	memset(res, 0, sizeof(*res));
	if (ehlo == NULL) {
		mxk_starttls_ehlo_name(mxk_conn_fd(io->conn), name,
		    sizeof(name));
		ehlo = name;
	}
	/*
	 * Every command and the TLS handshake go out as whole writes that
	 * wait for an answer: Nagle's algorithm would only hold the write
	 * after the TLS Finished (the first EHLO) until the server's delayed
	 * ACK, some 40 ms.  Not a socket (tests): no harm.
	 */
	{
		int one = 1;

		(void)setsockopt(mxk_conn_fd(io->conn), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
	}
	if (decide_level(dns, h, p, deadline, res, &d, e) == -1)
		return -1;
	if (apply_sts(h, p, res, e) == -1) {
		mxk_dane_free(d);
		return -1;
	}
	mxk_log(MXK_LOG_DEBUG, "%s: TLS level %s (policy %s, DANE %s, "
	    "MTA-STS %s)", h->name, mxk_tls_level_name(res->level),
	    mxk_tls_policy_name(p->policy), mxk_dane_state_name(res->dane),
	    mxk_mtasts_mode_name(res->sts));

	io->lmtp = p->lmtp;
	if (p->implicit) {
		/* RFC 8314 §3: TLS from the first octet; any level below
		 * encrypt becomes encrypt. */
		if (res->level < MXK_TLSLVL_ENCRYPT)
			res->level = MXK_TLSLVL_ENCRYPT;
		if (handshake(io, h, d, p, deadline, res, e) == -1)
			goto out;
	}
	if (mxk_smtpc_read(io, &res->greeting, step_deadline(p->cmd_timeout_ms,
	    deadline), e) == -1)
		goto out;
	res->have_greeting = 1;
	if (res->greeting.code / 100 != 2) {
		(void)mxk_err_smtp(e, res->greeting.code,
		    res->greeting.status, MXK_ERR_PERM,
		    mxk_reply_first_line(&res->greeting, first,
		    sizeof(first)));
		mxk_err_prefix(e, "%s: greeting", h->name);
		goto out;
	}
	if (mxk_smtpc_ehlo(io, ehlo, &res->caps, &r,
	    step_deadline(p->cmd_timeout_ms, deadline), e) == -1) {
		mxk_err_prefix(e, "%s", h->name);
		goto out;
	}
	res->offered = res->caps.starttls;
	if (p->implicit) {
		rc = 0;
		goto out;
	}
	if (res->level == MXK_TLSLVL_NONE) {
		rc = 0;
		goto out;
	}
	if (!res->caps.starttls) {
		if (mandatory(res->level)) {
			(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS,
			    "4.7.4", "%s: TLS is required (level %s), but "
			    "the server does not offer STARTTLS", h->name,
			    mxk_tls_level_name(res->level));
			goto out;
		}
		(void)snprintf(res->why, sizeof(res->why),
		    "the server does not offer STARTTLS");
		rc = 0;
		goto out;
	}
	if (mxk_smtpc_cmd(io, "STARTTLS", &r, step_deadline(p->cmd_timeout_ms,
	    deadline), e) == -1)
		goto out;
	if (r.code != 220) {
		(void)mxk_reply_first_line(&r, first, sizeof(first));
		if (mandatory(res->level)) {
			(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS,
			    "4.7.4", "%s: TLS is required, but STARTTLS was "
			    "refused: %d %s", h->name, r.code, first);
			e->code = r.code;	/* 454: for now only */
			goto out;
		}
		(void)snprintf(res->why, sizeof(res->why),
		    "STARTTLS refused: %d %s", r.code, first);
		rc = 0;
		goto out;
	}
	/* RFC 3207 §6 (CVE-2011-0411): nothing read before the handshake
	 * may count as protected. */
	res->dropped = mxk_smtpc_drop_plaintext(io);

	if (handshake(io, h, d, p, deadline, res, e) == -1)
		goto out;

	/* RFC 3207 §4.2: forget what was learnt in cleartext. */
	if (mxk_smtpc_ehlo(io, ehlo, &res->caps, &r,
	    step_deadline(p->cmd_timeout_ms, deadline), e) == -1) {
		mxk_err_prefix(e, "%s: after STARTTLS", h->name);
		goto out;
	}
	rc = 0;
out:
	if (res->sts != MXK_MTASTS_MODE_NONE) {
		mxk_mtasts_enforce(p->sts, h->name, res->tls ?
		    MXK_MTASTS_TLS_DONE : MXK_MTASTS_TLS_NONE, res->pkix,
		    &res->stsv);
		if (rc == -1 && res->sts == MXK_MTASTS_MODE_ENFORCE &&
		    e->source == MXK_SRC_TLS)
			mxk_err_prefix(e, "MTA-STS policy of %s (mode enforce)",
			    sts_domain(p));
	}
	mxk_dane_free(d);
	return rc;
}

void
mxk_starttls_conn_close(struct mxk_starttls_conn *c, int quit)
{
	struct mxk_err	e;

	if (c->conn == NULL)
		return;
	if (quit)
		(void)mxk_smtpc_send(&c->io, "QUIT", mxk_deadline_in(2000),
		    &e);
	mxk_smtpc_io_free(&c->io);
	mxk_conn_free(c->conn);
	c->conn = NULL;
}

int
mxk_starttls_connect(const struct mxk_mx_plan *pl,
    const struct mxk_route_params *rpin, struct mxk_dns *dns,
    const struct mxk_starttls_params *p, mxk_starttls_report_fn *report,
    void *arg, struct mxk_starttls_conn *c, struct mxk_err *e)
{
	struct mxk_mx_plan	 sub;
	struct mxk_route_params	 rp = *rpin;
	struct mxk_net_target	*tg = NULL;
	struct mxk_mx_host	*hosts = NULL;
	size_t			*map = NULL;
	struct mxk_net_attempt	*att = c->route.att;
	size_t			 natt = c->route.natt, i, n;
	long long		 deadline = rpin->net.deadline;
	int			 fd, rc;

	c->conn = NULL;
	c->host = NULL;
	c->ntried = c->ntlsfail = c->ntemp = 0;
	if (pl->nhost > 0 && (hosts = calloc(pl->nhost,
	    sizeof(*hosts))) == NULL)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	if (pl->ntarget > 0 && ((tg = calloc(pl->ntarget,
	    sizeof(*tg))) == NULL || (map = calloc(pl->ntarget,
	    sizeof(*map))) == NULL)) {
		free(tg);
		free(hosts);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	if (pl->nhost > 0)
		memcpy(hosts, pl->host, pl->nhost * sizeof(*hosts));
	sub = *pl;
	sub.host = hosts;
	sub.target = tg;
	/* With implicit TLS the greeting is inside TLS: route cannot peek. */
	if (p->implicit)
		rp.check_greeting = 0;

	for (;;) {
		const struct mxk_mx_host	*h;
		struct mxk_err			 se;
		size_t				 hi;

		/* The targets of the hosts not excluded yet, in order. */
		for (i = n = 0; i < pl->ntarget; i++) {
			hi = (size_t)((const struct mxk_mx_host *)
			    pl->target[i].udata - pl->host);
			if (hi < pl->nhost && hosts[hi].skip !=
			    MXK_MX_USABLE)
				continue;
			tg[n] = pl->target[i];
			if (hi < pl->nhost)
				tg[n].udata = &hosts[hi];
			map[n] = i;
			n++;
		}
		sub.ntarget = n;
		memset(&c->route, 0, sizeof(c->route));
		c->route.att = att;
		c->route.natt = natt;
		c->route.fd = -1;
		if (n == 0 && rp.proxy == NULL && c->ntried > 0) {
			/* Everything left failed: the last error stands. */
			break;
		}
		rc = mxk_route_connect(&sub, &rp, &c->route, e);
		/* Attempts name targets of the plan, not of this round's
		 * subset (with a proxy they name hosts: unchanged). */
		if (rp.proxy == NULL) {
			for (i = 0; i < c->route.natt; i++)
				if (c->route.att[i].target < n)
					c->route.att[i].target =
					    map[c->route.att[i].target];
		}
		if (rc == -1) {
			/* RFC 5321 §5.1: an MX that failed for now makes
			 * the delivery a deferral, whatever the next said. */
			if ((c->ntlsfail > 0 || c->ntemp > 0) &&
			    e->class == MXK_ERR_PERM)
				e->class = MXK_ERR_TEMP;
			if (report != NULL)
				report(arg, NULL, &c->route, NULL, e);
			break;
		}
		/* Which host won (its index in the plan). */
		if (rp.proxy != NULL)
			hi = c->route.winner;
		else {
			hi = (size_t)((const struct mxk_mx_host *)
			    tg[c->route.winner].udata - hosts);
			c->route.winner = map[c->route.winner];
		}
		h = hi < pl->nhost ? &pl->host[hi] : NULL;
		fd = c->route.fd;
		if (h == NULL || (c->conn = mxk_conn_new_fd(fd)) == NULL) {
			(void)close(fd);
			(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "out of memory");
			break;
		}
		mxk_smtpc_io_init(&c->io, c->conn, &p->rp);
		c->ntried++;
		mxk_err_clear(&se);
		if (mxk_starttls_session(&c->io, dns, h, p, deadline, &c->res,
		    &se) == 0) {
			c->host = h;
			if (report != NULL)
				report(arg, h, &c->route, &c->res, NULL);
			free(hosts);
			free(tg);
			free(map);
			return 0;
		}
		if (se.source == MXK_SRC_TLS)
			c->ntlsfail++;
		if (se.class == MXK_ERR_TEMP)
			c->ntemp++;
		if (report != NULL)
			report(arg, h, &c->route, &c->res, &se);
		*e = se;
		mxk_starttls_conn_close(c, c->res.have_greeting);
		hosts[hi].skip = MXK_MX_SKIP_IGNORED;
		if (mxk_ms_left(deadline) <= 0)
			break;
	}
	free(hosts);
	free(tg);
	free(map);
	if (c->ntlsfail > 0 && e->class != MXK_ERR_TEMP) {
		/* RFC 7672 §2.2: a TLS failure anywhere makes the whole
		 * delivery a deferral, whatever the last MX said. */
		e->class = MXK_ERR_TEMP;
	} else if (c->ntemp > 0 && e->class == MXK_ERR_PERM)
		e->class = MXK_ERR_TEMP;
	return -1;
}
