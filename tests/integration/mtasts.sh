#!/bin/bash
# ISC license.
#
# mtasts-check in the test world: the MTA-STS scenarios of
# tests/world/zones/sts-*.test.zone with their policy hosts
# (tests/world/www/mta-sts.sts-*), the cache rules of RFC 8461 §3.1, §5.1
# and §10.2 with a zone changed at run time, parallel writers on one
# cache, --tls against STARTTLS servers, and every policy compared with
# postfix-mta-sts-resolver's mta-sts-query.  No timing assertions.

. "$(dirname "$0")/lib.sh"

MC="mtasts-check --timeout 20"
# fetches LOG: requests for the policy in a host's own access log.
fetches() {
	grep -c 'GET /.well-known/mta-sts.txt' "$WORLD_DIR/nginx/$1" 2>/dev/null ||
	    true
}

# ------------------------------------------------------------ usage

ce "usage: no domain" 64 mtasts-check
ce "usage: bad option" 64 mtasts-check --bogus sts-enforce.test
cm "usage: our error format" "^mtasts-check: error: unknown option --bogus" \
    mtasts-check --bogus sts-enforce.test
ce "usage: --jobs 0" 64 mtasts-check --jobs 0 sts-enforce.test
ce "usage: --jobs 65" 64 mtasts-check --jobs 65 sts-enforce.test
ce "usage: --timeout soon" 64 mtasts-check --timeout soon sts-enforce.test
ce "usage: --json -q" 64 mtasts-check --json -q sts-enforce.test
ce "usage: --no-cache --refresh" 64 mtasts-check --no-cache --refresh x.test
ce "usage: -f and domains" 64 mtasts-check -f - sts-enforce.test
cm "--help" "^usage: mtasts-check" mtasts-check --help
cm "--version" "^mtasts-check [0-9]" mtasts-check --version
ce "missing -f file: 66" 66 mtasts-check -f "$T_TMP/nonexistent"
ce "unreadable CA file: 66" 66 env SSL_CERT_FILE=/nonexistent mtasts-check \
    --no-cache sts-enforce.test

# ------------------------------------------------------------ scenarios
# scen NAME EXIT ERE DOMAIN [OPTION...]: a fresh cache each time.
n=0
scen() {
	local name=$1 want=$2 re=$3 dom=$4
	shift 4
	n=$((n + 1))
	ce "$name: exit $want" "$want" $MC --cache-dir "$T_TMP/s$n" "$@" "$dom"
	cm "$name: line" "$re" cat "$K"
}

scen "valid enforce" 0 \
    '^sts-enforce\.test ok mode=enforce id=enforce1 max_age=86400 mx=mx\.sts-enforce\.test source=fetch tlsrpt=valid$' \
    sts-enforce.test
scen "the world's signed.test" 0 \
    '^signed\.test ok mode=enforce id=20240101T000000 max_age=86400 mx=mx\.signed\.test source=fetch tlsrpt=valid$' \
    signed.test
scen "testing with a mismatch" 65 \
    '^sts-testing\.test mismatch mode=testing id=testing1 max_age=604800 mx=mx\.sts-testing\.test source=fetch tlsrpt=invalid reason=.*MX backup\.sts-testing\.test matches no mx pattern of the policy \(mode testing' \
    sts-testing.test
cm "testing: TLS-RPT reason" 'tlsrpt: _smtp\._tls\.sts-testing\.test: rua URI "ftp://' cat "$K"
scen "testing, --no-mx: no mismatch" 0 \
    '^sts-testing\.test ok mode=testing .* tlsrpt=invalid reason=tlsrpt: ' \
    sts-testing.test --no-mx
scen "wildcard" 0 \
    '^sts-wild\.test ok mode=enforce id=wild1 max_age=86400 mx=\*\.mx\.sts-wild\.test source=fetch tlsrpt=absent$' \
    sts-wild.test
scen "wildcard is one label" 65 \
    '^sts-wilddeep\.test mismatch mode=enforce .* reason=MX a\.b\.mx\.sts-wilddeep\.test matches no mx pattern of the policy \(mode enforce: mail to it fails\)' \
    sts-wilddeep.test
scen "redirect" 65 \
    '^sts-redirect\.test invalid mode=- id=- max_age=- mx=- source=- tlsrpt=absent reason=policy fetch: HTTP 301 redirect to https://mta-sts\.sts-enforce\.test/\.well-known/mta-sts\.txt not followed \(RFC 8461 §3\.3\)' \
    sts-redirect.test
scen "404" 65 \
    '^sts-404\.test invalid mode=- .* reason=policy fetch: HTTP status 404, not 200' \
    sts-404.test
scen "wrong Content-Type" 65 \
    '^sts-ctype\.test invalid .* reason=policy fetch: Content-Type "text/html" is not text/plain' \
    sts-ctype.test
scen "syntax error" 65 \
    '^sts-syntax\.test invalid .* reason=policy fetch: line 2: mode "strict" is not enforce, testing or none' \
    sts-syntax.test
scen "version not first" 65 \
    '^sts-noversion\.test invalid .* reason=policy fetch: line 1: the first field must be "version: STSv1", not "mode"' \
    sts-noversion.test
scen "max_age too large" 65 \
    '^sts-maxage\.test invalid .* reason=policy fetch: line 4: max_age 31557601 is above 31557600' \
    sts-maxage.test
scen "untrusted CA" 65 \
    '^sts-untrusted\.test invalid .* reason=policy fetch: certificate of mta-sts\.sts-untrusted\.test not valid' \
    sts-untrusted.test
scen "wrong name" 65 \
    '^sts-badname\.test invalid .* reason=policy fetch: certificate of mta-sts\.sts-badname\.test not valid: .*mta-sts\.elsewhere\.example\.test' \
    sts-badname.test
scen "no policy host" 65 \
    '^sts-nohost\.test invalid .* reason=policy fetch: mta-sts\.sts-nohost\.test: no address' \
    sts-nohost.test
scen "TXT missing" 0 \
    '^sts-notxt\.test none mode=- id=- max_age=- mx=- source=- tlsrpt=absent reason=_mta-sts\.sts-notxt\.test: no such name \(NXDOMAIN\); no policy$' \
    sts-notxt.test
scen "TXT missing, --require" 65 \
    '^sts-notxt\.test none mode=- .* reason=_mta-sts\.sts-notxt\.test: no such name \(NXDOMAIN\); no policy' \
    sts-notxt.test --require
scen "TXT doubled" 65 \
    '^sts-double\.test invalid mode=- .* reason=_mta-sts\.sts-double\.test: 2 TXT records begin with v=STSv1' \
    sts-double.test
scen "TXT bad id" 65 \
    '^sts-badid\.test invalid mode=- .* reason=_mta-sts\.sts-badid\.test: id "2024-01-01" has characters other than letters and digits' \
    sts-badid.test
scen "mode none" 0 \
    '^sts-none\.test ok mode=none id=none1 max_age=86400 mx=- source=fetch tlsrpt=absent$' \
    sts-none.test
scen "mode none, --require" 65 \
    '^sts-none\.test ok mode=none .* reason=.*--require: the policy.s mode is none' \
    sts-none.test --require
scen "no such domain" 68 \
    '^nosuch\.test none .* reason=.*nosuch\.test: no such domain \(NXDOMAIN\)' \
    nosuch.test
scen "null MX" 68 '^nullmx\.test none .* reason=.*null MX' nullmx.test
scen "bogus DNSSEC: unreachable" 75 \
    '^bogus\.test unreachable mode=- .* reason=_mta-sts\.bogus\.test: lookup failed: servfail' \
    bogus.test

# The size limit: 65536 bytes pass, 66560 do not (the transfer stops).
W=$WORLD_DIR/www
mkdir -p "$W/mta-sts.sts-64k.test/.well-known" "$W/mta-sts.sts-big.test/.well-known"
pad() {
	local size=$1 head
	head=$(printf 'version: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 86400\n' "$2")
	{
		printf '%s\n' "$head"
		# An unknown key carries the padding (ignored by parsers).
		printf 'padding: '
		head -c $((size - ${#head} - 1 - 9 - 1)) /dev/zero | tr '\0' x
		printf '\n'
	} >"$3"
}
pad 65536 sts-64k.test "$W/mta-sts.sts-64k.test/.well-known/mta-sts.txt"
pad 66560 sts-big.test "$W/mta-sts.sts-big.test/.well-known/mta-sts.txt"
mkdir -p "$W/mta-sts.sts-chunked.test/.well-known"
pad 66560 sts-chunked.test "$W/mta-sts.sts-chunked.test/.well-known/mta-sts.txt"
if [ "$(wc -c <"$W/mta-sts.sts-64k.test/.well-known/mta-sts.txt")" -eq 65536 ] &&
    [ "$(wc -c <"$W/mta-sts.sts-big.test/.well-known/mta-sts.txt")" -eq 66560 ]; then
	ok "policy sizes 65536 and 66560"
else
	fail "policy sizes" "$(wc -c "$W"/mta-sts.sts-*k*.test/.well-known/mta-sts.txt)"
fi
scen "64 KiB policy" 0 \
    '^sts-64k\.test ok mode=enforce id=k64 max_age=86400 mx=mx\.sts-64k\.test source=fetch' \
    sts-64k.test
scen "65 KiB policy" 65 \
    '^sts-big\.test invalid .* reason=policy fetch: the policy is larger than 65536 bytes' \
    sts-big.test
scen "65 KiB policy without Content-Length" 65 \
    '^sts-chunked\.test invalid .* reason=policy fetch: the policy is larger than 65536 bytes \(transfer aborted\)' \
    sts-chunked.test
if grep -qi 'transfer-encoding: chunked' <(curl -sS -D - -o /dev/null \
    https://mta-sts.sts-chunked.test/.well-known/mta-sts.txt 2>&1); then
	ok "sts-chunked.test is served chunked"
else
	fail "sts-chunked.test" "not served chunked: the test would not test the reading limit"
fi

# ------------------------------------------------------------ output forms

C1=$T_TMP/c-out
ce "cache filled" 0 $MC --cache-dir "$C1" sts-enforce.test
ce "second run: from the cache" 0 $MC --cache-dir "$C1" sts-enforce.test
cm "second run: source=cache" '^sts-enforce\.test ok .* source=cache tlsrpt=valid$' cat "$K"
ce "-q: nothing to say" 0 $MC -q --cache-dir "$C1" sts-enforce.test sts-notxt.test
if [ -s "$K" ]; then fail "-q silent" "printed: $(head -n 2 "$K")"; else ok "-q silent"; fi
ce "-q: problems only" 65 $MC -q --cache-dir "$C1" sts-enforce.test sts-testing.test sts-notxt.test
cm "-q: the problem" '^sts-testing\.test mismatch ' cat "$K"
if [ "$(wc -l <"$K")" -eq 1 ]; then ok "-q: one line"; else fail "-q: one line" "$(cat "$K")"; fi

ce "--json" 65 $MC --json --cache-dir "$T_TMP/c-json" sts-enforce.test sts-testing.test sts-redirect.test nosuch.test bad..name.test
if /usr/bin/python3 - "$K" <<'PYEOF' 2>"$T_TMP/json.err"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert [o["domain"] for o in objs] == ["sts-enforce.test", "sts-testing.test",
    "sts-redirect.test", "nosuch.test", "bad..name.test"], objs
e, t, r, n, b = objs
# Every object has every member ("members without a value are null").
assert all(set(o) == set(e) for o in objs), [sorted(set(e) ^ set(o)) for o in objs]
assert b["status"] == "invalid" and b["fetch"] is None and b["http_status"] is None, b
assert n["http_status"] is None, n
assert e["status"] == "ok" and e["exit"] == 0 and e["mode"] == "enforce", e
assert e["id"] == "enforce1" and e["max_age"] == 86400 and e["mx"] == ["mx.sts-enforce.test"], e
assert e["source"] == "fetch" and e["stored"] is True and e["http_status"] == 200, e
assert e["tlsrpt"] == "valid" and e["tlsrpt_rua"] == ["mailto:tlsrpt@sts-enforce.test",
    "https://tlsrpt.sts-enforce.test/v1"], e
assert e["mx_hosts"] == [{"host": "mx.sts-enforce.test", "match": True}], e
assert t["status"] == "mismatch" and t["exit"] == 65 and t["tlsrpt"] == "invalid", t
assert {h["host"]: h["match"] for h in t["mx_hosts"]} == {
    "mx.sts-testing.test": True, "backup.sts-testing.test": False}, t
assert r["status"] == "invalid" and r["fetch"] == "invalid" and r["http_status"] == 301, r
assert r["mode"] is None and r["mx"] == [], r
assert n["status"] == "none" and n["exit"] == 68 and n["txt"] == "absent", n
PYEOF
then
	ok "--json: fields"
else
	fail "--json" "$(tail -n 3 "$T_TMP/json.err")"
fi

# Exit codes over several domains: 65 before 68 before 75 before 0.
ce "exit: 68 and 0" 68 $MC --no-cache sts-enforce.test nosuch.test
ce "exit: 75 and 0" 75 $MC --no-cache sts-enforce.test bogus.test
ce "exit: 65, 68, 75" 65 $MC --no-cache bogus.test nosuch.test sts-404.test
ce "invalid domain argument: 65" 65 $MC --no-cache 'bad..name.test'
cm "invalid domain line" '^bad\.\.name\.test invalid .* reason=not a domain name' cat "$K"
ce "standard output on a full disk: 74, it comes first" 74 bash -c "$MC --no-cache --json 'bad..name.test' >/dev/full"
cm "standard output on a full disk: says so" 'error: writing standard output' cat "$K"

# -f FILE, -f -, --jobs: the same lines as one domain at a time.
ALL="sts-enforce.test sts-testing.test sts-wild.test sts-wilddeep.test
sts-redirect.test sts-404.test sts-ctype.test sts-syntax.test sts-untrusted.test
sts-badname.test sts-notxt.test sts-double.test sts-badid.test sts-none.test
sts-noversion.test sts-nohost.test sts-maxage.test sts-64k.test sts-big.test
nosuch.test signed.test"
: >"$T_TMP/one-by-one"
for d in $ALL; do
	$MC --no-cache "$d" >>"$T_TMP/one-by-one" 2>/dev/null
done
{
	echo "# MTA-STS domains of the test world"
	for d in $ALL; do printf '  %s   # scenario\n\n' "$d"; done
} >"$T_TMP/list"
[ "$(wc -l <"$T_TMP/one-by-one")" -eq "$(echo $ALL | wc -w)" ] &&
    ok "one line per domain" || fail "one line per domain" "$(wc -l <"$T_TMP/one-by-one")"
ce "-f FILE: worst exit" 65 $MC --no-cache -f "$T_TMP/list"
check "-f FILE: same lines as one by one" cmp "$K" "$T_TMP/one-by-one"
ce "-f - --jobs 3" 65 sh -c "$MC --no-cache --jobs 3 -f - <'$T_TMP/list'"
check "--jobs 3: same lines" cmp "$K" "$T_TMP/one-by-one"
ce "--jobs 64" 65 $MC --no-cache --jobs 64 -f "$T_TMP/list"
check "--jobs 64: same lines" cmp "$K" "$T_TMP/one-by-one"
ce "--jobs 1" 65 $MC --no-cache --jobs 1 -f "$T_TMP/list"
check "--jobs 1: same lines" cmp "$K" "$T_TMP/one-by-one"

# The trust store: --cafile, $SSL_CERT_FILE, and a store without the CA.
ce "--cafile" 0 env SSL_CERT_FILE=/nonexistent $MC --no-cache \
    --cafile "$SSL_CERT_FILE" sts-enforce.test
ce "a trust store without the world CA" 65 env \
    SSL_CERT_FILE="$WORLD_DIR/certs/https-mta-sts.sts-untrusted.test.crt" \
    $MC --no-cache sts-enforce.test
cm "... refuses the policy host" 'certificate of mta-sts\.sts-enforce\.test not valid' cat "$K"

# The User-Agent.
if grep -q '"mxkit/[0-9][^"]*"$' "$WORLD_DIR/nginx/access.log"; then
	ok "User-Agent mxkit/VERSION"
else
	fail "User-Agent" "$(tail -n 2 "$WORLD_DIR/nginx/access.log")"
fi

# ------------------------------------------------------------ --tls

C=$WORLD_DIR/certs
world_cert mx.sts-enforce.test mx.sts-enforce.test >/dev/null 2>&1 &&
    world_cert mx.sts-tlsbad.test mx.elsewhere.example.test >/dev/null 2>&1 ||
    fail tls-certs "cannot issue the MX certificates"
{
	echo "198.51.100.10 25 --cert $C/mx.sts-enforce.test.chain.pem --key $C/mx.sts-enforce.test.key --hostname mx.sts-enforce.test"
	echo "198.51.100.44 25 --cert $C/mx.sts-tlsbad.test.chain.pem --key $C/mx.sts-tlsbad.test.key --hostname mx.sts-tlsbad.test"
	echo "198.51.100.15 25 --hostname a.mx.sts-wild.test --no-starttls"
} >"$T_TMP/smtpd.table"
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/smtpd.py" \
    --table "$T_TMP/smtpd.table" --log "$WORLD_DIR/peers/mtasts-smtpd.log" \
    --idle 20 >"$WORLD_DIR/peers/mtasts-smtpd.out" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" smtpd.py $!
wait_port 198.51.100.44 25 10 || fail tls-peers "smtpd.py did not start"

ce "--tls: verified" 0 $MC --no-cache --tls sts-enforce.test
cm "--tls: ok line" '^sts-enforce\.test ok mode=enforce ' cat "$K"
ce "--tls --json" 0 $MC --no-cache --tls --json sts-enforce.test
cm "--tls: Verified" '"host":"mx\.sts-enforce\.test","match":true,"tls":"Verified","tls_ok":true' cat "$K"
ce "--tls: wrong certificate name" 65 $MC --no-cache --tls sts-tlsbad.test
cm "--tls: mismatch line" '^sts-tlsbad\.test mismatch mode=enforce .* reason=tls mx\.sts-tlsbad\.test: mx\.sts-tlsbad\.test: certificate (Trusted|Untrusted)' cat "$K"
ce "--tls: no STARTTLS, and no listener" 65 $MC --no-cache --tls sts-wild.test
cm "--tls: no STARTTLS" 'tls a\.mx\.sts-wild\.test: a\.mx\.sts-wild\.test: no TLS session' cat "$K"
cm "--tls: unreachable MX" 'tls b\.mx\.sts-wild\.test: not reachable' cat "$K"
# A temporary refusal of STARTTLS (454, RFC 3207) is no policy mismatch:
# the MX could not be judged, as when it is down.
world_cert b.mx.sts-wild.test b.mx.sts-wild.test >/dev/null 2>&1 || fail tls-certs "b.mx.sts-wild.test"
nsenter --net="$WORLD_DIR/inet.ns" "$T_ROOT/bin/smtpd-lite" -l 198.51.100.16:25 --discard \
    --cert "$C/b.mx.sts-wild.test.chain.pem" --key "$C/b.mx.sts-wild.test.key" \
    --reply 'STARTTLS=454:4.7.0 TLS not available for now' >"$WORLD_DIR/peers/mtasts-lite.log" 2>&1 </dev/null &
lite_pid=$!
world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $lite_pid
wait_port 198.51.100.16 25 5 || fail tls-peers "smtpd-lite on 198.51.100.16"
ce "--tls: STARTTLS 454 on one MX" 65 $MC --no-cache --tls sts-wild.test
cm "--tls: 454 is not reachable, for now" 'tls b\.mx\.sts-wild\.test: not reachable: .*STARTTLS was refused: 454' cat "$K"
cm "--tls: the MX without STARTTLS still a mismatch" 'tls a\.mx\.sts-wild\.test: a\.mx\.sts-wild\.test: no TLS session' cat "$K"
kill "$lite_pid" 2>/dev/null
wait "$lite_pid" 2>/dev/null
ce "--tls --no-mx: usage" 64 $MC --tls --no-mx sts-enforce.test

# ------------------------------------------------------------ the cache rules
# sts-change.test is changed at run time: its zone copy (re-signed, nsd
# reloaded; queried at nsd itself, since unbound caches for 300 s) and its
# policy file.  Fetches are counted in the host's own nginx log.

CH=$T_TMP/change
MCH="$MC --cache-dir $CH --resolver $NS_V4"
ZF=$WORLD_DIR/zones/sts-change.test.zone
PF=$W/mta-sts.sts-change.test/.well-known/mta-sts.txt
LOG=mta-sts.sts-change.test.access.log

ce "change: first fetch" 0 $MCH sts-change.test
cm "change: policy 1" '^sts-change\.test ok mode=enforce id=change1 max_age=86400 mx=mx\.sts-change\.test source=fetch ' cat "$K"
[ "$(fetches $LOG)" -eq 1 ] && ok "change: one fetch" || fail "change: one fetch" "$(fetches $LOG)"
ce "change: unchanged id" 0 $MCH sts-change.test
cm "change: from the cache" '^sts-change\.test ok mode=enforce id=change1 .* source=cache ' cat "$K"
ce "change: --refresh, far from expiry" 0 $MCH --refresh sts-change.test
cm "change: --refresh keeps the cache" ' source=cache ' cat "$K"
[ "$(fetches $LOG)" -eq 1 ] && ok "change: unchanged id, no refetch" ||
    fail "change: unchanged id, no refetch" "$(fetches $LOG) fetches"

# A new id and a new policy: refetched, "changed".
printf 'version: STSv1\nmode: enforce\nmx: mx.sts-change.test\nmx: mx2.sts-change.test\nmax_age: 86400\n' >"$PF"
sed -i 's/id=change1/id=change2/' "$ZF"
check "change: zone reloaded (id change2)" world_zone_reload sts-change.test
ce "change: new id" 0 $MCH sts-change.test
cm "change: changed line" '^sts-change\.test changed mode=enforce id=change2 max_age=86400 mx=mx\.sts-change\.test,mx2\.sts-change\.test source=fetch tlsrpt=absent reason=a new policy replaces the cached one \(id change2, was change1\)' cat "$K"
[ "$(fetches $LOG)" -eq 2 ] && ok "change: refetched" || fail "change: refetched" "$(fetches $LOG)"
ce "change: then cached" 0 $MCH sts-change.test
cm "change: cached change2" '^sts-change\.test ok mode=enforce id=change2 .* source=cache' cat "$K"

# A failed refresh keeps the cached policy: first an invalid one (404).
mv "$PF" "$PF.saved"
sed -i 's/id=change2/id=change3/' "$ZF"
check "change: zone reloaded (id change3)" world_zone_reload sts-change.test
ce "change: refresh gives 404" 65 $MCH sts-change.test
cm "change: 404, cached policy kept" '^sts-change\.test invalid mode=enforce id=change2 max_age=86400 mx=mx\.sts-change\.test,mx2\.sts-change\.test source=cache .*reason=policy fetch: HTTP status 404.*the cached policy stays in force' cat "$K"
[ "$(fetches $LOG)" -eq 3 ] && ok "change: the fetch was tried" || fail "change: fetch tried" "$(fetches $LOG)"
# ... then a 503, the host's trouble for now: the cached policy kept, and
# that is fine (exit 0), as when the host is down.
touch "$W/mta-sts.sts-change.test/.well-known/fail503"
ce "change: refresh gives 503" 0 $MCH sts-change.test
cm "change: 503, cached policy kept" '^sts-change\.test ok mode=enforce id=change2 .* source=cache .*reason=policy fetch: HTTP status 503.*the cached policy stays in force' cat "$K"
rm -f "$W/mta-sts.sts-change.test/.well-known/fail503"
# ... then the policy host down (nginx stopped).
world_pids_stop "$WORLD_DIR/pids" nginx
ce "change: policy host down" 0 $MCH sts-change.test
cm "change: unreachable, cached policy kept" '^sts-change\.test ok mode=enforce id=change2 .* source=cache .*reason=policy fetch: .*(connect|Connection refused).*the cached policy stays in force' cat "$K"
check "change: nginx back" world_nginx
mv "$PF.saved" "$PF"
check "change: cache file intact" grep -qx 'id: change2' "$CH/sts-change.test"

# The TXT record vanishes, and a new MX appears (what a DNS attacker would
# do): the cached enforce policy stays in force and the rogue MX fails.
sed -i -e '/_mta-sts/d' "$ZF"
echo "@ IN MX 20 rogue.sts-change.test." >>"$ZF"
echo "rogue.sts-change.test. IN A 198.51.100.55" >>"$ZF"
check "change: zone reloaded (no TXT, rogue MX)" world_zone_reload sts-change.test
ce "change: TXT gone" 65 $MCH sts-change.test
cm "change: still enforcing" '^sts-change\.test mismatch mode=enforce id=change2 .* source=cache .*reason=_mta-sts\.sts-change\.test: no (TXT record|such name).*the cached policy stays in force.*MX rogue\.sts-change\.test matches no mx pattern of the policy \(mode enforce: mail to it fails\)' cat "$K"
ce "change: TXT gone, --no-cache: none" 0 $MC --no-cache --resolver "$NS_V4" sts-change.test
cm "change: --no-cache sees no policy" '^sts-change\.test none mode=- ' cat "$K"
# DNS failing altogether: the cached policy stays in force.
ce "change: DNS failing" 0 $MC --cache-dir "$CH" --resolver "$REFUSE_V4" --timeout 5 sts-change.test
cm "change: DNS failing, still enforcing" '^sts-change\.test ok mode=enforce id=change2 .* source=cache .*reason=_mta-sts\.sts-change\.test: lookup failed.*stays in force.*MX lookup failed' cat "$K"
ce "change: DNS failing, no cache: 75" 75 $MC --no-cache --resolver "$REFUSE_V4" --timeout 5 sts-change.test
cm "change: unreachable" '^sts-change\.test unreachable mode=- ' cat "$K"
[ "$(fetches $LOG)" -eq 4 ] && ok "change: no fetch without a TXT record" ||
    fail "change: fetches" "$(fetches $LOG)"

# ------------------------------------------------------------ parallel writers
# max_age 0: every run fetches and replaces the cache file.  20 writers at
# once on one directory, and a reader that checks each file it sees.

PAR=$T_TMP/par
mkdir -m 0700 "$PAR"
ZLOG=mta-sts.sts-zero.test.access.log
before=$(fetches $ZLOG)
rm -f "$T_TMP/par.done"
/usr/bin/python3 - "$PAR/sts-zero.test" "$W/mta-sts.sts-zero.test/.well-known/mta-sts.txt" \
    "$T_TMP/par.done" >"$T_TMP/par.reader" 2>&1 <<'PYEOF' &
import os, sys
path, want, done = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
seen = torn = 0
for i in range(20000):
    if os.path.exists(done) and i > 0:
        break
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        continue
    seen += 1
    head, sep, body = data.partition(b"\n\n")
    fields = dict(l.split(b": ", 1) for l in head.split(b"\n")[1:] if b": " in l)
    if (not sep or not head.startswith(b"mxkit-mta-sts 1\n") or body != want
            or int(fields.get(b"length", b"-1")) != len(body)):
        torn += 1
print("seen %d torn %d" % (seen, torn))
PYEOF
reader=$!
pids=
for i in $(seq 1 20); do
	$MC --json --cache-dir "$PAR" sts-zero.test >"$T_TMP/par.$i" 2>"$T_TMP/par.$i.err" &
	pids="$pids $!"
done
bad=0
for p in $pids; do
	wait "$p" || bad=$((bad + 1))
done
touch "$T_TMP/par.done"
wait "$reader"
[ "$bad" -eq 0 ] && ok "parallel: 20 writers exit 0" || fail "parallel" "$bad writers failed"
stored=$(cat "$T_TMP"/par.[0-9]* | grep -c '"stored":true')
[ "$stored" -eq 20 ] && ok "parallel: 20 stored" || fail "parallel: stored" "$stored of 20"
[ $(($(fetches $ZLOG) - before)) -eq 20 ] && ok "parallel: 20 fetches" ||
    fail "parallel: fetches" "$(($(fetches $ZLOG) - before))"
if grep -q 'ignored\|error' "$T_TMP"/par.*.err; then
	fail "parallel: no cache error" "$(cat "$T_TMP"/par.*.err | head -n 3)"
else
	ok "parallel: no cache error"
fi
cm "parallel: the reader saw whole files only" '^seen [1-9][0-9]* torn 0$' cat "$T_TMP/par.reader"
left=$(find "$PAR" -name '.*' -type f | wc -l)
[ "$left" -eq 0 ] && ok "parallel: no temporary file left" || fail "parallel: temporary files" "$left"
cm "parallel: final file" '^length: 2161$' cat "$PAR/sts-zero.test"

# A writer killed before its rename leaves .DOMAIN.XXXXXX: the next writer
# removes those older than an hour, and leaves a fresh one alone.
echo junk >"$PAR/.sts-zero.test.Ab12Cd"
echo junk >"$PAR/.sts-zero.test.Fresh1"
touch -d '-2 hours' "$PAR/.sts-zero.test.Ab12Cd"
ce "stale temp files: a run" 0 $MC --cache-dir "$PAR" sts-zero.test
[ ! -e "$PAR/.sts-zero.test.Ab12Cd" ] && ok "stale temp file removed" ||
    fail "stale temp file removed" "still there"
[ -e "$PAR/.sts-zero.test.Fresh1" ] && ok "fresh temp file kept" ||
    fail "fresh temp file kept" "removed"

# ------------------------------------------------------------ mta-sts-query
# postfix-mta-sts-resolver (Python, aiohttp: OpenSSL's default store, which
# honours SSL_CERT_FILE, here the world's CA) on the same domains.  Both
# results are reduced to VALID id mode max_age mx, NONE or FETCH_ERROR.
# Known differences, checked as such: it does not check the id syntax
# (sts-badid.test) nor that version comes first (sts-noversion.test).

MSQ=/usr/bin/mta-sts-query
canon() {
	/usr/bin/python3 -c '
import ast, json, re, sys
kind, text = sys.argv[1], sys.argv[2]
if kind == "theirs":
    m = re.match(r"\(<STSFetchResult\.(\w+): \d+>, (.*)\)\s*$", text, re.S)
    if not m:
        print("UNPARSABLE " + text.strip()[:80]); sys.exit()
    if m.group(1) != "VALID":
        print(m.group(1)); sys.exit()
    ident, pol = ast.literal_eval(m.group(2))
    print("VALID id=%s mode=%s max_age=%s mx=%s" % (ident, pol["mode"],
        pol["max_age"], ",".join(sorted(pol.get("mx", [])))))
else:
    o = json.loads(text)
    if o["txt"] == "tempfail":
        print("FETCH_ERROR")
    elif o["txt"] != "found":
        print("NONE")
    elif o["fetch"] in ("invalid", "tempfail"):
        print("FETCH_ERROR")
    else:
        print("VALID id=%s mode=%s max_age=%s mx=%s" % (o["id"], o["mode"],
            o["max_age"], ",".join(sorted(o["mx"]))))
' "$1" "$2"
}
if [ ! -x "$MSQ" ]; then
	fail mta-sts-query "not installed (scripts/deps installs postfix-mta-sts-resolver)"
else
	for d in $ALL sts-zero.test bogus.test; do
		t=$(canon theirs "$(timeout 30 "$MSQ" "$d" 2>/dev/null)")
		o=$(canon ours "$($MC --no-cache --no-mx --json "$d" 2>/dev/null)")
		case $d in
		sts-badid.test)
			exp_t="VALID id=2024-01-01 mode=enforce max_age=86400 mx=mx.sts-badid.test"
			exp_o="NONE" ;;
		sts-noversion.test)
			exp_t="VALID id=nover1 mode=enforce max_age=86400 mx=mx.sts-noversion.test"
			exp_o="FETCH_ERROR" ;;
		*)
			exp_t=$o exp_o=$t ;;
		esac
		if [ "$t" = "$exp_t" ] && [ "$o" = "$exp_o" ]; then
			ok "mta-sts-query agrees on $d: $o"
		else
			fail "mta-sts-query $d" "theirs: $t; ours: $o"
		fi
	done
	# The comparison is honest only if both trust the same store: without
	# the world's CA mta-sts-query fails too.
	t=$(canon theirs "$(env SSL_CERT_FILE="$WORLD_DIR/certs/https-mta-sts.sts-untrusted.test.crt" \
	    timeout 30 "$MSQ" sts-enforce.test 2>/dev/null)")
	[ "$t" = FETCH_ERROR ] && ok "mta-sts-query uses SSL_CERT_FILE" ||
	    fail "mta-sts-query trust store" "without the world CA: $t"
	# Its known id: NOT_CHANGED, and our cache says the same.
	t=$(timeout 30 "$MSQ" sts-enforce.test enforce1 2>/dev/null)
	case $t in
	*NOT_CHANGED*) ok "mta-sts-query: known id not changed" ;;
	*) fail "mta-sts-query known id" "$t" ;;
	esac
fi

finish
