/* ISC license. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "smtpc.h"

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <sys/types.h>

#include "clock.h"
#include "msg.h"

#define READ_CHUNK	4096

static int
keyword(const char *line, size_t len, const char *kw, const char **arg)
{
	size_t	n = strlen(kw);

	if (len < n || strncasecmp(line, kw, n) != 0)
		return 0;
	if (len == n) {
		*arg = line + n;
		return 1;
	}
	if (line[n] != ' ' && line[n] != '=')
		return 0;
	*arg = line + n + 1;
	return 1;
}

void
mxk_ehlo_parse(const struct mxk_reply *r, struct mxk_ehlo *c)
{
	const char	*p = r->text, *nl, *arg;
	size_t		 len, i;
	int		 first = 1;

	memset(c, 0, sizeof(*c));
	c->esmtp = r->code == 250;
	for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		len = (size_t)(nl - p);
		if (first) {
			first = 0;
			i = strcspn(p, " \n");
			if (i >= sizeof(c->name))
				i = sizeof(c->name) - 1;
			memcpy(c->name, p, i);
			c->name[i] = '\0';
			continue;
		}
		if (keyword(p, len, "STARTTLS", &arg))
			c->starttls = 1;
		else if (keyword(p, len, "PIPELINING", &arg))
			c->pipelining = 1;
		else if (keyword(p, len, "CHUNKING", &arg))
			c->chunking = 1;
		else if (keyword(p, len, "BINARYMIME", &arg))
			c->binarymime = 1;
		else if (keyword(p, len, "8BITMIME", &arg))
			c->eightbitmime = 1;
		else if (keyword(p, len, "SMTPUTF8", &arg))
			c->smtputf8 = 1;
		else if (keyword(p, len, "DSN", &arg))
			c->dsn = 1;
		else if (keyword(p, len, "ENHANCEDSTATUSCODES", &arg))
			c->enhancedstatus = 1;
		else if (keyword(p, len, "SIZE", &arg)) {
			char	num[32], *end;
			size_t	n = (size_t)(nl - arg);

			c->size = 1;
			if (n > 0 && n < sizeof(num)) {
				memcpy(num, arg, n);
				num[n] = '\0';
				c->size_max = strtoull(num, &end, 10);
				if (*end != '\0' || num[0] == '-')
					c->size_max = 0;
			}
		} else if (keyword(p, len, "AUTH", &arg)) {
			size_t n = (size_t)(nl - arg), have = strlen(c->auth);

			/* "AUTH=LOGIN" (old) and "AUTH LOGIN PLAIN" both. */
			if (have > 0 && have + 1 < sizeof(c->auth))
				c->auth[have++] = ' ';
			for (i = 0; i < n && have + 1 < sizeof(c->auth); i++) {
				char ch = arg[i];

				if (ch >= 'a' && ch <= 'z')
					ch = (char)(ch - 'a' + 'A');
				c->auth[have++] = ch;
			}
			c->auth[have] = '\0';
		}
	}
}

int
mxk_ehlo_has_auth(const struct mxk_ehlo *c, const char *mech)
{
	const char	*p = c->auth;
	size_t		 n = strlen(mech), w;

	while (*p != '\0') {
		w = strcspn(p, " ");
		if (w == n && strncasecmp(p, mech, n) == 0)
			return 1;
		p += w;
		while (*p == ' ')
			p++;
	}
	return 0;
}

void
mxk_smtpc_io_init(struct mxk_smtpc_io *io, struct mxk_conn *conn,
    const struct mxk_reply_params *rp)
{
	memset(io, 0, sizeof(*io));
	io->conn = conn;
	if (rp != NULL)
		io->rp = *rp;
	mxk_buf_init(&io->in, io->rp.max > 0 ? 2 * io->rp.max : 128 * 1024);
}

void
mxk_smtpc_io_free(struct mxk_smtpc_io *io)
{
	mxk_buf_free(&io->in);
}

static void
log_reply_lines(struct mxk_smtpc_io *io, const char *p, size_t len)
{
	const char	*lf;
	size_t		 n;

	if (!mxk_log_enabled(MXK_LOG_INFO))
		return;
	while (len > 0) {
		lf = memchr(p, '\n', len);
		n = lf != NULL ? (size_t)(lf - p) + 1 : len;
		mxk_log_proto(&io->ts, MXK_PROTO_SERVER, p, n, NULL, 0);
		p += n;
		len -= n;
	}
}

int
mxk_smtpc_read(struct mxk_smtpc_io *io, struct mxk_reply *r,
    long long deadline, struct mxk_err *e)
{
	size_t	 used;
	ssize_t	 n;
	char	*space;
	int	 got;

	for (;;) {
		got = mxk_reply_parse(io->in.p != NULL ? io->in.p : "",
		    io->in.len, &io->rp, r, &used, e);
		if (got == 1) {
			log_reply_lines(io, io->in.p, used);
			mxk_buf_consume(&io->in, used);
			return 1;
		}
		if (got == -1)
			return -1;
		if ((space = mxk_buf_space(&io->in, READ_CHUNK)) == NULL)
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP,
			    "5.5.0", "reply too long");
		n = mxk_conn_read(io->conn, space, READ_CHUNK, deadline, e);
		if (n < 0)
			return -1;
		if (n == 0)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET,
			    "4.4.2", "connection closed by the server");
		mxk_buf_commit(&io->in, (size_t)n);
	}
}

int
mxk_smtpc_send(struct mxk_smtpc_io *io, const char *line, long long deadline,
    struct mxk_err *e)
{
	char	buf[2048];
	size_t	n = strlen(line);

	/* Never build a command from data holding CR or LF. */
	if (strpbrk(line, "\r\n") != NULL)
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "refusing to send a command containing CR or LF");
	if (n + 2 > sizeof(buf))
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "command longer than %zu octets", sizeof(buf) - 2);
	memcpy(buf, line, n);
	buf[n++] = '\r';
	buf[n++] = '\n';
	mxk_log_proto(&io->ts, MXK_PROTO_CLIENT, buf, n, NULL, 0);
	return mxk_conn_write_all(io->conn, buf, n, deadline, e);
}

int
mxk_smtpc_cmd(struct mxk_smtpc_io *io, const char *line, struct mxk_reply *r,
    long long deadline, struct mxk_err *e)
{
	if (mxk_smtpc_send(io, line, deadline, e) == -1)
		return -1;
	return mxk_smtpc_read(io, r, deadline, e);
}

int
mxk_smtpc_ehlo(struct mxk_smtpc_io *io, const char *name,
    struct mxk_ehlo *caps, struct mxk_reply *r, long long deadline,
    struct mxk_err *e)
{
	char	line[512], first[256];

	if (snprintf(line, sizeof(line), "%s %s", io->lmtp ? "LHLO" : "EHLO",
	    name) >= (int)sizeof(line))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "EHLO name too long");
	if (mxk_smtpc_cmd(io, line, r, deadline, e) == -1)
		return -1;
	if (r->code == 250) {
		mxk_ehlo_parse(r, caps);
		return 1;
	}
	if (r->code / 100 == 5 && !io->lmtp) {
		/* RFC 5321 §3.2: an old server; try HELO. */
		(void)snprintf(line, sizeof(line), "HELO %s", name);
		if (mxk_smtpc_cmd(io, line, r, deadline, e) == -1)
			return -1;
		if (r->code == 250) {
			memset(caps, 0, sizeof(*caps));
			return 1;
		}
	}
	(void)mxk_err_smtp(e, r->code, r->status, MXK_ERR_PERM,
	    mxk_reply_first_line(r, first, sizeof(first)));
	mxk_err_prefix(e, "EHLO refused: %d %s", r->code, r->status);
	return -1;
}

int
mxk_smtpc_drop_plaintext(struct mxk_smtpc_io *io)
{
	if (io->in.len == 0)
		return 0;
	mxk_log(MXK_LOG_WARN, "discarding %zu octets the server sent before "
	    "the TLS handshake", io->in.len);
	mxk_buf_reset(&io->in);
	return 1;
}

/*
 * AUTH.
 */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of in[0..len) into out (NUL-terminated); -1 if it does not fit. */
static int
b64_encode(const unsigned char *in, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;

	if ((len + 2) / 3 * 4 + 1 > outlen)
		return -1;
	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = b64chars[in[i] >> 2];
		out[o++] = b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = b64chars[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = b64chars[in[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = b64chars[in[i] >> 2];
		if (i + 1 < len) {
			out[o++] = b64chars[((in[i] & 3) << 4) |
			    (in[i + 1] >> 4)];
			out[o++] = b64chars[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = b64chars[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
	return 0;
}

/* Decode base64 (whitespace not allowed); length or -1. */
static ssize_t
b64_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
	size_t		 i, o = 0;
	unsigned	 acc = 0;
	int		 bits = 0;
	const char	*p;

	for (i = 0; i < len; i++) {
		if (in[i] == '=')
			break;
		if ((p = strchr(b64chars, in[i])) == NULL || in[i] == '\0')
			return -1;
		acc = (acc << 6) | (unsigned)(p - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (ssize_t)o;
}

static int
auth_result(const struct mxk_reply *r, const char *mech, struct mxk_err *e)
{
	char	first[256];

	if (r->code == 235)
		return 0;
	(void)mxk_reply_first_line(r, first, sizeof(first));
	if (r->code / 100 == 4)
		return mxk_err_smtp(e, r->code, r->status, MXK_ERR_TEMP, first);
	(void)mxk_err_smtp(e, r->code, r->status, MXK_ERR_AUTH, first);
	e->class = MXK_ERR_AUTH;
	mxk_err_prefix(e, "AUTH %s refused: %d %s", mech, r->code, r->status);
	return -1;
}

/* Send a base64 line (a continuation), wiping the stack copy. */
static int
auth_send(struct mxk_smtpc_io *io, const unsigned char *data, size_t len,
    struct mxk_reply *r, long long deadline, struct mxk_err *e)
{
	char	line[1400];
	int	rc;

	if (b64_encode(data, len, line, sizeof(line)) == -1)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "AUTH: credentials too long");
	rc = mxk_smtpc_cmd(io, line, r, deadline, e);
	explicit_bzero(line, sizeof(line));
	return rc == -1 ? -1 : 0;
}

int
mxk_smtpc_auth(struct mxk_smtpc_io *io, const struct mxk_ehlo *caps,
    const char *mech, const char *user, const char *secret,
    long long deadline, struct mxk_err *e)
{
	static const char *const pref[] = { "CRAM-MD5", "PLAIN", "LOGIN" };
	struct mxk_reply	 r;
	unsigned char		 raw[1024], chal[512], dig[16];
	char			 line[1500], hex[33];
	size_t			 ul = strlen(user), sl = strlen(secret), i;
	ssize_t			 cl;
	int			 rc = -1;

	if (mech == NULL) {
		for (i = 0; i < sizeof(pref) / sizeof(pref[0]); i++)
			if (mxk_ehlo_has_auth(caps, pref[i])) {
				mech = pref[i];
				break;
			}
		if (mech == NULL)
			return mxk_err_set(e, MXK_ERR_AUTH, MXK_SRC_SMTP,
			    "5.7.4", "the server offers no AUTH mechanism we "
			    "know (offered: %s)", caps->auth[0] != '\0' ?
			    caps->auth : "none");
	} else if (!mxk_ehlo_has_auth(caps, mech))
		return mxk_err_set(e, MXK_ERR_AUTH, MXK_SRC_SMTP, "5.7.4",
		    "the server does not offer AUTH %s (offered: %s)", mech,
		    caps->auth[0] != '\0' ? caps->auth : "none");
	if (ul + sl + 64 > sizeof(raw))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "AUTH: user name or secret too long");

	if (strcasecmp(mech, "PLAIN") == 0) {
		/* RFC 4616: authzid NUL authcid NUL passwd. */
		raw[0] = '\0';
		memcpy(raw + 1, user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, secret, sl);
		(void)memcpy(line, "AUTH PLAIN ", 11);
		if (b64_encode(raw, ul + sl + 2, line + 11,
		    sizeof(line) - 11) == -1)
			goto toolong;
		if (mxk_smtpc_cmd(io, line, &r, deadline, e) == -1)
			goto out;
		rc = auth_result(&r, "PLAIN", e);
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		if (mxk_smtpc_cmd(io, "AUTH LOGIN", &r, deadline, e) == -1)
			goto out;
		if (r.code == 334 && auth_send(io, (const unsigned char *)user,
		    ul, &r, deadline, e) == -1)
			goto out;
		if (r.code == 334 && auth_send(io, (const unsigned char *)
		    secret, sl, &r, deadline, e) == -1)
			goto out;
		rc = auth_result(&r, "LOGIN", e);
	} else if (strcasecmp(mech, "CRAM-MD5") == 0) {
		if (mxk_smtpc_cmd(io, "AUTH CRAM-MD5", &r, deadline, e) == -1)
			goto out;
		if (r.code != 334) {
			rc = auth_result(&r, "CRAM-MD5", e);
			goto out;
		}
		if ((cl = b64_decode(r.text, strcspn(r.text, "\n"), chal,
		    sizeof(chal))) == -1) {
			(void)mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP,
			    "5.5.2", "AUTH CRAM-MD5: malformed challenge");
			(void)mxk_smtpc_cmd(io, "*", &r, deadline, e);
			goto out;
		}
		/* RFC 2195: user SP hex(HMAC-MD5(secret, challenge)). */
		if (gnutls_hmac_fast(GNUTLS_MAC_MD5, secret, sl, chal,
		    (size_t)cl, dig) < 0) {
			(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_TLS,
			    NULL, "HMAC-MD5 unavailable");
			goto out;
		}
		for (i = 0; i < 16; i++)
			(void)snprintf(hex + 2 * i, 3, "%02x", dig[i]);
		memcpy(raw, user, ul);
		raw[ul] = ' ';
		memcpy(raw + ul + 1, hex, 32);
		if (auth_send(io, raw, ul + 33, &r, deadline, e) == -1)
			goto out;
		rc = auth_result(&r, "CRAM-MD5", e);
	} else if (strcasecmp(mech, "XOAUTH2") == 0) {
		int n = snprintf((char *)raw, sizeof(raw),
		    "user=%s\001auth=Bearer %s\001\001", user, secret);

		if (n < 0 || (size_t)n >= sizeof(raw))
			goto toolong;
		(void)memcpy(line, "AUTH XOAUTH2 ", 13);
		if (b64_encode(raw, (size_t)n, line + 13,
		    sizeof(line) - 13) == -1)
			goto toolong;
		if (mxk_smtpc_cmd(io, line, &r, deadline, e) == -1)
			goto out;
		/* A 334 carries an error (JSON); an empty line ends it. */
		if (r.code == 334 && mxk_smtpc_cmd(io, "", &r, deadline,
		    e) == -1)
			goto out;
		rc = auth_result(&r, "XOAUTH2", e);
	} else
		rc = mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "unknown AUTH mechanism %s", mech);
	goto out;
toolong:
	rc = mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
	    "AUTH: user name or secret too long");
out:
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(line, sizeof(line));
	explicit_bzero(dig, sizeof(dig));
	explicit_bzero(hex, sizeof(hex));
	return rc;
}

/*
 * The transaction.
 */

int
mxk_smtpc_xtext(const char *s, char *out, size_t outlen)
{
	size_t	o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 33 || c > 126 || c == '+' || c == '=') {
			if (o + 4 > outlen)
				return -1;
			(void)snprintf(out + o, 4, "+%02X", c);
			o += 3;
		} else {
			if (o + 2 > outlen)
				return -1;
			out[o++] = (char)c;
		}
	}
	if (o + 1 > outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

static long long
tmo(int ms, int def, long long deadline)
{
	long long d = mxk_deadline_in(ms > 0 ? ms : def);

	return d < deadline ? d : deadline;
}

static void
rcpt_set(struct mxk_smtpc_rcpt *rc, const struct mxk_reply *r)
{
	rc->code = r->code;
	(void)snprintf(rc->status, sizeof(rc->status), "%s", r->status);
	(void)mxk_reply_first_line(r, rc->text, sizeof(rc->text));
	rc->state = r->code / 100 == 2 ? MXK_RCPT_SENT : r->code / 100 == 4 ?
	    MXK_RCPT_DEFERRED : MXK_RCPT_BOUNCED;
	/*
	 * A 3xx where MAIL, RCPT or the end of data expect 2xx, 4xx or
	 * 5xx is a protocol error; it bounces, as any non-4xx failure does
	 * (Postfix: SMTP_SOFT() is 4xx only), but with 5.5.0 rather than
	 * the "2.0.0" lib/reply gives a 3xx (found by fuzz_smtpc:
	 * tests/fuzz/regress/smtpc/mail-334).
	 */
	if (r->code / 100 == 3)
		(void)snprintf(rc->status, sizeof(rc->status), "5.5.0");
}

static void
rcpt_local(struct mxk_smtpc_rcpt *rc, int code, const char *status,
    const char *text)
{
	rc->code = code;
	(void)snprintf(rc->status, sizeof(rc->status), "%s", status);
	(void)snprintf(rc->text, sizeof(rc->text), "%s", text);
	rc->state = code / 100 == 4 ? MXK_RCPT_DEFERRED : MXK_RCPT_BOUNCED;
}

/* Every recipient still pending gets the outcome of reply r. */
static void
rcpt_all(struct mxk_smtpc_rcpt *rc, size_t n, const struct mxk_reply *r,
    int accepted_only)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (rc[i].state == MXK_RCPT_PENDING &&
		    (!accepted_only || rc[i].accepted))
			rcpt_set(&rc[i], r);
}

static int
build_mail(const struct mxk_ehlo *caps, const struct mxk_smtpc_txn *t,
    char *line, size_t len, struct mxk_err *e)
{
	char	xt[400];
	int	n;

	n = snprintf(line, len, "MAIL FROM:<%s>", t->from);
	if (caps->size && n >= 0 && (size_t)n < len)
		n += snprintf(line + n, len - (size_t)n, " SIZE=%llu",
		    mxk_msg_size(t->msg));
	if (caps->eightbitmime && mxk_msg_8bit(t->msg) && n >= 0 &&
	    (size_t)n < len)
		n += snprintf(line + n, len - (size_t)n, " BODY=8BITMIME");
	if (t->smtputf8 && n >= 0 && (size_t)n < len)
		n += snprintf(line + n, len - (size_t)n, " SMTPUTF8");
	if (caps->dsn && t->dsn_ret != NULL && n >= 0 && (size_t)n < len)
		n += snprintf(line + n, len - (size_t)n, " RET=%s",
		    t->dsn_ret);
	if (caps->dsn && t->dsn_envid != NULL && n >= 0 && (size_t)n < len) {
		if (mxk_smtpc_xtext(t->dsn_envid, xt, sizeof(xt)) == -1)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "DSN ENVID too long");
		n += snprintf(line + n, len - (size_t)n, " ENVID=%s", xt);
	}
	if (n < 0 || (size_t)n >= len)
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "MAIL command too long");
	return 0;
}

static int
build_rcpt(const struct mxk_ehlo *caps, const struct mxk_smtpc_txn *t,
    const struct mxk_smtpc_rcpt *rc, char *line, size_t len,
    struct mxk_err *e)
{
	char	xt[800];
	int	n;

	n = snprintf(line, len, "RCPT TO:<%s>", rc->addr);
	if (caps->dsn && t->dsn_notify != NULL && n >= 0 && (size_t)n < len)
		n += snprintf(line + n, len - (size_t)n, " NOTIFY=%s",
		    t->dsn_notify);
	if (caps->dsn && rc->orcpt != NULL && n >= 0 && (size_t)n < len) {
		if (mxk_smtpc_xtext(rc->orcpt, xt, sizeof(xt)) == -1)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "DSN ORCPT too long");
		n += snprintf(line + n, len - (size_t)n, " ORCPT=rfc822;%s",
		    xt);
	}
	if (n < 0 || (size_t)n >= len)
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "RCPT command too long");
	return 0;
}

/* Append "line\r\n" to b, refusing CR/LF inside and logging it. */
static int
queue_cmd(struct mxk_smtpc_io *io, struct mxk_buf *b, const char *line,
    struct mxk_err *e)
{
	if (strpbrk(line, "\r\n") != NULL)
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "refusing to send a command containing CR or LF");
	mxk_log_proto(&io->ts, MXK_PROTO_CLIENT, line, strlen(line), NULL, 0);
	if (mxk_buf_addstr(b, line) == -1 || mxk_buf_add(b, "\r\n", 2) == -1)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "pipelined commands too long");
	return 0;
}

/* Read the replies after the message: one, or one per accepted rcpt. */
static int
final_replies(struct mxk_smtpc_io *io, struct mxk_smtpc_txn *t,
    struct mxk_smtpc_rcpt *rc, size_t n, long long dl, struct mxk_err *e)
{
	struct mxk_reply	r;
	size_t			i;

	if (!t->lmtp) {
		if (mxk_smtpc_read(io, &r, dl, e) == -1)
			return -1;
		if (r.code / 100 != 2) {
			t->refused = 1;
			t->last = r;
		}
		rcpt_all(rc, n, &r, 1);
		return 0;
	}
	/* RFC 2033 §4.2: one reply per accepted RCPT, in order. */
	for (i = 0; i < n; i++) {
		if (!rc[i].accepted || rc[i].state != MXK_RCPT_PENDING)
			continue;
		if (mxk_smtpc_read(io, &r, dl, e) == -1)
			return -1;
		rcpt_set(&rc[i], &r);
	}
	return 0;
}

static int
send_data(struct mxk_smtpc_io *io, struct mxk_smtpc_txn *t,
    struct mxk_smtpc_rcpt *rcp, size_t n, long long deadline,
    struct mxk_err *e)
{
	enum { IN = 64 * 1024 };
	char		*in, *out;
	ssize_t		 got;
	size_t		 o;
	int		 bol = 1, last_lf = 1, rc = -1;

	if (mxk_msg_rewind(t->msg, e) == -1)
		return -1;
	if ((in = malloc(3 * IN + 8)) == NULL)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	out = in + IN;
	for (;;) {
		if ((got = mxk_msg_read_chunk(t->msg, in, IN, e)) < 0)
			goto out;
		o = mxk_msg_dotstuff(in, (size_t)got, out, &bol);
		if (got > 0)
			last_lf = in[got - 1] == '\n';
		if (got == 0) {
			/* The message always ends with CRLF (lib/msg); the
			 * end marker goes out with the last block. */
			if (!last_lf) {
				out[o++] = '\r';
				out[o++] = '\n';
			}
			memcpy(out + o, ".\r\n", 3);
			o += 3;
		}
		if (mxk_conn_write_all(io->conn, out, o, tmo(t->block_timeout_ms,
		    180000, deadline), e) == -1)
			goto out;
		if (got == 0)
			break;
	}
	mxk_log(MXK_LOG_INFO, ">>> (%llu octets of message) .",
	    mxk_msg_size(t->msg));
	rc = final_replies(io, t, rcp, n, tmo(t->final_timeout_ms, 600000,
	    deadline), e);
out:
	free(in);
	return rc;
}

static int
send_bdat(struct mxk_smtpc_io *io, struct mxk_smtpc_txn *t,
    struct mxk_smtpc_rcpt *rc, size_t n, long long deadline,
    struct mxk_err *e)
{
	unsigned long long	 left = mxk_msg_size(t->msg);
	size_t			 chunk = t->chunk > 0 ? t->chunk : 1 << 20;
	size_t			 have, hl;
	struct mxk_reply	 r;
	char			*buf, hdr[64];
	ssize_t			 got;
	int			 rcv = 0;

	if (mxk_msg_rewind(t->msg, e) == -1)
		return -1;
	if ((buf = malloc(chunk + sizeof(hdr))) == NULL)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	t->used_bdat = 1;
	do {
		have = 0;
		while (have < chunk && (unsigned long long)have < left) {
			got = mxk_msg_read_chunk(t->msg, buf + sizeof(hdr) +
			    have, chunk - have, e);
			if (got < 0)
				goto fail;
			if (got == 0)
				break;
			have += (size_t)got;
		}
		if ((unsigned long long)have > left)
			have = (size_t)left;
		if (have == 0 && left > 0) {
			/* A "BDAT 0" that is not LAST would repeat forever. */
			(void)mxk_err_set(e, MXK_ERR_IO, MXK_SRC_LOCAL, NULL,
			    "the message ended %llu octets before its size",
			    left);
			goto fail;
		}
		left -= have;
		hl = (size_t)snprintf(hdr, sizeof(hdr), "BDAT %zu%s", have,
		    left == 0 ? " LAST" : "");
		mxk_log_proto(&io->ts, MXK_PROTO_CLIENT, hdr, hl, NULL, 0);
		memcpy(hdr + hl, "\r\n", 2);
		hl += 2;
		/* The command and its chunk in one write. */
		memcpy(buf + sizeof(hdr) - hl, hdr, hl);
		if (mxk_conn_write_all(io->conn, buf + sizeof(hdr) - hl,
		    hl + have, tmo(t->block_timeout_ms, 180000, deadline),
		    e) == -1)
			goto fail;
		if (left == 0)
			break;
		if (mxk_smtpc_read(io, &r, tmo(t->block_timeout_ms, 180000,
		    deadline), e) == -1)
			goto fail;
		if (r.code / 100 != 2) {
			/* RFC 3030 §4.2: the transaction is over. */
			t->refused = 1;
			t->last = r;
			rcpt_all(rc, n, &r, 1);
			rcv = 1;
			break;
		}
	} while (left > 0);
	free(buf);
	if (rcv)
		return 0;
	return final_replies(io, t, rc, n, tmo(t->final_timeout_ms, 600000,
	    deadline), e);
fail:
	free(buf);
	return -1;
}

int
mxk_smtpc_transaction(struct mxk_smtpc_io *io, const struct mxk_ehlo *caps,
    struct mxk_smtpc_txn *t, struct mxk_smtpc_rcpt *rc, size_t n,
    long long deadline, struct mxk_err *e)
{
	struct mxk_reply	 r;
	struct mxk_buf		 b;
	char			 line[1200], txt[160];
	size_t			 i, naccepted = 0;
	int			 pipe, bdat, data_sent = 0;

	t->refused = t->used_bdat = t->used_pipelining = 0;
	memset(&t->last, 0, sizeof(t->last));
	for (i = 0; i < n; i++) {
		rc[i].state = MXK_RCPT_PENDING;
		rc[i].accepted = 0;
	}
	/* Refused here, before MAIL: nothing the server would take. */
	if (caps->size && caps->size_max > 0 &&
	    mxk_msg_size(t->msg) > caps->size_max) {
		(void)snprintf(txt, sizeof(txt), "message size %llu exceeds "
		    "the server's limit %llu (RFC 1870)",
		    mxk_msg_size(t->msg), caps->size_max);
		for (i = 0; i < n; i++)
			rcpt_local(&rc[i], 552, "5.3.4", txt);
		t->refused = 1;
		return 0;
	}
	if (t->smtputf8 && !caps->smtputf8) {
		for (i = 0; i < n; i++)
			rcpt_local(&rc[i], 553, "5.6.7", "the server does not "
			    "offer SMTPUTF8, needed for non-ASCII addresses "
			    "(RFC 6531)");
		t->refused = 1;
		return 0;
	}
	bdat = caps->chunking && !t->no_chunking;
	pipe = caps->pipelining && !t->no_pipelining;
	t->used_pipelining = pipe;

	if (build_mail(caps, t, line, sizeof(line), e) == -1)
		return -1;
	if (t->rset && !pipe && mxk_smtpc_rset(io, tmo(t->mail_timeout_ms,
	    300000, deadline), e) == -1)
		return -1;
	if (pipe) {
		/* RFC 2920 §3.1: (RSET,) MAIL, RCPTs and DATA as one group. */
		mxk_buf_init(&b, 4 * 1024 * 1024);
		if (t->rset && queue_cmd(io, &b, "RSET", e) == -1)
			goto pfail;
		if (queue_cmd(io, &b, line, e) == -1)
			goto pfail;
		for (i = 0; i < n; i++)
			if (build_rcpt(caps, t, &rc[i], line, sizeof(line),
			    e) == -1 || queue_cmd(io, &b, line, e) == -1)
				goto pfail;
		if (!bdat && queue_cmd(io, &b, "DATA", e) == -1)
			goto pfail;
		if (mxk_conn_write_all(io->conn, b.p, b.len, tmo(
		    t->mail_timeout_ms, 300000, deadline), e) == -1)
			goto pfail;
		mxk_buf_free(&b);
		data_sent = !bdat;
		if (t->rset) {
			if (mxk_smtpc_read(io, &r, tmo(t->mail_timeout_ms,
			    300000, deadline), e) == -1)
				return -1;
			if (r.code / 100 != 2) {
				(void)mxk_err_smtp(e, r.code, r.status,
				    MXK_ERR_PROTO, "RSET refused");
				e->class = MXK_ERR_PROTO;
				return -1;
			}
		}
		if (mxk_smtpc_read(io, &r, tmo(t->mail_timeout_ms, 300000,
		    deadline), e) == -1)
			return -1;
	} else if (mxk_smtpc_cmd(io, line, &r, tmo(t->mail_timeout_ms,
	    300000, deadline), e) == -1)
		return -1;
	if (r.code / 100 != 2) {
		t->refused = 1;
		t->last = r;
		rcpt_all(rc, n, &r, 0);
		if (pipe) {
			/* Read (and drop) the replies to what followed. */
			for (i = 0; i < n + (size_t)data_sent; i++)
				if (mxk_smtpc_read(io, &r, tmo(
				    t->rcpt_timeout_ms, 300000, deadline),
				    e) == -1)
					return -1;
		}
		return 0;
	}

	for (i = 0; i < n; i++) {
		if (pipe) {
			if (mxk_smtpc_read(io, &r, tmo(t->rcpt_timeout_ms,
			    300000, deadline), e) == -1)
				return -1;
		} else {
			if (build_rcpt(caps, t, &rc[i], line, sizeof(line),
			    e) == -1)
				return -1;
			if (mxk_smtpc_cmd(io, line, &r, tmo(t->rcpt_timeout_ms,
			    300000, deadline), e) == -1)
				return -1;
		}
		if (r.code / 100 == 2) {
			rc[i].accepted = 1;
			naccepted++;
		} else
			rcpt_set(&rc[i], &r);
	}

	if (bdat) {
		if (naccepted == 0)
			return 0;
		return send_bdat(io, t, rc, n, deadline, e);
	}
	if (data_sent) {
		if (mxk_smtpc_read(io, &r, tmo(t->data_timeout_ms, 120000,
		    deadline), e) == -1)
			return -1;
		if (r.code == 354 && naccepted == 0) {
			/* RFC 2920 §3.1: no recipient, so an empty message
			 * that the server must refuse. */
			if (mxk_smtpc_cmd(io, ".", &r, tmo(t->final_timeout_ms,
			    600000, deadline), e) == -1)
				return -1;
			return 0;
		}
	} else {
		if (naccepted == 0)
			return 0;
		if (mxk_smtpc_cmd(io, "DATA", &r, tmo(t->data_timeout_ms,
		    120000, deadline), e) == -1)
			return -1;
	}
	if (naccepted == 0)
		return 0;
	if (r.code != 354) {
		t->refused = 1;
		t->last = r;
		rcpt_all(rc, n, &r, 1);
		return 0;
	}
	return send_data(io, t, rc, n, deadline, e);
pfail:
	mxk_buf_free(&b);
	return -1;
}

int
mxk_smtpc_rset(struct mxk_smtpc_io *io, long long deadline, struct mxk_err *e)
{
	struct mxk_reply	r;
	char			first[256];

	if (mxk_smtpc_cmd(io, "RSET", &r, deadline, e) == -1)
		return -1;
	if (r.code / 100 == 2)
		return 0;
	(void)mxk_err_smtp(e, r.code, r.status, MXK_ERR_PROTO,
	    mxk_reply_first_line(&r, first, sizeof(first)));
	mxk_err_prefix(e, "RSET refused");
	return -1;
}
