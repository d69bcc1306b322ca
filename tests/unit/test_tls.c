/* ISC license. */

/*
 * tls tests.  Certificates are made here with the GnuTLS x509 API (ECDSA
 * P-256, fast) and written as PEM into a mkdtemp directory.  The server
 * side is mxk_tls_server() in a thread on the other end of a socketpair;
 * nothing touches the network.  Every wait has a deadline.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "tls.h"
#include "t.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define DAY		(24 * 60 * 60)
#define BIG_LINES	1000	/* "BIG": 1000 lines of 1000 bytes */
#define BIG_LINE	1000

static char	dir[64] = "";
static char	ca_file[128];	/* kept: params hold the pointer */
static time_t	now0;

/*
 * Certificates.
 */
struct cert {
	gnutls_x509_crt_t	crt;
	gnutls_x509_privkey_t	key;
	time_t			not_after;
};

static struct cert	ca, good, expired, self, cnonly, client;

static int
make_cert(struct cert *c, const char *cn, const char *const *sans,
    size_t nsans, int is_ca, time_t from, time_t until,
    const struct cert *issuer, unsigned char serial)
{
	unsigned char	ser[2] = { 0x01, serial }, id[64];
	size_t		idlen = sizeof(id), i;
	const char	*errp;
	char		dn[256];

	memset(c, 0, sizeof(*c));
	c->not_after = until;
	(void)snprintf(dn, sizeof(dn), "CN=%s", cn);
	if (gnutls_x509_privkey_init(&c->key) < 0 ||
	    gnutls_x509_privkey_generate(c->key, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crt_init(&c->crt) < 0 ||
	    gnutls_x509_crt_set_version(c->crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(c->crt, ser, sizeof(ser)) < 0 ||
	    gnutls_x509_crt_set_dn(c->crt, dn, &errp) < 0 ||
	    gnutls_x509_crt_set_key(c->crt, c->key) < 0 ||
	    gnutls_x509_crt_set_activation_time(c->crt, from) < 0 ||
	    gnutls_x509_crt_set_expiration_time(c->crt, until) < 0 ||
	    gnutls_x509_crt_set_basic_constraints(c->crt, is_ca, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(c->crt, is_ca ?
	    GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN :
	    GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_get_key_id(c->crt, 0, id, &idlen) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(c->crt, id, idlen) < 0)
		return -1;
	for (i = 0; i < nsans; i++)
		if (gnutls_x509_crt_set_subject_alt_name(c->crt,
		    GNUTLS_SAN_DNSNAME, sans[i], (unsigned)strlen(sans[i]),
		    GNUTLS_FSAN_APPEND) < 0)
			return -1;
	if (!is_ca && (gnutls_x509_crt_set_key_purpose_oid(c->crt,
	    GNUTLS_KP_TLS_WWW_SERVER, 0) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(c->crt,
	    GNUTLS_KP_TLS_WWW_CLIENT, 0) < 0))
		return -1;
	if (issuer == NULL)
		issuer = c;
	return gnutls_x509_crt_sign2(c->crt, issuer->crt, issuer->key,
	    GNUTLS_DIG_SHA256, 0) < 0 ? -1 : 0;
}

static void
free_cert(struct cert *c)
{
	if (c->crt != NULL)
		gnutls_x509_crt_deinit(c->crt);
	if (c->key != NULL)
		gnutls_x509_privkey_deinit(c->key);
	memset(c, 0, sizeof(*c));
}

static const char *
path(const char *name)
{
	static char	buf[4][128];
	static int	n;

	n = (n + 1) % 4;
	(void)snprintf(buf[n], sizeof(buf[n]), "%s/%s", dir, name);
	return buf[n];
}

static int
write_file(const char *name, const gnutls_datum_t *d, size_t nd)
{
	FILE	*f;
	size_t	 i;
	int	 ok = 1;

	if ((f = fopen(path(name), "w")) == NULL)
		return -1;
	for (i = 0; i < nd; i++)
		if (d[i].size > 0 && fwrite(d[i].data, d[i].size, 1, f) != 1)
			ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* certname: leaf (+ extra, e.g. the CA) as PEM; keyname: its key. */
static int
write_cert(const char *certname, const char *keyname, const struct cert *c,
    const struct cert *extra)
{
	gnutls_datum_t	d[2] = { { NULL, 0 }, { NULL, 0 } };
	gnutls_datum_t	k = { NULL, 0 };
	int		r = -1;

	if (gnutls_x509_crt_export2(c->crt, GNUTLS_X509_FMT_PEM, &d[0]) < 0 ||
	    (extra != NULL && gnutls_x509_crt_export2(extra->crt,
	    GNUTLS_X509_FMT_PEM, &d[1]) < 0) ||
	    write_file(certname, d, 2) == -1)
		goto out;
	if (keyname != NULL &&
	    (gnutls_x509_privkey_export2(c->key, GNUTLS_X509_FMT_PEM,
	    &k) < 0 || write_file(keyname, &k, 1) == -1))
		goto out;
	r = 0;
out:
	gnutls_free(d[0].data);
	gnutls_free(d[1].data);
	gnutls_free(k.data);
	return r;
}

static const char *const files[] = {
	"ca.pem", "good.pem", "good.key", "expired.pem", "expired.key",
	"self.pem", "self.key", "cn.pem", "cn.key", "client.pem",
	"client.key", "empty.pem", "reload.pem", "reload.key", "junk.key",
};

static int
setup_certs(void)
{
	static const char *const good_sans[] = {
		"mx.example.test", "*.wild.example.test"
	};
	static const char *const mx_san[] = { "mx.example.test" };
	static const char *const client_san[] = { "client.example.test" };
	gnutls_datum_t	 junk = { (unsigned char *)"not a key\n", 10 };
	time_t		 t = now0;

	(void)snprintf(dir, sizeof(dir), "/tmp/mxkit-tls.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
	if (make_cert(&ca, "mxkit test CA", NULL, 0, 1, t - DAY, t + 30 * DAY,
	    NULL, 1) == -1 ||
	    make_cert(&good, "cn-ignored.example.test", good_sans, 2, 0,
	    t - 3600, t + 7 * DAY, &ca, 2) == -1 ||
	    make_cert(&expired, "mx.example.test", mx_san, 1, 0, t - 2 * DAY,
	    t - DAY, &ca, 3) == -1 ||
	    make_cert(&self, "mx.example.test", mx_san, 1, 0, t - 3600,
	    t + DAY, NULL, 4) == -1 ||
	    make_cert(&cnonly, "cn.example.test", NULL, 0, 0, t - 3600,
	    t + DAY, &ca, 5) == -1 ||
	    make_cert(&client, "client.example.test", client_san, 1, 0,
	    t - 3600, t + DAY, &ca, 6) == -1)
		return -1;
	if (write_cert("ca.pem", NULL, &ca, NULL) == -1 ||
	    write_cert("good.pem", "good.key", &good, &ca) == -1 ||
	    write_cert("reload.pem", "reload.key", &good, &ca) == -1 ||
	    write_cert("expired.pem", "expired.key", &expired, &ca) == -1 ||
	    write_cert("self.pem", "self.key", &self, NULL) == -1 ||
	    write_cert("cn.pem", "cn.key", &cnonly, &ca) == -1 ||
	    write_cert("client.pem", "client.key", &client, NULL) == -1 ||
	    write_file("empty.pem", &junk, 0) == -1 ||
	    write_file("junk.key", &junk, 1) == -1)
		return -1;
	return 0;
}

static void
cleanup(void)
{
	size_t	i;

	if (dir[0] == '\0')
		return;
	for (i = 0; i < NELEM(files); i++)
		(void)unlink(path(files[i]));
	(void)rmdir(dir);
	free_cert(&ca);
	free_cert(&good);
	free_cert(&expired);
	free_cert(&self);
	free_cert(&cnonly);
	free_cert(&client);
}

/*
 * The server thread: handshake, then a line protocol.
 *   "TWO"     answer "one\r\ntwo\r\n" in one record;
 *   "BIG"     BIG_LINES lines of BIG_LINE bytes;
 *   "QUIT"    answer "bye", close;
 *   "SILENT"  answer nothing;
 *   else      echo the line.
 */
struct srv {
	struct mxk_tls_server_ctx	*ctx;
	int				 fd;
	pthread_t			 th;
	int				 hs_ok;
	struct mxk_err			 err;
	int				 have_sni;
	char				 sni[256];
	size_t				 client_nchain;
	char				 client_subject[512];
	int				 lines;
};

static void
serve_lines(struct srv *s, struct mxk_conn *c)
{
	struct mxk_buf	 in;
	struct mxk_err	 e;
	char		*line, big[BIG_LINE];
	size_t		 len;
	int		 i, n;

	mxk_buf_init(&in, 65536);
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 2] = '\r';
	big[sizeof(big) - 1] = '\n';
	for (n = 0; n < 100; n++) {
		if (mxk_conn_readline(c, &in, 32768, &line, &len,
		    mxk_deadline_in(5000), &e) != 1)
			break;
		s->lines++;
		if (len >= 3 && memcmp(line, "TWO", 3) == 0) {
			if (mxk_conn_write_all(c, "one\r\ntwo\r\n", 10,
			    mxk_deadline_in(5000), &e) == -1)
				break;
		} else if (len >= 3 && memcmp(line, "BIG", 3) == 0) {
			for (i = 0; i < BIG_LINES; i++)
				if (mxk_conn_write_all(c, big, sizeof(big),
				    mxk_deadline_in(5000), &e) == -1)
					break;
		} else if (len >= 4 && memcmp(line, "QUIT", 4) == 0) {
			(void)mxk_conn_write_all(c, "bye\r\n", 5,
			    mxk_deadline_in(5000), &e);
			break;
		} else if (len >= 6 && memcmp(line, "SILENT", 6) == 0) {
			;
		} else if (mxk_conn_write_all(c, line, len,
		    mxk_deadline_in(5000), &e) == -1)
			break;
		mxk_buf_consume(&in, len);
	}
	mxk_buf_free(&in);
}

static void *
server_main(void *arg)
{
	struct srv		*s = arg;
	struct mxk_conn		*c;
	struct mxk_tls		*t;
	struct mxk_tls_peer	 peer;

	if ((c = mxk_conn_new_fd(s->fd)) == NULL) {
		(void)close(s->fd);
		return NULL;
	}
	if (mxk_tls_server(c, s->ctx, mxk_deadline_in(5000), &t,
	    &s->err) == 0) {
		s->hs_ok = 1;
		s->have_sni = mxk_tls_sni(t, s->sni, sizeof(s->sni));
		if (mxk_tls_peer_info(t, &peer, &s->err) == 0) {
			s->client_nchain = peer.nchain;
			if (peer.nchain > 0)
				(void)snprintf(s->client_subject,
				    sizeof(s->client_subject), "%s",
				    peer.chain[0].subject);
		}
		serve_lines(s, c);
	}
	mxk_conn_free(c);
	return NULL;
}

/*
 * Start a server thread with ctx and run the client handshake against
 * it.  On return *cc is the client connection (NULL when the socketpair
 * failed); the caller frees it, then calls srv_join().
 */
static int
client_run(struct srv *s, struct mxk_tls_server_ctx *ctx,
    const struct mxk_tls_params *p, struct mxk_conn **cc,
    struct mxk_tls **tt, struct mxk_err *e)
{
	int	sv[2];

	memset(s, 0, sizeof(*s));
	*cc = NULL;
	*tt = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	s->ctx = ctx;
	s->fd = sv[1];
	if (pthread_create(&s->th, NULL, server_main, s) != 0) {
		(void)close(sv[0]);
		(void)close(sv[1]);
		s->fd = -1;
		return -1;
	}
	if ((*cc = mxk_conn_new_fd(sv[0])) == NULL) {
		(void)close(sv[0]);
		return -1;
	}
	return mxk_tls_client(*cc, p, mxk_deadline_in(5000), tt, e);
}

static void
srv_join(struct srv *s)
{
	if (s->fd != -1 && s->ctx != NULL)
		(void)pthread_join(s->th, NULL);
	s->ctx = NULL;
}

static void
client_done(struct srv *s, struct mxk_conn *c)
{
	mxk_conn_free(c);
	srv_join(s);
}

static void
params(struct mxk_tls_params *p, const char *servername, const char *cafile)
{
	mxk_tls_params_init(p);
	p->servername = servername;
	p->cafile = cafile;
}

/* Verify against one name: the verdict, or -1 on error. */
static int
verdict(struct mxk_tls *t, const char *name, char *why, size_t whylen)
{
	enum mxk_tls_trust	v;
	struct mxk_err		e;
	const char		*names[1] = { name };

	if (mxk_tls_verify_pkix(t, names, name != NULL ? 1 : 0, 0, &v, why,
	    whylen, &e) == -1)
		return -1;
	return (int)v;
}

/*
 * Tests.
 */
static void
test_name_match(void)
{
	static const struct {
		const char	*cert;
		const char	*ref;
		int		 want;
	} cases[] = {
		{ "mx.example.test", "mx.example.test", 1 },
		{ "MX.Example.Test", "mx.example.TEST", 1 },
		{ "mx.example.test.", "mx.example.test", 1 },
		{ "mx.example.test", "mx.example.test.", 1 },
		{ "mx.example.test", "mx2.example.test", 0 },
		{ "mx.example.test", "mx.example.tes", 0 },
		{ "mx.example.tes", "mx.example.test", 0 },
		{ "mx.example.test", "example.test", 0 },
		{ "*.wild.example.test", "a.wild.example.test", 1 },
		{ "*.wild.example.test", "A.WILD.Example.test", 1 },
		{ "*.WILD.example.test", "a.wild.example.test.", 1 },
		{ "*.wild.example.test", "xn--bcher-kva.wild.example.test", 1 },
		{ "*.wild.example.test", "a.b.wild.example.test", 0 },
		{ "*.wild.example.test", "wild.example.test", 0 },
		{ "*.wild.example.test", ".wild.example.test", 0 },
		{ "*.wild.example.test", "a.wild.example.tes", 0 },
		{ "f*.x.example", "foo.x.example", 0 },
		{ "*f.x.example", "af.x.example", 0 },
		{ "xn--*.example.test", "xn--a.example.test", 0 },
		{ "a.*.example.test", "a.b.example.test", 0 },
		{ "**.example.test", "a.example.test", 0 },
		{ "*.*.example.test", "a.b.example.test", 0 },
		{ "*.test", "a.test", 0 },
		{ "*.test.", "a.test", 0 },
		{ "*", "a", 0 },
		{ "*.", "a.", 0 },
		{ "*..test", "a..test", 0 },
		{ "mx.example.test", "*.example.test", 0 },
		{ "*.example.test", "*.example.test", 0 },
		{ "", "", 0 },
		{ "a.example.test", "", 0 },
		{ "", "a.example.test", 0 },
		{ ".", ".", 0 },
	};
	char	name[160];
	size_t	i;

	for (i = 0; i < NELEM(cases); i++) {
		(void)snprintf(name, sizeof(name), "name_match(\"%s\", \"%s\")",
		    cases[i].cert, cases[i].ref);
		T_EQ_INT(mxk_tls_name_match(cases[i].cert, cases[i].ref),
		    cases[i].want, name);
	}
	T_EQ_INT(mxk_tls_name_match(NULL, "a.b"), 0, "name_match NULL cert");
	T_EQ_INT(mxk_tls_name_match("a.b", NULL), 0, "name_match NULL ref");
}

static void
test_names_and_priorities(void)
{
	struct mxk_err	e;

	T_EQ_STR(mxk_tls_trust_name(MXK_TLS_ANONYMOUS), "Anonymous", "trust");
	T_EQ_STR(mxk_tls_trust_name(MXK_TLS_UNTRUSTED), "Untrusted", "trust");
	T_EQ_STR(mxk_tls_trust_name(MXK_TLS_TRUSTED), "Trusted", "trust");
	T_EQ_STR(mxk_tls_trust_name(MXK_TLS_VERIFIED), "Verified", "trust");
	T_EQ_STR(mxk_tls_trust_name((enum mxk_tls_trust)9), "unknown",
	    "trust oob");
	T_EQ_INT(mxk_tls_priority_check(MXK_TLS_PRIORITY_DEFAULT, &e), 0,
	    "default priority parses");
	T_EQ_INT(mxk_tls_priority_check("NORMAL:+NO-SUCH-THING", &e), -1,
	    "bad priority");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "bad priority is config");
	T_OK(strstr(e.msg, "NO-SUCH-THING") != NULL, "bad priority shown: %s",
	    e.msg);
	T_EQ_INT(mxk_tls_priority_check(NULL, &e), -1, "NULL priority");
}

static void
test_server_ctx_errors(void)
{
	struct mxk_tls_server_ctx	*x = NULL;
	struct mxk_err			 e;

	T_EQ_INT(mxk_tls_server_ctx_new(path("nonexistent.pem"),
	    path("good.key"), NULL, &x, &e), -1, "ctx: missing cert");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "ctx: missing cert config");
	T_EQ_INT(e.source, MXK_SRC_TLS, "ctx: source tls");
	T_OK(x == NULL, "ctx: NULL on failure");
	T_EQ_INT(mxk_tls_server_ctx_new(path("good.pem"), path("self.key"),
	    NULL, &x, &e), -1, "ctx: key does not match");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "ctx: key mismatch config");
	T_EQ_INT(mxk_tls_server_ctx_new(path("good.pem"), path("junk.key"),
	    NULL, &x, &e), -1, "ctx: junk key");
	T_EQ_INT(mxk_tls_server_ctx_new(path("good.pem"), path("good.key"),
	    "NORMAL:+BOGUS", &x, &e), -1, "ctx: bad priority");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "ctx: bad priority config");
	T_EQ_INT(mxk_tls_server_ctx_new(NULL, NULL, NULL, &x, &e), -1,
	    "ctx: no cert");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "ctx: no cert usage");
}

/* The main path: handshake, verdicts, peer summary, chain, data. */
static void
test_good(struct mxk_tls_server_ctx *ctx)
{
	struct mxk_tls_params	 p;
	struct mxk_tls_peer	*peer;
	struct mxk_conn		*c;
	struct mxk_tls		*t;
	struct mxk_err		 e;
	struct mxk_buf		 in;
	struct srv		 s;
	gnutls_datum_t		 der = { NULL, 0 };
	const unsigned char	*cder[MXK_TLS_MAXCHAIN];
	unsigned char		 want[32];
	size_t			 clen[MXK_TLS_MAXCHAIN], idlen, len;
	const char		*two[2] = { "other.example.test",
				    "mx.example.test" };
	enum mxk_tls_trust	 v;
	char			 why[512], *line;
	int			 r;

	params(&p, "mx.example.test.", ca_file);
	r = client_run(&s, ctx, &p, &c, &t, &e);
	T_EQ_INT(r, 0, "good: handshake");
	if (r != 0) {
		(void)fprintf(stderr, "handshake: %s\n", e.msg);
		client_done(&s, c);
		return;
	}
	T_OK(t != NULL, "good: session returned");

	/* Verdicts. */
	T_EQ_INT(verdict(t, "mx.example.test", why, sizeof(why)),
	    MXK_TLS_VERIFIED, "verified mx.example.test");
	T_EQ_STR(why, "matched mx.example.test", "verified why");
	T_EQ_INT(verdict(t, "MX.EXAMPLE.TEST.", why, sizeof(why)),
	    MXK_TLS_VERIFIED, "verified, case and dot");
	T_EQ_INT(verdict(t, "a.wild.example.test", why, sizeof(why)),
	    MXK_TLS_VERIFIED, "verified by wildcard");
	T_EQ_INT(verdict(t, "a.b.wild.example.test", why, sizeof(why)),
	    MXK_TLS_TRUSTED, "wildcard is one label");
	T_EQ_INT(verdict(t, "other.example.test", why, sizeof(why)),
	    MXK_TLS_TRUSTED, "trusted other.example.test");
	T_OK(strstr(why, "mx.example.test, *.wild.example.test") != NULL,
	    "trusted why lists names: %s", why);
	T_EQ_INT(verdict(t, "cn-ignored.example.test", why, sizeof(why)),
	    MXK_TLS_TRUSTED, "CN ignored when SAN dNSName present");
	T_EQ_INT(verdict(t, NULL, why, sizeof(why)), MXK_TLS_TRUSTED,
	    "no reference names: trusted");
	T_EQ_INT(mxk_tls_verify_pkix(t, two, 2, 0, &v, why, sizeof(why), &e),
	    0, "two names");
	T_EQ_INT(v, MXK_TLS_VERIFIED, "second name matches");
	T_EQ_STR(why, "matched mx.example.test", "second name why");
	T_EQ_INT(mxk_tls_verify_pkix(t, two, 2, 4, &v, why, sizeof(why), &e),
	    -1, "unknown flags");
	T_EQ_INT(e.class, MXK_ERR_USAGE, "unknown flags usage");
	T_EQ_INT(mxk_tls_verify_pkix(t, two, 2, 0, &v, NULL, 0, &e), 0,
	    "why may be NULL");

	/* Summary. */
	if ((peer = calloc(1, sizeof(*peer))) != NULL) {
		T_EQ_INT(mxk_tls_peer_info(t, peer, &e), 0, "peer info");
		T_EQ_STR(peer->protocol, "TLS1.3", "protocol");
		T_OK(peer->cipher[0] != '\0' && strcmp(peer->cipher,
		    "unknown") != 0, "cipher: %s", peer->cipher);
		T_OK(peer->group[0] != '\0', "group: %s", peer->group);
		T_OK(strstr(peer->desc, "TLS1.3") != NULL, "desc: %s",
		    peer->desc);
		T_EQ_INT(peer->nchain, 2, "chain of two");
		T_EQ_STR(peer->chain[0].subject, "CN=cn-ignored.example.test",
		    "leaf subject");
		T_EQ_STR(peer->chain[0].issuer, "CN=mxkit test CA",
		    "leaf issuer");
		T_EQ_STR(peer->chain[0].san,
		    "mx.example.test,*.wild.example.test", "leaf SAN");
		T_EQ_STR(peer->chain[1].subject, "CN=mxkit test CA",
		    "CA subject");
		T_EQ_STR(peer->chain[1].san, "", "CA has no SAN");
		T_EQ_INT(peer->chain[0].not_after, (long long)good.not_after,
		    "not_after");
		T_EQ_INT(peer->chain[0].not_before,
		    (long long)(now0 - 3600), "not_before");
		/* Independently: GnuTLS's SHA-256 key ID is over the SPKI. */
		idlen = sizeof(want);
		T_OK(gnutls_x509_crt_get_key_id(good.crt,
		    GNUTLS_KEYID_USE_SHA256, want, &idlen) == 0 && idlen == 32,
		    "key id");
		T_OK(memcmp(peer->chain[0].spki_sha256, want, 32) == 0,
		    "SPKI SHA-256 equals the key id");
		T_OK(memcmp(peer->chain[0].spki_sha256,
		    peer->chain[1].spki_sha256, 32) != 0, "SPKIs differ");
		if (gnutls_x509_crt_export2(good.crt, GNUTLS_X509_FMT_DER,
		    &der) == 0) {
			(void)gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data,
			    der.size, want);
			T_OK(memcmp(peer->chain[0].cert_sha256, want, 32) == 0,
			    "certificate SHA-256");
		}
		free(peer);
	}

	/* Raw chain for DANE. */
	T_EQ_INT(mxk_tls_chain(t, cder, clen, MXK_TLS_MAXCHAIN), 2,
	    "raw chain");
	T_OK(der.data != NULL && clen[0] == der.size &&
	    memcmp(cder[0], der.data, der.size) == 0, "raw leaf is the DER");
	T_EQ_INT(mxk_tls_chain(t, cder, clen, 1), 1, "raw chain cut by max");
	T_EQ_INT(mxk_tls_chain(t, cder, clen, 0), 0, "raw chain max 0");
	gnutls_free(der.data);

	/* Data. */
	mxk_buf_init(&in, 64);
	r = mxk_conn_write_all(c, "hello\r\n", 7, mxk_deadline_in(5000), &e);
	T_EQ_INT(r, 0, "write hello");
	r = mxk_conn_readline(c, &in, 64, &line, &len, mxk_deadline_in(5000),
	    &e);
	T_EQ_INT(r, 1, "read echo");
	T_OK(r == 1 && len == 7 && memcmp(line, "hello\r\n", 7) == 0,
	    "echo is hello");
	mxk_buf_free(&in);

	/*
	 * Two lines in one record, read through a 6-byte buffer: the rest
	 * of the record waits inside GnuTLS (pending), not in the socket.
	 */
	mxk_buf_init(&in, 6);
	r = mxk_conn_write_all(c, "TWO\r\n", 5, mxk_deadline_in(5000), &e);
	r = mxk_conn_readline(c, &in, 6, &line, &len, mxk_deadline_in(5000),
	    &e);
	T_OK(r == 1 && len == 5 && memcmp(line, "one\r\n", 5) == 0,
	    "first of two");
	T_EQ_INT(mxk_conn_pending(c), 4, "pending bytes in the record");
	mxk_buf_consume(&in, len);
	r = mxk_conn_readline(c, &in, 6, &line, &len, mxk_deadline_in(2000),
	    &e);
	T_OK(r == 1 && len == 5 && memcmp(line, "two\r\n", 5) == 0,
	    "second of two from pending");
	T_EQ_INT(mxk_conn_pending(c), 0, "nothing pending");
	mxk_buf_free(&in);

	/* A long line both ways (several records). */
	{
		static char	long_line[20002];
		size_t		got = 0;

		memset(long_line, 'a', sizeof(long_line) - 2);
		long_line[sizeof(long_line) - 2] = '\r';
		long_line[sizeof(long_line) - 1] = '\n';
		mxk_buf_init(&in, 65536);
		r = mxk_conn_write_all(c, long_line, sizeof(long_line),
		    mxk_deadline_in(5000), &e);
		T_EQ_INT(r, 0, "write 20 kB line");
		r = mxk_conn_readline(c, &in, 32768, &line, &len,
		    mxk_deadline_in(5000), &e);
		if (r == 1 && len == sizeof(long_line) &&
		    memcmp(line, long_line, len) == 0)
			got = len;
		T_EQ_INT(got, sizeof(long_line), "20 kB line echoed");
		mxk_buf_consume(&in, len);

		/* 1 MB from the server: its writes wait for our reads. */
		r = mxk_conn_write_all(c, "BIG\r\n", 5, mxk_deadline_in(5000),
		    &e);
		for (got = 0; got < BIG_LINES; got++) {
			if (mxk_conn_readline(c, &in, 4096, &line, &len,
			    mxk_deadline_in(5000), &e) != 1 ||
			    len != BIG_LINE)
				break;
			mxk_buf_consume(&in, len);
		}
		T_EQ_INT(got, BIG_LINES, "1 MB received");
		mxk_buf_free(&in);
	}

	/* A read timeout after the handshake is 4.4.2 like net's. */
	mxk_buf_init(&in, 64);
	r = mxk_conn_write_all(c, "SILENT\r\n", 8, mxk_deadline_in(5000), &e);
	r = mxk_conn_readline(c, &in, 64, &line, &len, mxk_deadline_in(200),
	    &e);
	T_EQ_INT(r, -1, "read timeout");
	T_EQ_STR(e.status, "4.4.2", "read timeout status");

	/* QUIT: "bye", then the server's close_notify is end of file. */
	r = mxk_conn_write_all(c, "QUIT\r\n", 6, mxk_deadline_in(5000), &e);
	r = mxk_conn_readline(c, &in, 64, &line, &len, mxk_deadline_in(5000),
	    &e);
	T_OK(r == 1 && len == 5 && memcmp(line, "bye\r\n", 5) == 0, "bye");
	mxk_buf_consume(&in, len);
	r = mxk_conn_readline(c, &in, 64, &line, &len, mxk_deadline_in(5000),
	    &e);
	T_EQ_INT(r, 0, "end of file after close_notify");
	mxk_buf_free(&in);
	client_done(&s, c);
	T_OK(s.hs_ok, "server side handshake");
	T_EQ_INT(s.have_sni, 1, "server saw SNI");
	T_EQ_STR(s.sni, "mx.example.test", "SNI without the trailing dot");
	T_EQ_INT(s.client_nchain, 0, "no client certificate");
}

/* One handshake, one verdict for name; returns it (or -1), why copied. */
static int
one_verdict(struct mxk_tls_server_ctx *ctx, const struct mxk_tls_params *p,
    const char *name, char *why, size_t whylen, struct mxk_err *e)
{
	struct mxk_conn		*c;
	struct mxk_tls		*t;
	struct srv		 s;
	enum mxk_tls_trust	 v;
	const char		*names[1] = { name };
	int			 r;

	if (client_run(&s, ctx, p, &c, &t, e) != 0) {
		client_done(&s, c);
		(void)snprintf(why, whylen, "handshake: %.400s", e->msg);
		return -2;
	}
	r = mxk_tls_verify_pkix(t, names, 1, 0, &v, why, whylen, e);
	client_done(&s, c);
	return r == 0 ? (int)v : -1;
}

static struct mxk_tls_server_ctx *
ctx_for(const char *cert, const char *key, const char *prio)
{
	struct mxk_tls_server_ctx	*x = NULL;
	struct mxk_err			 e;

	if (mxk_tls_server_ctx_new(path(cert), key != NULL ? path(key) : NULL,
	    prio, &x, &e) == -1)
		(void)fprintf(stderr, "server ctx %s: %s\n", cert, e.msg);
	return x;
}

static void
test_verdicts(struct mxk_tls_server_ctx *good_ctx)
{
	struct mxk_tls_server_ctx	*x;
	struct mxk_tls_params		 p;
	struct mxk_err			 e;
	char				 why[512];
	int				 r;

	params(&p, "mx.example.test", ca_file);
	if ((x = ctx_for("expired.pem", "expired.key", NULL)) != NULL) {
		r = one_verdict(x, &p, "mx.example.test", why, sizeof(why),
		    &e);
		T_EQ_INT(r, MXK_TLS_UNTRUSTED, "expired: untrusted");
		T_OK(strstr(why, "expired") != NULL, "expired why: %s", why);
		mxk_tls_server_ctx_free(x);
	} else
		T_OK(0, "expired ctx");
	if ((x = ctx_for("self.pem", "self.key", NULL)) != NULL) {
		r = one_verdict(x, &p, "mx.example.test", why, sizeof(why),
		    &e);
		T_EQ_INT(r, MXK_TLS_UNTRUSTED, "self-signed: untrusted");
		T_OK(why[0] != '\0', "self-signed why: %s", why);
		mxk_tls_server_ctx_free(x);
	} else
		T_OK(0, "self ctx");
	if ((x = ctx_for("cn.pem", "cn.key", NULL)) != NULL) {
		r = one_verdict(x, &p, "cn.example.test", why, sizeof(why),
		    &e);
		T_EQ_INT(r, MXK_TLS_VERIFIED, "CN-only: verified by CN");
		r = one_verdict(x, &p, "CN.example.test.", why, sizeof(why),
		    &e);
		T_EQ_INT(r, MXK_TLS_VERIFIED, "CN-only: case and dot");
		r = one_verdict(x, &p, "mx.example.test", why, sizeof(why),
		    &e);
		T_EQ_INT(r, MXK_TLS_TRUSTED, "CN-only: other name trusted");
		T_OK(strstr(why, "cn.example.test") != NULL, "CN why: %s",
		    why);
		mxk_tls_server_ctx_free(x);
	} else
		T_OK(0, "cn ctx");

	/* Trust store sources. */
	params(&p, "mx.example.test", path("nonexistent.pem"));
	r = one_verdict(good_ctx, &p, "mx.example.test", why, sizeof(why), &e);
	T_EQ_INT(r, -1, "missing CA file: no verdict");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "missing CA file is config");
	T_EQ_INT(e.sys_errno, ENOENT, "missing CA file errno");
	params(&p, "mx.example.test", path("empty.pem"));
	r = one_verdict(good_ctx, &p, "mx.example.test", why, sizeof(why), &e);
	T_EQ_INT(r, -1, "empty CA file: no verdict");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "empty CA file is config");
	params(&p, "mx.example.test", NULL);
	(void)setenv("SSL_CERT_FILE", path("ca.pem"), 1);
	r = one_verdict(good_ctx, &p, "mx.example.test", why, sizeof(why), &e);
	T_EQ_INT(r, MXK_TLS_VERIFIED, "CA from SSL_CERT_FILE");
	(void)unsetenv("SSL_CERT_FILE");
	/* The system store does not know the test CA (if there is one). */
	r = one_verdict(good_ctx, &p, "mx.example.test", why, sizeof(why), &e);
	T_OK(r == MXK_TLS_UNTRUSTED || (r == -1 &&
	    e.class == MXK_ERR_CONFIG), "system store: untrusted (%d %s)", r,
	    why);
}

static void
test_sni_and_versions(struct mxk_tls_server_ctx *good_ctx)
{
	static const struct {
		const char	*servername;
		int		 sent;
		const char	*want;
	} sni[] = {
		{ "mx.example.test", 1, "mx.example.test" },
		{ "127.0.0.1", 0, "" },
		{ "::1", 0, "" },
		{ "[::1]", 0, "" },
		{ "[127.0.0.1]", 0, "" },
		{ NULL, 0, "" },
		{ "", 0, "" },
		{ ".", 0, "" },
	};
	struct mxk_tls_server_ctx	*x;
	struct mxk_tls_params		 p;
	struct mxk_tls_peer		*peer;
	struct mxk_conn			*c;
	struct mxk_tls			*t;
	struct mxk_err			 e;
	struct srv			 s;
	char				 name[96];
	size_t				 i;
	int				 r;

	for (i = 0; i < NELEM(sni); i++) {
		(void)snprintf(name, sizeof(name), "SNI for \"%s\"",
		    sni[i].servername != NULL ? sni[i].servername : "(null)");
		params(&p, sni[i].servername, NULL);
		r = client_run(&s, good_ctx, &p, &c, &t, &e);
		T_EQ_INT(r, 0, name);
		client_done(&s, c);
		T_EQ_INT(s.have_sni, sni[i].sent, name);
		T_EQ_STR(s.sni, sni[i].want, name);
	}

	/* NULL params: defaults. */
	r = client_run(&s, good_ctx, NULL, &c, &t, &e);
	T_EQ_INT(r, 0, "NULL params");
	client_done(&s, c);

	/* TLS 1.2 when the client asks for it only. */
	params(&p, "mx.example.test", ca_file);
	p.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
	r = client_run(&s, good_ctx, &p, &c, &t, &e);
	T_EQ_INT(r, 0, "TLS 1.2 handshake");
	if (r == 0 && (peer = calloc(1, sizeof(*peer))) != NULL) {
		(void)mxk_tls_peer_info(t, peer, &e);
		T_EQ_STR(peer->protocol, "TLS1.2", "TLS 1.2 protocol");
		T_OK(peer->cipher[0] != '\0', "TLS 1.2 cipher: %s",
		    peer->cipher);
		free(peer);
		T_EQ_INT(verdict(t, "mx.example.test", NULL, 0),
		    MXK_TLS_VERIFIED, "TLS 1.2 verified");
	}
	client_done(&s, c);

	/* A server that speaks TLS 1.1 at most is refused by the default. */
	if ((x = ctx_for("good.pem", "good.key",
	    "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0")) != NULL) {
		params(&p, "mx.example.test", NULL);
		r = client_run(&s, x, &p, &c, &t, &e);
		T_EQ_INT(r, -1, "TLS 1.1 server refused");
		T_EQ_INT(e.class, MXK_ERR_TEMP, "TLS 1.1: temporary");
		T_EQ_STR(e.status, "4.7.0", "TLS 1.1: 4.7.0");
		T_EQ_INT(e.source, MXK_SRC_TLS, "TLS 1.1: source tls");
		T_OK(t == NULL, "TLS 1.1: no session");
		client_done(&s, c);
		T_OK(!s.hs_ok, "TLS 1.1: server failed too");
		mxk_tls_server_ctx_free(x);
	}

	/* Bad client priority string: config, before any traffic. */
	params(&p, "mx.example.test", NULL);
	p.priority = "NORMAL:+BOGUS";
	r = client_run(&s, good_ctx, &p, &c, &t, &e);
	T_EQ_INT(r, -1, "bad client priority");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "bad client priority config");
	client_done(&s, c);
}

static void
test_client_cert(void)
{
	struct mxk_tls_server_ctx	*x;
	struct mxk_tls_params		 p;
	struct mxk_conn			*c;
	struct mxk_tls			*t;
	struct mxk_err			 e;
	struct srv			 s;
	int				 r;

	if ((x = ctx_for("good.pem", "good.key", NULL)) == NULL) {
		T_OK(0, "client cert ctx");
		return;
	}
	mxk_tls_server_ctx_ask_cert(x, 1);
	params(&p, "mx.example.test", NULL);
	p.certfile = path("client.pem");
	p.keyfile = path("client.key");
	r = client_run(&s, x, &p, &c, &t, &e);
	T_EQ_INT(r, 0, "client certificate handshake");
	client_done(&s, c);
	T_EQ_INT(s.client_nchain, 1, "server got the client certificate");
	T_EQ_STR(s.client_subject, "CN=client.example.test",
	    "client certificate subject");

	/* Asked, none given: still fine (not required). */
	params(&p, "mx.example.test", NULL);
	r = client_run(&s, x, &p, &c, &t, &e);
	T_EQ_INT(r, 0, "asked, no client certificate");
	client_done(&s, c);
	T_EQ_INT(s.client_nchain, 0, "server got none");

	p.certfile = path("nonexistent.pem");
	p.keyfile = NULL;
	r = client_run(&s, x, &p, &c, &t, &e);
	T_EQ_INT(r, -1, "missing client certificate");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "missing client certificate config");
	client_done(&s, c);
	mxk_tls_server_ctx_free(x);
}

static int
copy_file(const char *from, const char *to)
{
	char	buf[8192];
	ssize_t	n;
	int	in, out, ok = 1;

	if ((in = open(path(from), O_RDONLY)) == -1)
		return -1;
	if ((out = open(path(to), O_WRONLY | O_TRUNC | O_CREAT, 0600)) == -1) {
		(void)close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			ok = 0;
	if (n < 0)
		ok = 0;
	(void)close(in);
	if (close(out) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* The file name under the test's directory into buf: its length, 0 if
 * it cannot be read or does not fit. */
static size_t
slurp(const char *name, char *buf, size_t max)
{
	size_t	len = 0;
	ssize_t	n;
	int	fd;

	if ((fd = open(path(name), O_RDONLY)) == -1)
		return 0;
	while (len < max && (n = read(fd, buf + len, max - len)) > 0)
		len += (size_t)n;
	(void)close(fd);
	return len < max ? len : 0;
}

static void
test_reload(void)
{
	struct mxk_tls_server_ctx	*x;
	struct mxk_tls_params		 p;
	struct mxk_conn			*c;
	struct mxk_tls			*t;
	struct mxk_err			 e;
	struct mxk_buf			 in;
	struct srv			 s;
	char				 why[256], *line;
	size_t				 len;
	int				 r;

	if ((x = ctx_for("reload.pem", "reload.key", NULL)) == NULL) {
		T_OK(0, "reload ctx");
		return;
	}
	params(&p, "mx.example.test", ca_file);
	r = client_run(&s, x, &p, &c, &t, &e);
	T_EQ_INT(r, 0, "reload: first handshake");
	if (r == 0)
		T_EQ_INT(verdict(t, "mx.example.test", why, sizeof(why)),
		    MXK_TLS_VERIFIED, "reload: first is verified");

	/* Swap the files for the self-signed pair; the live session goes on. */
	T_OK(copy_file("self.pem", "reload.pem") == 0 &&
	    copy_file("self.key", "reload.key") == 0, "swap files");
	T_EQ_INT(mxk_tls_server_ctx_reload(x, &e), 0, "reload");
	if (r == 0) {
		mxk_buf_init(&in, 64);
		r = mxk_conn_write_all(c, "after\r\n", 7,
		    mxk_deadline_in(5000), &e);
		r = mxk_conn_readline(c, &in, 64, &line, &len,
		    mxk_deadline_in(5000), &e);
		T_OK(r == 1 && len == 7, "old session works after reload");
		mxk_buf_free(&in);
	}
	client_done(&s, c);
	r = one_verdict(x, &p, "mx.example.test", why, sizeof(why), &e);
	T_EQ_INT(r, MXK_TLS_UNTRUSTED, "reload: new certificate in use");

	/* A broken key: reload fails, the loaded credentials stay. */
	T_OK(copy_file("junk.key", "reload.key") == 0, "break key");
	T_EQ_INT(mxk_tls_server_ctx_reload(x, &e), -1, "reload broken key");
	T_EQ_INT(e.class, MXK_ERR_CONFIG, "reload broken key config");
	r = one_verdict(x, &p, "mx.example.test", why, sizeof(why), &e);
	T_EQ_INT(r, MXK_TLS_UNTRUSTED, "reload: previous credentials kept");

	/* From memory (what smtpd-lite's reader hands over after -u): the
	 * CA-issued pair again, then a broken key that changes nothing. */
	{
		static char	cert[65536], key[65536];
		size_t		cl = slurp("good.pem", cert, sizeof(cert));
		size_t		kl = slurp("good.key", key, sizeof(key));

		T_OK(cl > 0 && kl > 0, "read good pair");
		T_EQ_INT(mxk_tls_server_ctx_reload_mem(x, cert, cl, key, kl,
		    &e), 0, "reload from memory");
		r = one_verdict(x, &p, "mx.example.test", why, sizeof(why),
		    &e);
		T_EQ_INT(r, MXK_TLS_VERIFIED, "reload from memory: in use");
		T_EQ_INT(mxk_tls_server_ctx_reload_mem(x, cert, cl, "junk",
		    4, &e), -1, "reload from memory: broken key");
		T_EQ_INT(e.class, MXK_ERR_CONFIG, "broken key: config");
		r = one_verdict(x, &p, "mx.example.test", why, sizeof(why),
		    &e);
		T_EQ_INT(r, MXK_TLS_VERIFIED, "reload from memory: kept");
	}
	mxk_tls_server_ctx_free(x);
}

/*
 * Handshake failures: a silent peer (timeout 4.4.2), a plaintext peer
 * and a peer that hangs up (4.7.0).
 */
static void
test_failures(void)
{
	static const struct {
		const char	*name;
		const char	*send;	/* first; NULL: none */
		int		 hangup;
		const char	*status;
	} cases[] = {
		{ "silent peer", NULL, 0, "4.4.2" },
		{ "plaintext peer", "220 mx.example.test ESMTP\r\n", 0,
		    "4.7.0" },
		{ "peer hangs up", NULL, 1, "4.7.0" },
	};
	struct mxk_tls_params	 p;
	struct mxk_conn		*c;
	struct mxk_tls		*t;
	struct mxk_err		 e;
	long long		 t0, ms;
	char			 name[96];
	size_t			 i;
	int			 sv[2], r;

	params(&p, "mx.example.test", NULL);
	for (i = 0; i < NELEM(cases); i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    sv) == -1) {
			T_OK(0, "socketpair");
			return;
		}
		if (cases[i].send != NULL)
			(void)write(sv[1], cases[i].send,
			    strlen(cases[i].send));
		if (cases[i].hangup) {
			(void)close(sv[1]);
			sv[1] = -1;
		}
		if ((c = mxk_conn_new_fd(sv[0])) == NULL) {
			T_OK(0, "conn");
			return;
		}
		t0 = mxk_now_ms();
		r = mxk_tls_client(c, &p, mxk_deadline_in(300), &t, &e);
		ms = mxk_now_ms() - t0;
		(void)snprintf(name, sizeof(name), "%s: fails", cases[i].name);
		T_EQ_INT(r, -1, name);
		(void)snprintf(name, sizeof(name), "%s: status", cases[i].name);
		T_EQ_STR(e.status, cases[i].status, name);
		(void)snprintf(name, sizeof(name), "%s: class", cases[i].name);
		T_EQ_INT(e.class, MXK_ERR_TEMP, name);
		T_EQ_INT(e.source, MXK_SRC_TLS, "source tls");
		T_OK(t == NULL, "%s: no session", cases[i].name);
		if (strcmp(cases[i].status, "4.4.2") == 0)
			T_OK(ms >= 250 && ms < 2000, "%s: %lld ms",
			    cases[i].name, ms);
		else
			T_OK(ms < 250, "%s: quick (%lld ms)", cases[i].name,
			    ms);
		T_OK(e.msg[0] != '\0', "%s: %s", cases[i].name, e.msg);
		mxk_conn_free(c);
		if (sv[1] != -1)
			(void)close(sv[1]);
	}

	/* The server side times out the same way. */
	{
		struct mxk_tls_server_ctx	*x;

		if ((x = ctx_for("good.pem", "good.key", NULL)) == NULL)
			return;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    sv) == -1 || (c = mxk_conn_new_fd(sv[0])) == NULL) {
			mxk_tls_server_ctx_free(x);
			return;
		}
		r = mxk_tls_server(c, x, mxk_deadline_in(300), &t, &e);
		T_EQ_INT(r, -1, "server: silent client");
		T_EQ_STR(e.status, "4.4.2", "server: timeout status");
		mxk_conn_free(c);
		(void)close(sv[1]);
		mxk_tls_server_ctx_free(x);
	}
}

int
main(void)
{
	struct mxk_tls_server_ctx	*good_ctx;
	long long			 t0 = mxk_now_ms();

	(void)signal(SIGPIPE, SIG_IGN);
	if (getenv("MXK_TEST_VERBOSE") != NULL)
		mxk_log_init_stderr("test_tls", 3);
	now0 = time(NULL);
	test_name_match();
	test_names_and_priorities();
	if (setup_certs() == -1) {
		T_OK(0, "make certificates in %s", dir);
		cleanup();
		return t_done("tls");
	}
	test_server_ctx_errors();
	if ((good_ctx = ctx_for("good.pem", "good.key", NULL)) != NULL) {
		test_good(good_ctx);
		test_verdicts(good_ctx);
		test_sni_and_versions(good_ctx);
		mxk_tls_server_ctx_free(good_ctx);
	} else
		T_OK(0, "good server ctx");
	test_client_cert();
	test_reload();
	test_failures();
	cleanup();
	T_OK(mxk_now_ms() - t0 < 20000, "whole suite under 20 s (%lld ms)",
	    mxk_now_ms() - t0);
	return t_done("tls");
}
