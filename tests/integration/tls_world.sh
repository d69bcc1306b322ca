#!/bin/bash
# ISC license.
#
# mxconnect --starttls against real STARTTLS servers (tests/world/smtpd.py,
# aiosmtpd) in the DNSSEC-signed scenarios of tests/world/zones/dane-*.zone
# and pkix*.zone.  Every verdict is compared with Postfix's posttls-finger
# on the same scenario in the same run: posttls-finger is the reference
# (the issue's rule: our verdict must equal its verdict).

. "$(dirname "$0")/lib.sh"

C=$WORLD_DIR/certs
MXC=$T_ROOT/bin/mxconnect

# One listener per scenario: ADDRESS CERTNAME [smtpd.py options].
tab=$T_TMP/smtpd.table
while read -r addr name extra; do
	echo "$addr 25 --cert $C/$name.chain.pem --key $C/$name.key" \
	    "--hostname $name $extra" >>"$tab"
done <<EOF
192.0.2.100 mx.dane-ee.test
192.0.2.101 mx.dane-ee301.test
192.0.2.102 mx.dane-ee312.test
192.0.2.103 mx.dane-ta.test
192.0.2.104 mx.dane-ta211.test
192.0.2.105 mx.dane-ta-badname.test
192.0.2.106 mx.dane-nomatch.test
192.0.2.107 mx.dane-pkixonly.test
192.0.2.108 mx.dane-nostarttls.test --no-starttls
192.0.2.109 mx.dane-bogus.test
192.0.2.110 mx.dane-unsigned.test
192.0.2.111 mx.dane-mixed.test
192.0.2.112 mx1.dane-second.test
192.0.2.113 mx2.dane-second.test
192.0.2.114 mx.pkix.test
192.0.2.115 mx.pkix-badname.test
192.0.2.116 mx.pkix-unknownca.test
192.0.2.117 mx.dane-addrinsecure.test
EOF
mkdir -p "$WORLD_DIR/peers"
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/smtpd.py" \
    --table "$tab" --log "$WORLD_DIR/peers/tls-smtpd.log" --idle 20 \
    >"$WORLD_DIR/peers/tls-smtpd.out" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" smtpd.py $!
if ! wait_port 192.0.2.117 25 10; then
	fail tls-peers "smtpd.py did not start: $(tail -n 3 "$WORLD_DIR/peers/tls-smtpd.out")"
	finish
fi

# posttls-finger needs a main.cf: a private, minimal one.
world_postfix_config
PTF=/usr/sbin/posttls-finger

# ptf_verdict LEVEL DOMAIN: posttls-finger's verdict word (Verified,
# Trusted, Untrusted, Anonymous), or "none" when it made no TLS session.
ptf_verdict() {
	local out=$T_TMP/ptf.$2.$1 v
	timeout 30 "$PTF" -t 10 -T 20 -c -l "$1" -F "$SSL_CERT_FILE" "$2" \
	    >"$out" 2>&1
	v=$(grep -oE '(Verified|Trusted|Untrusted|Anonymous) TLS connection established' \
	    "$out" | head -n 1)
	echo "${v%% *}" | sed 's/^$/none/'
}

# our_verdict FILE [HOST]: the verdict word of the first "verdict" line
# (for HOST when given), or "none".
our_verdict() {
	local v
	if [ -n "${2:-}" ]; then
		v=$(awk -v h="$2" '$1 == "verdict" && $3 == h { print $2; exit }' "$1")
	else
		v=$(awk '$1 == "verdict" { print $2; exit }' "$1")
	fi
	echo "${v:-none}"
}

# scenario NAME DOMAIN PTF_LEVEL OUR_POLICY WANT_VERDICT WANT_EXIT [ERE]:
# run both tools, compare the verdicts with each other and with the
# expectation, check our exit code (and that our output matches ERE).
scenario() {
	local name=$1 dom=$2 lvl=$3 pol=$4 want=$5 wexit=$6 re=${7:-} p o rc
	p=$(ptf_verdict "$lvl" "$dom")
	timeout 60 "$MXC" --starttls --tls-policy "$pol" "$dom" \
	    >"$T_TMP/our.$name" 2>&1
	rc=$?
	o=$(our_verdict "$T_TMP/our.$name")
	if [ "$p" = "$o" ]; then
		ok "$name: same verdict as posttls-finger ($p)"
	else
		fail "$name" "posttls-finger -l $lvl says $p, mxconnect says $o"
		sed 's/^/    | /' "$T_TMP/our.$name" | tail -n 12 >&2
		grep -v '^posttls-finger: [<>]' "$T_TMP/ptf.$dom.$lvl" |
		    sed 's/^/    ptf| /' | tail -n 6 >&2
	fi
	if [ "$o" = "$want" ]; then
		ok "$name: verdict $want"
	else
		fail "$name" "verdict $o, expected $want"
	fi
	if [ "$rc" -eq "$wexit" ]; then
		ok "$name: exit $wexit"
	else
		fail "$name" "exit $rc, expected $wexit"
		sed 's/^/    | /' "$T_TMP/our.$name" | tail -n 8 >&2
	fi
	if [ -n "$re" ]; then
		if grep -Eq -- "$re" "$T_TMP/our.$name"; then
			ok "$name: output /$re/"
		else
			fail "$name" "output does not match /$re/"
			sed 's/^/    | /' "$T_TMP/our.$name" | tail -n 8 >&2
		fi
	fi
}

# DANE (posttls-finger -l dane is Postfix's "dane" level, ours "auto").
scenario dane-ee-311 dane-ee.test dane auto Verified 0 \
    '^verdict Verified mx.dane-ee.test .* level dane: DANE-EE 3 1 1'
scenario dane-ee-301 dane-ee301.test dane auto Verified 0 'DANE-EE 3 0 1'
scenario dane-ee-312 dane-ee312.test dane auto Verified 0 'DANE-EE 3 1 2'
scenario dane-ta-201 dane-ta.test dane auto Verified 0 \
    'DANE-TA 2 0 1 matched the certificate at depth 1'
scenario dane-ta-211 dane-ta211.test dane auto Verified 0 'DANE-TA 2 1 1'
scenario dane-ta-badname dane-ta-badname.test dane auto Untrusted 75 \
    'name mismatch'
scenario dane-nomatch dane-nomatch.test dane auto Untrusted 75 \
    'no TLSA record matched'
scenario dane-pkix-only dane-pkixonly.test dane auto Untrusted 0 \
    '^verdict Untrusted mx.dane-pkixonly.test .* level encrypt'
scenario dane-nostarttls dane-nostarttls.test dane auto none 75 \
    'TLS is required \(level dane\), but the server does not offer STARTTLS'
scenario dane-bogus dane-bogus.test dane auto none 75 \
    'TLSA lookup failed'
scenario dane-unsigned dane-unsigned.test dane auto Untrusted 0 \
    'level may'
scenario dane-addr-insecure dane-addrinsecure.test dane auto Untrusted 0 \
    'level may'
scenario dane-secure-cname dane-mixed.test dane auto Verified 0 \
    '^tlsa _25._tcp.mx.dane-mixed.test usable'
# The same DANE scenarios under the policy "dane" (Postfix dane-only).
scenario dane-only-ee dane-ee.test dane-only dane Verified 0
# Without secure TLSA, dane-only defers (posttls-finger, a probe, goes on
# with "secure" instead, so it is no reference here).
check_exit dane-only-unsigned 75 "$MXC" --starttls --tls-policy dane \
    dane-unsigned.test
cp "$T_OUT" "$T_TMP/dane-only"
check_match dane-only-unsigned-why 'no usable DNSSEC-secure TLSA' cat "$T_TMP/dane-only"
# Secure TLSA records that are all unusable (PKIX usages only): under
# "dane" that MX is not used either.
check_exit dane-only-unusable 75 "$MXC" --starttls --tls-policy dane \
    dane-pkixonly.test
cp "$T_OUT" "$T_TMP/dane-only-unusable"
check_match dane-only-unusable-why 'no usable DNSSEC-secure TLSA' cat "$T_TMP/dane-only-unusable"

# The first MX fails DANE, the second passes: posttls-finger stops at the
# first; we move on.
p=$(ptf_verdict dane dane-second.test)
timeout 60 "$MXC" --starttls dane-second.test >"$T_TMP/our.second" 2>&1
rc=$?
o=$(our_verdict "$T_TMP/our.second" mx1.dane-second.test)
if [ "$p" = "$o" ] && [ "$o" = Untrusted ]; then
	ok "dane-second: mx1 Untrusted, as posttls-finger says"
else
	fail dane-second "mx1: posttls-finger $p, mxconnect $o"
fi
if [ "$rc" -eq 0 ] && [ "$(our_verdict "$T_TMP/our.second" mx2.dane-second.test)" = Verified ]; then
	ok "dane-second: mx2 used and Verified"
else
	fail dane-second "exit $rc, mx2 not verified"
	sed 's/^/    | /' "$T_TMP/our.second" | tail -n 12 >&2
fi
check_match dane-second-failed-line '^failed mx1.dane-second.test 192.0.2.112:25' \
    cat "$T_TMP/our.second"
check_match dane-second-attempt-host '^attempt 192.0.2.113:25 mx2.dane-second.test connected' \
    cat "$T_TMP/our.second"

# PKIX: the "verify" level checks the chain and the MX host name; at the
# opportunistic level a trusted chain is "Trusted" whatever the name.
scenario pkix-verify pkix.test verify pkix Verified 0 'matched mx.pkix.test'
scenario pkix-badname-verify pkix-badname.test verify pkix Untrusted 75 \
    'name mismatch'
scenario pkix-unknownca-verify pkix-unknownca.test verify pkix Untrusted 75
scenario pkix-may pkix.test may auto Trusted 0
scenario pkix-badname-may pkix-badname.test may auto Trusted 0
scenario pkix-unknownca-may pkix-unknownca.test may auto Untrusted 0
scenario pkix-encrypt pkix.test encrypt encrypt Trusted 0 'level encrypt'
# --cafile: the same PKIX check with the trust store given explicitly and
# SSL_CERT_FILE pointing elsewhere.
check_exit pkix-cafile 0 env SSL_CERT_FILE=/nonexistent "$MXC" --starttls \
    --tls-policy pkix --cafile "$SSL_CERT_FILE" pkix.test
check_exit pkix-no-trust-store 75 env SSL_CERT_FILE="$C/dane-other.crt" \
    "$MXC" --starttls --tls-policy pkix pkix.test

# The policy "none": no STARTTLS; the session stays in cleartext.
check_exit policy-none 0 "$MXC" --starttls --tls-policy none dane-ee.test
if grep -q '^tls ' "$T_OUT"; then
	fail policy-none "a TLS session was made"
else
	ok "policy-none: cleartext"
fi

# --print-tlsa: the records computed from the presented chain are the ones
# the zone publishes.
check "print-tlsa" "$MXC" --starttls --print-tlsa dane-ta.test
want=$(world_tlsa 2 0 1 "$C/ca.crt")
if grep -qiF "_25._tcp.mx.dane-ta.test. IN TLSA $want" "$T_OUT"; then
	ok "print-tlsa: 2 0 1 of the CA"
else
	fail print-tlsa "no '2 0 1 $want' line"
	t_show_output
fi
want=$(world_tlsa 3 1 1 "$C/mx.dane-ta.test.crt")
if grep -qiF "IN TLSA $want" "$T_OUT"; then
	ok "print-tlsa: 3 1 1 of the leaf"
else
	fail print-tlsa "no '3 1 1 $want' line"
fi
cp "$T_OUT" "$T_TMP/print-tlsa"
check_match peer-summary '^cert 0 spki-sha256 [0-9a-f]{64}$' cat "$T_TMP/print-tlsa"
check_match peer-protocol '^tls TLS1\.[23] ' cat "$T_TMP/print-tlsa"

# --json: one object with the tries and the verdict.
check "json" "$MXC" --starttls --json dane-second.test
if python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
t = o["tries"]
assert o["exit"] == 0 and o["verdict"] == "Verified", o
assert len(t) == 2 and t[0]["verdict"] == "Untrusted" and "error" in t[0], t
assert t[1]["host"] == "mx2.dane-second.test" and t[1]["level"] == "dane"
assert t[1]["chain"][0]["spki_sha256"]
' "$T_OUT" 2>"$T_TMP/json.err"; then
	ok "json: tries, verdicts, chain"
else
	fail json "$(tail -n 2 "$T_TMP/json.err")"
	t_show_output
fi
check_exit json-fail 75 "$MXC" --starttls --json dane-nomatch.test
cp "$T_OUT" "$T_TMP/json-fail"
check_match json-fail-status '"status":"4\.7\.5".*"exit":75' cat "$T_TMP/json-fail"

# Quiet mode prints nothing and keeps the exit code.
check_exit quiet-fail 75 "$MXC" -q --starttls dane-bogus.test
if [ -s "$T_OUT" ]; then fail quiet-fail "printed: $(head -n 2 "$T_OUT")"; else ok quiet-silent; fi

# Usage errors.
check_exit usage-policy 64 "$MXC" --starttls --tls-policy bogus dane-ee.test
check_exit usage-no-starttls 64 "$MXC" --tls-policy dane dane-ee.test
check_exit usage-plan 64 "$MXC" --starttls --plan dane-ee.test
check_exit usage-priority 64 "$MXC" --starttls --tls-priority 'NOPE:+X' dane-ee.test

# The server's log: the sessions really did STARTTLS.
if grep -q '192.0.2.100:25 .* starttls TLSv1' "$WORLD_DIR/peers/tls-smtpd.log"; then
	ok "server saw STARTTLS"
else
	fail server-log "no starttls event for 192.0.2.100"
fi

finish
