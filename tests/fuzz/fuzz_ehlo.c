/* ISC license. */

/*
 * Fuzz target: EHLO capabilities (lib/smtpc mxk_ehlo_parse) on a reply.
 *
 * Input: a server's EHLO reply as bytes.  It goes through mxk_reply_parse()
 * as the client does, and every complete reply in it is handed to
 * mxk_ehlo_parse().  So that the capability parser is reached even when
 * the framing is wrong, the input is also turned directly into reply text
 * (octets outside 0x20-0x7e except LF become '?', as lib/reply does) under
 * code 250.  The result is checked against struct mxk_ehlo's contract.
 *
 * fuzz-args: -max_len=4096
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
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

static const char *const mechs[] = {
	"PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-256", "plain", "A",
};

/* Our own answer: is mech one of the blank-separated words of list? */
static int
has_token(const char *list, const char *mech)
{
	size_t	n = strlen(mech), w;

	for (;;) {
		while (*list == ' ')
			list++;
		if (*list == '\0')
			return 0;
		w = strcspn(list, " ");
		if (w == n && strncasecmp(list, mech, n) == 0)
			return 1;
		list += w;
	}
}

static void
check_caps(const struct mxk_reply *r)
{
	struct mxk_ehlo	 c;
	size_t		 i, n;

	mxk_ehlo_parse(r, &c);
	CHECK(c.esmtp == (r->code == 250));
	n = strnlen(c.name, sizeof(c.name));
	CHECK(n < sizeof(c.name));
	CHECK(strpbrk(c.name, " \n") == NULL);
	n = strnlen(c.auth, sizeof(c.auth));
	CHECK(n < sizeof(c.auth));
	for (i = 0; i < n; i++)
		CHECK(!(c.auth[i] >= 'a' && c.auth[i] <= 'z') &&
		    c.auth[i] != '\n');
	if (!c.size)
		CHECK(c.size_max == 0);
	CHECK((c.starttls | c.pipelining | c.chunking | c.binarymime |
	    c.eightbitmime | c.smtputf8 | c.dsn | c.enhancedstatus |
	    c.size) <= 1);
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		CHECK(mxk_ehlo_has_auth(&c, mechs[i]) ==
		    has_token(c.auth, mechs[i]));
	(void)mxk_ehlo_has_auth(&c, "");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mxk_reply	 r;
	struct mxk_err		 e;
	char			*w;
	size_t			 off = 0, used, i, n, nrep = 0;

	/* As the client reads it: an exact copy, replies one after another. */
	if ((w = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(w, data, size);
	while (nrep++ < 64 &&
	    mxk_reply_parse(w + off, size - off, NULL, &r, &used, &e) == 1) {
		check_caps(&r);
		off += used;
	}
	free(w);

	/* Straight to the capability parser. */
	memset(&r, 0, sizeof(r));
	r.code = 250;
	n = size < sizeof(r.text) - 1 ? size : sizeof(r.text) - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = data[i];

		r.text[i] = c == '\n' || (c >= 0x20 && c <= 0x7e) ?
		    (char)c : '?';
		if (c == '\n')
			r.nlines++;
	}
	r.text[n] = '\0';
	r.nlines++;
	check_caps(&r);
	return 0;
}
