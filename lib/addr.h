/* ISC license. */

/*
 * addr: mailboxes, domains and address literals, with IDNA2008.
 *
 * Parsers take a string with an explicit length (an embedded NUL is an
 * error), fill a caller-allocated struct mxk_addr or caller-supplied
 * buffers, and return 0, or -1 with a struct mxk_err of class MXK_ERR_DATA,
 * source MXK_SRC_LOCAL and enhanced status 5.1.3 (mailbox syntax), 5.1.2
 * (domain or address literal) or 5.6.7 (non-ASCII local part refused by
 * MXK_ADDR_ASCII_LOCAL).  Every rejection has its own message.  Nothing is
 * kept between calls; libidn2 allocates internally and is freed before
 * return (IDN2_MALLOC gives MXK_ERR_INTERNAL).
 *
 * Domains: RFC 5321 §4.1.2 LDH labels, or U-labels converted with libidn2
 * (UTS #46 non-transitional mapping, NFC input, then IDNA2008 rules).
 * Input A-labels ("xn--") are validated by decoding and re-encoding them
 * (RFC 5891 §5.4).  The result is the lowercase A-label form without a
 * trailing dot (one trailing dot in the input is accepted and dropped), at
 * most 253 octets, labels at most 63 octets, checked on the A-label form.
 * A top-level label made of digits only is refused (RFC 3696 §2): it is an
 * IP address written without brackets.
 *
 * Local parts: dot-atom or quoted string (RFC 5321 §4.1.2), with UTF-8
 * allowed in both (RFC 6531 §3.3), which sets needs_smtputf8.  UTF-8 must be
 * well formed (RFC 3629: no overlongs, surrogates or stray bytes).  The local
 * part is kept as given, quotes and backslashes included, so it can be sent
 * back unchanged; case is preserved (RFC 5321 §2.4).  An empty quoted local
 * part ("") is refused.
 *
 * Limits (RFC 5321 §4.5.3.1): local part 64 octets, domain 253, path 254
 * (the 256 of §4.5.3.1.3 minus the angle brackets), all counted on the
 * A-label form.  Input longer than MXK_ADDR_INPUTMAX octets is refused
 * before any work is done.
 */
#ifndef MXK_ADDR_H
#define MXK_ADDR_H

#include <stddef.h>

#include "err.h"

#define MXK_ADDR_LOCALMAX	64	/* RFC 5321 §4.5.3.1.1 */
#define MXK_ADDR_DOMAINMAX	253	/* RFC 1035 §2.3.4 less the root dot */
#define MXK_ADDR_PATHMAX	254	/* RFC 5321 §4.5.3.1.3 less "<>" */
#define MXK_ADDR_LABELMAX	63	/* RFC 1035 §2.3.4 */
/* A U-label form is at most 4 octets of UTF-8 per A-label octet. */
#define MXK_ADDR_UDOMAINMAX	(4 * MXK_ADDR_DOMAINMAX)
/* Raw input bound: U-label input may shrink under UTS #46 mapping. */
#define MXK_ADDR_INPUTMAX	1024

/* Flags for mxk_addr_parse_mailbox(). */
#define MXK_ADDR_ALLOW_BRACKETS	0x01	/* accept "<a@b>", with source route */
#define MXK_ADDR_ALLOW_NULL	0x02	/* accept "<>" (and "") as null path */
#define MXK_ADDR_ASCII_LOCAL	0x04	/* refuse a non-ASCII local part */

struct mxk_addr {
	/* As given, quotes kept; "" for a target without a local part. */
	char		local[MXK_ADDR_LOCALMAX + 1];
	/* A-label form, lowercase, no trailing dot; or the address literal
	 * with its brackets ("[192.0.2.1]", "[IPv6:2001:db8::1]"). */
	char		domain[MXK_ADDR_DOMAINMAX + 1];
	/* U-label form for display (equal to domain for literals). */
	char		domain_utf8[MXK_ADDR_UDOMAINMAX + 1];
	int		is_literal;	/* domain is an address literal */
	int		family;		/* AF_INET or AF_INET6 for literals */
	unsigned char	ip[16];		/* the literal, network order */
	int		needs_smtputf8;	/* the local part has non-ASCII */
	int		utf8_domain;	/* the domain was given with non-ASCII */
	int		is_null;	/* the null path "<>" */
};

/*
 * A mailbox "local@domain", where domain may be an address literal.  With
 * MXK_ADDR_ALLOW_BRACKETS the form "<local@domain>" is accepted too, and a
 * source route in it ("<@relay:local@domain>") is checked and dropped (RFC
 * 5321 §4.1.2, Appendix C).  With MXK_ADDR_ALLOW_NULL, "<>" or "" gives the
 * null reverse-path: is_null set, everything else empty.
 */
int	 mxk_addr_parse_mailbox(struct mxk_addr *, const char *s, size_t len,
	    int flags, struct mxk_err *);

/*
 * A domain name (no literal).  alabel (size alen, at least
 * MXK_ADDR_DOMAINMAX + 1 to never truncate) gets the A-label form; ulabel
 * (may be NULL) the U-label form; *utf8 (may be NULL) is set to 1 when the
 * input had non-ASCII.  Too small a buffer gives MXK_ERR_INTERNAL.
 */
int	 mxk_addr_parse_domain(char *alabel, size_t alen, char *ulabel,
	    size_t ulen, const char *s, size_t len, int *utf8, struct mxk_err *);

/*
 * A "target" as mxconnect takes it: a mailbox (anything with '@' or
 * starting with '"' or '<'), a domain, an address literal in brackets, or a
 * bare IPv4 / IPv6 address.  A bare IP is stored as a literal: domain is
 * "[192.0.2.1]" or "[IPv6:2001:db8::1]".  local is "" unless a mailbox was
 * given.
 */
int	 mxk_addr_parse_target(struct mxk_addr *, const char *s, size_t len,
	    struct mxk_err *);

/*
 * Write "local@domain" (no angle brackets) into out: with utf8 0 the A-label
 * domain, for the wire without SMTPUTF8 -- refused (-1) when the local part
 * needs SMTPUTF8; with utf8 1 the U-label domain.  The null path gives "",
 * a target without local part just the domain.  Returns the length written,
 * or -1 when it does not fit.
 */
int	 mxk_addr_format(const struct mxk_addr *, int utf8, char *out,
	    size_t outlen);

/*
 * Check a host name taken from hostile data (MX or CNAME targets from DNS):
 * ASCII LDH labels of 1-63 octets, no leading or trailing hyphen, at most 253
 * octets without the one optional trailing dot, a top-level label that is
 * not all digits.  Case is not checked and no IDNA rules apply (reserved
 * "ab--cd" labels exist in the wild).  0, or -1 with a 5.1.2 MXK_ERR_DATA
 * error (e may be NULL).
 */
int	 mxk_addr_check_host(const char *s, size_t len, struct mxk_err *);

#endif
