/* ISC license. */

#include <sys/types.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "addr.h"
#include "buf.h"
#include "clock.h"
#include "dns.h"
#include "err.h"
#include "log.h"
#include "mtasts.h"
#include "net.h"
#include "tls.h"

#ifndef MXK_VERSION
#define MXK_VERSION	"0"
#endif

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define CACHE_MAGIC	"mxkit-mta-sts 1"
#define CACHE_HEADMAX	1024	/* header bytes of a cache file, at most */
#define ADDRS_MAX	8	/* policy host addresses per family */

struct mxk_mtasts_policy {
	enum mxk_mtasts_mode	 mode;
	long long		 max_age;
	char			(*mx)[MXK_DNS_NAMEMAX];
	size_t			 nmx;
	char			*text;
	size_t			 len;
};

static const char *const mode_names[MXK_MTASTS_MODE__COUNT] = {
	[MXK_MTASTS_MODE_NONE] = "none",
	[MXK_MTASTS_MODE_TESTING] = "testing",
	[MXK_MTASTS_MODE_ENFORCE] = "enforce",
};

static const char *const txt_names[MXK_MTASTS_TXT__COUNT] = {
	[MXK_MTASTS_TXT_FOUND] = "found",
	[MXK_MTASTS_TXT_ABSENT] = "absent",
	[MXK_MTASTS_TXT_MULTIPLE] = "multiple",
	[MXK_MTASTS_TXT_INVALID] = "invalid",
	[MXK_MTASTS_TXT_TEMPFAIL] = "tempfail",
};

static const char *const tlsrpt_names[MXK_MTASTS_TLSRPT__COUNT] = {
	[MXK_MTASTS_TLSRPT_ABSENT] = "absent",
	[MXK_MTASTS_TLSRPT_VALID] = "valid",
	[MXK_MTASTS_TLSRPT_INVALID] = "invalid",
	[MXK_MTASTS_TLSRPT_TEMPFAIL] = "unknown",
};

static const char *const fetch_names[MXK_MTASTS_FETCH__COUNT] = {
	[MXK_MTASTS_FETCH_NOTDONE] = "none",
	[MXK_MTASTS_FETCH_OK] = "ok",
	[MXK_MTASTS_FETCH_INVALID] = "invalid",
	[MXK_MTASTS_FETCH_TEMPFAIL] = "tempfail",
};

static const char *const status_names[MXK_MTASTS_STATUS__COUNT] = {
	[MXK_MTASTS_OK] = "ok",
	[MXK_MTASTS_CHANGED] = "changed",
	[MXK_MTASTS_NONE] = "none",
	[MXK_MTASTS_INVALID] = "invalid",
	[MXK_MTASTS_UNREACHABLE] = "unreachable",
};

#define NAME_FN(fn, type, table, count)					\
const char *								\
fn(type v)								\
{									\
	if ((int)v < 0 || (int)v >= (count) || table[v] == NULL)	\
		return "?";						\
	return table[v];						\
}

NAME_FN(mxk_mtasts_mode_name, enum mxk_mtasts_mode, mode_names,
    MXK_MTASTS_MODE__COUNT)
NAME_FN(mxk_mtasts_txt_name, enum mxk_mtasts_txt, txt_names,
    MXK_MTASTS_TXT__COUNT)
NAME_FN(mxk_mtasts_tlsrpt_name, enum mxk_mtasts_tlsrpt, tlsrpt_names,
    MXK_MTASTS_TLSRPT__COUNT)
NAME_FN(mxk_mtasts_fetch_name, enum mxk_mtasts_fetchst, fetch_names,
    MXK_MTASTS_FETCH__COUNT)
NAME_FN(mxk_mtasts_status_name, enum mxk_mtasts_status, status_names,
    MXK_MTASTS_STATUS__COUNT)

static int
perr(struct mxk_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A syntax error of a record or policy. */
static int
perr(struct mxk_err *e, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)mxk_err_vset(e, MXK_ERR_DATA, MXK_SRC_POLICY, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* snprintf that never fails the caller: the text is cut to fit. */
static void
setwhy(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
setwhy(char *buf, size_t len, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 && len > 0)
		buf[0] = '\0';
	/* A cut message is still a message; nothing more to do. */
}

/* Printable copy of hostile bytes, for messages (cut at out's size). */
static const char *
show(const char *s, size_t len, char *out, size_t outlen)
{
	size_t	i, j = 0;

	if (outlen == 0)
		return "";
	for (i = 0; i < len && j + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (i < len && j >= 4) {
		out[j - 3] = out[j - 2] = out[j - 1] = '.';
	}
	out[j] = '\0';
	return out;
}

static int
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/*
 * A field or key name of RFC 8461 §3.1 (sts-ext-name) and §3.2
 * (sts-policy-ext-name), RFC 8460 §3 (tlsrpt-ext-name): an alphanumeric,
 * then at most 31 of alphanumerics, '_', '-' and '.'.
 */
static int
name_ok(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > 32 || !is_alnum((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++) {
		int c = (unsigned char)s[i];

		if (!is_alnum(c) && c != '_' && c != '-' && c != '.')
			return 0;
	}
	return 1;
}

static int
same(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/*
 * "key=value" records (RFC 8461 §3.1, RFC 8460 §3): the version first,
 * then fields after "*WSP ; *WSP" delimiters, an optional delimiter at the
 * end.  The callback sees each field after the version; it returns 0 or
 * -1 (with e set).
 */
typedef int field_fn(void *arg, const char *name, size_t nlen,
    const char *val, size_t vlen, struct mxk_err *);

static int
record_parse(const char *s, size_t len, const char *version, int list_ok,
    field_fn *fn, void *arg, struct mxk_err *e)
{
	size_t	 vl = strlen(version), i, start, vstart;
	char	 tmp[64];

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return perr(e, "control character or non-ASCII octet "
			    "at offset %zu", i);
	}
	if (len < vl || memcmp(s, version, vl) != 0)
		return perr(e, "the record does not begin with \"%s\"",
		    version);
	i = vl;
	for (;;) {
		while (i < len && is_wsp((unsigned char)s[i]))
			i++;
		if (i == len)
			break;
		if (s[i] != ';')
			return perr(e, "expected ';' at offset %zu, found "
			    "\"%s\"", i, show(s + i, len - i, tmp,
			    sizeof(tmp)));
		i++;
		while (i < len && is_wsp((unsigned char)s[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && s[i] != '=' && s[i] != ';' &&
		    !is_wsp((unsigned char)s[i]))
			i++;
		if (i == len || s[i] != '=')
			return perr(e, "field \"%s\" has no '='",
			    show(s + start, i - start, tmp, sizeof(tmp)));
		if (!name_ok(s + start, i - start))
			return perr(e, "bad field name \"%s\"", show(s + start,
			    i - start, tmp, sizeof(tmp)));
		vstart = ++i;
		for (;;) {
			while (i < len && s[i] != ';' &&
			    !is_wsp((unsigned char)s[i]))
				i++;
			/* A URI list may have blanks around its commas
			 * (RFC 8460 §3, tlsrpt-rua). */
			if (list_ok && i < len && is_wsp((unsigned char)s[i])) {
				size_t j = i;

				while (j < len && is_wsp((unsigned char)s[j]))
					j++;
				if ((j < len && s[j] == ',') ||
				    (i > vstart && s[i - 1] == ',')) {
					i = j;
					continue;
				}
			}
			break;
		}
		if (i == vstart)
			return perr(e, "field \"%.*s\" has an empty value",
			    (int)(vstart - 1 - start), s + start);
		if (memchr(s + vstart, '=', i - vstart) != NULL &&
		    !list_ok)
			return perr(e, "the value of \"%.*s\" contains '='",
			    (int)(vstart - 1 - start), s + start);
		if (fn(arg, s + start, vstart - 1 - start, s + vstart,
		    i - vstart, e) == -1)
			return -1;
	}
	return 0;
}

/*
 * _mta-sts TXT.
 */
struct txt_ctx {
	char	*id;
	int	 have_id;
};

static int
txt_field(void *arg, const char *name, size_t nlen, const char *val,
    size_t vlen, struct mxk_err *e)
{
	struct txt_ctx	*c = arg;
	char		 tmp[48];
	size_t		 i;

	/* RFC 8461 §3.1: sts-id = %s"id=" 1*32(ALPHA / DIGIT); other
	 * fields are extensions and ignored. */
	if (!same(name, nlen, "id"))
		return 0;
	if (c->have_id)
		return perr(e, "two id fields");
	if (vlen > MXK_MTASTS_IDMAX)
		return perr(e, "id \"%s\" is longer than %d characters",
		    show(val, vlen, tmp, sizeof(tmp)), MXK_MTASTS_IDMAX);
	for (i = 0; i < vlen; i++)
		if (!is_alnum((unsigned char)val[i]))
			return perr(e, "id \"%s\" has characters other than "
			    "letters and digits", show(val, vlen, tmp,
			    sizeof(tmp)));
	memcpy(c->id, val, vlen);
	c->id[vlen] = '\0';
	c->have_id = 1;
	return 0;
}

int
mxk_mtasts_txt_parse(const char *txt, size_t len,
    char id[MXK_MTASTS_IDMAX + 1], struct mxk_err *e)
{
	struct txt_ctx	c;

	id[0] = '\0';
	c.id = id;
	c.have_id = 0;
	if (txt == NULL)
		return perr(e, "no record");
	/* "v=STSv10" is another version, not ours. */
	if (len > 7 && memcmp(txt, "v=STSv1", 7) == 0 && txt[7] != ';' &&
	    !is_wsp((unsigned char)txt[7]))
		return perr(e, "the record does not begin with \"v=STSv1\"");
	if (record_parse(txt, len, "v=STSv1", 0, txt_field, &c, e) == -1) {
		id[0] = '\0';
		return -1;
	}
	if (!c.have_id)
		return perr(e, "no id field");
	return 0;
}

/* Does a TXT record begin with the version (followed by ';', a blank or
 * the end)?  RFC 8461 §3.1 and RFC 8460 §3 discard the others. */
static int
begins_with(const unsigned char *d, size_t len, const char *v)
{
	size_t	vl = strlen(v);

	if (len < vl || memcmp(d, v, vl) != 0)
		return 0;
	return len == vl || d[vl] == ';' || is_wsp(d[vl]);
}

/* The common part of the two TXT selections: status of the answer. */
static int
answer_state(const struct mxk_dns_answer *a, char *why, size_t whylen,
    const char *what)
{
	if (a == NULL) {
		setwhy(why, whylen, "%s: no answer", what);
		return MXK_MTASTS_TXT_TEMPFAIL;
	}
	switch (a->status) {
	case MXK_DNS_OK:
		return MXK_MTASTS_TXT_FOUND;
	case MXK_DNS_NXDOMAIN:
		setwhy(why, whylen, "%s: no such name (NXDOMAIN)", what);
		return MXK_MTASTS_TXT_ABSENT;
	case MXK_DNS_NODATA:
		setwhy(why, whylen, "%s: no TXT record", what);
		return MXK_MTASTS_TXT_ABSENT;
	default:
		setwhy(why, whylen, "%s: lookup failed: %s%s%s", what,
		    mxk_dns_status_name(a->status), a->why[0] != '\0' ?
		    ": " : "", a->why);
		return MXK_MTASTS_TXT_TEMPFAIL;
	}
}

void
mxk_mtasts_txt_select(const struct mxk_dns_answer *a,
    struct mxk_mtasts_record *r)
{
	struct mxk_err	 e;
	char		 what[MXK_DNS_NAMEMAX + 8];
	size_t		 i, n = 0, k = 0;

	memset(r, 0, sizeof(*r));
	setwhy(what, sizeof(what), "%s", a != NULL && a->qname[0] != '\0' ?
	    a->qname : "_mta-sts");
	r->state = answer_state(a, r->why, sizeof(r->why), what);
	if (r->state != MXK_MTASTS_TXT_FOUND)
		return;
	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].type == MXK_DNS_TXT &&
		    begins_with(a->rr[i].data, a->rr[i].len, "v=STSv1")) {
			n++;
			k = i;
		}
	if (n == 0) {
		r->state = MXK_MTASTS_TXT_ABSENT;
		setwhy(r->why, sizeof(r->why), "%s: no TXT record begins "
		    "with v=STSv1", what);
		return;
	}
	if (n > 1) {
		/* RFC 8461 §3.1: if the number of records that begin with
		 * "v=STSv1" is not one, there is no policy. */
		r->state = MXK_MTASTS_TXT_MULTIPLE;
		setwhy(r->why, sizeof(r->why), "%s: %zu TXT records begin "
		    "with v=STSv1 (RFC 8461 §3.1: exactly one is needed)",
		    what, n);
		return;
	}
	if (mxk_mtasts_txt_parse((const char *)a->rr[k].data, a->rr[k].len,
	    r->id, &e) == -1) {
		r->state = MXK_MTASTS_TXT_INVALID;
		setwhy(r->why, sizeof(r->why), "%s: %s", what, e.msg);
		return;
	}
	setwhy(r->why, sizeof(r->why), "%s: id %s", what, r->id);
}

/* The lowercase form of a domain we may put in a query, a URL or a file
 * name: LDH labels only (lib/addr), at most 253 octets. */
static int
domain_norm(const char *in, char out[MXK_DNS_NAMEMAX], struct mxk_err *e)
{
	size_t	len, i;

	if (in == NULL || (len = strlen(in)) == 0 || len > 253)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "not a domain name");
	if (in[len - 1] == '.')
		len--;
	if (mxk_addr_check_host(in, len, e) == -1)
		return -1;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	return 0;
}

int
mxk_mtasts_txt_lookup(struct mxk_dns *dns, const char *domain,
    long long deadline, struct mxk_mtasts_record *r, struct mxk_err *e)
{
	struct mxk_dns_answer	*a = NULL;
	char			 d[MXK_DNS_NAMEMAX], q[MXK_DNS_NAMEMAX + 16];

	memset(r, 0, sizeof(*r));
	if (domain_norm(domain, d, e) == -1)
		return -1;
	setwhy(q, sizeof(q), "_mta-sts.%s", d);
	if (mxk_dns_lookup(dns, q, MXK_DNS_TXT, &a, deadline, e) == -1)
		return -1;
	mxk_mtasts_txt_select(a, r);
	mxk_dns_answer_free(a);
	return 0;
}

/*
 * TLS-RPT (RFC 8460 §3).
 */
struct rpt_ctx {
	struct mxk_mtasts_tlsrpt_record	*r;
	int				 have_rua;
};

static int
uri_ok(const char *u, size_t len)
{
	const char	*at;
	size_t		 i;

	if (len > 7 && strncasecmp(u, "mailto:", 7) == 0) {
		/* An address: something '@' a domain with a dot or not. */
		at = memchr(u + 7, '@', len - 7);
		return at != NULL && at > u + 7 && at < u + len - 1;
	}
	if (len > 8 && strncasecmp(u, "https://", 8) == 0) {
		for (i = 8; i < len && u[i] != '/' && u[i] != '?'; i++)
			;
		return i > 8;
	}
	return 0;
}

static int
rpt_field(void *arg, const char *name, size_t nlen, const char *val,
    size_t vlen, struct mxk_err *e)
{
	struct rpt_ctx	*c = arg;
	char		 tmp[96];
	size_t		 i = 0, s, end;

	if (!same(name, nlen, "rua"))
		return 0;
	if (c->have_rua)
		return perr(e, "two rua fields");
	c->have_rua = 1;
	while (i <= vlen) {
		s = i;
		while (i < vlen && val[i] != ',')
			i++;
		end = i;
		while (s < end && is_wsp((unsigned char)val[s]))
			s++;
		while (end > s && is_wsp((unsigned char)val[end - 1]))
			end--;
		if (end == s)
			return perr(e, "empty URI in rua");
		if (!uri_ok(val + s, end - s))
			return perr(e, "rua URI \"%s\" is neither mailto: with "
			    "an address nor https: with a host (RFC 8460 §3)",
			    show(val + s, end - s, tmp, sizeof(tmp)));
		if (c->r->nrua < MXK_MTASTS_RUAMAX)
			(void)show(val + s, end - s, c->r->rua[c->r->nrua++],
			    sizeof(c->r->rua[0]));
		i++;
	}
	return 0;
}

int
mxk_mtasts_tlsrpt_parse(const char *txt, size_t len,
    struct mxk_mtasts_tlsrpt_record *r, struct mxk_err *e)
{
	struct rpt_ctx	c;

	memset(r, 0, sizeof(*r));
	c.r = r;
	c.have_rua = 0;
	r->state = MXK_MTASTS_TLSRPT_INVALID;
	if (txt == NULL)
		return perr(e, "no record");
	if (len > 10 && memcmp(txt, "v=TLSRPTv1", 10) == 0 && txt[10] != ';'
	    && !is_wsp((unsigned char)txt[10]))
		return perr(e, "the record does not begin with \"v=TLSRPTv1\"");
	if (record_parse(txt, len, "v=TLSRPTv1", 1, rpt_field, &c, e) == -1) {
		r->nrua = 0;
		return -1;
	}
	if (!c.have_rua)
		return perr(e, "no rua field");
	r->state = MXK_MTASTS_TLSRPT_VALID;
	return 0;
}

void
mxk_mtasts_tlsrpt_select(const struct mxk_dns_answer *a,
    struct mxk_mtasts_tlsrpt_record *r)
{
	struct mxk_err	 e;
	char		 what[MXK_DNS_NAMEMAX + 16];
	size_t		 i, n = 0, k = 0;

	memset(r, 0, sizeof(*r));
	setwhy(what, sizeof(what), "%s", a != NULL && a->qname[0] != '\0' ?
	    a->qname : "_smtp._tls");
	switch (answer_state(a, r->why, sizeof(r->why), what)) {
	case MXK_MTASTS_TXT_FOUND:
		break;
	case MXK_MTASTS_TXT_ABSENT:
		r->state = MXK_MTASTS_TLSRPT_ABSENT;
		return;
	default:
		r->state = MXK_MTASTS_TLSRPT_TEMPFAIL;
		return;
	}
	for (i = 0; i < a->nrr; i++)
		if (a->rr[i].type == MXK_DNS_TXT &&
		    begins_with(a->rr[i].data, a->rr[i].len, "v=TLSRPTv1")) {
			n++;
			k = i;
		}
	if (n == 0) {
		r->state = MXK_MTASTS_TLSRPT_ABSENT;
		setwhy(r->why, sizeof(r->why), "%s: no TXT record begins "
		    "with v=TLSRPTv1", what);
		return;
	}
	if (n > 1) {
		r->state = MXK_MTASTS_TLSRPT_INVALID;
		setwhy(r->why, sizeof(r->why), "%s: %zu TXT records begin "
		    "with v=TLSRPTv1 (RFC 8460 §3: exactly one is needed)",
		    what, n);
		return;
	}
	if (mxk_mtasts_tlsrpt_parse((const char *)a->rr[k].data,
	    a->rr[k].len, r, &e) == -1) {
		r->state = MXK_MTASTS_TLSRPT_INVALID;
		setwhy(r->why, sizeof(r->why), "%s: %s", what, e.msg);
		return;
	}
	setwhy(r->why, sizeof(r->why), "%s: %zu rua URI%s", what, r->nrua,
	    r->nrua == 1 ? "" : "s");
}

/*
 * The policy (RFC 8461 §3.2).
 */
void
mxk_mtasts_policy_free(struct mxk_mtasts_policy *p)
{
	if (p == NULL)
		return;
	free(p->mx);
	free(p->text);
	free(p);
}

enum mxk_mtasts_mode
mxk_mtasts_policy_mode(const struct mxk_mtasts_policy *p)
{
	return p != NULL ? p->mode : MXK_MTASTS_MODE_NONE;
}

long long
mxk_mtasts_policy_max_age(const struct mxk_mtasts_policy *p)
{
	return p != NULL ? p->max_age : 0;
}

size_t
mxk_mtasts_policy_nmx(const struct mxk_mtasts_policy *p)
{
	return p != NULL ? p->nmx : 0;
}

const char *
mxk_mtasts_policy_mx(const struct mxk_mtasts_policy *p, size_t i)
{
	return p != NULL && i < p->nmx ? p->mx[i] : NULL;
}

const char *
mxk_mtasts_policy_text(const struct mxk_mtasts_policy *p, size_t *len)
{
	if (p == NULL) {
		if (len != NULL)
			*len = 0;
		return "";
	}
	if (len != NULL)
		*len = p->len;
	return p->text;
}

int
mxk_mtasts_policy_same(const struct mxk_mtasts_policy *a,
    const struct mxk_mtasts_policy *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

/* An "mx" value: ["*."] Domain (RFC 8461 §3.2, sts-policy-mx-value). */
static int
mx_pattern(const char *v, size_t len, char out[MXK_DNS_NAMEMAX])
{
	size_t	off = 0, i;

	if (len >= 2 && v[0] == '*' && v[1] == '.')
		off = 2;
	if (len <= off || len - off > 254 || len >= MXK_DNS_NAMEMAX)
		return -1;
	if (mxk_addr_check_host(v + off, len - off, NULL) == -1)
		return -1;
	if (v[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)v[i]);
	out[len] = '\0';
	return 0;
}

int
mxk_mtasts_policy_parse(const char *text, size_t len, size_t max_mx,
    struct mxk_mtasts_policy **out, struct mxk_err *e)
{
	struct mxk_mtasts_policy *p;
	size_t		 pos = 0, line = 0, ll, i, klen, vs, ve, nfields = 0;
	size_t		 mode_line = 0, age_line = 0, ver_line = 0, cap = 0;
	const char	*l, *colon;
	char		 tmp[80];
	int		 known;

	*out = NULL;
	if (max_mx == 0)
		max_mx = MXK_MTASTS_MXMAX;
	if (text == NULL)
		return perr(e, "empty policy");
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->text = malloc(len + 1)) == NULL) {
		free(p);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->len = len;
	p->max_age = -1;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);

		line++;
		l = text + pos;
		ll = nl != NULL ? (size_t)(nl - l) : len - pos;
		pos += ll + (nl != NULL);
		/* sts-policy-term = LF / CRLF */
		if (ll > 0 && l[ll - 1] == '\r')
			ll--;
		for (i = 0; i < ll && is_wsp((unsigned char)l[i]); i++)
			;
		if (i == ll)
			continue;	/* a blank line: tolerated */
		if (memchr(l, '\0', ll) != NULL) {
			perr(e, "line %zu: NUL octet", line);
			goto fail;
		}
		if ((colon = memchr(l, ':', ll)) == NULL) {
			perr(e, "line %zu: no ':' (expected \"key: value\")",
			    line);
			goto fail;
		}
		klen = (size_t)(colon - l);
		if (!name_ok(l, klen)) {
			perr(e, "line %zu: bad key \"%s\"", line, show(l, klen,
			    tmp, sizeof(tmp)));
			goto fail;
		}
		vs = klen + 1;
		while (vs < ll && is_wsp((unsigned char)l[vs]))
			vs++;
		ve = ll;
		while (ve > vs && is_wsp((unsigned char)l[ve - 1]))
			ve--;
		known = same(l, klen, "version") || same(l, klen, "mode") ||
		    same(l, klen, "max_age") || same(l, klen, "mx");
		if (known) {
			for (i = 0; i < ll; i++) {
				unsigned char c = (unsigned char)l[i];

				if ((c < 0x20 && c != '\t') || c >= 0x7f) {
					perr(e, "line %zu: control character "
					    "or non-ASCII octet", line);
					goto fail;
				}
			}
		}
		nfields++;
		if (nfields == 1 && !same(l, klen, "version")) {
			perr(e, "line %zu: the first field must be "
			    "\"version: STSv1\", not \"%s\"", line,
			    show(l, klen, tmp, sizeof(tmp)));
			goto fail;
		}
		if (same(l, klen, "version")) {
			if (ver_line != 0) {
				perr(e, "line %zu: version given twice (first "
				    "on line %zu)", line, ver_line);
				goto fail;
			}
			ver_line = line;
			if (!same(l + vs, ve - vs, "STSv1")) {
				perr(e, "line %zu: version \"%s\" is not STSv1",
				    line, show(l + vs, ve - vs, tmp,
				    sizeof(tmp)));
				goto fail;
			}
		} else if (same(l, klen, "mode")) {
			if (mode_line != 0) {
				perr(e, "line %zu: mode given twice (first on "
				    "line %zu)", line, mode_line);
				goto fail;
			}
			mode_line = line;
			if (same(l + vs, ve - vs, "enforce"))
				p->mode = MXK_MTASTS_MODE_ENFORCE;
			else if (same(l + vs, ve - vs, "testing"))
				p->mode = MXK_MTASTS_MODE_TESTING;
			else if (same(l + vs, ve - vs, "none"))
				p->mode = MXK_MTASTS_MODE_NONE;
			else {
				perr(e, "line %zu: mode \"%s\" is not enforce, "
				    "testing or none", line, show(l + vs,
				    ve - vs, tmp, sizeof(tmp)));
				goto fail;
			}
		} else if (same(l, klen, "max_age")) {
			long long v = 0;

			if (age_line != 0) {
				perr(e, "line %zu: max_age given twice (first "
				    "on line %zu)", line, age_line);
				goto fail;
			}
			age_line = line;
			/* sts-policy-max-age-value = 1*10(DIGIT) */
			if (ve == vs || ve - vs > 10) {
				perr(e, "line %zu: max_age \"%s\" is not 1 to "
				    "10 digits", line, show(l + vs, ve - vs,
				    tmp, sizeof(tmp)));
				goto fail;
			}
			for (i = vs; i < ve; i++) {
				if (l[i] < '0' || l[i] > '9') {
					perr(e, "line %zu: max_age \"%s\" is "
					    "not a number of seconds", line,
					    show(l + vs, ve - vs, tmp,
					    sizeof(tmp)));
					goto fail;
				}
				v = v * 10 + (l[i] - '0');
			}
			if (v > MXK_MTASTS_MAXAGE_MAX) {
				perr(e, "line %zu: max_age %lld is above %lld "
				    "(RFC 8461 §3.2)", line, v,
				    MXK_MTASTS_MAXAGE_MAX);
				goto fail;
			}
			p->max_age = v;
		} else if (same(l, klen, "mx")) {
			if (p->nmx >= max_mx) {
				perr(e, "line %zu: more than %zu mx patterns",
				    line, max_mx);
				goto fail;
			}
			if (p->nmx == cap) {
				size_t nc = cap == 0 ? 4 : cap * 2;
				void *np;

				if (nc > max_mx)
					nc = max_mx;
				if ((np = realloc(p->mx, nc *
				    sizeof(*p->mx))) == NULL) {
					(void)mxk_err_set(e, MXK_ERR_INTERNAL,
					    MXK_SRC_LOCAL, NULL,
					    "out of memory");
					goto fail;
				}
				p->mx = np;
				cap = nc;
			}
			if (mx_pattern(l + vs, ve - vs, p->mx[p->nmx]) == -1) {
				perr(e, "line %zu: mx \"%s\" is not a host name "
				    "or a \"*.\" pattern", line, show(l + vs,
				    ve - vs, tmp, sizeof(tmp)));
				goto fail;
			}
			p->nmx++;
		}
		/* Other keys are extensions: ignored (RFC 8461 §3.2). */
	}
	if (nfields == 0) {
		perr(e, "empty policy");
		goto fail;
	}
	if (mode_line == 0) {
		perr(e, "no mode field (%zu lines)", line);
		goto fail;
	}
	if (age_line == 0) {
		perr(e, "no max_age field (%zu lines)", line);
		goto fail;
	}
	if (p->nmx == 0 && p->mode != MXK_MTASTS_MODE_NONE) {
		perr(e, "no mx field (required unless the mode is none, "
		    "RFC 8461 §3.2)");
		goto fail;
	}
	*out = p;
	return 0;
fail:
	mxk_mtasts_policy_free(p);
	return -1;
}

int
mxk_mtasts_mx_match(const char *pat, const char *host)
{
	size_t	pl, hl, sl;

	if (pat == NULL || host == NULL)
		return 0;
	pl = strlen(pat);
	hl = strlen(host);
	if (pl > 0 && pat[pl - 1] == '.')
		pl--;
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (pl == 0 || hl == 0 || memchr(host, '*', hl) != NULL)
		return 0;
	if (pl >= 2 && pat[0] == '*' && pat[1] == '.') {
		/* RFC 8461 §4.1: "*.example.com" matches one leftmost
		 * label: "mx.example.com", not "a.b.example.com" nor
		 * "example.com". */
		sl = pl - 1;		/* ".example.com" */
		if (sl < 2 || hl <= sl ||
		    strncasecmp(host + hl - sl, pat + 1, sl) != 0)
			return 0;
		return memchr(host, '.', hl - sl) == NULL;
	}
	if (memchr(pat, '*', pl) != NULL)
		return 0;
	return pl == hl && strncasecmp(pat, host, pl) == 0;
}

int
mxk_mtasts_policy_match(const struct mxk_mtasts_policy *p, const char *host)
{
	size_t	i;

	if (p == NULL)
		return 0;
	for (i = 0; i < p->nmx; i++)
		if (mxk_mtasts_mx_match(p->mx[i], host))
			return 1;
	return 0;
}

/*
 * Enforcement (RFC 8461 §4, §5).
 */
void
mxk_mtasts_enforce(const struct mxk_mtasts_policy *p, const char *mxhost,
    enum mxk_mtasts_tls tls, enum mxk_tls_trust trust,
    struct mxk_mtasts_verdict *v)
{
	int	tls_ok, fail;

	memset(v, 0, sizeof(*v));
	if (p == NULL || p->mode == MXK_MTASTS_MODE_NONE) {
		v->allowed = 1;
		setwhy(v->why, sizeof(v->why), "%s", p == NULL ?
		    "no MTA-STS policy in force" : "policy mode none");
		return;
	}
	v->matched = mxk_mtasts_policy_match(p, mxhost);
	/* RFC 8461 §4.1: STARTTLS, and a certificate that chains to a
	 * trusted root and is valid for the MX host name: Verified in
	 * lib/tls terms (Trusted means the name did not match). */
	tls_ok = tls == MXK_MTASTS_TLS_UNKNOWN || (tls == MXK_MTASTS_TLS_DONE &&
	    trust == MXK_TLS_VERIFIED);
	fail = !v->matched || !tls_ok;
	if (!v->matched)
		setwhy(v->why, sizeof(v->why), "%s matches no mx pattern of "
		    "the policy (RFC 8461 §4.1)", mxhost != NULL ? mxhost :
		    "(null)");
	else if (tls == MXK_MTASTS_TLS_NONE)
		setwhy(v->why, sizeof(v->why), "%s: no TLS session (RFC 8461 "
		    "§4: STARTTLS is required)", mxhost);
	else if (!tls_ok)
		setwhy(v->why, sizeof(v->why), "%s: certificate %s (RFC 8461 "
		    "§4.1 needs a PKIX-valid certificate for the MX name)",
		    mxhost, mxk_tls_trust_name(trust));
	else
		setwhy(v->why, sizeof(v->why), "%s matches the policy%s",
		    mxhost, tls == MXK_MTASTS_TLS_DONE ? " and its "
		    "certificate is valid" : "");
	if (p->mode == MXK_MTASTS_MODE_ENFORCE) {
		/* §5: enforce: do not deliver to an MX that fails. */
		v->allowed = !fail;
	} else {
		/* §5: testing: deliver anyway, report (RFC 8460). */
		v->allowed = 1;
	}
	v->report = fail;
}

/*
 * The decision (RFC 8461 §3.1, §3.3, §5.1, §10.2).
 */
static int
near_expiry(const struct mxk_mtasts_state *s)
{
	long long	life = s->cache_expires - s->cache_fetched;
	long long	left = s->cache_expires - s->now;
	int		pct = s->refresh_percent > 0 && s->refresh_percent <= 100 ?
			    s->refresh_percent : 50;

	/* Fetched "in the future" (the clock was ahead, or went back):
	 * refresh now; a failed fetch keeps the policy all the same. */
	if (life <= 0 || left > life)
		return 1;
	return left * 100 < life * pct;	/* life <= 31557600: no overflow */
}

void
mxk_mtasts_decide(const struct mxk_mtasts_state *s,
    struct mxk_mtasts_decision *d)
{
	memset(d, 0, sizeof(*d));
	/* §5.1: a cached policy is used only before its max_age passed. */
	d->cache_valid = s->have_cache && s->now < s->cache_expires;

	if (s->fetch == MXK_MTASTS_FETCH_NOTDONE) {
		switch (s->txt) {
		case MXK_MTASTS_TXT_FOUND:
			if (d->cache_valid && s->cache_id != NULL &&
			    s->txt_id != NULL &&
			    strcmp(s->cache_id, s->txt_id) == 0) {
				if (s->refresh && near_expiry(s)) {
					d->fetch = 1;
					d->why = "refreshing a policy close to "
					    "its expiry";
					return;
				}
				/* §3.1: the id is unchanged, so is the
				 * policy: no fetch. */
				d->use_cache = 1;
				d->status = MXK_MTASTS_OK;
				d->why = "id unchanged: the cached policy is in "
				    "force";
				return;
			}
			d->fetch = 1;
			d->why = !s->have_cache ? "no cached policy" :
			    !d->cache_valid ? "the cached policy expired" :
			    "the id changed";
			return;
		case MXK_MTASTS_TXT_ABSENT:
			/* §3.1: the absence of a usable TXT record does not
			 * remove a cached policy (§5.1). */
			if (d->cache_valid) {
				d->use_cache = 1;
				d->status = MXK_MTASTS_OK;
				d->warn = 1;
				d->why = "the cached policy stays in force "
				    "until it expires (RFC 8461 §3.1, §5.1)";
			} else {
				d->status = MXK_MTASTS_NONE;
				d->why = s->have_cache ? "no policy (the cached "
				    "one expired)" : "no policy";
			}
			return;
		case MXK_MTASTS_TXT_MULTIPLE:
		case MXK_MTASTS_TXT_INVALID:
			if (d->cache_valid) {
				d->use_cache = 1;
				d->status = MXK_MTASTS_INVALID;
				d->warn = 1;
				d->why = "the record is unusable; the cached "
				    "policy stays in force (RFC 8461 §3.1, "
				    "§5.1)";
			} else {
				d->status = MXK_MTASTS_INVALID;
				d->why = "the record is unusable: no policy "
				    "(RFC 8461 §3.1)";
			}
			return;
		case MXK_MTASTS_TXT_TEMPFAIL:
		default:
			/* §10.2: whoever blocks DNS must not switch a known
			 * policy off. */
			if (d->cache_valid) {
				d->use_cache = 1;
				d->status = MXK_MTASTS_OK;
				d->warn = 1;
				d->why = "the cached policy stays in force "
				    "(RFC 8461 §5.1, §10.2)";
			} else {
				d->status = MXK_MTASTS_UNREACHABLE;
				d->why = "no cached policy to fall back on";
			}
			return;
		}
	}

	switch (s->fetch) {
	case MXK_MTASTS_FETCH_OK:
		d->use_fetched = 1;
		if (s->have_cache && (s->cache_id == NULL || s->txt_id == NULL ||
		    strcmp(s->cache_id, s->txt_id) != 0 || !s->fetched_same)) {
			d->status = MXK_MTASTS_CHANGED;
			d->why = "a new policy replaces the cached one";
		} else {
			d->status = MXK_MTASTS_OK;
			d->why = s->have_cache ? "policy fetched again, "
			    "unchanged" : "policy fetched";
		}
		return;
	case MXK_MTASTS_FETCH_INVALID:
		if (d->cache_valid) {
			d->use_cache = 1;
			d->status = MXK_MTASTS_INVALID;
			d->warn = 1;
			d->why = "the cached policy stays in force (RFC 8461 "
			    "§3.3, §5.1)";
		} else {
			d->status = MXK_MTASTS_INVALID;
			d->why = "no policy in force";
		}
		return;
	case MXK_MTASTS_FETCH_TEMPFAIL:
	default:
		if (d->cache_valid) {
			d->use_cache = 1;
			d->status = MXK_MTASTS_OK;
			d->warn = 1;
			d->why = "the cached policy stays in force (RFC 8461 "
			    "§3.3, §5.1)";
		} else {
			d->status = MXK_MTASTS_UNREACHABLE;
			d->why = "no cached policy to fall back on";
		}
		return;
	}
}

/*
 * Cache entries.
 */
void
mxk_mtasts_entry_clear(struct mxk_mtasts_entry *en)
{
	mxk_mtasts_policy_free(en->policy);
	memset(en, 0, sizeof(*en));
}

static int
id_ok(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > MXK_MTASTS_IDMAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!is_alnum((unsigned char)s[i]))
			return 0;
	return 1;
}

int
mxk_mtasts_entry_format(const struct mxk_mtasts_entry *en,
    struct mxk_buf *b, struct mxk_err *e)
{
	const char	*text;
	size_t		 len;

	if (en->policy == NULL || !id_ok(en->id, strlen(en->id)) ||
	    mxk_addr_check_host(en->domain, strlen(en->domain), NULL) == -1)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "cache entry: bad domain, id or no policy");
	text = mxk_mtasts_policy_text(en->policy, &len);
	if (mxk_buf_printf(b, "%s\ndomain: %s\nid: %s\nfetched: %lld\n"
	    "expires: %lld\nlength: %zu\n\n", CACHE_MAGIC, en->domain, en->id,
	    en->fetched, en->expires, len) == -1 ||
	    mxk_buf_add(b, text, len) == -1)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "cache entry too large");
	return 0;
}

/* Take one "key: value" header line; 0 or -1. */
static int
header_line(const char **pp, const char *end, const char *key, char *val,
    size_t vlen)
{
	const char	*p = *pp, *nl;
	size_t		 kl = strlen(key), n;

	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return -1;
	if ((size_t)(nl - p) < kl + 2 || memcmp(p, key, kl) != 0 ||
	    p[kl] != ':' || p[kl + 1] != ' ')
		return -1;
	n = (size_t)(nl - p) - kl - 2;
	if (n == 0 || n >= vlen || memchr(p + kl + 2, '\0', n) != NULL)
		return -1;
	memcpy(val, p + kl + 2, n);
	val[n] = '\0';
	*pp = nl + 1;
	return 0;
}

/* A number as entry_format() writes it: digits, no leading zero. */
static int
parse_ll(const char *s, long long *out)
{
	char		*end;
	long long	 v;
	size_t		 i, n = strlen(s);

	if (n == 0 || n > 18 || (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
mxk_mtasts_entry_parse(const char *s, size_t len, size_t max_mx,
    struct mxk_mtasts_entry *en, struct mxk_err *e)
{
	const char	*p = s, *end = s + len;
	char		 v[MXK_DNS_NAMEMAX];
	long long	 length;
	size_t		 ml = strlen(CACHE_MAGIC);

	memset(en, 0, sizeof(*en));
	if (len < ml + 1 || memcmp(p, CACHE_MAGIC "\n", ml + 1) != 0)
		return perr(e, "cache file: not an %s file", CACHE_MAGIC);
	p += ml + 1;
	if (header_line(&p, end, "domain", en->domain, sizeof(en->domain)) ==
	    -1 || mxk_addr_check_host(en->domain, strlen(en->domain), NULL)
	    == -1)
		return perr(e, "cache file: bad domain line");
	if (header_line(&p, end, "id", en->id, sizeof(en->id)) == -1 ||
	    !id_ok(en->id, strlen(en->id)))
		return perr(e, "cache file: bad id line");
	if (header_line(&p, end, "fetched", v, sizeof(v)) == -1 ||
	    parse_ll(v, &en->fetched) == -1)
		return perr(e, "cache file: bad fetched line");
	if (header_line(&p, end, "expires", v, sizeof(v)) == -1 ||
	    parse_ll(v, &en->expires) == -1 || en->expires < en->fetched)
		return perr(e, "cache file: bad expires line");
	if (header_line(&p, end, "length", v, sizeof(v)) == -1 ||
	    parse_ll(v, &length) == -1 || length < 0)
		return perr(e, "cache file: bad length line");
	if (p >= end || *p != '\n')
		return perr(e, "cache file: no blank line after the header");
	p++;
	/* A short file is a torn one: refuse it (atomic writes should make
	 * this impossible; a full disk or a foreign writer could not). */
	if ((long long)(end - p) != length)
		return perr(e, "cache file: %lld policy octets expected, %zu "
		    "present", length, (size_t)(end - p));
	if (mxk_mtasts_policy_parse(p, (size_t)length, max_mx, &en->policy,
	    e) == -1) {
		mxk_err_prefix(e, "cache file: policy");
		memset(en, 0, sizeof(*en));
		return -1;
	}
	/* The lifetime is the policy's own: a file cannot extend it. */
	if (en->expires != en->fetched + mxk_mtasts_policy_max_age(
	    en->policy)) {
		mxk_mtasts_entry_clear(en);
		return perr(e, "cache file: expires is not fetched + max_age");
	}
	return 0;
}

/*
 * The cache directory.
 */
struct mxk_mtasts_cache {
	char	*dir;
	int	 dfd;
};

static int
mkdirs(const char *dir, struct mxk_err *e)
{
	char	path[PATH_MAX];
	size_t	i, len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL, NULL,
		    "cache directory name too long");
	memcpy(path, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return mxk_err_sys(e, MXK_ERR_IO, "cannot create %s",
			    path);
		path[i] = i < len ? '/' : '\0';
	}
	return 0;
}

/*
 * A writer killed between mkstemp() and rename() leaves ".DOMAIN.XXXXXX"
 * behind.  Readers never look at dot files, but nothing else would ever
 * remove them: writers sweep those older than an hour (a live writer's
 * file is seconds old) when they open the cache.  Bounded in entries.
 */
#define STALE_TMP_SECONDS	3600
#define SWEEP_MAX		100000

static void
sweep_stale(int dfd)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	time_t		 now = time(NULL);
	size_t		 seen = 0, len;
	int		 fd;

	if ((fd = dup(dfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		(void)close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL && seen++ < SWEEP_MAX) {
		len = strlen(de->d_name);
		/* "." + at least one character + "." + 6 of mkstemp's. */
		if (de->d_name[0] != '.' || len < 9 ||
		    de->d_name[len - 7] != '.')
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode) || st.st_mtime > now -
		    STALE_TMP_SECONDS)
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			mxk_log(MXK_LOG_INFO, "cache: removed a stale "
			    "temporary file %s", de->d_name);
	}
	(void)closedir(d);
}

int
mxk_mtasts_cache_open(const char *dir, int flags,
    struct mxk_mtasts_cache **out, struct mxk_err *e)
{
	struct mxk_mtasts_cache	*c;
	struct stat		 st;
	int			 fd;

	*out = NULL;
	if (dir == NULL || *dir == '\0')
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_LOCAL, NULL,
		    "no cache directory");
	if ((flags & MXK_MTASTS_CACHE_CREATE) && mkdirs(dir, e) == -1)
		return -1;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return mxk_err_sys(e, MXK_ERR_IO, "cache directory %s", dir);
	if (fstat(fd, &st) == -1) {
		(void)close(fd);
		return mxk_err_sys(e, MXK_ERR_IO, "cache directory %s", dir);
	}
	/*
	 * The cache decides which MX hosts get mail and whether TLS must be
	 * verified: whoever may write it can downgrade every domain to
	 * mode none.  Only a directory of ours, closed to others, will do.
	 */
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		(void)close(fd);
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_LOCAL, NULL,
		    "cache directory %s must belong to uid %u and not be "
		    "writable by group or others (owner %u, mode %03o)", dir,
		    (unsigned)geteuid(), (unsigned)st.st_uid,
		    (unsigned)(st.st_mode & 0777));
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->dir = strdup(dir)) == NULL) {
		free(c);
		(void)close(fd);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	c->dfd = fd;
	if (flags & MXK_MTASTS_CACHE_CREATE)
		sweep_stale(fd);
	*out = c;
	return 0;
}

void
mxk_mtasts_cache_close(struct mxk_mtasts_cache *c)
{
	if (c == NULL)
		return;
	(void)close(c->dfd);
	free(c->dir);
	free(c);
}

const char *
mxk_mtasts_cache_dir(const struct mxk_mtasts_cache *c)
{
	return c != NULL ? c->dir : NULL;
}

int
mxk_mtasts_cache_default(char *buf, size_t len)
{
	const char	*x = secure_getenv("XDG_CACHE_HOME");
	const char	*h = secure_getenv("HOME");
	const char	*m = secure_getenv("MXKIT_MTA_STS_CACHE");
	int		 n;

	if (m != NULL && m[0] == '/')
		n = snprintf(buf, len, "%s", m);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/var/cache/mxkit/mta-sts");
	else if (x != NULL && x[0] == '/')
		n = snprintf(buf, len, "%s/mxkit/mta-sts", x);
	else if (h != NULL && h[0] == '/')
		n = snprintf(buf, len, "%s/.cache/mxkit/mta-sts", h);
	else
		return -1;
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
mxk_mtasts_cache_get(struct mxk_mtasts_cache *c, const char *domain,
    size_t max_mx, size_t max_body, struct mxk_mtasts_entry *en,
    struct mxk_err *e)
{
	struct mxk_buf	 b;
	struct stat	 st;
	char		 name[MXK_DNS_NAMEMAX];
	ssize_t		 n = 0;
	char		*sp;
	int		 fd, rc;

	memset(en, 0, sizeof(*en));
	if (domain_norm(domain, name, e) == -1)
		return -1;
	if (max_body == 0)
		max_body = MXK_MTASTS_BODYMAX;
	/* O_NONBLOCK: a FIFO planted here must not hold the run past
	 * every deadline (it is refused below as no regular file). */
	if ((fd = openat(c->dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1) {
		if (errno == ENOENT)
			return 0;
		return mxk_err_sys(e, MXK_ERR_IO, "cache %s/%s", c->dir, name);
	}
	if (fstat(fd, &st) == -1) {
		rc = mxk_err_sys(e, MXK_ERR_IO, "cache %s/%s", c->dir, name);
		(void)close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (unsigned long long)st.st_size > max_body + CACHE_HEADMAX) {
		(void)close(fd);
		return perr(e, "cache %s/%s: not a regular file of at most %zu "
		    "bytes", c->dir, name, max_body + CACHE_HEADMAX);
	}
	/* One byte more than the size: a file that grew is refused too. */
	mxk_buf_init(&b, (size_t)st.st_size + 1);
	if ((sp = mxk_buf_space(&b, (size_t)st.st_size + 1)) == NULL) {
		(void)close(fd);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	for (;;) {
		n = read(fd, sp + b.len, (size_t)st.st_size + 1 - b.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = mxk_err_sys(e, MXK_ERR_IO, "cache %s/%s", c->dir,
			    name);
			(void)close(fd);
			mxk_buf_free(&b);
			return rc;
		}
		if (n == 0 || b.len + (size_t)n > (size_t)st.st_size)
			break;
		mxk_buf_commit(&b, (size_t)n);
	}
	if (n > 0) {
		(void)close(fd);
		mxk_buf_free(&b);
		return perr(e, "cache %s/%s: the file changed while read",
		    c->dir, name);
	}
	(void)close(fd);
	rc = mxk_mtasts_entry_parse(b.p != NULL ? b.p : "", b.len, max_mx, en,
	    e);
	mxk_buf_free(&b);
	if (rc == -1) {
		mxk_err_prefix(e, "%s/%s", c->dir, name);
		return -1;
	}
	if (strcmp(en->domain, name) != 0) {
		mxk_mtasts_entry_clear(en);
		return perr(e, "cache %s/%s: the file names another domain",
		    c->dir, name);
	}
	return 1;
}

int
mxk_mtasts_cache_put(struct mxk_mtasts_cache *c,
    const struct mxk_mtasts_entry *en, struct mxk_err *e)
{
	struct mxk_buf	 b;
	char		 name[MXK_DNS_NAMEMAX], tmp[PATH_MAX], dst[PATH_MAX];
	size_t		 len;
	int		 fd, n;

	if (domain_norm(en->domain, name, e) == -1)
		return -1;
	(void)mxk_mtasts_policy_text(en->policy, &len);
	mxk_buf_init(&b, len + CACHE_HEADMAX);
	if (mxk_mtasts_entry_format(en, &b, e) == -1) {
		mxk_buf_free(&b);
		return -1;
	}
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", c->dir, name);
	if (n < 0 || (size_t)n >= sizeof(tmp) ||
	    (n = snprintf(dst, sizeof(dst), "%s/%s", c->dir, name)) < 0 ||
	    (size_t)n >= sizeof(dst)) {
		mxk_buf_free(&b);
		return mxk_err_set(e, MXK_ERR_IO, MXK_SRC_LOCAL, NULL,
		    "cache path too long");
	}
	/*
	 * Atomic replacement: a new file in the same directory, written
	 * and flushed to disk, then renamed over the old one, then the
	 * directory flushed, so that readers see the old file or the new
	 * one whole and a crash leaves one of them, never a torn file.
	 */
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		mxk_buf_free(&b);
		return mxk_err_sys(e, MXK_ERR_IO, "cache: cannot create a "
		    "file in %s", c->dir);
	}
	if (fchmod(fd, 0644) == -1 || mxk_net_write_full(fd, b.p, b.len) == -1 ||
	    fsync(fd) == -1) {
		n = mxk_err_sys(e, MXK_ERR_IO, "cache: cannot write %s", tmp);
		(void)close(fd);
		(void)unlink(tmp);
		mxk_buf_free(&b);
		return n;
	}
	mxk_buf_free(&b);
	if (close(fd) == -1) {
		n = mxk_err_sys(e, MXK_ERR_IO, "cache: cannot write %s", tmp);
		(void)unlink(tmp);
		return n;
	}
	if (rename(tmp, dst) == -1) {
		n = mxk_err_sys(e, MXK_ERR_IO, "cache: cannot rename %s to %s",
		    tmp, dst);
		(void)unlink(tmp);
		return n;
	}
	if (fsync(c->dfd) == -1)
		return mxk_err_sys(e, MXK_ERR_IO, "cache: cannot sync %s",
		    c->dir);
	return 0;
}

/*
 * Fetching with libcurl's multi interface.
 */
struct xfer {
	CURL			*h;
	struct mxk_mtasts_fetch	*f;
	struct curl_slist	*resolve;
	size_t			 max;
	int			 checked;	/* status seen in write_cb */
	int			 early;		/* aborted: bad status/type */
	int			 oversize;	/* aborted: body too large */
	char			 location[160];	/* of a 3xx, shown */
	long long		 t0;
	char			 url[MXK_DNS_NAMEMAX + 64];
	char			 errbuf[CURL_ERROR_SIZE];
};

static int	curl_ready;

/* text/plain, with parameters or not (RFC 8461 §3.3). */
static int
ctype_ok(const char *ct)
{
	if (ct == NULL)
		return 0;
	while (is_wsp((unsigned char)*ct))
		ct++;
	if (strncasecmp(ct, "text/plain", 10) != 0)
		return 0;
	ct += 10;
	while (is_wsp((unsigned char)*ct))
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Keep the Location header of a redirect, for the message only. */
static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer	*x = ud;
	size_t		 n = size * nmemb, i = 9;

	if (n > 9 && strncasecmp(ptr, "location:", 9) == 0) {
		while (i < n && is_wsp((unsigned char)ptr[i]))
			i++;
		while (n > i && (ptr[n - 1] == '\r' || ptr[n - 1] == '\n' ||
		    is_wsp((unsigned char)ptr[n - 1])))
			n--;
		(void)show(ptr + i, n - i, x->location, sizeof(x->location));
	}
	return size * nmemb;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer	*x = ud;
	size_t		 n = size * nmemb;
	long		 code = 0;
	char		*ct = NULL;

	if (!x->checked) {
		/* Headers are complete: no need to read the body of a
		 * response we are going to refuse. */
		x->checked = 1;
		(void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
		(void)curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ct);
		if (code != 200 || !ctype_ok(ct)) {
			x->early = 1;
			return 0;
		}
	}
	/* The cap: beyond it the transfer is aborted, nothing more is
	 * read (chunked bodies have no Content-Length to refuse early). */
	if (x->f->body.len + n > x->max || mxk_buf_add(&x->f->body, ptr, n)
	    == -1) {
		x->oversize = 1;
		return 0;
	}
	return n;
}

static void
xfer_done(struct xfer *x, CURLcode rc)
{
	struct mxk_mtasts_fetch	*f = x->f;
	long			 code = 0;
	char			*ct = NULL, tmp[160];

	(void)curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
	(void)curl_easy_getinfo(x->h, CURLINFO_CONTENT_TYPE, &ct);
	f->http_code = code;
	if (ct != NULL)
		(void)show(ct, strlen(ct), f->content_type,
		    sizeof(f->content_type));
	f->elapsed_ms = mxk_now_ms() - x->t0;
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && (x->early ||
	    x->oversize))) {
		f->state = MXK_MTASTS_FETCH_INVALID;
		if (x->oversize)
			setwhy(f->why, sizeof(f->why), "the policy is larger "
			    "than %zu bytes (transfer aborted)", x->max);
		else if (code >= 300 && code < 400) {
			/* RFC 8461 §3.3: HTTP 3xx redirects MUST NOT be
			 * followed. */
			setwhy(f->why, sizeof(f->why), "HTTP %ld redirect%s%s "
			    "not followed (RFC 8461 §3.3)", code,
			    x->location[0] != '\0' ? " to " : "",
			    x->location);
		} else if (code >= 500 || code == 429 || code == 408) {
			/* The server's trouble, for now: a temporary
			 * failure, as a timeout would be. */
			f->state = MXK_MTASTS_FETCH_TEMPFAIL;
			setwhy(f->why, sizeof(f->why), "HTTP status %ld: the "
			    "policy host failed for now", code);
		} else if (code != 200)
			setwhy(f->why, sizeof(f->why), "HTTP status %ld, not "
			    "200", code);
		else if (!ctype_ok(ct))
			setwhy(f->why, sizeof(f->why), "Content-Type \"%s\" is "
			    "not text/plain (RFC 8461 §3.3)", ct != NULL ?
			    f->content_type : "");
		else {
			f->state = MXK_MTASTS_FETCH_OK;
			setwhy(f->why, sizeof(f->why), "HTTP 200, %zu bytes",
			    f->body.len);
		}
		return;
	}
	switch (rc) {
	case CURLE_FILESIZE_EXCEEDED:
		f->state = MXK_MTASTS_FETCH_INVALID;
		setwhy(f->why, sizeof(f->why), "the policy is larger than %zu "
		    "bytes (Content-Length)", x->max);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
		/* A policy host whose certificate does not verify for
		 * mta-sts.DOMAIN is the domain's problem, not a passing
		 * one; either way, no policy comes from it (§3.3). */
		f->state = MXK_MTASTS_FETCH_INVALID;
		setwhy(f->why, sizeof(f->why), "certificate of mta-sts.%s not "
		    "valid: %s", f->domain, show(x->errbuf, strlen(x->errbuf),
		    tmp, sizeof(tmp)));
		break;
	case CURLE_OPERATION_TIMEDOUT:
		f->state = MXK_MTASTS_FETCH_TEMPFAIL;
		setwhy(f->why, sizeof(f->why), "timed out: %s",
		    show(x->errbuf, strlen(x->errbuf), tmp, sizeof(tmp)));
		break;
	default:
		f->state = MXK_MTASTS_FETCH_TEMPFAIL;
		setwhy(f->why, sizeof(f->why), "%s%s%s", curl_easy_strerror(rc),
		    x->errbuf[0] != '\0' ? ": " : "", show(x->errbuf,
		    strlen(x->errbuf), tmp, sizeof(tmp)));
		break;
	}
}

static int
xfer_setup(struct xfer *x, const struct mxk_mtasts_params *p,
    const char *ua, long long deadline)
{
	struct mxk_mtasts_fetch	*f = x->f;
	char			 port[16] = "", res[MXK_DNS_NAMEMAX + 600];
	long			 left = mxk_ms_left(deadline);
	long			 total = p->fetch_timeout_ms;
	int			 n, pn = p->port > 0 ? p->port : 443;

	if (total > left)
		total = left;
	if (total < 1)
		total = 1;
	if (pn != 443)
		(void)snprintf(port, sizeof(port), ":%d", pn);
	n = snprintf(x->url, sizeof(x->url),
	    "https://mta-sts.%s%s/.well-known/mta-sts.txt", f->domain, port);
	if (n < 0 || (size_t)n >= sizeof(x->url))
		return -1;
	if (f->addrs != NULL) {
		n = snprintf(res, sizeof(res), "mta-sts.%s:%d:%s", f->domain,
		    pn, f->addrs);
		if (n < 0 || (size_t)n >= sizeof(res) ||
		    (x->resolve = curl_slist_append(NULL, res)) == NULL)
			return -1;
	}
	if ((x->h = curl_easy_init()) == NULL)
		return -1;
	x->t0 = mxk_now_ms();
	if (curl_easy_setopt(x->h, CURLOPT_URL, x->url) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf) !=
	    CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "https") !=
	    CURLE_OK ||
	    /* RFC 8461 §3.3: no redirects. */
	    curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    /* §3.3: PKIX, valid for mta-sts.DOMAIN. */
	    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(p->connect_timeout_ms < total ? p->connect_timeout_ms :
	    total)) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_TIMEOUT_MS, total) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_USERAGENT, ua) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)x->max) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, write_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, header_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x) != CURLE_OK)
		return -1;
	if (x->resolve != NULL &&
	    curl_easy_setopt(x->h, CURLOPT_RESOLVE, x->resolve) != CURLE_OK)
		return -1;
	if (p->cafile != NULL) {
		/* Only the given anchors: no CA directory besides. */
		if (curl_easy_setopt(x->h, CURLOPT_CAINFO, p->cafile) !=
		    CURLE_OK ||
		    curl_easy_setopt(x->h, CURLOPT_CAPATH, (char *)NULL) !=
		    CURLE_OK)
			return -1;
	}
	return 0;
}

static void
params_fill(struct mxk_mtasts_params *q, const struct mxk_mtasts_params *p)
{
	if (p != NULL)
		*q = *p;
	else
		memset(q, 0, sizeof(*q));
	if (q->max_body == 0)
		q->max_body = MXK_MTASTS_BODYMAX;
	if (q->max_mx == 0)
		q->max_mx = MXK_MTASTS_MXMAX;
	if (q->connect_timeout_ms <= 0)
		q->connect_timeout_ms = 10000;
	if (q->fetch_timeout_ms <= 0)
		q->fetch_timeout_ms = 60000;
	if (q->parallel == 0)
		q->parallel = 8;
	if (q->now == 0)
		q->now = (long long)time(NULL);
}

int
mxk_mtasts_fetch_run(struct mxk_mtasts_fetch *f, size_t n,
    const struct mxk_mtasts_params *pin, long long deadline,
    struct mxk_err *e)
{
	struct mxk_mtasts_params p;
	struct xfer		*x = NULL;
	CURLM			*m = NULL;
	CURLMsg			*msg;
	size_t			 i, next = 0, active = 0;
	int			 running = 0, left;
	char			 ua[64];

	params_fill(&p, pin);
	for (i = 0; i < n; i++) {
		f[i].state = MXK_MTASTS_FETCH_TEMPFAIL;
		f[i].http_code = 0;
		f[i].content_type[0] = '\0';
		f[i].why[0] = '\0';
		f[i].elapsed_ms = 0;
		mxk_buf_init(&f[i].body, p.max_body);
	}
	if (n == 0)
		return 0;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "libcurl cannot be initialised");
		curl_ready = 1;
	}
	(void)snprintf(ua, sizeof(ua), "mxkit/%s", MXK_VERSION);
	if ((x = calloc(n, sizeof(*x))) == NULL ||
	    (m = curl_multi_init()) == NULL) {
		free(x);
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
	}
	for (;;) {
		while (active < p.parallel && next < n) {
			struct xfer *t = &x[next];

			t->f = &f[next];
			t->max = p.max_body;
			if (xfer_setup(t, &p, p.user_agent != NULL ?
			    p.user_agent : ua, deadline) == -1 ||
			    curl_multi_add_handle(m, t->h) != CURLM_OK) {
				setwhy(f[next].why, sizeof(f[next].why),
				    "libcurl setup failed");
				if (t->h != NULL)
					curl_easy_cleanup(t->h);
				t->h = NULL;
			} else
				active++;
			next++;
		}
		if (active == 0 && next >= n)
			break;
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct xfer *t;
			char *pv = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			(void)curl_easy_getinfo(msg->easy_handle,
			    CURLINFO_PRIVATE, &pv);
			if ((t = (struct xfer *)(void *)pv) == NULL)
				continue;
			xfer_done(t, msg->data.result);
			mxk_log(MXK_LOG_DEBUG, "mtasts: %s: %s: %s", t->url,
			    mxk_mtasts_fetch_name(t->f->state), t->f->why);
			(void)curl_multi_remove_handle(m, t->h);
			curl_easy_cleanup(t->h);
			t->h = NULL;
			active--;
		}
		if (active == 0 && next >= n)
			break;
		if (mxk_ms_left(deadline) == 0)
			break;
		if (active > 0) {
			int ms = mxk_ms_left(deadline);

			if (curl_multi_poll(m, NULL, 0, ms < 1000 ? ms : 1000,
			    NULL) != CURLM_OK)
				break;
		}
	}
	/* Whatever is still running ran out of time. */
	for (i = 0; i < n; i++) {
		if (x[i].h != NULL) {
			(void)curl_multi_remove_handle(m, x[i].h);
			curl_easy_cleanup(x[i].h);
			x[i].h = NULL;
			f[i].state = MXK_MTASTS_FETCH_TEMPFAIL;
			setwhy(f[i].why, sizeof(f[i].why), "deadline reached");
		} else if (i >= next) {
			f[i].state = MXK_MTASTS_FETCH_TEMPFAIL;
			setwhy(f[i].why, sizeof(f[i].why), "deadline reached "
			    "before the fetch started");
		}
		curl_slist_free_all(x[i].resolve);
	}
	(void)curl_multi_cleanup(m);
	free(x);
	return 0;
}

void
mxk_mtasts_fetch_free(struct mxk_mtasts_fetch *f, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		mxk_buf_free(&f[i].body);
}

/*
 * Discovery (RFC 8461 §5.1).
 */
void
mxk_mtasts_result_clear(struct mxk_mtasts_result *r)
{
	mxk_mtasts_entry_clear(&r->eff);
	mxk_dns_answer_free(r->mx);
	r->mx = NULL;
}

/* "ADDR,ADDR" from A and AAAA answers, for CURLOPT_RESOLVE; IPv6 in
 * brackets.  Returns the number of addresses. */
static size_t
addr_list(const struct mxk_dns_answer *a4, const struct mxk_dns_answer *a6,
    char *out, size_t outlen)
{
	const struct mxk_dns_answer *as[2] = { a6, a4 };
	char	ip[INET6_ADDRSTRLEN];
	size_t	k, i, n = 0, used = 0, fam;
	int	w;

	out[0] = '\0';
	for (k = 0; k < 2; k++) {
		const struct mxk_dns_answer *a = as[k];

		if (a == NULL || a->status != MXK_DNS_OK)
			continue;
		for (i = 0, fam = 0; i < a->nrr && fam < ADDRS_MAX; i++) {
			if (a->rr[i].type == MXK_DNS_A)
				(void)inet_ntop(AF_INET, &a->rr[i].a, ip,
				    sizeof(ip));
			else if (a->rr[i].type == MXK_DNS_AAAA)
				(void)inet_ntop(AF_INET6, &a->rr[i].aaaa, ip,
				    sizeof(ip));
			else
				continue;
			w = snprintf(out + used, outlen - used, "%s%s%s%s",
			    n > 0 ? "," : "", a->rr[i].type == MXK_DNS_AAAA ?
			    "[" : "", ip, a->rr[i].type == MXK_DNS_AAAA ?
			    "]" : "");
			if (w < 0 || (size_t)w >= outlen - used) {
				out[used] = '\0';
				return n;
			}
			used += (size_t)w;
			n++;
			fam++;
		}
	}
	return n;
}

static int
dns_failed(const struct mxk_dns_answer *a)
{
	return a == NULL || (a->status != MXK_DNS_OK &&
	    a->status != MXK_DNS_NXDOMAIN && a->status != MXK_DNS_NODATA);
}

/* Per domain work while discovering. */
struct disc {
	struct mxk_mtasts_entry	 cache;
	struct mxk_mtasts_state	 st;
	int			 fetch_idx;	/* into the fetch array; -1 */
	char			 addrs[ADDRS_MAX * 2 * (INET6_ADDRSTRLEN + 3)];
	struct mxk_mtasts_policy *fetched;
};

static void
reason_compose(struct mxk_mtasts_result *r)
{
	const char	*why = r->dec.why != NULL ? r->dec.why : "";

	if (r->fetch != MXK_MTASTS_FETCH_NOTDONE &&
	    r->fetch != MXK_MTASTS_FETCH_OK)
		setwhy(r->reason, sizeof(r->reason), "policy fetch: %s; %s",
		    r->fetch_why, why);
	else if (r->txt.state != MXK_MTASTS_TXT_FOUND)
		setwhy(r->reason, sizeof(r->reason), "%s; %s", r->txt.why, why);
	else if (r->status == MXK_MTASTS_CHANGED)
		setwhy(r->reason, sizeof(r->reason), "%s (id %s, was %s)", why,
		    r->txt.id, r->cache_id);
	else
		setwhy(r->reason, sizeof(r->reason), "%s", why);
}

int
mxk_mtasts_discover(struct mxk_dns *dns, struct mxk_mtasts_cache *cache,
    const struct mxk_mtasts_params *pin, const char *const *domains,
    size_t n, long long deadline, struct mxk_mtasts_result *res,
    struct mxk_err *e)
{
	struct mxk_mtasts_params p;
	struct mxk_dns_query	*q = NULL;
	struct mxk_mtasts_fetch	*f = NULL;
	struct disc		*d = NULL;
	char			(*qn)[MXK_DNS_NAMEMAX + 16] = NULL;
	size_t			 per, nslots, nq = 0, i, k, nf = 0;
	int			 rc = -1;

	params_fill(&p, pin);
	per = 1 + (p.want_tlsrpt != 0) + (p.want_mx != 0);
	/* Room for the first batch and for the second (A and AAAA). */
	nslots = n * (per > 2 ? per : 2);
	for (i = 0; i < n; i++)
		memset(&res[i], 0, sizeof(res[i]));
	if (n == 0)
		return 0;
	if ((d = calloc(n, sizeof(*d))) == NULL ||
	    (q = calloc(nslots, sizeof(*q))) == NULL ||
	    (qn = calloc(nslots, sizeof(*qn))) == NULL) {
		(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "out of memory");
		goto out;
	}

	/* 1. The TXT records (and TLS-RPT, MX) of every domain at once. */
	for (i = 0; i < n; i++) {
		struct mxk_err	ne;

		d[i].fetch_idx = -1;
		if (domain_norm(domains[i], res[i].domain, &ne) == -1) {
			setwhy(res[i].domain, sizeof(res[i].domain), "%s",
			    "?");
			res[i].txt.state = MXK_MTASTS_TXT_INVALID;
			setwhy(res[i].txt.why, sizeof(res[i].txt.why),
			    "not a domain name: %s", ne.msg);
			res[i].tlsrpt.state = MXK_MTASTS_TLSRPT_ABSENT;
			continue;
		}
		setwhy(qn[nq], sizeof(qn[nq]), "_mta-sts.%s", res[i].domain);
		q[nq].name = qn[nq];
		q[nq++].type = MXK_DNS_TXT;
		if (p.want_tlsrpt) {
			setwhy(qn[nq], sizeof(qn[nq]), "_smtp._tls.%s",
			    res[i].domain);
			q[nq].name = qn[nq];
			q[nq++].type = MXK_DNS_TXT;
		}
		if (p.want_mx) {
			setwhy(qn[nq], sizeof(qn[nq]), "%s", res[i].domain);
			q[nq].name = qn[nq];
			q[nq++].type = MXK_DNS_MX;
		}
	}
	if (mxk_dns_resolve(dns, q, nq, deadline, e) == -1)
		goto out;
	for (i = 0, k = 0; i < n; i++) {
		if (res[i].domain[0] == '?')
			continue;
		mxk_mtasts_txt_select(q[k++].ans, &res[i].txt);
		if (p.want_tlsrpt)
			mxk_mtasts_tlsrpt_select(q[k++].ans, &res[i].tlsrpt);
		if (p.want_mx) {
			res[i].mx = q[k].ans;
			q[k++].ans = NULL;
		}
	}
	for (k = 0; k < nq; k++) {
		mxk_dns_answer_free(q[k].ans);
		q[k].ans = NULL;
	}

	/* 2. The cache, and the first decision. */
	for (i = 0; i < n; i++) {
		struct mxk_mtasts_state *st = &d[i].st;
		struct mxk_err	ce;

		if (cache != NULL && res[i].domain[0] != '?') {
			int c = mxk_mtasts_cache_get(cache, res[i].domain,
			    p.max_mx, p.max_body, &d[i].cache, &ce);

			if (c == 1) {
				res[i].had_cache = 1;
				(void)snprintf(res[i].cache_id,
				    sizeof(res[i].cache_id), "%s",
				    d[i].cache.id);
				res[i].cache_expires = d[i].cache.expires;
			} else if (c == -1) {
				res[i].cache_error = 1;
				mxk_log(MXK_LOG_WARN, "%s (ignored)", ce.msg);
			}
		}
		st->txt = res[i].txt.state;
		st->txt_id = res[i].txt.id;
		st->have_cache = res[i].had_cache;
		st->cache_id = d[i].cache.id;
		st->cache_fetched = d[i].cache.fetched;
		st->cache_expires = d[i].cache.expires;
		st->now = p.now;
		st->refresh = p.refresh;
		st->refresh_percent = p.refresh_percent;
		st->fetch = MXK_MTASTS_FETCH_NOTDONE;
		mxk_mtasts_decide(st, &res[i].dec);
		if (res[i].dec.fetch)
			nf++;
	}

	/* 3. The policy hosts' addresses, then the fetches. */
	if (nf > 0) {
		size_t	nq2 = 0, j;

		if ((f = calloc(nf, sizeof(*f))) == NULL) {
			(void)mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (!res[i].dec.fetch)
				continue;
			setwhy(qn[nq2], sizeof(qn[nq2]), "mta-sts.%s",
			    res[i].domain);
			q[nq2].name = qn[nq2];
			q[nq2++].type = MXK_DNS_A;
			q[nq2].name = qn[nq2 - 1];
			q[nq2++].type = MXK_DNS_AAAA;
		}
		if (mxk_dns_resolve(dns, q, nq2, deadline, e) == -1)
			goto out;
		for (i = 0, j = 0, k = 0; i < n; i++) {
			const struct mxk_dns_answer *a4, *a6;

			if (!res[i].dec.fetch)
				continue;
			a4 = q[k++].ans;
			a6 = q[k++].ans;
			if (addr_list(a4, a6, d[i].addrs,
			    sizeof(d[i].addrs)) == 0) {
				res[i].fetch = dns_failed(a4) || dns_failed(a6)
				    ? MXK_MTASTS_FETCH_TEMPFAIL :
				    MXK_MTASTS_FETCH_INVALID;
				setwhy(res[i].fetch_why,
				    sizeof(res[i].fetch_why), "mta-sts.%s: "
				    "%s", res[i].domain,
				    res[i].fetch == MXK_MTASTS_FETCH_INVALID ?
				    "no address (the policy host does not "
				    "exist)" : "address lookup failed");
				continue;
			}
			f[j].domain = res[i].domain;
			f[j].addrs = d[i].addrs;
			d[i].fetch_idx = (int)j++;
		}
		for (k = 0; k < nq2; k++) {
			mxk_dns_answer_free(q[k].ans);
			q[k].ans = NULL;
		}
		nf = j;
		if (mxk_mtasts_fetch_run(f, nf, &p, deadline, e) == -1)
			goto out;
	}

	/* 4. Parsing, the second decision, the cache writes. */
	for (i = 0; i < n; i++) {
		struct mxk_mtasts_result *r = &res[i];
		struct mxk_err	pe;

		if (r->dec.fetch) {
			if (d[i].fetch_idx >= 0) {
				struct mxk_mtasts_fetch *ff =
				    &f[d[i].fetch_idx];

				r->fetch = ff->state;
				r->http_code = ff->http_code;
				(void)snprintf(r->fetch_why,
				    sizeof(r->fetch_why), "%s", ff->why);
				if (ff->state == MXK_MTASTS_FETCH_OK &&
				    mxk_mtasts_policy_parse(ff->body.p != NULL ?
				    ff->body.p : "", ff->body.len, p.max_mx,
				    &d[i].fetched, &pe) == -1) {
					r->fetch = MXK_MTASTS_FETCH_INVALID;
					setwhy(r->fetch_why,
					    sizeof(r->fetch_why), "%s",
					    pe.msg);
				}
			}
			d[i].st.fetch = r->fetch;
			d[i].st.fetched_same = mxk_mtasts_policy_same(
			    d[i].fetched, d[i].cache.policy);
			mxk_mtasts_decide(&d[i].st, &r->dec);
		}
		r->status = r->dec.status;
		if (r->dec.use_cache) {
			r->eff = d[i].cache;
			memset(&d[i].cache, 0, sizeof(d[i].cache));
			(void)snprintf(r->cache_id, sizeof(r->cache_id), "%s",
			    r->eff.id);
			r->from_cache = 1;
		} else if (r->dec.use_fetched && d[i].fetched != NULL) {
			(void)snprintf(r->eff.domain, sizeof(r->eff.domain),
			    "%s", r->domain);
			(void)snprintf(r->eff.id, sizeof(r->eff.id), "%s",
			    r->txt.id);
			r->eff.fetched = p.now;
			r->eff.expires = p.now +
			    mxk_mtasts_policy_max_age(d[i].fetched);
			r->eff.policy = d[i].fetched;
			d[i].fetched = NULL;
			if (cache != NULL) {
				struct mxk_err ce;

				if (mxk_mtasts_cache_put(cache, &r->eff, &ce) ==
				    0)
					r->stored = 1;
				else {
					setwhy(r->store_why,
					    sizeof(r->store_why), "%s",
					    ce.msg);
					mxk_log(MXK_LOG_WARN, "%s", ce.msg);
				}
			}
		}
		reason_compose(r);
		mxk_log(MXK_LOG_INFO, "mtasts: %s: txt %s, cache %s, fetch %s: "
		    "%s: %s", r->domain, mxk_mtasts_txt_name(r->txt.state),
		    r->had_cache ? r->cache_id : "-",
		    mxk_mtasts_fetch_name(r->fetch),
		    mxk_mtasts_status_name(r->status), r->reason);
	}
	rc = 0;
out:
	if (f != NULL) {
		mxk_mtasts_fetch_free(f, nf);
		free(f);
	}
	if (q != NULL) {
		for (k = 0; k < nslots; k++)
			mxk_dns_answer_free(q[k].ans);
	}
	if (d != NULL) {
		for (i = 0; i < n; i++) {
			mxk_mtasts_entry_clear(&d[i].cache);
			mxk_mtasts_policy_free(d[i].fetched);
		}
	}
	if (rc == -1)
		for (i = 0; i < n; i++)
			mxk_mtasts_result_clear(&res[i]);
	free(d);
	free(q);
	free(qn);
	return rc;
}
