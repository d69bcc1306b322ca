/* ISC license. */

/*
 * Write the seed corpora of the fuzz targets: mkseeds DIR writes
 * DIR/<target>/<name> for every target (make fuzz-seeds).  The inputs are
 * the examples of the unit tests (tests/unit/test_*.c): addresses, SMTP
 * replies, EHLO responses, JSON strings, host:port and proxy URLs, --mx
 * routes, SMTP sessions of both sides, MTA-STS records and policies, and
 * DNS responses (MX, A, TXT, TLSA), which ldns builds here from
 * presentation format; TLSA data is computed by lib/dane from the
 * certificates of dane_certs.h.  The output is the same on every run.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ldns/ldns.h>

#include "dane.h"

#include "dane_certs.h"

#define L(s)	{ s, sizeof(s) - 1 }

struct seed {
	const char	*name;
	struct {
		const char	*p;
		size_t		 len;
	} in;
};

static const char	*outdir;

static void
die(const char *what)
{
	(void)fprintf(stderr, "mkseeds: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
put(const char *target, const char *name, const void *p, size_t len)
{
	char	path[1024];
	FILE	*f;

	(void)snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0777) == -1 && errno != EEXIST)
		die(path);
	(void)snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	if ((f = fopen(path, "wb")) == NULL)
		die(path);
	if (len > 0 && fwrite(p, 1, len, f) != len)
		die(path);
	if (fclose(f) == EOF)
		die(path);
}

static void
put_all(const char *target, const struct seed *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		put(target, s[i].name, s[i].in.p, s[i].in.len);
}

#define PUT_ALL(t, a)	put_all((t), (a), sizeof(a) / sizeof((a)[0]))

/* From tests/unit/test_addr.c. */
static const struct seed addr_seeds[] = {
	{ "plain", L("user@example.org") },
	{ "case", L("User@EXAMPLE.Org.") },
	{ "atext-specials", L("!#$%&'*+-/=?^_`{|}~@example.org") },
	{ "quoted-space", L("\"a b\"@example.org") },
	{ "quoted-pair", L("\"a\\\"b\\\\c\"@example.org") },
	{ "quoted-at-dots", L("\"a@b..c.\"@example.org") },
	{ "literal-v4", L("user@[192.0.2.1]") },
	{ "literal-v6", L("user@[IPv6:2001:db8::1]") },
	{ "literal-v4mapped", L("user@[IPv6:::ffff:192.0.2.1]") },
	{ "idn-ulabel", L("user@b\xc3\xbc" "cher.example") },
	{ "idn-nfd", L("user@bu\xcc\x88" "cher.example") },
	{ "idn-sharp-s", L("user@fa\xc3\x9f.de") },
	{ "idn-ideographic-stop", L("user@b\xc3\xbc" "cher\xe3\x80\x82"
	    "example") },
	{ "alabel-upper", L("user@XN--BCHER-KVA.Example") },
	{ "utf8-local", L("j\xc3\xb6rg@example.org") },
	{ "utf8-quoted", L("\"j\xc3\xb6 rg\"@example.org") },
	{ "utf8-4octet", L("\xf0\x9f\x98\x80@example.org") },
	{ "brackets", L("<a@b.example>") },
	{ "source-route", L("<@r1.example,@r2.example:u@example.org>") },
	{ "null-path", L("<>") },
	{ "empty", L("") },
	{ "two-at", L("\"a@b\"@c@example.org") },
	{ "local-double-dot", L("a..b@example.org") },
	{ "unterminated-quote", L("\"abc@example.org") },
	{ "quoted-pair-end", L("\"a\\") },
	{ "route-bad", L("<@-r.example:u@example.org>") },
	{ "embedded-nul", L("a\0b@example.org") },
	{ "overlong-utf8", L("\xe0\x80\xaf@example.org") },
	{ "surrogate", L("\xed\xa0\x80@example.org") },
	{ "truncated-utf8", L("a@example.org\xe2\x82") },
	{ "c1-control", L("\xc2\x85@example.org") },
	{ "reserved-hyphens", L("a@ab--cd.example") },
	{ "bad-punycode", L("a@xn--zz.example") },
	{ "alabel-emoji", L("a@xn--ls8h.example") },
	{ "numeric-tld", L("a@192.0.2.1") },
	{ "literal-v6-zone", L("a@[IPv6:fe80::1%eth0]") },
	{ "literal-nested", L("a@[[192.0.2.1]]") },
	{ "cjk-domain", L("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9"
	    "\xe3\x83\x88") },
	{ "bare-v6", L("2001:db8::1") },
	{ "bare-v4", L("192.0.2.1") },
	{ "target-literal", L("[IPv6:2001:db8::1]") },
	{ "host-trailing-dot", L("mx1.example.test.") },
	{ "host-underscore", L("exa_mple.org") },
};

/* From tests/unit/test_reply.c; two octets of options first (fuzz_reply.c). */
static const struct seed reply_seeds[] = {
	{ "simple", L("\x00\x01" "220 mx.test ESMTP\r\n") },
	{ "status", L("\x00\x02" "250 2.1.0 Ok\r\n") },
	{ "status-mismatch", L("\x00\x03" "250 5.1.1 odd\r\n") },
	{ "multi", L("\x00\x04" "250-mx.test\r\n250-PIPELINING\r\n"
	    "250 SIZE 10\r\n") },
	{ "bare-code", L("\x00\x05" "250\r\n") },
	{ "bare-lf", L("\x00\x06" "421 4.3.2 bye\n") },
	{ "pipelined", L("\x00\x07" "250 2.1.0 ok\r\n250 2.1.5 ok\r\n"
	    "354 go ahead\r\n") },
	{ "incomplete", L("\x00\x08" "250-a\r\n250-b\r\n") },
	{ "bad-digit", L("\x00\x09" "650 no\r\n") },
	{ "code-change", L("\x00\x0a" "250-a\r\n251 b\r\n") },
	{ "binary", L("\x00\x0b" "554 \x01\xfe\r\n") },
	{ "4xx-status", L("\x00\x0c" "450 4.2.0 busy\r\n") },
	{ "status-only", L("\x00\x0d" "250 2.0.0\r\n") },
	{ "small-limits", L("\x24\x0e" "250-ab\n250-ab\n250-ab\n250-ab\n"
	    "250 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n") },
	{ "tiny-limits", L("\x09\x0f" "250 ok\r\n") },
};

/* From tests/unit/test_smtpc.c. */
static const struct seed ehlo_seeds[] = {
	{ "full", L("250-mx.test hello\r\n250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH PLAIN login\r\n"
	    "250-AUTH=CRAM-MD5\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-DSN\r\n"
	    "250-CHUNKING\r\n250-BINARYMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250 X-UNKNOWN foo\r\n") },
	{ "odd", L("250-mx.test\r\n250-STARTTLSX\r\n250-SIZE\r\n"
	    "250 SIZE -5\r\n") },
	{ "plain", L("250 mx.test\r\n") },
	{ "starttls", L("250-mx\r\n250 STARTTLS\r\n") },
	{ "helo-500", L("500 what\r\n250 mx\r\n") },
	{ "size-huge", L("250-mx\r\n250 SIZE 99999999999999999999999\r\n") },
	{ "auth-spaces", L("250-mx\r\n250 AUTH   PLAIN  XOAUTH2 \r\n") },
};

/* From tests/unit/test_smtpc.c; two octets of options first (fuzz_smtpc_engine.c). */
static const struct seed smtpc_engine_seeds[] = {
	{ "pipelined", L("\x24\x02" "250 flushed\r\n250 ok\r\n250 ok\r\n"
	    "450 4.2.1 busy\r\n550 5.1.1 no\r\n354 go\r\n250 queued\r\n") },
	{ "one-at-a-time", L("\x00\x01" "250 ok\r\n250 ok\r\n550 no\r\n"
	    "354 go\r\n250 ok\r\n") },
	{ "lmtp", L("\x14\x02" "250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n"
	    "354 go\r\n250 a\r\n452 4.2.2 full\r\n") },
	{ "bdat", L("\x0c\x07" "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 done\r\n") },
	{ "mail-refused", L("\x04\x01" "550 no\r\n503 x\r\n503 x\r\n"
	    "503 x\r\n") },
	{ "no-rcpt-354", L("\x04\x00" "250 ok\r\n550 no\r\n354 go\r\n"
	    "554 no\r\n") },
	{ "multiline", L("\x04\x01" "250-a\r\n250 b\r\n550-x\r\n550 y\r\n"
	    "250 ok\r\n354-go\r\n354 on\r\n250-2.0.0 a\r\n250 2.0.0 b\r\n") },
	{ "garbage", L("\x00\x00" "what?\r\n") },
	{ "parsed", L("\x04\x81" "250 ok\r\n250 ok\r\n550 no\r\n"
	    "354 go\r\n250 ok\r\n") },
	{ "ehlo", L("\x02\x00" "250-mx.test\r\n250-PIPELINING\r\n"
	    "250 SIZE 10\r\n") },
	{ "helo", L("\x02\x00" "500 what\r\n250 mx\r\n") },
	{ "auth-login", L("\x03\x02" "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"
	    "235 ok\r\n") },
	{ "auth-cram", L("\x03\x03" "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2Uu"
	    "cmVzdG9uLm1jaS5uZXQ+\r\n235 ok\r\n") },
	{ "auth-xoauth2", L("\x03\x04" "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"
	    "535 5.7.8 no\r\n") },
	{ "size-limit", L("\x40\x20" "") },
};

/* From tests/unit/test_json.c. */
static const struct seed json_seeds[] = {
	{ "plain", L("abc") },
	{ "quote", L("a\"b\\c") },
	{ "control", L("a\r\n\x01") },
	{ "utf8", L("b\xc3\xbc" "cher") },
	{ "bad-utf8", L("\xff") },
	{ "truncated", L("\xc3") },
	{ "overlong", L("\xc0\xaf") },
	{ "surrogate", L("\xed\xa0\x80") },
	{ "nul", L("a\0b") },
	{ "del", L("\x7f") },
	{ "4octet", L("\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xf4\x90\x80\x80") },
};

/* From tests/unit/test_net.c. */
static const struct seed net_seeds[] = {
	{ "name", L("mx.example.test") },
	{ "name-port", L("mx.example.test:587") },
	{ "v4-port", L("192.0.2.1:2525") },
	{ "v6-port", L("[2001:db8::1]:465") },
	{ "bare-v6", L("2001:db8::1") },
	{ "v6-scope", L("[fe80::1%lo]:25") },
	{ "port-big", L("host:65536") },
	{ "no-bracket", L("[2001:db8::1:25") },
	{ "proxy", L("socks5h://127.0.0.1:9050") },
	{ "proxy-case", L("SOCKS5H://proxy.test:1081/") },
	{ "proxy-v6", L("socks5://[::1]:1080") },
	{ "proxy-user", L("socks5h://joe@proxy.test") },
	{ "proxy-pass", L("socks5h://joe:s3c:r@t@proxy.test:2000") },
	{ "proxy-path", L("socks5h://proxy.test/x") },
};

/* From tests/unit/test_mx.c; one route per line. */
static const struct seed mx_static_seeds[] = {
	{ "host", L("mx.example.test") },
	{ "pref", L("mx.example.test:20") },
	{ "addrs", L("mx.example.test:5=192.0.2.1,2001:db8::1") },
	{ "bracketed", L("mx.example.test=[2001:db8::2]") },
	{ "idn", L("B\xc3\xbc" "cher.test=192.0.2.3") },
	{ "two", L("b.test:20=192.0.2.2\na.test:10=192.0.2.1") },
	{ "dup-addr", L("a.test:10=192.0.2.1\nb.test:10=192.0.2.1,"
	    "192.0.2.1") },
	{ "bad-pref", L("mx.test:70000") },
	{ "trailing-comma", L("mx.test=192.0.2.1,") },
	{ "eight", L("m.test=1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,"
	    "1.1.1.7,1.1.1.8,1.1.1.9") },
};

/*
 * DNS.
 */

#define NREC	8

struct pkt {
	uint16_t	 id;		/* fuzz_dns / fuzz_mx read options here */
	const char	*qname;		/* NULL: no question */
	int		 qtype;
	int		 rcode, ad, tc;
	const char	*ans[NREC];
	const char	*auth[NREC];
};

static uint8_t *
build(const struct pkt *s, size_t *len)
{
	ldns_pkt	*p = ldns_pkt_new();
	ldns_rr		*rr;
	uint8_t		*w = NULL;
	char		 q[300];
	size_t		 i;

	if (p == NULL)
		die("ldns_pkt_new");
	ldns_pkt_set_id(p, s->id);
	ldns_pkt_set_qr(p, 1);
	ldns_pkt_set_rd(p, 1);
	ldns_pkt_set_ra(p, 1);
	ldns_pkt_set_ad(p, s->ad);
	ldns_pkt_set_tc(p, s->tc);
	ldns_pkt_set_rcode(p, (uint8_t)s->rcode);
	if (s->qname != NULL) {
		(void)snprintf(q, sizeof(q), "%s IN %s", s->qname,
		    ldns_rr_descript((uint16_t)s->qtype)->_name);
		if (ldns_rr_new_question_frm_str(&rr, q, NULL, NULL) !=
		    LDNS_STATUS_OK) {
			(void)fprintf(stderr, "mkseeds: bad question %s\n", q);
			exit(1);
		}
		ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, rr);
	}
	for (i = 0; i < 2 * NREC; i++) {
		const char *t = i < NREC ? s->ans[i] : s->auth[i - NREC];

		if (t == NULL)
			continue;
		if (ldns_rr_new_frm_str(&rr, t, 3600, NULL, NULL) !=
		    LDNS_STATUS_OK) {
			(void)fprintf(stderr, "mkseeds: bad rr %s\n", t);
			exit(1);
		}
		ldns_pkt_push_rr(p, i < NREC ? LDNS_SECTION_ANSWER :
		    LDNS_SECTION_AUTHORITY, rr);
	}
	if (ldns_pkt2wire(&w, p, len) != LDNS_STATUS_OK)
		die("ldns_pkt2wire");
	ldns_pkt_free(p);
	return w;
}

#define SOA_T	"t. 600 IN SOA ns.t. h.t. 1 3600 600 86400 300"
#define SOA_E	"example.test. 600 IN SOA ns.example.test. h.example.test. " \
		"1 3600 600 86400 300"

/* From tests/unit/test_dns.c. */
static const struct {
	const char	*name;
	struct pkt	 pkt;
} dns_seeds[] = {
	{ "a", { 0x0000, "a.t.", 1, 0, 0, 0,
	    { "a.t. 300 IN A 192.0.2.1" }, { NULL } } },
	{ "a-ad-trusted", { 0x0001, "a.t.", 1, 0, 1, 0,
	    { "a.t. 300 IN A 192.0.2.1", "a.t. 100 IN A 192.0.2.2" },
	    { NULL } } },
	{ "aaaa", { 0x0100, "a.t.", 28, 0, 0, 0,
	    { "a.t. 60 IN AAAA 2001:db8::1" }, { NULL } } },
	{ "mx", { 0x0101, "t.", 15, 0, 1, 0,
	    { "t. 900 IN MX 10 MX1.Example.COM.", "t. 900 IN MX 20 mx2.t." },
	    { NULL } } },
	{ "mx-fixed-question", { 0x0000, "example.test.", 15, 0, 0, 0,
	    { "example.test. 900 IN MX 10 mx1.example.test." }, { NULL } } },
	{ "null-mx", { 0x0200, "t.", 15, 0, 0, 0, { "t. 900 IN MX 0 ." },
	    { NULL } } },
	{ "unsafe-mx", { 0x0300, "t.", 15, 0, 0, 0,
	    { "t. 900 IN MX 5 bad\\032na\\;me.t." }, { NULL } } },
	{ "txt", { 0x0400, "_mta-sts.t.", 16, 0, 0, 0,
	    { "_mta-sts.t. 300 IN TXT \"v=STSv1; \" \"id=2024\"" },
	    { NULL } } },
	{ "tlsa", { 0x0501, "_25._tcp.mx.t.", 52, 0, 1, 0,
	    { "_25._tcp.mx.t. 300 IN TLSA 3 1 1 "
	    "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20" },
	    { NULL } } },
	{ "nxdomain", { 0x0601, "no.t.", 1, LDNS_RCODE_NXDOMAIN, 1, 0,
	    { NULL }, { SOA_T } } },
	{ "nodata", { 0x0700, "a.t.", 28, 0, 0, 0, { NULL }, { SOA_T } } },
	{ "servfail", { 0x0800, "a.t.", 1, LDNS_RCODE_SERVFAIL, 0, 0,
	    { NULL }, { NULL } } },
	{ "refused", { 0x0900, "a.t.", 1, LDNS_RCODE_REFUSED, 0, 0,
	    { NULL }, { NULL } } },
	{ "tc", { 0x0a00, "a.t.", 1, 0, 0, 1, { NULL }, { NULL } } },
	{ "cname-chain", { 0x0b01, "www.t.", 1, 0, 1, 0,
	    { "www.t. 50 IN CNAME b.t.", "b.t. 500 IN CNAME A.t.",
	    "a.t. 300 IN A 192.0.2.7" }, { NULL } } },
	{ "cname-order", { 0x0c00, "www.t.", 1, 0, 0, 0,
	    { "a.t. 300 IN A 192.0.2.7", "www.t. 600 IN CNAME a.t." },
	    { NULL } } },
	{ "cname-no-soa", { 0x0d00, "www.t.", 1, 0, 0, 0,
	    { "www.t. 60 IN CNAME a.u." }, { NULL } } },
	{ "cname-nodata", { 0x0e00, "www.t.", 1, 0, 0, 0,
	    { "www.t. 900 IN CNAME a.t." }, { SOA_T } } },
	{ "cname-nxdomain", { 0x0f00, "www.t.", 1, LDNS_RCODE_NXDOMAIN, 0, 0,
	    { "www.t. 900 IN CNAME gone.t." }, { SOA_T } } },
	{ "cname-loop", { 0x1000, "x.t.", 1, 0, 0, 0,
	    { "x.t. 60 IN CNAME y.t.", "y.t. 60 IN CNAME x.t." },
	    { NULL } } },
	{ "cname-too-long", { 0x1104, "c1.t.", 1, 0, 0, 0,
	    { "c1.t. 60 IN CNAME c2.t.", "c2.t. 60 IN CNAME c3.t.",
	    "c3.t. 60 IN CNAME c4.t.", "c4.t. 60 IN A 192.0.2.4" },
	    { NULL } } },
	{ "cname-unsafe", { 0x1200, "w.t.", 1, 0, 0, 0,
	    { "w.t. 60 IN CNAME e\\010vil.t." }, { NULL } } },
	{ "cname-asked", { 0x1300, "www.t.", 5, 0, 0, 0,
	    { "www.t. 60 IN CNAME A.T." }, { NULL } } },
	{ "other-owners", { 0x1400, "a.t.", 1, 0, 0, 0,
	    { "evil.t. 60 IN A 192.0.2.66", "a.t. 60 CH A 192.0.2.67" },
	    { NULL } } },
	{ "ttl-top-bit", { 0x1500, "a.t.", 1, 0, 0, 0,
	    { "a.t. 2147483648 IN A 192.0.2.1" }, { NULL } } },
	{ "root-ns", { 0x1600, ".", 2, 0, 0, 0,
	    { ". 60 IN NS a.root-servers.net." }, { NULL } } },
	{ "ptr", { 0x1700, "1.2.0.192.in-addr.arpa.", 12, 0, 0, 0,
	    { "1.2.0.192.in-addr.arpa. 60 IN PTR mx.t." }, { NULL } } },
	{ "other-type", { 0x1800, "a.t.", 99, 0, 0, 0,
	    { "a.t. 60 IN SPF \"v=spf1 -all\"" }, { NULL } } },
	{ "no-question", { 0x1900, NULL, 0, 0, 0, 0,
	    { "a.t. 60 IN A 192.0.2.1" }, { NULL } } },
	{ "small-max", { 0x1a10, "a.t.", 16, 0, 0, 0,
	    { "a.t. 60 IN TXT \"0123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789\"",
	    "a.t. 60 IN TXT \"0123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789\"",
	    "a.t. 60 IN TXT \"0123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890123456789\"" },
	    { NULL } } },
};

/*
 * fuzz_mx inputs: length-prefixed messages; the MX answer for example.test
 * first, then A and AAAA answers for the usable hosts in plan order.
 */
#define MX_MSGS	8

static const struct {
	const char	*name;
	struct pkt	 pkt[MX_MSGS];
} mx_seeds[] = {
	{ "two-hosts", { { 0x0000, "example.test.", 15, 0, 0, 0,
	    { "example.test. 300 IN MX 20 mx2.example.test.",
	    "example.test. 300 IN MX 10 mx1.example.test." }, { NULL } },
	    { 1, "mx1.example.test.", 1, 0, 0, 0,
	    { "mx1.example.test. 300 IN A 192.0.2.10" }, { NULL } },
	    { 2, "mx1.example.test.", 28, 0, 0, 0,
	    { "mx1.example.test. 300 IN AAAA 2001:db8::10" }, { NULL } },
	    { 3, "mx2.example.test.", 1, 0, 0, 0,
	    { "mx2.example.test. 300 IN A 192.0.2.20",
	    "mx2.example.test. 300 IN A 192.0.2.21" }, { NULL } },
	    { 4, "mx2.example.test.", 28, 0, 0, 0, { NULL }, { SOA_E } } } },
	{ "null-mx", { { 0x0000, "example.test.", 15, 0, 0, 0,
	    { "example.test. 300 IN MX 0 ." }, { NULL } } } },
	{ "null-mx-mixed", { { 0x0000, "example.test.", 15, 0, 0, 0,
	    { "example.test. 300 IN MX 0 .",
	    "example.test. 300 IN MX 10 mx.example.test." }, { NULL } },
	    { 1, "mx.example.test.", 1, 0, 0, 0,
	    { "mx.example.test. 300 IN A 192.0.2.30" }, { NULL } } } },
	{ "nxdomain", { { 0x0000, "example.test.", 15, LDNS_RCODE_NXDOMAIN,
	    0, 0, { NULL }, { SOA_E } } } },
	{ "servfail", { { 0x0000, "example.test.", 15, LDNS_RCODE_SERVFAIL,
	    0, 0, { NULL }, { NULL } } } },
	{ "implicit", { { 0x0020, "example.test.", 15, 0, 1, 0,
	    { NULL }, { SOA_E } },
	    { 1, "example.test.", 1, 0, 1, 0,
	    { "example.test. 300 IN A 192.0.2.40" }, { NULL } },
	    { 2, "example.test.", 28, 0, 1, 0,
	    { "example.test. 300 IN AAAA 2001:db8::40" }, { NULL } } } },
	{ "cname", { { 0x0000, "example.test.", 15, 0, 0, 0,
	    { "example.test. 60 IN CNAME mail.example.test.",
	    "mail.example.test. 60 IN MX 5 mx.example.test." }, { NULL } },
	    { 1, "mx.example.test.", 1, 0, 0, 0,
	    { "mx.example.test. 60 IN CNAME real.example.test.",
	    "real.example.test. 60 IN A 192.0.2.50" }, { NULL } } } },
	{ "dups-bad-ignored", { { 0x0080, "example.test.", 15, 0, 0, 0,
	    { "example.test. 300 IN MX 10 mx.example.test.",
	    "example.test. 300 IN MX 5 MX.example.test.",
	    "example.test. 300 IN MX 20 bad_name.example.test.",
	    "example.test. 300 IN MX 20 -x.example.test.",
	    "example.test. 300 IN MX 30 mx1.example.test.",
	    "example.test. 300 IN MX 40 other.example.test." }, { NULL } },
	    { 1, "mx.example.test.", 1, 0, 0, 0,
	    { "mx.example.test. 300 IN A 192.0.2.1",
	    "mx.example.test. 300 IN A 192.0.2.60" }, { NULL } },
	    { 2, "mx.example.test.", 28, 0, 0, 0,
	    { "mx.example.test. 300 IN AAAA 2001:db8::1" }, { NULL } },
	    { 3, "other.example.test.", 1, 0, 0, 0,
	    { "other.example.test. 300 IN A 192.0.2.60" }, { NULL } },
	    { 4, "other.example.test.", 28, LDNS_RCODE_SERVFAIL, 0, 0,
	    { NULL }, { NULL } } } },
	{ "v6-only-prefer", { { 0x0005, "example.test.", 15, 0, 0, 0,
	    { "example.test. 300 IN MX 10 mx.example.test." }, { NULL } },
	    { 1, "mx.example.test.", 28, 0, 0, 0,
	    { "mx.example.test. 300 IN AAAA 2001:db8::70",
	    "mx.example.test. 300 IN AAAA ::1" }, { NULL } } } },
	{ "block-local", { { 0x0048, "example.test.", 15, 0, 0, 0,
	    { "example.test. 300 IN MX 10 mx.example.test." }, { NULL } },
	    { 1, "mx.example.test.", 1, 0, 0, 0,
	    { "mx.example.test. 300 IN A 127.0.0.1",
	    "mx.example.test. 300 IN A 10.1.2.3",
	    "mx.example.test. 300 IN A 192.0.2.80" }, { NULL } },
	    { 2, "mx.example.test.", 28, 0, 0, 0,
	    { "mx.example.test. 300 IN AAAA ::ffff:127.0.0.1" },
	    { NULL } } } },
	{ "shuffle", { { 0x0010, "example.test.", 15, 0, 0, 0,
	    { "example.test. 300 IN MX 10 a.example.test.",
	    "example.test. 300 IN MX 10 b.example.test.",
	    "example.test. 300 IN MX 10 c.example.test." }, { NULL } } } },
};

static void
mx_seed(size_t k)
{
	uint8_t	*out = NULL, *w;
	size_t	 n = 0, len, i;

	for (i = 0; i < MX_MSGS && mx_seeds[k].pkt[i].qname != NULL; i++) {
		w = build(&mx_seeds[k].pkt[i], &len);
		if ((out = realloc(out, n + 2 + len)) == NULL)
			die("realloc");
		out[n] = (uint8_t)(len >> 8);
		out[n + 1] = (uint8_t)len;
		memcpy(out + n + 2, w, len);
		n += 2 + len;
		free(w);
	}
	put("mx", mx_seeds[k].name, out, n);
	free(out);
}

/* From tests/unit/test_smtpd.c; byte 0 options, byte 1 chunk seed
 * (fuzz_smtpd.c): 0x02 STARTTLS, 0x04 AUTH, 0x08 AUTH in cleartext, 0x01
 * LMTP, 0x20 small limits. */
static const struct seed smtpd_seeds[] = {
	{ "data", L("\x00\x05" "EHLO c.test\r\nMAIL FROM:<a@b.test> "
	    "BODY=8BITMIME\r\nRCPT TO:<c@d.test>\r\nRCPT TO:<e@d.test>\r\n"
	    "DATA\r\nSubject: x\r\n\r\nhello\r\n..dot\r\n.\r\nQUIT\r\n") },
	{ "pipelined", L("\x00\x61" "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nRCPT TO:<e@d.test>\r\nDATA\r\nhello\r\n"
	    ".\r\nQUIT\r\n") },
	{ "params", L("\x00\x07" "EHLO c\r\nMAIL FROM: <a@b.test> RET=HDRS "
	    "ENVID=x+2By SIZE=100\r\nRCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;c@d.test\r\nDATA\r\nx\r\n.\r\n") },
	{ "errors", L("\x00\x09" "MAIL FROM:<a@b.test>\r\nEHLO c\r\n"
	    "RCPT TO:<c@d.test>\r\nMAIL FROM:a@b.test\r\nMAIL FROM:<a@b.test> "
	    "SIZE=99999999999\r\nMAIL FROM:<a@b.test> FOO=1\r\nVRFY x\r\n"
	    "NOOP\r\nHELP\r\nRSET\r\nBOGUS\r\n") },
	{ "smtputf8", L("\x00\x0b" "EHLO c\r\nMAIL FROM:<a@b.test> SMTPUTF8\r\n"
	    "RCPT TO:<jos\xc3\xa9@d.test>\r\nDATA\r\n\xc3\xa9\r\n.\r\n") },
	{ "bdat", L("\x00\x0d" "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nBDAT 5\r\nhello" "BDAT 4\r\n.ab\n"
	    "BDAT 0 LAST\r\nBDAT 3 LAST\r\nxyz") },
	{ "bdat-small", L("\x20\x0f" "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nBDAT 200 LAST\r\n0123456789") },
	{ "starttls", L("\x02\x11" "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.test>"
	    "\r\nEHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\nx\r\n.\r\n") },
	{ "starttls-injection", L("\x02\x13" "EHLO c\r\nSTARTTLS\r\n"
	    "MAIL FROM:<evil@b.test>\r\n") },
	{ "auth-plain", L("\x0c\x15" "EHLO c\r\nAUTH PLAIN AHUAd3Jvbmc=\r\n"
	    "AUTH PLAIN AHUAcw==\r\nAUTH PLAIN AHUAcw==\r\nMAIL FROM:<a@b.test>"
	    "\r\n") },
	{ "auth-login", L("\x0c\x17" "EHLO c\r\nAUTH LOGIN\r\ndQ==\r\ncw==\r\n") },
	{ "auth-cancel", L("\x0c\x19" "EHLO c\r\nAUTH PLAIN\r\n*\r\n"
	    "AUTH PLAIN !!!\r\nAUTH LOGIN dQ==\r\ncw==\r\n") },
	{ "auth-needs-tls", L("\x04\x1b" "EHLO c\r\nAUTH PLAIN AHUAcw==\r\n") },
	{ "lmtp-bdat", L("\x01\x1d" "LHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nRCPT TO:<e@d.test>\r\nDATA\r\nx\r\n.\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nBDAT 2 LAST\r\nab") },
	{ "limits", L("\x20\x1f" "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@d.test>"
	    "\r\nRCPT TO:<b@d.test>\r\nRCPT TO:<c@d.test>\r\nRCPT TO:<d@d.test>"
	    "\r\nDATA\r\n0123456789012345678901234567890123456789012345678901"
	    "234567890123456789012345678901234567890123456789\r\n.\r\n") },
	{ "smuggling", L("\x00\x21" "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nDATA\r\nx\n.\nMAIL FROM:<x@y>\r\n"
	    "x\r.\rRCPT TO:<z@y>\r\n.\r\n") },
	{ "smuggling-lf-dot-crlf", L("\x00\x27" "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nDATA\r\nx\n.\r\nMAIL FROM:<e@y.test>\r\n"
	    "RCPT TO:<c@d.test>\r\nDATA\r\ny\r.\r\n.\r\n") },
	{ "bare-lf", L("\x10\x23" "EHLO c\nMAIL FROM:<a@b.test>\n") },
	{ "long-line", L("\x20\x25" "NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nNOOP\r\n") },
};

/* From tests/unit/test_store.c; byte 0 picks the template (fuzz_store.c). */
static const struct seed store_seeds[] = {
	{ "plain", L("\x00" "bob@example.test") },
	{ "case", L("\x00" "Bob@Example.TEST") },
	{ "quoted", L("\x01" "\"a b\\\"c\"@x.test") },
	{ "quoted-at", L("\x00" "\"a@b\"@x.test") },
	{ "utf8", L("\x03" "j\xc3\xb6rg@b\xc3\xbc" "cher.test") },
	{ "slash", L("\x01" "a/b@x.test") },
	{ "dotdot", L("\x01" "a..b@x.test") },
	{ "dot-start", L("\x00" ".hidden@x.test") },
	{ "traversal", L("\x00" "x@../../etc") },
	{ "quoted-slash", L("\x04" "\"..\\/x\"@x.test") },
	{ "control", L("\x00" "a\x01b@x.test") },
	{ "empty-local", L("\x01" "@x.test") },
	{ "no-at", L("\x02" "postmaster") },
	{ "long", L("\x03" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.test") },
};

/* From tests/unit/test_smtpc.c; byte 0 options, byte 1 read seed and
 * BDAT chunk (fuzz_smtpc.c), then what the server sends. */
#define GREET	"220 mx.test ESMTP\r\n"
static const struct seed smtpc_seeds[] = {
	{ "plain", L("\x04\x3f" GREET "250 mx\r\n" "250 ok\r\n250 ok\r\n"
	    "550 5.1.1 no\r\n450 4.2.0 busy\r\n354 go\r\n250 2.0.0 done\r\n"
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"
	    "250 ok\r\n250 ok\r\n221 bye\r\n") },
	{ "pipelined", L("\x00\x10" GREET "250-mx\r\n250-PIPELINING\r\n"
	    "250-SIZE 100000\r\n250 ENHANCEDSTATUSCODES\r\n"
	    "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n250 ok\r\n"
	    "354 go\r\n250 2.0.0 queued\r\n"
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"
	    "250 ok\r\n250 ok\r\n") },
	{ "pipelined-mail-refused", L("\x00\x11" GREET "250-mx\r\n"
	    "250 PIPELINING\r\n550 5.7.1 no\r\n503 no\r\n503 no\r\n503 no\r\n"
	    "503 no\r\n") },
	{ "bdat", L("\x04\x10" GREET "250-mx\r\n250-CHUNKING\r\n250 SIZE\r\n"
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 2.0.0 all\r\n") },
	{ "bdat-pipelined", L("\x00\x3f" GREET "250-mx\r\n250-CHUNKING\r\n"
	    "250 PIPELINING\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
	    "250 ok\r\n250 ok\r\n554 5.6.0 no\r\n") },
	{ "lmtp", L("\x01\x12" "220 lmtp\r\n250-lmtp\r\n250 PIPELINING\r\n"
	    "250 ok\r\n250 ok\r\n450 no\r\n250 ok\r\n354 go\r\n250 a ok\r\n"
	    "452 4.2.2 full\r\n") },
	{ "auth-plain", L("\x44\x13" GREET "250-mx\r\n250 AUTH PLAIN LOGIN\r\n"
	    "235 2.7.0 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
	    "354 go\r\n250 ok\r\n") },
	{ "auth-login", L("\x64\x14" GREET "250-mx\r\n250 AUTH LOGIN\r\n"
	    "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n") },
	{ "auth-cram", L("\x84\x15" GREET "250-mx\r\n250 AUTH CRAM-MD5\r\n"
	    "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"
	    "235 ok\r\n") },
	{ "auth-cram-bad", L("\x84\x16" GREET "250-mx\r\n250 AUTH CRAM-MD5\r\n"
	    "334 !!not base64\r\n501 cancelled\r\n") },
	{ "auth-xoauth2", L("\xa4\x17" GREET "250-mx\r\n250 AUTH XOAUTH2\r\n"
	    "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n535 5.7.8 no\r\n") },
	{ "auth-auto", L("\x24\x18" GREET "250-mx\r\n250 AUTH=LOGIN PLAIN\r\n"
	    "535 5.7.8 bad\r\n") },
	{ "helo-fallback", L("\x04\x19" GREET "500 what\r\n250 old\r\n"
	    "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n") },
	{ "smtputf8", L("\x0c\x1a" GREET "250-mx\r\n250-SMTPUTF8\r\n"
	    "250 8BITMIME\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n"
	    "354 go\r\n250 ok\r\n") },
	{ "smtputf8-missing", L("\x08\x1b" GREET "250 mx\r\n250 ok\r\n") },
	{ "dsn", L("\x14\x1c" GREET "250-mx\r\n250 DSN\r\n250 ok\r\n"
	    "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n") },
	{ "size-limit", L("\x04\x1d" GREET "250-mx\r\n250 SIZE 10\r\n"
	    "250 ok\r\n") },
	{ "data-refused", L("\x04\x1e" GREET "250 mx\r\n250 ok\r\n250 ok\r\n"
	    "250 ok\r\n250 ok\r\n554 5.3.0 no data\r\n") },
	{ "greeting-421", L("\x00\x1f" "421 4.3.2 go away\r\n") },
	{ "garbage", L("\x00\x20" GREET "250 mx\r\nwhat?\r\n") },
	{ "multiline", L("\x00\x21" "220-mx.test\r\n220 ready\r\n"
	    "250-mx\r\n250-PIPELINING\r\n250 SIZE\r\n"
	    "250-2.1.0 a\r\n250 2.1.0 b\r\n") },
};

/* From tests/unit/test_mtasts.c; byte 0 picks the parser (fuzz_mtasts.c). */
static const struct seed mtasts_seeds[] = {
	{ "txt-blanks", L("\x00" "v=STSv1;id=abc ; ") },
	{ "txt-tabs", L("\x00" "v=STSv1\t;\tid=x1") },
	{ "txt-ext", L("\x00" "v=STSv1; id=A1; x-y.z_=v:/") },
	{ "txt-32", L("\x00" "v=STSv1; id=abcdefghijklmnopqrstuvwxyz012345") },
	{ "txt-two-ids", L("\x00" "v=STSv1; id=a; id=b") },
	{ "txt-v10", L("\x00" "v=STSv10; id=a") },
	{ "txt-empty-field", L("\x00" "v=STSv1;; id=a") },
	{ "txt-nul", L("\x00" "v=STSv1; id=a\0b") },
	{ "tlsrpt-two", L("\x01" "v=TLSRPTv1; rua=mailto:a@example.test,"
	    "https://r.example.test/v1") },
	{ "tlsrpt-blanks", L("\x01" "v=TLSRPTv1; rua=mailto:a@b.test , "
	    "mailto:c@d.test") },
	{ "tlsrpt-ext", L("\x01" "v=TLSRPTv1; x=1; rua=MAILTO:a@b.test") },
	{ "tlsrpt-norua", L("\x01" "v=TLSRPTv1;") },
	{ "policy-many", L("\x02" "version: STSv1\nmode: testing\n"
	    "mx: mx1.example.test\nmx: *.example.test\nmx: MX2.Example.Test.\n"
	    "max_age: 31557600\nx-key: value \xc3\xa9\n\n") },
	{ "policy-dup-mode", L("\x02" "version: STSv1\nmode: enforce\n"
	    "mode: none\nmx: a.test\nmax_age: 1\n") },
	{ "policy-bad-age", L("\x02" "version: STSv1\nmode: enforce\n"
	    "mx: a.test\nmax_age: 31557601\n") },
	{ "policy-bad-mx", L("\x02" "version: STSv1\nmode: enforce\n"
	    "mx: *.*.test\nmx: a..test\nmax_age: 60\n") },
	{ "policy-no-version", L("\x02" "mode: enforce\nversion: STSv1\n") },
};

/* TXT answers for fuzz_txt.c: ID bit 0 asks "_smtp._tls", bit 1 trusts
 * AD. */
#define STS_Q	"_mta-sts.example.test."
#define RPT_Q	"_smtp._tls.example.test."
static const struct {
	const char	*name;
	struct pkt	 pkt;
} txt_seeds[] = {
	{ "sts", { 0x0000, STS_Q, 16, 0, 0, 0,
	    { STS_Q " 300 IN TXT \"v=STSv1; id=20240101T000000\"" },
	    { NULL } } },
	{ "sts-split", { 0x0002, STS_Q, 16, 0, 1, 0,
	    { STS_Q " 300 IN TXT \"v=STSv1; \" \"id=abc\"" }, { NULL } } },
	{ "sts-other", { 0x0000, STS_Q, 16, 0, 0, 0,
	    { STS_Q " 300 IN TXT \"google-site-verification=x\"",
	    STS_Q " 300 IN TXT \"v=STSv1; id=abc\"" }, { NULL } } },
	{ "sts-two", { 0x0000, STS_Q, 16, 0, 0, 0,
	    { STS_Q " 300 IN TXT \"v=STSv1; id=abc\"",
	    STS_Q " 300 IN TXT \"v=STSv1; id=def\"" }, { NULL } } },
	{ "sts-bad", { 0x0000, STS_Q, 16, 0, 0, 0,
	    { STS_Q " 300 IN TXT \"v=STSv1; id=a-b\"" }, { NULL } } },
	{ "sts-v10", { 0x0000, STS_Q, 16, 0, 0, 0,
	    { STS_Q " 300 IN TXT \"v=STSv10; id=a\"",
	    STS_Q " 300 IN TXT \"v=STSv1;id=ok1\"" }, { NULL } } },
	{ "sts-cname", { 0x0000, STS_Q, 16, 0, 0, 0,
	    { STS_Q " 300 IN CNAME sts.example.net.",
	    "sts.example.net. 300 IN TXT \"v=STSv1; id=viaCNAME\"" },
	    { NULL } } },
	{ "sts-nxdomain", { 0x0000, STS_Q, 16, LDNS_RCODE_NXDOMAIN, 0, 0,
	    { NULL }, { SOA_E } } },
	{ "sts-servfail", { 0x0000, STS_Q, 16, LDNS_RCODE_SERVFAIL, 0, 0,
	    { NULL }, { NULL } } },
	{ "rpt", { 0x0001, RPT_Q, 16, 0, 0, 0,
	    { RPT_Q " 300 IN TXT \"v=TLSRPTv1; rua=mailto:tls@example.test,"
	    "https://r.example.test/x\"" }, { NULL } } },
	{ "rpt-two", { 0x0001, RPT_Q, 16, 0, 0, 0,
	    { RPT_Q " 300 IN TXT \"v=TLSRPTv1; rua=mailto:a@example.test\"",
	    RPT_Q " 300 IN TXT \"v=TLSRPTv1; rua=mailto:b@example.test\"" },
	    { NULL } } },
	{ "rpt-bad", { 0x0003, RPT_Q, 16, 0, 1, 0,
	    { RPT_Q " 300 IN TXT \"v=TLSRPTv1; rua=ftp://x\"" }, { NULL } } },
	{ "rpt-nodata", { 0x0001, RPT_Q, 16, 0, 0, 0, { NULL },
	    { SOA_E } } },
};

/*
 * DANE: TLSA answers for "_25._tcp.mx.dane.test" built from the
 * certificates of dane_certs.h (fuzz_dane.c: ID bit 0 trusts AD, bit 1
 * insecure address records, bit 2 port 465, bit 3 base alias.dane.test,
 * bits 4-5 the built-in chain: 0 leaf+intermediate, 1 with the root, 2
 * leaf alone, 3 an unrelated certificate).
 */
enum { C_LEAF, C_INTER, C_ROOT, C_OTHER };

static const struct {
	const unsigned char	*der;
	size_t			 len;
} certs[] = {
	{ cert_leaf, sizeof(cert_leaf) },
	{ cert_inter, sizeof(cert_inter) },
	{ cert_root, sizeof(cert_root) },
	{ cert_other, sizeof(cert_other) },
};

struct tlsa_rec {
	int	u, s, m, c;	/* c < 0: a digest of nothing we have */
};

static const struct {
	const char		*name;
	uint16_t		 id;
	int			 ad, rcode;
	const char		*qname;
	struct tlsa_rec		 r[4];
	size_t			 nr;
	int			 chain;	/* add the chain as segments */
} dane_seeds[] = {
	{ "ee-spki", 0x0001, 1, 0, NULL, { { 3, 1, 1, C_LEAF } }, 1, 0 },
	{ "ee-cert-sha512", 0x0001, 1, 0, NULL, { { 3, 0, 2, C_LEAF } }, 1, 0 },
	{ "ee-full", 0x0021, 1, 0, NULL, { { 3, 0, 0, C_LEAF } }, 1, 0 },
	{ "ta-inter", 0x0001, 1, 0, NULL, { { 2, 0, 1, C_INTER } }, 1, 0 },
	{ "ta-root-spki", 0x0011, 1, 0, NULL, { { 2, 1, 1, C_ROOT } }, 1, 0 },
	{ "ta-root-full-absent", 0x0001, 1, 0, NULL, { { 2, 0, 0, C_ROOT } },
	    1, 0 },
	{ "ta-digest-absent", 0x0001, 1, 0, NULL, { { 2, 0, 1, C_ROOT } },
	    1, 0 },
	{ "mixed", 0x0011, 1, 0, NULL, { { 0, 0, 1, C_ROOT },
	    { 1, 1, 1, C_LEAF }, { 3, 1, 1, -1 }, { 2, 1, 2, C_INTER } }, 4,
	    0 },
	{ "unusable-only", 0x0001, 1, 0, NULL, { { 1, 1, 1, C_LEAF },
	    { 3, 2, 1, C_LEAF } }, 2, 0 },
	{ "no-match", 0x0031, 1, 0, NULL, { { 3, 1, 1, C_LEAF },
	    { 2, 0, 1, C_INTER } }, 2, 0 },
	{ "insecure", 0x0000, 0, 0, NULL, { { 3, 1, 1, C_LEAF } }, 1, 0 },
	{ "insecure-addr", 0x0003, 1, 0, NULL, { { 3, 1, 1, C_LEAF } }, 1,
	    0 },
	{ "port-465", 0x0005, 1, 0, NULL, { { 3, 1, 1, C_LEAF } }, 1, 0 },
	{ "alias-base", 0x0009, 1, 0, NULL, { { 2, 0, 1, C_INTER } }, 1, 0 },
	{ "nxdomain", 0x0001, 1, LDNS_RCODE_NXDOMAIN, NULL, { { 0 } }, 0, 0 },
	{ "servfail", 0x0001, 0, LDNS_RCODE_SERVFAIL, NULL, { { 0 } }, 0, 0 },
	{ "chain-given", 0x0001, 1, 0, NULL, { { 2, 1, 1, C_INTER },
	    { 3, 1, 1, C_LEAF } }, 2, 1 },
	{ "chain-given-ta", 0x0001, 1, 0, NULL, { { 2, 0, 2, C_ROOT } }, 1,
	    1 },
};

static void
dane_seed(size_t k)
{
	struct pkt	 p;
	unsigned char	 d[1024];
	char		 rr[4][2400], hex[2100], qn[128];
	uint8_t		*w, *out;
	size_t		 i, n, len, olen;
	int		 port = (dane_seeds[k].id & 4) ? 465 : 25;

	(void)snprintf(qn, sizeof(qn), "_%d._tcp.%s.", port,
	    (dane_seeds[k].id & 8) ? "alias.dane.test" : "mx.dane.test");
	memset(&p, 0, sizeof(p));
	p.id = dane_seeds[k].id;
	p.qname = qn;
	p.qtype = 52;
	p.rcode = dane_seeds[k].rcode;
	p.ad = dane_seeds[k].ad;
	for (i = 0; i < dane_seeds[k].nr; i++) {
		const struct tlsa_rec *t = &dane_seeds[k].r[i];

		n = sizeof(d);
		if (t->c < 0) {
			memset(d, 0xab, 32);
			n = 32;
		} else if (mxk_dane_tlsa_data(certs[t->c].der, certs[t->c].len,
		    t->s > 1 ? 0 : t->s, t->m, d, &n) == -1) {
			(void)fprintf(stderr, "mkseeds: tlsa data\n");
			exit(1);
		}
		if (mxk_dane_hex(d, n, hex, sizeof(hex)) == -1) {
			(void)fprintf(stderr, "mkseeds: hex\n");
			exit(1);
		}
		(void)snprintf(rr[i], sizeof(rr[i]), "%s 300 IN TLSA %d %d %d %s",
		    qn, t->u, t->s, t->m, hex);
		p.ans[i] = rr[i];
	}
	if (dane_seeds[k].rcode == LDNS_RCODE_NXDOMAIN)
		p.auth[0] = "dane.test. 600 IN SOA ns.dane.test. h.dane.test. "
		    "1 3600 600 86400 300";
	w = build(&p, &len);
	olen = 2 + len;
	if (dane_seeds[k].chain)
		olen += 4 + certs[C_LEAF].len + certs[C_INTER].len;
	if ((out = malloc(olen)) == NULL)
		die("malloc");
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	memcpy(out + 2, w, len);
	n = 2 + len;
	if (dane_seeds[k].chain)
		for (i = C_LEAF; i <= C_INTER; i++) {
			out[n] = (uint8_t)(certs[i].len >> 8);
			out[n + 1] = (uint8_t)certs[i].len;
			memcpy(out + n + 2, certs[i].der, certs[i].len);
			n += 2 + certs[i].len;
		}
	put("dane", dane_seeds[k].name, out, n);
	free(out);
	free(w);
}

int
main(int argc, char **argv)
{
	uint8_t	*w;
	size_t	 i, len;

	if (argc != 2) {
		(void)fprintf(stderr, "usage: mkseeds DIR\n");
		return 64;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0777) == -1 && errno != EEXIST)
		die(outdir);
	PUT_ALL("addr", addr_seeds);
	PUT_ALL("reply", reply_seeds);
	PUT_ALL("ehlo", ehlo_seeds);
	PUT_ALL("smtpc_engine", smtpc_engine_seeds);
	PUT_ALL("json", json_seeds);
	PUT_ALL("net", net_seeds);
	PUT_ALL("mx_static", mx_static_seeds);
	for (i = 0; i < sizeof(dns_seeds) / sizeof(dns_seeds[0]); i++) {
		w = build(&dns_seeds[i].pkt, &len);
		put("dns", dns_seeds[i].name, w, len);
		free(w);
	}
	for (i = 0; i < sizeof(mx_seeds) / sizeof(mx_seeds[0]); i++)
		mx_seed(i);
	PUT_ALL("smtpd", smtpd_seeds);
	PUT_ALL("smtpc", smtpc_seeds);
	PUT_ALL("mtasts", mtasts_seeds);
	PUT_ALL("store", store_seeds);
	for (i = 0; i < sizeof(txt_seeds) / sizeof(txt_seeds[0]); i++) {
		w = build(&txt_seeds[i].pkt, &len);
		put("txt", txt_seeds[i].name, w, len);
		free(w);
	}
	for (i = 0; i < sizeof(dane_seeds) / sizeof(dane_seeds[0]); i++)
		dane_seed(i);
	return 0;
}
