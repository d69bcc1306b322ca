/* ISC license. */

#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "clock.h"
#include "dns.h"
#include "err.h"
#include "log.h"

#define DNS_PORT		53
#define DNS_EDNS_SIZE		1232	/* DNS flag day 2020 */
#define DNS_DEF_TIMEOUT		2000
#define DNS_DEF_TRIES		2
#define DNS_DEF_CNAME_MAX	8
#define DNS_DEF_MAX_ANSWER	65535
#define DNS_MIN_ANSWER		512	/* RFC 1035 §4.2.1 */
#define DNS_RECV_BURST		16	/* datagrams read per wake-up */
#define DNS_RESOLV_CONF		"/etc/resolv.conf"
#define DNS_STATUS		"4.4.3"

struct dns_server {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 trusted;
	char			 text[64];
};

struct mxk_dns {
	struct dns_server	 srv[MXK_DNS_MAXNS];
	size_t			 nsrv;
	int			 timeout_ms;
	int			 tries;
	int			 cname_max;
	size_t			 max_answer;
	uint16_t		 idpool[64];
	size_t			 nid;
};

static const char *const status_names[MXK_DNS__COUNT] = {
	[MXK_DNS_OK] = "ok",
	[MXK_DNS_NXDOMAIN] = "nxdomain",
	[MXK_DNS_NODATA] = "nodata",
	[MXK_DNS_SERVFAIL] = "servfail",
	[MXK_DNS_REFUSED] = "refused",
	[MXK_DNS_ERROR] = "error",
	[MXK_DNS_TIMEOUT] = "timeout",
};

static const char *const dnssec_names[MXK_DNSSEC__COUNT] = {
	[MXK_DNSSEC_INDETERMINATE] = "indeterminate",
	[MXK_DNSSEC_SECURE] = "secure",
	[MXK_DNSSEC_INSECURE] = "insecure",
	[MXK_DNSSEC_BOGUS] = "bogus",
};

const char *
mxk_dns_status_name(enum mxk_dns_status s)
{
	if ((int)s < 0 || s >= MXK_DNS__COUNT)
		return "?";
	return status_names[s];
}

const char *
mxk_dnssec_name(enum mxk_dnssec s)
{
	if ((int)s < 0 || s >= MXK_DNSSEC__COUNT)
		return "?";
	return dnssec_names[s];
}

const char *
mxk_dns_type_name(int type)
{
	switch (type) {
	case MXK_DNS_A:
		return "A";
	case MXK_DNS_NS:
		return "NS";
	case MXK_DNS_CNAME:
		return "CNAME";
	case MXK_DNS_PTR:
		return "PTR";
	case MXK_DNS_MX:
		return "MX";
	case MXK_DNS_TXT:
		return "TXT";
	case MXK_DNS_AAAA:
		return "AAAA";
	case MXK_DNS_TLSA:
		return "TLSA";
	default:
		return "TYPE";
	}
}

/*
 * Configuration.
 */

static int
is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (ss->ss_family == AF_INET) {
		sin = (const struct sockaddr_in *)ss;
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		    sin6->sin6_addr.s6_addr[12] == 127;
	}
	return 0;
}

static void
server_text(struct dns_server *s)
{
	char		 host[INET6_ADDRSTRLEN];
	unsigned	 port = 0;
	const void	*a;

	if (s->ss.ss_family == AF_INET) {
		a = &((struct sockaddr_in *)&s->ss)->sin_addr;
		port = ntohs(((struct sockaddr_in *)&s->ss)->sin_port);
	} else {
		a = &((struct sockaddr_in6 *)&s->ss)->sin6_addr;
		port = ntohs(((struct sockaddr_in6 *)&s->ss)->sin6_port);
	}
	if (inet_ntop(s->ss.ss_family, a, host, sizeof(host)) == NULL)
		(void)snprintf(host, sizeof(host), "?");
	(void)snprintf(s->text, sizeof(s->text), "%s#%u", host, port);
}

/*
 * Parse one server: ADDR, ADDR:PORT, [V6ADDR]:PORT, [V6ADDR] or V6ADDR.
 * A bare address with two or more colons is IPv6 without a port.
 */
static int
parse_server(const char *in, size_t inlen, struct dns_server *s,
    struct mxk_err *e)
{
	char		 buf[128], *host, *port = NULL, *end, *colon;
	unsigned long	 pn = DNS_PORT;
	struct addrinfo	 hints, *res;
	int		 rc;

	if (inlen == 0 || inlen >= sizeof(buf))
		return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_DNS, NULL,
		    "bad resolver address \"%.*s\"", (int)(inlen > 64 ? 64 :
		    inlen), in);
	memcpy(buf, in, inlen);
	buf[inlen] = '\0';
	host = buf;
	if (buf[0] == '[') {
		host = buf + 1;
		if ((end = strchr(host, ']')) == NULL)
			goto bad;
		*end++ = '\0';
		if (*end == ':')
			port = end + 1;
		else if (*end != '\0')
			goto bad;
	} else if ((colon = strchr(buf, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		port = colon + 1;
	}
	if (port != NULL) {
		errno = 0;
		pn = strtoul(port, &end, 10);
		if (*port == '\0' || *end != '\0' || errno != 0 || pn == 0 ||
		    pn > 65535 || !isdigit((unsigned char)*port))
			goto bad;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0 || res == NULL)
		goto bad;
	if (res->ai_addrlen > sizeof(s->ss)) {
		freeaddrinfo(res);
		goto bad;
	}
	memset(s, 0, sizeof(*s));
	memcpy(&s->ss, res->ai_addr, res->ai_addrlen);
	s->sslen = res->ai_addrlen;
	freeaddrinfo(res);
	if (s->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&s->ss)->sin_port =
		    htons((uint16_t)pn);
	else if (s->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&s->ss)->sin6_port =
		    htons((uint16_t)pn);
	else
		goto bad;
	server_text(s);
	return 0;
bad:
	return mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_DNS, NULL,
	    "bad resolver address \"%.*s\"", (int)(inlen > 64 ? 64 : inlen),
	    in);
}

static int
add_server(struct mxk_dns *h, const char *in, size_t len, struct mxk_err *e)
{
	if (h->nsrv >= MXK_DNS_MAXNS) {
		mxk_log(MXK_LOG_DEBUG, "dns: more than %d servers, ignoring "
		    "\"%.*s\"", MXK_DNS_MAXNS, (int)(len > 64 ? 64 : len), in);
		return 0;
	}
	if (parse_server(in, len, &h->srv[h->nsrv], e) == -1)
		return -1;
	h->nsrv++;
	return 0;
}

/* The next blank-separated token of a line, NUL-terminated in place. */
static char *
next_token(char **pp)
{
	char	*p = *pp, *tok;

	p += strspn(p, " \t\r\n");
	if (*p == '\0') {
		*pp = p;
		return NULL;
	}
	tok = p;
	p += strcspn(p, " \t\r\n");
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return tok;
}

/* A number option "name:N" from resolv.conf; -1 when absent or bad. */
static int
resolv_opt(const char *tok, const char *name, int max)
{
	size_t		 n = strlen(name);
	unsigned long	 v;
	char		*end;

	if (strncmp(tok, name, n) != 0 || tok[n] != ':')
		return -1;
	tok += n + 1;
	errno = 0;
	v = strtoul(tok, &end, 10);
	if (*tok == '\0' || *end != '\0' || errno != 0 ||
	    !isdigit((unsigned char)*tok))
		return -1;
	return v > (unsigned long)max ? max : (int)v;
}

/*
 * Read nameserver and "options timeout:N attempts:N" lines, as glibc does
 * (timeout capped at 30 s, attempts at 5).  Without any nameserver line, or
 * without the file, glibc uses 127.0.0.1; so do we.
 */
static int
read_resolv_conf(struct mxk_dns *h, const char *path, int *timeout_s,
    int *attempts, struct mxk_err *e)
{
	FILE		*f;
	char		 line[1024], *p, *tok;
	size_t		 lines = 0;
	int		 v;

	*timeout_s = *attempts = -1;
	if ((f = fopen(path, "re")) == NULL) {
		if (errno != ENOENT)
			return mxk_err_sys(e, MXK_ERR_CONFIG, "%s", path);
		mxk_log(MXK_LOG_DEBUG, "dns: %s missing, using 127.0.0.1",
		    path);
		return add_server(h, "127.0.0.1", 9, e);
	}
	while (fgets(line, sizeof(line), f) != NULL && lines++ < 10000) {
		if (strchr(line, '\n') == NULL && !feof(f)) {
			/* Too long for any sane line: skip the rest. */
			int	c;

			while ((c = getc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if ((p = strpbrk(line, "#;")) != NULL)
			*p = '\0';
		p = line;
		if ((tok = next_token(&p)) == NULL)
			continue;
		if (strcmp(tok, "nameserver") == 0) {
			if ((tok = next_token(&p)) == NULL)
				continue;
			if (add_server(h, tok, strlen(tok), e) == -1) {
				mxk_err_prefix(e, "%s", path);
				(void)fclose(f);
				return -1;
			}
		} else if (strcmp(tok, "options") == 0) {
			while ((tok = next_token(&p)) != NULL) {
				if ((v = resolv_opt(tok, "timeout", 30)) >= 0)
					*timeout_s = v;
				else if ((v = resolv_opt(tok, "attempts", 5)) >=
				    0)
					*attempts = v;
			}
		}
	}
	(void)fclose(f);
	if (h->nsrv == 0)
		return add_server(h, "127.0.0.1", 9, e);
	return 0;
}

/*
 * Which resolvers' AD bit we believe.
 *
 * The AD bit (RFC 4035 §3.2.3, RFC 6840 §5.7) is one unsigned header bit
 * that says "the resolver validated this answer".  Nothing protects it on
 * the way from the resolver to us: plain DNS over UDP or TCP has no
 * integrity, so anyone on the path between this host and a remote resolver
 * (a LAN peer, a hotel network, an ISP box) can set it on a forged answer,
 * and we would accept forged TLSA records as authenticated.  We therefore
 * trust AD only from a resolver on the loopback interface (127.0.0.0/8,
 * ::1), where the path is the kernel, or when the user says the path is
 * protected (trust_ad = 1: an IPsec tunnel, a validating resolver on the
 * same trusted segment).  Postfix documents the same requirement for
 * smtp_dns_support_level = dnssec, and glibc strips AD unless resolv.conf
 * says "options trust-ad".  We do not honour trust-ad from resolv.conf in
 * auto mode: that file is often written by tools that set it for a
 * loopback stub anyway, and trusting a remote address must be a deliberate
 * choice of the caller.  An AD=1 answer we do not trust is reported as
 * MXK_DNSSEC_INDETERMINATE, never as secure.
 */
static int
server_trusted(const struct dns_server *s, int trust_ad)
{
	if (trust_ad > 0)
		return 1;
	if (trust_ad == 0)
		return 0;
	return is_loopback(&s->ss);
}

int
mxk_dns_open(struct mxk_dns **hp, const struct mxk_dns_params *p,
    struct mxk_err *e)
{
	struct mxk_dns	*h;
	const char	*s, *tok;
	size_t		 i, len;
	int		 timeout_s = -1, attempts = -1, trust_ad;

	*hp = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return mxk_err_sys(e, MXK_ERR_TEMP, "dns");
	if (p != NULL && p->resolver != NULL) {
		s = p->resolver;
		while (*s != '\0') {
			s += strspn(s, ", \t");
			if (*s == '\0')
				break;
			tok = s;
			len = strcspn(s, ", \t");
			s += len;
			if (add_server(h, tok, len, e) == -1)
				goto fail;
		}
		if (h->nsrv == 0) {
			(void)mxk_err_set(e, MXK_ERR_CONFIG, MXK_SRC_DNS, NULL,
			    "no resolver address given");
			goto fail;
		}
	} else if (read_resolv_conf(h, p != NULL && p->resolv_conf != NULL ?
	    p->resolv_conf : DNS_RESOLV_CONF, &timeout_s, &attempts, e) == -1)
		goto fail;

	h->timeout_ms = DNS_DEF_TIMEOUT;
	if (p != NULL && p->timeout_ms > 0)
		h->timeout_ms = p->timeout_ms;
	else if (timeout_s > 0)
		h->timeout_ms = timeout_s * 1000;
	h->tries = DNS_DEF_TRIES;
	if (p != NULL && p->tries > 0)
		h->tries = p->tries;
	else if (attempts > 0)
		h->tries = attempts;
	h->cname_max = p != NULL && p->cname_max > 0 ? p->cname_max :
	    DNS_DEF_CNAME_MAX;
	h->max_answer = p != NULL && p->max_answer > 0 ? p->max_answer :
	    DNS_DEF_MAX_ANSWER;
	if (h->max_answer > DNS_DEF_MAX_ANSWER)
		h->max_answer = DNS_DEF_MAX_ANSWER;
	if (h->max_answer < DNS_MIN_ANSWER)
		h->max_answer = DNS_MIN_ANSWER;
	trust_ad = p != NULL ? p->trust_ad : -1;
	for (i = 0; i < h->nsrv; i++) {
		h->srv[i].trusted = server_trusted(&h->srv[i], trust_ad);
		mxk_log(MXK_LOG_DEBUG, "dns: server %s (AD %s)",
		    h->srv[i].text, h->srv[i].trusted ? "trusted" :
		    "not trusted");
	}
	*hp = h;
	return 0;
fail:
	free(h);
	return -1;
}

void
mxk_dns_close(struct mxk_dns *h)
{
	free(h);
}

size_t
mxk_dns_nservers(const struct mxk_dns *h)
{
	return h == NULL ? 0 : h->nsrv;
}

int
mxk_dns_server(const struct mxk_dns *h, size_t i, char *buf, size_t len,
    int *trusted)
{
	int	n;

	if (h == NULL || i >= h->nsrv)
		return -1;
	if (trusted != NULL)
		*trusted = h->srv[i].trusted;
	if (buf != NULL && len > 0) {
		n = snprintf(buf, len, "%s", h->srv[i].text);
		if (n < 0 || (size_t)n >= len)
			return -1;
	}
	return 0;
}

/*
 * Names.
 */

/*
 * The octets we let through in a name: letters, digits, hyphen, underscore
 * (_25._tcp, _mta-sts).  Anything else (blanks, control characters, a
 * literal '.' inside a label, '\\', '"', 8-bit) could mislead a log reader
 * or a later parser, so it is shown as '?' and the name is flagged unsafe.
 */
static int
name_octet_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * A wire-format name (an uncompressed ldns DNAME rdf) as lowercase text
 * without the trailing dot; the root is ".".  Returns -1 when the rdf is
 * not a well-formed name.
 */
static int
dname_text(const ldns_rdf *rdf, char *out, size_t outlen, int *unsafe)
{
	const unsigned char	*d;
	size_t			 n, i = 0, o = 0, l, k;
	unsigned char		 c;

	*unsafe = 0;
	if (rdf == NULL || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME ||
	    outlen < 2)
		return -1;
	d = ldns_rdf_data(rdf);
	n = ldns_rdf_size(rdf);
	if (n == 0 || n > LDNS_MAX_DOMAINLEN + 1)
		return -1;
	for (;;) {
		if (i >= n)
			return -1;
		l = d[i++];
		if (l == 0)
			break;
		if (l > LDNS_MAX_LABELLEN || l > n - i)
			return -1;
		if (o != 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		for (k = 0; k < l; k++) {
			if (o + 1 >= outlen)
				return -1;
			c = d[i + k];
			if (!name_octet_safe(c)) {
				c = '?';
				*unsafe = 1;
			}
			out[o++] = (char)tolower(c);
		}
		i += l;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	return 0;
}

/*
 * Check a name the caller asks for and give its canonical text (lowercase,
 * no trailing dot; "." for the root).  Labels 1..63 safe octets, 253
 * characters at most.
 */
static int
qname_canon(const char *in, char *out, size_t outlen)
{
	size_t	len, i, lab = 0;

	if (in == NULL)
		return -1;
	len = strlen(in);
	if (len == 1 && in[0] == '.') {
		(void)snprintf(out, outlen, ".");
		return 0;
	}
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || len >= outlen)
		return -1;
	for (i = 0; i < len; i++) {
		if (in[i] == '.') {
			if (lab == 0)
				return -1;
			lab = 0;
		} else if (!name_octet_safe((unsigned char)in[i]) ||
		    ++lab > LDNS_MAX_LABELLEN)
			return -1;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	if (lab == 0)
		return -1;
	out[len] = '\0';
	return 0;
}

static ldns_rdf *
qname_rdf(const char *canon)
{
	char	buf[MXK_DNS_NAMEMAX + 1];
	int	n;

	if (strcmp(canon, ".") == 0)
		return ldns_dname_new_frm_str(".");
	n = snprintf(buf, sizeof(buf), "%s.", canon);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return NULL;
	return ldns_dname_new_frm_str(buf);
}

/*
 * Answers.
 */

void
mxk_dns_answer_free(struct mxk_dns_answer *a)
{
	size_t	i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nrr; i++)
		free(a->rr[i].data);
	free(a->rr);
	free(a->chain);
	free(a);
}

static void
answer_clear_rr(struct mxk_dns_answer *a)
{
	size_t	i;

	for (i = 0; i < a->nrr; i++)
		free(a->rr[i].data);
	free(a->rr);
	a->rr = NULL;
	a->nrr = 0;
}

static struct mxk_dns_answer *
answer_new(const char *qname, int qtype)
{
	struct mxk_dns_answer	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	(void)snprintf(a->qname, sizeof(a->qname), "%s", qname);
	(void)snprintf(a->canon, sizeof(a->canon), "%s", qname);
	a->qtype = qtype;
	a->status = MXK_DNS_TIMEOUT;
	a->dnssec = MXK_DNSSEC_INDETERMINATE;
	a->rcode = -1;
	a->chain_secure = 1;
	return a;
}

static void
answer_why(struct mxk_dns_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
answer_why(struct mxk_dns_answer *a, const char *fmt, ...)
{
	va_list	ap;
	char	*p;

	va_start(ap, fmt);
	(void)vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
	for (p = a->why; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

static int
chain_add(struct mxk_dns_answer *a, const char *name)
{
	struct mxk_dns_name	*n;

	n = reallocarray(a->chain, a->nchain + 1, sizeof(*n));
	if (n == NULL)
		return -1;
	a->chain = n;
	(void)snprintf(n[a->nchain].name, sizeof(n->name), "%s", name);
	a->nchain++;
	return 0;
}

static unsigned
rr_ttl(const ldns_rr *rr)
{
	uint32_t	t = ldns_rr_ttl(rr);

	/* RFC 2181 §8: a TTL with the top bit set is treated as zero. */
	return (t & 0x80000000U) != 0 ? 0 : t;
}

/* Copy the bytes of rdfs [from, count) into a fresh buffer (NUL-ended). */
static int
rdf_concat(const ldns_rr *rr, size_t from, int strings, unsigned char **out,
    size_t *outlen)
{
	size_t		 i, total = 0, sz, off;
	const ldns_rdf	*rdf;
	unsigned char	*p;

	for (i = from; i < ldns_rr_rd_count(rr); i++) {
		rdf = ldns_rr_rdf(rr, i);
		sz = ldns_rdf_size(rdf);
		if (strings) {
			/* A character-string: length octet, then data. */
			if (sz < 1 || ldns_rdf_data(rdf)[0] != sz - 1)
				return -1;
			sz--;
		}
		total += sz;
	}
	if ((p = malloc(total + 1)) == NULL)
		return -2;
	for (i = from, off = 0; i < ldns_rr_rd_count(rr); i++) {
		rdf = ldns_rr_rdf(rr, i);
		sz = ldns_rdf_size(rdf);
		if (strings) {
			memcpy(p + off, ldns_rdf_data(rdf) + 1, sz - 1);
			off += sz - 1;
		} else {
			memcpy(p + off, ldns_rdf_data(rdf), sz);
			off += sz;
		}
	}
	p[total] = '\0';
	*out = p;
	*outlen = total;
	return 0;
}

static int
rdf_int8(const ldns_rdf *rdf, unsigned char *v)
{
	if (rdf == NULL || ldns_rdf_size(rdf) != 1)
		return -1;
	*v = ldns_rdf_data(rdf)[0];
	return 0;
}

/* Add one record of the asked type; -1 malformed, -2 out of memory. */
static int
rr_add(struct mxk_dns_answer *a, const ldns_rr *rr)
{
	struct mxk_dns_rr	*r, *nr;
	const ldns_rdf		*rdf;
	size_t			 nrd = ldns_rr_rd_count(rr);
	int			 rc = 0;

	nr = reallocarray(a->rr, a->nrr + 1, sizeof(*nr));
	if (nr == NULL)
		return -2;
	a->rr = nr;
	r = &nr[a->nrr];
	memset(r, 0, sizeof(*r));
	r->type = ldns_rr_get_type(rr);
	r->ttl = rr_ttl(rr);
	switch (r->type) {
	case MXK_DNS_A:
		rdf = ldns_rr_rdf(rr, 0);
		if (nrd != 1 || ldns_rdf_size(rdf) != sizeof(r->a))
			return -1;
		memcpy(&r->a, ldns_rdf_data(rdf), sizeof(r->a));
		break;
	case MXK_DNS_AAAA:
		rdf = ldns_rr_rdf(rr, 0);
		if (nrd != 1 || ldns_rdf_size(rdf) != sizeof(r->aaaa))
			return -1;
		memcpy(&r->aaaa, ldns_rdf_data(rdf), sizeof(r->aaaa));
		break;
	case MXK_DNS_MX:
		rdf = ldns_rr_rdf(rr, 0);
		if (nrd != 2 || ldns_rdf_size(rdf) != 2)
			return -1;
		r->pref = ldns_rdf2native_int16(rdf);
		if (dname_text(ldns_rr_rdf(rr, 1), r->name, sizeof(r->name),
		    &r->unsafe) == -1)
			return -1;
		break;
	case MXK_DNS_CNAME:
	case MXK_DNS_NS:
	case MXK_DNS_PTR:
		if (nrd != 1 || dname_text(ldns_rr_rdf(rr, 0), r->name,
		    sizeof(r->name), &r->unsafe) == -1)
			return -1;
		break;
	case MXK_DNS_TXT:
		rc = rdf_concat(rr, 0, 1, &r->data, &r->len);
		break;
	case MXK_DNS_TLSA:
		if (nrd < 3 || nrd > 4 ||
		    rdf_int8(ldns_rr_rdf(rr, 0), &r->usage) == -1 ||
		    rdf_int8(ldns_rr_rdf(rr, 1), &r->selector) == -1 ||
		    rdf_int8(ldns_rr_rdf(rr, 2), &r->mtype) == -1)
			return -1;
		rc = rdf_concat(rr, 3, 0, &r->data, &r->len);
		break;
	default:
		rc = rdf_concat(rr, 0, 0, &r->data, &r->len);
		break;
	}
	if (rc != 0)
		return rc;
	a->nrr++;
	return 0;
}

/* RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM). */
static int
negative_ttl(const ldns_pkt *pkt, unsigned *ttl)
{
	const ldns_rr_list	*auth = ldns_pkt_authority(pkt);
	const ldns_rr		*rr;
	const ldns_rdf		*min;
	size_t			 i;
	unsigned		 t;

	for (i = 0; i < ldns_rr_list_rr_count(auth); i++) {
		rr = ldns_rr_list_rr(auth, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA ||
		    ldns_rr_rd_count(rr) != 7)
			continue;
		min = ldns_rr_rdf(rr, 6);
		if (ldns_rdf_size(min) != 4)
			continue;
		t = rr_ttl(rr);
		if (ldns_rdf2native_int32(min) < t)
			t = ldns_rdf2native_int32(min);
		*ttl = t & 0x80000000U ? 0 : t;
		return 1;
	}
	return 0;
}

static enum mxk_dnssec
dnssec_of(const struct mxk_dns_answer *a)
{
	switch (a->status) {
	case MXK_DNS_OK:
	case MXK_DNS_NODATA:
	case MXK_DNS_NXDOMAIN:
		if (!a->ad)
			return MXK_DNSSEC_INSECURE;
		return a->ad_trusted ? MXK_DNSSEC_SECURE :
		    MXK_DNSSEC_INDETERMINATE;
	case MXK_DNS_SERVFAIL:
		/*
		 * A validating resolver answers SERVFAIL for bogus data
		 * (RFC 4035 §5.5); it also does so for broken delegations,
		 * and we cannot tell the two apart.  Either way the answer
		 * is unusable and the failure temporary.
		 */
		return MXK_DNSSEC_BOGUS;
	default:
		return MXK_DNSSEC_INDETERMINATE;
	}
}

/*
 * Follow the CNAME chain from the question name through the answer section
 * (RFC 1034 §3.6.2, §4.3.2) and keep the records of qtype owned by the
 * final name.  Records with other owners are ignored: a resolver has no
 * business adding them, and believing them would let one answer plant
 * data for unrelated names.  hops_left bounds the chain.
 */
static int
chase(const ldns_pkt *pkt, const ldns_rdf *qrdf, int qtype, int hops_left,
    struct mxk_dns_answer *a, struct mxk_err *e)
{
	const ldns_rr_list	*ans = ldns_pkt_answer(pkt);
	const ldns_rr		*rr, *cname;
	const ldns_rdf		*cur = qrdf;
	char			 text[MXK_DNS_NAMEMAX];
	size_t			 i, nchain = 0;
	int			 found, unsafe, rc;
	unsigned		 minttl = UINT_MAX;

	for (;;) {
		found = 0;
		cname = NULL;
		for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
			rr = ldns_rr_list_rr(ans, i);
			if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
			    ldns_dname_compare(ldns_rr_owner(rr), cur) != 0)
				continue;
			if ((int)ldns_rr_get_type(rr) == qtype) {
				if ((rc = rr_add(a, rr)) == -2)
					return mxk_err_set(e, MXK_ERR_TEMP,
					    MXK_SRC_DNS, DNS_STATUS,
					    "out of memory");
				if (rc == -1)
					return mxk_err_set(e, MXK_ERR_PROTO,
					    MXK_SRC_DNS, DNS_STATUS,
					    "malformed %s record",
					    mxk_dns_type_name(qtype));
				found = 1;
				if (a->rr[a->nrr - 1].ttl < minttl)
					minttl = a->rr[a->nrr - 1].ttl;
			} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
			    cname == NULL)
				cname = rr;
		}
		if (found || cname == NULL)
			break;
		if (dname_text(cur, text, sizeof(text), &unsafe) == -1)
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_DNS,
			    DNS_STATUS, "malformed name");
		if ((int)nchain >= hops_left) {
			answer_clear_rr(a);
			a->status = MXK_DNS_ERROR;
			answer_why(a, "CNAME chain longer than allowed at %s",
			    text);
			return 0;
		}
		if (chain_add(a, text) == -1)
			return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS,
			    DNS_STATUS, "out of memory");
		nchain++;
		if (rr_ttl(cname) < minttl)
			minttl = rr_ttl(cname);
		cur = ldns_rr_rdf(cname, 0);
		if (ldns_rr_rd_count(cname) != 1 ||
		    dname_text(cur, text, sizeof(text), &unsafe) == -1)
			return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_DNS,
			    DNS_STATUS, "malformed CNAME record");
		if (unsafe) {
			a->status = MXK_DNS_ERROR;
			answer_why(a, "unsafe name in CNAME target \"%s\"",
			    text);
			return 0;
		}
		for (i = 0; i < a->nchain; i++)
			if (strcmp(a->chain[i].name, text) == 0) {
				a->status = MXK_DNS_ERROR;
				answer_why(a, "CNAME loop at %s", text);
				return 0;
			}
		(void)snprintf(a->canon, sizeof(a->canon), "%s", text);
	}
	a->ttl = minttl == UINT_MAX ? 0 : minttl;
	return 0;
}

/*
 * Parse a response to (qrdf, qtype) into a, whose qname/qtype are set.
 * hops_left bounds the CNAME chain in this response.
 */
static int
parse_response(const unsigned char *wire, size_t len, const ldns_rdf *qrdf,
    int qtype, int ad_trusted, int hops_left, size_t max_answer,
    struct mxk_dns_answer *a, struct mxk_err *e)
{
	ldns_pkt		*pkt = NULL;
	const ldns_rr_list	*ql;
	const ldns_rr		*q;
	unsigned		 nttl;
	int			 rc = -1, negttl;

	if (len < LDNS_HEADER_SIZE)
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_DNS, DNS_STATUS,
		    "DNS response too short (%zu bytes)", len);
	if (len > max_answer)
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_DNS, DNS_STATUS,
		    "DNS response too large (%zu bytes)", len);
	if (ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK || pkt == NULL)
		return mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_DNS, DNS_STATUS,
		    "malformed DNS response");
	if (!ldns_pkt_qr(pkt) ||
	    ldns_pkt_get_opcode(pkt) != LDNS_PACKET_QUERY) {
		(void)mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_DNS, DNS_STATUS,
		    "DNS packet is not a response to a query");
		goto out;
	}
	/* RFC 5452 §9.1: the question must be the one we asked. */
	ql = ldns_pkt_question(pkt);
	if (ldns_rr_list_rr_count(ql) != 1 ||
	    (q = ldns_rr_list_rr(ql, 0)) == NULL ||
	    ldns_dname_compare(ldns_rr_owner(q), qrdf) != 0 ||
	    (int)ldns_rr_get_type(q) != qtype ||
	    ldns_rr_get_class(q) != LDNS_RR_CLASS_IN) {
		(void)mxk_err_set(e, MXK_ERR_PROTO, MXK_SRC_DNS, DNS_STATUS,
		    "DNS response to another question");
		goto out;
	}
	a->rcode = (int)ldns_pkt_get_rcode(pkt) |
	    ((int)ldns_pkt_edns_extended_rcode(pkt) << 4);
	a->ad = ldns_pkt_ad(pkt) ? 1 : 0;
	a->ad_trusted = ad_trusted ? 1 : 0;
	a->cd = ldns_pkt_cd(pkt) ? 1 : 0;
	a->tc = ldns_pkt_tc(pkt) ? 1 : 0;
	if (a->tc) {
		a->status = MXK_DNS_ERROR;
		answer_why(a, "truncated response (TC=1)");
	} else if (a->rcode == LDNS_RCODE_NOERROR ||
	    a->rcode == LDNS_RCODE_NXDOMAIN) {
		a->status = a->rcode == LDNS_RCODE_NXDOMAIN ?
		    MXK_DNS_NXDOMAIN : MXK_DNS_NODATA;
		if (chase(pkt, qrdf, qtype, hops_left, a, e) == -1)
			goto out;
		if (a->status == MXK_DNS_NXDOMAIN)
			answer_clear_rr(a);
		else if (a->status == MXK_DNS_NODATA && a->nrr > 0)
			a->status = MXK_DNS_OK;
		if (a->status == MXK_DNS_NXDOMAIN ||
		    a->status == MXK_DNS_NODATA) {
			negttl = negative_ttl(pkt, &nttl);
			if (negttl && (a->nchain == 0 || nttl < a->ttl))
				a->ttl = nttl;
			/*
			 * A chain that stops at a name with neither the type
			 * nor an SOA in the authority section is not a
			 * negative answer for that name (RFC 2308 §2.2
			 * answers carry the SOA): ask again for the target.
			 */
			if (a->status == MXK_DNS_NODATA && a->nchain > 0 &&
			    !negttl)
				a->incomplete = 1;
		}
	} else if (a->rcode == LDNS_RCODE_SERVFAIL)
		a->status = MXK_DNS_SERVFAIL;
	else if (a->rcode == LDNS_RCODE_REFUSED)
		a->status = MXK_DNS_REFUSED;
	else {
		a->status = MXK_DNS_ERROR;
		answer_why(a, "rcode %d", a->rcode);
	}
	a->dnssec = dnssec_of(a);
	a->chain_secure = a->nchain == 0 || a->dnssec == MXK_DNSSEC_SECURE;
	rc = 0;
out:
	ldns_pkt_free(pkt);
	return rc;
}

int
mxk_dns_parse_answer(const unsigned char *wire, size_t len,
    const char *qname, int qtype, int ad_trusted,
    const struct mxk_dns_params *p, struct mxk_dns_answer **out,
    struct mxk_err *e)
{
	struct mxk_dns_answer	*a;
	char			 canon[MXK_DNS_NAMEMAX];
	ldns_rdf		*qrdf;
	size_t			 max_answer = DNS_DEF_MAX_ANSWER;
	int			 cname_max = DNS_DEF_CNAME_MAX;

	*out = NULL;
	if (p != NULL && p->max_answer > 0)
		max_answer = p->max_answer;
	if (p != NULL && p->cname_max > 0)
		cname_max = p->cname_max;
	if (wire == NULL || qtype <= 0 || qtype > 65535 ||
	    qname_canon(qname, canon, sizeof(canon)) == -1)
		return mxk_err_set(e, MXK_ERR_USAGE, MXK_SRC_DNS, NULL,
		    "bad query name or type");
	if ((qrdf = qname_rdf(canon)) == NULL)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "out of memory");
	if ((a = answer_new(canon, qtype)) == NULL) {
		ldns_rdf_deep_free(qrdf);
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "out of memory");
	}
	if (parse_response(wire, len, qrdf, qtype, ad_trusted, cname_max,
	    max_answer, a, e) == -1) {
		ldns_rdf_deep_free(qrdf);
		mxk_dns_answer_free(a);
		return -1;
	}
	ldns_rdf_deep_free(qrdf);
	*out = a;
	return 0;
}

/*
 * The engine: every query has its own socket and walks through
 *   START -> UDP -> (TC=1) TCP_CONNECT -> TCP_WRITE -> TCP_READ -> DONE
 * back to START for the next try (next server) or for the CNAME target.
 */

enum dq_state {
	DQ_START = 0,
	DQ_UDP,
	DQ_TCP_CONNECT,
	DQ_TCP_WRITE,
	DQ_TCP_READ,
	DQ_DONE,
	DQ__COUNT
};

static const char *const dq_state_names[DQ__COUNT] = {
	[DQ_START] = "start",
	[DQ_UDP] = "udp",
	[DQ_TCP_CONNECT] = "tcp-connect",
	[DQ_TCP_WRITE] = "tcp-write",
	[DQ_TCP_READ] = "tcp-read",
	[DQ_DONE] = "done",
};

/*
 * One query in flight.  acc is what the caller gets; held is an error
 * answer (SERVFAIL, REFUSED) kept while the other servers are tried; cur is
 * the name asked now (the CNAME target after a re-query).  qwire holds the
 * two-octet TCP length, then the query of qlen octets.
 */
struct dq {
	struct mxk_dns_answer	*acc;
	struct mxk_dns_answer	*held;
	ldns_rdf		*cur;
	char			 curtext[MXK_DNS_NAMEMAX];
	int			 type;
	enum dq_state		 state;
	int			 fd;
	uint16_t		 id;
	unsigned char		*qwire;
	size_t			 qlen;
	size_t			 attempt;	/* tries for cur */
	size_t			 srv;
	long long		 try_deadline;
	size_t			 off;
	unsigned char		 lenbuf[2];
	unsigned char		*rbuf;
	size_t			 rlen;
	int			 timeouts;	/* tries that timed out */
	unsigned		 minttl;	/* over responses folded */
	char			 lastwhy[96];
	long long		 t0;
};

static void
dq_set_state(struct dq *d, enum dq_state s)
{
	if (d->state != s)
		mxk_log(MXK_LOG_TRACE, "dns: %s %s: %s -> %s", d->curtext,
		    mxk_dns_type_name(d->type), dq_state_names[d->state],
		    dq_state_names[s]);
	d->state = s;
}

static void
dq_close(struct dq *d)
{
	if (d->fd != -1)
		(void)close(d->fd);
	d->fd = -1;
	free(d->rbuf);
	d->rbuf = NULL;
	d->rlen = 0;
	d->off = 0;
}

static int
rand_id(struct mxk_dns *h, uint16_t *id, struct mxk_err *e)
{
	ssize_t	n;
	int	fd;

	if (h->nid == 0) {
		n = getrandom(h->idpool, sizeof(h->idpool), 0);
		if (n == -1 && errno == ENOSYS) {
			if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) ==
			    -1)
				return mxk_err_sys(e, MXK_ERR_TEMP,
				    "/dev/urandom");
			n = read(fd, h->idpool, sizeof(h->idpool));
			(void)close(fd);
		}
		if (n != (ssize_t)sizeof(h->idpool))
			return mxk_err_sys(e, MXK_ERR_TEMP, "getrandom");
		h->nid = sizeof(h->idpool) / sizeof(h->idpool[0]);
	}
	*id = h->idpool[--h->nid];
	h->idpool[h->nid] = 0;
	return 0;
}

/* Build the query for d->cur into d->qwire (ID patched in per try). */
static int
dq_build(struct dq *d, struct mxk_err *e)
{
	ldns_pkt	*pkt;
	ldns_rdf	*name;
	uint8_t		*w = NULL;
	size_t		 wlen = 0;
	ldns_status	 st;

	free(d->qwire);
	d->qwire = NULL;
	if ((name = ldns_rdf_clone(d->cur)) == NULL)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "out of memory");
	pkt = ldns_pkt_query_new(name, (ldns_rr_type)d->type,
	    LDNS_RR_CLASS_IN, LDNS_RD);
	if (pkt == NULL)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "out of memory");
	ldns_pkt_set_id(pkt, 0);
	ldns_pkt_set_cd(pkt, 0);
	/* RFC 6840 §5.7: AD=1 in a query asks for the AD bit back. */
	ldns_pkt_set_ad(pkt, 1);
	ldns_pkt_set_edns_udp_size(pkt, DNS_EDNS_SIZE);
	ldns_pkt_set_edns_do(pkt, 1);
	st = ldns_pkt2wire(&w, pkt, &wlen);
	ldns_pkt_free(pkt);
	if (st != LDNS_STATUS_OK || w == NULL || wlen < LDNS_HEADER_SIZE ||
	    wlen > 65535) {
		free(w);
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "cannot build DNS query: %s", ldns_get_errorstr_by_id(st));
	}
	if ((d->qwire = malloc(wlen + 2)) == NULL) {
		free(w);
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "out of memory");
	}
	d->qwire[0] = (unsigned char)(wlen >> 8);
	d->qwire[1] = (unsigned char)wlen;
	memcpy(d->qwire + 2, w, wlen);
	d->qlen = wlen;
	free(w);
	return 0;
}

/* Worse DNSSEC outcome first: bogus, indeterminate, insecure, secure. */
static int
dnssec_rank(enum mxk_dnssec s)
{
	switch (s) {
	case MXK_DNSSEC_SECURE:
		return 0;
	case MXK_DNSSEC_INSECURE:
		return 1;
	case MXK_DNSSEC_INDETERMINATE:
		return 2;
	default:
		return 3;
	}
}

/*
 * Fold one response into the caller's answer: its CNAME hops, canonical
 * name, TTL and DNSSEC status.  The whole answer is only as secure as its
 * weakest response: records that are SECURE at the end of a chain reached
 * through an insecure CNAME are not authenticated (RFC 7672 §2.2.2 needs
 * this for the TLSA base domain).  a->dnssec starts SECURE as "nothing seen
 * yet" and only degrades.
 */
static int
dq_fold(struct dq *d, struct mxk_dns_answer *r)
{
	struct mxk_dns_answer	*a = d->acc;
	size_t			 i;

	for (i = 0; i < r->nchain; i++)
		if (chain_add(a, r->chain[i].name) == -1)
			return -1;
	if (r->nchain > 0)
		(void)snprintf(a->canon, sizeof(a->canon), "%s", r->canon);
	a->chain_secure = a->chain_secure && r->chain_secure;
	if (dnssec_rank(r->dnssec) > dnssec_rank(a->dnssec))
		a->dnssec = r->dnssec;
	if (r->ttl < d->minttl)
		d->minttl = r->ttl;
	a->tc |= r->tc;
	return 0;
}

/* Done with this query: final is the last response, NULL when none. */
static int
dq_finish(struct dq *d, struct mxk_dns_answer *final, struct mxk_err *e)
{
	struct mxk_dns_answer	*a = d->acc;
	int			 rc = 0;

	dq_close(d);
	if (final != NULL) {
		rc = dq_fold(d, final);
		answer_clear_rr(a);
		a->rr = final->rr;
		a->nrr = final->nrr;
		final->rr = NULL;
		final->nrr = 0;
		a->status = final->status;
		a->rcode = final->rcode;
		a->ad = final->ad;
		a->ad_trusted = final->ad_trusted;
		a->cd = final->cd;
		a->tcp = final->tcp;
		a->incomplete = 0;
		a->ttl = d->minttl == UINT_MAX ? 0 : d->minttl;
		(void)snprintf(a->server, sizeof(a->server), "%s",
		    final->server);
		(void)snprintf(a->why, sizeof(a->why), "%s", final->why);
	} else {
		a->status = d->timeouts > 0 || d->lastwhy[0] == '\0' ?
		    MXK_DNS_TIMEOUT : MXK_DNS_ERROR;
		a->dnssec = MXK_DNSSEC_INDETERMINATE;
		a->ttl = 0;
		answer_why(a, "%s", d->lastwhy[0] != '\0' ? d->lastwhy :
		    "no answer");
	}
	a->elapsed_ms = mxk_now_ms() - d->t0;
	if (final != d->held)
		mxk_dns_answer_free(final);
	mxk_dns_answer_free(d->held);
	d->held = NULL;
	dq_set_state(d, DQ_DONE);
	mxk_log(MXK_LOG_DEBUG, "dns: answer %s %s: %s rcode=%d ad=%d "
	    "dnssec=%s records=%zu cnames=%zu canon=%s ttl=%u tries=%d "
	    "%lld ms%s%s%s", a->qname, mxk_dns_type_name(a->qtype),
	    mxk_dns_status_name(a->status), a->rcode, a->ad,
	    mxk_dnssec_name(a->dnssec), a->nrr, a->nchain, a->canon, a->ttl,
	    a->tries, a->elapsed_ms, a->server[0] != '\0' ? " from " : "",
	    a->server, a->server[0] == '\0' ? "" : a->tcp ? " (tcp)" :
	    " (udp)");
	if (rc == -1)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS,
		    DNS_STATUS, "out of memory");
	return 0;
}

/* A response for the current name arrived and parsed; r is consumed. */
static int
dq_response(struct mxk_dns *h, struct dq *d, struct mxk_dns_answer *r,
    struct mxk_err *e)
{
	size_t	i;

	(void)snprintf(r->server, sizeof(r->server), "%s",
	    h->srv[d->srv].text);
	r->tcp = d->state != DQ_UDP;
	dq_close(d);
	if ((r->status == MXK_DNS_SERVFAIL || r->status == MXK_DNS_REFUSED ||
	    r->status == MXK_DNS_ERROR) && d->attempt < h->nsrv) {
		/*
		 * Ask each other server once before taking an error rcode
		 * (as glibc does); timeouts use every try.
		 */
		mxk_log(MXK_LOG_DEBUG, "dns: %s %s: %s from %s, trying the "
		    "next server", d->curtext, mxk_dns_type_name(d->type),
		    mxk_dns_status_name(r->status), r->server);
		mxk_dns_answer_free(d->held);
		d->held = r;
		dq_set_state(d, DQ_START);
		return 0;
	}
	if (!r->incomplete)
		return dq_finish(d, r, e);

	/* The chain ends without the type and without an SOA: ask again. */
	for (i = 0; i < d->acc->nchain; i++)
		if (strcmp(d->acc->chain[i].name, r->canon) == 0) {
			r->status = MXK_DNS_ERROR;
			r->dnssec = MXK_DNSSEC_INDETERMINATE;
			r->incomplete = 0;
			answer_why(r, "CNAME loop at %s", r->canon);
			return dq_finish(d, r, e);
		}
	if (dq_fold(d, r) == -1) {
		mxk_dns_answer_free(r);
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS,
		    DNS_STATUS, "out of memory");
	}
	mxk_log(MXK_LOG_DEBUG, "dns: %s %s: CNAME chain stops at %s, asking "
	    "for it", d->acc->qname, mxk_dns_type_name(d->type), r->canon);
	(void)snprintf(d->curtext, sizeof(d->curtext), "%s", r->canon);
	mxk_dns_answer_free(r);
	mxk_dns_answer_free(d->held);
	d->held = NULL;
	ldns_rdf_deep_free(d->cur);
	if ((d->cur = qname_rdf(d->curtext)) == NULL)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS,
		    DNS_STATUS, "out of memory");
	d->attempt = 0;
	d->timeouts = 0;
	d->lastwhy[0] = '\0';
	if (dq_build(d, e) == -1)
		return -1;
	dq_set_state(d, DQ_START);
	return 0;
}

static void
dq_try_failed(struct dq *d, const struct dns_server *s, int timeout,
    const char *what, int err)
{
	if (timeout)
		d->timeouts++;
	if (err != 0)
		(void)snprintf(d->lastwhy, sizeof(d->lastwhy), "%s: %s: %s",
		    s->text, what, strerror(err));
	else
		(void)snprintf(d->lastwhy, sizeof(d->lastwhy), "%s: %s",
		    s->text, what);
	mxk_log(MXK_LOG_DEBUG, "dns: %s %s: %s", d->curtext,
	    mxk_dns_type_name(d->type), d->lastwhy);
	dq_close(d);
	dq_set_state(d, DQ_START);
}

static int
sock_fatal(int err)
{
	return err != EAFNOSUPPORT && err != EPROTONOSUPPORT;
}

/* Send the next try over UDP, or finish when tries are used up. */
static int
dq_start(struct mxk_dns *h, struct dq *d, long long deadline,
    struct mxk_err *e)
{
	const struct dns_server	*s;
	size_t			 maxtries = (size_t)h->tries * h->nsrv;
	long long		 now;
	ssize_t			 n;

	while (d->state == DQ_START) {
		if (d->attempt >= maxtries)
			return dq_finish(d, d->held, e);
		d->srv = d->attempt % h->nsrv;
		s = &h->srv[d->srv];
		d->attempt++;
		d->acc->tries++;
		if (rand_id(h, &d->id, e) == -1)
			return -1;
		d->qwire[2] = (unsigned char)(d->id >> 8);
		d->qwire[3] = (unsigned char)d->id;
		d->fd = socket(s->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (d->fd == -1) {
			if (sock_fatal(errno))
				return mxk_err_sys(e, MXK_ERR_TEMP,
				    "dns: socket");
			dq_try_failed(d, s, 0, "socket", errno);
			continue;
		}
		/*
		 * A connected UDP socket: the kernel drops datagrams from
		 * any other address or port (the source check of RFC 5452
		 * §9.1), and an ICMP port unreachable shows as ECONNREFUSED
		 * so we can move on at once.
		 */
		if (connect(d->fd, (const struct sockaddr *)&s->ss,
		    s->sslen) == -1) {
			dq_try_failed(d, s, 0, "connect", errno);
			continue;
		}
		n = send(d->fd, d->qwire + 2, d->qlen, 0);
		if (n != (ssize_t)d->qlen) {
			dq_try_failed(d, s, 0, "send", n == -1 ? errno : EIO);
			continue;
		}
		now = mxk_now_ms();
		d->try_deadline = now + h->timeout_ms;
		if (d->try_deadline > deadline)
			d->try_deadline = deadline;
		mxk_log(MXK_LOG_DEBUG, "dns: query %s %s id=%u to %s udp "
		    "(try %zu)", d->curtext, mxk_dns_type_name(d->type),
		    (unsigned)d->id, s->text, d->attempt);
		dq_set_state(d, DQ_UDP);
	}
	return 0;
}

/* TC=1: ask the same server over TCP, under a fresh try timeout. */
static int
dq_start_tcp(struct mxk_dns *h, struct dq *d, long long deadline,
    struct mxk_err *e)
{
	const struct dns_server	*s = &h->srv[d->srv];

	d->acc->tc = 1;
	dq_close(d);
	d->fd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (d->fd == -1) {
		if (sock_fatal(errno))
			return mxk_err_sys(e, MXK_ERR_TEMP, "dns: socket");
		dq_try_failed(d, s, 0, "tcp socket", errno);
		return 0;
	}
	d->try_deadline = mxk_now_ms() + h->timeout_ms;
	if (d->try_deadline > deadline)
		d->try_deadline = deadline;
	mxk_log(MXK_LOG_DEBUG, "dns: query %s %s id=%u to %s tcp (TC=1)",
	    d->curtext, mxk_dns_type_name(d->type), (unsigned)d->id, s->text);
	if (connect(d->fd, (const struct sockaddr *)&s->ss, s->sslen) == -1 &&
	    errno != EINPROGRESS) {
		dq_try_failed(d, s, 0, "tcp connect", errno);
		return 0;
	}
	d->off = 0;
	dq_set_state(d, DQ_TCP_CONNECT);
	return 0;
}

/* Check the ID and parse; NULL (with d->lastwhy) when not acceptable. */
static struct mxk_dns_answer *
dq_parse(struct mxk_dns *h, struct dq *d, const unsigned char *w, size_t n,
    struct mxk_err *e, int *fatal)
{
	struct mxk_dns_answer	*r;
	struct mxk_err		 pe;
	const char		*s = h->srv[d->srv].text;

	*fatal = 0;
	if (n < LDNS_HEADER_SIZE || (unsigned)(w[0] << 8 | w[1]) != d->id) {
		mxk_log(MXK_LOG_DEBUG, "dns: %s %s: dropped a %zu-byte "
		    "packet from %s with a wrong ID", d->curtext,
		    mxk_dns_type_name(d->type), n, s);
		return NULL;
	}
	if ((r = answer_new(d->curtext, d->type)) == NULL) {
		*fatal = 1;
		(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "out of memory");
		return NULL;
	}
	mxk_err_clear(&pe);
	if (parse_response(w, n, d->cur, d->type, h->srv[d->srv].trusted,
	    h->cname_max - (int)d->acc->nchain, h->max_answer, r, &pe) == -1) {
		mxk_dns_answer_free(r);
		if (pe.class != MXK_ERR_PROTO) {
			*fatal = 1;
			*e = pe;
			return NULL;
		}
		(void)snprintf(d->lastwhy, sizeof(d->lastwhy), "%s: %.60s", s,
		    pe.msg);
		mxk_log(MXK_LOG_DEBUG, "dns: %s %s: dropped: %s", d->curtext,
		    mxk_dns_type_name(d->type), d->lastwhy);
		return NULL;
	}
	return r;
}

static int
dq_udp_read(struct mxk_dns *h, struct dq *d, unsigned char *buf,
    long long deadline, struct mxk_err *e)
{
	struct mxk_dns_answer	*r;
	ssize_t			 n;
	int			 i, fatal;

	for (i = 0; i < DNS_RECV_BURST && d->state == DQ_UDP; i++) {
		n = recv(d->fd, buf, h->max_answer, MSG_TRUNC);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			dq_try_failed(d, &h->srv[d->srv], 0, "recv", errno);
			return 0;
		}
		if ((size_t)n > h->max_answer) {
			(void)snprintf(d->lastwhy, sizeof(d->lastwhy),
			    "%s: response too large (%zd bytes)",
			    h->srv[d->srv].text, n);
			continue;
		}
		/* TC=1 with our ID: the rest is only over TCP (RFC 7766). */
		if (n >= LDNS_HEADER_SIZE &&
		    (unsigned)(buf[0] << 8 | buf[1]) == d->id &&
		    (buf[2] & 0x80) != 0 && (buf[2] & 0x02) != 0)
			return dq_start_tcp(h, d, deadline, e);
		r = dq_parse(h, d, buf, (size_t)n, e, &fatal);
		if (fatal)
			return -1;
		if (r != NULL)
			return dq_response(h, d, r, e);
	}
	return 0;
}

static int
dq_tcp_io(struct mxk_dns *h, struct dq *d, struct mxk_err *e)
{
	const struct dns_server	*s = &h->srv[d->srv];
	struct mxk_dns_answer	*r;
	socklen_t		 sl;
	ssize_t			 n;
	int			 err, fatal;

	if (d->state == DQ_TCP_CONNECT) {
		err = 0;
		sl = sizeof(err);
		if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err != 0) {
			dq_try_failed(d, s, 0, "tcp connect", err);
			return 0;
		}
		dq_set_state(d, DQ_TCP_WRITE);
	}
	if (d->state == DQ_TCP_WRITE) {
		while (d->off < d->qlen + 2) {
			n = send(d->fd, d->qwire + d->off, d->qlen + 2 - d->off,
			    MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				dq_try_failed(d, s, 0, "tcp send", errno);
				return 0;
			}
			d->off += (size_t)n;
		}
		d->off = 0;
		dq_set_state(d, DQ_TCP_READ);
		return 0;
	}
	if (d->state != DQ_TCP_READ)
		return 0;
	/* RFC 7766 §8: two-octet length, then the message. */
	while (d->off < 2) {
		n = recv(d->fd, d->lenbuf + d->off, 2 - d->off, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			dq_try_failed(d, s, 0, n == 0 ? "tcp connection closed"
			    : "tcp recv", n == 0 ? 0 : errno);
			return 0;
		}
		d->off += (size_t)n;
		if (d->off == 2) {
			d->rlen = (size_t)d->lenbuf[0] << 8 | d->lenbuf[1];
			if (d->rlen < LDNS_HEADER_SIZE ||
			    d->rlen > h->max_answer) {
				dq_try_failed(d, s, 0, "tcp response length "
				    "out of bounds", 0);
				return 0;
			}
			if ((d->rbuf = malloc(d->rlen)) == NULL)
				return mxk_err_set(e, MXK_ERR_TEMP,
				    MXK_SRC_DNS, DNS_STATUS, "out of memory");
		}
	}
	while (d->off < d->rlen + 2) {
		n = recv(d->fd, d->rbuf + d->off - 2, d->rlen + 2 - d->off, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			dq_try_failed(d, s, 0, n == 0 ? "tcp connection closed"
			    : "tcp recv", n == 0 ? 0 : errno);
			return 0;
		}
		d->off += (size_t)n;
	}
	r = dq_parse(h, d, d->rbuf, d->rlen, e, &fatal);
	if (fatal)
		return -1;
	if (r == NULL) {
		/* A stream cannot resynchronise: this try failed. */
		dq_try_failed(d, s, 0, d->lastwhy[0] != '\0' ?
		    "bad tcp response" : "tcp response with a wrong ID", 0);
		return 0;
	}
	return dq_response(h, d, r, e);
}

static void
dq_free(struct dq *d)
{
	dq_close(d);
	mxk_dns_answer_free(d->acc);
	mxk_dns_answer_free(d->held);
	ldns_rdf_deep_free(d->cur);
	free(d->qwire);
	d->acc = d->held = NULL;
	d->cur = NULL;
	d->qwire = NULL;
}

/* A batch of queries in flight (mxk_dns_batch_start()). */
struct mxk_dns_batch {
	struct mxk_dns		*h;
	struct mxk_dns_query	*q;
	size_t			 n;
	struct dq		*dqs;
	struct pollfd		*pfd;
	size_t			*pidx;
	size_t			 np;		/* sockets waited on now */
	unsigned char		*buf;
	long long		 deadline, wake;
	int			 done;
};

void
mxk_dns_batch_free(struct mxk_dns_batch *b)
{
	size_t	i;

	if (b == NULL)
		return;
	if (b->dqs != NULL)
		for (i = 0; i < b->n; i++)
			dq_free(&b->dqs[i]);
	free(b->dqs);
	free(b->pfd);
	free(b->pidx);
	free(b->buf);
	free(b);
}

/*
 * Whatever stopped the batch, the caller sees a temporary DNS failure and
 * no answers.
 */
static int
batch_fail(struct mxk_dns_batch *b, struct mxk_err *e)
{
	size_t	i;

	if (e != NULL) {
		e->class = MXK_ERR_TEMP;
		e->source = MXK_SRC_DNS;
		(void)snprintf(e->status, sizeof(e->status), "%s", DNS_STATUS);
	}
	for (i = 0; i < b->n; i++)
		b->q[i].ans = NULL;
	b->np = 0;
	b->done = -1;
	return -1;
}

/*
 * Deadlines, next tries, and the list of sockets to wait on with the
 * nearest time to come back (b->wake).  When nothing is left in flight the
 * answers go to the caller.
 */
static int
batch_advance(struct mxk_dns_batch *b, struct mxk_err *e)
{
	struct mxk_dns	*h = b->h;
	struct dq	*d;
	long long	 now = mxk_now_ms();
	size_t		 i;

	b->wake = b->deadline;
	b->np = 0;
	for (i = 0; i < b->n; i++) {
		d = &b->dqs[i];
		if (d->state == DQ_DONE)
			continue;
		if (now >= b->deadline) {
			d->timeouts++;
			if (d->state != DQ_START)
				(void)snprintf(d->lastwhy, sizeof(d->lastwhy),
				    "%s: timed out", h->srv[d->srv].text);
			if (dq_finish(d, d->held, e) == -1)
				return batch_fail(b, e);
			continue;
		}
		if (d->state != DQ_START && now >= d->try_deadline)
			dq_try_failed(d, &h->srv[d->srv], 1, "timed out", 0);
		if (d->state == DQ_START && dq_start(h, d, b->deadline, e) == -1)
			return batch_fail(b, e);
		if (d->state == DQ_DONE)
			continue;
		b->pfd[b->np].fd = d->fd;
		b->pfd[b->np].events = d->state == DQ_TCP_CONNECT ||
		    d->state == DQ_TCP_WRITE ? POLLOUT : POLLIN;
		b->pfd[b->np].revents = 0;
		b->pidx[b->np] = i;
		b->np++;
		if (d->try_deadline < b->wake)
			b->wake = d->try_deadline;
	}
	if (b->np == 0) {
		for (i = 0; i < b->n; i++) {
			b->q[i].ans = b->dqs[i].acc;
			b->dqs[i].acc = NULL;
		}
		b->done = 1;
	}
	return 0;
}

/* What poll() found on b->pfd[]: read the responses, write TCP queries. */
static int
batch_events(struct mxk_dns_batch *b, struct mxk_err *e)
{
	struct dq	*d;
	size_t		 i;

	for (i = 0; i < b->np; i++) {
		if (b->pfd[i].revents == 0)
			continue;
		d = &b->dqs[b->pidx[i]];
		if (d->state == DQ_UDP) {
			if (dq_udp_read(b->h, d, b->buf, b->deadline, e) == -1)
				return batch_fail(b, e);
		} else if (dq_tcp_io(b->h, d, e) == -1)
			return batch_fail(b, e);
	}
	return 0;
}

int
mxk_dns_batch_start(struct mxk_dns *h, struct mxk_dns_query *q, size_t n,
    long long deadline, struct mxk_dns_batch **bp, struct mxk_err *e)
{
	struct mxk_dns_batch	*b;
	struct dq		*d;
	char			 canon[MXK_DNS_NAMEMAX];
	size_t			 i;
	long long		 now;

	*bp = NULL;
	for (i = 0; i < n; i++)
		q[i].ans = NULL;
	if (h == NULL || h->nsrv == 0)
		return mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
		    "no DNS resolver configured");
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return mxk_err_sys(e, MXK_ERR_TEMP, "dns");
	b->h = h;
	b->q = q;
	b->n = n;
	b->deadline = deadline;
	b->dqs = calloc(n > 0 ? n : 1, sizeof(*b->dqs));
	b->pfd = calloc(n > 0 ? n : 1, sizeof(*b->pfd));
	b->pidx = calloc(n > 0 ? n : 1, sizeof(*b->pidx));
	b->buf = malloc(h->max_answer);
	if (b->dqs == NULL || b->pfd == NULL || b->pidx == NULL ||
	    b->buf == NULL) {
		(void)mxk_err_sys(e, MXK_ERR_TEMP, "dns");
		goto fail;
	}
	for (i = 0; i < n; i++)
		b->dqs[i].fd = -1;	/* dq_free() may see any of them */
	now = mxk_now_ms();
	for (i = 0; i < n; i++) {
		d = &b->dqs[i];
		d->type = q[i].type;
		d->t0 = now;
		d->minttl = UINT_MAX;
		if (qname_canon(q[i].name, canon, sizeof(canon)) == -1 ||
		    q[i].type <= 0 || q[i].type > 65535) {
			d->acc = answer_new("", q[i].type);
			if (d->acc == NULL)
				goto nomem;
			/* The name is not ours to print raw. */
			d->acc->status = MXK_DNS_ERROR;
			answer_why(d->acc, "invalid query name or type");
			mxk_log(MXK_LOG_DEBUG, "dns: query %zu: invalid name "
			    "or type", i);
			d->state = DQ_DONE;
			continue;
		}
		if ((d->acc = answer_new(canon, q[i].type)) == NULL)
			goto nomem;
		/* No response yet: start from "secure" and degrade. */
		d->acc->dnssec = MXK_DNSSEC_SECURE;
		(void)snprintf(d->curtext, sizeof(d->curtext), "%s", canon);
		if ((d->cur = qname_rdf(canon)) == NULL)
			goto nomem;
		if (dq_build(d, e) == -1)
			goto fail;
		d->state = DQ_START;
	}
	if (batch_advance(b, e) == -1)
		goto fail;
	*bp = b;
	return 0;
nomem:
	(void)mxk_err_set(e, MXK_ERR_TEMP, MXK_SRC_DNS, DNS_STATUS,
	    "out of memory");
fail:
	(void)batch_fail(b, e);
	mxk_dns_batch_free(b);
	return -1;
}

size_t
mxk_dns_batch_fds(const struct mxk_dns_batch *b, struct pollfd *pfd,
    size_t max, long long *wake)
{
	size_t	i;

	*wake = b->done != 0 ? 0 : b->wake;
	for (i = 0; i < b->np && i < max; i++) {
		pfd[i] = b->pfd[i];
		pfd[i].revents = 0;
	}
	return b->done != 0 ? 0 : i;
}

int
mxk_dns_batch_step(struct mxk_dns_batch *b, struct mxk_err *e)
{
	int	rc;

	if (b->done != 0)
		return b->done;
	/* Which sockets are ready, without waiting. */
	do
		rc = poll(b->pfd, (nfds_t)b->np, 0);
	while (rc == -1 && errno == EINTR);
	if (rc == -1) {
		(void)mxk_err_sys(e, MXK_ERR_TEMP, "dns: poll");
		return batch_fail(b, e);
	}
	if (rc > 0 && batch_events(b, e) == -1)
		return -1;
	if (batch_advance(b, e) == -1)
		return -1;
	return b->done;
}

int
mxk_dns_resolve(struct mxk_dns *h, struct mxk_dns_query *q, size_t n,
    long long deadline, struct mxk_err *e)
{
	struct mxk_dns_batch	*b;
	int			 rc;

	if (mxk_dns_batch_start(h, q, n, deadline, &b, e) == -1)
		return -1;
	while (b->done == 0) {
		rc = poll(b->pfd, (nfds_t)b->np, mxk_ms_left(b->wake));
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			(void)mxk_err_sys(e, MXK_ERR_TEMP, "dns: poll");
			(void)batch_fail(b, e);
			break;
		}
		if (rc > 0 && batch_events(b, e) == -1)
			break;
		if (batch_advance(b, e) == -1)
			break;
	}
	rc = b->done == 1 ? 0 : -1;
	mxk_dns_batch_free(b);
	return rc;
}

int
mxk_dns_lookup(struct mxk_dns *h, const char *name, int type,
    struct mxk_dns_answer **ap, long long deadline, struct mxk_err *e)
{
	struct mxk_dns_query	q;

	q.name = name;
	q.type = type;
	q.ans = NULL;
	*ap = NULL;
	if (mxk_dns_resolve(h, &q, 1, deadline, e) == -1)
		return -1;
	*ap = q.ans;
	return 0;
}
