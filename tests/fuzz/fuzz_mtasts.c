/* ISC license. */

/*
 * Fuzz target: the MTA-STS parsers of lib/mtasts, all of which read
 * outside input: the _mta-sts TXT record, the TLS-RPT record, the policy
 * file fetched over HTTPS and the cache file read back from disk.
 *
 * Input: byte 0 picks the parser (low two bits), the rest is its input,
 * given as an exactly sized copy so that an over-read shows in ASan.
 * Checked: results keep the contracts of mtasts.h (ids 1-32 alphanumerics,
 * modes and max_age in range, every non-wildcard pattern matches itself,
 * kept text equal to the input, printable messages), and a cache entry
 * formats back to the very bytes it was parsed from.
 *
 * fuzz-args: -max_len=70000
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mtasts.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(c) do {							\
	if (!(c)) {							\
		(void)fprintf(stderr, "invariant failed: %s (%s:%d)\n",	\
		    #c, __FILE__, __LINE__);				\
		abort();						\
	}								\
} while (0)

static void
check_msg(const struct mxk_err *e)
{
	size_t	i, n = strnlen(e->msg, sizeof(e->msg));

	CHECK(n > 0 && n < sizeof(e->msg));
	for (i = 0; i < n; i++)
		CHECK((unsigned char)e->msg[i] >= 0x20);
}

static void
check_id(const char *id)
{
	size_t	i, n = strlen(id);

	CHECK(n >= 1 && n <= MXK_MTASTS_IDMAX);
	for (i = 0; i < n; i++)
		CHECK((id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9'));
}

static void
check_policy(const struct mxk_mtasts_policy *p, const char *in, size_t len)
{
	const char	*t;
	size_t		 i, tl;

	CHECK(mxk_mtasts_policy_mode(p) < MXK_MTASTS_MODE__COUNT);
	CHECK(mxk_mtasts_policy_max_age(p) >= 0 &&
	    mxk_mtasts_policy_max_age(p) <= MXK_MTASTS_MAXAGE_MAX);
	CHECK(mxk_mtasts_policy_nmx(p) <= MXK_MTASTS_MXMAX);
	CHECK(mxk_mtasts_policy_nmx(p) > 0 ||
	    mxk_mtasts_policy_mode(p) == MXK_MTASTS_MODE_NONE);
	t = mxk_mtasts_policy_text(p, &tl);
	CHECK(tl == len && memcmp(t, in, len) == 0);
	for (i = 0; i < mxk_mtasts_policy_nmx(p); i++) {
		const char *m = mxk_mtasts_policy_mx(p, i);

		CHECK(m != NULL && strlen(m) > 0 && strlen(m) <= 255);
		if (m[0] != '*')
			CHECK(mxk_mtasts_mx_match(m, m));
		else
			CHECK(!mxk_mtasts_mx_match(m, m));
		CHECK(mxk_mtasts_policy_match(p, m) || m[0] == '*');
	}
	CHECK(mxk_mtasts_policy_mx(p, i) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxk_mtasts_policy	*p = NULL;
	struct mxk_mtasts_tlsrpt_record	 r;
	struct mxk_mtasts_entry		 en;
	struct mxk_err			 e;
	struct mxk_buf			 b;
	char				 id[MXK_MTASTS_IDMAX + 1], *w;
	size_t				 len, i;
	int				 rc;

	if (size < 1)
		return 0;
	len = size - 1;
	if ((w = malloc(len > 0 ? len : 1)) == NULL)
		abort();
	memcpy(w, data + 1, len);
	switch (data[0] & 3) {
	case 0:
		rc = mxk_mtasts_txt_parse(w, len, id, &e);
		CHECK(rc == 0 || rc == -1);
		if (rc == 0)
			check_id(id);
		else {
			CHECK(id[0] == '\0');
			CHECK(e.class == MXK_ERR_DATA);
			check_msg(&e);
		}
		break;
	case 1:
		rc = mxk_mtasts_tlsrpt_parse(w, len, &r, &e);
		CHECK(rc == 0 || rc == -1);
		if (rc == 0) {
			CHECK(r.state == MXK_MTASTS_TLSRPT_VALID);
			CHECK(r.nrua >= 1 && r.nrua <= MXK_MTASTS_RUAMAX);
			for (i = 0; i < r.nrua; i++) {
				size_t k, n = strnlen(r.rua[i],
				    sizeof(r.rua[i]));

				/* Printed by mtasts-check: printable. */
				CHECK(n > 0 && n < sizeof(r.rua[i]));
				for (k = 0; k < n; k++)
					CHECK((unsigned char)r.rua[i][k] >=
					    0x20 && r.rua[i][k] != 0x7f);
			}
		} else {
			CHECK(r.state == MXK_MTASTS_TLSRPT_INVALID);
			CHECK(r.nrua == 0);
			check_msg(&e);
		}
		break;
	case 2:
		rc = mxk_mtasts_policy_parse(w, len, 0, &p, &e);
		CHECK(rc == 0 || rc == -1);
		if (rc == 0) {
			CHECK(p != NULL);
			check_policy(p, w, len);
			mxk_mtasts_policy_free(p);
		} else {
			CHECK(p == NULL);
			CHECK(e.class == MXK_ERR_DATA ||
			    e.class == MXK_ERR_INTERNAL);
			check_msg(&e);
		}
		break;
	default:
		rc = mxk_mtasts_entry_parse(w, len, 0, &en, &e);
		CHECK(rc == 0 || rc == -1);
		if (rc == -1) {
			CHECK(en.policy == NULL);
			check_msg(&e);
			break;
		}
		check_id(en.id);
		CHECK(en.expires >= en.fetched);
		/* The format is canonical: it writes back what it read. */
		mxk_buf_init(&b, len + 1024);
		CHECK(mxk_mtasts_entry_format(&en, &b, &e) == 0);
		CHECK(b.len == len && memcmp(b.p, w, len) == 0);
		mxk_buf_free(&b);
		mxk_mtasts_entry_clear(&en);
		break;
	}
	free(w);
	return 0;
}
