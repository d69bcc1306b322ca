/* ISC license. */

/*
 * Fuzz target: the SMTP/LMTP server engine (lib/smtpd), whole sessions.
 *
 * Input: byte 0 picks the options (LMTP, STARTTLS, AUTH in cleartext,
 * strict, small limits), byte 1 seeds the chunk sizes; the rest is what
 * the client sends, fed in random chunks as it would arrive from a socket.
 * When the engine asks for STARTTLS the "handshake" succeeds at once.
 * With bit 6 of byte 0, RCPT decisions are left PENDING and given with
 * mxk_smtpd_resume() after the feed (accept and refuse in turn), so are
 * AUTH decisions (mxk_smtpd_auth_done(): accept, refuse, fail), and the
 * replies to every other message are deferred (mxk_smtpd_defer(), then
 * mxk_smtpd_resume_message()); with bit
 * 7 the command hook answers some commands itself or drops the session.
 * Invariants: the output is always whole reply lines with a valid code and no
 * control characters;
 * the message octets given to the hooks never exceed the size limit; a
 * CLOSE is final; nothing leaks (ASan).
 *
 * fuzz-args: -max_len=16384
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

struct st {
	unsigned long long	 got, max;
	int			 in_msg;
	int			 pending, inject;
	unsigned		 n, nmsg;
	int			 deferred;
	int			 auth_wait, auth_ok;	/* an AUTH PENDING */
};

static int
h_rcpt(void *arg, struct mxk_smtpd *s, const char *to,
    struct mxk_smtpd_reply *r)
{
	struct st *st = arg;

	if (st->pending && (st->n++ & 1) == 0)
		return MXK_SMTPD_PENDING;
	return 0;
}

static int
h_command(void *arg, struct mxk_smtpd *s, const char *verb, const char *a,
    struct mxk_smtpd_reply *r)
{
	struct st	*st = arg;
	unsigned	 k;

	if (!st->inject)
		return 0;
	k = (unsigned)strlen(a) + (unsigned)(unsigned char)verb[0];
	if (k % 11 == 0) {
		mxk_smtpd_drop(s);
		return 0;
	}
	if (k % 3 == 0) {
		r->code = k % 2 ? 451 : 554;
		(void)snprintf(r->status, sizeof(r->status), "%d.0.0",
		    r->code / 100);
		(void)snprintf(r->text, sizeof(r->text), "injected");
		return -1;
	}
	return 0;
}

static int
h_begin(void *arg, struct mxk_smtpd *s, struct mxk_smtpd_reply *r)
{
	struct st *st = arg;

	st->got = 0;
	st->in_msg = 1;
	return 0;
}

static void
h_data(void *arg, struct mxk_smtpd *s, const char *p, size_t n)
{
	struct st *st = arg;

	CHECK(st->in_msg);
	st->got += n;
	CHECK(st->got <= st->max);
}

static void
h_end(void *arg, struct mxk_smtpd *s, int bad, struct mxk_smtpd_reply *r,
    size_t n)
{
	struct st	*st = arg;
	size_t		 i;

	CHECK(st->in_msg);
	st->in_msg = 0;
	if (st->pending && !bad && (st->nmsg++ & 1) == 0) {
		mxk_smtpd_defer(s);
		st->deferred = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		r[i].code = 250;
		(void)snprintf(r[i].status, sizeof(r[i].status), "2.0.0");
		(void)snprintf(r[i].text, sizeof(r[i].text), "ok");
	}
}

static void
h_abort(void *arg, struct mxk_smtpd *s)
{
	((struct st *)arg)->in_msg = 0;
}

static int
h_auth(void *arg, struct mxk_smtpd *s, const char *u, const char *p)
{
	struct st	*st = arg;
	int		 ok = strcmp(u, "u") == 0 ? 1 : (st->n++ & 1) ? 0 : -1;

	if (st->pending) {
		/* Decided after the feed, by mxk_smtpd_auth_done(). */
		st->auth_wait = 1;
		st->auth_ok = ok;
		return MXK_SMTPD_AUTH_PENDING;
	}
	return ok;
}

/*
 * Every line of out is "DDD[ -]..." ended by CRLF, with no control
 * character inside: what the client sent and the server echoes (the EHLO
 * name, say) must not bring CR, NUL or escapes into replies.
 */
static void
check_output(const char *o, size_t n)
{
	size_t	i = 0, j, k;

	while (i < n) {
		for (j = i; j < n && o[j] != '\n'; j++)
			;
		CHECK(j < n);
		CHECK(j - i >= 5 && o[j - 1] == '\r');
		for (k = i; k < j - 1; k++)
			CHECK((unsigned char)o[k] >= 0x20 && o[k] != 0x7f);
		CHECK(o[i] >= '2' && o[i] <= '5');
		CHECK(o[i + 1] >= '0' && o[i + 1] <= '9');
		CHECK(o[i + 2] >= '0' && o[i + 2] <= '9');
		CHECK(o[i + 3] == ' ' || o[i + 3] == '-');
		i = j + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxk_smtpd_params	 p;
	struct mxk_smtpd_hooks	 h;
	struct mxk_smtpd	*s;
	struct st		 st;
	const char		*o;
	size_t			 i, n, k;
	unsigned		 seed;
	int			 rc = MXK_SMTPD_CONTINUE;

	if (size < 2)
		return 0;
	memset(&p, 0, sizeof(p));
	p.hostname = "fuzz.test";
	p.lmtp = data[0] & 1;
	p.starttls = (data[0] >> 1) & 1;
	p.auth = (data[0] >> 2) & 1;
	p.auth_plaintext = (data[0] >> 3) & 1;
	p.strict = (data[0] >> 4) & 1;
	if (data[0] & 0x20) {
		p.max_size = 100;
		p.max_rcpt = 3;
		p.max_line = 64;
	}
	seed = data[1];
	memset(&st, 0, sizeof(st));
	st.max = p.max_size > 0 ? p.max_size : 30ULL * 1024 * 1024;
	st.pending = (data[0] >> 6) & 1;
	st.inject = (data[0] >> 7) & 1;
	memset(&h, 0, sizeof(h));
	h.arg = &st;
	h.data_begin = h_begin;
	h.data = h_data;
	h.data_end = h_end;
	h.data_abort = h_abort;
	h.auth = h_auth;
	h.rcpt = h_rcpt;
	h.command = h_command;
	if ((s = mxk_smtpd_new(&p, &h)) == NULL)
		return 0;
	mxk_smtpd_greet(s);
	data += 2;
	size -= 2;
	for (i = 0; i < size && rc != MXK_SMTPD_CLOSE; i += k) {
		seed = seed * 1103515245u + 12345u;
		k = 1 + (seed >> 16) % 97;
		if (k > size - i)
			k = size - i;
		rc = mxk_smtpd_feed(s, (const char *)data + i, k);
		while (rc == MXK_SMTPD_PAUSE) {
			struct mxk_smtpd_reply	r;

			CHECK(mxk_smtpd_paused(s));
			memset(&r, 0, sizeof(r));
			r.code = 450;
			(void)snprintf(r.status, sizeof(r.status), "4.2.0");
			if (st.auth_wait) {
				st.auth_wait = 0;
				rc = mxk_smtpd_auth_done(s, st.auth_ok);
			} else if (st.deferred) {
				st.deferred = 0;
				CHECK(mxk_smtpd_in_data(s));
				r.code = 250;
				(void)snprintf(r.status, sizeof(r.status),
				    "2.0.0");
				rc = mxk_smtpd_resume_message(s, &r, 1);
			} else
				rc = mxk_smtpd_resume(s, (st.n & 2) ? &r :
				    NULL);
		}
		CHECK(!mxk_smtpd_paused(s));
		o = mxk_smtpd_output(s, &n);
		check_output(o, n);
		mxk_smtpd_consume(s, n);
		if (rc == MXK_SMTPD_STARTTLS)
			mxk_smtpd_tls_done(s, "TLS-fuzz");
	}
	if (rc == MXK_SMTPD_CLOSE) {
		CHECK(mxk_smtpd_feed(s, "NOOP\r\n", 6) == MXK_SMTPD_CLOSE);
	}
	mxk_smtpd_free(s);
	return 0;
}
