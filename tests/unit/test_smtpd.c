/* ISC license. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtpd.h"
#include "t.h"

/* What the hooks saw. */
struct seen {
	struct mxk_buf	 data;
	int		 begins, ends, aborts, bad;
	size_t		 nreplies;
	char		 last_rcpt[256];
	int		 refuse_rcpt;	/* "no@..." refused */
	/* The command hook: answer verb with code (0: none), or drop. */
	const char	*inject_verb;
	int		 inject_code;
	const char	*drop_verb;
	char		 verbs[512];	/* every verb seen, space-separated */
	int		 defer_end;	/* data_end defers its replies */
};

static int
h_command(void *arg, struct mxk_smtpd *s, const char *verb, const char *a,
    struct mxk_smtpd_reply *r)
{
	struct seen	*sn = arg;
	size_t		 n = strlen(sn->verbs);

	(void)snprintf(sn->verbs + n, sizeof(sn->verbs) - n, "%s%s",
	    n > 0 ? " " : "", verb);
	if (sn->drop_verb != NULL && strcmp(verb, sn->drop_verb) == 0) {
		mxk_smtpd_drop(s);
		return 0;
	}
	if (sn->inject_verb != NULL && strcmp(verb, sn->inject_verb) == 0) {
		r->code = sn->inject_code;
		(void)snprintf(r->status, sizeof(r->status), "%d.7.9",
		    sn->inject_code / 100);
		(void)snprintf(r->text, sizeof(r->text), "injected");
		return -1;
	}
	return 0;
}

static int
h_rcpt(void *arg, struct mxk_smtpd *s, const char *to,
    struct mxk_smtpd_reply *r)
{
	struct seen *sn = arg;

	(void)snprintf(sn->last_rcpt, sizeof(sn->last_rcpt), "%s", to);
	if (strncmp(to, "wait", 4) == 0)
		return MXK_SMTPD_PENDING;
	if (strncmp(to, "no@", 3) == 0) {
		r->code = 550;
		(void)snprintf(r->status, sizeof(r->status), "5.1.1");
		(void)snprintf(r->text, sizeof(r->text), "no such user\r\nX");
		return -1;
	}
	return 0;
}

static int
h_begin(void *arg, struct mxk_smtpd *s, struct mxk_smtpd_reply *r)
{
	struct seen *sn = arg;

	sn->begins++;
	mxk_buf_reset(&sn->data);
	return 0;
}

static void
h_data(void *arg, struct mxk_smtpd *s, const char *p, size_t n)
{
	struct seen *sn = arg;

	if (mxk_buf_add(&sn->data, p, n) == -1)
		sn->bad = -1;
}

static void
h_end(void *arg, struct mxk_smtpd *s, int bad, struct mxk_smtpd_reply *r,
    size_t n)
{
	struct seen	*sn = arg;
	size_t		 i;

	sn->ends++;
	sn->bad = bad;
	sn->nreplies = n;
	if (sn->defer_end) {
		mxk_smtpd_defer(s);
		return;
	}
	for (i = 0; i < n; i++) {
		r[i].code = 250;
		(void)snprintf(r[i].status, sizeof(r[i].status), "2.0.0");
		(void)snprintf(r[i].text, sizeof(r[i].text), "stored %zu", i);
	}
}

static void
h_abort(void *arg, struct mxk_smtpd *s)
{
	((struct seen *)arg)->aborts++;
}

/* alice, and (to show that the engine never asks) any name with a LF. */
static int
h_auth(void *arg, struct mxk_smtpd *s, const char *u, const char *p)
{
	/* "later" is decided by mxk_smtpd_auth_done(). */
	if (strcmp(u, "later") == 0)
		return MXK_SMTPD_AUTH_PENDING;
	return (strcmp(u, "alice") == 0 || strchr(u, '\n') != NULL) &&
	    strcmp(p, "s3cret") == 0;
}

struct sess {
	struct mxk_smtpd	*s;
	struct seen		 sn;
	char			 out[16384];
	int			 rc;
};

static void
sess_start(struct sess *x, const struct mxk_smtpd_params *p, int greet)
{
	struct mxk_smtpd_hooks	h;

	memset(x, 0, sizeof(*x));
	mxk_buf_init(&x->sn.data, 1 << 20);
	memset(&h, 0, sizeof(h));
	h.arg = &x->sn;
	h.rcpt = h_rcpt;
	h.data_begin = h_begin;
	h.data = h_data;
	h.data_end = h_end;
	h.data_abort = h_abort;
	h.auth = h_auth;
	h.command = h_command;
	x->s = mxk_smtpd_new(p, &h);
	if (greet)
		mxk_smtpd_greet(x->s);
}

/* Feed len octets, and append what the engine answered to x->out. */
static int
feed_n(struct sess *x, const char *in, size_t len)
{
	const char	*o;
	size_t		 n, have = strlen(x->out);

	x->rc = mxk_smtpd_feed(x->s, in, len);
	o = mxk_smtpd_output(x->s, &n);
	if (have + n < sizeof(x->out)) {
		memcpy(x->out + have, o, n);
		x->out[have + n] = '\0';
	}
	mxk_smtpd_consume(x->s, n);
	return x->rc;
}

static int
feed(struct sess *x, const char *in)
{
	return feed_n(x, in, strlen(in));
}

static void
sess_end(struct sess *x)
{
	mxk_smtpd_free(x->s);
	mxk_buf_free(&x->sn.data);
}

static const char *
data_str(struct sess *x)
{
	static char	buf[8192];
	size_t		n = x->sn.data.len < sizeof(buf) - 1 ? x->sn.data.len :
			    sizeof(buf) - 1;

	memcpy(buf, x->sn.data.p != NULL ? x->sn.data.p : "", n);
	buf[n] = '\0';
	return buf;
}

/* Feed n octets at p in chunks of 1..maxchunk (0: all at once). */
static void
feed_chunks(struct sess *x, const char *p, size_t n, size_t maxchunk,
    unsigned *seed)
{
	const char	*o;
	size_t		 k, m, have;

	while (n > 0) {
		k = n;
		if (maxchunk > 0) {
			*seed = *seed * 1103515245u + 12345u;
			k = 1 + (*seed >> 8) % maxchunk;
			if (k > n)
				k = n;
		}
		x->rc = mxk_smtpd_feed(x->s, p, k);
		o = mxk_smtpd_output(x->s, &m);
		have = strlen(x->out);
		if (have + m < sizeof(x->out)) {
			memcpy(x->out + have, o, m);
			x->out[have + m] = '\0';
		}
		mxk_smtpd_consume(x->s, m);
		if (x->rc != MXK_SMTPD_CONTINUE)
			break;
		p += k;
		n -= k;
	}
}

/*
 * The DATA fast path (whole clean lines passed on in one piece) against
 * the state machine: random bodies of plain text, dots, CRs and LFs (and
 * now and then a line over 998 octets) give the same message, the same
 * verdict and the same replies fed at once, in random chunks and one
 * octet at a time (which never has a whole line to take at once).
 */
static void
data_paths(const struct mxk_smtpd_params *p)
{
	static const char	 head[] = "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
				    "RCPT TO:<c@d.test>\r\nDATA\r\n";
	static char		 in[8192];
	struct sess		 a, b;
	unsigned		 seed = 7, cs = 11, r;
	size_t			 n, len, k, run;
	int			 iter, way, same = 0;

	for (iter = 0; iter < 3000; iter++) {
		n = sizeof(head) - 1;
		memcpy(in, head, n);
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % 2500;
		while (n < sizeof(head) - 1 + len) {
			seed = seed * 1103515245u + 12345u;
			r = (seed >> 8) % 100;
			if (r < 2) {	/* a long run of text */
				run = 900 + (seed >> 16) % 300;
				for (k = 0; k < run && n < sizeof(in) - 8; k++)
					in[n++] = 'x';
			} else
				in[n++] = r < 70 ? 'a' : r < 78 ? '.' :
				    r < 90 ? '\r' : r < 97 ? '\n' : ' ';
		}
		memcpy(in + n, "\r\n.\r\nQUIT\r\n", 12);
		n += 12;
		sess_start(&a, p, 1);
		feed_chunks(&a, in, n, 0, &cs);
		for (way = 0; way < 2; way++) {
			sess_start(&b, p, 1);
			feed_chunks(&b, in, n, way == 0 ? 1 : 700, &cs);
			if (b.sn.data.len == a.sn.data.len &&
			    (a.sn.data.len == 0 || memcmp(a.sn.data.p,
			    b.sn.data.p, a.sn.data.len) == 0) &&
			    a.sn.ends == b.sn.ends && a.sn.bad == b.sn.bad &&
			    strcmp(a.out, b.out) == 0 && a.rc == b.rc)
				same++;
			else
				T_OK(0, "data paths differ (iteration %d, %s)",
				    iter, way == 0 ? "octets" : "chunks");
			sess_end(&b);
		}
		sess_end(&a);
	}
	T_EQ_INT(same, 6000, "DATA fast path == state machine");
}

#define HAS(x, str, name)	T_OK(strstr((x)->out, (str)) != NULL, \
	"%s: no \"%s\" in:\n%s", (name), (str), (x)->out)
#define HASNT(x, str, name)	T_OK(strstr((x)->out, (str)) == NULL, \
	"%s: \"%s\" in:\n%s", (name), (str), (x)->out)

/* One session: EHLO, then in, then what the last replies must hold. */
static void
expect(const struct mxk_smtpd_params *p, const char *in, const char *want,
    const char *name)
{
	struct sess	x;

	sess_start(&x, p, 1);
	feed(&x, "EHLO c.test\r\n");
	x.out[0] = '\0';
	feed(&x, in);
	HAS(&x, want, name);
	sess_end(&x);
}

/* RFC details (found by a review against RFC 3030, 3461, 4616, 5321). */
static void
conformance(const struct mxk_smtpd_params *p)
{
	struct mxk_smtpd_params	q;
	struct sess		x;
	static const char	mr[] = "MAIL FROM:<a@b.test>\r\n"
				    "RCPT TO:<c@d.test>\r\n";

	/* RCPT between BDAT chunks: refused, the message keeps its one. */
	sess_start(&x, p, 1);
	feed(&x, "EHLO c\r\n");
	feed(&x, mr);
	feed(&x, "BDAT 5\r\nhelloRCPT TO:<e@d.test>\r\nBDAT 2 LAST\r\nxx");
	HAS(&x, "503 5.5.1 Error: RCPT after BDAT\r\n250 2.0.0 stored 0\r\n",
	    "RCPT after BDAT refused");
	T_EQ_INT((int)x.sn.nreplies, 1, "RCPT after BDAT: one recipient");
	T_EQ_STR(data_str(&x), "helloxx", "RCPT after BDAT: the message");
	sess_end(&x);

	/* BDAT before EHLO: its chunk is read, not run as commands. */
	sess_start(&x, p, 1);
	feed(&x, "BDAT 12 LAST\r\n");
	feed(&x, "NOOP\r\nNOOP\r\n");
	HAS(&x, "503 5.5.1 Error: send HELO/EHLO first\r\n", "BDAT first");
	HASNT(&x, "250 2.0.0 Ok", "BDAT first: the chunk was no command");
	T_EQ_INT(x.sn.begins, 0, "BDAT first: no message");
	feed(&x, "EHLO c\r\n");
	HAS(&x, "250 ENHANCEDSTATUSCODES", "BDAT first: then served");
	sess_end(&x);

	/* A refused chunk keeps no session alive (not "in data"), and
	 * is no bad command: with one allowed, still read, then 503. */
	q = *p;
	q.max_errors = 1;
	sess_start(&x, &q, 1);
	feed(&x, "BDAT 5\r\nhel");
	T_EQ_INT(mxk_smtpd_in_data(x.s), 0, "refused chunk: not in data");
	HASNT(&x, "421", "refused chunk: no 421 halfway");
	feed(&x, "lo");
	HAS(&x, "503 5.5.1 Error: send HELO/EHLO first", "refused chunk: 503");
	sess_end(&x);

	/* After a failed chunk the transaction takes no recipients. */
	expect(p, "MAIL FROM:<a@b.test>\r\nBDAT 3\r\nabcRCPT TO:<c@d.test>\r\n",
	    "503 5.5.1 Error: RCPT after BDAT", "RCPT after a failed chunk");

	/* The postmaster without a domain (RFC 5321 §4.1.1.3). */
	sess_start(&x, p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<PostMaster>\r\n");
	HAS(&x, "250 2.1.5 Ok", "<PostMaster> taken");
	T_EQ_STR(x.sn.last_rcpt, "PostMaster@mx.test",
	    "<PostMaster> as this host's");
	sess_end(&x);
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<postmasters>\r\n",
	    "553 5.1.3", "another bare name refused");

	/* LMTP DATA without recipients: 503 (RFC 2033 §4.2). */
	q = *p;
	q.lmtp = 1;
	sess_start(&x, &q, 1);
	feed(&x, "LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<no@d.test>\r\n"
	    "DATA\r\n");
	HAS(&x, "503 5.5.1 Error: no valid recipients", "LMTP DATA: 503");
	sess_end(&x);

	/* BINARYMIME: offered with CHUNKING, never with DATA. */
	sess_start(&x, p, 1);
	feed(&x, "EHLO c\r\n");
	HAS(&x, "250-BINARYMIME\r\n", "BINARYMIME offered");
	sess_end(&x);
	expect(p, "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\nRCPT TO:<c@d.test>"
	    "\r\nDATA\r\n", "503 5.5.1 Error: BINARYMIME needs BDAT",
	    "BINARYMIME then DATA");
	expect(p, "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\nRCPT TO:<c@d.test>"
	    "\r\nBDAT 3 LAST\r\na\rb", "250 2.0.0 stored 0",
	    "BINARYMIME with BDAT");
	q = *p;
	q.no_chunking = 1;
	expect(&q, "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n",
	    "501 5.5.4 Error: bad BODY", "no BINARYMIME without CHUNKING");

	/* A chunk past the limit: 552 at once, and at LAST. */
	q = *p;
	q.max_size = 100;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\n");
	feed(&x, mr);
	x.out[0] = '\0';
	{
		char	chunk[160];

		memset(chunk, 'x', sizeof(chunk));
		feed(&x, "BDAT 150\r\n");
		feed_n(&x, chunk, 150);
	}
	HAS(&x, "552 5.3.4 Error: message too big\r\n", "BDAT over: 552");
	HASNT(&x, "octets received", "BDAT over: no 250");
	feed(&x, "BDAT 0 LAST\r\n");
	T_OK(x.sn.bad == 1, "BDAT over: the message refused at LAST");
	sess_end(&x);

	/* BDAT sizes: digits, at most 20, no overflow. */
	expect(p, "BDAT 99999999999999999999\r\n", "501 5.5.4 Syntax: BDAT",
	    "BDAT size overflow");
	expect(p, "BDAT 000000000000000000001\r\n", "501 5.5.4 Syntax: BDAT",
	    "BDAT size of 21 digits");

	/* MAIL and RCPT parameters (RFC 1870, 3461): syntax, once each. */
	expect(p, "MAIL FROM:<a@b.test> SIZE=+12\r\n", "501 5.5.4 Error: bad "
	    "SIZE", "SIZE=+12");
	expect(p, "MAIL FROM:<a@b.test> SIZE=1 SIZE=2\r\n", "501 5.5.4 Error: "
	    "bad SIZE", "SIZE twice");
	expect(p, "MAIL FROM:<a@b.test> SIZE=123456789012345678901\r\n",
	    "501 5.5.4 Error: bad SIZE", "SIZE of 21 digits");
	expect(p, "MAIL FROM:<a@b.test> SIZE=99999999999999999999\r\n",
	    "552 5.3.4", "SIZE over 2^64: too big");
	expect(p, "MAIL FROM:<a@b.test> RET=FULL RET=HDRS\r\n", "501 5.5.4 "
	    "Error: bad RET", "RET twice");
	expect(p, "MAIL FROM:<a@b.test> RET=BOGUS\r\n", "501 5.5.4 Error: bad "
	    "RET", "RET=BOGUS");
	expect(p, "MAIL FROM:<a@b.test> ENVID=a ENVID=b\r\n", "501 5.5.4 "
	    "Error: bad ENVID", "ENVID twice");
	expect(p, "MAIL FROM:<a@b.test> ENVID=a+zz\r\n", "501 5.5.4 Error: "
	    "bad ENVID", "ENVID not xtext");
	expect(p, "MAIL FROM:<a@b.test> BODY=7BIT BODY=8BITMIME\r\n",
	    "501 5.5.4 Error: bad BODY", "BODY twice");
	expect(p, "MAIL FROM:<a@b.test> SMTPUTF8 SMTPUTF8\r\n", "501 5.5.4 "
	    "Error: bad SMTPUTF8", "SMTPUTF8 twice");
	expect(p, "MAIL FROM:<a@b.test> AUTH=<> AUTH=<>\r\n", "501 5.5.4 "
	    "Error: bad AUTH", "AUTH= twice");
	expect(p, "MAIL FROM:<a@b.test> XYZ=1\r\n", "555 5.5.4 Error: MAIL "
	    "parameter XYZ not recognized", "unknown still 555");
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> NOTIFY=BOGUS\r\n",
	    "501 5.5.4 Error: bad NOTIFY", "NOTIFY=BOGUS");
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> "
	    "NOTIFY=NEVER,SUCCESS\r\n", "501 5.5.4 Error: bad NOTIFY",
	    "NOTIFY=NEVER,SUCCESS");
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> "
	    "NOTIFY=SUCCESS,SUCCESS\r\n", "501 5.5.4 Error: bad NOTIFY",
	    "NOTIFY twice SUCCESS");
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> "
	    "NOTIFY=success,Delay ORCPT=rfc822;c+40d.test\r\n", "250 2.1.5",
	    "NOTIFY and ORCPT good");
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> ORCPT=;x\r\n",
	    "501 5.5.4 Error: bad ORCPT", "ORCPT without a type");
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test> ORCPT=rfc822;a "
	    "ORCPT=rfc822;b\r\n", "501 5.5.4 Error: bad ORCPT", "ORCPT twice");

	/* Paths: a route needs a mailbox; '>' may be quoted. */
	expect(p, "MAIL FROM:<@a.test:>\r\n", "501 5.5.4 Syntax: MAIL",
	    "route without a mailbox");
	expect(p, "MAIL FROM:<a@b.test>\r\nRCPT TO:<\"a>b\"@d.test>\r\n",
	    "250 2.1.5", "quoted '>' in a local part");

	/* Enhanced codes: none on the HELO reply and on 354. */
	sess_start(&x, p, 1);
	feed(&x, "HELO c\r\n");
	HAS(&x, "250 mx.test\r\n", "HELO reply without a code");
	feed(&x, mr);
	feed(&x, "DATA\r\n");
	HAS(&x, "354 End data with", "354 without a code");
	sess_end(&x);

	/* RSET and VRFY syntax. */
	expect(p, "RSET x\r\n", "501 5.5.4 Syntax: RSET", "RSET x");
	expect(p, "VRFY\r\n", "501 5.5.4 Syntax: VRFY", "bare VRFY");

	/* AUTH PLAIN: another authorization identity; "=" is empty. */
	q = *p;
	q.auth = 1;
	q.auth_plaintext = 1;
	/* "bob\0alice\0s3cret" */
	expect(&q, "AUTH PLAIN Ym9iAGFsaWNlAHMzY3JldA==\r\n", "535 5.7.8 "
	    "Error: authorization identity refused", "PLAIN as another");
	/* "alice\0alice\0s3cret" */
	expect(&q, "AUTH PLAIN YWxpY2UAYWxpY2UAczNjcmV0\r\n", "235 2.7.0",
	    "PLAIN as oneself");
	expect(&q, "AUTH PLAIN =\r\n", "501 5.5.2 Error: malformed PLAIN",
	    "PLAIN =");
}

int
main(void)
{
	struct mxk_smtpd_params	p, q;
	struct sess		x;
	char			big[4096];

	memset(&p, 0, sizeof(p));
	p.hostname = "mx.test";

	/* A whole session, one command at a time. */
	sess_start(&x, &p, 1);
	HAS(&x, "", "greeting");
	feed(&x, "EHLO c.test\r\n");
	HAS(&x, "220 mx.test ESMTP\r\n", "greeting");
	HAS(&x, "250-mx.test Hello c.test\r\n", "ehlo");
	HAS(&x, "250-PIPELINING\r\n", "pipelining");
	HAS(&x, "250-CHUNKING\r\n", "chunking");
	HAS(&x, "250-SIZE 31457280\r\n", "size");
	HAS(&x, "250 ENHANCEDSTATUSCODES\r\n", "last line");
	HASNT(&x, "STARTTLS", "no starttls unless offered");
	HASNT(&x, "AUTH", "no auth unless offered");
	feed(&x, "MAIL FROM:<a@b.test> BODY=8BITMIME\r\n");
	HAS(&x, "250 2.1.0 Ok\r\n", "mail");
	T_EQ_STR(mxk_smtpd_body(x.s), "8BITMIME", "body recorded");
	feed(&x, "RCPT TO:<c@d.test>\r\n");
	HAS(&x, "250 2.1.5 Ok\r\n", "rcpt");
	feed(&x, "RCPT TO:<no@d.test>\r\n");
	HAS(&x, "550 5.1.1 no such user??X\r\n", "rcpt refused, text one line");
	feed(&x, "DATA\r\n");
	HAS(&x, "354 ", "354");
	feed(&x, "Subject: x\r\n\r\n..dot\r\nbare\nlf\r\n.");
	T_EQ_INT(x.sn.ends, 0, "not ended yet");
	feed(&x, "\r\n");
	T_EQ_INT(x.sn.ends, 1, "ended");
	T_EQ_STR(data_str(&x), "Subject: x\r\n\r\n.dot\r\nbare\r\nlf\r\n",
	    "unstuffed, normalised");
	HAS(&x, "250 2.0.0 stored 0\r\n", "data end reply");
	feed(&x, "VRFY x\r\nNOOP\r\nHELP\r\nRSET\r\n");
	HAS(&x, "252 2.5.2", "vrfy");
	HAS(&x, "214 2.0.0", "help");
	T_EQ_INT(feed(&x, "QUIT\r\n"), MXK_SMTPD_CLOSE, "quit closes");
	HAS(&x, "221 2.0.0 mx.test Bye\r\n", "221");
	sess_end(&x);

	/*
	 * What the client sent comes back in replies only without control
	 * characters (found by fuzz_smtpd: tests/fuzz/regress/smtpd/echo-*).
	 */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\rfake\x1b[31m\r\n");
	HAS(&x, "250-mx.test Hello c?fake?[31m\r\n", "EHLO name sanitised");
	T_EQ_STR(mxk_smtpd_helo(x.s), "c?fake?[31m", "stored name sanitised");
	feed(&x, "MAIL FROM:<a@b.test> X\rY=1\r\n");
	HAS(&x, "MAIL parameter X?Y not recognized\r\n",
	    "echoed parameter sanitised");
	sess_end(&x);

	/* Pipelined: everything in one read, answered in order. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "RCPT TO:<e@d.test>\r\nDATA\r\nhello\r\n.\r\nQUIT\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "pipelined: closed");
	T_OK(strstr(x.out, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 ") != NULL, "pipelined order: %s", x.out);
	T_EQ_STR(data_str(&x), "hello\r\n", "pipelined data");
	HAS(&x, "250 2.0.0 stored 0\r\n221 ", "end then bye");
	sess_end(&x);

	/* Order and syntax. */
	sess_start(&x, &p, 1);
	feed(&x, "MAIL FROM:<a@b.test>\r\n");
	HAS(&x, "503 5.5.1 Error: send HELO/EHLO first", "mail before helo");
	feed(&x, "EHLO c\r\nRCPT TO:<c@d.test>\r\n");
	HAS(&x, "503 5.5.1 Error: need MAIL", "rcpt before mail");
	feed(&x, "MAIL FROM:a@b.test\r\n");
	HAS(&x, "501 5.5.4 Syntax: MAIL FROM:<address>", "no brackets");
	feed(&x, "MAIL FROM:<a@b.test> SIZE=99999999999\r\n");
	HAS(&x, "552 5.3.4 Error: message size exceeds", "SIZE over");
	feed(&x, "MAIL FROM:<a@b.test> FOO=1\r\n");
	HAS(&x, "555 5.5.4 Error: MAIL parameter FOO", "unknown param");
	feed(&x, "MAIL FROM: <a@b.test> RET=HDRS ENVID=x+2By\r\n");
	HAS(&x, "250 2.1.0 Ok", "space after colon, DSN");
	T_EQ_STR(mxk_smtpd_dsn_ret(x.s), "HDRS", "RET recorded");
	T_EQ_STR(mxk_smtpd_dsn_envid(x.s), "x+2By", "ENVID recorded");
	feed(&x, "RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d.test\r\n");
	T_EQ_INT(mxk_smtpd_nrcpt(x.s), 1, "rcpt with DSN");
	if (mxk_smtpd_nrcpt(x.s) == 1) {
		T_EQ_STR(mxk_smtpd_rcpt(x.s, 0)->notify, "SUCCESS,FAILURE",
		    "NOTIFY recorded");
		T_EQ_STR(mxk_smtpd_rcpt(x.s, 0)->orcpt, "rfc822;c@d.test",
		    "ORCPT recorded");
	}
	feed(&x, "MAIL FROM:<a@b.test>\r\n");
	HAS(&x, "503 5.5.1 Error: nested MAIL command", "nested MAIL");
	feed(&x, "RCPT TO:<jos\xc3\xa9@d.test>\r\n");
	HAS(&x, "553 5.6.7", "UTF-8 without SMTPUTF8");
	feed(&x, "BOGUS\r\n");
	HAS(&x, "500 5.5.2 Error: command not recognized", "unknown");
	sess_end(&x);

	/* SMTPUTF8. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test> SMTPUTF8\r\n"
	    "RCPT TO:<jos\xc3\xa9@d.test>\r\n");
	T_EQ_INT(mxk_smtpd_smtputf8(x.s), 1, "smtputf8 recorded");
	T_EQ_INT(mxk_smtpd_nrcpt(x.s), 1, "utf-8 rcpt accepted");
	sess_end(&x);

	/* Limits: long lines, NUL, too many errors, too many recipients. */
	sess_start(&x, &p, 1);
	memset(big, 'a', sizeof(big));
	memcpy(big, "NOOP ", 5);
	big[3000] = '\0';
	feed(&x, "EHLO c\r\n");
	feed(&x, big);
	feed(&x, big);
	feed(&x, "\r\nNOOP\r\n");
	HAS(&x, "500 5.5.2 Error: line too long", "overlong");
	HAS(&x, "250 2.0.0 Ok\r\n", "next command still read");
	x.out[0] = '\0';
	{
		char nul[] = "NO\0OP\r\n";

		x.rc = mxk_smtpd_feed(x.s, nul, 7);
		(void)feed(&x, "");
	}
	HAS(&x, "500 5.5.2 Error: NUL", "NUL");
	sess_end(&x);

	sess_start(&x, &p, 1);
	{
		int i;

		for (i = 0; i < 12 && x.rc != MXK_SMTPD_CLOSE; i++)
			feed(&x, "XYZZY\r\n");
	}
	T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "too many errors: closed");
	HAS(&x, "421 4.7.0", "421 after errors");
	sess_end(&x);

	q = p;
	q.max_rcpt = 2;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@d.test>\r\n"
	    "RCPT TO:<b@d.test>\r\nRCPT TO:<c@d.test>\r\n");
	HAS(&x, "452 4.5.3 Error: too many recipients", "max rcpt");
	T_EQ_INT(mxk_smtpd_nrcpt(x.s), 2, "two kept");
	sess_end(&x);

	/* An early talker. */
	sess_start(&x, &p, 0);
	T_EQ_INT(feed(&x, "EHLO c\r\n"), MXK_SMTPD_CLOSE, "early talker");
	HAS(&x, "554 5.5.1", "early talker reply");
	sess_end(&x);

	/* STARTTLS: what follows it in the same read is dropped. */
	q = p;
	q.starttls = 1;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\n");
	HAS(&x, "250-STARTTLS\r\n", "starttls offered");
	T_EQ_INT(feed(&x, "STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n"),
	    MXK_SMTPD_STARTTLS, "starttls");
	HAS(&x, "220 2.0.0 Ready to start TLS\r\n", "220");
	HASNT(&x, "2.1.0", "injected MAIL not answered");
	mxk_smtpd_tls_done(x.s, "TLS1.3");
	T_EQ_STR(mxk_smtpd_tls(x.s), "TLS1.3", "tls recorded");
	x.out[0] = '\0';
	feed(&x, "MAIL FROM:<a@b.test>\r\n");
	HAS(&x, "503 5.5.1 Error: send HELO/EHLO first", "EHLO again after TLS");
	feed(&x, "EHLO c\r\n");
	HASNT(&x, "STARTTLS", "not offered twice");
	feed(&x, "STARTTLS\r\n");
	HAS(&x, "554 5.5.1 Error: TLS already active\r\n", "STARTTLS twice");
	sess_end(&x);

	/* require_tls. */
	q = p;
	q.starttls = 1;
	q.require_tls = 1;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	HAS(&x, "530 5.7.0 Must issue a STARTTLS command first", "require tls");
	sess_end(&x);

	/* A refused DATA with the message pipelined after it. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<no@d.test>\r\n"
	    "DATA\r\nMAIL FROM:<evil@x.test>\r\n.\r\n");
	HAS(&x, "554 5.5.1 Error: no valid recipients", "data refused");
	HAS(&x, "421 4.5.0", "then closed");
	T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "closed");
	HASNT(&x, "250 2.1.0 Ok\r\n250 2.1.0", "injected MAIL not run");
	sess_end(&x);

	/* No smuggling: only CRLF . CRLF ends the message. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\none\r\n.\nMAIL FROM:<evil@x.test>\r\n.\rtwo\r\n.\r\n");
	T_EQ_INT(x.sn.ends, 1, "one message");
	T_EQ_STR(data_str(&x), "one\r\n.\r\nMAIL FROM:<evil@x.test>\r\n.\r\n"
	    "two\r\n", "smuggled lines are data");
	sess_end(&x);

	/*
	 * Nor LF . CR LF, nor CR . CR LF (CVE-2023-51764 class): the dot
	 * after a bare line end is data, so the smuggled MAIL is too.
	 * (Found in this review; the man page already said so.)
	 */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\none\n.\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<c@d.test>"
	    "\r\nDATA\r\nx\r.\r\nRSET\r\n.\r\n");
	T_EQ_INT(x.sn.ends, 1, "LF . CR LF: one message");
	T_EQ_STR(data_str(&x), "one\r\n.\r\nMAIL FROM:<evil@x.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nDATA\r\nx\r\n.\r\nRSET\r\n",
	    "LF . CR LF: the rest is data");
	HASNT(&x, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with "
	    "<CR><LF>.<CR><LF>\r\n250 2.0.0 stored 0\r\n250 2.1.0",
	    "no second transaction");
	sess_end(&x);

	/* strict: bare LF refuses the message. */
	q = p;
	q.strict = 1;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\nbare\nlf\r\n.\r\n");
	HAS(&x, "554 5.6.0 Error: bare CR or LF", "strict");
	T_EQ_INT(x.sn.bad, 1, "hook told bad");
	sess_end(&x);

	/* Too big, too long a line. */
	q = p;
	q.max_size = 10;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\n0123456789abcdef\r\n.\r\n");
	HAS(&x, "552 5.3.4 Error: message too big", "too big");
	sess_end(&x);
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\n");
	memset(big, 'x', 1100);
	big[1100] = '\0';
	feed(&x, big);
	feed(&x, "\r\n.\r\n");
	HAS(&x, "554 5.6.0 Error: a line longer than 998", "long line");
	sess_end(&x);

	/* BDAT. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "BDAT 5\r\nhel");
	feed(&x, "loBDAT 4 LAST\r\n.ab\n");
	HAS(&x, "250 2.0.0 5 octets received\r\n", "chunk 1");
	HAS(&x, "250 2.0.0 stored 0\r\n", "last chunk");
	T_EQ_STR(data_str(&x), "hello.ab\n", "BDAT octets raw");
	T_EQ_INT(x.sn.begins, 1, "one begin");
	feed(&x, "BDAT 3 LAST\r\nxyz");
	HAS(&x, "503 5.5.1 Error: need MAIL and RCPT", "BDAT outside");
	feed(&x, "NOOP\r\n");
	HAS(&x, "250 2.0.0 Ok\r\n", "in step after the refused chunk");
	sess_end(&x);

	/*
	 * An empty last chunk as the last bytes of a feed: answered at
	 * once, with no more input (found by tests/integration/main_paths.sh:
	 * smtpsend sends an empty message so, and smtpd-lite stalled).
	 */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "BDAT 0 LAST\r\n");
	HAS(&x, "250 2.0.0 stored 0\r\n", "BDAT 0 LAST answered");
	T_EQ_STR(data_str(&x), "", "BDAT 0: no octets");
	feed(&x, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 0\r\n");
	HAS(&x, "250 2.0.0 0 octets received\r\n", "BDAT 0 answered");
	feed(&x, "BDAT 2 LAST\r\nok");
	HAS(&x, "250 2.0.0 0 octets received\r\n250 2.0.0 stored 0\r\n",
	    "then the last chunk");
	T_EQ_STR(data_str(&x), "ok", "the second message");
	sess_end(&x);

	/* AUTH. */
	q = p;
	q.auth = 1;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\n");
	HASNT(&x, "AUTH", "no AUTH offered without TLS");
	feed(&x, "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
	HAS(&x, "538 5.7.11", "AUTH needs TLS");
	sess_end(&x);
	q.auth_plaintext = 1;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\n");
	HAS(&x, "250-AUTH PLAIN LOGIN\r\n", "AUTH offered");
	feed(&x, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
	HAS(&x, "535 5.7.8", "wrong secret");
	/* "ali\nce": a control character in the name is never a user. */
	x.out[0] = '\0';
	feed(&x, "AUTH PLAIN AGFsaQpjZQBzM2NyZXQ=\r\n");
	HAS(&x, "535 5.7.8", "user name with LF refused");
	T_OK(mxk_smtpd_auth_user(x.s) == NULL, "not authenticated");
	feed(&x, "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
	HAS(&x, "235 2.7.0", "PLAIN ok");
	T_EQ_STR(mxk_smtpd_auth_user(x.s), "alice", "auth user");
	feed(&x, "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n");
	HAS(&x, "503 5.5.1 Error: already", "twice");
	sess_end(&x);
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nAUTH LOGIN\r\n");
	HAS(&x, "334 VXNlcm5hbWU6\r\n", "LOGIN user prompt");
	feed(&x, "YWxpY2U=\r\n");
	HAS(&x, "334 UGFzc3dvcmQ6\r\n", "LOGIN password prompt");
	feed(&x, "czNjcmV0\r\n");
	HAS(&x, "235 2.7.0", "LOGIN ok");
	sess_end(&x);
	/* A pending AUTH: the input behind it waits for the decision. */
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\n");
	x.out[0] = '\0';
	T_EQ_INT(feed(&x, "AUTH PLAIN AGxhdGVyAHMzY3JldA==\r\nNOOP\r\n"),
	    MXK_SMTPD_PAUSE, "auth pending: paused");
	T_EQ_INT(mxk_smtpd_paused(x.s), 1, "auth pending: engine paused");
	HASNT(&x, "235", "auth pending: no reply yet");
	HASNT(&x, "250", "auth pending: NOOP waits");
	T_EQ_INT(feed(&x, "NOOP\r\n"), MXK_SMTPD_PAUSE,
	    "auth pending: fed while paused");
	x.rc = mxk_smtpd_auth_done(x.s, 1);
	T_EQ_INT(x.rc, MXK_SMTPD_CONTINUE, "auth done: continue");
	(void)feed(&x, "");
	T_OK(strstr(x.out, "235 2.7.0 Authentication successful\r\n"
	    "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n") != NULL,
	    "auth done: 235, then both NOOPs in order");
	T_EQ_STR(mxk_smtpd_auth_user(x.s), "later", "auth done: the user");
	T_EQ_INT(mxk_smtpd_auth_done(x.s, 0), MXK_SMTPD_CONTINUE,
	    "auth done twice: nothing");
	sess_end(&x);
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nAUTH PLAIN AGxhdGVyAHdyb25n\r\n");
	x.rc = mxk_smtpd_auth_done(x.s, 0);
	(void)feed(&x, "");
	HAS(&x, "535 5.7.8", "auth done: refused");
	T_OK(mxk_smtpd_auth_user(x.s) == NULL, "auth done: not authenticated");
	feed(&x, "AUTH PLAIN AGxhdGVyAHMzY3JldA==\r\n");
	x.rc = mxk_smtpd_auth_done(x.s, -1);
	(void)feed(&x, "");
	HAS(&x, "454 4.7.0", "auth done: temporary failure");
	feed(&x, "AUTH PLAIN AGxhdGVyAHMzY3JldA==\r\n");
	x.rc = mxk_smtpd_auth_done(x.s, MXK_SMTPD_AUTH_LIMITED);
	(void)feed(&x, "");
	HAS(&x, "454 4.7.0 Too many failed authentications",
	    "auth done: too many failures");
	T_OK(mxk_smtpd_auth_user(x.s) == NULL, "limited: not authenticated");
	sess_end(&x);
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nAUTH PLAIN AGxhdGVyAHMzY3JldA==\r\n");
	T_EQ_INT(mxk_smtpd_timeout(x.s), MXK_SMTPD_CLOSE,
	    "auth pending: timeout");
	T_EQ_INT(mxk_smtpd_auth_done(x.s, 1), MXK_SMTPD_CLOSE,
	    "auth done after a timeout: closed");
	T_OK(mxk_smtpd_auth_user(x.s) == NULL,
	    "auth done after a timeout: not authenticated");
	sess_end(&x);
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nAUTH PLAIN\r\n*\r\n");
	HAS(&x, "501 5.7.0 Authentication aborted", "cancelled");
	feed(&x, "AUTH PLAIN !!!\r\n");
	HAS(&x, "501 5.5.2 Error: bad base64", "bad base64");
	sess_end(&x);
	q = p;
	q.auth = 1;
	q.auth_plaintext = 1;
	q.require_auth = 1;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\n");
	HAS(&x, "530 5.7.0 Authentication required", "require auth");
	sess_end(&x);

	/* LMTP: LHLO, one reply per recipient. */
	q = p;
	q.lmtp = 1;
	sess_start(&x, &q, 1);
	feed(&x, "EHLO c\r\n");
	HAS(&x, "500 5.5.2", "no EHLO in LMTP");
	feed(&x, "LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "RCPT TO:<e@d.test>\r\nDATA\r\nx\r\n.\r\n");
	T_EQ_INT(x.sn.nreplies, 2, "two replies asked");
	HAS(&x, "250 2.0.0 stored 0\r\n250 2.0.0 stored 1\r\n", "two replies");
	sess_end(&x);

	/* RSET in DATA's place aborts nothing; QUIT mid-message aborts. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "BDAT 2\r\nab");
	feed(&x, "QUIT\r\n");
	T_EQ_INT(x.sn.aborts, 1, "abort on QUIT");
	sess_end(&x);

	/* The command hook: every verb seen, answers instead of commands. */
	sess_start(&x, &p, 1);
	x.sn.inject_verb = "RCPT";
	x.sn.inject_code = 451;
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "NOOP\r\n");
	T_EQ_STR(x.sn.verbs, "EHLO MAIL RCPT NOOP", "hook: verbs");
	HAS(&x, "451 4.7.9 injected\r\n250 2.0.0 Ok\r\n", "hook: RCPT answered");
	T_EQ_INT(mxk_smtpd_nrcpt(x.s), 0, "hook: RCPT not carried out");
	T_EQ_STR(x.sn.last_rcpt, "", "hook: rcpt hook not called");
	x.sn.inject_verb = "DATA";
	x.sn.inject_code = 552;
	feed(&x, "RCPT TO:<c@d.test>\r\nDATA\r\n");
	HAS(&x, "552 5.7.9 injected\r\n", "hook: DATA answered");
	T_EQ_INT(x.sn.begins, 0, "hook: no message begun");
	T_EQ_INT(x.rc, MXK_SMTPD_CONTINUE, "hook: refused DATA alone");
	feed(&x, "DATA\r\nSubject: x\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "hook: refused DATA, pipelined data");
	HAS(&x, "421 4.5.0", "hook: 421 after refused pipelined DATA");
	sess_end(&x);

	sess_start(&x, &p, 1);
	x.sn.inject_verb = "BDAT";
	x.sn.inject_code = 554;
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "BDAT 6\r\nNOOP\r\nBDAT 3 LAST\r\nxyzNOOP\r\n");
	HAS(&x, "554 5.7.9 injected\r\n554 5.7.9 injected\r\n250 2.0.0 Ok",
	    "hook: BDAT chunks read and refused");
	HASNT(&x, "octets received", "hook: no chunk taken");
	T_EQ_INT(x.sn.ends, 0, "hook: BDAT no message");
	T_EQ_INT(mxk_smtpd_nrcpt(x.s), 0, "hook: BDAT LAST ends the txn");
	sess_end(&x);

	sess_start(&x, &p, 1);
	x.sn.inject_verb = "MAIL";
	x.sn.inject_code = 421;
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nNOOP\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "hook: 421 closes");
	HAS(&x, "421 4.7.9 injected\r\n", "hook: 421 sent");
	HASNT(&x, "2.0.0 Ok", "hook: nothing after 421");
	sess_end(&x);

	sess_start(&x, &p, 1);
	x.sn.drop_verb = "RCPT";
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "NOOP\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "drop: closed");
	HAS(&x, "250 2.1.0 Ok\r\n", "drop: earlier replies kept");
	HASNT(&x, "2.1.5", "drop: no reply to the dropped command");
	HASNT(&x, "2.0.0 Ok", "drop: nothing after");
	sess_end(&x);

	sess_start(&x, &p, 1);
	x.sn.inject_verb = "EHLO";
	x.sn.inject_code = 550;
	feed(&x, "EHLO c\r\nHELO c\r\n");
	HAS(&x, "550 5.7.9 injected\r\n250 mx.test\r\n",
	    "hook: EHLO refused, HELO served");
	T_EQ_INT(mxk_smtpd_esmtp(x.s), 0, "hook: not ESMTP");
	sess_end(&x);

	/* A pending RCPT: input behind it waits for the decision. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<wait1@d.test>\r\n"
	    "RCPT TO:<wait2@d.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_PAUSE, "pending: paused");
	T_EQ_INT(mxk_smtpd_paused(x.s), 1, "pending: paused()");
	T_EQ_STR(x.sn.last_rcpt, "wait1@d.test", "pending: first rcpt asked");
	HAS(&x, "250 2.1.0 Ok\r\n", "pending: MAIL answered");
	HASNT(&x, "2.1.5", "pending: no RCPT reply yet");
	T_EQ_INT(feed(&x, "hello\r\n"), MXK_SMTPD_PAUSE, "pending: fed while paused");
	x.rc = mxk_smtpd_resume(x.s, NULL);
	(void)feed(&x, "");
	T_EQ_INT(x.rc, MXK_SMTPD_PAUSE, "pending: paused again at the second");
	T_EQ_STR(x.sn.last_rcpt, "wait2@d.test", "pending: second rcpt asked");
	{
		struct mxk_smtpd_reply r;

		memset(&r, 0, sizeof(r));
		r.code = 554;
		(void)snprintf(r.status, sizeof(r.status), "5.7.1");
		(void)snprintf(r.text, sizeof(r.text), "listed");
		x.rc = mxk_smtpd_resume(x.s, &r);
		T_EQ_INT(x.rc, MXK_SMTPD_CONTINUE, "pending: resumed to the end");
		(void)feed(&x, "");
	}
	T_OK(strstr(x.out, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n554 5.7.1 listed\r\n"
	    "250 2.1.5 Ok\r\n354 ") != NULL, "pending: replies in order: %s",
	    x.out);
	T_EQ_INT(mxk_smtpd_nrcpt(x.s), 2, "pending: two recipients");
	feed(&x, ".\r\n");
	T_EQ_STR(data_str(&x), "hello\r\n", "pending: data kept in order");
	T_EQ_INT(x.sn.ends, 1, "pending: message ended");
	sess_end(&x);

	/* A timeout while paused. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<wait@d.test>\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_PAUSE, "pending: paused before timeout");
	T_EQ_INT(mxk_smtpd_timeout(x.s), MXK_SMTPD_CLOSE, "pending: timeout");
	T_EQ_INT(mxk_smtpd_paused(x.s), 0, "pending: not paused after timeout");
	T_EQ_INT(mxk_smtpd_resume(x.s, NULL), MXK_SMTPD_CLOSE,
	    "pending: resume after timeout");
	sess_end(&x);

	/* A refusing greeting: 554 then QUIT only; 421 closes. */
	sess_start(&x, &p, 0);
	{
		struct mxk_smtpd_reply r;

		memset(&r, 0, sizeof(r));
		r.code = 554;
		(void)snprintf(r.status, sizeof(r.status), "5.7.1");
		(void)snprintf(r.text, sizeof(r.text), "go away");
		T_EQ_INT(mxk_smtpd_greet_refuse(x.s, &r), MXK_SMTPD_CONTINUE,
		    "greet refuse 554");
		feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nQUIT\r\n");
		HAS(&x, "554 5.7.1 go away\r\n503 5.5.1 ", "554 then 503");
		HAS(&x, "221 2.0.0", "QUIT served");
		T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "QUIT closes");
		sess_end(&x);
		sess_start(&x, &p, 0);
		r.code = 421;
		(void)snprintf(r.status, sizeof(r.status), "4.3.2");
		T_EQ_INT(mxk_smtpd_greet_refuse(x.s, &r), MXK_SMTPD_CLOSE,
		    "greet refuse 421");
		(void)feed(&x, "");
		HAS(&x, "421 4.3.2 go away\r\n", "421 greeting");
		sess_end(&x);
	}

	/* Replies to a message deferred (the store syncs elsewhere). */
	sess_start(&x, &p, 1);
	x.sn.defer_end = 1;
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\n");
	feed(&x, "hi\r\n.\r\nMAIL FROM:<b@b.test>\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_PAUSE, "defer: paused after the dot");
	T_EQ_INT(mxk_smtpd_in_data(x.s), 1, "defer: still in data");
	HASNT(&x, "2.0.0 stored", "defer: no reply yet");
	T_EQ_INT(x.sn.ends, 1, "defer: ended once");
	T_EQ_STR(mxk_smtpd_from(x.s), "a@b.test", "defer: the sender kept");
	T_EQ_INT(mxk_smtpd_nrcpt(x.s), 1, "defer: the recipient kept");
	T_EQ_INT(feed(&x, "RCPT TO:<e@d.test>\r\n"), MXK_SMTPD_PAUSE,
	    "defer: input kept");
	{
		struct mxk_smtpd_reply r;

		memset(&r, 0, sizeof(r));
		r.code = 250;
		(void)snprintf(r.status, sizeof(r.status), "2.0.0");
		(void)snprintf(r.text, sizeof(r.text), "synced");
		x.rc = mxk_smtpd_resume_message(x.s, &r, 1);
		(void)feed(&x, "");
	}
	T_EQ_INT(x.rc, MXK_SMTPD_CONTINUE, "defer: resumed");
	/* One 354 (the message's), none for the RCPT kept after it. */
	T_OK(strstr(x.out, "354 End data") != NULL &&
	    strstr(strstr(x.out, "354 End data") + 1, "354 ") == NULL &&
	    strstr(x.out, "250 2.0.0 synced\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n")
	    != NULL, "defer: replies in order: %s", x.out);
	T_EQ_STR(mxk_smtpd_from(x.s), "b@b.test", "defer: the next transaction");
	T_EQ_INT(mxk_smtpd_in_data(x.s), 0, "defer: out of data");
	sess_end(&x);
	q = p;
	q.lmtp = 1;
	sess_start(&x, &q, 1);
	x.sn.defer_end = 1;
	feed(&x, "LHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "RCPT TO:<e@d.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_PAUSE, "defer lmtp: paused");
	{
		struct mxk_smtpd_reply r;

		memset(&r, 0, sizeof(r));
		r.code = 452;
		(void)snprintf(r.status, sizeof(r.status), "4.2.2");
		(void)snprintf(r.text, sizeof(r.text), "full");
		x.rc = mxk_smtpd_resume_message(x.s, &r, 1);
		(void)feed(&x, "");
	}
	HAS(&x, "452 4.2.2 full\r\n451 4.3.0 Error: not stored\r\n221 ",
	    "defer lmtp: one given, the other 451, then QUIT");
	T_EQ_INT(x.rc, MXK_SMTPD_CLOSE, "defer lmtp: closed");
	sess_end(&x);
	sess_start(&x, &p, 1);
	x.sn.defer_end = 1;
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\nx\r\n.\r\n");
	T_EQ_INT(x.rc, MXK_SMTPD_PAUSE, "defer, shutdown: paused");
	T_EQ_INT(mxk_smtpd_shutdown(x.s), MXK_SMTPD_CLOSE, "defer: shutdown");
	T_EQ_INT(mxk_smtpd_resume_message(x.s, NULL, 0), MXK_SMTPD_CLOSE,
	    "defer: resume after shutdown");
	sess_end(&x);

	/* BDAT 0 LAST ends a message at once. */
	sess_start(&x, &p, 1);
	feed(&x, "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "BDAT 2\r\nab");
	feed(&x, "BDAT 0 LAST\r\n");
	HAS(&x, "250 2.0.0 stored 0\r\n", "BDAT 0 LAST answered");
	T_EQ_STR(data_str(&x), "ab", "BDAT 0 LAST data");
	sess_end(&x);

	/* Timeouts and shutdown. */
	sess_start(&x, &p, 1);
	T_EQ_INT(mxk_smtpd_timeout(x.s), MXK_SMTPD_CLOSE, "timeout");
	(void)feed(&x, "");
	HAS(&x, "421 4.4.2", "timeout reply");
	sess_end(&x);

	conformance(&p);
	data_paths(&p);

	return t_done("test_smtpd");
}
