/* ISC license. */

/*
 * Fuzz target: the SMTP/LMTP client engine (lib/smtpc) against a hostile
 * server, whole sessions: greeting, EHLO (HELO fallback), AUTH, two mail
 * transactions (MAIL, RCPT, DATA or BDAT, pipelined or not, LMTP replies
 * per recipient), RSET and QUIT.
 *
 * Input: byte 0 picks the options: bit 0 LMTP, bit 1 no CHUNKING, bit 2
 * no PIPELINING, bit 3 an 8-bit message with SMTPUTF8 and a non-ASCII
 * recipient, bit 4 DSN parameters, bits 5-7 AUTH (0 none, 1 the engine's
 * choice, 2 PLAIN, 3 LOGIN, 4 CRAM-MD5, 5 XOAUTH2, 6-7 none).  Byte 1
 * seeds the read sizes (the server's bytes arrive in random chunks) and
 * its low bits give the BDAT chunk size.  The rest is everything the
 * server sends; the engine reads it through a struct mxk_conn whose
 * operations are ours, and end of input is the server closing.
 *
 * Checked: every call returns its documented values; after a transaction
 * that returned 0 no recipient is still PENDING; SENT recipients were
 * accepted and have a 2xx, DEFERRED a 4xx, BOUNCED neither; statuses are
 * valid and of the reply's class (5.5.0 for a misplaced 3xx); texts and
 * error messages are printable;
 * the client writes a bounded amount; and the secret never appears in
 * the protocol transcript, neither as text nor in the base64 forms AUTH
 * sends (log.h: AUTH is redacted).  With MXK_FUZZ_VERBOSE set in the
 * environment the transcript goes to stderr.
 *
 * fuzz-args: -max_len=8192
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "msg.h"
#include "net.h"
#include "reply.h"
#include "smtpc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#define USER		"fuzzuser"
#define SECRET		"Sw0rdfish-s3cret"
#define OUTMAX		(1024 * 1024)

struct peer {
	const uint8_t	*p;
	size_t		 len, off;
	unsigned	 seed;
	size_t		 wrote;
};

/* The server's side: our input in random chunks, then end of file. */
static ssize_t
p_read(void *ctx, void *buf, size_t len, struct mxk_err *e)
{
	struct peer	*pe = ctx;
	size_t		 k;

	if (pe->off >= pe->len)
		return 0;
	pe->seed = pe->seed * 1103515245u + 12345u;
	k = 1 + (pe->seed >> 16) % 300;
	if (k > len)
		k = len;
	if (k > pe->len - pe->off)
		k = pe->len - pe->off;
	memcpy(buf, pe->p + pe->off, k);
	pe->off += k;
	return (ssize_t)k;
}

static ssize_t
p_write(void *ctx, const void *buf, size_t len, struct mxk_err *e)
{
	struct peer *pe = ctx;

	pe->wrote += len;
	CHECK(pe->wrote <= OUTMAX);
	return (ssize_t)len;
}

static const struct mxk_conn_ops peer_ops = { p_read, p_write, NULL, NULL };

/* Forbidden in client transcript lines: the secret in every form. */
static char	forbidden[6][128];
static size_t	nforbidden;
static int	verbose;

static void
b64(const unsigned char *in, size_t len, char *out)
{
	static const char c[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t	i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = c[in[i] >> 2];
		out[o++] = c[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[o++] = c[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		out[o++] = c[in[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = c[in[i] >> 2];
		if (i + 1 < len) {
			out[o++] = c[(in[i] & 3) << 4 | in[i + 1] >> 4];
			out[o++] = c[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = c[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
}

static void
sink(void *ctx, enum mxk_log_level l, const char *line)
{
	size_t	i;

	if (verbose)
		(void)fprintf(stderr, "%s\n", line);
	if (strncmp(line, ">>> ", 4) != 0)
		return;
	for (i = 0; i < nforbidden; i++)
		if (strstr(line, forbidden[i]) != NULL) {
			(void)fprintf(stderr, "secret in transcript: %s\n",
			    line);
			abort();
		}
}

static struct mxk_msg	*msg_ascii, *msg_8bit;

static struct mxk_msg *
mkmsg(const char *text)
{
	struct mxk_msg	*m = NULL;
	struct mxk_err	 e;
	int		 fd;

	if ((fd = memfd_create("fuzz-msg", 0)) == -1)
		abort();
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    lseek(fd, 0, SEEK_SET) != 0 || mxk_msg_read(fd, NULL, &m, &e) == -1)
		abort();
	(void)close(fd);
	return m;
}

static void
init(void)
{
	unsigned char	raw[128];
	size_t		n;

	verbose = getenv("MXK_FUZZ_VERBOSE") != NULL;
	mxk_log_set_sink(sink, NULL);
	mxk_log_set_level(MXK_LOG_TRACE);
	nforbidden = 0;
	(void)snprintf(forbidden[nforbidden++], 128, "%s", SECRET);
	b64((const unsigned char *)SECRET, strlen(SECRET),
	    forbidden[nforbidden++]);
	n = (size_t)snprintf((char *)raw, sizeof(raw), "%c%s%c%s", 0, USER, 0,
	    SECRET);
	raw[0] = '\0';
	raw[1 + strlen(USER)] = '\0';
	b64(raw, n, forbidden[nforbidden++]);
	n = (size_t)snprintf((char *)raw, sizeof(raw),
	    "user=%s\001auth=Bearer %s\001\001", USER, SECRET);
	b64(raw, n, forbidden[nforbidden++]);
	msg_ascii = mkmsg("From: a@x.test\nSubject: t\n\nhello\n.dot\n..two\n"
	    "a line to make the message longer than one BDAT chunk\n"
	    "and another one, with a bare CR\rin it\n.\nend");
	msg_8bit = mkmsg("From: a@x.test\nSubject: \xc3\xa9t\xc3\xa9\n\n"
	    "caf\xc3\xa9\r\n.\r\n");
}

static void
check_text(const char *t, size_t size)
{
	size_t	i, n = strnlen(t, size);

	CHECK(n < size);
	for (i = 0; i < n; i++)
		CHECK((unsigned char)t[i] >= 0x20 && (unsigned char)t[i] != 0x7f);
}

static void
check_err(const struct mxk_err *e)
{
	CHECK(e->class >= MXK_ERR_OK && e->class < MXK_ERR__COUNT);
	CHECK(e->class != MXK_ERR_OK);
	check_text(e->msg, sizeof(e->msg));
	if (e->status[0] != '\0')
		CHECK(mxk_err_status_valid(e->status));
}

static void
check_rcpts(const struct mxk_smtpc_rcpt *rc, size_t n, int ret)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		CHECK(rc[i].state <= MXK_RCPT_BOUNCED);
		check_text(rc[i].text, sizeof(rc[i].text));
		CHECK(strnlen(rc[i].status, sizeof(rc[i].status)) <
		    sizeof(rc[i].status));
		switch (rc[i].state) {
		case MXK_RCPT_PENDING:
			/* 0: "the dialogue went to its end". */
			CHECK(ret == -1);
			break;
		case MXK_RCPT_SENT:
			CHECK(rc[i].accepted);
			CHECK(rc[i].code / 100 == 2);
			break;
		case MXK_RCPT_DEFERRED:
			CHECK(rc[i].code / 100 == 4);
			break;
		case MXK_RCPT_BOUNCED:
			CHECK(rc[i].code / 100 != 2 && rc[i].code / 100 != 4);
			break;
		}
		if (rc[i].state != MXK_RCPT_PENDING &&
		    rc[i].status[0] != '\0') {
			CHECK(mxk_err_status_valid(rc[i].status));
			/* A misplaced 3xx is a protocol error, 5.5.0. */
			if (rc[i].code / 100 == 3)
				CHECK(strcmp(rc[i].status, "5.5.0") == 0);
			else
				CHECK(rc[i].status[0] - '0' ==
				    rc[i].code / 100);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mechs[8] = {
		NULL, NULL, "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", NULL, NULL
	};
	static int		 inited;
	struct peer		 pe;
	struct mxk_conn		*conn;
	struct mxk_smtpc_io	 io;
	struct mxk_ehlo		 caps;
	struct mxk_reply	 r;
	struct mxk_smtpc_txn	 t;
	struct mxk_smtpc_rcpt	 rc[3];
	struct mxk_err		 e;
	long long		 dl;
	int			 opt, auth, ret, round;

	if (!inited) {
		init();
		inited = 1;
	}
	if (size < 2)
		return 0;
	opt = data[0];
	memset(&pe, 0, sizeof(pe));
	pe.p = data + 2;
	pe.len = size - 2;
	pe.seed = data[1];
	if ((conn = mxk_conn_new_fd(-1)) == NULL)
		abort();
	mxk_conn_set_ops(conn, &peer_ops, &pe);
	mxk_smtpc_io_init(&io, conn, NULL);
	io.lmtp = opt & 1;
	dl = mxk_deadline_in(60000);

	memset(&r, 0, sizeof(r));
	ret = mxk_smtpc_read(&io, &r, dl, &e);
	CHECK(ret == 1 || ret == -1);
	if (ret == -1) {
		check_err(&e);
		goto out;
	}
	CHECK(r.code >= 200 && r.code <= 599);
	memset(&caps, 0, sizeof(caps));
	ret = mxk_smtpc_ehlo(&io, "client.test", &caps, &r, dl, &e);
	CHECK(ret == 1 || ret == -1);
	if (ret == -1) {
		check_err(&e);
		goto out;
	}
	CHECK(strnlen(caps.name, sizeof(caps.name)) < sizeof(caps.name));
	CHECK(strnlen(caps.auth, sizeof(caps.auth)) < sizeof(caps.auth));

	auth = opt >> 5 & 7;
	if (auth >= 1 && auth <= 5) {
		ret = mxk_smtpc_auth(&io, &caps, mechs[auth], USER, SECRET, dl,
		    &e);
		CHECK(ret == 0 || ret == -1);
		if (ret == -1) {
			check_err(&e);
			if (e.class != MXK_ERR_AUTH && e.class != MXK_ERR_TEMP)
				goto out;
		}
	}

	for (round = 0; round < 2; round++) {
		memset(&t, 0, sizeof(t));
		memset(rc, 0, sizeof(rc));
		t.from = round == 0 ? "sender@x.test" : "";
		t.msg = (opt & 8) ? msg_8bit : msg_ascii;
		t.smtputf8 = (opt & 8) != 0;
		t.lmtp = opt & 1;
		t.no_chunking = (opt & 2) != 0;
		t.no_pipelining = (opt & 4) != 0;
		t.rset = round > 0;
		t.chunk = 8 + (data[1] & 0x3f);
		if (opt & 0x10) {
			t.dsn_notify = "SUCCESS,FAILURE";
			t.dsn_ret = "HDRS";
			t.dsn_envid = "env+id=1 \x01";
			rc[0].orcpt = "a+b=c@x.test";
		}
		rc[0].addr = "a@x.test";
		rc[1].addr = (opt & 8) ? "j\xc3\xb6rg@x.test" : "b@x.test";
		rc[2].addr = "c@y.test";
		ret = mxk_smtpc_transaction(&io, &caps, &t, rc, 3, dl, &e);
		CHECK(ret == 0 || ret == -1);
		check_rcpts(rc, 3, ret);
		if (ret == -1) {
			check_err(&e);
			goto out;
		}
		if (t.refused && t.last.code != 0)
			CHECK(t.last.code >= 200 && t.last.code <= 599);
		if (t.used_bdat)
			CHECK(caps.chunking && !t.no_chunking);
		if (t.used_pipelining)
			CHECK(caps.pipelining && !t.no_pipelining);
	}
	ret = mxk_smtpc_rset(&io, dl, &e);
	CHECK(ret == 0 || ret == -1);
	if (ret == -1)
		check_err(&e);
	(void)mxk_smtpc_send(&io, "QUIT", dl, &e);
	/* Bytes left over are dropped like plaintext before TLS. */
	ret = mxk_smtpc_drop_plaintext(&io);
	CHECK(ret == 0 || ret == 1);
	CHECK(mxk_smtpc_drop_plaintext(&io) == 0);
out:
	mxk_smtpc_io_free(&io);
	mxk_conn_free(conn);
	return 0;
}
