/* ISC license. */

#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "b64.h"
#include "buf.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "net.h"
#include "reply.h"
#include "smtpc.h"

#define READ_CHUNK	4096

/*
 * EHLO capabilities.
 */

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

/*
 * Pure helpers: xtext and the MAIL and RCPT commands (base64 is lib/b64).
 */

/*
 * xtext (RFC 3461 §4: "+XX") or, uni, utf-8-addr-unitext (RFC 6533 §3:
 * "\x{XX}", UTF-8 kept) of s into out; -1 when it does not fit.
 */
static int
encode(const char *s, char *out, size_t outlen, int uni)
{
	size_t	o = 0, w = uni ? 6 : 3;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 33 || c == 127 || (c > 127 && !uni) || c == '+' ||
		    c == '=' || (uni && c == '\\')) {
			if (o + w + 1 > outlen)
				return -1;
			(void)snprintf(out + o, w + 1, uni ? "\\x{%02X}" :
			    "+%02X", c);
			o += w;
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

int
mxk_smtpc_xtext(const char *s, char *out, size_t outlen)
{
	return encode(s, out, outlen, 0);
}

int
mxk_smtpc_unitext(const char *s, char *out, size_t outlen)
{
	return encode(s, out, outlen, 1);
}

static int
ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 127)
			return 0;
	return 1;
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
	if (mxk_msg_nul(t->msg) && n >= 0 && (size_t)n < len)
		n += snprintf(line + n, len - (size_t)n, " BODY=BINARYMIME");
	else if (caps->eightbitmime && mxk_msg_8bit(t->msg) && n >= 0 &&
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
		/* RFC 6533 §3: a non-ASCII address is of type utf-8, in
		 * the unitext form (it goes only with SMTPUTF8). */
		int	u = !ascii(rc->orcpt);

		if ((u ? mxk_smtpc_unitext(rc->orcpt, xt, sizeof(xt)) :
		    mxk_smtpc_xtext(rc->orcpt, xt, sizeof(xt))) == -1)
			return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL,
			    NULL, "DSN ORCPT too long");
		n += snprintf(line + n, len - (size_t)n, " ORCPT=%s;%s",
		    u ? "utf-8" : "rfc822", xt);
	}
	if (n < 0 || (size_t)n >= len)
		return mxk_err_set(e, MXK_ERR_DATA, MXK_SRC_LOCAL, "5.5.2",
		    "RCPT command too long");
	return 0;
}

/*
 * The engine.
 */

#define OUTMAX		(4 * 1024 * 1024)	/* commands not yet sent */
#define CMDMAX		1200			/* one MAIL or RCPT line */
#define BDAT_CHUNK	(1024 * 1024)

enum state {
	S_IDLE = 0,	/* no operation */
	S_EHLO,		/* the reply to EHLO (LHLO) */
	S_HELO,		/* the reply to HELO, after a 5xx to EHLO */
	S_AUTH_END,	/* the reply that ends AUTH */
	S_AUTH_USER,	/* LOGIN: the 334 that asks for the user name */
	S_AUTH_PASS,	/* LOGIN: the 334 that asks for the password */
	S_AUTH_CRAM,	/* CRAM-MD5: the 334 with the challenge */
	S_AUTH_XOAUTH2,	/* XOAUTH2: 235, or a 334 carrying an error */
	S_AUTH_CANCEL,	/* the reply to "*" */
	S_RSET,		/* the reply to RSET */
	S_MAIL,		/* the reply to MAIL */
	S_RCPT,		/* the reply to RCPT number i */
	S_DRAIN,	/* MAIL refused in a group: the replies after it */
	S_DATA,		/* the reply to DATA */
	S_DOT,		/* 354 but no recipient: the reply to "." */
	S_MESSAGE,	/* the caller sends the message */
	S_CHUNK,	/* the caller sends a BDAT chunk */
	S_BDAT,		/* the reply to a BDAT chunk before the last */
	S_FINAL,	/* the reply after the message (LMTP: for rcpt i) */
	S_DONE,
	S_ERROR,
	S__COUNT
};

static const char *const state_names[S__COUNT] = {
	"idle", "ehlo", "helo", "auth-end", "auth-user", "auth-pass",
	"auth-cram", "auth-xoauth2", "auth-cancel", "rset", "mail", "rcpt",
	"drain", "data", "dot", "message", "chunk", "bdat", "final", "done",
	"error"
};

static const char *const evtype_names[] = {
	"?", "send", "read", "rcpt", "message", "chunk", "done", "error"
};

struct mxk_smtpc {
	struct mxk_reply_params	 rp;
	enum state		 state;
	struct mxk_buf		 out;
	int			 wipe;		/* out held credentials */
	struct mxk_reply	 last;
	struct mxk_err		 err;
	struct mxk_err		 cancel;	/* AUTH: why "*" was sent */
	/* EHLO. */
	char			 name[512];
	int			 lmtp;
	struct mxk_ehlo		*caps_out;
	/* AUTH. */
	const char		*mech, *user, *secret;
	/* The transaction. */
	const struct mxk_ehlo	*caps;
	struct mxk_smtpc_txn	*t;
	struct mxk_smtpc_rcpt	*rc;
	size_t			 n;
	size_t			 i;
	size_t			 naccepted;
	size_t			 drain;
	int			 pipe, bdat, data_sent;
	unsigned long long	 size, off;	/* BDAT: octets in all, sent */
	size_t			 chunk, clen;
	int			 clast;
	/* Outcomes not reported yet: each recipient enters once. */
	size_t			*q;
	size_t			 qcap, qhead, qtail;
};

static void
set_state(struct mxk_smtpc *s, enum state st)
{
	if (st != s->state)
		mxk_log(MXK_LOG_TRACE, "smtpc: %s -> %s",
		    state_names[s->state], state_names[st]);
	s->state = st;
}

/* The operation is over (DONE or ERROR): no secret stays behind. */
static void
finish(struct mxk_smtpc *s, enum state st)
{
	set_state(s, st);
	if (st == S_ERROR)
		mxk_buf_reset(&s->out);
	if (s->wipe) {
		mxk_buf_wipe(&s->out);
		s->wipe = 0;
	}
	s->user = s->secret = NULL;
}

static int
awaiting(const struct mxk_smtpc *s)
{
	switch (s->state) {
	case S_IDLE:
	case S_MESSAGE:
	case S_CHUNK:
	case S_DONE:
	case S_ERROR:
		return 0;
	default:
		return 1;
	}
}

static int
ms(int v, int def)
{
	return v > 0 ? v : def;
}

/* RFC 5321 §4.5.3.2: the limit on the wait each state stands for. */
static int
state_timeout(const struct mxk_smtpc *s)
{
	const struct mxk_smtpc_txn *t = s->t;

	switch (s->state) {
	case S_RSET:
	case S_MAIL:
		return ms(t->mail_timeout_ms, 300000);
	case S_RCPT:
	case S_DRAIN:
		return ms(t->rcpt_timeout_ms, 300000);
	case S_DATA:
		return ms(t->data_timeout_ms, 120000);
	case S_MESSAGE:
	case S_CHUNK:
	case S_BDAT:
		return ms(t->block_timeout_ms, 180000);
	case S_DOT:
	case S_FINAL:
		return ms(t->final_timeout_ms, 600000);
	default:
		return 0;
	}
}

/* Queue "line\r\n"; a line holding CR or LF is refused. */
static int
queue(struct mxk_smtpc *s, const char *line)
{
	/* Never build a command from data holding CR or LF. */
	if (strpbrk(line, "\r\n") != NULL)
		return mxk_err_set(&s->err, MXK_ERR_DATA, MXK_SRC_LOCAL,
		    "5.5.2", "refusing to send a command containing CR or LF");
	if (mxk_buf_addstr(&s->out, line) == -1 ||
	    mxk_buf_add(&s->out, "\r\n", 2) == -1)
		return mxk_err_set(&s->err, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
		    NULL, "commands not sent exceed %d octets", OUTMAX);
	return 0;
}

/* The reply r has no place here: the dialogue is broken. */
static void
broken(struct mxk_smtpc *s, const struct mxk_reply *r, const char *what)
{
	char	first[160];

	(void)mxk_err_set(&s->err, MXK_ERR_PROTO, MXK_SRC_SMTP, "5.5.0",
	    "unexpected reply to %s: %d %s", what, r->code,
	    mxk_reply_first_line(r, first, sizeof(first)));
	finish(s, S_ERROR);
}

/*
 * A 354 where no message may go (RFC 2920 §3.1): an empty one ends it,
 * or the next command would be read as its content.  An LMTP server must
 * have refused DATA (RFC 2033 §4.2): it would give no reply to ".", so
 * nothing more can be read in step.
 */
static void
empty_message(struct mxk_smtpc *s, const struct mxk_reply *r,
    const char *what)
{
	if (s->t->lmtp) {
		broken(s, r, what);
		return;
	}
	if (queue(s, ".") == -1) {
		finish(s, S_ERROR);
		return;
	}
	set_state(s, S_DOT);
}

/*
 * 1 when r is the positive reply (want < 10: any of that class, else that
 * code), 0 for a refusal (4xx, 5xx), -1 for anything else, which no
 * server may send to that command (RFC 5321 §4.3.2): the dialogue is
 * broken, since with pipelining every later reply would be misread.
 */
static int
judge(struct mxk_smtpc *s, const struct mxk_reply *r, int want,
    const char *what)
{
	if (want < 10 ? r->code / 100 == want : r->code == want)
		return 1;
	if (r->code / 100 == 4 || r->code / 100 == 5)
		return 0;
	broken(s, r, what);
	return -1;
}

static void
told(struct mxk_smtpc *s, size_t i)
{
	if (s->qtail < s->qcap)
		s->q[s->qtail++] = i;
}

static void
rcpt_set(struct mxk_smtpc *s, size_t i, const struct mxk_reply *r)
{
	struct mxk_smtpc_rcpt *rc = &s->rc[i];

	rc->code = r->code;
	(void)snprintf(rc->status, sizeof(rc->status), "%s", r->status);
	(void)mxk_reply_first_line(r, rc->text, sizeof(rc->text));
	rc->state = r->code / 100 == 2 ? MXK_RCPT_SENT : r->code / 100 == 4 ?
	    MXK_RCPT_DEFERRED : MXK_RCPT_BOUNCED;
	told(s, i);
}

static void
rcpt_local(struct mxk_smtpc *s, size_t i, int code, const char *status,
    const char *text)
{
	struct mxk_smtpc_rcpt *rc = &s->rc[i];

	rc->code = code;
	(void)snprintf(rc->status, sizeof(rc->status), "%s", status);
	(void)snprintf(rc->text, sizeof(rc->text), "%s", text);
	rc->state = code / 100 == 4 ? MXK_RCPT_DEFERRED : MXK_RCPT_BOUNCED;
	told(s, i);
}

/* Every recipient still pending (or only those accepted) gets r. */
static void
rcpt_all(struct mxk_smtpc *s, const struct mxk_reply *r, int accepted_only)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		if (s->rc[i].state == MXK_RCPT_PENDING &&
		    (!accepted_only || s->rc[i].accepted))
			rcpt_set(s, i, r);
}

/* The transaction is refused as a whole by r (MAIL, DATA, BDAT, "."). */
static void
refused(struct mxk_smtpc *s, const struct mxk_reply *r, int accepted_only)
{
	s->t->refused = 1;
	s->t->last = *r;
	rcpt_all(s, r, accepted_only);
}

struct mxk_smtpc *
mxk_smtpc_new(const struct mxk_reply_params *rp)
{
	struct mxk_smtpc *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if (rp != NULL)
		s->rp = *rp;
	mxk_buf_init(&s->out, OUTMAX);
	return s;
}

void
mxk_smtpc_free(struct mxk_smtpc *s)
{
	if (s == NULL)
		return;
	mxk_buf_wipe(&s->out);
	free(s->q);
	free(s);
}

static void
reset(struct mxk_smtpc *s)
{
	if (s->wipe)
		mxk_buf_wipe(&s->out);
	mxk_buf_reset(&s->out);
	s->wipe = 0;
	s->state = S_IDLE;
	s->user = s->secret = s->mech = NULL;
	s->caps_out = NULL;
	s->caps = NULL;
	s->t = NULL;
	s->rc = NULL;
	s->n = s->i = s->naccepted = s->drain = 0;
	s->pipe = s->bdat = s->data_sent = 0;
	s->size = s->off = 0;
	s->chunk = s->clen = 0;
	s->clast = 0;
	s->lmtp = 0;
	s->qhead = s->qtail = 0;
	s->last.code = 0;
	s->last.status[0] = s->last.text[0] = '\0';
	s->last.nlines = 0;
	mxk_err_clear(&s->err);
}

const struct mxk_reply *
mxk_smtpc_last(const struct mxk_smtpc *s)
{
	return &s->last;
}

const char *
mxk_smtpc_state_name(const struct mxk_smtpc *s)
{
	return (unsigned)s->state < S__COUNT ? state_names[s->state] : "?";
}

const char *
mxk_smtpc_evtype_name(enum mxk_smtpc_evtype t)
{
	return (unsigned)t < sizeof(evtype_names) / sizeof(evtype_names[0]) ?
	    evtype_names[t] : "?";
}

const char *
mxk_smtpc_output(const struct mxk_smtpc *s, size_t *len)
{
	*len = s->out.len;
	return s->out.p != NULL ? s->out.p : "";
}

void
mxk_smtpc_sent(struct mxk_smtpc *s, size_t len)
{
	mxk_buf_consume(&s->out, len);
	/* Credentials do not stay in memory once on the wire. */
	if (s->wipe && s->out.len == 0)
		mxk_buf_wipe(&s->out);
}

void
mxk_smtpc_next(struct mxk_smtpc *s, struct mxk_smtpc_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	/* Outcomes first: each is told before DONE or ERROR. */
	if (s->qhead < s->qtail) {
		ev->type = MXK_SMTPC_EV_RCPT;
		ev->rcpt = s->q[s->qhead++];
		return;
	}
	ev->timeout_ms = state_timeout(s);
	switch (s->state) {
	case S_ERROR:
		ev->type = MXK_SMTPC_EV_ERROR;
		ev->err = &s->err;
		break;
	case S_IDLE:
	case S_DONE:
		ev->type = MXK_SMTPC_EV_DONE;
		break;
	case S_MESSAGE:
		ev->type = MXK_SMTPC_EV_MESSAGE;
		break;
	case S_CHUNK:
		ev->type = MXK_SMTPC_EV_CHUNK;
		ev->off = s->off;
		ev->len = s->clen;
		ev->last = s->clast;
		break;
	default:
		ev->type = s->out.len > 0 ? MXK_SMTPC_EV_SEND :
		    MXK_SMTPC_EV_READ;
		break;
	}
}

/*
 * EHLO.
 */

int
mxk_smtpc_start_ehlo(struct mxk_smtpc *s, const char *name, int lmtp,
    struct mxk_ehlo *caps, struct mxk_err *e)
{
	char	line[sizeof(s->name)];

	reset(s);
	if (snprintf(line, sizeof(line), "%s %s", lmtp ? "LHLO" : "EHLO",
	    name) >= (int)sizeof(line))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "EHLO name too long");
	if (queue(s, line) == -1) {
		*e = s->err;
		return -1;
	}
	(void)snprintf(s->name, sizeof(s->name), "%s", name);
	s->lmtp = lmtp;
	s->caps_out = caps;
	set_state(s, S_EHLO);
	return 0;
}

static void
ehlo_refused(struct mxk_smtpc *s, const struct mxk_reply *r)
{
	char	first[256];

	(void)mxk_err_smtp(&s->err, r->code, r->status, MXK_ERR_PERM,
	    mxk_reply_first_line(r, first, sizeof(first)));
	mxk_err_prefix(&s->err, "EHLO refused: %d %s", r->code, r->status);
	finish(s, S_ERROR);
}

static void
take_ehlo(struct mxk_smtpc *s, const struct mxk_reply *r)
{
	char	line[sizeof(s->name) + 8];

	if (r->code == 250) {
		if (s->state == S_EHLO)
			mxk_ehlo_parse(r, s->caps_out);
		else
			memset(s->caps_out, 0, sizeof(*s->caps_out));
		finish(s, S_DONE);
		return;
	}
	if (s->state == S_EHLO && r->code / 100 == 5 && !s->lmtp) {
		/* RFC 5321 §3.2: an old server; try HELO.  LHLO has no
		 * fallback (RFC 2033 §4.1). */
		(void)snprintf(line, sizeof(line), "HELO %s", s->name);
		if (queue(s, line) == -1) {
			finish(s, S_ERROR);
			return;
		}
		set_state(s, S_HELO);
		return;
	}
	ehlo_refused(s, r);
}

/*
 * AUTH.
 */

static const char *const auth_pref[] = { "CRAM-MD5", "PLAIN", "LOGIN" };
static const char *const auth_known[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"
};

/* Queue base64(data) as a continuation line; the stack copy is wiped. */
static int
auth_queue(struct mxk_smtpc *s, const unsigned char *data, size_t len)
{
	char	line[1400];
	int	rc;

	if (mxk_b64_encode(data, len, line, sizeof(line)) == -1)
		return mxk_err_set(&s->err, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "AUTH: credentials too long");
	rc = queue(s, line);
	explicit_bzero(line, sizeof(line));
	return rc;
}

int
mxk_smtpc_start_auth(struct mxk_smtpc *s, const struct mxk_ehlo *caps,
    const char *mech, const char *user, const char *secret,
    struct mxk_err *e)
{
	unsigned char	 raw[1024];
	char		 line[1500];
	size_t		 ul = strlen(user), sl = strlen(secret), i;
	enum state	 next;
	int		 n, rc = -1;

	reset(s);
	if (mech == NULL) {
		for (i = 0; i < sizeof(auth_pref) / sizeof(auth_pref[0]); i++)
			if (mxk_ehlo_has_auth(caps, auth_pref[i])) {
				mech = auth_pref[i];
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
	for (i = 0; i < sizeof(auth_known) / sizeof(auth_known[0]); i++)
		if (strcasecmp(mech, auth_known[i]) == 0)
			break;
	if (i == sizeof(auth_known) / sizeof(auth_known[0]))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "unknown AUTH mechanism %s", mech);
	s->mech = auth_known[i];
	if (ul + sl + 64 > sizeof(raw))
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "AUTH: user name or secret too long");
	s->user = user;
	s->secret = secret;
	s->wipe = 1;

	if (strcmp(s->mech, "PLAIN") == 0) {
		/* RFC 4616: authzid NUL authcid NUL passwd. */
		raw[0] = '\0';
		memcpy(raw + 1, user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, secret, sl);
		(void)memcpy(line, "AUTH PLAIN ", 11);
		if (mxk_b64_encode(raw, ul + sl + 2, line + 11,
		    sizeof(line) - 11) == -1)
			goto toolong;
		next = S_AUTH_END;
	} else if (strcmp(s->mech, "LOGIN") == 0) {
		(void)snprintf(line, sizeof(line), "AUTH LOGIN");
		next = S_AUTH_USER;
	} else if (strcmp(s->mech, "CRAM-MD5") == 0) {
		(void)snprintf(line, sizeof(line), "AUTH CRAM-MD5");
		next = S_AUTH_CRAM;
	} else {
		/* XOAUTH2: the secret is the OAuth 2.0 access token. */
		n = snprintf((char *)raw, sizeof(raw),
		    "user=%s\001auth=Bearer %s\001\001", user, secret);
		if (n < 0 || (size_t)n >= sizeof(raw))
			goto toolong;
		(void)memcpy(line, "AUTH XOAUTH2 ", 13);
		if (mxk_b64_encode(raw, (size_t)n, line + 13,
		    sizeof(line) - 13) == -1)
			goto toolong;
		next = S_AUTH_XOAUTH2;
	}
	if (queue(s, line) == -1) {
		*e = s->err;
		goto out;
	}
	set_state(s, next);
	rc = 0;
	goto out;
toolong:
	(void)mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
	    "AUTH: user name or secret too long");
out:
	if (rc == -1)
		finish(s, S_IDLE);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(line, sizeof(line));
	return rc;
}

/* The reply that ends AUTH: 235, else the refusal. */
static void
auth_end(struct mxk_smtpc *s, const struct mxk_reply *r)
{
	char	first[256];

	if (r->code == 235) {
		finish(s, S_DONE);
		return;
	}
	(void)mxk_reply_first_line(r, first, sizeof(first));
	if (r->code / 100 == 4)
		(void)mxk_err_smtp(&s->err, r->code, r->status, MXK_ERR_TEMP,
		    first);
	else {
		(void)mxk_err_smtp(&s->err, r->code, r->status, MXK_ERR_AUTH,
		    first);
		s->err.class = MXK_ERR_AUTH;
		mxk_err_prefix(&s->err, "AUTH %s refused: %d %s", s->mech,
		    r->code, r->status);
	}
	finish(s, S_ERROR);
}

/* RFC 2195: the answer is user SP hex(HMAC-MD5(secret, challenge)). */
static void
auth_cram(struct mxk_smtpc *s, const struct mxk_reply *r)
{
	unsigned char	 chal[512], dig[16], raw[1024];
	char		 hex[33];
	size_t		 ul = strlen(s->user), i;
	ssize_t		 cl;

	if (r->code != 334) {
		auth_end(s, r);
		return;
	}
	if ((cl = mxk_b64_decode(r->text, strcspn(r->text, "\n"), chal,
	    sizeof(chal))) == -1) {
		/* RFC 4954 §4: "*" cancels the exchange. */
		(void)mxk_err_set(&s->cancel, MXK_ERR_PROTO, MXK_SRC_SMTP,
		    "5.5.2", "AUTH CRAM-MD5: malformed challenge");
		if (queue(s, "*") == -1) {
			finish(s, S_ERROR);
			return;
		}
		set_state(s, S_AUTH_CANCEL);
		return;
	}
	if (gnutls_hmac_fast(GNUTLS_MAC_MD5, s->secret, strlen(s->secret),
	    chal, (size_t)cl, dig) < 0) {
		(void)mxk_err_set(&s->err, MXK_ERR_INTERNAL, MXK_SRC_TLS, NULL,
		    "HMAC-MD5 unavailable");
		finish(s, S_ERROR);
		return;
	}
	for (i = 0; i < 16; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", dig[i]);
	memcpy(raw, s->user, ul);
	raw[ul] = ' ';
	memcpy(raw + ul + 1, hex, 32);
	if (auth_queue(s, raw, ul + 33) == -1)
		finish(s, S_ERROR);
	else
		set_state(s, S_AUTH_END);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(dig, sizeof(dig));
	explicit_bzero(hex, sizeof(hex));
}

static void
take_auth(struct mxk_smtpc *s, const struct mxk_reply *r)
{
	const char	*v;
	enum state	 next;

	switch (s->state) {
	case S_AUTH_USER:
	case S_AUTH_PASS:
		/* LOGIN: a 334 asks for the next item; anything else ends
		 * the exchange. */
		if (r->code != 334) {
			auth_end(s, r);
			return;
		}
		v = s->state == S_AUTH_USER ? s->user : s->secret;
		next = s->state == S_AUTH_USER ? S_AUTH_PASS : S_AUTH_END;
		if (auth_queue(s, (const unsigned char *)v, strlen(v)) == -1)
			finish(s, S_ERROR);
		else
			set_state(s, next);
		return;
	case S_AUTH_CRAM:
		auth_cram(s, r);
		return;
	case S_AUTH_XOAUTH2:
		/* A 334 carries an error (JSON); an empty line ends it. */
		if (r->code != 334) {
			auth_end(s, r);
			return;
		}
		if (queue(s, "") == -1)
			finish(s, S_ERROR);
		else
			set_state(s, S_AUTH_END);
		return;
	case S_AUTH_CANCEL:
		s->err = s->cancel;
		finish(s, S_ERROR);
		return;
	default:
		auth_end(s, r);
		return;
	}
}

/*
 * The transaction.
 */

int
mxk_smtpc_start_txn(struct mxk_smtpc *s, const struct mxk_ehlo *caps,
    struct mxk_smtpc_txn *t, struct mxk_smtpc_rcpt *rc, size_t n,
    struct mxk_err *e)
{
	char	line[CMDMAX], txt[160];
	size_t	i, group;

	reset(s);
	t->refused = t->used_bdat = t->used_pipelining = 0;
	memset(&t->last, 0, sizeof(t->last));
	for (i = 0; i < n; i++) {
		rc[i].state = MXK_RCPT_PENDING;
		rc[i].accepted = 0;
	}
	if (n > s->qcap) {
		size_t *q = reallocarray(s->q, n, sizeof(*q));

		if (q == NULL)
			return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "out of memory");
		s->q = q;
		s->qcap = n;
	}
	s->caps = caps;
	s->t = t;
	s->rc = rc;
	s->n = n;
	s->size = mxk_msg_size(t->msg);

	/* Refused here, before MAIL: nothing the server would take. */
	if (caps->size && caps->size_max > 0 && s->size > caps->size_max) {
		(void)snprintf(txt, sizeof(txt), "message size %llu exceeds "
		    "the server's limit %llu (RFC 1870)", s->size,
		    caps->size_max);
		for (i = 0; i < n; i++)
			rcpt_local(s, i, 552, "5.3.4", txt);
		t->refused = 1;
		finish(s, S_DONE);
		return 0;
	}
	if (t->smtputf8 && !caps->smtputf8) {
		for (i = 0; i < n; i++)
			rcpt_local(s, i, 553, "5.6.7", "the server does not "
			    "offer SMTPUTF8, needed for non-ASCII addresses "
			    "(RFC 6531)");
		t->refused = 1;
		finish(s, S_DONE);
		return 0;
	}
	/*
	 * RFC 6152 §3: 8-bit data only to a server that offers 8BITMIME
	 * (there is no converting here); a NUL only as BINARYMIME, which
	 * needs BDAT (RFC 3030 §3).
	 */
	txt[0] = '\0';
	if (mxk_msg_nul(t->msg) && !(caps->binarymime && caps->chunking &&
	    !t->no_chunking))
		(void)snprintf(txt, sizeof(txt), "the message holds a NUL "
		    "octet, and the server does not offer BINARYMIME with "
		    "CHUNKING (RFC 3030)");
	else if (!mxk_msg_nul(t->msg) && mxk_msg_8bit(t->msg) &&
	    !caps->eightbitmime)
		(void)snprintf(txt, sizeof(txt), "the message holds 8-bit "
		    "data, and the server does not offer 8BITMIME (RFC 6152)");
	if (txt[0] != '\0') {
		for (i = 0; i < n; i++)
			rcpt_local(s, i, 554, "5.6.3", txt);
		t->refused = 1;
		finish(s, S_DONE);
		return 0;
	}
	s->bdat = caps->chunking && !t->no_chunking;
	s->pipe = caps->pipelining && !t->no_pipelining;
	s->chunk = t->chunk > 0 ? t->chunk : BDAT_CHUNK;

	/* Every command is built now, so that none fails half-way. */
	if (build_mail(caps, t, line, sizeof(line), e) == -1)
		return -1;
	group = strlen(line) + sizeof("RSET\r\nDATA\r\n\r\n");
	for (i = 0; i < n; i++) {
		if (build_rcpt(caps, t, &rc[i], line, sizeof(line), e) == -1)
			return -1;
		group += strlen(line) + 2;
	}
	/* A group too big to hold goes one command at a time. */
	if (s->pipe && group > OUTMAX - s->out.len)
		s->pipe = 0;
	t->used_pipelining = s->pipe;

	if (t->rset && queue(s, "RSET") == -1)
		goto fail;
	if (!s->pipe) {
		/* One command at a time: MAIL after the RSET reply. */
		if (!t->rset && (build_mail(caps, t, line, sizeof(line),
		    e) == -1 || queue(s, line) == -1))
			goto fail;
		set_state(s, t->rset ? S_RSET : S_MAIL);
		return 0;
	}
	/*
	 * RFC 2920 §3.1: RSET, MAIL, every RCPT and DATA are one group,
	 * written at once; DATA ends it.  BDAT waits for the RCPT replies,
	 * so that no chunk goes out when no recipient is accepted.
	 */
	if (build_mail(caps, t, line, sizeof(line), e) == -1 ||
	    queue(s, line) == -1)
		goto fail;
	for (i = 0; i < n; i++)
		if (build_rcpt(caps, t, &rc[i], line, sizeof(line), e) == -1 ||
		    queue(s, line) == -1)
			goto fail;
	if (!s->bdat && queue(s, "DATA") == -1)
		goto fail;
	s->data_sent = !s->bdat;
	set_state(s, t->rset ? S_RSET : S_MAIL);
	return 0;
fail:
	if (s->err.class != MXK_ERR_OK)
		*e = s->err;
	finish(s, S_IDLE);
	return -1;
}

/* Queue the next BDAT command; the caller sends the chunk after it. */
static void
next_chunk(struct mxk_smtpc *s)
{
	unsigned long long	left = s->size - s->off;
	char			line[64];

	s->clen = left < s->chunk ? (size_t)left : s->chunk;
	s->clast = s->clen == left;
	(void)snprintf(line, sizeof(line), "BDAT %zu%s", s->clen,
	    s->clast ? " LAST" : "");
	if (queue(s, line) == -1) {
		finish(s, S_ERROR);
		return;
	}
	set_state(s, S_CHUNK);
}

/* The first accepted recipient from i on with no outcome (LMTP). */
static size_t
next_accepted(const struct mxk_smtpc *s, size_t i)
{
	while (i < s->n && !(s->rc[i].accepted &&
	    s->rc[i].state == MXK_RCPT_PENDING))
		i++;
	return i;
}

/* Every RCPT has its reply. */
static void
after_rcpts(struct mxk_smtpc *s)
{
	if (s->bdat) {
		if (s->naccepted == 0) {
			finish(s, S_DONE);
			return;
		}
		s->t->used_bdat = 1;
		s->off = 0;
		next_chunk(s);
		return;
	}
	if (s->data_sent) {
		set_state(s, S_DATA);
		return;
	}
	if (s->naccepted == 0) {
		finish(s, S_DONE);
		return;
	}
	if (queue(s, "DATA") == -1) {
		finish(s, S_ERROR);
		return;
	}
	set_state(s, S_DATA);
}

static void
take_txn(struct mxk_smtpc *s, const struct mxk_reply *r)
{
	char	line[CMDMAX], first[256];
	int	j;

	switch (s->state) {
	case S_RSET:
		if (r->code / 100 != 2) {
			(void)mxk_err_smtp(&s->err, r->code, r->status,
			    MXK_ERR_PROTO, mxk_reply_first_line(r, first,
			    sizeof(first)));
			mxk_err_prefix(&s->err, "RSET refused");
			finish(s, S_ERROR);
			return;
		}
		if (!s->pipe && (build_mail(s->caps, s->t, line, sizeof(line),
		    &s->err) == -1 || queue(s, line) == -1)) {
			finish(s, S_ERROR);
			return;
		}
		set_state(s, S_MAIL);
		return;
	case S_MAIL:
		if ((j = judge(s, r, 2, "MAIL")) == -1)
			return;
		if (j == 0) {
			refused(s, r, 0);
			/* The replies to the rest of the group, dropped. */
			s->drain = s->pipe ? s->n + (size_t)s->data_sent : 0;
			if (s->drain > 0)
				set_state(s, S_DRAIN);
			else
				finish(s, S_DONE);
			return;
		}
		s->i = 0;
		break;
	case S_DRAIN:
		if (--s->drain > 0)
			return;
		/*
		 * The last reply is DATA's.  A 354 after a refused MAIL is
		 * the server's error, but it now reads a message: an empty
		 * one ends it (RFC 2920 §3.1), or the next command would be
		 * taken for its content.
		 */
		if (s->data_sent && r->code == 354) {
			empty_message(s, r, "DATA after a refused MAIL");
			return;
		}
		finish(s, S_DONE);
		return;
	case S_RCPT:
		if ((j = judge(s, r, 2, "RCPT")) == -1)
			return;
		if (j == 1) {
			s->rc[s->i].accepted = 1;
			s->naccepted++;
		} else
			rcpt_set(s, s->i, r);
		s->i++;
		break;
	case S_DATA:
		if ((j = judge(s, r, 354, "DATA")) == -1)
			return;
		if (j == 1 && s->naccepted == 0) {
			/*
			 * RFC 2920 §3.1: DATA went in the group, every RCPT
			 * failed, and yet 354: an empty message, which the
			 * server must refuse.
			 */
			empty_message(s, r, "DATA without recipients");
			return;
		}
		if (j == 0) {
			if (s->naccepted > 0)
				refused(s, r, 1);
			finish(s, S_DONE);
			return;
		}
		set_state(s, S_MESSAGE);
		return;
	case S_DOT:
		finish(s, S_DONE);
		return;
	case S_BDAT:
		if ((j = judge(s, r, 2, "BDAT")) == -1)
			return;
		if (j == 0) {
			/* RFC 3030 §4.2: the transaction is over. */
			refused(s, r, 1);
			finish(s, S_DONE);
			return;
		}
		next_chunk(s);
		return;
	case S_FINAL:
		if (judge(s, r, 2, "the message") == -1)
			return;
		if (!s->t->lmtp) {
			if (r->code / 100 != 2) {
				s->t->refused = 1;
				s->t->last = *r;
			}
			rcpt_all(s, r, 1);
			finish(s, S_DONE);
			return;
		}
		/* RFC 2033 §4.2: one reply per accepted RCPT, in order. */
		rcpt_set(s, s->i, r);
		if ((s->i = next_accepted(s, s->i + 1)) >= s->n)
			finish(s, S_DONE);
		return;
	default:
		(void)mxk_err_set(&s->err, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
		    NULL, "smtpc: a reply in state %s",
		    state_names[s->state]);
		finish(s, S_ERROR);
		return;
	}
	/* After MAIL or a RCPT: the next RCPT, or what follows them. */
	if (s->i >= s->n) {
		after_rcpts(s);
		return;
	}
	if (!s->pipe && (build_rcpt(s->caps, s->t, &s->rc[s->i], line,
	    sizeof(line), &s->err) == -1 || queue(s, line) == -1)) {
		finish(s, S_ERROR);
		return;
	}
	set_state(s, S_RCPT);
}

void
mxk_smtpc_message_sent(struct mxk_smtpc *s)
{
	switch (s->state) {
	case S_CHUNK:
		mxk_buf_reset(&s->out);
		s->off += s->clen;
		if (!s->clast) {
			set_state(s, S_BDAT);
			return;
		}
		/* FALLTHROUGH */
	case S_MESSAGE:
		s->i = next_accepted(s, 0);
		set_state(s, S_FINAL);
		return;
	default:
		(void)mxk_err_set(&s->err, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
		    NULL, "smtpc: message sent in state %s",
		    state_names[s->state]);
		finish(s, S_ERROR);
		return;
	}
}

/*
 * Replies in.
 */

/* s->last is the reply just received. */
static void
take(struct mxk_smtpc *s)
{
	const struct mxk_reply *r = &s->last;

	switch (s->state) {
	case S_EHLO:
	case S_HELO:
		take_ehlo(s, r);
		return;
	case S_AUTH_END:
	case S_AUTH_USER:
	case S_AUTH_PASS:
	case S_AUTH_CRAM:
	case S_AUTH_XOAUTH2:
	case S_AUTH_CANCEL:
		take_auth(s, r);
		return;
	case S_RSET:
	case S_MAIL:
	case S_RCPT:
	case S_DRAIN:
	case S_DATA:
	case S_DOT:
	case S_BDAT:
	case S_FINAL:
		take_txn(s, r);
		return;
	default:
		(void)mxk_err_set(&s->err, MXK_ERR_PROTO, MXK_SRC_SMTP,
		    "5.5.0", "a reply when none was expected: %d", r->code);
		finish(s, S_ERROR);
		return;
	}
}

int
mxk_smtpc_feed(struct mxk_smtpc *s, const char *p, size_t len, size_t *used)
{
	size_t	off = 0, u;
	int	got, took = 0;

	*used = 0;
	if (p == NULL)
		p = "";
	/*
	 * Only while a reply is awaited and every command is sent: octets
	 * before that are not an answer to anything we said.
	 */
	while (awaiting(s) && s->out.len == 0) {
		got = mxk_reply_parse(p + off, len - off, &s->rp, &s->last,
		    &u, &s->err);
		if (got == 0)
			break;
		if (got == -1) {
			finish(s, S_ERROR);
			return -1;
		}
		off += u;
		*used = off;
		took = 1;
		take(s);
		if (s->state == S_ERROR)
			return -1;
	}
	return took;
}

int
mxk_smtpc_reply(struct mxk_smtpc *s, const struct mxk_reply *r)
{
	if (!awaiting(s) || s->out.len > 0) {
		(void)mxk_err_set(&s->err, MXK_ERR_PROTO, MXK_SRC_SMTP,
		    "5.5.0", "a reply when none was expected: %d", r->code);
		finish(s, S_ERROR);
		return -1;
	}
	s->last = *r;
	take(s);
	return s->state == S_ERROR ? -1 : 0;
}

/*
 * The transport: one reply, one command.
 */

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

/* The -v transcript: each line of p, sent by who (MXK_PROTO_*). */
static void
log_lines(struct mxk_smtpc_io *io, int who, const char *p, size_t len)
{
	const char	*lf;
	size_t		 n;

	if (!mxk_log_enabled(MXK_LOG_INFO))
		return;
	while (len > 0) {
		lf = memchr(p, '\n', len);
		n = lf != NULL ? (size_t)(lf - p) + 1 : len;
		mxk_log_proto(&io->ts, who, p, n, NULL, 0);
		p += n;
		len -= n;
	}
}

/* More reply octets into io->in, within the deadline; 0 or -1. */
static int
read_more(struct mxk_smtpc_io *io, long long deadline, struct mxk_err *e)
{
	char	*space;
	ssize_t	 n;

	if ((space = mxk_buf_space(&io->in, READ_CHUNK)) == NULL)
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_SMTP, "5.5.0",
		    "reply too long");
	n = mxk_conn_read(io->conn, space, READ_CHUNK, deadline, e);
	if (n < 0)
		return -1;
	if (n == 0)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_NET, "4.4.2",
		    "connection closed by the server");
	mxk_buf_commit(&io->in, (size_t)n);
	return 0;
}

int
mxk_smtpc_read(struct mxk_smtpc_io *io, struct mxk_reply *r,
    long long deadline, struct mxk_err *e)
{
	size_t	 used;
	int	 got;

	for (;;) {
		got = mxk_reply_parse(io->in.p != NULL ? io->in.p : "",
		    io->in.len, &io->rp, r, &used, e);
		if (got == 1) {
			log_lines(io, MXK_PROTO_SERVER, io->in.p, used);
			mxk_buf_consume(&io->in, used);
			return 1;
		}
		if (got == -1)
			return -1;
		if (read_more(io, deadline, e) == -1)
			return -1;
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
 * The blocking drivers: the engine over a struct mxk_smtpc_io.
 */

/* The message goes out in blocks of this size (one write each). */
#define MSG_BLOCK	(256 * 1024)

static long long
deadline_of(int ms_, long long deadline)
{
	long long d;

	if (ms_ <= 0)
		return deadline;
	d = mxk_deadline_in(ms_);
	return d < deadline ? d : deadline;
}

/* Feed what was read until the engine takes a reply. */
static int
drive_read(struct mxk_smtpc_io *io, struct mxk_smtpc *s, long long deadline,
    struct mxk_err *e)
{
	size_t	 used;
	int	 got;

	for (;;) {
		got = mxk_smtpc_feed(s, io->in.p, io->in.len, &used);
		if (used > 0) {
			log_lines(io, MXK_PROTO_SERVER, io->in.p, used);
			mxk_buf_consume(&io->in, used);
		}
		if (got != 0)
			return 0;	/* the engine says what follows */
		if (read_more(io, deadline, e) == -1)
			return -1;
	}
}

/* 1 when a line of p[0..len) starts with '.' (bol: p starts a line). */
static int
needs_stuffing(const char *p, size_t len, int bol)
{
	const char	*q = p, *end = p + len;

	if (len == 0)
		return 0;
	if (bol && p[0] == '.')
		return 1;
	while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
		if (++q == end)
			return 0;
		if (*q == '.')
			return 1;
	}
	return 0;
}

/*
 * DATA: the message dot-stuffed (RFC 5321 §4.5.2), then ".\r\n".  The
 * message is read in blocks and each goes out in one write; a block with
 * no line starting with '.' is written as read, without a copy.  The
 * size is known (lib/msg), so the end marker rides with the last block.
 */
static int
send_message(struct mxk_smtpc_io *io, struct mxk_msg *msg, int block_ms,
    long long deadline, struct mxk_err *e)
{
	unsigned long long	 size = mxk_msg_size(msg), total = 0;
	size_t			 bs, o;
	ssize_t			 got;
	char			*in, *out, *p;
	int			 bol = 1, last_lf = 1, done, rc = -1;

	if (mxk_msg_rewind(msg, e) == -1)
		return -1;
	/* A small message gets a buffer of its size: one read, one write. */
	bs = size < MSG_BLOCK ? (size_t)size : MSG_BLOCK;
	if (bs == 0)
		bs = 1;
	if ((in = malloc(3 * bs + 16)) == NULL)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	out = in + bs + 8;
	for (;;) {
		if ((got = mxk_msg_read_chunk(msg, in, bs, e)) < 0)
			goto out;
		if ((unsigned long long)got > size - total)
			got = (ssize_t)(size - total);	/* changed meanwhile */
		total += (unsigned long long)got;
		done = got == 0 || total == size;
		if (got > 0)
			last_lf = in[got - 1] == '\n';
		if (mxk_msg_dots(msg) && needs_stuffing(in, (size_t)got,
		    bol)) {
			o = mxk_msg_dotstuff(in, (size_t)got, out, &bol);
			p = out;
		} else {
			if (got > 0)
				bol = last_lf;
			o = (size_t)got;
			p = in;
		}
		if (done) {
			/* lib/msg ends the message with CRLF; not when it is
			 * empty, or shorter than it was. */
			if (!last_lf) {
				p[o++] = '\r';
				p[o++] = '\n';
			}
			memcpy(p + o, ".\r\n", 3);
			o += 3;
		}
		if (mxk_conn_write_all(io->conn, p, o, deadline_of(block_ms,
		    deadline), e) == -1)
			goto out;
		if (done)
			break;
	}
	mxk_log(MXK_LOG_INFO, ">>> (%llu octets of message) .", total);
	rc = 0;
out:
	free(in);
	return rc;
}

/* BDAT: the command and its chunk (unstuffed) in one write. */
static int
send_chunk(struct mxk_smtpc_io *io, struct mxk_smtpc *s, struct mxk_msg *msg,
    const struct mxk_smtpc_event *ev, char **buf, size_t *cap,
    long long deadline, struct mxk_err *e)
{
	const char	*cmd;
	size_t		 cl, have = 0, need;
	ssize_t		 got;
	char		*nb;

	cmd = mxk_smtpc_output(s, &cl);
	log_lines(io, MXK_PROTO_CLIENT, cmd, cl);
	need = cl + ev->len + 1;
	if (need > *cap) {
		if ((nb = realloc(*buf, need)) == NULL)
			return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "out of memory");
		*buf = nb;
		*cap = need;
	}
	memcpy(*buf, cmd, cl);
	if (ev->off == 0 && mxk_msg_rewind(msg, e) == -1)
		return -1;
	while (have < ev->len) {
		got = mxk_msg_read_chunk(msg, *buf + cl + have, ev->len - have,
		    e);
		if (got < 0)
			return -1;
		if (got == 0)
			return mxk_err_set(e, MXK_ERR_IO, MXK_SRC_LOCAL, NULL,
			    "the message is shorter than its size (%llu "
			    "octets): changed while being sent?",
			    mxk_msg_size(msg));
		have += (size_t)got;
	}
	if (mxk_conn_write_all(io->conn, *buf, cl + have, deadline, e) == -1)
		return -1;
	mxk_smtpc_message_sent(s);
	return 0;
}

/* Run the operation started on s to its end: 0 DONE, -1 with e. */
static int
drive(struct mxk_smtpc_io *io, struct mxk_smtpc *s, struct mxk_msg *msg,
    long long deadline, struct mxk_err *e)
{
	struct mxk_smtpc_event	 ev;
	const char		*p;
	char			*cbuf = NULL;
	size_t			 len, ccap = 0;
	long long		 dl;
	int			 rc = -1;

	for (;;) {
		mxk_smtpc_next(s, &ev);
		dl = deadline_of(ev.timeout_ms, deadline);
		switch (ev.type) {
		case MXK_SMTPC_EV_SEND:
			p = mxk_smtpc_output(s, &len);
			log_lines(io, MXK_PROTO_CLIENT, p, len);
			if (mxk_conn_write_all(io->conn, p, len, dl, e) == -1)
				goto out;
			mxk_smtpc_sent(s, len);
			break;
		case MXK_SMTPC_EV_READ:
			if (drive_read(io, s, dl, e) == -1)
				goto out;
			break;
		case MXK_SMTPC_EV_RCPT:
			break;		/* already in the caller's array */
		case MXK_SMTPC_EV_MESSAGE:
			if (send_message(io, msg, ev.timeout_ms, deadline,
			    e) == -1)
				goto out;
			mxk_smtpc_message_sent(s);
			break;
		case MXK_SMTPC_EV_CHUNK:
			if (send_chunk(io, s, msg, &ev, &cbuf, &ccap, dl,
			    e) == -1)
				goto out;
			break;
		case MXK_SMTPC_EV_DONE:
			rc = 0;
			goto out;
		case MXK_SMTPC_EV_ERROR:
			*e = *ev.err;
			goto out;
		default:
			(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "smtpc: event %d", (int)ev.type);
			goto out;
		}
	}
out:
	free(cbuf);
	return rc;
}

static struct mxk_smtpc *
engine(struct mxk_smtpc_io *io, struct mxk_err *e)
{
	struct mxk_smtpc *s;

	if ((s = mxk_smtpc_new(&io->rp)) == NULL)
		(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	return s;
}

int
mxk_smtpc_ehlo(struct mxk_smtpc_io *io, const char *name,
    struct mxk_ehlo *caps, struct mxk_reply *r, long long deadline,
    struct mxk_err *e)
{
	struct mxk_smtpc	*s;
	int			 rc = -1;

	if ((s = engine(io, e)) == NULL)
		return -1;
	if (mxk_smtpc_start_ehlo(s, name, io->lmtp, caps, e) == 0) {
		rc = drive(io, s, NULL, deadline, e) == 0 ? 1 : -1;
		*r = *mxk_smtpc_last(s);
	}
	mxk_smtpc_free(s);
	return rc;
}

int
mxk_smtpc_auth(struct mxk_smtpc_io *io, const struct mxk_ehlo *caps,
    const char *mech, const char *user, const char *secret,
    long long deadline, struct mxk_err *e)
{
	struct mxk_smtpc	*s;
	int			 rc = -1;

	if ((s = engine(io, e)) == NULL)
		return -1;
	if (mxk_smtpc_start_auth(s, caps, mech, user, secret, e) == 0)
		rc = drive(io, s, NULL, deadline, e);
	mxk_smtpc_free(s);
	return rc;
}

int
mxk_smtpc_transaction(struct mxk_smtpc_io *io, const struct mxk_ehlo *caps,
    struct mxk_smtpc_txn *t, struct mxk_smtpc_rcpt *rc, size_t n,
    long long deadline, struct mxk_err *e)
{
	struct mxk_smtpc	*s;
	int			 ret = -1;

	if ((s = engine(io, e)) == NULL)
		return -1;
	if (mxk_smtpc_start_txn(s, caps, t, rc, n, e) == 0)
		ret = drive(io, s, t->msg, deadline, e);
	mxk_smtpc_free(s);
	return ret;
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
