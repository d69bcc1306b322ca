/* ISC license. */

/*
 * Fuzz target: the SMTP client engine (lib/smtpc), whole operations.
 *
 * Input: byte 0 picks the operation and the server's extensions (a
 * transaction with or without PIPELINING, CHUNKING, LMTP, a first RSET,
 * SIZE, SMTPUTF8, DSN; or EHLO; or AUTH), byte 1 seeds the number of
 * recipients, the BDAT chunk size, the AUTH mechanism and how the replies
 * are split; the rest is what the server sends, fed in pieces as the
 * engine asks for replies (as bytes, or parsed first when byte 1 says so).
 * Invariants: the output is whole CRLF-ended command lines with no other
 * CR, LF or NUL; every recipient is told once, and a finished transaction
 * has an outcome for each; BDAT chunks cover the message exactly, in
 * order; an error carries a class and a message; the engine always makes
 * progress; nothing leaks (ASan).  When the first operation is done and
 * input is left, a transaction follows on the same engine.
 *
 * fuzz-args: -max_len=8192
 */

#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "msg.h"
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

#define NRCPT	4

static struct mxk_msg *
message(void)
{
	static const char	 text[] = "Subject: fuzz\r\n\r\nhello\r\n.dot\r\n";
	static struct mxk_msg	*m;
	struct mxk_err		 e;
	int			 fd;

	if (m != NULL)
		return m;
	if ((fd = memfd_create("fuzz-smtpc", 0)) == -1)
		abort();
	if (write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) ||
	    lseek(fd, 0, SEEK_SET) != 0 || mxk_msg_read(fd, NULL, &m, &e) == -1)
		abort();
	(void)close(fd);
	return m;
}

/* Whole lines "...\r\n", no CR, LF or NUL inside. */
static void
check_output(const char *o, size_t n)
{
	size_t	i;

	CHECK(n >= 2 && o[n - 2] == '\r' && o[n - 1] == '\n');
	for (i = 0; i < n; i++) {
		CHECK(o[i] != '\0');
		if (o[i] == '\r') {
			CHECK(i + 1 < n && o[i + 1] == '\n');
			i++;
		} else
			CHECK(o[i] != '\n');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mechs[] = {
		NULL, "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"
	};
	struct mxk_smtpc	*s;
	struct mxk_smtpc_event	 ev;
	struct mxk_smtpc_txn	 t;
	struct mxk_smtpc_rcpt	 rc[NRCPT];
	struct mxk_reply_params	 rp;
	struct mxk_ehlo		 caps, out;
	struct mxk_reply	 r;
	struct mxk_err		 e;
	struct mxk_msg		*m = message();
	const char		*o, *in;
	unsigned long long	 off = 0;
	size_t			 n, pos = 0, plen = 0, k, used, i, steps;
	unsigned		 seed;
	int			 op, parsed, told[NRCPT], rcvd_done = 0;
	int			 starved = 0, round = 0;

	if (size < 2)
		return 0;
	op = data[0] & 3;
	seed = data[1];
	parsed = (data[1] & 0x80) != 0;
	in = (const char *)data + 2;
	size -= 2;

	memset(&rp, 0, sizeof(rp));
	if (data[1] & 0x40) {
		rp.linemax = 64;
		rp.max = 256;
	}
	memset(&caps, 0, sizeof(caps));
	caps.esmtp = 1;
	caps.pipelining = (data[0] >> 2) & 1;
	caps.chunking = (data[0] >> 3) & 1;
	caps.size = (data[0] >> 6) & 1;
	caps.size_max = (data[1] & 0x20) ? 10 : 0;
	caps.smtputf8 = (data[0] >> 7) & 1;
	caps.dsn = (data[1] >> 4) & 1;
	(void)snprintf(caps.auth, sizeof(caps.auth),
	    "PLAIN LOGIN CRAM-MD5 XOAUTH2");
	memset(&t, 0, sizeof(t));
	memset(rc, 0, sizeof(rc));
	memset(told, 0, sizeof(told));
	t.from = "s@fuzz.test";
	t.msg = m;
	t.lmtp = (data[0] >> 4) & 1;
	t.rset = (data[0] >> 5) & 1;
	t.smtputf8 = (data[1] >> 3) & 1;
	t.chunk = 1 + (data[1] & 7);
	t.dsn_notify = "SUCCESS,FAILURE";
	t.dsn_envid = "id+1";
	n = 1 + (data[1] & 3);
	for (i = 0; i < n; i++) {
		rc[i].addr = "r@fuzz.test";
		rc[i].orcpt = i == 0 ? "r@fuzz.test" : NULL;
	}

	if ((s = mxk_smtpc_new(&rp)) == NULL)
		return 0;
	switch (op) {
	case 0:
	case 1:
		CHECK(mxk_smtpc_start_txn(s, &caps, &t, rc, n, &e) == 0);
		break;
	case 2:
		CHECK(mxk_smtpc_start_ehlo(s, "fuzz.test", t.lmtp, &out,
		    &e) == 0);
		break;
	default:
		CHECK(mxk_smtpc_start_auth(s, &caps, mechs[data[1] % 5],
		    "user", "secret", &e) == 0);
		break;
	}

again:
	for (steps = 0; ; steps++) {
		/* Every step moves: at most a few per input octet. */
		CHECK(steps < 64 + 8 * size);
		mxk_smtpc_next(s, &ev);
		CHECK(mxk_smtpc_state_name(s) != NULL);
		switch (ev.type) {
		case MXK_SMTPC_EV_SEND:
			o = mxk_smtpc_output(s, &k);
			check_output(o, k);
			mxk_smtpc_sent(s, k);
			break;
		case MXK_SMTPC_EV_READ:
			/* The next piece of the input joins what is
			 * pending; none left and nothing taken: the
			 * server said no more. */
			if (pos + plen < size) {
				seed = seed * 1103515245u + 12345u;
				k = 1 + (seed >> 16) % 61;
				if (k > size - pos - plen)
					k = size - pos - plen;
				plen += k;
			} else if (plen == 0 || starved)
				goto end;
			used = 0;
			if (parsed && mxk_reply_parse(in + pos, plen, &rp, &r,
			    &used, &e) == 1)
				(void)mxk_smtpc_reply(s, &r);
			else
				(void)mxk_smtpc_feed(s, in + pos, plen, &used);
			CHECK(used <= plen);
			pos += used;
			plen -= used;
			starved = used == 0;
			break;
		case MXK_SMTPC_EV_RCPT:
			CHECK(op <= 1);
			CHECK(ev.rcpt < n);
			CHECK(!told[ev.rcpt]);
			CHECK(rc[ev.rcpt].state != MXK_RCPT_PENDING);
			told[ev.rcpt] = 1;
			break;
		case MXK_SMTPC_EV_MESSAGE:
			CHECK(op <= 1 && !t.used_bdat);
			mxk_smtpc_message_sent(s);
			break;
		case MXK_SMTPC_EV_CHUNK:
			CHECK(op <= 1 && t.used_bdat);
			o = mxk_smtpc_output(s, &k);
			check_output(o, k);
			CHECK(k > 5 && memcmp(o, "BDAT ", 5) == 0);
			CHECK(ev.off == off);
			CHECK(ev.off + ev.len <= mxk_msg_size(m));
			CHECK(ev.last == (ev.off + ev.len == mxk_msg_size(m)));
			off += ev.len;
			mxk_smtpc_message_sent(s);
			break;
		case MXK_SMTPC_EV_DONE:
			rcvd_done = 1;
			goto end;
		case MXK_SMTPC_EV_ERROR:
			CHECK(ev.err != NULL && ev.err->class != MXK_ERR_OK);
			CHECK(strnlen(ev.err->msg, sizeof(ev.err->msg)) <
			    sizeof(ev.err->msg));
			goto end;
		default:
			CHECK(0);
		}
	}
end:
	if (rcvd_done && op <= 1)
		for (i = 0; i < n; i++)
			CHECK(rc[i].state != MXK_RCPT_PENDING && told[i]);
	if (rcvd_done && op == 2)
		CHECK(strnlen(out.name, sizeof(out.name)) < sizeof(out.name));
	/* The session goes on: a transaction on the same engine, with what
	 * the server has still to say. */
	if (round++ == 0 && rcvd_done && pos + plen < size) {
		memset(told, 0, sizeof(told));
		off = 0;
		rcvd_done = starved = 0;
		op = 0;
		t.rset = 1;
		t.no_pipelining = !t.no_pipelining;
		CHECK(mxk_smtpc_start_txn(s, &caps, &t, rc, n, &e) == 0);
		goto again;
	}
	mxk_smtpc_free(s);
	return 0;
}
