/* ISC license. */

#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

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

int
main(void)
{
	test_ehlo();
	test_io();
	test_send_checks();
	return t_done("smtpc");
}
