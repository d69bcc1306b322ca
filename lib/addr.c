/* ISC license. */

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <idn2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "err.h"

/* RFC 3463 §3.2: X.1.3 bad mailbox syntax, X.1.2 bad system (domain). */
#define ST_MAILBOX	"5.1.3"
#define ST_DOMAIN	"5.1.2"
/* RFC 6531 §3.7.4.1 / RFC 6533: non-ASCII address not permitted. */
#define ST_UTF8		"5.6.7"

/* UTS #46 non-transitional mapping (keeps ß, ς, ZWJ/ZWNJ), then IDNA2008. */
#define IDN_LOOKUP	(IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT)

static int	derr(struct mxk_err *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static int
derr(struct mxk_err *e, const char *status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)mxk_err_vset(e, MXK_ERR_DATA, MXK_SRC_LOCAL, status, fmt, ap);
	va_end(ap);
	return -1;
}

/* A character for a message: 'c' when printable ASCII, else 0xNN. */
static const char *
chdesc(char *buf, size_t n, unsigned char c)
{
	if (c > 0x20 && c < 0x7f && c != '\'')
		(void)snprintf(buf, n, "'%c'", c);
	else
		(void)snprintf(buf, n, "0x%02x", c);
	return buf;
}

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* RFC 5321 §4.1.2 atext (RFC 5322 §3.2.3); non-ASCII handled by callers. */
static int
is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * Refuse NUL, C0 controls, DEL and C1 controls anywhere, and any non-ASCII
 * that is not well-formed UTF-8 (RFC 3629 §3-4: shortest form only, no
 * surrogates, nothing above U+10FFFF).  Sets *nonascii.
 */
static int
scan_input(const char *s, size_t len, const char *what, const char *status,
    int *nonascii, struct mxk_err *e)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n, k;
	unsigned long		 cp, min;
	unsigned char		 c;

	*nonascii = 0;
	while (i < len) {
		c = p[i];
		if (c == '\0')
			return derr(e, status, "NUL octet at offset %zu in %s",
			    i, what);
		if (c < 0x20 || c == 0x7f)
			return derr(e, status,
			    "control character 0x%02x at offset %zu in %s",
			    c, i, what);
		if (c < 0x80) {
			i++;
			continue;
		}
		*nonascii = 1;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else
			return derr(e, status,
			    "invalid UTF-8 (lead octet 0x%02x) at offset %zu "
			    "in %s", c, i, what);
		if (len - i - 1 < n)
			return derr(e, status,
			    "truncated UTF-8 sequence at offset %zu in %s",
			    i, what);
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return derr(e, status,
				    "truncated UTF-8 sequence at offset %zu "
				    "in %s", i, what);
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min)
			return derr(e, status,
			    "overlong UTF-8 sequence at offset %zu in %s",
			    i, what);
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return derr(e, status,
			    "invalid UTF-8 code point U+%04lX at offset %zu "
			    "in %s", cp, i, what);
		if (cp <= 0x9f)
			return derr(e, status,
			    "control character U+%04lX at offset %zu in %s",
			    cp, i, what);
		i += n + 1;
	}
	return 0;
}

static int
idn_fail(struct mxk_err *e, int r, const char *what)
{
	switch (r) {
	case IDN2_MALLOC:
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "libidn2: out of memory");
	case IDN2_DISALLOWED:
		return derr(e, ST_DOMAIN, "invalid IDN %s: disallowed code "
		    "point (IDNA2008)", what);
	case IDN2_2HYPHEN:
		return derr(e, ST_DOMAIN, "invalid IDN %s: hyphens in "
		    "positions 3 and 4 of a label", what);
	case IDN2_HYPHEN_STARTEND:
		return derr(e, ST_DOMAIN, "invalid IDN %s: label starts or "
		    "ends with a hyphen", what);
	case IDN2_TOO_BIG_LABEL:
	case IDN2_PUNYCODE_BIG_OUTPUT:
		return derr(e, ST_DOMAIN, "label longer than %d octets in "
		    "domain (A-label form)", MXK_ADDR_LABELMAX);
	case IDN2_TOO_BIG_DOMAIN:
		return derr(e, ST_DOMAIN, "domain longer than %d octets "
		    "(A-label form)", MXK_ADDR_DOMAINMAX);
	default:
		return derr(e, ST_DOMAIN, "invalid IDN %s: %s", what,
		    idn2_strerror(r));
	}
}

static int
all_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/*
 * An input A-label is valid only if it decodes to a U-label that is valid
 * under IDNA2008 itself (no UTS #46 mapping) and encodes back to the same
 * A-label (RFC 5891 §5.4).  A label that decodes to pure ASCII is not an
 * A-label either.
 */
static int
check_alabel(const char *l, size_t n, struct mxk_err *e)
{
	char	 buf[MXK_ADDR_LABELMAX + 1], *u = NULL;
	uint8_t	*back = NULL;
	size_t	 i;
	int	 r;

	for (i = 0; i < n; i++)
		buf[i] = (char)lower((unsigned char)l[i]);
	buf[n] = '\0';
	r = idn2_to_unicode_8z8z(buf, &u, 0);
	if (r == IDN2_MALLOC)
		return idn_fail(e, r, "");
	if (r != IDN2_OK)
		return derr(e, ST_DOMAIN, "invalid A-label \"%s\": %s", buf,
		    idn2_strerror(r));
	if (u[0] == '\0' || all_ascii(u)) {
		idn2_free(u);
		return derr(e, ST_DOMAIN,
		    "invalid A-label \"%s\": decodes to ASCII", buf);
	}
	/*
	 * RFC 5891 §4.2.3.1 hyphen restrictions on the U-label.  libidn2
	 * checks them on U-label input (UTS #46 CheckHyphens) but not in
	 * the IDNA2008-only lookup below, so without this an A-label would
	 * be accepted whose U-label form the parser itself refuses (found
	 * by fuzz_addr: tests/fuzz/regress/addr/alabel-ulabel-hyphen).
	 */
	i = strlen(u);
	if (u[0] == '-' || u[i - 1] == '-' ||
	    (i >= 4 && u[2] == '-' && u[3] == '-')) {
		idn2_free(u);
		return derr(e, ST_DOMAIN, "invalid A-label \"%s\": its U-label "
		    "starts or ends with a hyphen, or has hyphens in positions "
		    "3 and 4", buf);
	}
	r = idn2_lookup_u8((const uint8_t *)u, &back, IDN2_NO_TR46);
	idn2_free(u);
	if (r == IDN2_MALLOC)
		return idn_fail(e, r, "");
	if (r != IDN2_OK)
		return derr(e, ST_DOMAIN, "invalid A-label \"%s\": %s", buf,
		    idn2_strerror(r));
	r = strcmp((const char *)back, buf);
	idn2_free(back);
	if (r != 0)
		return derr(e, ST_DOMAIN,
		    "invalid A-label \"%s\": does not round-trip", buf);
	return 0;
}

/*
 * The ASCII form of a domain, without the trailing dot: RFC 5321 §4.1.2
 * sub-domain = Let-dig [Ldh-str], RFC 1035 §2.3.4 lengths.  strict adds the
 * IDNA2008 rules for user input: a label with "--" in positions 3-4 must be
 * a valid A-label (RFC 5891 §4.2.3.1).
 */
static int
check_labels(const char *d, size_t len, int strict, struct mxk_err *e)
{
	const unsigned char	*p = (const unsigned char *)d;
	size_t			 i, start, n;
	int			 alldigits = 0;
	char			 cb[8];

	if (len == 0)
		return derr(e, ST_DOMAIN, "empty domain");
	if (len > MXK_ADDR_DOMAINMAX)
		return derr(e, ST_DOMAIN, "domain longer than %d octets (%zu)",
		    MXK_ADDR_DOMAINMAX, len);
	if (p[0] == '.')
		return derr(e, ST_DOMAIN, "domain starts with a dot");
	for (start = 0; start <= len; start = i + 1) {
		alldigits = 1;
		for (i = start; i < len && p[i] != '.'; i++) {
			if (!is_digit(p[i]))
				alldigits = 0;
			if (!is_alpha(p[i]) && !is_digit(p[i]) && p[i] != '-')
				return derr(e, ST_DOMAIN,
				    "invalid character %s in domain label",
				    chdesc(cb, sizeof(cb), p[i]));
		}
		n = i - start;
		if (n == 0)
			return derr(e, ST_DOMAIN,
			    "empty label (consecutive dots) in domain");
		if (n > MXK_ADDR_LABELMAX)
			return derr(e, ST_DOMAIN,
			    "label longer than %d octets in domain (%zu)",
			    MXK_ADDR_LABELMAX, n);
		if (p[start] == '-')
			return derr(e, ST_DOMAIN,
			    "domain label starts with a hyphen");
		if (p[i - 1] == '-')
			return derr(e, ST_DOMAIN,
			    "domain label ends with a hyphen");
		if (strict && n >= 4 && p[start + 2] == '-' &&
		    p[start + 3] == '-') {
			if (lower(p[start]) != 'x' || lower(p[start + 1]) != 'n')
				return derr(e, ST_DOMAIN,
				    "hyphens in positions 3 and 4 of label "
				    "\"%.*s\" (reserved, RFC 5891)", (int)n,
				    d + start);
			if (check_alabel(d + start, n, e) == -1)
				return -1;
		}
	}
	/* RFC 3696 §2: a dotted quad is not a host name. */
	if (alldigits)
		return derr(e, ST_DOMAIN, "top-level label is all digits "
		    "(an IP address needs brackets)");
	return 0;
}

int
mxk_addr_check_host(const char *s, size_t len, struct mxk_err *e)
{
	int	nonascii;

	if (s == NULL || len == 0)
		return derr(e, ST_DOMAIN, "empty host name");
	if (scan_input(s, len, "host name", ST_DOMAIN, &nonascii, e) == -1)
		return -1;
	if (nonascii)
		return derr(e, ST_DOMAIN, "non-ASCII host name");
	if (s[len - 1] == '.' && --len == 0)
		return derr(e, ST_DOMAIN, "host name is only a dot");
	return check_labels(s, len, 0, e);
}

int
mxk_addr_parse_domain(char *alabel, size_t alen, char *ulabel, size_t ulen,
    const char *s, size_t len, int *utf8, struct mxk_err *e)
{
	char	 in[MXK_ADDR_INPUTMAX + 1], a[MXK_ADDR_DOMAINMAX + 1];
	uint8_t	*out = NULL;
	char	*u = NULL;
	size_t	 i, n;
	int	 nonascii, r;

	if (utf8 != NULL)
		*utf8 = 0;
	if (s == NULL || len == 0)
		return derr(e, ST_DOMAIN, "empty domain");
	if (len > MXK_ADDR_INPUTMAX)
		return derr(e, ST_DOMAIN, "domain input longer than %d octets",
		    MXK_ADDR_INPUTMAX);
	if (scan_input(s, len, "domain", ST_DOMAIN, &nonascii, e) == -1)
		return -1;
	if (s[len - 1] == '.' && --len == 0)
		return derr(e, ST_DOMAIN, "domain is only a dot");

	if (!nonascii) {
		if (len > MXK_ADDR_DOMAINMAX)
			return derr(e, ST_DOMAIN,
			    "domain longer than %d octets (%zu)",
			    MXK_ADDR_DOMAINMAX, len);
		for (i = 0; i < len; i++)
			a[i] = (char)lower((unsigned char)s[i]);
		a[len] = '\0';
		n = len;
	} else {
		/* Empty labels give clearer messages here than in libidn2. */
		if (s[0] == '.')
			return derr(e, ST_DOMAIN, "domain starts with a dot");
		for (i = 1; i < len; i++)
			if (s[i] == '.' && s[i - 1] == '.')
				return derr(e, ST_DOMAIN,
				    "empty label (consecutive dots) in domain");
		memcpy(in, s, len);
		in[len] = '\0';
		r = idn2_lookup_u8((const uint8_t *)in, &out, IDN_LOOKUP);
		if (r != IDN2_OK)
			return idn_fail(e, r, "domain");
		n = strlen((const char *)out);
		if (n > MXK_ADDR_DOMAINMAX) {
			idn2_free(out);
			return derr(e, ST_DOMAIN, "domain longer than %d octets "
			    "(A-label form, %zu)", MXK_ADDR_DOMAINMAX, n);
		}
		for (i = 0; i < n; i++)
			a[i] = (char)lower(out[i]);
		a[n] = '\0';
		idn2_free(out);
		/* The mapping may have produced a trailing dot (U+3002). */
		if (n > 0 && a[n - 1] == '.')
			a[--n] = '\0';
	}
	/* Checked again on the A-label form whatever the input was. */
	if (check_labels(a, n, 1, e) == -1)
		return -1;

	if (n + 1 > alen)
		return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL, NULL,
		    "A-label buffer too small");
	if (ulabel != NULL) {
		r = idn2_to_unicode_8z8z(a, &u, 0);
		if (r != IDN2_OK)
			return idn_fail(e, r, "domain");
		i = strlen(u);
		if (i + 1 > ulen) {
			idn2_free(u);
			return mxk_err_set(e, MXK_ERR_INTERNAL, MXK_SRC_LOCAL,
			    NULL, "U-label buffer too small");
		}
		memcpy(ulabel, u, i + 1);
		idn2_free(u);
	}
	memcpy(alabel, a, n + 1);
	if (utf8 != NULL)
		*utf8 = nonascii;
	return 0;
}

/*
 * RFC 5321 §4.1.3: "[" IPv4 "]", "[IPv6:" IPv6 "]", or a general literal
 * with a Standardized-tag, of which none but IPv6 is registered, so any
 * other tag is refused.  s starts with '['; the literal is kept as given.
 */
static int
parse_literal(struct mxk_addr *a, const char *s, size_t len,
    struct mxk_err *e)
{
	char		 buf[64];
	const char	*in, *colon;
	size_t		 n;

	if (s[len - 1] != ']') {
		if (memchr(s, ']', len) != NULL)
			return derr(e, ST_DOMAIN,
			    "garbage after address literal");
		return derr(e, ST_DOMAIN,
		    "address literal lacks closing ']'");
	}
	in = s + 1;
	n = len - 2;
	if (n == 0)
		return derr(e, ST_DOMAIN, "empty address literal");
	if (memchr(in, '[', n) != NULL || memchr(in, ']', n) != NULL)
		return derr(e, ST_DOMAIN, "bracket inside address literal");
	if (len > MXK_ADDR_DOMAINMAX || n >= sizeof(buf))
		return derr(e, ST_DOMAIN, "address literal too long");
	if (n > 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		memcpy(buf, in + 5, n - 5);
		buf[n - 5] = '\0';
		if (inet_pton(AF_INET6, buf, a->ip) != 1)
			return derr(e, ST_DOMAIN,
			    "invalid IPv6 address literal");
		a->family = AF_INET6;
	} else {
		memcpy(buf, in, n);
		buf[n] = '\0';
		colon = memchr(in, ':', n);
		if (colon != NULL) {
			if (inet_pton(AF_INET6, buf, a->ip) == 1)
				return derr(e, ST_DOMAIN, "IPv6 address "
				    "literal lacks the \"IPv6:\" tag");
			return derr(e, ST_DOMAIN,
			    "unknown address literal tag \"%.*s\"",
			    (int)(colon - in), in);
		}
		/* glibc inet_pton: exactly four decimal octets, no
		 * leading zeros -- RFC 5321 Snum. */
		if (inet_pton(AF_INET, buf, a->ip) != 1)
			return derr(e, ST_DOMAIN,
			    "invalid IPv4 address literal");
		a->family = AF_INET;
	}
	memcpy(a->domain, s, len);
	a->domain[len] = '\0';
	memcpy(a->domain_utf8, a->domain, len + 1);
	a->is_literal = 1;
	return 0;
}

/* Domain or literal after the '@' of a mailbox. */
static int
parse_mailbox_domain(struct mxk_addr *a, const char *s, size_t len,
    struct mxk_err *e)
{
	if (len == 0)
		return derr(e, ST_DOMAIN, "empty domain");
	if (s[0] == '[')
		return parse_literal(a, s, len, e);
	return mxk_addr_parse_domain(a->domain, sizeof(a->domain),
	    a->domain_utf8, sizeof(a->domain_utf8), s, len, &a->utf8_domain, e);
}

/*
 * RFC 5321 §4.1.2 A-d-l: "@" Domain *( "," "@" Domain ) ":".  Checked and
 * dropped: RFC 5321 §3.3 and Appendix C say the route is to be ignored.
 * Sets *used to the length consumed, colon included.
 */
static int
skip_route(const char *s, size_t len, size_t *used, struct mxk_err *e)
{
	char	dom[MXK_ADDR_DOMAINMAX + 1];
	size_t	i = 0, j;

	for (;;) {
		if (i >= len || s[i] != '@')
			return derr(e, ST_MAILBOX, "malformed source route");
		for (j = i + 1; j < len && s[j] != ',' && s[j] != ':'; j++)
			;
		if (j >= len)
			return derr(e, ST_MAILBOX, "source route lacks ':'");
		if (mxk_addr_parse_domain(dom, sizeof(dom), NULL, 0, s + i + 1,
		    j - i - 1, NULL, e) == -1) {
			mxk_err_prefix(e, "source route");
			return -1;
		}
		if (s[j] == ':') {
			*used = j + 1;
			return 0;
		}
		i = j + 1;
	}
}

int
mxk_addr_parse_mailbox(struct mxk_addr *a, const char *s, size_t len,
    int flags, struct mxk_err *e)
{
	const unsigned char	*p;
	size_t			 i, at, n, used;
	int			 nonascii, local8 = 0;
	char			 cb[8];

	memset(a, 0, sizeof(*a));
	if (s == NULL)
		len = 0;
	if (len > MXK_ADDR_INPUTMAX)
		return derr(e, ST_MAILBOX, "address input longer than %d "
		    "octets", MXK_ADDR_INPUTMAX);
	if (len > 0 && scan_input(s, len, "address", ST_MAILBOX, &nonascii,
	    e) == -1)
		return -1;

	/* RFC 5321 §4.1.1.2: the null reverse-path "<>". */
	if (len == 0 || (len == 2 && s[0] == '<' && s[1] == '>')) {
		if (flags & MXK_ADDR_ALLOW_NULL) {
			a->is_null = 1;
			return 0;
		}
		if (len == 0)
			return derr(e, ST_MAILBOX, "empty address");
		return derr(e, ST_MAILBOX,
		    "null reverse-path <> not allowed here");
	}
	if (s[0] == '<') {
		if (!(flags & MXK_ADDR_ALLOW_BRACKETS))
			return derr(e, ST_MAILBOX,
			    "angle brackets not allowed here");
		if (s[len - 1] != '>')
			return derr(e, ST_MAILBOX, "missing closing '>'");
		s++;
		len -= 2;
		if (s[0] == '@') {
			if (skip_route(s, len, &used, e) == -1)
				return -1;
			s += used;
			len -= used;
		}
		if (len == 0)
			return derr(e, ST_MAILBOX, "empty address in brackets");
	}
	p = (const unsigned char *)s;

	if (p[0] == '"') {
		/* RFC 5321 §4.1.2 Quoted-string, RFC 6531 §3.3 UTF-8. */
		for (i = 1;; i++) {
			if (i >= len)
				return derr(e, ST_MAILBOX,
				    "unterminated quoted string in local part");
			if (p[i] == '"')
				break;
			if (p[i] >= 0x80)
				local8 = 1;
			else if (p[i] == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (i + 1 >= len || p[i + 1] < 0x20 ||
				    p[i + 1] > 0x7e)
					return derr(e, ST_MAILBOX,
					    "invalid quoted-pair in local part");
				i++;
			}
			/* qtextSMTP is every other printable: controls were
			 * refused by scan_input(). */
		}
		if (i == 1)
			return derr(e, ST_MAILBOX,
			    "empty quoted string as local part");
		at = i + 1;
		if (at >= len)
			return derr(e, ST_MAILBOX, "missing '@'");
		if (p[at] != '@')
			return derr(e, ST_MAILBOX,
			    "unexpected %s after quoted local part",
			    chdesc(cb, sizeof(cb), p[at]));
	} else {
		/* RFC 5321 §4.1.2 Dot-string, RFC 6531 §3.3 UTF-8 atext. */
		for (at = 0; at < len && p[at] != '@'; at++) {
			if (p[at] >= 0x80)
				local8 = 1;
			else if (p[at] != '.' && !is_atext(p[at]))
				return derr(e, ST_MAILBOX,
				    "invalid character %s in local part",
				    chdesc(cb, sizeof(cb), p[at]));
		}
		if (at == len)
			return derr(e, ST_MAILBOX, "missing '@'");
		if (at == 0)
			return derr(e, ST_MAILBOX, "empty local part");
		if (p[0] == '.')
			return derr(e, ST_MAILBOX,
			    "local part starts with a dot");
		if (p[at - 1] == '.')
			return derr(e, ST_MAILBOX,
			    "local part ends with a dot");
		for (i = 1; i < at; i++)
			if (p[i] == '.' && p[i - 1] == '.')
				return derr(e, ST_MAILBOX,
				    "consecutive dots in local part");
	}
	if (at > MXK_ADDR_LOCALMAX)
		return derr(e, ST_MAILBOX,
		    "local part longer than %d octets (%zu)",
		    MXK_ADDR_LOCALMAX, at);
	if (memchr(s + at + 1, '@', len - at - 1) != NULL)
		return derr(e, ST_MAILBOX, "more than one '@' outside quotes");
	if (local8 && (flags & MXK_ADDR_ASCII_LOCAL))
		return derr(e, ST_UTF8,
		    "non-ASCII local part needs SMTPUTF8");
	if (parse_mailbox_domain(a, s + at + 1, len - at - 1, e) == -1)
		return -1;
	n = strlen(a->domain);
	if (at + 1 + n > MXK_ADDR_PATHMAX) {
		memset(a, 0, sizeof(*a));
		return derr(e, ST_MAILBOX,
		    "address longer than %d octets (%zu)", MXK_ADDR_PATHMAX,
		    at + 1 + n);
	}
	memcpy(a->local, s, at);
	a->local[at] = '\0';
	a->needs_smtputf8 = local8;
	return 0;
}

int
mxk_addr_parse_target(struct mxk_addr *a, const char *s, size_t len,
    struct mxk_err *e)
{
	char	buf[64];
	size_t	i;
	int	nonascii, dotquad = 1, r;

	memset(a, 0, sizeof(*a));
	if (s == NULL || len == 0)
		return derr(e, ST_DOMAIN, "empty target");
	if (len > MXK_ADDR_INPUTMAX)
		return derr(e, ST_DOMAIN, "target input longer than %d octets",
		    MXK_ADDR_INPUTMAX);
	if (scan_input(s, len, "target", ST_DOMAIN, &nonascii, e) == -1)
		return -1;
	if (memchr(s, '@', len) != NULL || s[0] == '"' || s[0] == '<')
		return mxk_addr_parse_mailbox(a, s, len,
		    MXK_ADDR_ALLOW_BRACKETS, e);
	if (s[0] == '[')
		return parse_literal(a, s, len, e);

	for (i = 0; i < len; i++)
		if (!is_digit((unsigned char)s[i]) && s[i] != '.')
			dotquad = 0;
	if (memchr(s, ':', len) != NULL || dotquad) {
		/* A bare IP address: stored as its RFC 5321 literal. */
		if (len >= sizeof(buf))
			return derr(e, ST_DOMAIN, "invalid IP address");
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (dotquad) {
			if (inet_pton(AF_INET, buf, a->ip) != 1)
				return derr(e, ST_DOMAIN,
				    "invalid IPv4 address");
			a->family = AF_INET;
			r = snprintf(a->domain, sizeof(a->domain), "[%s]", buf);
		} else {
			if (inet_pton(AF_INET6, buf, a->ip) != 1)
				return derr(e, ST_DOMAIN,
				    "invalid IPv6 address");
			a->family = AF_INET6;
			r = snprintf(a->domain, sizeof(a->domain), "[IPv6:%s]",
			    buf);
		}
		if (r < 0 || (size_t)r >= sizeof(a->domain))
			return derr(e, ST_DOMAIN, "invalid IP address");
		memcpy(a->domain_utf8, a->domain, (size_t)r + 1);
		a->is_literal = 1;
		return 0;
	}
	return mxk_addr_parse_domain(a->domain, sizeof(a->domain),
	    a->domain_utf8, sizeof(a->domain_utf8), s, len, &a->utf8_domain, e);
}

int
mxk_addr_format(const struct mxk_addr *a, int utf8, char *out, size_t outlen)
{
	const char	*d = utf8 ? a->domain_utf8 : a->domain;
	int		 r;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (a->is_null)
		return 0;
	if (a->local[0] == '\0')
		r = snprintf(out, outlen, "%s", d);
	else {
		/* RFC 6531 §3.2: no SMTPUTF8, no UTF-8 local part. */
		if (!utf8 && a->needs_smtputf8)
			return -1;
		r = snprintf(out, outlen, "%s@%s", a->local, d);
	}
	if (r < 0 || (size_t)r >= outlen) {
		out[0] = '\0';
		return -1;
	}
	return r;
}
