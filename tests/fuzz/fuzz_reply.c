/* ISC license. */

/*
 * Fuzz target: the SMTP reply parser (lib/reply), as a client reads a
 * server's byte stream.
 *
 * Input: byte 0 picks the limits (linemax, max), byte 1 seeds the chunk
 * sizes, the rest is the stream.  The stream is parsed twice: whole (reply
 * after reply until "need more" or an error), and as it would arrive from a
 * socket in random chunks, re-parsing from the first unconsumed byte after
 * each chunk.  Both must give the same replies and end the same way.  Each
 * parse sees an exactly sized copy of its window, so an over-read shows up
 * in ASan.  Every reply is checked against the contract of reply.h.
 *
 * fuzz-args: -max_len=4096
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "reply.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

#define MAXREPLIES	256

struct seen {
	int	 code;
	char	 status[16];
	size_t	 nlines, used;
	int	 truncated;
	char	*text;
};

static const size_t linemaxes[8] = { 0, 4, 5, 16, 64, 512, 2048, 3 };
static const size_t maxes[8] = { 0, 5, 8, 64, 256, 1024, 4096, 1 };

static void
check_reply(const struct mxk_reply *r, size_t used, size_t avail)
{
	size_t	 i, n;
	char	 first[8];
	int	 cls;

	CHECK(used >= 4 && used <= avail);
	CHECK(r->code >= 200 && r->code <= 599);
	CHECK(r->nlines >= 1);
	n = strnlen(r->text, sizeof(r->text));
	CHECK(n < sizeof(r->text));
	for (i = 0; i < n; i++)
		CHECK(r->text[i] == '\n' ||
		    (r->text[i] >= 0x20 && r->text[i] <= 0x7e));
	CHECK(memchr(r->status, '\0', sizeof(r->status)) != NULL);
	CHECK(mxk_err_status_valid(r->status));
	cls = r->code / 100;
	if (r->has_status)
		CHECK(r->status[0] == '0' + cls);
	else
		CHECK(r->status[0] == (cls == 3 ? '2' : '0' + cls));
	(void)mxk_reply_first_line(r, first, sizeof(first));
	CHECK(strlen(first) < sizeof(first));
	(void)mxk_reply_first_line(r, first, 0);
}

static int
parse_window(const char *p, size_t len, const struct mxk_reply_params *rp,
    struct mxk_reply *r, size_t *used, struct mxk_err *e)
{
	char	*w;
	int	 rc;

	/* An exact copy: reading past len is an ASan report. */
	if ((w = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memcpy(w, p, len);
	*used = 0;
	rc = mxk_reply_parse(w, len, rp, r, used, e);
	free(w);
	CHECK(rc == 1 || rc == 0 || rc == -1);
	if (rc == 1)
		check_reply(r, *used, len);
	else if (rc == -1) {
		CHECK(e->class == MXK_ERR_PROTO);
		CHECK(strcmp(e->status, "5.5.0") == 0);
		CHECK(e->msg[0] != '\0');
	}
	return rc;
}

static uint32_t
next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mxk_reply		 r;
	static struct seen		 seen[MAXREPLIES];
	struct mxk_reply_params		 rp;
	struct mxk_err			 e;
	const char			*in;
	size_t				 len, off, used, nseen = 0, k, have,
					 start;
	uint32_t			 rnd;
	int				 rc, endrc, crc = 0;

	if (size < 2)
		return 0;
	rp.linemax = linemaxes[data[0] & 7];
	rp.max = maxes[(data[0] >> 3) & 7];
	rnd = 0x9e3779b9u ^ ((uint32_t)data[1] << 8) ^ data[0];
	in = (const char *)data + 2;
	len = size - 2;

	/* Whole stream. */
	off = 0;
	for (;;) {
		rc = parse_window(in + off, len - off, &rp, &r, &used, &e);
		if (rc != 1 || nseen == MAXREPLIES)
			break;
		seen[nseen].code = r.code;
		memcpy(seen[nseen].status, r.status, sizeof(r.status));
		seen[nseen].nlines = r.nlines;
		seen[nseen].used = used;
		seen[nseen].truncated = r.truncated;
		if ((seen[nseen].text = strdup(r.text)) == NULL)
			abort();
		nseen++;
		off += used;
	}
	endrc = rc;

	/* The same stream in chunks of 1 to 64 octets (or 1 to 4). */
	have = 0;
	start = 0;
	k = 0;
	while (have < len && k < nseen + 1) {
		size_t	chunk = 1 + next_rand(&rnd) % ((data[1] & 1) ? 4 : 64);

		if (chunk > len - have)
			chunk = len - have;
		have += chunk;
		for (;;) {
			crc = parse_window(in + start, have - start, &rp, &r,
			    &used, &e);
			if (crc != 1)
				break;
			/* A reply seen in pieces is the reply seen whole. */
			CHECK(k < nseen || nseen == MAXREPLIES);
			if (k >= nseen)
				goto out;
			CHECK(r.code == seen[k].code);
			CHECK(strcmp(r.status, seen[k].status) == 0);
			CHECK(r.nlines == seen[k].nlines);
			CHECK(used == seen[k].used);
			CHECK(r.truncated == seen[k].truncated);
			CHECK(strcmp(r.text, seen[k].text) == 0);
			start += used;
			k++;
		}
		if (crc == -1)
			break;
	}
	if (nseen < MAXREPLIES && len > 0) {
		/* Same number of replies, same ending. */
		CHECK(k == nseen);
		CHECK(crc == endrc);
	}
out:
	for (k = 0; k < nseen; k++)
		free(seen[k].text);
	return 0;
}
