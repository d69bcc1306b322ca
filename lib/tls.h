/* ISC license. */

/*
 * tls: GnuTLS client and server sessions over a struct mxk_conn, and the
 * verdicts a caller asks for once the handshake is done.
 *
 * Handshake.  mxk_tls_client() and mxk_tls_server() run a non-blocking
 * handshake on the connection's fd until the deadline (GNUTLS_E_AGAIN:
 * poll the fd in the direction gnutls_record_get_direction() names, with
 * mxk_net_wait()), then install read/write/pending/close operations on the
 * connection with mxk_conn_set_ops(): mxk_conn_read(), _write_all() and
 * _readline() then carry TLS records, and net keeps the deadlines.  On
 * success *out is the session; it belongs to the connection and lives until
 * mxk_conn_free(), mxk_conn_detach() or another mxk_conn_set_ops() (the
 * close operation sends close_notify without waiting, then frees it).  On
 * failure nothing is installed and the connection should be closed: the
 * byte stream is no longer usable.  Before a client handshake after
 * STARTTLS the caller must make sure no plaintext bytes were buffered
 * after the 220 reply (RFC 3207 §6, the command injection of
 * CVE-2011-0411): they would otherwise be taken as protected.
 *
 * Errors, all source MXK_SRC_TLS:
 *   4.7.0 TEMP    the handshake failed (alert, protocol or version
 *                 mismatch, the peer closed): RFC 3463 X.7.0, "other
 *                 security status"; a caller that required TLS may
 *                 report it as 4.7.5 as Postfix does ("Cannot start
 *                 TLS: handshake failure");
 *   4.4.2 TEMP    the handshake timed out or the connection broke, and
 *                 every record error after the handshake (as net does);
 *   CONFIG        unreadable certificate, key or CA file, bad priority
 *                 string;
 *   USAGE         bad arguments.
 * TLS authentication failures (a policy refusing an Untrusted peer) are
 * decided by the caller, which reports 4.7.5 as Postfix does.
 *
 * No verification happens inside the handshake: any certificate is
 * accepted and the caller asks afterwards.  mxk_tls_verify_pkix() gives one
 * of four verdicts, posttls-finger style: Anonymous (no certificate),
 * Untrusted (the chain does not lead to a trusted CA, or is expired),
 * Trusted (valid chain, no reference name matches) and Verified (valid
 * chain and a name matches).  The trust store is loaded the first time it
 * is needed, from params.cafile, else $SSL_CERT_FILE, else the system
 * store; it is kept with the session.
 *
 * Name matching (RFC 6125 §6.4): reference names are DNS names in A-label
 * form.  The certificate's subjectAltName dNSName entries are used when
 * there is at least one; the subject CN is consulted only when there is
 * none (RFC 6125 §6.4.4 allows this fallback; Postfix does the same, and
 * many private MX certificates still carry only a CN).  Comparison is
 * ASCII case-insensitive and ignores one trailing dot.  A wildcard is
 * honoured only as the whole leftmost label ("*.example.com"), matches
 * exactly one non-empty label, and needs at least two labels after it
 * ("*.com" never matches); partial wildcards ("f*.example.com",
 * "xn--*.example.com") never match.  IP address identities are not
 * supported.
 *
 * The peer's chain is available raw (DER, leaf first, as sent) for DANE
 * matching with mxk_tls_chain(), and summarised with mxk_tls_peer_info().
 * Chains longer than MXK_TLS_MAXCHAIN are cut to that length for every
 * purpose.
 *
 * Sessions are not thread-safe; a server context may be shared by the
 * sessions of one thread (an event loop).
 */
#ifndef MXK_TLS_H
#define MXK_TLS_H

#include <stddef.h>

#include "err.h"
#include "net.h"

/* TLS 1.2 and 1.3 only (RFC 8996 retires 1.0 and 1.1). */
#define MXK_TLS_PRIORITY_DEFAULT \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

#define MXK_TLS_MAXCHAIN	8

struct mxk_tls;
struct mxk_tls_server_ctx;

/* Fill with mxk_tls_params_init() first; every pointer may be NULL. */
struct mxk_tls_params {
	const char	*servername;	/* SNI; none for IP literals */
	const char	*priority;	/* NULL: MXK_TLS_PRIORITY_DEFAULT */
	const char	*cafile;	/* PKIX trust; NULL: see above */
	const char	*certfile;	/* client certificate (PEM) */
	const char	*keyfile;	/* its key; NULL: in certfile */
};

void	 mxk_tls_params_init(struct mxk_tls_params *);

/* Check that a priority string parses; 0 or -1 (MXK_ERR_CONFIG). */
int	 mxk_tls_priority_check(const char *, struct mxk_err *);

/* Client handshake on the connection, as described above. */
int	 mxk_tls_client(struct mxk_conn *, const struct mxk_tls_params *,
	    long long deadline, struct mxk_tls **out, struct mxk_err *);

/*
 * Server side.  The context loads the certificate chain (PEM, leaf first)
 * and key once; mxk_tls_server_ctx_reload() reads the same files again and
 * keeps the old credentials when that fails.  Sessions hold a reference to
 * the credentials they started with, so reload and free are safe while
 * sessions live.  priority NULL: MXK_TLS_PRIORITY_DEFAULT.
 */
int	 mxk_tls_server_ctx_new(const char *certfile, const char *keyfile,
	    const char *priority, struct mxk_tls_server_ctx **,
	    struct mxk_err *);
int	 mxk_tls_server_ctx_reload(struct mxk_tls_server_ctx *,
	    struct mxk_err *);
/* The same from the files' contents (PEM), read by someone else (a process
 * that may read them when this one may not). */
int	 mxk_tls_server_ctx_reload_mem(struct mxk_tls_server_ctx *,
	    const void *cert, size_t certlen, const void *key, size_t keylen,
	    struct mxk_err *);
/* Ask clients for a certificate (not required, not verified); default 0. */
void	 mxk_tls_server_ctx_ask_cert(struct mxk_tls_server_ctx *, int);
void	 mxk_tls_server_ctx_free(struct mxk_tls_server_ctx *);

int	 mxk_tls_server(struct mxk_conn *, struct mxk_tls_server_ctx *,
	    long long deadline, struct mxk_tls **out, struct mxk_err *);

/*
 * The same handshake for an event loop, one step at a time: start sets up
 * the session (no I/O); step returns 1 when the handshake is done (the
 * session is then installed on the connection, as above),
 * MXK_CONN_WANT_READ or MXK_CONN_WANT_WRITE (wait for that on the fd, call
 * again), or -1 (failed: 4.7.0 TEMP).  A session whose handshake failed or
 * was given up is freed with mxk_tls_abandon() (never after step said 1).
 */
int	 mxk_tls_server_start(struct mxk_conn *, struct mxk_tls_server_ctx *,
	    struct mxk_tls **out, struct mxk_err *);
int	 mxk_tls_server_step(struct mxk_conn *, struct mxk_tls *,
	    struct mxk_err *);
void	 mxk_tls_abandon(struct mxk_tls *);

/* Server side: the SNI name the client sent; 1 (copied), 0 none. */
int	 mxk_tls_sni(struct mxk_tls *, char *, size_t);

/*
 * Verdicts.
 */
enum mxk_tls_trust {
	MXK_TLS_ANONYMOUS = 0,	/* no certificate */
	MXK_TLS_UNTRUSTED,	/* chain not valid to a trusted CA */
	MXK_TLS_TRUSTED,	/* chain valid, no name matches */
	MXK_TLS_VERIFIED	/* chain valid and a name matches */
};

/* "Anonymous", "Untrusted", "Trusted", "Verified". */
const char	*mxk_tls_trust_name(enum mxk_tls_trust);

/*
 * PKIX validation of the peer's chain against the trust store (expiry
 * included), then name matching against names[0..nnames-1].  flags must
 * be 0 (reserved; MTA-STS patterns are matched against the MX host by the
 * mtasts module, and the certificate is then checked for that host name,
 * RFC 8461 §4.1).  Returns 0 with *out set and a reason in why ("matched
 * mx.example.com", "The certificate chain uses expired certificate.",
 * ...); -1 only when no verdict could be reached: the trust store cannot
 * be loaded (MXK_ERR_CONFIG), out of memory, a GnuTLS failure.
 */
int	 mxk_tls_verify_pkix(struct mxk_tls *, const char *const *names,
	    size_t nnames, int flags, enum mxk_tls_trust *out, char *why,
	    size_t whylen, struct mxk_err *);

/*
 * Match one presented name from a certificate against one reference
 * name, by the rules above.  1 match, 0 no match.  Pure.
 */
int	 mxk_tls_name_match(const char *certname, const char *refname);

/*
 * Peer summary.
 */
struct mxk_tls_cert_info {
	char		 subject[512];	/* RFC 4514 string */
	char		 issuer[512];
	char		 san[1024];	/* dNSNames, comma-separated;
					 * names that do not fit are left
					 * out and ",..." ends the list */
	long long	 not_before;	/* seconds since the epoch */
	long long	 not_after;
	unsigned char	 spki_sha256[32]; /* SubjectPublicKeyInfo DER */
	unsigned char	 cert_sha256[32]; /* whole certificate DER */
};

struct mxk_tls_peer {
	char		 protocol[32];	/* "TLS1.3" */
	char		 cipher[128];	/* "TLS_AES_256_GCM_SHA384" */
	char		 group[64];	/* key exchange; "" unknown */
	char		 desc[192];	/* gnutls_session_get_desc() */
	size_t		 nchain;	/* certificates sent (cut) */
	struct mxk_tls_cert_info chain[MXK_TLS_MAXCHAIN];
};

/*
 * Fill the summary.  A certificate GnuTLS cannot parse is listed with
 * subject "(unparsable certificate)" and only cert_sha256; times unknown
 * are -1.  Returns 0; -1 only without a session.
 */
int	 mxk_tls_peer_info(struct mxk_tls *, struct mxk_tls_peer *,
	    struct mxk_err *);

/*
 * The peer's certificates, DER, leaf first as sent: der[i] and len[i] for
 * i < the returned count (at most max and MXK_TLS_MAXCHAIN; 0 when the
 * peer sent none).  The bytes belong to the session.
 */
size_t	 mxk_tls_chain(struct mxk_tls *, const unsigned char **der,
	    size_t *len, size_t max);

#endif
