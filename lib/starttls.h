/* ISC license. */

/*
 * starttls: the TLS security level of one SMTP session with a mail
 * exchanger, decided and enforced the way Postfix's smtp(8) does, and the
 * walk over a route plan that moves on to the next MX when one fails.
 *
 * Policies (what the caller asks for) and levels (what applies to one MX
 * once its TLSA records are known; the names are Postfix's):
 *   OFF      no STARTTLS at all                          level "none"
 *   MAY      STARTTLS when offered, any certificate      level "may"
 *   AUTO     DANE when the MX has usable secure TLSA     "dane"; "encrypt"
 *            records, else as MAY (Postfix "dane")       when the secure
 *                                                        RRset has no usable
 *                                                        record; else "may"
 *   ENCRYPT  TLS mandatory, any certificate              level "encrypt"
 *   PKIX     TLS mandatory, the chain must lead to a     level "verify"
 *            trusted CA and name the MX host
 *   DANE     DANE mandatory (Postfix "dane-only"): an    level "dane"
 *            MX without usable secure TLSA is not used
 * TLSA records are looked up (lib/dane) only for AUTO and DANE, and only
 * when the MX host's address records were DNSSEC-secure (RFC 7672 §2.2).
 *
 * mxk_starttls_session() runs, on a connection whose greeting is unread:
 * the TLSA lookup, the greeting, EHLO, STARTTLS (RFC 3207), the handshake
 * with SNI (the TLSA base domain under DANE, RFC 7672 §8; else the MX
 * host), the verification the level asks for, and EHLO again (RFC 3207
 * §4.2: what the server said before TLS is forgotten).  The result always
 * holds what was learnt, so a caller can report a failed MX in full.
 * Failures are errors of this MX only, and every one is temporary where
 * Postfix defers (RFC 7672 §2.2: never a fallback to cleartext):
 *   4.7.5 TEMP  TLSA lookup failed; no usable TLSA under DANE; the peer
 *               does not match the TLSA records; PKIX verification failed;
 *   4.7.4 TEMP  STARTTLS not offered, or refused, where TLS is mandatory;
 *   4.7.0 TEMP  handshake failure (lib/tls);
 *   other       the greeting or EHLO failed (lib/smtpc), timeouts.
 * Under MAY and AUTO-without-DANE a server without STARTTLS is not an
 * error: the session stays in cleartext (res->tls 0).
 *
 * MTA-STS (RFC 8461), when params.sts holds the policy of the domain
 * (mode testing or enforce) and the policy is AUTO: an MX with usable
 * secure TLSA records gets DANE and the MTA-STS policy is not consulted
 * for it (RFC 8461 §2: DANE wins).  For any other MX, under enforce, the
 * MX host must match an "mx" pattern (else 4.7.5 TEMP before a byte is
 * sent) and the level becomes verify: STARTTLS and a PKIX-valid
 * certificate for the MX host name, else 4.7.5/4.7.4 TEMP.  Under testing
 * the level is what AUTO gives, and res->stsv says whether the MX would
 * have passed (report set: a failure to report, RFC 8460); delivery goes
 * on.  mxk_starttls_sts_filter() marks in a plan the MX hosts an enforce
 * policy excludes before any connection (those that cannot have DANE).
 *
 * mxk_starttls_connect() walks a plan: it connects (lib/route, staggered
 * attempts), runs the session, and when the session fails excludes that MX
 * host and connects again to what is left, until one succeeds or nothing
 * is left.  A callback sees every MX tried.  The last error is returned;
 * it is TEMP whenever any MX failed for a TLS reason.
 */
#ifndef MXK_STARTTLS_H
#define MXK_STARTTLS_H

#include <stddef.h>

#include "dane.h"
#include "dns.h"
#include "err.h"
#include "mtasts.h"
#include "mx.h"
#include "net.h"
#include "reply.h"
#include "route.h"
#include "smtpc.h"
#include "tls.h"

enum mxk_tls_policy {
	MXK_TLSPOL_OFF = 0,
	MXK_TLSPOL_MAY,
	MXK_TLSPOL_AUTO,
	MXK_TLSPOL_ENCRYPT,
	MXK_TLSPOL_PKIX,
	MXK_TLSPOL_DANE,
	MXK_TLSPOL__COUNT
};

enum mxk_tls_level {
	MXK_TLSLVL_NONE = 0,
	MXK_TLSLVL_MAY,
	MXK_TLSLVL_ENCRYPT,
	MXK_TLSLVL_VERIFY,
	MXK_TLSLVL_DANE,
	MXK_TLSLVL__COUNT
};

struct mxk_starttls_params {
	enum mxk_tls_policy	 policy;
	const char		*ehlo;		/* our name; NULL: see
						 * mxk_starttls_ehlo_name() */
	struct mxk_tls_params	 tls;		/* priority, cafile, client cert;
						 * servername is set here */
	int			 port;		/* for TLSA; 0: 25 */
	int			 cmd_timeout_ms; /* per command; 0: 300000 */
	int			 tls_timeout_ms; /* handshake; 0: 300000 */
	int			 implicit;	/* TLS before the greeting (RFC
						 * 8314 submissions, port 465):
						 * TLS mandatory, no STARTTLS */
	int			 lmtp;		/* LHLO (RFC 2033) */
	long long		 now;		/* Unix time for DANE-TA dates;
						 * 0: time(NULL) */
	struct mxk_reply_params	 rp;		/* reply limits; zeros: lib/reply */
	const struct mxk_mtasts_policy *sts;	/* the MTA-STS policy of the
						 * domain (lib/mtasts), NULL:
						 * none; used with AUTO only */
	const char		*sts_domain;	/* its domain, for messages */
};

void	 mxk_starttls_params_init(struct mxk_starttls_params *);

struct mxk_starttls_result {
	enum mxk_tls_level	 level;		/* for this MX */
	enum mxk_dane_state	 dane;		/* NA when not looked up */
	char			 dane_why[160];
	char			 tlsa_qname[MXK_DNS_NAMEMAX + 16];
	size_t			 ntlsa;		/* usable records */
	size_t			 nunusable;
	struct mxk_reply	 greeting;
	int			 have_greeting;
	struct mxk_ehlo		 caps;		/* the last EHLO (after TLS) */
	int			 offered;	/* STARTTLS in the first EHLO */
	int			 tls;		/* handshake done */
	int			 dropped;	/* plaintext after 220 dropped */
	enum mxk_tls_trust	 trust;		/* the verdict */
	int			 authenticated;	/* as the level requires */
	char			 why[300];	/* of the verdict */
	struct mxk_dane_result	 dres;		/* under DANE */
	enum mxk_tls_trust	 pkix;		/* the PKIX verdict for the MX
						 * name, whatever the level */
	enum mxk_mtasts_mode	 sts;		/* the MTA-STS mode that applied
						 * (NONE: none, or DANE won) */
	struct mxk_mtasts_verdict stsv;		/* its verdict, with sts set */
	struct mxk_tls		*session;	/* owned by the connection */
};

/*
 * One session on io (connected, greeting unread).  host is the MX host
 * (name in A-label form, dnssec of its address records).  dns may be NULL
 * when the policy is not AUTO or DANE.  0: the level is satisfied; -1
 * with e set: this MX must not be used (quit and close it).
 */
/* The default EHLO name for the connection fd: this host's name if it
 * has a dot, else the address literal of our end, else "localhost". */
void	 mxk_starttls_ehlo_name(int fd, char *out, size_t len);

int	 mxk_starttls_session(struct mxk_smtpc_io *io, struct mxk_dns *dns,
	    const struct mxk_mx_host *host, const struct mxk_starttls_params *,
	    long long deadline, struct mxk_starttls_result *,
	    struct mxk_err *);

/* Called after each MX tried: err is NULL when that MX succeeded. */
typedef void mxk_starttls_report_fn(void *arg, const struct mxk_mx_host *,
    const struct mxk_route_result *, const struct mxk_starttls_result *,
    const struct mxk_err *err);

struct mxk_starttls_conn {
	struct mxk_route_result	 route;		/* caller sets att and natt */
	struct mxk_conn		*conn;		/* the winner's, or NULL */
	struct mxk_smtpc_io	 io;
	struct mxk_starttls_result res;
	const struct mxk_mx_host *host;		/* the winner (in the plan) */
	size_t			 ntried;	/* MX hosts tried */
	size_t			 ntlsfail;	/* of them, failed for TLS */
	size_t			 ntemp;		/* of them, failed for now
						 * (4xx, timeout, TLS) */
};

/*
 * Walk the plan as above.  0 with c->conn and c->io ready for the next
 * command (free both with mxk_starttls_conn_close()); -1 with e set.
 */
int	 mxk_starttls_connect(const struct mxk_mx_plan *,
	    const struct mxk_route_params *, struct mxk_dns *,
	    const struct mxk_starttls_params *, mxk_starttls_report_fn *,
	    void *arg, struct mxk_starttls_conn *c, struct mxk_err *);

/*
 * Under an enforce policy and the AUTO policy: mark the hosts of the plan
 * that match no "mx" pattern and cannot have DANE (their address records
 * are not DNSSEC-secure, nor the name a secure CNAME) as skipped
 * (MXK_MX_SKIP_POLICY).  Returns how many hosts are still usable.
 */
size_t	 mxk_starttls_sts_filter(struct mxk_mx_plan *, struct mxk_dns *,
	    const struct mxk_starttls_params *, long long deadline);

/* Send QUIT (not waiting long for its reply), free io and conn. */
void	 mxk_starttls_conn_close(struct mxk_starttls_conn *, int quit);

/* "none", "may", "auto", "encrypt", "pkix", "dane"; -1 unknown. */
const char	*mxk_tls_policy_name(enum mxk_tls_policy);
int		 mxk_tls_policy_parse(const char *);
/* "none", "may", "encrypt", "verify", "dane". */
const char	*mxk_tls_level_name(enum mxk_tls_level);

#endif
