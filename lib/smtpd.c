/* ISC license. */

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "b64.h"
#include "buf.h"
#include "err.h"
#include "smtpd.h"

#define DATA_LINEMAX	998		/* RFC 5321 §4.5.3.1.6, no CRLF */
#define STAGE		(16 * 1024)
#define OUTMAX		(1024 * 1024)	/* replies not yet written */
#define HELDMAX		(256 * 1024)	/* input kept while paused */

enum state {
	S_INIT = 0,	/* before the greeting */
	S_GREETED,	/* waiting for HELO/EHLO */
	S_READY,	/* between transactions */
	S_MAIL,		/* MAIL accepted */
	S_DATA,		/* reading the message after 354 */
	S_BDAT,		/* reading a BDAT chunk */
	S_AUTH_PLAIN,	/* waiting for the PLAIN response */
	S_AUTH_USER,	/* LOGIN: user name */
	S_AUTH_PASS,	/* LOGIN: password */
	S_CLOSED,
	S__COUNT
};

static const char *const state_names[S__COUNT] = {
	"init", "greeted", "ready", "mail", "data", "bdat", "auth-plain",
	"auth-user", "auth-pass", "closed"
};

/* The DATA scanner's position in a line. */
/* D_BOLB: the start of a line after a bare LF or CR, where a '.' is data. */
enum dstate { D_BOL, D_BOLB, D_MID, D_CR, D_DOT, D_DOTCR };

struct mxk_smtpd {
	struct mxk_smtpd_params	 p;
	struct mxk_smtpd_hooks	 h;
	enum state		 state;
	struct mxk_buf		 line;		/* partial command line */
	int			 skipping;	/* over-long line: to LF */
	struct mxk_buf		 out;
	int			 closing;
	int			 dropped;	/* mxk_smtpd_drop(): no output */
	int			 noservice;	/* a 5xx greeting: QUIT only */
	int			 tls_pending;
	/* A RCPT waiting for mxk_smtpd_resume(), or a message's replies
	 * for mxk_smtpd_resume_message(); the input after it is held. */
	enum { P_NONE, P_RCPT, P_MESSAGE, P_AUTH } paused;
	char			 pend_user[256];	/* P_AUTH */
	int			 deferring;	/* set by mxk_smtpd_defer() */
	size_t			 pend_n;	/* replies the message needs */
	struct mxk_smtpd_rcpt	 pend;
	struct mxk_buf		 held;
	/* A BDAT refused by the command hook: its chunk is read, then r. */
	int			 bdat_forced;
	struct mxk_smtpd_reply	 forced;
	int			 errors;
	char			 helo[256];
	int			 esmtp;
	char			*tls;		/* description, after STARTTLS */
	char			 auth_user[256];
	char			 login_user[256];
	/* The transaction. */
	char			*from;
	struct mxk_smtpd_rcpt	*rcpt;
	size_t			 nrcpt, rcptcap;
	char			 body[16];
	int			 smtputf8;
	char			*ret, *envid;
	int			 in_message;	/* data_begin done */
	int			 bdat_used, data_used;
	int			 bdat_failed;	/* a refused chunk: until RSET */
	struct mxk_smtpd_reply	 bdat_err;
	unsigned long long	 bdat_left;
	int			 bdat_last;
	/* The message being read. */
	enum dstate		 ds;
	size_t			 linelen;
	unsigned long long	 size;
	int			 toobig, toolong, bare;
	char			*stage;		/* STAGE octets, allocated at the
						 * first message: idle sessions
						 * stay small */
	size_t			 nstage;
	unsigned long		 nmessages;
};

struct cmd {
	const char	*name;
	int		 flags;
	void		(*proceed)(struct mxk_smtpd *, const char *arg,
			    int more);
};

#define NEEDS_HELO	0x01	/* after HELO/EHLO */
#define NOT_IN_TXN	0x02	/* not between MAIL and the end */
#define NEEDS_TLS	0x04	/* with require_tls */
#define CONTINUES	0x08	/* may be followed in a pipelined group */

static void	reply(struct mxk_smtpd *, int, const char *, const char *,
		    ...) __attribute__((format(printf, 4, 5)));
static void	bdat_done(struct mxk_smtpd *);
static void	pause_clear(struct mxk_smtpd *);

static void
trace(struct mxk_smtpd *s, int client, const char *p, size_t n)
{
	if (s->h.trace != NULL)
		s->h.trace(s->h.arg, client, p, n);
}

static void
out_add(struct mxk_smtpd *s, const char *p, size_t n)
{
	if (s->dropped)
		return;
	trace(s, 0, p, n);
	if (mxk_buf_add(&s->out, p, n) == -1) {
		/* A client that never reads its replies: drop it. */
		s->closing = 1;
		s->state = S_CLOSED;
	}
}

static void
reply(struct mxk_smtpd *s, int code, const char *status, const char *fmt,
    ...)
{
	char	line[MXK_SMTPD_TEXTMAX + 64];
	int	n, m, i;
	va_list	ap;

	/* No status: the HELO reply and 3xx ones (RFC 2034 §3, RFC 3463
	 * has no class 3). */
	n = status != NULL ? snprintf(line, sizeof(line), "%d %s ", code,
	    status) : snprintf(line, sizeof(line), "%d ", code);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) > sizeof(line) - 3)
		m = (int)(sizeof(line) - 3) - n;
	/*
	 * Replies quote the client ("MAIL parameter X not recognized"): a
	 * CR, NUL or escape it sent must not come back inside a reply line
	 * (found by fuzz_smtpd: tests/fuzz/regress/smtpd/echo-*).
	 */
	for (i = n; i < n + m; i++)
		if ((unsigned char)line[i] < 32 || line[i] == 127)
			line[i] = '?';
	memcpy(line + n + m, "\r\n", 2);
	out_add(s, line, (size_t)(n + m + 2));
}

static void
reply_r(struct mxk_smtpd *s, const struct mxk_smtpd_reply *r)
{
	char	text[MXK_SMTPD_TEXTMAX];
	size_t	i;
	int	code;

	/* The text comes from hooks (a program's stderr): one line only. */
	(void)snprintf(text, sizeof(text), "%s", r->text);
	for (i = 0; text[i] != '\0'; i++)
		if ((unsigned char)text[i] < 32 || text[i] == 127)
			text[i] = '?';
	code = r->code >= 200 && r->code < 600 ? r->code : 451;
	reply(s, code, r->status[0] != '\0' ? r->status : code >= 500 ?
	    "5.0.0" : code >= 400 ? "4.0.0" : "2.0.0", "%s", text);
	/* RFC 5321 §3.8: 421 means the server closes the channel. */
	if (r->code == 421)
		s->closing = 1;
}

static void
set_reply(struct mxk_smtpd_reply *r, int code, const char *status,
    const char *text)
{
	r->code = code;
	(void)snprintf(r->status, sizeof(r->status), "%s", status);
	(void)snprintf(r->text, sizeof(r->text), "%s", text);
}

static void
bad_command(struct mxk_smtpd *s)
{
	if (++s->errors >= s->p.max_errors) {
		reply(s, 421, "4.7.0", "%s Error: too many errors",
		    s->p.hostname);
		s->closing = 1;
		s->state = S_CLOSED;
	}
}

static void
txn_reset(struct mxk_smtpd *s)
{
	size_t	i;

	if (s->in_message && s->h.data_abort != NULL)
		s->h.data_abort(s->h.arg, s);
	s->in_message = 0;
	free(s->from);
	s->from = NULL;
	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpt[i].addr);
		free(s->rcpt[i].notify);
		free(s->rcpt[i].orcpt);
	}
	s->nrcpt = 0;
	free(s->ret);
	free(s->envid);
	s->ret = s->envid = NULL;
	(void)snprintf(s->body, sizeof(s->body), "7BIT");
	s->smtputf8 = 0;
	s->bdat_used = s->data_used = s->bdat_failed = 0;
	s->size = 0;
	s->toobig = s->toolong = s->bare = 0;
	s->nstage = 0;
	if (s->state == S_MAIL || s->state == S_DATA || s->state == S_BDAT)
		s->state = S_READY;
}

/* The message so far goes to the hook. */
static void
stage_flush(struct mxk_smtpd *s)
{
	if (s->nstage > 0 && s->h.data != NULL && !s->toobig)
		s->h.data(s->h.arg, s, s->stage, s->nstage);
	s->nstage = 0;
}

static void
emit(struct mxk_smtpd *s, const char *p, size_t n)
{
	size_t	k;

	if (s->toobig)
		return;
	if (s->size + n > s->p.max_size) {
		s->toobig = 1;
		s->nstage = 0;
		return;
	}
	s->size += n;
	if (n >= STAGE) {
		/* A long run: straight to the hook, not copied first. */
		stage_flush(s);
		if (s->h.data != NULL)
			s->h.data(s->h.arg, s, p, n);
		return;
	}
	if (s->stage == NULL && (s->stage = malloc(STAGE)) == NULL) {
		s->toobig = 1;	/* refused: cannot hold it */
		return;
	}
	while (n > 0) {
		if (s->nstage == STAGE)
			stage_flush(s);
		k = STAGE - s->nstage;
		if (k > n)
			k = n;
		memcpy(s->stage + s->nstage, p, k);
		s->nstage += k;
		p += k;
		n -= k;
	}
}

/* The end of a message (DATA or BDAT LAST): hook, then the replies. */
static void
message_end(struct mxk_smtpd *s)
{
	struct mxk_smtpd_reply	*r;
	size_t			 n = s->p.lmtp ? s->nrcpt : 1, i;
	int			 bad = s->toobig || s->toolong ||
				    (s->p.strict && s->bare);

	stage_flush(s);
	if ((r = calloc(n > 0 ? n : 1, sizeof(*r))) == NULL) {
		reply(s, 451, "4.3.0", "Error: out of memory");
		txn_reset(s);
		return;
	}
	for (i = 0; i < n; i++) {
		if (s->toobig)
			set_reply(&r[i], 552, "5.3.4", "Error: message too big");
		else if (s->toolong)
			set_reply(&r[i], 554, "5.6.0", "Error: a line longer "
			    "than 998 octets (RFC 5321 4.5.3.1.6)");
		else if (s->p.strict && s->bare)
			set_reply(&r[i], 554, "5.6.0", "Error: bare CR or LF "
			    "in the message (RFC 5321 2.3.8)");
		else
			set_reply(&r[i], 451, "4.3.0", "Error: not stored");
	}
	if (s->h.data_end != NULL) {
		struct mxk_smtpd_reply *keep = NULL;

		if (bad && (keep = calloc(n, sizeof(*keep))) != NULL)
			memcpy(keep, r, n * sizeof(*r));
		s->deferring = 0;
		s->h.data_end(s->h.arg, s, bad, r, n);
		if (keep != NULL) {
			memcpy(r, keep, n * sizeof(*r));
			free(keep);
		}
	}
	s->in_message = 0;
	s->nmessages++;
	if (s->deferring && !bad && !s->dropped) {
		/* The replies come with mxk_smtpd_resume_message(); the
		 * transaction stays until then, for the caller's log. */
		s->deferring = 0;
		s->paused = P_MESSAGE;
		s->pend_n = n;
		free(r);
		return;
	}
	s->deferring = 0;
	for (i = 0; i < n; i++)
		reply_r(s, &r[i]);
	free(r);
	txn_reset(s);
	s->state = S_READY;
}

/*
 * Where the next c is at or after p[i] (len: none), remembered in *memo
 * for the rest of the buffer: a position found from an earlier i holds
 * until i passes it, so each octet is searched at most once per buffer
 * (a message of bare LFs must not cost a search to the end for a CR on
 * every line).  *memo starts as SIZE_MAX, unknown.
 */
static size_t
next_of(const char *p, size_t i, size_t len, int c, size_t *memo)
{
	const char	*q;

	if (*memo == SIZE_MAX || *memo < i) {
		q = memchr(p + i, c, len - i);
		*memo = q != NULL ? (size_t)(q - p) : len;
	}
	return *memo;
}

/*
 * The fast path of data_bytes(), from p[i] inside a line (not a CR or LF):
 * the rest of that line and every following one that ends in CR LF, has
 * no bare CR or LF and does not start with '.' pass through unchanged, so
 * they are found with memchr() and handed on in one piece.  It stops at
 * the end of the input or at the first CR or LF that is not such a line
 * end (or precedes a '.' or the end of the input), which the state
 * machine then takes from D_MID as it would have.
 */
static size_t
data_run(struct mxk_smtpd *s, const char *p, size_t i, size_t len,
    size_t *mcr, size_t *mlf)
{
	size_t	start = i, cr, lf, j;

	for (;;) {
		cr = next_of(p, i, len, '\r', mcr);
		lf = next_of(p, i, len, '\n', mlf);
		j = cr < lf ? cr : lf;
		s->linelen += j - i;
		if (s->linelen > DATA_LINEMAX)
			s->toolong = 1;
		i = j;
		if (j != cr || cr == len || j + 2 >= len ||
		    p[j + 1] != '\n' || p[j + 2] == '.')
			break;
		i = j + 2;
		s->linelen = 0;
	}
	emit(s, p + start, i - start);
	return i;
}

/*
 * DATA: un-stuff, normalise line ends, find the end ("CRLF . CRLF" only),
 * count and check.  Returns how many octets were used; the state leaves
 * S_DATA at the end of the message.
 */
static size_t
data_bytes(struct mxk_smtpd *s, const char *p, size_t len)
{
	size_t	i = 0, mcr = SIZE_MAX, mlf = SIZE_MAX;
	char	c;

	while (i < len) {
		c = p[i];
		switch (s->ds) {
		case D_BOL:
			if (c == '.') {
				s->ds = D_DOT;	/* dropped: stuffing, or the end */
				i++;
				break;
			}
			s->ds = D_MID;
			s->linelen = 0;
			break;
		case D_BOLB:
			/*
			 * Only CR LF "." CR LF ends the message: after a bare
			 * LF or CR a '.' is kept as data, not taken as the end
			 * nor as stuffing.  "LF . CR LF" ending the message
			 * let a message carry another one with its own
			 * envelope (SMTP smuggling, CVE-2023-51764 class).
			 */
			s->ds = D_MID;
			s->linelen = 0;
			break;
		case D_DOT:
			if (c == '\r') {
				s->ds = D_DOTCR;
				i++;
			} else if (c == '\n') {
				/* "." and a bare LF is a line of data. */
				emit(s, ".\r\n", 3);
				s->bare = 1;
				s->ds = D_BOLB;
				i++;
			} else {
				s->ds = D_MID;
				s->linelen = 0;
			}
			break;
		case D_DOTCR:
			if (c == '\n') {
				i++;
				trace(s, 1, ".", 1);
				message_end(s);
				return i;
			}
			/* "." and a bare CR: data too. */
			emit(s, ".\r\n", 3);
			s->bare = 1;
			s->ds = D_BOLB;
			break;
		case D_MID:
			if (c == '\r') {
				s->ds = D_CR;
				i++;
			} else if (c == '\n') {
				emit(s, "\r\n", 2);
				s->bare = 1;
				s->ds = D_BOLB;
				i++;
			} else
				i = data_run(s, p, i, len, &mcr, &mlf);
			break;
		case D_CR:
			emit(s, "\r\n", 2);
			if (c == '\n') {
				s->ds = D_BOL;
				i++;
			} else {
				s->ds = D_BOLB;
				s->bare = 1;
			}
			break;
		}
	}
	return i;
}

/* Path: "<addr>" (or "<>"), tolerating a space after the colon.  The
 * address goes to out; the rest (parameters) to *rest. */
static int
parse_path(const char *arg, const char *kw, char *out, size_t outlen,
    const char **rest, int allow_null)
{
	const char	*p, *gt;
	size_t		 n, kl = strlen(kw);
	int		 q;

	if (strncasecmp(arg, kw, kl) != 0)
		return -1;
	p = arg + kl;
	while (*p == ' ')
		p++;
	if (*p != '<')
		return -1;
	/* The closing '>', not one inside a quoted local part. */
	for (gt = p + 1, q = 0; *gt != '\0' && (q || *gt != '>'); gt++)
		if (q && *gt == '\\' && gt[1] != '\0')
			gt++;
		else if (*gt == '"')
			q = !q;
	if (*gt != '>')
		return -1;
	n = (size_t)(gt - p - 1);
	if (n == 0 && !allow_null)
		return -1;
	if (n >= outlen)
		return -2;
	memcpy(out, p + 1, n);
	out[n] = '\0';
	/* A source route "@a,@b:user@c" (RFC 5321 §4.1.1.3): the mailbox. */
	if (out[0] == '@') {
		char *colon = strchr(out, ':');

		if (colon == NULL || colon[1] == '\0')
			return -1;	/* a route needs a mailbox after it */
		memmove(out, colon + 1, strlen(colon + 1) + 1);
	}
	p = gt + 1;
	if (*p != '\0' && *p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	*rest = p;
	return 0;
}

/* The next "KEY[=VALUE]" of a parameter list; 0 at the end. */
static int
next_param(const char **pp, char *key, size_t klen, char *val, size_t vlen,
    int *hasval)
{
	const char	*p = *pp, *eq, *end;
	size_t		 n;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	end = p + strcspn(p, " ");
	eq = memchr(p, '=', (size_t)(end - p));
	n = (size_t)((eq != NULL ? eq : end) - p);
	if (n == 0 || n >= klen)
		return -1;
	memcpy(key, p, n);
	key[n] = '\0';
	*hasval = eq != NULL;
	val[0] = '\0';
	if (eq != NULL) {
		n = (size_t)(end - eq - 1);
		if (n == 0 || n >= vlen)
			return -1;
		memcpy(val, eq + 1, n);
		val[n] = '\0';
	}
	*pp = end;
	return 1;
}

/* Is this an xtext (RFC 3461 §4)? */
static int
is_xtext(const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '+') {
			if (!isxdigit((unsigned char)v[1]) ||
			    !isxdigit((unsigned char)v[2]))
				return 0;
			v += 2;
		} else if ((unsigned char)*v < 33 || (unsigned char)*v > 126 ||
		    *v == '=')
			return 0;
	}
	return 1;
}

/* NOTIFY=NEVER, or a list of SUCCESS, FAILURE, DELAY, each once. */
static int
notify_ok(const char *v)
{
	static const char *const kw[] = { "SUCCESS", "FAILURE", "DELAY" };
	unsigned	seen = 0;
	size_t		n, k;

	if (strcasecmp(v, "NEVER") == 0)
		return 1;
	for (;;) {
		n = strcspn(v, ",");
		for (k = 0; k < 3; k++)
			if (strlen(kw[k]) == n && strncasecmp(v, kw[k], n) == 0)
				break;
		if (k == 3 || (seen & (1U << k)))
			return 0;
		seen |= 1U << k;
		if (v[n] == '\0')
			return 1;
		v += n + 1;
	}
}

/* ORCPT=addr-type;xtext, addr-type an atom (RFC 3461 §4.2). */
static int
orcpt_ok(const char *v)
{
	const char	*semi = strchr(v, ';'), *p;

	if (semi == NULL || semi == v || semi[1] == '\0' ||
	    !is_xtext(semi + 1))
		return 0;
	for (p = v; p < semi; p++)
		if (!isalnum((unsigned char)*p) &&
		    strchr("!#$%&'*+-/=?^_`{|}~", *p) == NULL)
			return 0;
	return 1;
}

static int
ret_ok(const char *v)
{
	return strcasecmp(v, "FULL") == 0 || strcasecmp(v, "HDRS") == 0;
}

/* ENVID=xtext of at most 100 characters (RFC 3461 §4.4). */
static int
envid_ok(const char *v)
{
	return is_xtext(v) && strlen(v) <= 100;
}

/*
 * A DSN parameter named name into *slot: given once, with a value that
 * ok() takes.  0, or -1 when refused (replied: 501, or 451 without
 * memory).
 */
static int
dsn_param(struct mxk_smtpd *s, char **slot, const char *name,
    const char *val, int hv, int (*ok)(const char *))
{
	if (*slot != NULL || !hv || !ok(val)) {
		reply(s, 501, "5.5.4", "Error: bad %s parameter syntax", name);
		return -1;
	}
	if ((*slot = strdup(val)) == NULL) {
		reply(s, 451, "4.3.0", "Error: out of memory");
		return -1;
	}
	return 0;
}

static int
valid_mailbox(struct mxk_smtpd *s, const char *a, int *utf8)
{
	struct mxk_addr	ad;
	struct mxk_err	e;

	if (mxk_addr_parse_mailbox(&ad, a, strlen(a), 0, &e) == -1)
		return 0;
	*utf8 = ad.needs_smtputf8 || ad.utf8_domain;
	(void)s;
	return ad.local[0] != '\0';
}

/* Commands. */

static void
ehlo_reply(struct mxk_smtpd *s)
{
	char	line[512];

	(void)snprintf(line, sizeof(line), "250-%s Hello %s\r\n",
	    s->p.hostname, s->helo);
	out_add(s, line, strlen(line));
	if (!s->p.no_pipelining)
		out_add(s, "250-PIPELINING\r\n", 16);
	(void)snprintf(line, sizeof(line), "250-SIZE %llu\r\n", s->p.max_size);
	out_add(s, line, strlen(line));
	out_add(s, "250-8BITMIME\r\n", 14);
	if (!s->p.no_smtputf8)
		out_add(s, "250-SMTPUTF8\r\n", 14);
	if (!s->p.no_chunking) {
		out_add(s, "250-CHUNKING\r\n", 14);
		out_add(s, "250-BINARYMIME\r\n", 16);
	}
	if (!s->p.no_dsn)
		out_add(s, "250-DSN\r\n", 9);
	if (s->p.starttls && s->tls == NULL)
		out_add(s, "250-STARTTLS\r\n", 14);
	if (s->p.auth && (s->tls != NULL || s->p.auth_plaintext) &&
	    s->auth_user[0] == '\0')
		out_add(s, "250-AUTH PLAIN LOGIN\r\n", 22);
	out_add(s, "250 ENHANCEDSTATUSCODES\r\n", 25);
}

/*
 * The client's name, up to the first blank, with control characters made
 * '?': it goes back in the EHLO reply and into logs and Received fields.
 */
static void
helo_name(struct mxk_smtpd *s, const char *arg)
{
	size_t	n = strcspn(arg, " "), i;

	if (n >= sizeof(s->helo))
		n = sizeof(s->helo) - 1;
	memcpy(s->helo, arg, n);
	s->helo[n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)s->helo[i] < 32 || s->helo[i] == 127)
			s->helo[i] = '?';
}

static void
cmd_ehlo(struct mxk_smtpd *s, const char *arg, int more)
{
	if (*arg == '\0') {
		reply(s, 501, "5.5.4", "Syntax: %s hostname",
		    s->p.lmtp ? "LHLO" : "EHLO");
		bad_command(s);
		return;
	}
	txn_reset(s);
	helo_name(s, arg);
	s->esmtp = 1;
	s->state = S_READY;
	ehlo_reply(s);
}

static void
cmd_helo(struct mxk_smtpd *s, const char *arg, int more)
{
	if (*arg == '\0') {
		reply(s, 501, "5.5.4", "Syntax: HELO hostname");
		bad_command(s);
		return;
	}
	txn_reset(s);
	helo_name(s, arg);
	s->esmtp = 0;
	s->state = S_READY;
	reply(s, 250, NULL, "%s", s->p.hostname);
}

static void
cmd_mail(struct mxk_smtpd *s, const char *arg, int more)
{
	struct mxk_smtpd_reply	 r;
	char			 addr[MXK_ADDR_INPUTMAX], key[32], val[512];
	const char		*rest;
	int			 hv, utf8 = 0, pr;
	char			 body[16] = "7BIT";
	char			*ret = NULL, *envid = NULL;
	int			 smtputf8 = 0, seen_size = 0, seen_body = 0;
	int			 seen_auth = 0;

	if (s->state == S_MAIL) {
		reply(s, 503, "5.5.1", "Error: nested MAIL command");
		bad_command(s);
		return;
	}
	if (s->p.require_auth && s->auth_user[0] == '\0') {
		reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if ((pr = parse_path(arg, "FROM:", addr, sizeof(addr), &rest,
	    1)) == -2) {
		reply(s, 553, "5.1.7", "Error: sender address too long");
		return;
	}
	if (pr == -1) {
		reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		bad_command(s);
		return;
	}
	while ((pr = next_param(&rest, key, sizeof(key), val, sizeof(val),
	    &hv)) == 1) {
		/* RFC 1870 §5: 1*20DIGIT; any parameter at most once. */
		if (strcasecmp(key, "SIZE") == 0) {
			unsigned long long	 v;

			if (seen_size++ || !hv || strlen(val) > 20 ||
			    val[strspn(val, "0123456789")] != '\0') {
				reply(s, 501, "5.5.4", "Error: bad SIZE "
				    "parameter syntax");
				goto fail;
			}
			errno = 0;
			v = strtoull(val, NULL, 10);
			if (errno == ERANGE || v > s->p.max_size) {
				/* RFC 1870 §6.1: refused at once. */
				reply(s, 552, "5.3.4", "Error: message size "
				    "exceeds fixed limit %llu",
				    s->p.max_size);
				goto fail;
			}
		} else if (strcasecmp(key, "BODY") == 0) {
			size_t	k;

			if (seen_body++ || !hv ||
			    (strcasecmp(val, "7BIT") != 0 &&
			    strcasecmp(val, "8BITMIME") != 0 &&
			    (strcasecmp(val, "BINARYMIME") != 0 ||
			    s->p.no_chunking))) {
				reply(s, 501, "5.5.4", "Error: bad BODY "
				    "parameter");
				goto fail;
			}

			for (k = 0; val[k] != '\0' && k + 1 < sizeof(body);
			    k++)
				body[k] = (char)toupper((unsigned char)val[k]);
			body[k] = '\0';
		} else if (strcasecmp(key, "SMTPUTF8") == 0 &&
		    !s->p.no_smtputf8) {
			if (smtputf8 || hv) {
				reply(s, 501, "5.5.4", "Error: bad SMTPUTF8 "
				    "parameter");
				goto fail;
			}
			smtputf8 = 1;
		} else if (strcasecmp(key, "RET") == 0 && !s->p.no_dsn) {
			/* RFC 3461 §4.3, §4.4. */
			if (dsn_param(s, &ret, "RET", val, hv, ret_ok) == -1)
				goto fail;
		} else if (strcasecmp(key, "ENVID") == 0 && !s->p.no_dsn) {
			if (dsn_param(s, &envid, "ENVID", val, hv,
			    envid_ok) == -1)
				goto fail;
		} else if (strcasecmp(key, "AUTH") == 0) {
			/* RFC 4954 §5: accepted, not trusted. */
			if (seen_auth++ || !hv) {
				reply(s, 501, "5.5.4", "Error: bad AUTH "
				    "parameter");
				goto fail;
			}
		} else {
			reply(s, 555, "5.5.4", "Error: MAIL parameter %s not "
			    "recognized", key);
			goto fail;
		}
	}
	if (pr == -1) {
		reply(s, 501, "5.5.4", "Error: bad MAIL parameters");
		goto fail;
	}
	if (addr[0] != '\0' && !valid_mailbox(s, addr, &utf8)) {
		reply(s, 553, "5.1.7", "Error: bad sender address");
		goto fail;
	}
	if (utf8 && !smtputf8) {
		reply(s, 553, "5.6.7", "Error: non-ASCII address without "
		    "SMTPUTF8 (RFC 6531)");
		goto fail;
	}
	if (s->h.mail != NULL && s->h.mail(s->h.arg, s, addr, &r) == -1) {
		reply_r(s, &r);
		goto fail;
	}
	if ((s->from = strdup(addr)) == NULL)
		goto nomem;
	(void)snprintf(s->body, sizeof(s->body), "%s", body);
	s->smtputf8 = smtputf8;
	s->ret = ret;
	s->envid = envid;
	s->state = S_MAIL;
	reply(s, 250, "2.1.0", "Ok");
	return;
nomem:
	reply(s, 451, "4.3.0", "Error: out of memory");
fail:
	free(ret);
	free(envid);
}

/* Take the recipient rc (its strings are ours now), or refuse it: r. */
static void
rcpt_add(struct mxk_smtpd *s, struct mxk_smtpd_rcpt *rc,
    const struct mxk_smtpd_reply *r)
{
	struct mxk_smtpd_rcpt	*nv;

	if (r != NULL) {
		reply_r(s, r);
		goto drop;
	}
	if (s->nrcpt == s->rcptcap) {
		size_t cap = s->rcptcap > 0 ? 2 * s->rcptcap : 8;

		if ((nv = realloc(s->rcpt, cap * sizeof(*nv))) == NULL) {
			reply(s, 451, "4.3.0", "Error: out of memory");
			goto drop;
		}
		s->rcpt = nv;
		s->rcptcap = cap;
	}
	s->rcpt[s->nrcpt++] = *rc;
	reply(s, 250, "2.1.5", "Ok");
	return;
drop:
	free(rc->addr);
	free(rc->notify);
	free(rc->orcpt);
}

static void
cmd_rcpt(struct mxk_smtpd *s, const char *arg, int more)
{
	struct mxk_smtpd_reply	 r;
	struct mxk_smtpd_rcpt	 rc;
	char			 addr[MXK_ADDR_INPUTMAX], key[32], val[512];
	const char		*rest;
	int			 hv, utf8 = 0, pr;

	if (s->state != S_MAIL) {
		reply(s, 503, "5.5.1", "Error: need MAIL command");
		bad_command(s);
		return;
	}
	/* The message has begun, or a chunk failed (RFC 3030 §2: the
	 * transaction is then indeterminate, RSET ends it): no more
	 * recipients (Postfix too). */
	if (s->bdat_used || s->bdat_failed) {
		reply(s, 503, "5.5.1", "Error: RCPT after BDAT");
		bad_command(s);
		return;
	}
	memset(&rc, 0, sizeof(rc));
	if ((pr = parse_path(arg, "TO:", addr, sizeof(addr), &rest, 0)) ==
	    -2) {
		reply(s, 553, "5.1.3", "Error: recipient address too long");
		return;
	}
	if (pr == -1) {
		reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		bad_command(s);
		return;
	}
	while ((pr = next_param(&rest, key, sizeof(key), val, sizeof(val),
	    &hv)) == 1) {
		/* RFC 3461 §4.1, §4.2; each at most once. */
		if (strcasecmp(key, "NOTIFY") == 0 && !s->p.no_dsn) {
			if (dsn_param(s, &rc.notify, "NOTIFY", val, hv,
			    notify_ok) == -1)
				goto fail;
		} else if (strcasecmp(key, "ORCPT") == 0 && !s->p.no_dsn) {
			if (dsn_param(s, &rc.orcpt, "ORCPT", val, hv,
			    orcpt_ok) == -1)
				goto fail;
		} else {
			reply(s, 555, "5.5.4", "Error: RCPT parameter %s not "
			    "recognized", key);
			goto fail;
		}
	}
	if (pr == -1) {
		reply(s, 501, "5.5.4", "Error: bad RCPT parameters");
		goto fail;
	}
	/*
	 * RFC 5321 §4.1.1.3, §4.5.1: "<Postmaster>" without a domain is
	 * always taken, as the postmaster of this host (Postfix appends
	 * $myorigin).
	 */
	if (strcasecmp(addr, "postmaster") == 0 &&
	    (size_t)snprintf(addr + 10, sizeof(addr) - 10, "@%s",
	    s->p.hostname) >= sizeof(addr) - 10)
		addr[10] = '\0';	/* a name too long: refused below */
	if (!valid_mailbox(s, addr, &utf8)) {
		reply(s, 553, "5.1.3", "Error: bad recipient address");
		goto fail;
	}
	if (utf8 && !s->smtputf8) {
		reply(s, 553, "5.6.7", "Error: non-ASCII address without "
		    "SMTPUTF8 (RFC 6531)");
		goto fail;
	}
	if (s->nrcpt >= s->p.max_rcpt) {
		reply(s, 452, "4.5.3", "Error: too many recipients");
		goto fail;
	}
	if ((rc.addr = strdup(addr)) == NULL)
		goto nomem;
	memset(&r, 0, sizeof(r));
	switch (s->h.rcpt != NULL ? s->h.rcpt(s->h.arg, s, addr, &r) : 0) {
	case 0:
		rcpt_add(s, &rc, NULL);
		return;
	case MXK_SMTPD_PENDING:
		/* The rest of the input waits (mxk_smtpd_feed()). */
		s->pend = rc;
		s->paused = P_RCPT;
		return;
	default:
		rcpt_add(s, &rc, &r);
		return;
	}
nomem:
	reply(s, 451, "4.3.0", "Error: out of memory");
fail:
	free(rc.notify);
	free(rc.orcpt);
}

static void
start_message(struct mxk_smtpd *s, struct mxk_smtpd_reply *r, int *ok)
{
	*ok = 1;
	s->size = 0;
	s->toobig = s->toolong = s->bare = 0;
	s->nstage = 0;
	s->ds = D_BOL;
	s->linelen = 0;
	if (s->h.data_begin != NULL && s->h.data_begin(s->h.arg, s, r) == -1)
		*ok = 0;
	else
		s->in_message = 1;
}

/*
 * RFC 2920 §3.1: DATA ends a group; a client that sent its message without
 * waiting for 354 would now have its lines read as commands.  Nothing
 * after a refused DATA can be trusted.
 */
static void
data_refused(struct mxk_smtpd *s, int more)
{
	if (more && s->state != S_CLOSED) {
		reply(s, 421, "4.5.0", "%s Error: improper pipelining after "
		    "DATA", s->p.hostname);
		s->closing = 1;
		s->state = S_CLOSED;
	}
}

static void
cmd_data(struct mxk_smtpd *s, const char *arg, int more)
{
	struct mxk_smtpd_reply	r;
	int			ok;

	if (*arg != '\0') {
		reply(s, 501, "5.5.4", "Syntax: DATA");
		bad_command(s);
		goto refused;
	}
	if (s->state != S_MAIL) {
		reply(s, 503, "5.5.1", "Error: need MAIL command");
		bad_command(s);
		goto refused;
	}
	if (s->nrcpt == 0) {
		/* RFC 2033 §4.2: 503 in LMTP. */
		reply(s, s->p.lmtp ? 503 : 554, "5.5.1",
		    "Error: no valid recipients");
		goto refused;
	}
	if (s->bdat_used) {
		reply(s, 503, "5.5.1", "Error: DATA after BDAT");
		goto refused;
	}
	if (strcmp(s->body, "BINARYMIME") == 0) {
		/* RFC 3030 §3. */
		reply(s, 503, "5.5.1", "Error: BINARYMIME needs BDAT");
		goto refused;
	}
	start_message(s, &r, &ok);
	if (!ok) {
		reply_r(s, &r);
		goto refused;
	}
	s->data_used = 1;
	s->state = S_DATA;
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	return;
refused:
	data_refused(s, more);
}

static void	bdat_done(struct mxk_smtpd *);

static void
cmd_bdat(struct mxk_smtpd *s, const char *arg, int more)
{
	char			*end;
	unsigned long long	 n;
	struct mxk_smtpd_reply	 r;
	size_t			 k;
	int			 ok;

	if (s->p.no_chunking) {
		reply(s, 502, "5.5.1", "Error: BDAT not offered");
		bad_command(s);
		/* Its octets cannot be told from commands: close. */
		s->closing = 1;
		s->state = S_CLOSED;
		return;
	}
	if (!isdigit((unsigned char)*arg)) {
		reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		s->closing = 1;
		s->state = S_CLOSED;
		return;
	}
	errno = 0;
	n = strtoull(arg, &end, 10);
	k = (size_t)(end - arg);
	while (*end == ' ')
		end++;
	if (k > 20 || errno == ERANGE ||
	    (*end != '\0' && strcasecmp(end, "LAST") != 0)) {
		reply(s, 501, "5.5.4", "Syntax: BDAT size [LAST]");
		s->closing = 1;
		s->state = S_CLOSED;
		return;
	}
	s->bdat_left = n;
	s->bdat_last = *end != '\0';
	if (s->bdat_forced) {
		/* Refused by the command hook: read the chunk, then say so. */
		s->bdat_forced = 0;
		s->bdat_failed = 1;
		s->bdat_err = s->forced;
	} else if (s->state != S_MAIL || s->nrcpt == 0 || s->data_used) {
		/* RFC 3030 §2: the chunk is read anyway, then refused. */
		s->bdat_failed = 1;
		set_reply(&s->bdat_err, 503, "5.5.1", s->nrcpt == 0 &&
		    s->state == S_MAIL ? "Error: no valid recipients" :
		    "Error: need MAIL and RCPT commands");
	} else if (!s->bdat_used) {
		start_message(s, &r, &ok);
		s->bdat_used = 1;
		if (!ok) {
			s->bdat_failed = 1;
			s->bdat_err = r;
		}
	}
	s->state = S_BDAT;
	/*
	 * An empty chunk is complete now: nothing more may come, so waiting
	 * for input would stall a client that sent "BDAT 0 LAST" as its
	 * last bytes (smtpsend does, for an empty message).
	 */
	if (n == 0)
		bdat_done(s);
}

/* A BDAT chunk has been read. */
static void
bdat_done(struct mxk_smtpd *s)
{
	if (s->bdat_failed) {
		reply_r(s, &s->bdat_err);
		if (!s->from) {
			s->state = s->helo[0] != '\0' ? S_READY : S_GREETED;
			s->bdat_failed = 0;
		} else
			s->state = S_MAIL;
		if (s->bdat_last && s->from != NULL) {
			txn_reset(s);
			s->state = S_READY;
		}
		return;
	}
	if (s->bdat_last) {
		message_end(s);
		return;
	}
	s->state = S_MAIL;
	stage_flush(s);
	/* RFC 3030 §2: 250 for a chunk taken; the message is refused at
	 * LAST as well (message_end()). */
	if (s->toobig)
		reply(s, 552, "5.3.4", "Error: message too big");
	else
		reply(s, 250, "2.0.0", "%llu octets received", s->size);
}

static void
cmd_rset(struct mxk_smtpd *s, const char *arg, int more)
{
	if (*arg != '\0') {
		reply(s, 501, "5.5.4", "Syntax: RSET");
		bad_command(s);
		return;
	}
	txn_reset(s);
	if (s->state != S_GREETED)
		s->state = S_READY;
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct mxk_smtpd *s, const char *arg, int more)
{
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_vrfy(struct mxk_smtpd *s, const char *arg, int more)
{
	if (*arg == '\0') {
		reply(s, 501, "5.5.4", "Syntax: VRFY address");
		bad_command(s);
		return;
	}
	reply(s, 252, "2.5.2", "Cannot VRFY user; try RCPT");
}

static void
cmd_help(struct mxk_smtpd *s, const char *arg, int more)
{
	reply(s, 214, "2.0.0", "See RFC 5321: EHLO MAIL RCPT DATA BDAT RSET "
	    "NOOP QUIT");
}

static void
cmd_quit(struct mxk_smtpd *s, const char *arg, int more)
{
	txn_reset(s);
	reply(s, 221, "2.0.0", "%s Bye", s->p.hostname);
	s->closing = 1;
	s->state = S_CLOSED;
}

static void
cmd_starttls(struct mxk_smtpd *s, const char *arg, int more)
{
	if (s->p.starttls && s->tls != NULL) {
		reply(s, 554, "5.5.1", "Error: TLS already active");
		bad_command(s);
		return;
	}
	if (!s->p.starttls) {
		reply(s, 502, "5.5.1", "Error: STARTTLS not available");
		bad_command(s);
		return;
	}
	if (*arg != '\0') {
		reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		bad_command(s);
		return;
	}
	txn_reset(s);
	reply(s, 220, "2.0.0", "Ready to start TLS");
	s->tls_pending = 1;
}

static void	auth_result(struct mxk_smtpd *, const char *, int);

static void
auth_check(struct mxk_smtpd *s, const char *user, const char *pass)
{
	const unsigned char	*u;
	int			 ok;

	/*
	 * A user name with control characters is no user of a passwd file
	 * and would reach the logs as it is (a forged log line after a
	 * LF): refused like wrong credentials, without asking the hook.
	 */
	for (u = (const unsigned char *)user; *u != '\0'; u++)
		if (*u < 32 || *u == 127)
			break;
	ok = *u != '\0' ? 0 : s->h.auth != NULL ? s->h.auth(s->h.arg, s, user,
	    pass) : 0;

	s->state = S_READY;
	if (ok == MXK_SMTPD_AUTH_PENDING) {
		/* The rest of the input waits (mxk_smtpd_auth_done()). */
		(void)snprintf(s->pend_user, sizeof(s->pend_user), "%s", user);
		s->paused = P_AUTH;
		return;
	}
	auth_result(s, user, ok);
}

static void
auth_result(struct mxk_smtpd *s, const char *user, int ok)
{
	if (ok == 1) {
		(void)snprintf(s->auth_user, sizeof(s->auth_user), "%s", user);
		reply(s, 235, "2.7.0", "Authentication successful");
	} else if (ok == -1)
		reply(s, 454, "4.7.0", "Temporary authentication failure");
	else if (ok == MXK_SMTPD_AUTH_LIMITED) {
		reply(s, 454, "4.7.0",
		    "Too many failed authentications, try again later");
		bad_command(s);	/* a session that keeps trying is closed */
	}
	else {
		reply(s, 535, "5.7.8", "Authentication credentials invalid");
		bad_command(s);
	}
}

static void
auth_plain(struct mxk_smtpd *s, const char *b64)
{
	unsigned char	raw[1024];
	const char	*user, *pass;
	ssize_t		n;
	size_t		z1, z2;

	if ((n = mxk_b64_decode(b64, strlen(b64), raw,
	    sizeof(raw) - 1)) == -1) {
		reply(s, 501, "5.5.2", "Error: bad base64");
		s->state = S_READY;
		bad_command(s);
		return;
	}
	raw[n] = '\0';
	/* RFC 4616: [authzid] NUL authcid NUL passwd. */
	z1 = strnlen((char *)raw, (size_t)n);
	if (z1 >= (size_t)n) {
		reply(s, 501, "5.5.2", "Error: malformed PLAIN response");
		s->state = S_READY;
		explicit_bzero(raw, sizeof(raw));
		return;
	}
	user = (char *)raw + z1 + 1;
	z2 = strnlen(user, (size_t)n - z1 - 1);
	if (z1 + 1 + z2 >= (size_t)n) {
		reply(s, 501, "5.5.2", "Error: malformed PLAIN response");
		s->state = S_READY;
		explicit_bzero(raw, sizeof(raw));
		return;
	}
	pass = user + z2 + 1;
	/* RFC 4616 §2: acting as another identity is not offered. */
	if (z1 > 0 && strcmp((char *)raw, user) != 0) {
		s->state = S_READY;
		explicit_bzero(raw, sizeof(raw));
		reply(s, 535, "5.7.8", "Error: authorization identity "
		    "refused");
		bad_command(s);
		return;
	}
	auth_check(s, user, pass);
	explicit_bzero(raw, sizeof(raw));
}

static void
cmd_auth(struct mxk_smtpd *s, const char *arg, int more)
{
	const char	*sp;
	char		 mech[32];
	size_t		 n;

	if (!s->p.auth || !s->esmtp) {
		reply(s, 502, "5.5.1", "Error: AUTH not available");
		bad_command(s);
		return;
	}
	if (s->tls == NULL && !s->p.auth_plaintext) {
		reply(s, 538, "5.7.11", "Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (s->auth_user[0] != '\0') {
		reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->state == S_MAIL) {
		reply(s, 503, "5.5.1", "Error: AUTH not during a transaction");
		return;
	}
	n = strcspn(arg, " ");
	if (n == 0 || n >= sizeof(mech)) {
		reply(s, 501, "5.5.4", "Syntax: AUTH mechanism");
		bad_command(s);
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	sp = arg[n] == ' ' ? arg + n + 1 : NULL;
	if (strcasecmp(mech, "PLAIN") == 0) {
		/* RFC 4954 §4: "=" is an empty initial response. */
		if (sp != NULL)
			auth_plain(s, strcmp(sp, "=") == 0 ? "" : sp);
		else {
			s->state = S_AUTH_PLAIN;
			out_add(s, "334 \r\n", 6);
		}
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		if (sp != NULL) {
			unsigned char	u[256];
			const char	*b = strcmp(sp, "=") == 0 ? "" : sp;
			ssize_t		k = mxk_b64_decode(b, strlen(b), u,
				    sizeof(u) - 1);

			if (k == -1) {
				reply(s, 501, "5.5.2", "Error: bad base64");
				return;
			}
			u[k] = '\0';
			(void)snprintf(s->login_user, sizeof(s->login_user),
			    "%s", (char *)u);
			s->state = S_AUTH_PASS;
			out_add(s, "334 UGFzc3dvcmQ6\r\n", 18);
		} else {
			s->state = S_AUTH_USER;
			out_add(s, "334 VXNlcm5hbWU6\r\n", 18);
		}
	} else {
		reply(s, 504, "5.5.4", "Error: unrecognized authentication "
		    "type");
	}
}

/* A line of an AUTH exchange (RFC 4954 §4). */
static void
auth_line(struct mxk_smtpd *s, const char *line)
{
	unsigned char	buf[512];
	ssize_t		n;

	if (strcmp(line, "*") == 0) {
		s->state = S_READY;
		reply(s, 501, "5.7.0", "Authentication aborted");
		return;
	}
	switch (s->state) {
	case S_AUTH_PLAIN:
		auth_plain(s, line);
		break;
	case S_AUTH_USER:
		if ((n = mxk_b64_decode(line, strlen(line), buf,
		    sizeof(s->login_user) - 1)) == -1) {
			s->state = S_READY;
			reply(s, 501, "5.5.2", "Error: bad base64");
			return;
		}
		buf[n] = '\0';
		memcpy(s->login_user, buf, (size_t)n + 1);
		s->state = S_AUTH_PASS;
		out_add(s, "334 UGFzc3dvcmQ6\r\n", 18);
		break;
	case S_AUTH_PASS:
		if ((n = mxk_b64_decode(line, strlen(line), buf,
		    sizeof(buf) - 1)) == -1) {
			s->state = S_READY;
			reply(s, 501, "5.5.2", "Error: bad base64");
			return;
		}
		buf[n] = '\0';
		auth_check(s, s->login_user, (char *)buf);
		explicit_bzero(buf, sizeof(buf));
		explicit_bzero(s->login_user, sizeof(s->login_user));
		break;
	default:
		break;
	}
}

static const struct cmd smtp_cmds[] = {
	{ "EHLO", 0, cmd_ehlo },
	{ "HELO", 0, cmd_helo },
	{ "MAIL", NEEDS_HELO | NEEDS_TLS | CONTINUES, cmd_mail },
	{ "RCPT", NEEDS_HELO | NEEDS_TLS | CONTINUES, cmd_rcpt },
	{ "DATA", NEEDS_HELO | NEEDS_TLS, cmd_data },
	{ "BDAT", NEEDS_HELO | NEEDS_TLS, cmd_bdat },
	{ "RSET", CONTINUES, cmd_rset },
	{ "NOOP", 0, cmd_noop },
	{ "QUIT", 0, cmd_quit },
	{ "VRFY", 0, cmd_vrfy },
	{ "HELP", 0, cmd_help },
	{ "STARTTLS", NEEDS_HELO | NOT_IN_TXN, cmd_starttls },
	{ "AUTH", NEEDS_HELO | NOT_IN_TXN, cmd_auth },
	{ NULL, 0, NULL }
};

static const struct cmd lhlo_cmd = { "LHLO", 0, cmd_ehlo };

/* The command hook answered r instead of carrying out c. */
static void
refused_by_hook(struct mxk_smtpd *s, const struct cmd *c, const char *arg,
    const struct mxk_smtpd_reply *r, int more)
{
	if (c->proceed == cmd_bdat && !s->p.no_chunking) {
		/* The chunk follows the command: read it, then answer r. */
		s->bdat_forced = 1;
		s->forced = *r;
		cmd_bdat(s, arg, more);
		s->bdat_forced = 0;	/* unless a syntax error closed */
		return;
	}
	reply_r(s, r);
	if (c->proceed == cmd_data)
		data_refused(s, more);
}

static void
command(struct mxk_smtpd *s, char *line, int more)
{
	const struct cmd	*c;
	char			*arg;
	size_t			 n;

	n = strcspn(line, " ");
	arg = line + n;
	while (*arg == ' ')
		arg++;
	/* Trailing spaces are tolerated (RFC 5321 §4.1.1 asks for none). */
	while (*arg != '\0' && arg[strlen(arg) - 1] == ' ')
		arg[strlen(arg) - 1] = '\0';
	for (c = smtp_cmds; c->name != NULL; c++)
		if (strlen(c->name) == n && strncasecmp(line, c->name, n) == 0)
			break;
	if (c->name != NULL && s->p.lmtp &&
	    (c->proceed == cmd_ehlo || c->proceed == cmd_helo))
		c = NULL;
	if ((c == NULL || c->name == NULL) && s->p.lmtp && n == 4 &&
	    strncasecmp(line, "LHLO", 4) == 0)
		c = &lhlo_cmd;
	if (c == NULL || c->name == NULL) {
		reply(s, 500, "5.5.2", "Error: command not recognized");
		bad_command(s);
		return;
	}
	if (s->h.command != NULL) {
		struct mxk_smtpd_reply	r;

		memset(&r, 0, sizeof(r));
		if (s->h.command(s->h.arg, s, c->name, arg, &r) == -1 &&
		    !s->dropped) {
			if (r.code < 400 || r.code > 599)
				set_reply(&r, 451, "4.3.0", "Error: refused");
			refused_by_hook(s, c, arg, &r, more);
			return;
		}
		if (s->dropped)
			return;
	}
	if (s->noservice && c->proceed != cmd_quit) {
		/* RFC 5321 §3.1: after a 554 greeting, only QUIT. */
		reply(s, 503, "5.5.1", "Error: no service here; see the "
		    "greeting");
		bad_command(s);
		if (c->proceed == cmd_bdat || c->proceed == cmd_data)
			data_refused(s, more);
		if (c->proceed == cmd_bdat) {
			s->closing = 1;
			s->state = S_CLOSED;
		}
		return;
	}
	if ((c->flags & NEEDS_HELO) && s->state == S_GREETED) {
		if (c->proceed == cmd_bdat && s->p.no_chunking) {
			cmd_bdat(s, arg, more);	/* 502, and closed */
			return;
		}
		if (c->proceed == cmd_bdat) {
			/* RFC 3030 §2: its chunk is read, then refused. */
			struct mxk_smtpd_reply	r;

			set_reply(&r, 503, "5.5.1", s->p.lmtp ?
			    "Error: send LHLO first" :
			    "Error: send HELO/EHLO first");
			/* Not counted as a bad command, like a BDAT outside
			 * a transaction: a 421 now would cut the chunk. */
			refused_by_hook(s, c, arg, &r, more);
			return;
		}
		reply(s, 503, "5.5.1", "Error: send %s first", s->p.lmtp ?
		    "LHLO" : "HELO/EHLO");
		bad_command(s);
		if (c->proceed == cmd_data || c->proceed == cmd_bdat)
			data_refused(s, more);
		return;
	}
	if ((c->flags & NOT_IN_TXN) && s->state == S_MAIL) {
		reply(s, 503, "5.5.1", "Error: not during a transaction");
		bad_command(s);
		return;
	}
	if ((c->flags & NEEDS_TLS) && s->p.require_tls && s->tls == NULL) {
		reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		if (c->proceed == cmd_bdat) {
			s->closing = 1;
			s->state = S_CLOSED;
		}
		return;
	}
	c->proceed(s, arg, more);
}

/* One complete line (CRLF or LF removed) outside the message. */
static void
line_in(struct mxk_smtpd *s, char *line, size_t len, int more)
{
	if (memchr(line, '\0', len) != NULL) {
		trace(s, 1, "(a line with NUL)", 17);
		reply(s, 500, "5.5.2", "Error: NUL in command");
		if (s->state == S_AUTH_PLAIN || s->state == S_AUTH_USER ||
		    s->state == S_AUTH_PASS)
			s->state = S_READY;
		bad_command(s);
		return;
	}
	if (s->state == S_AUTH_PLAIN || s->state == S_AUTH_USER ||
	    s->state == S_AUTH_PASS) {
		trace(s, 1, "********", 8);
		auth_line(s, line);
		return;
	}
	if (len >= 5 && strncasecmp(line, "AUTH ", 5) == 0) {
		size_t k = 5 + strcspn(line + 5, " ");

		trace(s, 1, line, k);
	} else
		trace(s, 1, line, len);
	command(s, line, more);
}

int
mxk_smtpd_feed(struct mxk_smtpd *s, const char *p, size_t len)
{
	const char	*lf;
	size_t		 i = 0, n, k;

	if (s->state == S_CLOSED)
		return MXK_SMTPD_CLOSE;
	if (s->state == S_INIT && len > 0) {
		/* Talking before the greeting (only when it is delayed). */
		reply(s, 554, "5.5.1", "%s Error: talking before the "
		    "greeting", s->p.hostname);
		s->closing = 1;
		s->state = S_CLOSED;
		return MXK_SMTPD_CLOSE;
	}
	if (s->paused) {
		/* Fed while a RCPT waits: kept, within bounds. */
		if (mxk_buf_add(&s->held, p, len) == -1) {
			pause_clear(s);
			s->closing = 1;
			s->state = S_CLOSED;
			return MXK_SMTPD_CLOSE;
		}
		return MXK_SMTPD_PAUSE;
	}
	while (i < len && !s->closing && !s->tls_pending && !s->paused) {
		if (s->state == S_DATA) {
			i += data_bytes(s, p + i, len - i);
			continue;
		}
		if (s->state == S_BDAT) {
			k = len - i;
			if ((unsigned long long)k > s->bdat_left)
				k = (size_t)s->bdat_left;
			if (!s->bdat_failed)
				emit(s, p + i, k);
			s->bdat_left -= k;
			i += k;
			if (s->bdat_left == 0)
				bdat_done(s);
			continue;
		}
		lf = memchr(p + i, '\n', len - i);
		n = lf != NULL ? (size_t)(lf - (p + i)) + 1 : len - i;
		if (s->skipping) {
			if (lf != NULL)
				s->skipping = 0;
			i += n;
			continue;
		}
		if (s->line.len + n > s->p.max_line) {
			/* Past the limit: refused, the rest skipped. */
			mxk_buf_reset(&s->line);
			s->skipping = lf == NULL;
			i += n;
			reply(s, 500, "5.5.2", "Error: line too long");
			bad_command(s);
			continue;
		}
		if (mxk_buf_add(&s->line, p + i, n) == -1) {
			s->closing = 1;
			break;
		}
		i += n;
		if (lf == NULL)
			break;
		{
			char	*l = s->line.p;
			size_t	 ll = s->line.len - 1;

			if (ll > 0 && l[ll - 1] == '\r')
				ll--;
			l[ll] = '\0';
			line_in(s, l, ll, i < len);
		}
		mxk_buf_reset(&s->line);
	}
	/* A message octet pending at the end of a feed: to the hook now,
	 * so the store keeps up. */
	if (s->state == S_DATA || s->state == S_BDAT)
		stage_flush(s);
	if (s->closing) {
		pause_clear(s);
		s->state = S_CLOSED;
		return MXK_SMTPD_CLOSE;
	}
	if (s->paused) {
		/* The rest waits for mxk_smtpd_resume*(). */
		if (i < len && mxk_buf_add(&s->held, p + i, len - i) == -1) {
			pause_clear(s);
			s->closing = 1;
			s->state = S_CLOSED;
			return MXK_SMTPD_CLOSE;
		}
		return MXK_SMTPD_PAUSE;
	}
	if (s->tls_pending) {
		/* RFC 3207 §6: what followed STARTTLS is dropped. */
		mxk_buf_reset(&s->line);
		s->tls_pending = 0;
		return MXK_SMTPD_STARTTLS;
	}
	return MXK_SMTPD_CONTINUE;
}

/* What was kept while paused is fed now; it may pause again and keep the
 * rest.  wipe: clear the copy before it is freed. */
static int
feed_held(struct mxk_smtpd *s, int wipe)
{
	struct mxk_buf	in;
	int		rc;

	in = s->held;
	mxk_buf_init(&s->held, HELDMAX);
	rc = mxk_smtpd_feed(s, in.p != NULL ? in.p : "", in.len);
	if (wipe)
		mxk_buf_wipe(&in);
	else
		mxk_buf_free(&in);
	return rc;
}

int
mxk_smtpd_resume(struct mxk_smtpd *s, const struct mxk_smtpd_reply *r)
{
	if (s->paused != P_RCPT)
		return s->state == S_CLOSED ? MXK_SMTPD_CLOSE :
		    MXK_SMTPD_CONTINUE;
	s->paused = P_NONE;
	rcpt_add(s, &s->pend, r);
	memset(&s->pend, 0, sizeof(s->pend));
	return feed_held(s, 0);
}

void
mxk_smtpd_defer(struct mxk_smtpd *s)
{
	s->deferring = 1;
}

int
mxk_smtpd_resume_message(struct mxk_smtpd *s, const struct mxk_smtpd_reply *r,
    size_t n)
{
	size_t	i;

	if (s->paused != P_MESSAGE)
		return s->state == S_CLOSED ? MXK_SMTPD_CLOSE :
		    MXK_SMTPD_CONTINUE;
	s->paused = P_NONE;
	for (i = 0; i < s->pend_n; i++) {
		if (i < n)
			reply_r(s, &r[i]);
		else
			reply(s, 451, "4.3.0", "Error: not stored");
	}
	txn_reset(s);
	s->state = S_READY;
	return feed_held(s, 0);
}

int
mxk_smtpd_auth_done(struct mxk_smtpd *s, int ok)
{
	if (s->paused != P_AUTH)
		return s->state == S_CLOSED ? MXK_SMTPD_CLOSE :
		    MXK_SMTPD_CONTINUE;
	s->paused = P_NONE;
	auth_result(s, s->pend_user, ok);
	explicit_bzero(s->pend_user, sizeof(s->pend_user));
	if (s->closing)
		return MXK_SMTPD_CLOSE;
	return feed_held(s, 1);	/* it may hold more credentials */
}

int
mxk_smtpd_paused(const struct mxk_smtpd *s)
{
	return s->paused != P_NONE;
}

size_t
mxk_smtpd_held(const struct mxk_smtpd *s)
{
	return s->paused != P_NONE ? s->held.len : 0;
}

void
mxk_smtpd_drop(struct mxk_smtpd *s)
{
	trace(s, 0, "(dropped without a reply)", 25);
	s->dropped = 1;
	s->closing = 1;
}

/* A pending RCPT and the input kept behind it go away. */
static void
pause_clear(struct mxk_smtpd *s)
{
	if (s->paused == P_NONE)
		return;
	if (s->paused == P_AUTH && s->held.p != NULL)
		explicit_bzero(s->held.p, s->held.cap);
	s->paused = P_NONE;
	explicit_bzero(s->pend_user, sizeof(s->pend_user));
	free(s->pend.addr);
	free(s->pend.notify);
	free(s->pend.orcpt);
	memset(&s->pend, 0, sizeof(s->pend));
	mxk_buf_reset(&s->held);
}

struct mxk_smtpd *
mxk_smtpd_new(const struct mxk_smtpd_params *p, const struct mxk_smtpd_hooks *h)
{
	struct mxk_smtpd	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->p = *p;
	if (s->p.hostname == NULL)
		s->p.hostname = "localhost";
	if (s->p.max_line == 0)
		s->p.max_line = 2048;
	if (s->p.max_size == 0)
		s->p.max_size = 30ULL * 1024 * 1024;
	if (s->p.max_rcpt == 0)
		s->p.max_rcpt = 100;
	if (s->p.max_errors <= 0)
		s->p.max_errors = 10;
	if (h != NULL)
		s->h = *h;
	mxk_buf_init(&s->line, s->p.max_line);
	mxk_buf_init(&s->out, OUTMAX);
	mxk_buf_init(&s->held, HELDMAX);
	(void)snprintf(s->body, sizeof(s->body), "7BIT");
	return s;
}

void
mxk_smtpd_free(struct mxk_smtpd *s)
{
	if (s == NULL)
		return;
	pause_clear(s);
	txn_reset(s);
	free(s->rcpt);
	free(s->tls);
	free(s->stage);
	mxk_buf_wipe(&s->held);
	mxk_buf_wipe(&s->line);
	mxk_buf_free(&s->out);
	explicit_bzero(s->login_user, sizeof(s->login_user));
	free(s);
}

void
mxk_smtpd_greet(struct mxk_smtpd *s)
{
	if (s->state != S_INIT)
		return;
	s->state = S_GREETED;
	{
		char	line[300];
		int	n = snprintf(line, sizeof(line), "220 %.250s ESMTP%s\r\n",
			    s->p.hostname, s->p.lmtp ? " LMTP" : "");

		out_add(s, line, (size_t)n);
	}
}

int
mxk_smtpd_greet_refuse(struct mxk_smtpd *s, const struct mxk_smtpd_reply *r)
{
	struct mxk_smtpd_reply	d;

	if (s->state != S_INIT)
		return s->state == S_CLOSED ? MXK_SMTPD_CLOSE :
		    MXK_SMTPD_CONTINUE;
	if (r == NULL || (r->code != 421 && (r->code < 500 || r->code > 599))) {
		set_reply(&d, 554, "5.3.2", "Error: no service");
		r = &d;
	}
	s->state = S_GREETED;
	reply_r(s, r);
	if (r->code == 421) {
		s->state = S_CLOSED;
		return MXK_SMTPD_CLOSE;
	}
	s->noservice = 1;
	return MXK_SMTPD_CONTINUE;
}

const char *
mxk_smtpd_output(const struct mxk_smtpd *s, size_t *len)
{
	*len = s->out.len;
	return s->out.p != NULL ? s->out.p : "";
}

void
mxk_smtpd_consume(struct mxk_smtpd *s, size_t n)
{
	mxk_buf_consume(&s->out, n);
}

void
mxk_smtpd_tls_done(struct mxk_smtpd *s, const char *desc)
{
	/* RFC 3207 §4.2: the client must say EHLO again. */
	txn_reset(s);
	free(s->tls);
	s->tls = strdup(desc != NULL ? desc : "TLS");
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->auth_user[0] = '\0';
	mxk_buf_reset(&s->line);
	s->skipping = 0;
	s->state = S_GREETED;
}

int
mxk_smtpd_timeout(struct mxk_smtpd *s)
{
	pause_clear(s);
	txn_reset(s);
	reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->p.hostname);
	s->closing = 1;
	s->state = S_CLOSED;
	return MXK_SMTPD_CLOSE;
}

int
mxk_smtpd_shutdown(struct mxk_smtpd *s)
{
	pause_clear(s);
	txn_reset(s);
	reply(s, 421, "4.3.2", "%s Service shutting down", s->p.hostname);
	s->closing = 1;
	s->state = S_CLOSED;
	return MXK_SMTPD_CLOSE;
}

int
mxk_smtpd_in_data(const struct mxk_smtpd *s)
{
	/* Not a refused chunk being read: nothing is at stake there, so
	 * its bytes keep no session alive and hold no shutdown. */
	return s->state == S_DATA || (s->state == S_BDAT && !s->bdat_failed) ||
	    s->in_message || s->paused == P_MESSAGE;
}

const char *
mxk_smtpd_helo(const struct mxk_smtpd *s)
{
	return s->helo;
}

int
mxk_smtpd_esmtp(const struct mxk_smtpd *s)
{
	return s->esmtp;
}

const char *
mxk_smtpd_tls(const struct mxk_smtpd *s)
{
	return s->tls;
}

const char *
mxk_smtpd_auth_user(const struct mxk_smtpd *s)
{
	return s->auth_user[0] != '\0' ? s->auth_user : NULL;
}

const char *
mxk_smtpd_from(const struct mxk_smtpd *s)
{
	return s->from;
}

size_t
mxk_smtpd_nrcpt(const struct mxk_smtpd *s)
{
	return s->nrcpt;
}

const struct mxk_smtpd_rcpt *
mxk_smtpd_rcpt(const struct mxk_smtpd *s, size_t i)
{
	return i < s->nrcpt ? &s->rcpt[i] : NULL;
}

const char *
mxk_smtpd_body(const struct mxk_smtpd *s)
{
	return s->body;
}

int
mxk_smtpd_smtputf8(const struct mxk_smtpd *s)
{
	return s->smtputf8;
}

const char *
mxk_smtpd_dsn_ret(const struct mxk_smtpd *s)
{
	return s->ret;
}

const char *
mxk_smtpd_dsn_envid(const struct mxk_smtpd *s)
{
	return s->envid;
}

unsigned long long
mxk_smtpd_msg_size(const struct mxk_smtpd *s)
{
	return s->size;
}

const char *
mxk_smtpd_state_name(const struct mxk_smtpd *s)
{
	return (unsigned)s->state < S__COUNT ? state_names[s->state] : "?";
}

unsigned long
mxk_smtpd_nmessages(const struct mxk_smtpd *s)
{
	return s->nmessages;
}

int
mxk_smtpd_bdat(const struct mxk_smtpd *s)
{
	return s->bdat_used;
}
