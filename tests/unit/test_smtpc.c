/* ISC license. */

#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"

#include "clock.h"
#include "net.h"
#include "reply.h"
#include "smtpc.h"
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
mkmsg(const char *text)
{
	char		 path[] = "/tmp/mxkit-test-smtpc.XXXXXX";
	struct mxk_msg	*m = NULL;
	struct mxk_err	 e;
	int		 fd = mkstemp(path);

	if (fd == -1)
		return NULL;
	(void)unlink(path);
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
	    lseek(fd, 0, SEEK_SET) == 0)
		(void)mxk_msg_read(fd, NULL, &m, &e);
	(void)close(fd);
	return m;
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
		{ "MAIL 334", "250 mx\r\n", 0, "334 VXNlcm5hbWU6\r\n", 0, "bb",
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
		m = mkmsg(strstr(cases[i].name, "8bit") != NULL ?
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
			/* A 3xx out of place: a protocol error, not "2.0.0". */
			T_EQ_INT(rc[0].code, 334, "334 code");
			T_EQ_STR(rc[0].status, "5.5.0", "334 status");
		}
		if (strcmp(cases[i].name, "size over the limit") == 0)
			T_EQ_INT(rc[0].code, 552, "size 552");
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
		T_EQ_INT(res, -1, cases[i].name);
		T_OK(e.class == MXK_ERR_IO, "%s: class %d (%s)", cases[i].name,
		    e.class, e.msg);
		T_OK(rc[0].state == MXK_RCPT_PENDING, "%s: not sent",
		    cases[i].name);
		(void)shutdown(sv[0], SHUT_WR);
		while (off < sizeof(got) - 1 && (n = read(sv[1], got + off,
		    sizeof(got) - 1 - off)) > 0)
			off += (size_t)n;
		got[off] = '\0';
		T_OK(strstr(got, "BDAT 0") == NULL, "%s: no BDAT 0",
		    cases[i].name);
		T_OK(strstr(got, "\r\n.\r\n") == NULL, "%s: no end of data",
		    cases[i].name);
		T_OK(strstr(got, " LAST\r\n") == NULL, "%s: no last chunk",
		    cases[i].name);
		mxk_smtpc_io_free(&io);
		mxk_conn_free(conn);
		(void)close(sv[1]);
		mxk_msg_free(m);
	}
}

int
main(void)
{
	test_ehlo();
	test_io();
	test_send_checks();
	test_txn();
	test_auth();
	test_xtext();
	test_changed_file();
	return t_done("smtpc");
}
