/* ISC license. */

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"

#include "clock.h"
#include "net.h"
#include "reply.h"
#include "smtpc.h"
#include "starttls.h"
#include "t.h"

static void
parse_caps(const char *text, struct mxk_ehlo *c)
{
	struct mxk_reply	r;
	struct mxk_err		e;
	size_t			used;

	memset(c, 0, sizeof(*c));
	if (mxk_reply_parse(text, strlen(text), NULL, &r, &used, &e) == 1)
		mxk_ehlo_parse(&r, c);
}

static void
test_ehlo(void)
{
	struct mxk_ehlo	c;

	parse_caps("250-mx.test hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	    "250-STARTTLS\r\n250-AUTH PLAIN login\r\n250-AUTH=CRAM-MD5\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n250-CHUNKING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250 X-UNKNOWN foo\r\n", &c);
	T_EQ_INT(c.esmtp, 1, "esmtp");
	T_EQ_STR(c.name, "mx.test", "name");
	T_EQ_INT(c.pipelining, 1, "pipelining");
	T_EQ_INT(c.size, 1, "size");
	T_EQ_INT(c.size_max, 10240000, "size max");
	T_EQ_INT(c.starttls, 1, "starttls");
	T_EQ_STR(c.auth, "PLAIN LOGIN CRAM-MD5", "auth list");
	T_EQ_INT(mxk_ehlo_has_auth(&c, "login"), 1, "has login");
	T_EQ_INT(mxk_ehlo_has_auth(&c, "XOAUTH2"), 0, "no xoauth2");
	T_EQ_INT(mxk_ehlo_has_auth(&c, "PLAI"), 0, "no prefix match");
	T_EQ_INT(c.eightbitmime && c.smtputf8 && c.dsn && c.chunking &&
	    c.enhancedstatus, 1, "other extensions");

	parse_caps("250-mx.test\r\n250-STARTTLSX\r\n250-SIZE\r\n"
	    "250 SIZE -5\r\n", &c);
	T_EQ_INT(c.starttls, 0, "STARTTLSX is not STARTTLS");
	T_EQ_INT(c.size, 1, "bare SIZE");
	T_EQ_INT(c.size_max, 0, "bad SIZE value ignored");
	parse_caps("250 mx.test\r\n", &c);
	T_EQ_INT(c.starttls + c.pipelining, 0, "no extensions");
}

/* A peer that has already written its bytes and reads our commands. */
static void
test_io(void)
{
	static const struct {
		const char	*name;
		const char	*server;
		int		 want;		/* mxk_smtpc_ehlo() result */
		int		 code;
		int		 esmtp;
		const char	*sent;
	} cases[] = {
		{ "ehlo ok", "250-mx\r\n250 STARTTLS\r\n", 1, 250, 1,
		    "EHLO c.test\r\n" },
		{ "helo fallback", "500 what\r\n250 mx\r\n", 1, 250, 0,
		    "EHLO c.test\r\nHELO c.test\r\n" },
		{ "ehlo 421", "421 4.3.2 bye\r\n", -1, 421, 0,
		    "EHLO c.test\r\n" },
		{ "garbage", "hello there\r\n", -1, 0, 0, "EHLO c.test\r\n" },
		{ "closed", "", -1, 0, 0, "EHLO c.test\r\n" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mxk_smtpc_io	 io;
		struct mxk_conn		*conn;
		struct mxk_ehlo		 caps;
		struct mxk_reply	 r;
		struct mxk_err		 e;
		char			 got[256];
		ssize_t			 n;
		int			 sv[2], res;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			continue;
		(void)write(sv[1], cases[i].server, strlen(cases[i].server));
		if (cases[i].server[0] == '\0')
			(void)shutdown(sv[1], SHUT_WR);
		conn = mxk_conn_new_fd(sv[0]);
		mxk_smtpc_io_init(&io, conn, NULL);
		memset(&r, 0, sizeof(r));
		res = mxk_smtpc_ehlo(&io, "c.test", &caps, &r,
		    mxk_deadline_in(2000), &e);
		T_EQ_INT(res, cases[i].want, cases[i].name);
		if (res == 1)
			T_EQ_INT(caps.esmtp, cases[i].esmtp, cases[i].name);
		else if (cases[i].code != 0) {
			T_EQ_INT(e.code, cases[i].code, cases[i].name);
			T_EQ_INT(e.class, MXK_ERR_TEMP, cases[i].name);
		}
		n = read(sv[1], got, sizeof(got) - 1);
		got[n > 0 ? n : 0] = '\0';
		T_EQ_STR(got, cases[i].sent, cases[i].name);
		mxk_smtpc_io_free(&io);
		mxk_conn_free(conn);
		(void)close(sv[1]);
	}
}

static void
test_send_checks(void)
{
	struct mxk_smtpc_io	 io;
	struct mxk_conn		*conn;
	struct mxk_err		 e;
	char			 big[3000];
	int			 sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return;
	conn = mxk_conn_new_fd(sv[0]);
	mxk_smtpc_io_init(&io, conn, NULL);
	T_EQ_INT(mxk_smtpc_send(&io, "MAIL FROM:<a@b>\r\nRCPT TO:<x@y>",
	    mxk_deadline_in(1000), &e), -1, "CRLF injection refused");
	T_EQ_INT(e.class, MXK_ERR_DATA, "injection class");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	T_EQ_INT(mxk_smtpc_send(&io, big, mxk_deadline_in(1000), &e), -1,
	    "overlong command refused");
	/* Bytes left in the input after STARTTLS are dropped. */
	(void)write(sv[1], "220 go\r\n250 injected\r\n", 22);
	{
		struct mxk_reply r;

		T_EQ_INT(mxk_smtpc_cmd(&io, "STARTTLS", &r,
		    mxk_deadline_in(1000), &e), 1, "starttls reply");
		T_EQ_INT(r.code, 220, "220");
		T_EQ_INT(mxk_smtpc_drop_plaintext(&io), 1, "plaintext dropped");
		T_EQ_INT(mxk_smtpc_drop_plaintext(&io), 0, "nothing left");
	}
	mxk_smtpc_io_free(&io);
	mxk_conn_free(conn);
	(void)close(sv[1]);
}

static struct mxk_msg *
mkmsg_n(const char *text, size_t len)
{
	char		 path[] = "/tmp/mxkit-test-smtpc.XXXXXX";
	struct mxk_msg	*m = NULL;
	struct mxk_err	 e;
	int		 fd = mkstemp(path);

	if (fd == -1)
		return NULL;
	(void)unlink(path);
	if (write(fd, text, len) == (ssize_t)len &&
	    lseek(fd, 0, SEEK_SET) == 0)
		(void)mxk_msg_read(fd, NULL, &m, &e);
	(void)close(fd);
	return m;
}

static struct mxk_msg *
mkmsg(const char *text)
{
	return mkmsg_n(text, strlen(text));
}

/*
 * A transaction against a scripted server: its replies are written
 * before the client starts (the socket buffer holds them), what the
 * client sent is read afterwards and compared.
 */
static void
test_txn(void)
{
	static const struct {
		const char	*name;
		const char	*caps;
		int		 lmtp;
		const char	*server;
		int		 want;
		const char	*states;	/* per rcpt: s d b p */
		const char	*sent;
	} cases[] = {
		{ "pipelined", "250-mx\r\n250 PIPELINING\r\n", 0,
		    "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n250 2.0.0 done\r\n",
		    0, "sb",
		    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
		    "RCPT TO:<b@x.test>\r\nDATA\r\nSubject: t\r\n\r\n..dot\r\n"
		    ".\r\n" },
		{ "one at a time, MAIL 451", "250 mx\r\n", 0,
		    "451 4.3.0 later\r\n", 0, "dd",
		    "MAIL FROM:<s@x.test>\r\n" },
		{ "pipelined, MAIL 550", "250-mx\r\n250 PIPELINING\r\n", 0,
		    "550 5.7.1 no\r\n503 no\r\n503 no\r\n503 no\r\n", 0, "bb",
		    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
		    "RCPT TO:<b@x.test>\r\nDATA\r\n" },
		{ "pipelined, MAIL 550, DATA 354", "250-mx\r\n250 PIPELINING\r\n",
		    0, "550 5.7.1 no\r\n503 no\r\n503 no\r\n354 go\r\n"
		    "554 5.5.1 no valid recipients\r\n", 0, "bb",
		    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
		    "RCPT TO:<b@x.test>\r\nDATA\r\n.\r\n" },
		{ "no recipient accepted", "250 mx\r\n", 0,
		    "250 ok\r\n550 no\r\n450 busy\r\n", 0, "bd",
		    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
		    "RCPT TO:<b@x.test>\r\n" },
		{ "DATA refused", "250 mx\r\n", 0,
		    "250 ok\r\n250 ok\r\n250 ok\r\n554 5.3.0 no data\r\n", 0,
		    "bb", "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
		    "RCPT TO:<b@x.test>\r\nDATA\r\n" },
		{ "BDAT", "250-mx\r\n250-CHUNKING\r\n250 SIZE\r\n", 0,
		    "250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 got it\r\n", 0, "ss",
		    "MAIL FROM:<s@x.test> SIZE=20\r\nRCPT TO:<a@x.test>\r\n"
		    "RCPT TO:<b@x.test>\r\nBDAT 20 LAST\r\nSubject: t\r\n\r\n"
		    ".dot\r\n" },
		{ "LMTP", "250 mx\r\n", 1,
		    "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 a ok\r\n"
		    "452 4.2.2 full\r\n", 0, "sd", NULL },
		{ "size over the limit", "250-mx\r\n250 SIZE 10\r\n", 0, "", 0,
		    "bb", "" },
		{ "8bit, DSN", "250-mx\r\n250-8BITMIME\r\n250 DSN\r\n", 0,
		    "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n", 0,
		    "ss", NULL },
		{ "8bit, no 8BITMIME", "250-mx\r\n250 PIPELINING\r\n", 0, "", 0,
		    "bb", "" },
		{ "NUL, BINARYMIME", "250-mx\r\n250-CHUNKING\r\n"
		    "250 BINARYMIME\r\n", 0,
		    "250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 got it\r\n", 0, "ss",
		    NULL },
		{ "NUL, no BINARYMIME", "250-mx\r\n250-CHUNKING\r\n"
		    "250 8BITMIME\r\n", 0, "", 0, "bb", "" },
		{ "MAIL 334", "250 mx\r\n", 0, "334 VXNlcm5hbWU6\r\n", -1, "pp",
		    "MAIL FROM:<s@x.test>\r\n" },
		{ "garbage", "250 mx\r\n", 0, "what?\r\n", -1, "pp", NULL },
		{ "closed", "250 mx\r\n", 0, "", -1, "pp", NULL },
	};
	size_t	i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mxk_smtpc_io	 io;
		struct mxk_conn		*conn;
		struct mxk_ehlo		 caps;
		struct mxk_smtpc_txn	 t;
		struct mxk_smtpc_rcpt	 rc[2];
		struct mxk_err		 e;
		struct mxk_msg		*m;
		char			 got[4096], st[3];
		ssize_t			 n;
		int			 sv[2], res;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			continue;
		parse_caps(cases[i].caps, &caps);
		m = strstr(cases[i].name, "NUL") != NULL ?
		    mkmsg_n("Subject: t\n\na\0b\n", 16) :
		    mkmsg(strstr(cases[i].name, "8bit") != NULL ?
		    "Subject: t\n\ncaf\xc3\xa9\n" : "Subject: t\n\n.dot\n");
		(void)write(sv[1], cases[i].server, strlen(cases[i].server));
		if (strcmp(cases[i].name, "closed") == 0)
			(void)shutdown(sv[1], SHUT_WR);
		conn = mxk_conn_new_fd(sv[0]);
		mxk_smtpc_io_init(&io, conn, NULL);
		memset(&t, 0, sizeof(t));
		memset(rc, 0, sizeof(rc));
		t.from = "s@x.test";
		t.msg = m;
		t.lmtp = cases[i].lmtp;
		t.dsn_notify = "FAILURE";
		t.dsn_ret = "HDRS";
		t.dsn_envid = "q+=1";
		rc[0].addr = "a@x.test";
		rc[1].addr = "b@x.test";
		rc[0].orcpt = "a@x.test";
		res = mxk_smtpc_transaction(&io, &caps, &t, rc, 2,
		    mxk_deadline_in(2000), &e);
		T_EQ_INT(res, cases[i].want, cases[i].name);
		for (k = 0; k < 2; k++)
			st[k] = "pdsb"[rc[k].state == MXK_RCPT_PENDING ? 0 :
			    rc[k].state == MXK_RCPT_DEFERRED ? 1 :
			    rc[k].state == MXK_RCPT_SENT ? 2 : 3];
		st[2] = '\0';
		T_EQ_STR(st, cases[i].states, cases[i].name);
		(void)shutdown(sv[0], SHUT_WR);
		n = read(sv[1], got, sizeof(got) - 1);
		got[n > 0 ? n : 0] = '\0';
		if (cases[i].sent != NULL)
			T_EQ_STR(got, cases[i].sent, cases[i].name);
		if (strcmp(cases[i].name, "8bit, DSN") == 0) {
			T_OK(strstr(got, "MAIL FROM:<s@x.test> BODY=8BITMIME "
			    "RET=HDRS ENVID=q+2B+3D1\r\n") != NULL,
			    "DSN MAIL: %s", got);
			T_OK(strstr(got, "RCPT TO:<a@x.test> NOTIFY=FAILURE "
			    "ORCPT=rfc822;a@x.test\r\n") != NULL,
			    "DSN RCPT: %s", got);
			T_OK(strstr(got, "RCPT TO:<b@x.test> NOTIFY=FAILURE\r\n")
			    != NULL, "DSN RCPT without ORCPT: %s", got);
		}
		if (strcmp(cases[i].name, "garbage") == 0)
			T_EQ_INT(e.class, MXK_ERR_PROTO, "garbage class");
		if (strcmp(cases[i].name, "MAIL 334") == 0) {
			/* A 3xx out of place: a protocol error (exit 76),
			 * never a recipient outcome. */
			T_EQ_INT(e.class, MXK_ERR_PROTO, "334 class");
		}
		if (strcmp(cases[i].name, "size over the limit") == 0)
			T_EQ_INT(rc[0].code, 552, "size 552");
		if (strstr(cases[i].name, ", no ") != NULL) {
			T_EQ_INT(rc[1].code, 554, cases[i].name);
			T_EQ_STR(rc[1].status, "5.6.3", cases[i].name);
		}
		if (strcmp(cases[i].name, "NUL, BINARYMIME") == 0)
			T_OK(strstr(got, "MAIL FROM:<s@x.test> BODY=BINARYMIME\r\n"
			    "RCPT") != NULL && n > 0 && memmem(got, (size_t)n,
			    "\r\nBDAT 19 LAST\r\nSubject: t\r\n\r\na\0b\r\n",
			    35) != NULL, "BINARYMIME: %s", got);
		if (strcmp(cases[i].name, "LMTP") == 0) {
			T_EQ_INT(rc[1].code, 452, "LMTP second");
			T_EQ_STR(rc[1].status, "4.2.2", "LMTP status");
		}
		mxk_smtpc_io_free(&io);
		mxk_conn_free(conn);
		(void)close(sv[1]);
		mxk_msg_free(m);
	}
}

/*
 * The engine, driven with bytes only: no socket, no file descriptor.
 *
 * A scripted server: its replies are one string, handed to the engine in
 * pieces when it asks for a reply (READ): all at once, cut at one offset
 * (the first READ gets the octets before it, a later READ the rest), or
 * one octet per READ.  What the engine sends is collected; "~" marks where
 * it first waited for a reply after sending, so a pipelined group shows as
 * its commands with no "~" between them.  The message is "<msg>", a BDAT
 * chunk "<off+len>".
 */
enum feed_mode { FEED_ALL, FEED_CUT, FEED_BYTE };

struct run {
	char			 sent[4096];
	size_t			 sentlen;
	int			 rc;		/* 0 DONE, -1 ERROR, -2 stuck */
	struct mxk_err		 err;
	char			 told[64];	/* recipients, in event order */
	int			 told_twice;
	int			 told_after_end;
	int			 nread;
	int			 timeouts[32];	/* of the READ events */
	size_t			 left;		/* script octets never fed */
};

static void
run_add(struct run *r, const char *p, size_t n)
{
	if (r->sentlen + n >= sizeof(r->sent))
		n = sizeof(r->sent) - 1 - r->sentlen;
	memcpy(r->sent + r->sentlen, p, n);
	r->sentlen += n;
	r->sent[r->sentlen] = '\0';
}

/*
 * Drive s to its end.  sendpiece > 0 reports the output as sent that
 * many octets at a time (a short write).
 */
static void
drive_engine(struct mxk_smtpc *s, const char *server, enum feed_mode mode,
    size_t cut, size_t sendpiece, struct run *r)
{
	struct mxk_smtpc_event	 ev;
	char			 pend[8192], mark[64];
	size_t			 plen = 0, pos = 0, len = strlen(server), n, used;
	const char		*out;
	int			 waiting = 0, steps;

	memset(r, 0, sizeof(*r));
	for (steps = 0; steps < 100000; steps++) {
		mxk_smtpc_next(s, &ev);
		switch (ev.type) {
		case MXK_SMTPC_EV_SEND:
			out = mxk_smtpc_output(s, &n);
			if (sendpiece > 0 && n > sendpiece)
				n = sendpiece;
			run_add(r, out, n);
			mxk_smtpc_sent(s, n);
			waiting = 0;
			break;
		case MXK_SMTPC_EV_READ:
			if (!waiting)
				run_add(r, "~", 1);
			waiting = 1;
			if ((size_t)r->nread < sizeof(r->timeouts) /
			    sizeof(r->timeouts[0]))
				r->timeouts[r->nread] = ev.timeout_ms;
			r->nread++;
			/* Feed what is pending; when that is not a whole
			 * reply, add the next piece of the script. */
			if (mxk_smtpc_feed(s, pend, plen, &used) == 0) {
				if (pos == len) {
					r->rc = -2;
					r->left = 0;
					return;
				}
				n = mode == FEED_BYTE ? 1 : mode == FEED_CUT &&
				    pos < cut ? cut - pos : len - pos;
				if (n > sizeof(pend) - plen)
					n = sizeof(pend) - plen;
				memcpy(pend + plen, server + pos, n);
				plen += n;
				pos += n;
				(void)mxk_smtpc_feed(s, pend, plen, &used);
			}
			memmove(pend, pend + used, plen - used);
			plen -= used;
			break;
		case MXK_SMTPC_EV_RCPT:
			if (strchr(r->told, (char)('0' + ev.rcpt)) != NULL)
				r->told_twice = 1;
			n = strlen(r->told);
			if (n + 1 < sizeof(r->told)) {
				r->told[n] = (char)('0' + ev.rcpt);
				r->told[n + 1] = '\0';
			}
			break;
		case MXK_SMTPC_EV_MESSAGE:
			run_add(r, "<msg>", 5);
			waiting = 0;
			mxk_smtpc_message_sent(s);
			break;
		case MXK_SMTPC_EV_CHUNK:
			out = mxk_smtpc_output(s, &n);
			run_add(r, out, n);
			(void)snprintf(mark, sizeof(mark), "<%llu+%zu%s>",
			    ev.off, ev.len, ev.last ? "!" : "");
			run_add(r, mark, strlen(mark));
			waiting = 0;
			mxk_smtpc_message_sent(s);
			break;
		case MXK_SMTPC_EV_DONE:
		case MXK_SMTPC_EV_ERROR:
			r->rc = ev.type == MXK_SMTPC_EV_DONE ? 0 : -1;
			if (ev.err != NULL)
				r->err = *ev.err;
			r->left = len - pos + plen;
			/* Nothing more is told after the end. */
			mxk_smtpc_next(s, &ev);
			if (ev.type == MXK_SMTPC_EV_RCPT)
				r->told_after_end = 1;
			return;
		default:
			r->rc = -3;
			return;
		}
	}
	r->rc = -4;
}

static void
states_of(const struct mxk_smtpc_rcpt *rc, size_t n, char *st)
{
	size_t	k;

	for (k = 0; k < n; k++)
		st[k] = "pdsb"[rc[k].state == MXK_RCPT_PENDING ? 0 :
		    rc[k].state == MXK_RCPT_DEFERRED ? 1 :
		    rc[k].state == MXK_RCPT_SENT ? 2 : 3];
	st[n] = '\0';
}

#define EF_RSET		0x01
#define EF_NOPIPE	0x02
#define EF_LMTP		0x04
#define EF_CHUNK8	0x08
#define EF_UTF8		0x10

static const struct etxn {
	const char	*name;
	const char	*caps;
	int		 flags;
	const char	*server;
	int		 rc;
	const char	*states;	/* per recipient: p d s b */
	const char	*codes;		/* "250 450 550" */
	const char	*sent;
	int		 refused;
	int		 eclass;	/* with rc -1 */
} etxns[] = {
	/* RFC 2920 §3.1: RSET, MAIL, RCPTs and DATA are one group; the
	 * client waits after DATA; the replies come back in order. */
	{ "pipelined group, 250/450/550",
	    "250-mx\r\n250 PIPELINING\r\n", EF_RSET,
	    "250 2.0.0 flushed\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n"
	    "450 4.2.1 busy\r\n550 5.1.1 no such user\r\n354 go\r\n"
	    "250 2.0.0 queued as X\r\n", 0, "sdb", "250 450 550",
	    "RSET\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n~<msg>~", 0,
	    0 },
	{ "one at a time, 250/450/550", "250 mx\r\n", EF_RSET,
	    "250 flushed\r\n250 ok\r\n250 ok\r\n450 4.2.1 busy\r\n"
	    "550 5.1.1 no\r\n354 go\r\n250 queued\r\n", 0, "sdb",
	    "250 450 550",
	    "RSET\r\n~MAIL FROM:<s@x.test>\r\n~RCPT TO:<a@x.test>\r\n~"
	    "RCPT TO:<b@x.test>\r\n~RCPT TO:<c@x.test>\r\n~DATA\r\n~<msg>~",
	    0, 0 },
	{ "pipelining offered, not used", "250-mx\r\n250 PIPELINING\r\n",
	    EF_NOPIPE, "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"
	    "250 queued\r\n", 0, "sss", "250 250 250",
	    "MAIL FROM:<s@x.test>\r\n~RCPT TO:<a@x.test>\r\n~"
	    "RCPT TO:<b@x.test>\r\n~RCPT TO:<c@x.test>\r\n~DATA\r\n~<msg>~",
	    0, 0 },
	{ "multiline replies in the group",
	    "250-mx\r\n250 PIPELINING\r\n", 0,
	    "250-2.1.0 sender\r\n250 2.1.0 ok\r\n250 ok\r\n"
	    "550-5.1.1 the mailbox\r\n550-5.1.1 does not\r\n550 5.1.1 exist\r\n"
	    "250 ok\r\n354-go\r\n354 on\r\n250-2.0.0 one\r\n250 2.0.0 two\r\n",
	    0, "sbs", "250 550 250",
	    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n~<msg>~", 0,
	    0 },
	/* RFC 2033 §4.2: one reply per accepted RCPT after the message. */
	{ "LMTP, per recipient after DATA",
	    "250-mx\r\n250 PIPELINING\r\n", EF_LMTP,
	    "250 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n354 go\r\n"
	    "250 2.0.0 a delivered\r\n452 4.2.2 c is full\r\n", 0, "sbd",
	    "250 550 452",
	    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n~<msg>~", 0,
	    0 },
	{ "LMTP, one at a time", "250 mx\r\n", EF_LMTP,
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"
	    "550 5.7.1 a refused\r\n250 b ok\r\n451 4.3.0 c later\r\n", 0,
	    "bsd", "550 250 451",
	    "MAIL FROM:<s@x.test>\r\n~RCPT TO:<a@x.test>\r\n~"
	    "RCPT TO:<b@x.test>\r\n~RCPT TO:<c@x.test>\r\n~DATA\r\n~<msg>~",
	    0, 0 },
	/* RFC 3030: BDAT after the RCPT replies; each chunk but the last
	 * answered before the next. */
	{ "BDAT in chunks", "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n",
	    EF_CHUNK8, "250 ok\r\n250 ok\r\n250 ok\r\n450 4.2.1 busy\r\n"
	    "250 2.0.0 8 octets\r\n250 2.0.0 16 octets\r\n"
	    "250 2.0.0 queued\r\n", 0, "ssd", "250 250 450",
	    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n~BDAT 8\r\n<0+8>~"
	    "BDAT 8\r\n<8+8>~BDAT 4 LAST\r\n<16+4!>~", 0, 0 },
	{ "BDAT refused half-way",
	    "250-mx\r\n250 CHUNKING\r\n", EF_CHUNK8,
	    "250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n250 ok\r\n"
	    "552 5.3.4 too big\r\n", 0, "bbb", "552 550 552",
	    "MAIL FROM:<s@x.test>\r\n~RCPT TO:<a@x.test>\r\n~"
	    "RCPT TO:<b@x.test>\r\n~RCPT TO:<c@x.test>\r\n~BDAT 8\r\n<0+8>~"
	    "BDAT 8\r\n<8+8>~", 1, 0 },
	{ "BDAT, no recipient accepted",
	    "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n", 0,
	    "250 ok\r\n550 no\r\n550 no\r\n450 no\r\n", 0, "bbd",
	    "550 550 450",
	    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n~", 0, 0 },
	/* "354 not received". */
	{ "DATA refused", "250-mx\r\n250 PIPELINING\r\n", 0,
	    "250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n554 5.3.0 no data\r\n", 0,
	    "bbb", "554 550 554",
	    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n~", 1, 0 },
	{ "DATA answered 250, not 354", "250 mx\r\n", 0,
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n", -1, "ppp",
	    NULL, "MAIL FROM:<s@x.test>\r\n~RCPT TO:<a@x.test>\r\n~"
	    "RCPT TO:<b@x.test>\r\n~RCPT TO:<c@x.test>\r\n~DATA\r\n~", 0,
	    MXK_ERR_PROTO },
	{ "354, then the connection says nothing", "250 mx\r\n", 0,
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", -2, "ppp",
	    NULL, NULL, 0, 0 },
	/* RFC 2920 §3.1: DATA in the group, no recipient, yet 354. */
	{ "354 with no recipient", "250-mx\r\n250 PIPELINING\r\n", 0,
	    "250 ok\r\n550 no\r\n550 no\r\n550 no\r\n354 go\r\n"
	    "554 5.5.1 no valid recipients\r\n", 0, "bbb", "550 550 550",
	    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\n"
	    "RCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n~.\r\n~", 0,
	    0 },
	{ "LMTP 354 with no recipient", "250-mx\r\n250 PIPELINING\r\n",
	    EF_LMTP, "250 ok\r\n550 no\r\n550 no\r\n550 no\r\n354 go\r\n", -1,
	    "bbb", "550 550 550", NULL, 0, MXK_ERR_PROTO },
	{ "MAIL refused in a group", "250-mx\r\n250 PIPELINING\r\n", EF_RSET,
	    "250 ok\r\n553 5.1.8 bad sender\r\n503 5.5.1 no\r\n503 no\r\n"
	    "503 no\r\n503 no\r\n", 0, "bbb", "553 553 553", NULL, 1, 0 },
	{ "MAIL deferred, one at a time", "250 mx\r\n", 0,
	    "451 4.3.0 later\r\n", 0, "ddd", "451 451 451",
	    "MAIL FROM:<s@x.test>\r\n~", 1, 0 },
	{ "RSET refused", "250-mx\r\n250 PIPELINING\r\n", EF_RSET,
	    "500 what\r\n", -1, "ppp", NULL, NULL, 0, MXK_ERR_PROTO },
	/* Garbage is an error, not something to skip (lib/reply). */
	{ "garbage for MAIL", "250 mx\r\n", 0, "what?\r\n", -1, "ppp", NULL,
	    "MAIL FROM:<s@x.test>\r\n~", 0, MXK_ERR_PROTO },
	{ "garbage in the group", "250-mx\r\n250 PIPELINING\r\n", 0,
	    "250 ok\r\n250 ok\r\n550 no\r\n25O ok\r\n", -1, "pbp", NULL, NULL,
	    0, MXK_ERR_PROTO },
	{ "mixed codes in a multiline reply", "250 mx\r\n", 0,
	    "250-ok\r\n251 ok\r\n", -1, "ppp", NULL, NULL, 0,
	    MXK_ERR_PROTO },
	{ "3xx to RCPT", "250 mx\r\n", 0, "250 ok\r\n354 what\r\n", -1,
	    "ppp", NULL, NULL, 0, MXK_ERR_PROTO },
	{ "1xx to MAIL", "250 mx\r\n", 0, "199 hm\r\n", -1, "ppp", NULL,
	    NULL, 0, MXK_ERR_PROTO },
	{ "3xx after the message", "250 mx\r\n", 0,
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n354 again\r\n",
	    -1, "ppp", NULL, NULL, 0, MXK_ERR_PROTO },
	{ "size over the limit", "250-mx\r\n250 SIZE 10\r\n", 0, "", 0, "bbb",
	    "552 552 552", "", 1, 0 },
	{ "SMTPUTF8 not offered", "250 mx\r\n", EF_UTF8, "", 0, "bbb",
	    "553 553 553", "", 1, 0 },
};

static struct mxk_smtpc *
start_etxn(const struct etxn *c, struct mxk_ehlo *caps,
    struct mxk_smtpc_txn *t, struct mxk_smtpc_rcpt *rc, struct mxk_msg *m)
{
	struct mxk_smtpc	*s = mxk_smtpc_new(NULL);
	struct mxk_err		 e;

	parse_caps(c->caps, caps);
	memset(t, 0, sizeof(*t));
	memset(rc, 0, 3 * sizeof(*rc));
	t->from = "s@x.test";
	t->msg = m;
	t->rset = (c->flags & EF_RSET) != 0;
	t->no_pipelining = (c->flags & EF_NOPIPE) != 0;
	t->lmtp = (c->flags & EF_LMTP) != 0;
	t->smtputf8 = (c->flags & EF_UTF8) != 0;
	t->chunk = (c->flags & EF_CHUNK8) ? 8 : 0;
	rc[0].addr = "a@x.test";
	rc[1].addr = "b@x.test";
	rc[2].addr = "c@x.test";
	if (s != NULL && mxk_smtpc_start_txn(s, caps, t, rc, 3, &e) == -1) {
		mxk_smtpc_free(s);
		return NULL;
	}
	return s;
}

static void
check_etxn(const struct etxn *c, const struct mxk_smtpc_txn *t,
    const struct mxk_smtpc_rcpt *rc, const struct run *r, const char *how)
{
	char	st[4], codes[32], name[160];
	size_t	k, ntold = 0;

	(void)snprintf(name, sizeof(name), "%s (%s)", c->name, how);
	T_EQ_INT(r->rc, c->rc, name);
	states_of(rc, 3, st);
	T_EQ_STR(st, c->states, name);
	if (c->codes != NULL) {
		(void)snprintf(codes, sizeof(codes), "%d %d %d", rc[0].code,
		    rc[1].code, rc[2].code);
		T_EQ_STR(codes, c->codes, name);
	}
	if (c->sent != NULL)
		T_EQ_STR(r->sent, c->sent, name);
	if (c->rc == 0)
		T_EQ_INT(t->refused, c->refused, name);
	if (c->rc == -1)
		T_EQ_INT(r->err.class, c->eclass, name);
	/* Every outcome told once, and only outcomes. */
	for (k = 0; k < 3; k++)
		if (rc[k].state != MXK_RCPT_PENDING) {
			ntold++;
			T_OK(strchr(r->told, (char)('0' + k)) != NULL,
			    "%s: rcpt %zu not told", name, k);
		}
	T_EQ_INT(strlen(r->told), ntold, name);
	T_EQ_INT(r->told_twice + r->told_after_end, 0, name);
	/* Every reply of the script is used, none left over. */
	if (c->rc == 0)
		T_EQ_INT(r->left, 0, name);
}

static void
test_engine_txn(void)
{
	struct mxk_msg		*m = mkmsg("Subject: t\n\n.dot\n");
	size_t			 i, k, len;

	T_OK(m != NULL && mxk_msg_size(m) == 20, "message of 20 octets");
	if (m == NULL)
		return;
	for (i = 0; i < sizeof(etxns) / sizeof(etxns[0]); i++) {
		const struct etxn	*c = &etxns[i];
		struct mxk_ehlo		 caps;
		struct mxk_smtpc_txn	 t;
		struct mxk_smtpc_rcpt	 rc[3];
		struct mxk_smtpc	*s;
		struct run		 r, r1;
		char			 how[64];

		/* All at once, and with short writes. */
		if ((s = start_etxn(c, &caps, &t, rc, m)) == NULL) {
			T_OK(0, "%s: start", c->name);
			continue;
		}
		drive_engine(s, c->server, FEED_ALL, 0, 0, &r);
		check_etxn(c, &t, rc, &r, "all at once");
		mxk_smtpc_free(s);
		if ((s = start_etxn(c, &caps, &t, rc, m)) == NULL)
			continue;
		drive_engine(s, c->server, FEED_ALL, 0, 3, &r1);
		check_etxn(c, &t, rc, &r1, "short writes");
		mxk_smtpc_free(s);
		/* One octet per feed. */
		if ((s = start_etxn(c, &caps, &t, rc, m)) == NULL)
			continue;
		drive_engine(s, c->server, FEED_BYTE, 0, 0, &r1);
		check_etxn(c, &t, rc, &r1, "octet by octet");
		T_EQ_STR(r1.sent, r.sent, c->name);
		mxk_smtpc_free(s);
		/* Cut at every offset: the same outcome and output. */
		len = strlen(c->server);
		for (k = 0; k <= len; k++) {
			if ((s = start_etxn(c, &caps, &t, rc, m)) == NULL)
				break;
			drive_engine(s, c->server, FEED_CUT, k, 0, &r1);
			(void)snprintf(how, sizeof(how), "cut at %zu", k);
			check_etxn(c, &t, rc, &r1, how);
			if (strcmp(r1.sent, r.sent) != 0)
				T_OK(0, "%s: %s: sent \"%s\"", c->name, how,
				    r1.sent);
			mxk_smtpc_free(s);
		}
	}
	mxk_msg_free(m);
}

/* One engine, several operations: nothing of one leaks into the next. */
static void
test_engine_reuse(void)
{
	struct mxk_msg		*m = mkmsg("Subject: t\n\n.dot\n");
	struct mxk_smtpc	*s = mxk_smtpc_new(NULL);
	struct mxk_ehlo		 caps;
	struct mxk_smtpc_txn	 t;
	struct mxk_smtpc_rcpt	 rc[3];
	struct mxk_err		 e;
	struct run		 r;
	size_t			 i, k;
	/* BDAT, pipelined DATA, one at a time, LMTP, pipelined again. */
	static const size_t	 order[] = { 6, 0, 1, 5, 3, 7, 2 };

	if (m == NULL || s == NULL) {
		mxk_smtpc_free(s);
		mxk_msg_free(m);
		return;
	}
	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		const struct etxn *c = &etxns[order[k]];

		parse_caps(c->caps, &caps);
		memset(&t, 0, sizeof(t));
		memset(rc, 0, sizeof(rc));
		t.from = "s@x.test";
		t.msg = m;
		t.rset = (c->flags & EF_RSET) != 0;
		t.no_pipelining = (c->flags & EF_NOPIPE) != 0;
		t.lmtp = (c->flags & EF_LMTP) != 0;
		t.chunk = (c->flags & EF_CHUNK8) ? 8 : 0;
		for (i = 0; i < 3; i++)
			rc[i].addr = i == 0 ? "a@x.test" : i == 1 ?
			    "b@x.test" : "c@x.test";
		T_EQ_INT(mxk_smtpc_start_txn(s, &caps, &t, rc, 3, &e), 0,
		    c->name);
		drive_engine(s, c->server, FEED_ALL, 0, 0, &r);
		check_etxn(c, &t, rc, &r, "the same engine again");
	}
	mxk_smtpc_free(s);
	mxk_msg_free(m);
}

/* The limit each wait gets (RFC 5321 §4.5.3.2, or the transaction's). */
static void
test_engine_timeouts(void)
{
	struct mxk_msg		*m = mkmsg("Subject: t\n\nhi\n");
	struct mxk_ehlo		 caps;
	struct mxk_smtpc_txn	 t;
	struct mxk_smtpc_rcpt	 rc[1];
	struct mxk_smtpc	*s;
	struct mxk_err		 e;
	struct run		 r;

	if (m == NULL || (s = mxk_smtpc_new(NULL)) == NULL)
		return;
	parse_caps("250 mx\r\n", &caps);
	memset(&t, 0, sizeof(t));
	memset(rc, 0, sizeof(rc));
	t.from = "s@x.test";
	t.msg = m;
	t.rset = 1;
	t.mail_timeout_ms = 1001;
	t.data_timeout_ms = 1003;
	rc[0].addr = "a@x.test";
	T_EQ_INT(mxk_smtpc_start_txn(s, &caps, &t, rc, 1, &e), 0, "start");
	drive_engine(s, "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n",
	    FEED_ALL, 0, 0, &r);
	T_EQ_INT(r.rc, 0, "timeouts: done");
	T_EQ_INT(r.nread, 5, "timeouts: five waits");
	T_EQ_INT(r.timeouts[0], 1001, "RSET: the MAIL timeout");
	T_EQ_INT(r.timeouts[1], 1001, "MAIL");
	T_EQ_INT(r.timeouts[2], 300000, "RCPT: 5 minutes");
	T_EQ_INT(r.timeouts[3], 1003, "DATA");
	T_EQ_INT(r.timeouts[4], 600000, "after the message: 10 minutes");
	mxk_smtpc_free(s);
	mxk_msg_free(m);
}

/* EHLO with every split of a multiline reply, HELO, LHLO, refusals. */
static void
test_engine_ehlo(void)
{
	static const char ehlo[] = "250-mx.test hello\r\n250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250 CHUNKING\r\n";
	static const struct {
		const char	*name;
		int		 lmtp;
		const char	*server;
		int		 rc;
		int		 esmtp;
		const char	*sent;
		int		 eclass;
	} cases[] = {
		{ "EHLO", 0, ehlo, 0, 1, "EHLO c.test\r\n~", 0 },
		{ "HELO fallback", 0, "502 5.5.1 what\r\n250 mx\r\n", 0, 0,
		    "EHLO c.test\r\n~HELO c.test\r\n~", 0 },
		{ "HELO refused too", 0, "500 what\r\n501 no\r\n", -1, 0,
		    "EHLO c.test\r\n~HELO c.test\r\n~", MXK_ERR_PERM },
		{ "LHLO, no fallback", 1, "500 what\r\n", -1, 0,
		    "LHLO c.test\r\n~", MXK_ERR_PERM },
		{ "421", 0, "421 4.3.2 bye\r\n", -1, 0, "EHLO c.test\r\n~",
		    MXK_ERR_TEMP },
		{ "garbage", 0, "250-mx\r\n250-PIPELINING\r\n2500 x\r\n", -1, 0,
		    "EHLO c.test\r\n~", MXK_ERR_PROTO },
		{ "bare LF tolerated", 0, "250-mx\n250 PIPELINING\n", 0, 1,
		    "EHLO c.test\r\n~", 0 },
	};
	struct mxk_smtpc	*s;
	struct mxk_ehlo		 caps, ref;
	struct mxk_err		 e;
	struct run		 r;
	size_t			 i, k, len;
	char			 how[96];

	if ((s = mxk_smtpc_new(NULL)) == NULL)
		return;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].server);
		for (k = 0; k <= len + 1; k++) {
			memset(&caps, 0xff, sizeof(caps));
			T_EQ_INT(mxk_smtpc_start_ehlo(s, "c.test",
			    cases[i].lmtp, &caps, &e), 0, cases[i].name);
			drive_engine(s, cases[i].server, k <= len ? FEED_CUT :
			    FEED_BYTE, k, 0, &r);
			(void)snprintf(how, sizeof(how), "%s, cut at %zu",
			    cases[i].name, k);
			T_EQ_INT(r.rc, cases[i].rc, how);
			T_EQ_STR(r.sent, cases[i].sent, how);
			if (r.rc == 0)
				T_EQ_INT(caps.esmtp, cases[i].esmtp, how);
			else
				T_EQ_INT(r.err.class, cases[i].eclass, how);
			if (i == 0 && r.rc == 0) {
				if (k == 0)
					ref = caps;
				T_OK(memcmp(&caps, &ref, sizeof(caps)) == 0,
				    "%s: the same capabilities", how);
				T_EQ_INT(caps.pipelining && caps.chunking &&
				    caps.size_max == 10240000, 1, how);
				T_EQ_STR(caps.auth, "PLAIN LOGIN", how);
			}
		}
	}
	T_EQ_INT(mxk_smtpc_last(s)->code, 250, "the last reply");
	mxk_smtpc_free(s);
}

static void
test_engine_auth(void)
{
	static const struct {
		const char	*name;
		const char	*mech;
		const char	*server;
		int		 rc;
		int		 eclass;
		const char	*sent;
	} cases[] = {
		{ "PLAIN", "PLAIN", "235 2.7.0 ok\r\n", 0, 0,
		    "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n~" },
		{ "LOGIN", "LOGIN", "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
		    "235 ok\r\n", 0, 0,
		    "AUTH LOGIN\r\n~dXNlcg==\r\n~c2VjcmV0\r\n~" },
		{ "LOGIN refused after the user", "LOGIN",
		    "334 VXNlcm5hbWU6\r\n535 5.7.8 no\r\n", -1, MXK_ERR_AUTH,
		    "AUTH LOGIN\r\n~dXNlcg==\r\n~" },
		{ "CRAM-MD5, malformed challenge", "CRAM-MD5",
		    "334 !!!not base64\r\n501 5.5.4 cancelled\r\n", -1,
		    MXK_ERR_PROTO, "AUTH CRAM-MD5\r\n~*\r\n~" },
		{ "CRAM-MD5 not taken", "CRAM-MD5", "504 5.5.4 no\r\n", -1,
		    MXK_ERR_AUTH, "AUTH CRAM-MD5\r\n~" },
		{ "XOAUTH2 error", "XOAUTH2", "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"
		    "535 5.7.8 no\r\n", -1, MXK_ERR_AUTH, NULL },
		{ "454", "PLAIN", "454 4.7.0 later\r\n", -1, MXK_ERR_TEMP,
		    NULL },
		{ "garbage", "PLAIN", "2 35 ok\r\n", -1, MXK_ERR_PROTO, NULL },
	};
	struct mxk_smtpc	*s;
	struct mxk_ehlo		 caps;
	struct mxk_err		 e;
	struct run		 r;
	const char		*out;
	size_t			 i, k, len, olen;
	char			 how[96];

	if ((s = mxk_smtpc_new(NULL)) == NULL)
		return;
	parse_caps("250-mx\r\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n",
	    &caps);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].server);
		for (k = 0; k <= len; k++) {
			T_EQ_INT(mxk_smtpc_start_auth(s, &caps, cases[i].mech,
			    "user", "secret", &e), 0, cases[i].name);
			drive_engine(s, cases[i].server, FEED_CUT, k, 0, &r);
			(void)snprintf(how, sizeof(how), "%s, cut at %zu",
			    cases[i].name, k);
			T_EQ_INT(r.rc, cases[i].rc, how);
			if (r.rc == -1)
				T_EQ_INT(r.err.class, cases[i].eclass, how);
			if (cases[i].sent != NULL)
				T_EQ_STR(r.sent, cases[i].sent, how);
			out = mxk_smtpc_output(s, &olen);
			T_EQ_INT(olen, 0, "nothing left to send");
			(void)out;
		}
	}
	/* Refused before anything is queued. */
	T_EQ_INT(mxk_smtpc_start_auth(s, &caps, "GSSAPI", "u", "p", &e), -1,
	    "not offered");
	T_EQ_INT(e.class, MXK_ERR_AUTH, "not offered: class");
	(void)mxk_smtpc_output(s, &olen);
	T_EQ_INT(olen, 0, "not offered: nothing queued");
	parse_caps("250-mx\r\n250 AUTH GSSAPI\r\n", &caps);
	T_EQ_INT(mxk_smtpc_start_auth(s, &caps, NULL, "u", "p", &e), -1,
	    "no common mechanism");
	T_EQ_STR(e.status, "5.7.4", "no common mechanism: 5.7.4");
	mxk_smtpc_free(s);
}

/* Replies given parsed; replies when none is awaited. */
static void
test_engine_misc(void)
{
	struct mxk_smtpc	*s;
	struct mxk_ehlo		 caps;
	struct mxk_smtpc_event	 ev;
	struct mxk_reply	 r;
	struct mxk_err		 e;
	size_t			 used, len;

	if ((s = mxk_smtpc_new(NULL)) == NULL)
		return;
	T_EQ_INT(mxk_smtpc_start_ehlo(s, "c.test", 0, &caps, &e), 0, "start");
	mxk_smtpc_next(s, &ev);
	T_EQ_INT(ev.type, MXK_SMTPC_EV_SEND, "send first");
	/* Octets before the command is sent are not its answer. */
	T_EQ_INT(mxk_smtpc_feed(s, "250 mx\r\n", 8, &used), 0, "too early");
	T_EQ_INT(used, 0, "too early: nothing used");
	(void)mxk_smtpc_output(s, &len);
	mxk_smtpc_sent(s, len);
	mxk_smtpc_next(s, &ev);
	T_EQ_INT(ev.type, MXK_SMTPC_EV_READ, "then read");
	T_EQ_STR(mxk_smtpc_state_name(s), "ehlo", "state name");
	memset(&r, 0, sizeof(r));
	r.code = 250;
	(void)snprintf(r.text, sizeof(r.text), "mx\nSTARTTLS");
	r.nlines = 2;
	T_EQ_INT(mxk_smtpc_reply(s, &r), 0, "a parsed reply");
	T_EQ_INT(caps.starttls, 1, "parsed reply: STARTTLS");
	mxk_smtpc_next(s, &ev);
	T_EQ_INT(ev.type, MXK_SMTPC_EV_DONE, "done");
	T_EQ_INT(mxk_smtpc_reply(s, &r), -1, "a reply after the end");
	mxk_smtpc_next(s, &ev);
	T_EQ_INT(ev.type, MXK_SMTPC_EV_ERROR, "is an error");
	T_EQ_INT(ev.err->class, MXK_ERR_PROTO, "a protocol error");
	T_EQ_STR(mxk_smtpc_evtype_name(ev.type), "error", "event name");
	/* CR or LF in a name never reaches the output. */
	T_EQ_INT(mxk_smtpc_start_ehlo(s, "c.test\r\nMAIL FROM:<x>", 0, &caps,
	    &e), -1, "CRLF in the EHLO name");
	T_EQ_INT(e.class, MXK_ERR_DATA, "CRLF: class");
	(void)mxk_smtpc_output(s, &len);
	T_EQ_INT(len, 0, "CRLF: nothing queued");
	mxk_smtpc_free(s);
}

static void
test_auth(void)
{
	static const struct {
		const char	*name;
		const char	*mech;
		const char	*user, *secret;
		const char	*server;
		int		 want;
		int		 class;
		const char	*sent;
	} cases[] = {
		{ "PLAIN", "PLAIN", "a", "b", "235 ok\r\n", 0, 0,
		    "AUTH PLAIN AGEAYg==\r\n" },
		{ "LOGIN", "LOGIN", "a", "b",
		    "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n", 0, 0,
		    "AUTH LOGIN\r\nYQ==\r\nYg==\r\n" },
		/* RFC 2195's example. */
		{ "CRAM-MD5", "CRAM-MD5", "tim", "tanstaaftanstaaf",
		    "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
		    "\r\n235 ok\r\n", 0, 0,
		    "AUTH CRAM-MD5\r\ndGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMz"
		    "NGQzODkw\r\n" },
		{ "XOAUTH2 refused", "XOAUTH2", "u", "tok",
		    "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n535 5.7.8 no\r\n", -1,
		    MXK_ERR_AUTH, NULL },
		{ "535", "PLAIN", "a", "b", "535 5.7.8 bad\r\n", -1,
		    MXK_ERR_AUTH, NULL },
		{ "454", "PLAIN", "a", "b", "454 4.7.0 later\r\n", -1,
		    MXK_ERR_TEMP, NULL },
		{ "not offered", "GSSAPI", "a", "b", "", -1, MXK_ERR_AUTH, "" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mxk_smtpc_io	 io;
		struct mxk_conn		*conn;
		struct mxk_ehlo		 caps;
		struct mxk_err		 e;
		char			 got[1024];
		ssize_t			 n;
		int			 sv[2], res;

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			continue;
		parse_caps("250-mx\r\n250 AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n",
		    &caps);
		(void)write(sv[1], cases[i].server, strlen(cases[i].server));
		conn = mxk_conn_new_fd(sv[0]);
		mxk_smtpc_io_init(&io, conn, NULL);
		mxk_err_clear(&e);
		res = mxk_smtpc_auth(&io, &caps, cases[i].mech, cases[i].user,
		    cases[i].secret, mxk_deadline_in(2000), &e);
		T_EQ_INT(res, cases[i].want, cases[i].name);
		if (res == -1)
			T_EQ_INT(e.class, cases[i].class, cases[i].name);
		(void)shutdown(sv[0], SHUT_WR);
		n = read(sv[1], got, sizeof(got) - 1);
		got[n > 0 ? n : 0] = '\0';
		if (cases[i].sent != NULL)
			T_EQ_STR(got, cases[i].sent, cases[i].name);
		mxk_smtpc_io_free(&io);
		mxk_conn_free(conn);
		(void)close(sv[1]);
	}
}

static void
test_xtext(void)
{
	char	buf[64];

	T_EQ_INT(mxk_smtpc_xtext("a+b=c d\x01", buf, sizeof(buf)), 0, "xtext");
	T_EQ_STR(buf, "a+2Bb+3Dc+20d+01", "xtext value");
	T_EQ_INT(mxk_smtpc_xtext("++++", buf, 8), -1, "xtext too long");
	T_EQ_INT(mxk_smtpc_unitext("jos\xc3\xa9+a=b\\c d@x.test", buf,
	    sizeof(buf)), 0, "unitext");
	T_EQ_STR(buf, "jos\xc3\xa9\\x{2B}a\\x{3D}b\\x{5C}c\\x{20}d@x.test",
	    "unitext value");
	T_EQ_INT(mxk_smtpc_unitext("+", buf, 6), -1, "unitext too long");
	T_EQ_INT(mxk_smtpc_unitext("+", buf, 7), 0, "unitext just fits");
}

/*
 * The message file is the caller's regular file, read again as it is sent
 * (lib/msg "direct"): if it shrinks or grows in between, the transaction
 * must fail before the end of data, not send "BDAT 0" for ever nor a
 * message other than the one announced.
 */
static void
test_changed_file(void)
{
	static const struct {
		const char	*name;
		const char	*caps;
		int		 grow;
	} cases[] = {
		{ "BDAT, file shrank", "250-mx\r\n250 CHUNKING\r\n", 0 },
		{ "DATA, file shrank", "250 mx\r\n", 0 },
		{ "BDAT, file grew", "250-mx\r\n250 CHUNKING\r\n", 1 },
		{ "DATA, file grew", "250 mx\r\n", 1 },
	};
	char	body[4096], replies[40 * 8 + 16];
	size_t	i, k;

	for (i = 0, k = 0; i < 100; i++)
		k += (size_t)snprintf(body + k, sizeof(body) - k,
		    "line %zu of the message\n", i);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char			 path[] = "/tmp/mxkit-test-smtpc.XXXXXX";
		char			 got[65536];
		struct mxk_smtpc_io	 io;
		struct mxk_conn		*conn;
		struct mxk_ehlo		 caps;
		struct mxk_smtpc_txn	 t;
		struct mxk_smtpc_rcpt	 rc[1];
		struct mxk_msg		*m = NULL;
		struct mxk_err		 e;
		ssize_t			 n;
		size_t			 off = 0;
		int			 fd, sv[2], res, bdat;

		/* MAIL, RCPT, then DATA and the end, or every BDAT. */
		bdat = strstr(cases[i].caps, "CHUNKING") != NULL;
		for (k = 0, off = 0; k < 40; k++)
			off += (size_t)snprintf(replies + off,
			    sizeof(replies) - off, k == 2 && !bdat ?
			    "354 go\r\n" : "250 ok\r\n");
		off = 0;
		if ((fd = mkstemp(path)) == -1)
			continue;
		(void)unlink(path);
		if (write(fd, body, strlen(body)) != (ssize_t)strlen(body) ||
		    lseek(fd, 0, SEEK_SET) != 0 ||
		    mxk_msg_read(fd, NULL, &m, &e) == -1) {
			T_OK(0, "%s: message", cases[i].name);
			(void)close(fd);
			continue;
		}
		if (cases[i].grow)
			(void)pwrite(fd, "more\n", 5, (off_t)strlen(body));
		else if (ftruncate(fd, 100) == -1)
			T_OK(0, "ftruncate");
		(void)close(fd);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			continue;
		(void)write(sv[1], replies, strlen(replies));
		parse_caps(cases[i].caps, &caps);
		conn = mxk_conn_new_fd(sv[0]);
		mxk_smtpc_io_init(&io, conn, NULL);
		memset(&t, 0, sizeof(t));
		memset(rc, 0, sizeof(rc));
		t.from = "s@x.test";
		t.msg = m;
		t.chunk = 256;
		rc[0].addr = "a@x.test";
		res = mxk_smtpc_transaction(&io, &caps, &t, rc, 1,
		    mxk_deadline_in(2000), &e);
		if (cases[i].grow) {
			/* Octets past the scanned size are never read: the
			 * message announced is the message sent. */
			T_EQ_INT(res, 0, cases[i].name);
			T_OK(rc[0].state == MXK_RCPT_SENT, "%s: sent",
			    cases[i].name);
		} else {
			T_EQ_INT(res, -1, cases[i].name);
			T_OK(e.class == MXK_ERR_IO, "%s: class %d (%s)",
			    cases[i].name, e.class, e.msg);
			T_OK(rc[0].state == MXK_RCPT_PENDING, "%s: not sent",
			    cases[i].name);
		}
		(void)shutdown(sv[0], SHUT_WR);
		while (off < sizeof(got) - 1 && (n = read(sv[1], got + off,
		    sizeof(got) - 1 - off)) > 0)
			off += (size_t)n;
		got[off] = '\0';
		T_OK(strstr(got, "BDAT 0") == NULL, "%s: no BDAT 0",
		    cases[i].name);
		if (cases[i].grow) {
			T_OK(strstr(got, "more\r\n") == NULL, "%s: only the "
			    "scanned message", cases[i].name);
			T_OK(strstr(got, "line 99 of the message\r\n") != NULL,
			    "%s: the whole scanned message", cases[i].name);
		} else {
			T_OK(strstr(got, "\r\n.\r\n") == NULL, "%s: no end of "
			    "data", cases[i].name);
			T_OK(strstr(got, " LAST\r\n") == NULL, "%s: no last "
			    "chunk", cases[i].name);
		}
		mxk_smtpc_io_free(&io);
		mxk_conn_free(conn);
		(void)close(sv[1]);
		mxk_msg_free(m);
	}
}

/* The default EHLO name: a domain name, or the address literal of our
 * end of the connection (RFC 5321 §4.1.4). */
static void
test_ehlo_name(void)
{
	struct sockaddr_in	 sa;
	socklen_t		 sl = sizeof(sa);
	char			 hn[256], got[300];
	int			 l, c, sv[2], fqdn;

	hn[0] = '\0';
	(void)gethostname(hn, sizeof(hn));
	hn[sizeof(hn) - 1] = '\0';
	fqdn = strchr(hn, '.') != NULL && hn[strlen(hn) - 1] != '.';
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) == -1 ||
	    (c = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		T_OK(0, "ehlo name: a loopback socket");
		return;
	}
	T_EQ_INT(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0,
	    "ehlo name: connect");
	mxk_starttls_ehlo_name(c, got, sizeof(got));
	T_EQ_STR(got, fqdn ? hn : "[127.0.0.1]", "ehlo name over TCP");
	(void)close(c);
	(void)close(l);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0) {
		mxk_starttls_ehlo_name(sv[0], got, sizeof(got));
		T_EQ_STR(got, hn[0] != '\0' ? hn : "localhost",
		    "ehlo name over a local socket");
		(void)close(sv[0]);
		(void)close(sv[1]);
	}
}

int
main(void)
{
	test_ehlo();
	test_ehlo_name();
	test_io();
	test_send_checks();
	test_txn();
	test_auth();
	test_xtext();
	test_changed_file();
	test_engine_txn();
	test_engine_reuse();
	test_engine_timeouts();
	test_engine_ehlo();
	test_engine_auth();
	test_engine_misc();
	return t_done("smtpc");
}
