#!/bin/bash
# ISC license.
#
# MTA-STS enforcement (RFC 8461 §4, §5) by smtpsend and mxconnect
# --starttls in the test world: policies served by nginx, MX hosts served
# by tests/world/smtpd.py, the cache shared with mtasts-check.  Zones:
# sts-send.test (enforce; the preferred MX matches no pattern),
# sts-sendtest.test (testing; no STARTTLS), sts-enforce.test and
# sts-tlsbad.test (enforce; a good and a wrongly named certificate).
# No timing assertions.

. "$(dirname "$0")/lib.sh"

C=$WORLD_DIR/certs
S=$T_ROOT/bin/smtpsend
D=$T_TMP/dump
LOG=$WORLD_DIR/peers/sts-smtpd.log
mkdir -p "$D" "$WORLD_DIR/peers"
# connects ADDR: sessions smtpd.py saw on ADDR:25 so far.
connects() { grep -c "^[^ ]* *$1:25 .* connect" "$LOG" 2>/dev/null || true; }
msg() { printf 'From: me@example.test\nSubject: %s\n\nhello\n' "$1"; }
ndumps() { ls "$D"/*.eml 2>/dev/null | wc -l; }

for n in mx.sts-send.test mx.sts-enforce.test; do
	world_cert "$n" "$n" >/dev/null 2>&1 || fail setup "certificate for $n"
done
world_cert mx.sts-tlsbad.test mx.elsewhere.example.test >/dev/null 2>&1 ||
    fail setup "certificate for mx.sts-tlsbad.test"
cat >"$T_TMP/tab" <<EOT
198.51.100.200 25 --hostname bad.sts-send.test --dump $D
198.51.100.201 25 --cert $C/mx.sts-send.test.chain.pem --key $C/mx.sts-send.test.key --hostname mx.sts-send.test --dump $D
198.51.100.203 25 --hostname mx.sts-sendtest.test --dump $D
198.51.100.10 25 --cert $C/mx.sts-enforce.test.chain.pem --key $C/mx.sts-enforce.test.key --hostname mx.sts-enforce.test --dump $D
198.51.100.205 25 --cert $C/mx.sts-dane.test.chain.pem --key $C/mx.sts-dane.test.key --hostname mx.sts-dane.test --dump $D
198.51.100.44 25 --cert $C/mx.sts-tlsbad.test.chain.pem --key $C/mx.sts-tlsbad.test.key --hostname mx.sts-tlsbad.test --dump $D
EOT
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/smtpd.py" \
    --table "$T_TMP/tab" --log "$LOG" --idle 20 \
    >"$WORLD_DIR/peers/sts-smtpd.out" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" smtpd.py $!
if ! wait_port 198.51.100.44 25 10; then
	fail setup "smtpd.py did not start: $(tail -n 3 "$WORLD_DIR/peers/sts-smtpd.out")"
	finish
fi

# ------------------------------------------------------------ smtpsend
SC=$T_TMP/cache
SS="$S --mta-sts-cache $SC -f me@example.test"

ce "usage: --mta-sts-cache needs a value" 64 "$S" a@sts-send.test --mta-sts-cache
ce "enforce: the matching MX gets it" 0 sh -c "msg one | $SS -v a@sts-send.test"
cm "enforce: sent line" '^sent a@sts-send\.test 250 ' cat "$K"
cm "enforce: policy fetched" 'sts-send\.test: MTA-STS policy id send1, mode enforce \(fetched\)' cat "$K"
cm "enforce: PKIX verified at mx" 'connected to mx\.sts-send\.test, TLS Verified \(level verify\)' cat "$K"
[ "$(connects 198.51.100.200)" -eq 0 ] && ok "enforce: the unmatched MX never contacted" ||
    fail "enforce: the unmatched MX never contacted" "$(connects 198.51.100.200) sessions on bad.sts-send.test"
[ -f "$SC/sts-send.test" ] && ok "enforce: policy in the cache" ||
    fail "enforce: policy in the cache" "no $SC/sts-send.test"
ce "enforce: second run" 0 sh -c "msg two | $SS -v a@sts-send.test"
cm "enforce: second run uses the cache" 'policy id send1, mode enforce \(cached\)' cat "$K"
ce "enforce: --json" 0 sh -c "msg three | $SS --json a@sts-send.test"
cm "enforce: --json mta_sts" '"host":"mx\.sts-send\.test","mta_sts":"enforce"' cat "$K"

ce "--no-mta-sts: the preferred MX, in cleartext" 0 sh -c "msg four | $S --no-mta-sts -f me@example.test -v a@sts-send.test"
cm "--no-mta-sts: delivered to bad.sts-send.test" 'connected to bad\.sts-send\.test, TLS none' cat "$K"
[ "$(connects 198.51.100.200)" -eq 1 ] && ok "--no-mta-sts: one session on the unmatched MX" ||
    fail "--no-mta-sts: one session on the unmatched MX" "$(connects 198.51.100.200)"
ce "--tls may: MTA-STS not applied" 0 sh -c "msg five | $SS --tls may -v a@sts-send.test"
cm "--tls may: the preferred MX" 'connected to bad\.sts-send\.test' cat "$K"

n0=$(ndumps)
ce "enforce, wrong certificate name: deferred, 75" 75 sh -c "msg six | $SS a@sts-tlsbad.test"
cm "enforce, wrong name: the reason" '^deferred a@sts-tlsbad\.test [0-9]+ 4\.7\.5 .*MTA-STS policy of sts-tlsbad\.test \(mode enforce\).*verification failed' cat "$K"
[ "$(ndumps)" -eq "$n0" ] && ok "enforce, wrong name: nothing delivered" ||
    fail "enforce, wrong name: nothing delivered" "$(ndumps) messages, $n0 before"
ce "enforce, wrong name, --no-mta-sts: sent (opportunistic)" 0 sh -c "msg seven | $S --no-mta-sts -f me@example.test a@sts-tlsbad.test"
ce "enforce, good certificate: sent" 0 sh -c "msg eight | $SS a@sts-enforce.test"

# DANE wins (RFC 8461 §2): the policy does not cover the MX, whose
# self-signed certificate has DANE-EE TLSA records.
ce "enforce and DANE: sent under DANE" 0 sh -c "msg dane | $SS -v a@sts-dane.test"
cm "enforce and DANE: level dane" 'connected to mx\.sts-dane\.test, TLS Verified \(level dane\)' cat "$K"
cm "enforce and DANE: the policy was found" 'policy id dane1, mode enforce' cat "$K"
ce "enforce and DANE: mxconnect" 0 mxconnect --starttls --mta-sts-cache "$SC" sts-dane.test
cm "enforce and DANE: mxconnect verdict" '^verdict Verified mx\.sts-dane\.test .* level dane' cat "$K"
nomatch "enforce and DANE: not skipped" '^mta-sts skip' "$K"

# The policy stays in force when DNS no longer shows it (RFC 8461 §10.2):
# a cached enforce policy for plain.test, which has no _mta-sts record,
# whose only MX matches no pattern.
PC=$T_TMP/pcache
mkdir -m 700 "$PC"
pol=$(printf 'version: STSv1\nmode: enforce\nmx: other.plain.test\nmax_age: 86400\n')
now=$(date +%s)
printf 'mxkit-mta-sts 1\ndomain: plain.test\nid: gone1\nfetched: %s\nexpires: %s\nlength: %s\n\n%s\n' \
    "$now" $((now + 86400)) $(( ${#pol} + 1 )) "$pol" >"$PC/plain.test"
ce "cached enforce, TXT absent: still enforced, 75" 75 sh -c "msg nine | $S --mta-sts-cache $PC -f me@example.test a@plain.test"
cm "cached enforce: no MX matches" '^deferred a@plain\.test [0-9]+ 4\.7\.5 .*no MX host matches the MTA-STS policy \(mode enforce, id gone1\)' cat "$K"
ce "mtasts-check agrees: the cached policy is kept" 0 mtasts-check --no-mx --cache-dir "$PC" plain.test
cm "mtasts-check: source cache" '^plain\.test ok mode=enforce id=gone1 .*source=cache' cat "$K"

# Testing mode: delivered without TLS, the failure reported on stderr.
ce "testing, no STARTTLS: sent" 0 sh -c "msg ten | $SS a@sts-sendtest.test"
cm "testing: reported" 'sts-sendtest\.test: MTA-STS policy \(mode testing\) not met: mx\.sts-sendtest\.test: no TLS session' cat "$K"
cm "testing: sent line" '^sent a@sts-sendtest\.test 250 ' cat "$K"

# The default cache is the one mtasts-check uses ($MXKIT_MTA_STS_CACHE
# in the world).
ce "default cache: smtpsend fills it" 0 sh -c "msg eleven | $S -f me@example.test a@sts-enforce.test"
[ -f "$MXKIT_MTA_STS_CACHE/sts-enforce.test" ] && ok "default cache: the entry" ||
    fail "default cache: the entry" "no $MXKIT_MTA_STS_CACHE/sts-enforce.test"
ce "default cache: mtasts-check reads it" 0 mtasts-check --no-mx sts-enforce.test
cm "default cache: source cache" '^sts-enforce\.test ok .*source=cache' cat "$K"

# ------------------------------------------------------------ mxconnect
MC="mxconnect --starttls --mta-sts-cache $SC"
ce "mxconnect: enforce" 0 $MC sts-send.test
cm "mxconnect: the policy line" '^mta-sts sts-send\.test mode enforce id send1 max_age 86400 source cache$' cat "$K"
cm "mxconnect: the unmatched MX skipped" '^mta-sts skip bad\.sts-send\.test: matches no mx pattern' cat "$K"
cm "mxconnect: the MX passes" '^mta-sts mx\.sts-send\.test enforce pass: ' cat "$K"
cm "mxconnect: verified" '^verdict Verified mx\.sts-send\.test .* level verify' cat "$K"
ce "mxconnect: --json" 0 $MC --json sts-send.test
cm "mxconnect: --json policy" '"mta_sts":\{"mode":"enforce","id":"send1","max_age":86400,"source":"cache"\}' cat "$K"
cm "mxconnect: --json per MX" '"mta_sts":"enforce","mta_sts_ok":true' cat "$K"
ce "mxconnect: wrong name under enforce: 75" 75 $MC sts-tlsbad.test
cm "mxconnect: wrong name: why" 'MTA-STS policy of sts-tlsbad\.test \(mode enforce\)' cat "$K"
ce "mxconnect: --no-mta-sts" 0 mxconnect --starttls --no-mta-sts sts-send.test
nomatch "mxconnect: --no-mta-sts prints no policy" '^mta-sts ' "$K"
ce "mxconnect: testing" 0 $MC sts-sendtest.test
cm "mxconnect: testing fail reported" '^mta-sts mx\.sts-sendtest\.test testing fail: mx\.sts-sendtest\.test: no TLS session' cat "$K"
ce "mxconnect: cached enforce, TXT absent: 75" 75 mxconnect --starttls --mta-sts-cache "$PC" plain.test
ce "mxconnect: --no-mta-sts without --starttls: usage" 64 mxconnect --no-mta-sts sts-send.test

finish
