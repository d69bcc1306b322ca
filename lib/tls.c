/* ISC license. */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "tls.h"

#define HANDSHAKE_STEPS	10000	/* bound; the deadline rules */
#define RECORD_RETRIES	64	/* non-fatal record results in a row */
#define SAN_MAX		1024	/* subjectAltName entries examined */
#define NAME_BUF	1024	/* one presented name */
#define HOST_BUF	256	/* one SNI name, NUL included */

/*
 * Server credentials and priorities, counted: a session keeps the ones it
 * started with alive across a reload.
 */
struct srv_cred {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t	 prio;
	unsigned		 refs;
};

struct mxk_tls_server_ctx {
	char		*certfile;
	char		*keyfile;
	char		*priority;
	struct srv_cred	*cur;
	int		 ask_cert;
};

struct mxk_tls {
	gnutls_session_t	 session;
	gnutls_certificate_credentials_t cred;	/* client side */
	struct srv_cred		*srv;		/* server side */
	gnutls_x509_trust_list_t trust;		/* loaded on first use */
	char			*cafile;
	int			 fd;
	int			 is_sock;
	int			 last_errno;	/* of the transport */
};

static const char *const trust_names[] = {
	[MXK_TLS_ANONYMOUS] = "Anonymous",
	[MXK_TLS_UNTRUSTED] = "Untrusted",
	[MXK_TLS_TRUSTED] = "Trusted",
	[MXK_TLS_VERIFIED] = "Verified",
};

/* Copy a string, cutting it to fit; control characters become '?'. */
static void
copy_clean(char *dst, size_t dlen, const char *src, size_t slen)
{
	size_t	i;

	if (dlen == 0)
		return;
	if (slen >= dlen)
		slen = dlen - 1;
	for (i = 0; i < slen; i++) {
		unsigned char	ch = (unsigned char)src[i];

		dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	dst[slen] = '\0';
}

static void
copy_str(char *dst, size_t dlen, const char *src)
{
	if (src == NULL)
		src = "";
	copy_clean(dst, dlen, src, strlen(src));
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ASCII case-insensitive comparison of n bytes (no locale). */
static int
equal_nocase(const char *a, const char *b, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/*
 * Transport under GnuTLS: the connection's non-blocking fd.  Our own
 * functions rather than gnutls_transport_set_int() so that writes use
 * MSG_NOSIGNAL (and plain write() on a non-socket, e.g. a pipe in tests),
 * and EINTR never reaches GnuTLS.
 */
static ssize_t
tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct mxk_tls	*t = p;
	ssize_t		 r;

	do
		r = read(t->fd, buf, len);
	while (r == -1 && errno == EINTR);
	if (r == -1) {
		t->last_errno = errno;
		gnutls_transport_set_errno(t->session, errno);
	}
	return r;
}

static ssize_t
tls_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct mxk_tls	*t = p;
	ssize_t		 r;

	for (;;) {
		if (t->is_sock)
			r = send(t->fd, buf, len, MSG_NOSIGNAL);
		else
			r = write(t->fd, buf, len);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == ENOTSOCK && t->is_sock) {
			t->is_sock = 0;
			continue;
		}
		break;
	}
	t->last_errno = errno;
	gnutls_transport_set_errno(t->session, errno);
	return -1;
}

/* Only used by GnuTLS for timeouts we never set; kept correct anyway. */
static int
tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct mxk_tls	*t = p;
	long long	 deadline;
	int		 r;

	deadline = ms == GNUTLS_INDEFINITE_TIMEOUT ? MXK_DEADLINE_NONE :
	    mxk_deadline_in(ms);
	r = mxk_net_wait(t->fd, POLLIN, deadline);
	if (r < 0) {
		gnutls_transport_set_errno(t->session, errno);
		return -1;
	}
	return r > 0 ? 1 : 0;
}

static void
tls_free(struct mxk_tls *t)
{
	if (t == NULL)
		return;
	if (t->session != NULL)
		gnutls_deinit(t->session);
	if (t->cred != NULL)
		gnutls_certificate_free_credentials(t->cred);
	if (t->srv != NULL && --t->srv->refs == 0) {
		gnutls_certificate_free_credentials(t->srv->cred);
		gnutls_priority_deinit(t->srv->prio);
		free(t->srv);
	}
	if (t->trust != NULL)
		gnutls_x509_trust_list_deinit(t->trust, 1);
	free(t->cafile);
	free(t);
}

static struct mxk_tls *
tls_new(struct mxk_conn *c, unsigned flags, struct mxk_err *e)
{
	struct mxk_tls	*t;
	struct stat	 st;
	int		 r;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "out of memory");
		return NULL;
	}
	t->fd = mxk_conn_fd(c);
	t->is_sock = fstat(t->fd, &st) == 0 && S_ISSOCK(st.st_mode);
	if ((r = gnutls_init(&t->session, flags | GNUTLS_NONBLOCK)) < 0) {
		t->session = NULL;
		tls_free(t);
		(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "gnutls_init: %s", gnutls_strerror(r));
		return NULL;
	}
	gnutls_transport_set_ptr(t->session, t);
	gnutls_transport_set_pull_function(t->session, tls_pull);
	gnutls_transport_set_push_function(t->session, tls_push);
	gnutls_transport_set_pull_timeout_function(t->session,
	    tls_pull_timeout);
	/* Our deadline rules, not GnuTLS's own handshake timer. */
	gnutls_handshake_set_timeout(t->session, 0);
	return t;
}

static int
tls_want(struct mxk_tls *t)
{
	return gnutls_record_get_direction(t->session) == 1 ?
	    MXK_CONN_WANT_WRITE : MXK_CONN_WANT_READ;
}

/* A GnuTLS error text, with the transport's errno when it is the cause. */
static void
tls_errtext(struct mxk_tls *t, int r, char *buf, size_t len)
{
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED)
		(void)snprintf(buf, len, "received alert: %s",
		    gnutls_alert_get_name(gnutls_alert_get(t->session)));
	else if ((r == GNUTLS_E_PULL_ERROR || r == GNUTLS_E_PUSH_ERROR) &&
	    t->last_errno != 0)
		(void)snprintf(buf, len, "%s (%s)", r == GNUTLS_E_PULL_ERROR ?
		    "error reading from the peer" :
		    "error writing to the peer", strerror(t->last_errno));
	else
		(void)snprintf(buf, len, "%s", gnutls_strerror(r));
}

/*
 * Connection operations once the handshake is done.
 */
static ssize_t
tls_op_read(void *ctx, void *buf, size_t len, struct mxk_err *e)
{
	struct mxk_tls	*t = ctx;
	char		 text[256];
	ssize_t		 r;
	int		 n;

	for (n = 0; n < RECORD_RETRIES; n++) {
		r = gnutls_record_recv(t->session, buf, len);
		if (r >= 0)
			return r;
		switch (r) {
		case GNUTLS_E_AGAIN:
			return tls_want(t);
		case GNUTLS_E_INTERRUPTED:
			continue;
		case GNUTLS_E_REHANDSHAKE:
			/*
			 * A TLS 1.2 renegotiation request.  Ignoring it is
			 * the refusal GnuTLS documents; we never renegotiate.
			 */
			mxk_log(MXK_LOG_DEBUG, "TLS: renegotiation ignored");
			continue;
		case GNUTLS_E_PREMATURE_TERMINATION:
			/*
			 * The peer closed without close_notify, as many SMTP
			 * servers do after QUIT.  SMTP delimits its own data
			 * (replies, the final "."), so a truncation is seen
			 * there; here it is end of file.
			 */
			mxk_log(MXK_LOG_DEBUG, "TLS: closed without "
			    "close_notify");
			return 0;
		default:
			break;
		}
		if (!gnutls_error_is_fatal((int)r)) {
			mxk_log(MXK_LOG_DEBUG, "TLS read: %s",
			    gnutls_strerror((int)r));
			continue;
		}
		tls_errtext(t, (int)r, text, sizeof(text));
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.4.2",
		    "TLS read: %s", text);
	}
	return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.4.2",
	    "TLS read: too many non-fatal errors");
}

/*
 * After GNUTLS_E_AGAIN GnuTLS wants the same buffer again; mxk_conn
 * retries a write with the same bytes, so the record is not duplicated.
 */
static ssize_t
tls_op_write(void *ctx, const void *buf, size_t len, struct mxk_err *e)
{
	struct mxk_tls	*t = ctx;
	char		 text[256];
	ssize_t		 r;
	int		 n;

	for (n = 0; n < RECORD_RETRIES; n++) {
		r = gnutls_record_send(t->session, buf, len);
		if (r >= 0)
			return r;
		if (r == GNUTLS_E_AGAIN)
			return tls_want(t);
		if (r == GNUTLS_E_INTERRUPTED)
			continue;
		tls_errtext(t, (int)r, text, sizeof(text));
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.4.2",
		    "TLS write: %s", text);
	}
	return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.4.2",
	    "TLS write: interrupted too often");
}

static size_t
tls_op_pending(void *ctx)
{
	struct mxk_tls	*t = ctx;

	return gnutls_record_check_pending(t->session);
}

/* Send close_notify if the socket takes it now; never wait for the peer's. */
static void
tls_op_close(void *ctx)
{
	struct mxk_tls	*t = ctx;

	(void)gnutls_bye(t->session, GNUTLS_SHUT_WR);
	tls_free(t);
}

static const struct mxk_conn_ops tls_ops = {
	tls_op_read, tls_op_write, tls_op_pending, tls_op_close
};

/*
 * The handshake: call gnutls_handshake() until done, polling the fd in
 * the direction GnuTLS names between calls.
 */
static int
tls_handshake(struct mxk_tls *t, long long deadline, struct mxk_err *e)
{
	char	text[256];
	int	r, w, n;

	for (n = 0; n < HANDSHAKE_STEPS; n++) {
		r = gnutls_handshake(t->session);
		if (r == GNUTLS_E_SUCCESS)
			return 0;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			w = mxk_net_wait(t->fd,
			    gnutls_record_get_direction(t->session) == 1 ?
			    POLLOUT : POLLIN, deadline);
			if (w == 0)
				return mxk_err_set(e, MXK_ERR_TEMP,
				    MXK_SRC_TLS, "4.4.2",
				    "TLS handshake timed out");
			if (w < 0) {
				(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS,
				    "4.4.2", "TLS handshake: poll: %s",
				    strerror(errno));
				if (e != NULL)
					e->sys_errno = errno;
				return -1;
			}
			continue;
		}
		if (!gnutls_error_is_fatal(r)) {
			mxk_log(MXK_LOG_DEBUG, "TLS handshake: %s",
			    gnutls_strerror(r));
			continue;
		}
		tls_errtext(t, r, text, sizeof(text));
		/* Tell the peer why, if the socket takes it now. */
		(void)gnutls_alert_send_appropriate(t->session, r);
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.0",
		    "TLS handshake failed: %s", text);
	}
	return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.4.2",
	    "TLS handshake: no progress");
}

/* Log the outcome and hand the session to the connection. */
static void
tls_install(struct mxk_conn *c, struct mxk_tls *t, const char *side)
{
	char	*desc;

	if (mxk_log_enabled(MXK_LOG_DEBUG)) {
		desc = gnutls_session_get_desc(t->session);
		mxk_log(MXK_LOG_DEBUG, "TLS %s handshake done: %s", side,
		    desc != NULL ? desc : "?");
		gnutls_free(desc);
	}
	mxk_conn_set_ops(c, &tls_ops, t);
}

void
mxk_tls_params_init(struct mxk_tls_params *p)
{
	memset(p, 0, sizeof(*p));
}

int
mxk_tls_priority_check(const char *prio, struct mxk_err *e)
{
	gnutls_priority_t	 pc;
	const char		*where = NULL;
	int			 r;

	if (prio == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "no TLS priority string");
	if ((r = gnutls_priority_init(&pc, prio, &where)) < 0)
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS, NULL,
		    "TLS priority \"%s\": %s%s%s", prio, gnutls_strerror(r),
		    where != NULL ? " at " : "", where != NULL ? where : "");
	gnutls_priority_deinit(pc);
	return 0;
}

/*
 * SNI (RFC 6066 §3): a DNS host name without the trailing dot; literal
 * IPv4 and IPv6 addresses are not permitted, so none is sent for them
 * (nor for "[...]" address literals).
 */
static int
tls_set_sni(struct mxk_tls *t, const char *name, struct mxk_err *e)
{
	char			 host[HOST_BUF];
	struct in6_addr		 a6;
	struct in_addr		 a4;
	size_t			 len;
	int			 r;

	if (name == NULL || name[0] == '\0' || name[0] == '[')
		return 0;
	len = strlen(name);
	if (name[len - 1] == '.')
		len--;
	if (len == 0)
		return 0;
	if (len >= sizeof(host))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "server name too long (%zu bytes)", len);
	memcpy(host, name, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1)
		return 0;
	if ((r = gnutls_server_name_set(t->session, GNUTLS_NAME_DNS, host,
	    len)) < 0)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "server name \"%s\": %s", host, gnutls_strerror(r));
	return 0;
}

int
mxk_tls_client(struct mxk_conn *c, const struct mxk_tls_params *params,
    long long deadline, struct mxk_tls **out, struct mxk_err *e)
{
	struct mxk_tls_params	 def;
	struct mxk_tls		*t;
	const char		*prio, *where = NULL, *key;
	int			 r;

	if (out != NULL)
		*out = NULL;
	if (c == NULL || out == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "mxk_tls_client: no connection");
	if (params == NULL) {
		mxk_tls_params_init(&def);
		params = &def;
	}
	prio = params->priority != NULL ? params->priority :
	    MXK_TLS_PRIORITY_DEFAULT;
	if ((t = tls_new(c, GNUTLS_CLIENT, e)) == NULL)
		return -1;
	if (params->cafile != NULL &&
	    (t->cafile = strdup(params->cafile)) == NULL) {
		tls_free(t);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "out of memory");
	}
	if ((r = gnutls_certificate_allocate_credentials(&t->cred)) < 0) {
		t->cred = NULL;
		tls_free(t);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "TLS credentials: %s", gnutls_strerror(r));
	}
	if (params->certfile != NULL) {
		key = params->keyfile != NULL ? params->keyfile :
		    params->certfile;
		r = gnutls_certificate_set_x509_key_file(t->cred,
		    params->certfile, key, GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			tls_free(t);
			return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS,
			    NULL, "client certificate %s, key %s: %s",
			    params->certfile, key, gnutls_strerror(r));
		}
	}
	if ((r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE,
	    t->cred)) < 0) {
		tls_free(t);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "TLS credentials: %s", gnutls_strerror(r));
	}
	if ((r = gnutls_priority_set_direct(t->session, prio, &where)) < 0) {
		tls_free(t);
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS, NULL,
		    "TLS priority \"%s\": %s%s%s", prio, gnutls_strerror(r),
		    where != NULL ? " at " : "", where != NULL ? where : "");
	}
	if (tls_set_sni(t, params->servername, e) == -1 ||
	    tls_handshake(t, deadline, e) == -1) {
		tls_free(t);
		return -1;
	}
	tls_install(c, t, "client");
	*out = t;
	return 0;
}

/*
 * Server.
 */
static void
srv_unref(struct srv_cred *sc)
{
	if (sc == NULL || --sc->refs > 0)
		return;
	gnutls_certificate_free_credentials(sc->cred);
	gnutls_priority_deinit(sc->prio);
	free(sc);
}

/* The credentials from the files, or from cert and key when not NULL. */
static int
srv_load(const struct mxk_tls_server_ctx *x, const gnutls_datum_t *cert,
    const gnutls_datum_t *key, struct srv_cred **out, struct mxk_err *e)
{
	struct srv_cred	*sc;
	const char	*where = NULL;
	int		 r;

	*out = NULL;
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "out of memory");
	if ((r = gnutls_certificate_allocate_credentials(&sc->cred)) < 0) {
		free(sc);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "TLS credentials: %s", gnutls_strerror(r));
	}
	if (cert != NULL && key != NULL)
		r = gnutls_certificate_set_x509_key_mem(sc->cred, cert, key,
		    GNUTLS_X509_FMT_PEM);
	else
		r = gnutls_certificate_set_x509_key_file(sc->cred,
		    x->certfile, x->keyfile, GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		gnutls_certificate_free_credentials(sc->cred);
		free(sc);
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS, NULL,
		    "server certificate %s, key %s: %s", x->certfile,
		    x->keyfile, gnutls_strerror(r));
	}
	/* RFC 7919 groups for TLS 1.2 DHE with clients that do not name one. */
	(void)gnutls_certificate_set_known_dh_params(sc->cred,
	    GNUTLS_SEC_PARAM_MEDIUM);
	if ((r = gnutls_priority_init(&sc->prio, x->priority, &where)) < 0) {
		gnutls_certificate_free_credentials(sc->cred);
		free(sc);
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS, NULL,
		    "TLS priority \"%s\": %s%s%s", x->priority,
		    gnutls_strerror(r), where != NULL ? " at " : "",
		    where != NULL ? where : "");
	}
	sc->refs = 1;
	*out = sc;
	return 0;
}

void
mxk_tls_server_ctx_free(struct mxk_tls_server_ctx *x)
{
	if (x == NULL)
		return;
	srv_unref(x->cur);
	free(x->certfile);
	free(x->keyfile);
	free(x->priority);
	free(x);
}

int
mxk_tls_server_ctx_new(const char *certfile, const char *keyfile,
    const char *priority, struct mxk_tls_server_ctx **out, struct mxk_err *e)
{
	struct mxk_tls_server_ctx	*x;

	*out = NULL;
	if (certfile == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "no server certificate file");
	if (keyfile == NULL)
		keyfile = certfile;
	if (priority == NULL)
		priority = MXK_TLS_PRIORITY_DEFAULT;
	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->certfile = strdup(certfile)) == NULL ||
	    (x->keyfile = strdup(keyfile)) == NULL ||
	    (x->priority = strdup(priority)) == NULL) {
		mxk_tls_server_ctx_free(x);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "out of memory");
	}
	if (srv_load(x, NULL, NULL, &x->cur, e) == -1) {
		mxk_tls_server_ctx_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

int
mxk_tls_server_ctx_reload(struct mxk_tls_server_ctx *x, struct mxk_err *e)
{
	struct srv_cred	*sc;

	if (srv_load(x, NULL, NULL, &sc, e) == -1)
		return -1;
	srv_unref(x->cur);
	x->cur = sc;
	return 0;
}

int
mxk_tls_server_ctx_reload_mem(struct mxk_tls_server_ctx *x,
    const void *cert, size_t certlen, const void *key, size_t keylen,
    struct mxk_err *e)
{
	struct srv_cred	*sc;
	gnutls_datum_t	 c, k;

	if (certlen > UINT_MAX || keylen > UINT_MAX)
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS, NULL,
		    "server certificate or key too large");
	c.data = (unsigned char *)(uintptr_t)cert;
	c.size = (unsigned)certlen;
	k.data = (unsigned char *)(uintptr_t)key;
	k.size = (unsigned)keylen;
	if (srv_load(x, &c, &k, &sc, e) == -1)
		return -1;
	srv_unref(x->cur);
	x->cur = sc;
	return 0;
}

void
mxk_tls_server_ctx_ask_cert(struct mxk_tls_server_ctx *x, int on)
{
	x->ask_cert = on != 0;
}

int
mxk_tls_server_start(struct mxk_conn *c, struct mxk_tls_server_ctx *x,
    struct mxk_tls **out, struct mxk_err *e)
{
	struct mxk_tls	*t;
	int		 r;

	if (out != NULL)
		*out = NULL;
	if (c == NULL || x == NULL || out == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "mxk_tls_server: missing argument");
	if ((t = tls_new(c, GNUTLS_SERVER, e)) == NULL)
		return -1;
	t->srv = x->cur;
	t->srv->refs++;
	if ((r = gnutls_credentials_set(t->session, GNUTLS_CRD_CERTIFICATE,
	    t->srv->cred)) < 0 ||
	    (r = gnutls_priority_set(t->session, t->srv->prio)) < 0) {
		tls_free(t);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "TLS server session: %s", gnutls_strerror(r));
	}
	if (x->ask_cert)
		gnutls_certificate_server_set_request(t->session,
		    GNUTLS_CERT_REQUEST);
	*out = t;
	return 0;
}

int
mxk_tls_server_step(struct mxk_conn *c, struct mxk_tls *t, struct mxk_err *e)
{
	char	text[256];
	int	r;

	r = gnutls_handshake(t->session);
	if (r == GNUTLS_E_SUCCESS) {
		tls_install(c, t, "server");
		return 1;
	}
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
	    !gnutls_error_is_fatal(r))
		return gnutls_record_get_direction(t->session) == 1 ?
		    MXK_CONN_WANT_WRITE : MXK_CONN_WANT_READ;
	tls_errtext(t, r, text, sizeof(text));
	(void)gnutls_alert_send_appropriate(t->session, r);
	return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_TLS, "4.7.0",
	    "TLS handshake failed: %s", text);
}

void
mxk_tls_abandon(struct mxk_tls *t)
{
	if (t != NULL)
		tls_free(t);
}

int
mxk_tls_server(struct mxk_conn *c, struct mxk_tls_server_ctx *x,
    long long deadline, struct mxk_tls **out, struct mxk_err *e)
{
	struct mxk_tls	*t;

	if (mxk_tls_server_start(c, x, &t, e) == -1)
		return -1;
	if (tls_handshake(t, deadline, e) == -1) {
		tls_free(t);
		*out = NULL;
		return -1;
	}
	tls_install(c, t, "server");
	*out = t;
	return 0;
}

int
mxk_tls_sni(struct mxk_tls *t, char *buf, size_t len)
{
	char		name[HOST_BUF];
	size_t		size = sizeof(name) - 1;
	unsigned	type = 0;

	if (len > 0)
		buf[0] = '\0';
	if (gnutls_server_name_get(t->session, name, &size, &type, 0) < 0 ||
	    type != GNUTLS_NAME_DNS)
		return 0;
	if (size > sizeof(name) - 1)
		size = sizeof(name) - 1;
	copy_clean(buf, len, name, strnlen(name, size));
	return 1;
}

/*
 * The peer's chain as sent, cut to MXK_TLS_MAXCHAIN; X.509 only (raw
 * public keys are not enabled by our priorities, but a caller may).
 */
static const gnutls_datum_t *
peer_chain(struct mxk_tls *t, unsigned *n)
{
	const gnutls_datum_t	*raw;

	*n = 0;
	if (gnutls_certificate_type_get2(t->session, GNUTLS_CTYPE_PEERS) !=
	    GNUTLS_CRT_X509)
		return NULL;
	if ((raw = gnutls_certificate_get_peers(t->session, n)) == NULL) {
		*n = 0;
		return NULL;
	}
	if (*n > MXK_TLS_MAXCHAIN)
		*n = MXK_TLS_MAXCHAIN;
	return raw;
}

size_t
mxk_tls_chain(struct mxk_tls *t, const unsigned char **der, size_t *len,
    size_t max)
{
	const gnutls_datum_t	*raw;
	unsigned		 n, i;

	raw = peer_chain(t, &n);
	if (n > max)
		n = (unsigned)max;
	for (i = 0; i < n; i++) {
		der[i] = raw[i].data;
		len[i] = raw[i].size;
	}
	return n;
}

const char *
mxk_tls_trust_name(enum mxk_tls_trust v)
{
	if ((unsigned)v >= sizeof(trust_names) / sizeof(trust_names[0]))
		return "unknown";
	return trust_names[v];
}

/*
 * RFC 6125 §6.4.  The rules are in tls.h; the reasons here.  A wildcard
 * must be the whole leftmost label (§6.4.3 permits more, but partial
 * wildcards are rare and have been misread by clients for years; CA/B
 * Forum rules forbid them).  It stands for exactly one label, so
 * "*.example.com" does not match "example.com" nor "a.b.example.com".
 * Two labels after it at least, so a certificate cannot claim a whole
 * top-level domain.
 */
int
mxk_tls_name_match(const char *cert, const char *ref)
{
	const char	*dot;
	size_t		 clen, rlen, slen;

	if (cert == NULL || ref == NULL)
		return 0;
	clen = strlen(cert);
	rlen = strlen(ref);
	if (clen > 0 && cert[clen - 1] == '.')
		clen--;
	if (rlen > 0 && ref[rlen - 1] == '.')
		rlen--;
	if (clen == 0 || rlen == 0 || memchr(ref, '*', rlen) != NULL)
		return 0;
	if (cert[0] != '*')
		return memchr(cert, '*', clen) == NULL && clen == rlen &&
		    equal_nocase(cert, ref, clen);
	/* "*." then at least "x.y": the suffix ".x.y" keeps its dot. */
	if (clen < 2 || cert[1] != '.')
		return 0;
	slen = clen - 1;
	if (memchr(cert + 1, '*', slen) != NULL ||
	    memchr(cert + 2, '.', slen - 1) == NULL || cert[2] == '.')
		return 0;
	if ((dot = memchr(ref, '.', rlen)) == NULL || dot == ref)
		return 0;
	if (rlen - (size_t)(dot - ref) != slen)
		return 0;
	return equal_nocase(dot, cert + 1, slen);
}

/*
 * The trust store, loaded on first use: params.cafile, else
 * $SSL_CERT_FILE (as OpenSSL and many tools honour it), else the system
 * store GnuTLS was built with.  A store with no certificate cannot
 * validate anything; that is a configuration error, not a verdict.
 */
static int
tls_load_trust(struct mxk_tls *t, struct mxk_err *e)
{
	gnutls_x509_trust_list_t	 tl;
	const char			*file = t->cafile;
	int				 r, fd;

	if (t->trust != NULL)
		return 0;
	if (file == NULL && (file = secure_getenv("SSL_CERT_FILE")) != NULL &&
	    file[0] == '\0')
		file = NULL;
	if (file != NULL) {
		/* GnuTLS says only "error reading file"; find out why. */
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
			(void)mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS, NULL,
			    "CA file %s: %s", file, strerror(errno));
			if (e != NULL)
				e->sys_errno = errno;
			return -1;
		}
		(void)close(fd);
	}
	if ((r = gnutls_x509_trust_list_init(&tl, 0)) < 0)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "trust list: %s", gnutls_strerror(r));
	if (file != NULL)
		r = gnutls_x509_trust_list_add_trust_file(tl, file, NULL,
		    GNUTLS_X509_FMT_PEM, 0, 0);
	else
		r = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
	if (r <= 0) {
		gnutls_x509_trust_list_deinit(tl, 1);
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_TLS, NULL,
		    "%s%s: %s", file != NULL ? "CA file " :
		    "system trust store", file != NULL ? file : "",
		    r < 0 ? gnutls_strerror(r) : "no certificates");
	}
	mxk_log(MXK_LOG_DEBUG, "TLS: %d trusted certificates from %s", r,
	    file != NULL ? file : "the system store");
	t->trust = tl;
	return 0;
}

/* Append a name to a comma-separated list, whole or not at all. */
static void
list_add(char *list, size_t len, const char *name)
{
	size_t	used = strlen(list), n = strlen(name);

	if (used >= 3 && strcmp(list + used - 3, "...") == 0)
		return;
	if (used + 2 + n + 6 < len) {
		if (used > 0) {
			memcpy(list + used, ", ", 2);
			used += 2;
		}
		copy_clean(list + used, len - used, name, n);
	} else if (used + 6 < len)
		memcpy(list + used, used > 0 ? ", ..." : "...",
		    used > 0 ? 6 : 4);
}

/*
 * Match the leaf's names against the references.  dNSName entries of
 * subjectAltName when there is one at least; else the subject CNs (RFC
 * 6125 §6.4.4).  A name with an embedded NUL never matches.  names gets
 * the presented names for a "no match" reason.  Returns 1 with the
 * matching reference in *which, 0 otherwise.
 */
static int
leaf_match(gnutls_x509_crt_t crt, const char *const *refs, size_t nrefs,
    size_t *which, char *names, size_t nameslen)
{
	char		buf[NAME_BUF];
	size_t		size, j;
	unsigned	i, critical;
	int		r, have_dns = 0;

	names[0] = '\0';
	for (i = 0; i < SAN_MAX; i++) {
		size = sizeof(buf) - 1;
		r = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size,
		    &critical);
		if (r == GNUTLS_E_SHORT_MEMORY_BUFFER) {
			/* Too long for a host name; it still counts as one. */
			have_dns = 1;
			continue;
		}
		if (r < 0)
			break;
		if (r != GNUTLS_SAN_DNSNAME)
			continue;
		have_dns = 1;
		if (size >= sizeof(buf))
			continue;
		buf[size] = '\0';
		if (strlen(buf) != size)
			continue;
		list_add(names, nameslen, buf);
		for (j = 0; j < nrefs; j++)
			if (mxk_tls_name_match(buf, refs[j])) {
				*which = j;
				return 1;
			}
	}
	if (have_dns)
		return 0;
	for (i = 0; i < SAN_MAX; i++) {
		size = sizeof(buf) - 1;
		r = gnutls_x509_crt_get_dn_by_oid(crt,
		    GNUTLS_OID_X520_COMMON_NAME, i, 0, buf, &size);
		if (r == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (r < 0)
			break;
		if (size >= sizeof(buf))
			continue;
		buf[size] = '\0';
		if (strlen(buf) != size)
			continue;
		list_add(names, nameslen, buf);
		for (j = 0; j < nrefs; j++)
			if (mxk_tls_name_match(buf, refs[j])) {
				*which = j;
				return 1;
			}
	}
	return 0;
}

int
mxk_tls_verify_pkix(struct mxk_tls *t, const char *const *refs,
    size_t nrefs, int flags, enum mxk_tls_trust *out, char *why,
    size_t whylen, struct mxk_err *e)
{
	gnutls_x509_crt_t	 crt[MXK_TLS_MAXCHAIN];
	const gnutls_datum_t	*raw;
	gnutls_datum_t		 txt;
	char			 names[512], dummy[1];
	unsigned		 n, i, ncrt = 0, status = 0;
	size_t			 which = 0, len;
	int			 r, rc = -1;

	if (why == NULL || whylen == 0) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	why[0] = '\0';
	*out = MXK_TLS_UNTRUSTED;
	if (flags != 0)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "mxk_tls_verify_pkix: unknown flags %#x", (unsigned)flags);
	if ((raw = peer_chain(t, &n)) == NULL || n == 0) {
		*out = MXK_TLS_ANONYMOUS;
		copy_str(why, whylen, "no peer certificate");
		return 0;
	}
	for (i = 0; i < n; i++) {
		if ((r = gnutls_x509_crt_init(&crt[i])) < 0) {
			(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS,
			    NULL, "x509: %s", gnutls_strerror(r));
			goto done;
		}
		ncrt++;
		if ((r = gnutls_x509_crt_import(crt[i], &raw[i],
		    GNUTLS_X509_FMT_DER)) < 0) {
			(void)snprintf(why, whylen, "certificate %u cannot be "
			    "parsed: %s", i, gnutls_strerror(r));
			rc = 0;
			goto done;
		}
	}
	if (tls_load_trust(t, e) == -1)
		goto done;
	/*
	 * Chain validation only; the host name is ours to match below.
	 * Default flags: expiry and activation times are checked, and an
	 * unsorted chain is sorted by GnuTLS.
	 */
	r = gnutls_x509_trust_list_verify_crt2(t->trust, crt, ncrt, NULL, 0,
	    0, &status, NULL);
	if (r < 0) {
		(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "certificate verification: %s", gnutls_strerror(r));
		goto done;
	}
	rc = 0;
	if (status != 0) {
		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &txt, 0) == 0) {
			len = strnlen((const char *)txt.data, txt.size);
			while (len > 0 && txt.data[len - 1] == ' ')
				len--;
			copy_clean(why, whylen, (const char *)txt.data, len);
			gnutls_free(txt.data);
		} else
			(void)snprintf(why, whylen, "status %#x", status);
		goto done;
	}
	if (leaf_match(crt[0], refs, refs != NULL ? nrefs : 0, &which, names,
	    sizeof(names))) {
		*out = MXK_TLS_VERIFIED;
		(void)snprintf(why, whylen, "matched %s", refs[which]);
	} else {
		*out = MXK_TLS_TRUSTED;
		(void)snprintf(why, whylen, "no name matches; certificate "
		    "names: %s", names[0] != '\0' ? names : "(none)");
	}
done:
	for (i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crt[i]);
	return rc;
}

/* The dNSNames of a certificate, comma-separated, whole names only. */
static void
cert_sans(gnutls_x509_crt_t crt, char *list, size_t len)
{
	char		buf[NAME_BUF];
	size_t		size, used = 0, n;
	unsigned	i, critical;
	int		r;

	list[0] = '\0';
	for (i = 0; i < SAN_MAX; i++) {
		size = sizeof(buf) - 1;
		r = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size,
		    &critical);
		if (r == GNUTLS_E_SHORT_MEMORY_BUFFER)
			continue;
		if (r < 0)
			break;
		if (r != GNUTLS_SAN_DNSNAME || size >= sizeof(buf))
			continue;
		buf[size] = '\0';
		n = strnlen(buf, size);
		if (used + (used > 0) + n + 4 >= len) {
			if (used + 4 < len) {
				memcpy(list + used, ",...", 5);
				used += 4;
			}
			return;
		}
		if (used > 0)
			list[used++] = ',';
		/* A comma inside a name would forge a list entry. */
		copy_clean(list + used, len - used, buf, n);
		for (; list[used] != '\0'; used++)
			if (list[used] == ',')
				list[used] = '?';
	}
}

static void
cert_info(const gnutls_datum_t *raw, struct mxk_tls_cert_info *ci)
{
	gnutls_x509_crt_t	crt;
	gnutls_pubkey_t		pub;
	gnutls_datum_t		d;
	time_t			tm;

	memset(ci, 0, sizeof(*ci));
	(void)gnutls_hash_fast(GNUTLS_DIG_SHA256, raw->data, raw->size,
	    ci->cert_sha256);
	ci->not_before = ci->not_after = -1;
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, raw, GNUTLS_X509_FMT_DER) < 0) {
		copy_str(ci->subject, sizeof(ci->subject),
		    "(unparsable certificate)");
		gnutls_x509_crt_deinit(crt);
		return;
	}
	if (gnutls_x509_crt_get_dn3(crt, &d, 0) == 0) {
		copy_clean(ci->subject, sizeof(ci->subject),
		    (const char *)d.data,
		    strnlen((const char *)d.data, d.size));
		gnutls_free(d.data);
	}
	if (gnutls_x509_crt_get_issuer_dn3(crt, &d, 0) == 0) {
		copy_clean(ci->issuer, sizeof(ci->issuer),
		    (const char *)d.data,
		    strnlen((const char *)d.data, d.size));
		gnutls_free(d.data);
	}
	cert_sans(crt, ci->san, sizeof(ci->san));
	if ((tm = gnutls_x509_crt_get_activation_time(crt)) != (time_t)-1)
		ci->not_before = (long long)tm;
	if ((tm = gnutls_x509_crt_get_expiration_time(crt)) != (time_t)-1)
		ci->not_after = (long long)tm;
	/* RFC 7469 / RFC 6698 selector 1: the SubjectPublicKeyInfo DER. */
	if (gnutls_pubkey_init(&pub) == 0) {
		if (gnutls_pubkey_import_x509(pub, crt, 0) == 0 &&
		    gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &d) == 0) {
			(void)gnutls_hash_fast(GNUTLS_DIG_SHA256, d.data,
			    d.size, ci->spki_sha256);
			gnutls_free(d.data);
		}
		gnutls_pubkey_deinit(pub);
	}
	gnutls_x509_crt_deinit(crt);
}

int
mxk_tls_peer_info(struct mxk_tls *t, struct mxk_tls_peer *p,
    struct mxk_err *e)
{
	const gnutls_datum_t	*raw;
	const char		*s;
	char			*desc;
	unsigned		 n, i;

	memset(p, 0, sizeof(*p));
	if (t == NULL)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_TLS, NULL,
		    "mxk_tls_peer_info: no session");
	s = gnutls_protocol_get_name(gnutls_protocol_get_version(t->session));
	copy_str(p->protocol, sizeof(p->protocol), s != NULL ? s : "unknown");
	s = NULL;
#if GNUTLS_VERSION_NUMBER >= 0x030704
	s = gnutls_ciphersuite_get(t->session);
#endif
	if (s == NULL)
		s = gnutls_cipher_get_name(gnutls_cipher_get(t->session));
	copy_str(p->cipher, sizeof(p->cipher), s != NULL ? s : "unknown");
	copy_str(p->group, sizeof(p->group),
	    gnutls_group_get_name(gnutls_group_get(t->session)));
	if ((desc = gnutls_session_get_desc(t->session)) != NULL) {
		copy_str(p->desc, sizeof(p->desc), desc);
		gnutls_free(desc);
	}
	raw = peer_chain(t, &n);
	for (i = 0; i < n; i++)
		cert_info(&raw[i], &p->chain[i]);
	p->nchain = n;
	return 0;
}
