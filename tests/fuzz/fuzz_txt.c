/* ISC license. */

/*
 * Fuzz target: the MTA-STS and TLS-RPT TXT records from the wire: a raw
 * DNS response goes through lib/dns (ldns) into mxk_mtasts_txt_select()
 * ("_mta-sts" record, RFC 8461 §3.1) and mxk_mtasts_tlsrpt_select()
 * ("_smtp._tls" record, RFC 8460 §3).
 *
 * Input: one DNS message.  Its header ID picks the options: bit 0 the
 * question "_smtp._tls.example.test" instead of "_mta-sts.example.test"
 * (the answer must carry the one that is asked, so both need seeds), bit
 * 1 trusts the AD bit.  The answer goes to both selections whatever the
 * name, since each one only looks at the records.
 *
 * Checked, with our own count of the records that begin with the version
 * tag (followed by ';', a blank or the end): none is ABSENT, several is
 * MULTIPLE (STS) or INVALID (TLS-RPT), exactly one is FOUND or VALID
 * exactly when the record parser accepts that record's text on its own;
 * NXDOMAIN/NODATA are ABSENT and other failures TEMPFAIL; an id is 1-32
 * alphanumerics; rua URIs and every "why" are printable.
 *
 * fuzz-args: -max_len=65535
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
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
check_why(const char *w, size_t size)
{
	size_t	i, n = strnlen(w, size);

	CHECK(n < size);
	for (i = 0; i < n; i++)
		CHECK((unsigned char)w[i] >= 0x20);
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

/* Records beginning with tag; *last the index of the last one. */
static size_t
count_tagged(const struct mxk_dns_answer *a, const char *tag, size_t *last)
{
	size_t	i, n = 0, tl = strlen(tag);

	for (i = 0; i < a->nrr; i++) {
		const struct mxk_dns_rr *rr = &a->rr[i];

		if (rr->type != MXK_DNS_TXT || rr->len < tl ||
		    memcmp(rr->data, tag, tl) != 0)
			continue;
		if (rr->len > tl && rr->data[tl] != ';' &&
		    rr->data[tl] != ' ' && rr->data[tl] != '\t')
			continue;
		n++;
		*last = i;
	}
	return n;
}

static void
check_sts(const struct mxk_dns_answer *a)
{
	struct mxk_mtasts_record	r;
	struct mxk_err			e;
	char				id[MXK_MTASTS_IDMAX + 1];
	size_t				n, k = 0;

	mxk_mtasts_txt_select(a, &r);
	CHECK(r.state < MXK_MTASTS_TXT__COUNT);
	(void)mxk_mtasts_txt_name(r.state);
	check_why(r.why, sizeof(r.why));
	switch (a->status) {
	case MXK_DNS_OK:
		break;
	case MXK_DNS_NXDOMAIN:
	case MXK_DNS_NODATA:
		CHECK(r.state == MXK_MTASTS_TXT_ABSENT);
		return;
	default:
		CHECK(r.state == MXK_MTASTS_TXT_TEMPFAIL);
		return;
	}
	n = count_tagged(a, "v=STSv1", &k);
	if (n == 0) {
		CHECK(r.state == MXK_MTASTS_TXT_ABSENT);
		return;
	}
	if (n > 1) {
		CHECK(r.state == MXK_MTASTS_TXT_MULTIPLE);
		return;
	}
	if (mxk_mtasts_txt_parse((const char *)a->rr[k].data, a->rr[k].len,
	    id, &e) == 0) {
		CHECK(r.state == MXK_MTASTS_TXT_FOUND);
		check_id(r.id);
		CHECK(strcmp(r.id, id) == 0);
	} else {
		CHECK(r.state == MXK_MTASTS_TXT_INVALID);
		CHECK(r.id[0] == '\0');
	}
}

static void
check_tlsrpt(const struct mxk_dns_answer *a)
{
	struct mxk_mtasts_tlsrpt_record	r, r2;
	struct mxk_err			e;
	size_t				n, k = 0, i;

	mxk_mtasts_tlsrpt_select(a, &r);
	CHECK(r.state < MXK_MTASTS_TLSRPT__COUNT);
	(void)mxk_mtasts_tlsrpt_name(r.state);
	check_why(r.why, sizeof(r.why));
	CHECK(r.nrua <= MXK_MTASTS_RUAMAX);
	for (i = 0; i < r.nrua; i++)
		check_why(r.rua[i], sizeof(r.rua[i]));
	if (r.state != MXK_MTASTS_TLSRPT_VALID)
		CHECK(r.nrua == 0);
	switch (a->status) {
	case MXK_DNS_OK:
		break;
	case MXK_DNS_NXDOMAIN:
	case MXK_DNS_NODATA:
		CHECK(r.state == MXK_MTASTS_TLSRPT_ABSENT);
		return;
	default:
		CHECK(r.state == MXK_MTASTS_TLSRPT_TEMPFAIL);
		return;
	}
	n = count_tagged(a, "v=TLSRPTv1", &k);
	if (n == 0) {
		CHECK(r.state == MXK_MTASTS_TLSRPT_ABSENT);
		return;
	}
	if (n > 1) {
		CHECK(r.state == MXK_MTASTS_TLSRPT_INVALID);
		return;
	}
	if (mxk_mtasts_tlsrpt_parse((const char *)a->rr[k].data,
	    a->rr[k].len, &r2, &e) == 0) {
		CHECK(r.state == MXK_MTASTS_TLSRPT_VALID);
		CHECK(r.nrua == r2.nrua && r.nrua >= 1);
		for (i = 0; i < r.nrua; i++)
			CHECK(strcmp(r.rua[i], r2.rua[i]) == 0);
	} else
		CHECK(r.state == MXK_MTASTS_TLSRPT_INVALID);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mxk_dns_answer		*a;
	struct mxk_mtasts_record	 r;
	struct mxk_mtasts_tlsrpt_record	 t;
	struct mxk_err			 e;
	uint8_t				*w;
	unsigned			 id;
	const char			*q;

	if (size < 2)
		return 0;
	id = (unsigned)data[0] << 8 | data[1];
	q = (id & 1) ? "_smtp._tls.example.test" : "_mta-sts.example.test";
	if ((w = malloc(size)) == NULL)
		abort();
	memcpy(w, data, size);
	if (mxk_dns_parse_answer(w, size, q, MXK_DNS_TXT, (id & 2) != 0, NULL,
	    &a, &e) == -1)
		a = NULL;
	free(w);
	if (a == NULL) {
		/* No answer at all: a temporary failure, never a policy. */
		mxk_mtasts_txt_select(NULL, &r);
		CHECK(r.state == MXK_MTASTS_TXT_TEMPFAIL);
		mxk_mtasts_tlsrpt_select(NULL, &t);
		CHECK(t.state == MXK_MTASTS_TLSRPT_TEMPFAIL);
		return 0;
	}
	CHECK(a->qtype == MXK_DNS_TXT);
	check_sts(a);
	check_tlsrpt(a);
	mxk_dns_answer_free(a);
	return 0;
}
