/* ISC license. */

#include <sys/socket.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "err.h"
#include "t.h"

/* Test inputs with an explicit length: { "a\0b", 3 }. */
#define L(s)	s, sizeof(s) - 1

#define F_B	MXK_ADDR_ALLOW_BRACKETS
#define F_N	MXK_ADDR_ALLOW_NULL
#define F_A	MXK_ADDR_ASCII_LOCAL

struct mcase {
	const char	*name;
	const char	*in;
	size_t		 len;
	int		 flags;
	/* Accepted when msg is NULL: */
	const char	*local;
	const char	*domain;
	const char	*udomain;
	int		 smtputf8;
	int		 utf8dom;
	/* Refused: a substring of the message, and the enhanced status. */
	const char	*msg;
	const char	*status;
};

static const struct mcase mailbox_cases[] = {
	/* Accepted. */
	{ "plain", L("user@example.org"), 0, "user", "example.org",
	    "example.org", 0, 0, NULL, NULL },
	{ "case kept in local, folded in domain", L("User@EXAMPLE.Org"), 0,
	    "User", "example.org", "example.org", 0, 0, NULL, NULL },
	{ "trailing dot stripped", L("user@example.org."), 0, "user",
	    "example.org", "example.org", 0, 0, NULL, NULL },
	{ "single label", L("root@localhost"), 0, "root", "localhost",
	    "localhost", 0, 0, NULL, NULL },
	{ "dot-atom", L("first.last@example.org"), 0, "first.last",
	    "example.org", "example.org", 0, 0, NULL, NULL },
	{ "all atext specials", L("!#$%&'*+-/=?^_`{|}~@example.org"), 0,
	    "!#$%&'*+-/=?^_`{|}~", "example.org", "example.org", 0, 0, NULL,
	    NULL },
	{ "quoted with space", L("\"a b\"@example.org"), 0, "\"a b\"",
	    "example.org", "example.org", 0, 0, NULL, NULL },
	{ "quoted-pair quote", L("\"a\\\"b\"@example.org"), 0,
	    "\"a\\\"b\"", "example.org", "example.org", 0, 0, NULL, NULL },
	{ "quoted-pair backslash", L("\"a\\\\b\"@example.org"), 0,
	    "\"a\\\\b\"", "example.org", "example.org", 0, 0, NULL, NULL },
	{ "quoted @ and dots", L("\"a@b..c.\"@example.org"), 0,
	    "\"a@b..c.\"", "example.org", "example.org", 0, 0, NULL, NULL },
	{ "literal IPv4", L("user@[192.0.2.1]"), 0, "user", "[192.0.2.1]",
	    "[192.0.2.1]", 0, 0, NULL, NULL },
	{ "literal IPv6", L("user@[IPv6:2001:db8::1]"), 0, "user",
	    "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]", 0, 0, NULL, NULL },
	{ "literal IPv6 tag case", L("user@[ipv6:::1]"), 0, "user",
	    "[ipv6:::1]", "[ipv6:::1]", 0, 0, NULL, NULL },
	{ "literal IPv4-mapped", L("user@[IPv6:::ffff:192.0.2.1]"), 0, "user",
	    "[IPv6:::ffff:192.0.2.1]", "[IPv6:::ffff:192.0.2.1]", 0, 0, NULL,
	    NULL },
	{ "IDN U-label", L("user@b\xc3\xbc" "cher.example"), 0, "user",
	    "xn--bcher-kva.example", "b\xc3\xbc" "cher.example", 0, 1, NULL,
	    NULL },
	{ "IDN mixed case", L("user@B\xc3\x9c" "cher.Example"), 0, "user",
	    "xn--bcher-kva.example", "b\xc3\xbc" "cher.example", 0, 1, NULL,
	    NULL },
	{ "IDN NFC input", L("user@bu\xcc\x88" "cher.example"), 0, "user",
	    "xn--bcher-kva.example", "b\xc3\xbc" "cher.example", 0, 1, NULL,
	    NULL },
	{ "IDN non-transitional sharp s", L("user@fa\xc3\x9f.de"), 0, "user",
	    "xn--fa-hia.de", "fa\xc3\x9f.de", 0, 1, NULL, NULL },
	{ "IDN ideographic full stop", L("user@b\xc3\xbc" "cher\xe3\x80\x82"
	    "example"), 0, "user", "xn--bcher-kva.example",
	    "b\xc3\xbc" "cher.example", 0, 1, NULL, NULL },
	{ "A-label input upper case", L("user@XN--BCHER-KVA.Example"), 0,
	    "user", "xn--bcher-kva.example", "b\xc3\xbc" "cher.example", 0, 0,
	    NULL, NULL },
	{ "UTF-8 local part", L("j\xc3\xb6rg@example.org"), 0,
	    "j\xc3\xb6rg", "example.org", "example.org", 1, 0, NULL, NULL },
	{ "UTF-8 local and domain",
	    L("\xce\xb4\xce\xbf\xce\xba@\xcf\x80\xce\xb1\xcf\x81.example"), 0,
	    "\xce\xb4\xce\xbf\xce\xba", "xn--mxa3ae.example",
	    "\xcf\x80\xce\xb1\xcf\x81.example", 1, 1, NULL, NULL },
	{ "UTF-8 quoted local", L("\"j\xc3\xb6 rg\"@example.org"), 0,
	    "\"j\xc3\xb6 rg\"", "example.org", "example.org", 1, 0, NULL,
	    NULL },
	{ "4-octet UTF-8 local", L("\xf0\x9f\x98\x80@example.org"), 0,
	    "\xf0\x9f\x98\x80", "example.org", "example.org", 1, 0, NULL,
	    NULL },
	{ "angle brackets", L("<a@b.example>"), F_B, "a", "b.example",
	    "b.example", 0, 0, NULL, NULL },
	{ "source route dropped", L("<@r1.example,@r2.example:u@example.org>"),
	    F_B, "u", "example.org", "example.org", 0, 0, NULL, NULL },
	{ "null path", L("<>"), F_N, "", "", "", 0, 0, NULL, NULL },
	{ "null path empty", L(""), F_N, "", "", "", 0, 0, NULL, NULL },
	{ "null path with brackets flag", L("<>"), F_N | F_B, "", "", "", 0, 0,
	    NULL, NULL },
	{ "ASCII-only flag, ASCII local, IDN domain",
	    L("a@b\xc3\xbc" "cher.example"), F_A, "a", "xn--bcher-kva.example",
	    "b\xc3\xbc" "cher.example", 0, 1, NULL, NULL },

	/* Refused: structure. */
	{ "empty local part", L("@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "empty local part", "5.1.3" },
	{ "empty domain", L("user@"), 0, NULL, NULL, NULL, 0, 0,
	    "empty domain", "5.1.2" },
	{ "missing @", L("userexample.org"), 0, NULL, NULL, NULL, 0, 0,
	    "missing '@'", "5.1.3" },
	{ "missing @ after quotes", L("\"user\""), 0, NULL, NULL, NULL, 0, 0,
	    "missing '@'", "5.1.3" },
	{ "two @", L("a@b@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "more than one '@'", "5.1.3" },
	{ "two @ after quoted", L("\"a@b\"@c@example.org"), 0, NULL, NULL,
	    NULL, 0, 0, "more than one '@'", "5.1.3" },
	{ "empty address", L(""), 0, NULL, NULL, NULL, 0, 0,
	    "empty address", "5.1.3" },
	{ "local leading dot", L(".a@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "local part starts with a dot", "5.1.3" },
	{ "local trailing dot", L("a.@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "local part ends with a dot", "5.1.3" },
	{ "local double dot", L("a..b@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "consecutive dots in local part", "5.1.3" },
	{ "local space", L("a b@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid character 0x20 in local part", "5.1.3" },
	{ "local comma", L("a,b@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid character ',' in local part", "5.1.3" },
	{ "local stray quote", L("a\"b\"@example.org"), 0, NULL, NULL, NULL, 0,
	    0, "invalid character '\"' in local part", "5.1.3" },
	{ "unterminated quote", L("\"abc@example.org"), 0, NULL, NULL, NULL, 0,
	    0, "unterminated quoted string", "5.1.3" },
	{ "text after quote", L("\"a\"b@example.org"), 0, NULL, NULL, NULL, 0,
	    0, "unexpected 'b' after quoted local part", "5.1.3" },
	{ "quoted-pair non-ASCII", L("\"a\\\xc3\xa9\"@example.org"), 0, NULL,
	    NULL, NULL, 0, 0, "invalid quoted-pair", "5.1.3" },
	{ "quoted-pair at end", L("\"a\\"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid quoted-pair", "5.1.3" },
	{ "empty quoted", L("\"\"@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "empty quoted string", "5.1.3" },
	{ "brackets not allowed", L("<a@b.example>"), 0, NULL, NULL, NULL, 0,
	    0, "angle brackets not allowed", "5.1.3" },
	{ "missing >", L("<a@b.example"), F_B, NULL, NULL, NULL, 0, 0,
	    "missing closing '>'", "5.1.3" },
	{ "null not allowed", L("<>"), F_B, NULL, NULL, NULL, 0, 0,
	    "null reverse-path <> not allowed", "5.1.3" },
	{ "route without colon", L("<@r.example>"), F_B, NULL, NULL, NULL, 0,
	    0, "source route lacks ':'", "5.1.3" },
	{ "route without @", L("<@r.example,u@example.org>"), F_B, NULL,
	    NULL, NULL, 0, 0, "malformed source route", "5.1.3" },
	{ "route bad domain", L("<@-r.example:u@example.org>"), F_B, NULL,
	    NULL, NULL, 0, 0, "source route: domain label starts with a hyphen",
	    "5.1.2" },
	{ "route then nothing", L("<@r.example:>"), F_B, NULL, NULL, NULL, 0,
	    0, "empty address in brackets", "5.1.3" },

	/* Refused: octets. */
	{ "LF in local", L("a\nb@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "control character 0x0a at offset 1", "5.1.3" },
	{ "CR in domain", L("a@exa\rmple.org"), 0, NULL, NULL, NULL, 0, 0,
	    "control character 0x0d at offset 5", "5.1.3" },
	{ "DEL", L("a\x7f@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "control character 0x7f", "5.1.3" },
	{ "TAB in quotes", L("\"a\tb\"@example.org"), 0, NULL, NULL, NULL, 0,
	    0, "control character 0x09", "5.1.3" },
	{ "embedded NUL", L("a\0b@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "NUL octet at offset 1", "5.1.3" },
	{ "NUL after domain", L("a@example.org\0"), 0, NULL, NULL, NULL, 0, 0,
	    "NUL octet at offset 13", "5.1.3" },
	{ "Latin-1 octet", L("j\xf6rg@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid UTF-8 (lead octet 0xf6)", "5.1.3" },
	{ "stray continuation", L("a\x80@example.org"), 0, NULL, NULL, NULL, 0,
	    0, "invalid UTF-8 (lead octet 0x80)", "5.1.3" },
	{ "2-octet overlong", L("\xc0\xaf@example.org"), 0, NULL, NULL, NULL,
	    0, 0, "invalid UTF-8 (lead octet 0xc0)", "5.1.3" },
	{ "3-octet overlong", L("\xe0\x80\xaf@example.org"), 0, NULL, NULL,
	    NULL, 0, 0, "overlong UTF-8 sequence at offset 0", "5.1.3" },
	{ "4-octet overlong", L("\xf0\x8f\xbf\xbf@example.org"), 0, NULL, NULL,
	    NULL, 0, 0, "overlong UTF-8 sequence", "5.1.3" },
	{ "surrogate", L("\xed\xa0\x80@example.org"), 0, NULL, NULL, NULL, 0,
	    0, "invalid UTF-8 code point U+D800", "5.1.3" },
	{ "above U+10FFFF", L("\xf4\x90\x80\x80@example.org"), 0, NULL, NULL,
	    NULL, 0, 0, "invalid UTF-8 code point U+110000", "5.1.3" },
	{ "truncated sequence", L("a\xc3@example.org"), 0, NULL, NULL, NULL, 0,
	    0, "truncated UTF-8 sequence at offset 1", "5.1.3" },
	{ "truncated at end", L("a@example.org\xe2\x82"), 0, NULL, NULL, NULL,
	    0, 0, "truncated UTF-8 sequence at offset 13", "5.1.3" },
	{ "C1 control", L("\xc2\x85@example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "control character U+0085", "5.1.3" },
	{ "ASCII-only flag", L("j\xc3\xb6rg@example.org"), F_A, NULL, NULL,
	    NULL, 0, 0, "non-ASCII local part needs SMTPUTF8", "5.6.7" },

	/* Refused: domain. */
	{ "domain double dot", L("a@example..org"), 0, NULL, NULL, NULL, 0, 0,
	    "empty label (consecutive dots) in domain", "5.1.2" },
	{ "domain leading dot", L("a@.example.org"), 0, NULL, NULL, NULL, 0, 0,
	    "domain starts with a dot", "5.1.2" },
	{ "domain two trailing dots", L("a@example.org.."), 0, NULL, NULL,
	    NULL, 0, 0, "empty label (consecutive dots) in domain", "5.1.2" },
	{ "domain only a dot", L("a@."), 0, NULL, NULL, NULL, 0, 0,
	    "domain is only a dot", "5.1.2" },
	{ "IDN domain double dot", L("a@b\xc3\xbc" "cher..example"), 0, NULL,
	    NULL, NULL, 0, 0, "empty label (consecutive dots) in domain",
	    "5.1.2" },
	{ "underscore", L("a@exa_mple.org"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid character '_' in domain label", "5.1.2" },
	{ "underscore beside IDN", L("a@b\xc3\xbc" "cher.exa_mple.org"), 0,
	    NULL, NULL, NULL, 0, 0, "invalid character '_' in domain label",
	    "5.1.2" },
	{ "space in domain", L("a@exa mple.org"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid character 0x20 in domain label", "5.1.2" },
	{ "leading hyphen", L("a@-abc.example"), 0, NULL, NULL, NULL, 0, 0,
	    "domain label starts with a hyphen", "5.1.2" },
	{ "trailing hyphen", L("a@abc-.example"), 0, NULL, NULL, NULL, 0, 0,
	    "domain label ends with a hyphen", "5.1.2" },
	{ "IDN leading hyphen", L("a@-b\xc3\xbc" "cher.example"), 0, NULL,
	    NULL, NULL, 0, 0, "label starts or ends with a hyphen", "5.1.2" },
	{ "reserved hyphens", L("a@ab--cd.example"), 0, NULL, NULL, NULL, 0, 0,
	    "hyphens in positions 3 and 4 of label \"ab--cd\"", "5.1.2" },
	{ "IDN reserved hyphens", L("a@\xc3\xbc.ab--cd.example"), 0, NULL,
	    NULL, NULL, 0, 0, "hyphens in positions 3 and 4", "5.1.2" },
	{ "disallowed snowman", L("a@\xe2\x98\x83.example"), 0, NULL, NULL,
	    NULL, 0, 0, "disallowed code point", "5.1.2" },
	{ "bad punycode", L("a@xn--zz.example"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid A-label \"xn--zz\"", "5.1.2" },
	/* Found by fuzz_addr: the U-label ends with '-' (RFC 5891 §4.2.3.1). */
	{ "A-label, U-label hyphen", L("a@xn--ls8hs8x--ls8hs8a"), 0, NULL, NULL,
	    NULL, 0, 0, "its U-label starts or ends with a hyphen", "5.1.2" },
	{ "A-label of capitals", L("a@xn--bogus.example"), 0, NULL, NULL, NULL,
	    0, 0, "invalid A-label \"xn--bogus\"", "5.1.2" },
	{ "A-label of emoji", L("a@xn--ls8h.example"), 0, NULL, NULL, NULL, 0,
	    0, "invalid A-label \"xn--ls8h\"", "5.1.2" },
	{ "A-label of a C1 control", L("a@xn--a.example"), 0, NULL, NULL, NULL,
	    0, 0, "invalid A-label \"xn--a\"", "5.1.2" },
	{ "A-label ending in hyphen", L("a@xn--abc-.example"), 0, NULL, NULL,
	    NULL, 0, 0, "domain label ends with a hyphen", "5.1.2" },
	{ "numeric TLD", L("a@192.0.2.1"), 0, NULL, NULL, NULL, 0, 0,
	    "top-level label is all digits", "5.1.2" },

	/* Refused: literals. */
	{ "literal bad IPv4", L("a@[192.0.2.300]"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid IPv4 address literal", "5.1.2" },
	{ "literal IPv4 leading zero", L("a@[192.0.2.01]"), 0, NULL, NULL,
	    NULL, 0, 0, "invalid IPv4 address literal", "5.1.2" },
	{ "literal short IPv4", L("a@[192.0.2]"), 0, NULL, NULL, NULL, 0, 0,
	    "invalid IPv4 address literal", "5.1.2" },
	{ "literal bad IPv6", L("a@[IPv6:2001:db8:::1]"), 0, NULL, NULL, NULL,
	    0, 0, "invalid IPv6 address literal", "5.1.2" },
	{ "literal IPv6 zone", L("a@[IPv6:fe80::1%eth0]"), 0, NULL, NULL, NULL,
	    0, 0, "invalid IPv6 address literal", "5.1.2" },
	{ "literal IPv6 untagged", L("a@[2001:db8::1]"), 0, NULL, NULL, NULL,
	    0, 0, "lacks the \"IPv6:\" tag", "5.1.2" },
	{ "literal unknown tag", L("a@[foo:bar]"), 0, NULL, NULL, NULL, 0, 0,
	    "unknown address literal tag \"foo\"", "5.1.2" },
	{ "literal missing ]", L("a@[192.0.2.1"), 0, NULL, NULL, NULL, 0, 0,
	    "lacks closing ']'", "5.1.2" },
	{ "literal garbage after ]", L("a@[192.0.2.1]x"), 0, NULL, NULL, NULL,
	    0, 0, "garbage after address literal", "5.1.2" },
	{ "literal empty", L("a@[]"), 0, NULL, NULL, NULL, 0, 0,
	    "empty address literal", "5.1.2" },
	{ "literal nested", L("a@[[192.0.2.1]]"), 0, NULL, NULL, NULL, 0, 0,
	    "bracket inside address literal", "5.1.2" },
};

static void
check_err(const struct mxk_err *e, const char *msg, const char *status,
    const char *name)
{
	T_OK(strstr(e->msg, msg) != NULL, "%s: message \"%s\" lacks \"%s\"",
	    name, e->msg, msg);
	T_EQ_STR(e->status, status, name);
	T_EQ_INT(e->class, MXK_ERR_DATA, name);
	T_EQ_INT(e->source, MXK_SRC_LOCAL, name);
}

static void
test_mailbox_table(void)
{
	const struct mcase	*c;
	struct mxk_addr		 a;
	struct mxk_err		 e;
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(mailbox_cases) / sizeof(mailbox_cases[0]);
	    i++) {
		c = &mailbox_cases[i];
		mxk_err_clear(&e);
		r = mxk_addr_parse_mailbox(&a, c->in, c->len, c->flags, &e);
		if (c->msg != NULL) {
			T_EQ_INT(r, -1, c->name);
			check_err(&e, c->msg, c->status, c->name);
			continue;
		}
		T_OK(r == 0, "%s: refused: %s", c->name, e.msg);
		T_EQ_STR(a.local, c->local, c->name);
		T_EQ_STR(a.domain, c->domain, c->name);
		T_EQ_STR(a.domain_utf8, c->udomain, c->name);
		T_EQ_INT(a.needs_smtputf8, c->smtputf8, c->name);
		T_EQ_INT(a.utf8_domain, c->utf8dom, c->name);
		T_EQ_INT(a.is_null, c->domain[0] == '\0', c->name);
		T_EQ_INT(a.is_literal, c->domain[0] == '[', c->name);
	}
}

static void
test_literal_values(void)
{
	static const unsigned char	v4[4] = { 192, 0, 2, 1 };
	static const unsigned char	v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct mxk_addr			a;
	struct mxk_err			e;

	T_EQ_INT(mxk_addr_parse_mailbox(&a, L("u@[192.0.2.1]"), 0, &e), 0,
	    "v4 literal");
	T_EQ_INT(a.family, AF_INET, "v4 family");
	T_OK(memcmp(a.ip, v4, 4) == 0, "v4 bytes");
	T_EQ_INT(mxk_addr_parse_mailbox(&a, L("u@[IPv6:2001:DB8::1]"), 0, &e),
	    0, "v6 literal");
	T_EQ_INT(a.family, AF_INET6, "v6 family");
	T_OK(memcmp(a.ip, v6, 16) == 0, "v6 bytes");
	T_EQ_STR(a.domain, "[IPv6:2001:DB8::1]", "literal kept as given");
	T_EQ_INT(mxk_addr_parse_mailbox(&a, L("u@example.org"), 0, &e), 0,
	    "domain");
	T_EQ_INT(a.family, 0, "no family for a domain");
	/*
	 * The input is s[0..len), not a C string: the octet after it is
	 * not part of the literal (fuzz_addr found the U-label copy taking
	 * it; tests/fuzz/regress/addr/literal-*).
	 */
	T_EQ_INT(mxk_addr_parse_mailbox(&a, "u@[192.0.2.1]X", 13, 0, &e), 0,
	    "literal with an octet after the input");
	T_EQ_STR(a.domain, "[192.0.2.1]", "literal domain ends with the input");
	T_EQ_STR(a.domain_utf8, "[192.0.2.1]",
	    "literal U-label form ends with the input");
}

/* Length limits, built at run time. */
static void
test_lengths(void)
{
	char		buf[1200], alabel[MXK_ADDR_DOMAINMAX + 1];
	struct mxk_addr	a;
	struct mxk_err	e;
	size_t		n;
	int		r;

	/* Local part: 64 octets accepted, 65 refused. */
	memset(buf, 'l', 64);
	memcpy(buf + 64, "@example.org", 12);
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 76, 0, &e), 0, "local 64");
	T_EQ_INT(strlen(a.local), 64, "local 64 kept");
	memset(buf, 'l', 65);
	memcpy(buf + 65, "@example.org", 12);
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 77, 0, &e), -1, "local 65");
	check_err(&e, "local part longer than 64 octets", "5.1.3",
	    "local 65");
	/* The quotes count. */
	buf[0] = '"';
	memset(buf + 1, 'q', 62);
	buf[63] = '"';
	memcpy(buf + 64, "@example.org", 12);
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 76, 0, &e), 0,
	    "quoted local 64");
	buf[0] = '"';
	memset(buf + 1, 'q', 63);
	buf[64] = '"';
	memcpy(buf + 65, "@example.org", 12);
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 77, 0, &e), -1,
	    "quoted local 65");
	check_err(&e, "local part longer than 64 octets", "5.1.3",
	    "quoted local 65");

	/* Labels: 63 accepted, 64 refused. */
	memcpy(buf, "a@", 2);
	memset(buf + 2, 'x', 63);
	memcpy(buf + 65, ".org", 4);
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 69, 0, &e), 0, "label 63");
	memset(buf + 2, 'x', 64);
	memcpy(buf + 66, ".org", 4);
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 70, 0, &e), -1, "label 64");
	check_err(&e, "label longer than 63 octets", "5.1.2", "label 64");
	/* A U-label of 62 octets whose A-label is longer than 63. */
	memcpy(buf, "a@\xc3\xbc", 4);
	memset(buf + 4, 'x', 60);
	memcpy(buf + 64, ".org", 4);
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 68, 0, &e), -1,
	    "A-label 64+");
	check_err(&e, "label longer than 63 octets", "5.1.2", "A-label 64+");

	/* Domain: 253 accepted, 254 refused; "x" * 63 labels. */
	for (n = 0; n < 4; n++) {
		memset(buf + n * 64, 'x', 63);
		buf[n * 64 + 63] = '.';
	}
	buf[253] = '.';
	buf[252] = 'y';
	r = mxk_addr_parse_domain(alabel, sizeof(alabel), NULL, 0, buf, 253,
	    NULL, &e);
	T_OK(r == 0, "domain 253: %s", e.msg);
	T_EQ_INT(strlen(alabel), 253, "domain 253 length");
	T_EQ_INT(mxk_addr_parse_domain(alabel, sizeof(alabel), NULL, 0, buf,
	    254, NULL, &e), 0, "domain 253 with trailing dot");
	buf[253] = 'z';
	T_EQ_INT(mxk_addr_parse_domain(alabel, sizeof(alabel), NULL, 0, buf,
	    254, NULL, &e), -1, "domain 254");
	check_err(&e, "domain longer than 253 octets", "5.1.2", "domain 254");

	/* UTF-8 form 248 octets, A-label form 254 (our check). */
	memcpy(buf, "b\xc3\xbc" "cher.", 8);
	for (n = 0; n < 3; n++) {
		memset(buf + 8 + n * 64, 'x', 63);
		buf[8 + n * 64 + 63] = '.';
	}
	memset(buf + 200, 'y', 48);
	r = mxk_addr_parse_domain(alabel, sizeof(alabel), NULL, 0, buf, 248,
	    NULL, &e);
	T_EQ_INT(r, -1, "IDN domain 254 in A-label form");
	check_err(&e, "domain longer than 253 octets", "5.1.2",
	    "IDN domain 254 in A-label form");
	T_EQ_INT(mxk_addr_parse_domain(alabel, sizeof(alabel), NULL, 0, buf,
	    247, NULL, &e), 0, "IDN domain 253 in A-label form");
	/* ...and 256 (libidn2's own limit). */
	memset(buf + 200, 'y', 50);
	T_EQ_INT(mxk_addr_parse_domain(alabel, sizeof(alabel), NULL, 0, buf,
	    250, NULL, &e), -1, "IDN domain 256 in A-label form");
	check_err(&e, "domain longer than 253 octets", "5.1.2",
	    "IDN domain 256 in A-label form");

	/* Path: 254 accepted, 255 refused. */
	memcpy(buf, "ab@", 3);
	for (n = 0; n < 4; n++) {
		memset(buf + 3 + n * 64, 'x', 63);
		buf[3 + n * 64 + 63] = '.';
	}
	/* "ab@" + 63.63.63.60 = 3 + 252 = 255 */
	r = mxk_addr_parse_mailbox(&a, buf, 3 + 252, 0, &e);
	T_EQ_INT(r, -1, "path 255");
	check_err(&e, "address longer than 254 octets", "5.1.3", "path 255");
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf + 1, 2 + 252, 0, &e), 0,
	    "path 254");

	/* Input bound. */
	memset(buf, 'a', sizeof(buf));
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, MXK_ADDR_INPUTMAX + 1, 0, &e),
	    -1, "input bound");
	check_err(&e, "address input longer than 1024 octets", "5.1.3",
	    "input bound");
	T_EQ_INT(mxk_addr_parse_domain(alabel, sizeof(alabel), NULL, 0, buf,
	    MXK_ADDR_INPUTMAX + 1, NULL, &e), -1, "domain input bound");
	check_err(&e, "domain input longer than 1024 octets", "5.1.2",
	    "domain input bound");
}

static void
test_domain(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		size_t		 len;
		const char	*alabel;
		const char	*ulabel;
		int		 utf8;
		const char	*msg;
	} cases[] = {
		{ "ascii", L("Example.ORG"), "example.org", "example.org", 0,
		    NULL },
		{ "idn", L("B\xc3\xbc" "cher.Example."), "xn--bcher-kva.example",
		    "b\xc3\xbc" "cher.example", 1, NULL },
		{ "a-label", L("xn--fa-hia.de"), "xn--fa-hia.de",
		    "fa\xc3\x9f.de", 0, NULL },
		{ "cjk", L("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9"
		    "\xe3\x83\x88"), "xn--r8jz45g.xn--zckzah",
		    "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9"
		    "\xe3\x83\x88", 1, NULL },
		{ "empty", L(""), NULL, NULL, 0, "empty domain" },
		{ "dot", L("."), NULL, NULL, 0, "domain is only a dot" },
		{ "literal", L("[192.0.2.1]"), NULL, NULL, 0,
		    "invalid character '[' in domain label" },
		{ "at", L("a@b"), NULL, NULL, 0,
		    "invalid character '@' in domain label" },
		{ "NUL", L("ex\0ample.org"), NULL, NULL, 0,
		    "NUL octet at offset 2 in domain" },
		{ "numeric", L("123"), NULL, NULL, 0,
		    "top-level label is all digits" },
	};
	char	a[MXK_ADDR_DOMAINMAX + 1], u[MXK_ADDR_UDOMAINMAX + 1];
	struct mxk_err e;
	size_t	i;
	int	r, utf8;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_err_clear(&e);
		utf8 = -1;
		r = mxk_addr_parse_domain(a, sizeof(a), u, sizeof(u),
		    cases[i].in, cases[i].len, &utf8, &e);
		if (cases[i].msg != NULL) {
			T_EQ_INT(r, -1, cases[i].name);
			check_err(&e, cases[i].msg, "5.1.2", cases[i].name);
			continue;
		}
		T_OK(r == 0, "%s: refused: %s", cases[i].name, e.msg);
		T_EQ_STR(a, cases[i].alabel, cases[i].name);
		T_EQ_STR(u, cases[i].ulabel, cases[i].name);
		T_EQ_INT(utf8, cases[i].utf8, cases[i].name);
	}

	/* Optional outputs and small buffers. */
	T_EQ_INT(mxk_addr_parse_domain(a, sizeof(a), NULL, 0, L("example.org"),
	    NULL, &e), 0, "NULL ulabel and utf8");
	T_EQ_INT(mxk_addr_parse_domain(a, 5, NULL, 0, L("example.org"), NULL,
	    &e), -1, "small A-label buffer");
	T_EQ_INT(e.class, MXK_ERR_INTERNAL, "small A-label buffer class");
	T_EQ_INT(mxk_addr_parse_domain(a, sizeof(a), u, 5,
	    L("b\xc3\xbc" "cher.example"), NULL, &e), -1,
	    "small U-label buffer");
	T_EQ_INT(e.class, MXK_ERR_INTERNAL, "small U-label buffer class");
}

/* U-label -> A-label -> U-label, and A-label -> A-label. */
static void
test_roundtrip(void)
{
	static const struct {
		const char	*u;
		const char	*a;
	} cases[] = {
		{ "b\xc3\xbc" "cher.example", "xn--bcher-kva.example" },
		{ "m\xc3\xbcnchen.de", "xn--mnchen-3ya.de" },
		{ "fa\xc3\x9f.de", "xn--fa-hia.de" },
		{ "\xcf\x80\xce\xb1\xcf\x81.example", "xn--mxa3ae.example" },
		{ "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9"
		    "\xe3\x83\x88", "xn--r8jz45g.xn--zckzah" },
		{ "plain.example", "plain.example" },
	};
	char		a[MXK_ADDR_DOMAINMAX + 1], u[MXK_ADDR_UDOMAINMAX + 1];
	char		a2[MXK_ADDR_DOMAINMAX + 1], u2[MXK_ADDR_UDOMAINMAX + 1];
	struct mxk_err	e;
	size_t		i;
	int		r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = mxk_addr_parse_domain(a, sizeof(a), u, sizeof(u),
		    cases[i].u, strlen(cases[i].u), NULL, &e);
		T_OK(r == 0, "roundtrip %s: %s", cases[i].a, e.msg);
		T_EQ_STR(a, cases[i].a, "U to A");
		T_EQ_STR(u, cases[i].u, "U to U");
		r = mxk_addr_parse_domain(a2, sizeof(a2), u2, sizeof(u2), a,
		    strlen(a), NULL, &e);
		T_OK(r == 0, "roundtrip back %s: %s", cases[i].a, e.msg);
		T_EQ_STR(a2, cases[i].a, "A to A");
		T_EQ_STR(u2, cases[i].u, "A to U");
	}
}

static void
test_target(void)
{
	static const struct {
		const char	*name;
		const char	*in;
		size_t		 len;
		const char	*local;
		const char	*domain;
		int		 family;
		const char	*msg;
	} cases[] = {
		{ "domain", L("example.org"), "", "example.org", 0, NULL },
		{ "domain trailing dot", L("Example.org."), "", "example.org",
		    0, NULL },
		{ "idn domain", L("B\xc3\xbc" "cher.Example"), "",
		    "xn--bcher-kva.example", 0, NULL },
		{ "bare IPv4", L("192.0.2.1"), "", "[192.0.2.1]", AF_INET,
		    NULL },
		{ "bare IPv6", L("2001:db8::1"), "", "[IPv6:2001:db8::1]",
		    AF_INET6, NULL },
		{ "bracketed IPv4", L("[192.0.2.1]"), "", "[192.0.2.1]",
		    AF_INET, NULL },
		{ "bracketed IPv6", L("[IPv6:2001:db8::1]"), "",
		    "[IPv6:2001:db8::1]", AF_INET6, NULL },
		{ "mailbox", L("user@example.org"), "user", "example.org", 0,
		    NULL },
		{ "mailbox literal", L("user@[192.0.2.1]"), "user",
		    "[192.0.2.1]", AF_INET, NULL },
		{ "mailbox in brackets", L("<user@example.org>"), "user",
		    "example.org", 0, NULL },
		{ "empty", L(""), NULL, NULL, 0, "empty target" },
		{ "bad IPv4", L("192.0.2.300"), NULL, NULL, 0,
		    "invalid IPv4 address" },
		{ "IPv4 three parts", L("192.0.2"), NULL, NULL, 0,
		    "invalid IPv4 address" },
		{ "bad IPv6", L("2001:db8:::1"), NULL, NULL, 0,
		    "invalid IPv6 address" },
		{ "unknown tag", L("[foo:bar]"), NULL, NULL, 0,
		    "unknown address literal tag" },
		{ "missing ]", L("[IPv6:::1"), NULL, NULL, 0,
		    "lacks closing ']'" },
		{ "underscore", L("exa_mple.org"), NULL, NULL, 0,
		    "invalid character '_'" },
		{ "NUL", L("example.org\0"), NULL, NULL, 0,
		    "NUL octet at offset 11 in target" },
		{ "null path", L("<>"), NULL, NULL, 0,
		    "null reverse-path <> not allowed" },
	};
	struct mxk_addr	a;
	struct mxk_err	e;
	size_t		i;
	int		r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_err_clear(&e);
		r = mxk_addr_parse_target(&a, cases[i].in, cases[i].len, &e);
		if (cases[i].msg != NULL) {
			T_EQ_INT(r, -1, cases[i].name);
			T_OK(strstr(e.msg, cases[i].msg) != NULL,
			    "%s: message \"%s\" lacks \"%s\"", cases[i].name,
			    e.msg, cases[i].msg);
			T_EQ_INT(e.class, MXK_ERR_DATA, cases[i].name);
			continue;
		}
		T_OK(r == 0, "%s: refused: %s", cases[i].name, e.msg);
		T_EQ_STR(a.local, cases[i].local, cases[i].name);
		T_EQ_STR(a.domain, cases[i].domain, cases[i].name);
		T_EQ_INT(a.family, cases[i].family, cases[i].name);
		T_EQ_INT(a.is_literal, cases[i].family != 0, cases[i].name);
	}
}

static void
test_check_host(void)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*msg;	/* NULL: valid */
	} cases[] = {
		{ L("mx1.example.org"), NULL },
		{ L("MX.Example.ORG."), NULL },
		{ L("r4---sn-abc.example.com"), NULL },
		{ L("xn--bcher-kva.example"), NULL },
		{ L("localhost"), NULL },
		{ L(""), "empty host name" },
		{ L("."), "host name is only a dot" },
		{ L("exa_mple.org"), "invalid character '_'" },
		{ L("-a.example"), "starts with a hyphen" },
		{ L("a-.example"), "ends with a hyphen" },
		{ L("a..example"), "empty label" },
		{ L(".a.example"), "domain starts with a dot" },
		{ L("192.0.2.1"), "top-level label is all digits" },
		{ L("b\xc3\xbc" "cher.example"), "non-ASCII host name" },
		{ L("a\0b.example"), "NUL octet" },
		{ L("a\r.example"), "control character 0x0d" },
		{ L("a*.example"), "invalid character '*'" },
	};
	char		buf[300];
	struct mxk_err	e;
	size_t		i;
	int		r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mxk_err_clear(&e);
		r = mxk_addr_check_host(cases[i].in, cases[i].len, &e);
		if (cases[i].msg == NULL) {
			T_OK(r == 0, "host %s: %s", cases[i].in, e.msg);
			continue;
		}
		T_EQ_INT(r, -1, cases[i].in);
		check_err(&e, cases[i].msg, "5.1.2", cases[i].in);
	}
	T_EQ_INT(mxk_addr_check_host(L("a.example"), NULL), 0, "NULL err");
	T_EQ_INT(mxk_addr_check_host(L("a_b.example"), NULL), -1,
	    "NULL err refused");
	memset(buf, 'h', 64);
	memcpy(buf + 64, ".example", 8);
	T_EQ_INT(mxk_addr_check_host(buf, 72, &e), -1, "host label 64");
	check_err(&e, "label longer than 63 octets", "5.1.2", "host label 64");
	for (i = 0; i < 4; i++) {
		memset(buf + i * 64, 'h', 63);
		buf[i * 64 + 63] = '.';
	}
	T_EQ_INT(mxk_addr_check_host(buf, 253, &e), 0, "host 253");
	buf[253] = '.';
	T_EQ_INT(mxk_addr_check_host(buf, 254, &e), 0, "host 253 + dot");
	buf[253] = 'h';
	T_EQ_INT(mxk_addr_check_host(buf, 254, &e), -1, "host 254");
	check_err(&e, "domain longer than 253 octets", "5.1.2", "host 254");
}

static void
test_format(void)
{
	struct mxk_addr	a;
	struct mxk_err	e;
	char		out[600];

	T_EQ_INT(mxk_addr_parse_mailbox(&a, L("User@B\xc3\xbc" "cher.Example"),
	    0, &e), 0, "parse for format");
	T_EQ_INT(mxk_addr_format(&a, 0, out, sizeof(out)), 26, "format ascii");
	T_EQ_STR(out, "User@xn--bcher-kva.example", "format ascii text");
	T_EQ_INT(mxk_addr_format(&a, 1, out, sizeof(out)), 20, "format utf8");
	T_EQ_STR(out, "User@b\xc3\xbc" "cher.example", "format utf8 text");
	T_EQ_INT(mxk_addr_format(&a, 0, out, 26), -1, "format truncated");
	T_EQ_STR(out, "", "truncated output empty");
	T_EQ_INT(mxk_addr_format(&a, 0, out, 27), 26, "format exact fit");

	T_EQ_INT(mxk_addr_parse_mailbox(&a, L("j\xc3\xb6rg@b\xc3\xbc" "cher.de"),
	    0, &e), 0, "parse utf8 local");
	T_EQ_INT(mxk_addr_format(&a, 0, out, sizeof(out)), -1,
	    "utf8 local without SMTPUTF8");
	T_EQ_INT(mxk_addr_format(&a, 1, out, sizeof(out)), 16,
	    "utf8 local with SMTPUTF8");
	T_EQ_STR(out, "j\xc3\xb6rg@b\xc3\xbc" "cher.de", "utf8 local text");

	T_EQ_INT(mxk_addr_parse_mailbox(&a, L("\"a b\"@[192.0.2.1]"), 0, &e),
	    0, "parse quoted literal");
	T_EQ_INT(mxk_addr_format(&a, 0, out, sizeof(out)), 17,
	    "format quoted literal");
	T_EQ_STR(out, "\"a b\"@[192.0.2.1]", "quoted literal text");

	T_EQ_INT(mxk_addr_parse_mailbox(&a, L("<>"), MXK_ADDR_ALLOW_NULL, &e),
	    0, "parse null");
	T_EQ_INT(mxk_addr_format(&a, 0, out, sizeof(out)), 0, "format null");
	T_EQ_STR(out, "", "null text");

	T_EQ_INT(mxk_addr_parse_target(&a, L("2001:db8::1"), &e), 0,
	    "parse target");
	T_EQ_INT(mxk_addr_format(&a, 0, out, sizeof(out)), 18, "format target");
	T_EQ_STR(out, "[IPv6:2001:db8::1]", "target text");
	T_EQ_INT(mxk_addr_format(&a, 0, out, 0), -1, "zero-size output");
}

/* A refused parse leaves no half-filled result behind. */
static void
test_cleared(void)
{
	struct mxk_addr	a;
	struct mxk_err	e;
	char		buf[300];
	size_t		i;

	memcpy(buf, "ab@", 3);
	for (i = 0; i < 4; i++) {
		memset(buf + 3 + i * 64, 'x', 63);
		buf[3 + i * 64 + 63] = '.';
	}
	T_EQ_INT(mxk_addr_parse_mailbox(&a, buf, 255, 0, &e), -1, "too long");
	T_EQ_STR(a.domain, "", "domain cleared after refusal");
	T_EQ_STR(a.local, "", "local cleared after refusal");
}

int
main(void)
{
	test_mailbox_table();
	test_literal_values();
	test_lengths();
	test_domain();
	test_roundtrip();
	test_target();
	test_check_host();
	test_format();
	test_cleared();
	return t_done("addr");
}
