#!/bin/bash
# ISC license.
#
# smtpsend against real servers in the test world: tests/world/smtpd.py
# (aiosmtpd with the extensions each scenario needs; it stores what it
# receives, so messages are compared byte for byte) and Postfix's
# smtp-sink.  Zones: tests/world/zones/send.test.zone, send2.test.zone and
# the DANE scenarios.  No timing assertions.

. "$(dirname "$0")/lib.sh"

C=$WORLD_DIR/certs
S=$T_ROOT/bin/smtpsend
D=$T_TMP/dump
mkdir -p "$D" "$WORLD_DIR/peers"
echo "alice:s3cret" >"$T_TMP/users"
LOG=$WORLD_DIR/peers/send-smtpd.log

cat >"$T_TMP/tab" <<EOF
192.0.2.120 25 --cert $C/mx.send.test.chain.pem --key $C/mx.send.test.key --hostname mx.send.test --pipelining --dsn --smtputf8 --size 33554432 --dump $D --reject bad@send.test="550 5.1.1 no such user" --reject later@send.test="450 4.2.0 try later"
192.0.2.121 25 --cert $C/relay.send.test.chain.pem --key $C/relay.send.test.key --hostname relay.send.test --auth $T_TMP/users --dump $D
192.0.2.122 24 --hostname lmtp.send.test --lmtp --dump $D --reject later@send.test="452 4.2.2 mailbox full"
192.0.2.123 465 --cert $C/smtps.send.test.chain.pem --key $C/smtps.send.test.key --implicit-tls --hostname smtps.send.test --auth $T_TMP/users --dump $D
192.0.2.124 25 --hostname chunk.send.test --chunking --pipelining --size 33554432 --dump $D
192.0.2.125 25 --hostname mx2.send2.test --dump $D
192.0.2.126 25 --hostname small.send.test --size 1000 --dump $D
192.0.2.127 25 --hostname plain.send.test --auth $T_TMP/users --auth-plaintext --dump $D
192.0.2.100 25 --cert $C/mx.dane-ee.test.chain.pem --key $C/mx.dane-ee.test.key --hostname mx.dane-ee.test --dump $D
192.0.2.106 25 --cert $C/mx.dane-nomatch.test.chain.pem --key $C/mx.dane-nomatch.test.key --dump $D
192.0.2.109 25 --cert $C/mx.dane-bogus.test.chain.pem --key $C/mx.dane-bogus.test.key --dump $D
EOF
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/smtpd.py" \
    --table "$T_TMP/tab" --log "$LOG" --max-sessions 5000 --idle 20 \
    >"$WORLD_DIR/peers/send-smtpd.out" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" smtpd.py $!
if ! wait_port 192.0.2.109 25 10; then
	fail setup "smtpd.py did not start: $(tail -n 3 "$WORLD_DIR/peers/send-smtpd.out")"
	finish
fi
start_sink 192.0.2.128 25 || fail setup "smtp-sink on 192.0.2.128"
start_sink 192.0.2.36 25 || fail setup "smtp-sink on 192.0.2.36"
start_greeter 192.0.2.35 25 "421 4.3.2 mx1 is busy, try another" ||
	fail setup "greeter on 192.0.2.35"

msg() { printf 'From: me@example.test\nSubject: %s\n\nhello\n' "$1"; }
export -f msg
export U=$'jos\303\251@send.test'	# a UTF-8 local part
# last_dump: the newest stored message's base name (without .eml).
last_dump() { ls -t "$D"/*.eml 2>/dev/null | head -n 1 | sed 's/\.eml$//'; }
ndumps() { ls "$D"/*.eml 2>/dev/null | wc -l; }

# --- usage and input errors: nothing is sent
ce "no recipient: usage" 64 "$S" </dev/null
ce "bad option: usage" 64 "$S" --no-such-option a@send.test </dev/null
cm "--help" '^usage: smtpsend' "$S" --help
cm "--version" '^smtpsend [0-9]' "$S" --version
ce "bad recipient: 65" 65 bash -c "msg x | $S 'a@@send.test'"
ce "bad --tls: usage" 64 "$S" --tls sometimes a@send.test </dev/null
ce "--dsn-envid over 100 characters: usage" 64 "$S" --dsn-envid "$(printf 'x%.0s' $(seq 101))" a@send.test </dev/null
ce "--dsn-envid that grows over 100 once encoded: usage" 64 "$S" --dsn-envid "$(printf '+%.0s' $(seq 40))" a@send.test </dev/null
ce "--dsn-envid with a control character: usage" 64 "$S" --dsn-envid $'a\001b' a@send.test </dev/null
ce "--passfile without --user: usage" 64 "$S" --passfile /dev/null a@send.test </dev/null
ce "--user without --host: usage" 64 "$S" --user alice a@send.test </dev/null
ce "bad --host port: usage" 64 "$S" --host mx.send.test:99999 a@send.test </dev/null
ce "bad --auth-mech: usage" 64 "$S" --host mx.send.test --user a --auth-mech FOO a@send.test </dev/null
ce "bad --dsn-notify: usage" 64 "$S" --dsn-notify FAIL a@send.test </dev/null
ce "NEVER with others: usage" 64 "$S" --dsn-notify never,success a@send.test </dev/null
before=$(ndumps)
ce "line over 998 octets: 65" 65 bash -c "(printf 'Subject: long\n\n'; head -c 1200 /dev/zero | tr '\\0' x; echo) | $S a@send.test"
cm "long line: says which line" 'line 3 is longer than 998' cat "$K"
[ "$(ndumps)" = "$before" ] && ok "long line: nothing sent" || fail long-line "a message was stored"

# --- direct delivery, per-recipient outcomes
ce "direct: one sent, one bounced, one deferred: 67" 67 bash -c \
    "msg direct | $S -f me@example.test a@send.test bad@send.test later@send.test"
cm "direct: sent line" '^sent a@send\.test 250 2\.0\.0 ' cat "$K"
cm "direct: bounced line" '^bounced bad@send\.test 550 5\.1\.1 no such user' cat "$K"
cm "direct: deferred line" '^deferred later@send\.test 450 4\.2\.0 try later' cat "$K"
ce "direct: only deferred: 75" 75 bash -c "msg d | $S later@send.test"
ce "direct: all sent: 0" 0 bash -c "msg d | $S -f me@example.test a@send.test b@send.test"
b=$(last_dump)
cm "direct: envelope sender" '^from me@example\.test$' cat "$b.env"
cm "direct: STARTTLS used (opportunistic)" '^tls yes$' cat "$b.env"
cm "direct: SIZE declared" '^mail-option SIZE=' cat "$b.env"
cm "pipelining: MAIL, RCPT, DATA before the first reply" \
    ';>>> MAIL FROM:[^;]*;>>> RCPT TO:<a@send\.test>;>>> DATA;<<< 250 OK;' \
    bash -c "msg p | $S -v a@send.test 2>&1 | sed -n 's/^smtpsend: //p' | grep -E '^(>>> (MAIL|RCPT|DATA)|<<< 250 )' | tr '\n' ';'"
cm "--no-pipelining: one at a time" ';>>> MAIL FROM:[^;]*;<<< 250 OK;>>> RCPT' \
    bash -c "msg p | $S -v --no-pipelining a@send.test 2>&1 | sed -n 's/^smtpsend: //p' | grep -E '^(>>> (MAIL|RCPT|DATA)|<<< 250 )' | tr '\n' ';'"

# --- two domains in one run; the first MX of send2.test drops packets
ce "two domains, dead first MX: 0" 0 bash -c "msg two | $S --connect-timeout 5 a@send.test z@send2.test"
cm "two domains: both sent" '^sent a@send\.test .*|^sent z@send2\.test ' cat "$K"
[ "$(grep -c '^sent ' "$K")" = 2 ] && ok "two domains: two sent lines" || fail two-domains "$(cat "$K")"
grep -q "192.0.2.125:25 .* mail from=<.*> rcpt=<z@send2.test>" "$LOG" &&
    ok "two domains: send2.test via its second MX" || fail two-domains-mx2 "not in the server log"

# --- a 421 greeting moves on to the next MX (greet.test: MX 10 says 421)
ce "421 greeting: the next MX" 0 bash -c "msg g | $S a@greet.test"
cm "421 greeting: sent" '^sent a@greet\.test 250 ' cat "$K"

# --- --tls require: PKIX is mandatory
ce "--tls require, self-signed: deferred" 75 bash -c "msg r | $S --host 192.0.2.106 --tls require a@else.test"
cm "--tls require: 4.7.5" '^deferred a@else\.test [0-9]+ 4\.7\.5 .*verification failed' cat "$K"
ce "--tls require, CA-issued: sent" 0 bash -c "msg r | $S --host relay.send.test --tls require a@else.test"
ce "--tls none: no STARTTLS" 0 bash -c "msg r | $S --host relay.send.test --tls none a@else.test"
cm "--tls none: cleartext" '^tls no$' cat "$(last_dump).env"
ce "timeouts: --final-timeout accepted" 0 bash -c "msg r | $S --final-timeout 30s --data-start-timeout 10s a@send.test"

# --- no such domain, null MX
ce "NXDOMAIN: 68" 68 bash -c "msg n | $S a@nosuch.test"
cm "NXDOMAIN: bounced line" '^bounced a@nosuch\.test 550 5\.1\.2 ' cat "$K"
ce "null MX: 68" 68 bash -c "msg n | $S a@nullmx.test"
cm "null MX: 556 5.1.10" '^bounced a@nullmx\.test 556 5\.1\.10 ' cat "$K"
ce "bogus MX lookup: 75" 75 bash -c "msg n | $S a@bogus.test"

# --- DSN (RFC 3461)
ce "DSN: sent" 0 bash -c "msg dsn | $S --dsn-notify success,Failure --dsn-ret HDRS --dsn-envid 'id+1 x' --dsn-orcpt a@send.test"
b=$(last_dump)
cm "DSN: RET" '^mail-option RET=HDRS$' cat "$b.env"
cm "DSN: ENVID xtext" '^mail-option ENVID=id\+2B1\+20x$' cat "$b.env"
cm "DSN: NOTIFY" '^rcpt-option NOTIFY=SUCCESS,FAILURE$' cat "$b.env"
cm "DSN: ORCPT" '^rcpt-option ORCPT=rfc822;a@send\.test$' cat "$b.env"

# --- 8BITMIME and SMTPUTF8
ce "8bit: sent" 0 bash -c "printf 'Subject: 8\n\ncaf\\303\\251\n' | $S a@send.test"
cm "8bit: BODY=8BITMIME" '^mail-option BODY=8BITMIME$' cat "$(last_dump).env"
ce "SMTPUTF8: sent" 0 bash -c "msg u | $S \"\$U\""
cm "SMTPUTF8: requested" '^mail-option SMTPUTF8$' cat "$(last_dump).env"
ce "SMTPUTF8 with --dsn-orcpt: sent" 0 bash -c "msg u | $S --dsn-orcpt \"\$U\""
cm "ORCPT of a UTF-8 address: utf-8 type, unitext (RFC 6533)" "^rcpt-option ORCPT=utf-8;jos$(printf '\303\251')@send\\.test\$" cat "$(last_dump).env"
ce "SMTPUTF8 missing on the server: 69" 69 bash -c "msg u | $S --host chunk.send.test \"\$U\""
cm "SMTPUTF8 missing: 553 5.6.7" '^bounced .* 553 5\.6\.7 .*SMTPUTF8' cat "$K"
# Without SMTPUTF8 only the recipient that needs it is refused.
ce "ASCII and non-ASCII recipients, no SMTPUTF8: 69" 69 bash -c "msg mixed | $S --host chunk.send.test a@send.test \"\$U\""
cm "mixed: the ASCII recipient sent" '^sent a@send\.test 250 ' cat "$K"
cm "mixed: the other one 553 5.6.7" '^bounced jos.*@send\.test 553 5\.6\.7 ' cat "$K"
ce "--mta-sts-cache unusable: 78" 78 bash -c "msg c | $S --mta-sts-cache /proc/nonexistent/x a@send.test z@send2.test"
cm "--mta-sts-cache unusable: says which" 'mta-sts-cache.*/proc/nonexistent' cat "$K"
[ "$(grep -c '^deferred .*mta-sts-cache' "$K")" = 2 ] && ok "--mta-sts-cache unusable: both domains deferred, none sent without it" ||
    fail sts-cache-2 "$(cat "$K")"
# RFC 6152 3: no 8-bit data to a server without 8BITMIME; RFC 3030: a
# NUL only as BINARYMIME.
start_sink 192.0.2.128 2526 -8 || fail setup "smtp-sink -8 on 192.0.2.128:2526"
ce "8bit, no 8BITMIME on the server: 69" 69 bash -c "printf 'Subject: 8\n\ncaf\\303\\251\n' | $S --host 192.0.2.128:2526 --tls none a@send.test"
cm "8bit, no 8BITMIME: 554 5.6.3, not sent" '^bounced a@send\.test 554 5\.6\.3 .*8BITMIME' cat "$K"
ce "7bit, no 8BITMIME: sent" 0 bash -c "msg seven | $S --host 192.0.2.128:2526 --tls none a@send.test"
ce "a NUL, no BINARYMIME on the server: 69" 69 bash -c "printf 'Subject: n\n\na\\000b\n' | $S --host 192.0.2.128 --tls none a@send.test"
cm "a NUL, no BINARYMIME: 554 5.6.3" '^bounced a@send\.test 554 5\.6\.3 .*BINARYMIME' cat "$K"

# --- SIZE: over the server's limit is refused before MAIL
before=$(grep -c '192.0.2.126:25 .* mail ' "$LOG")
ce "SIZE over the limit: 69" 69 bash -c "(printf 'Subject: big\n\n'; head -c 3000 /dev/zero | tr '\\0' x | fold -w 70) | $S --host small.send.test a@send.test"
cm "SIZE: 552 5.3.4" '^bounced a@send\.test 552 5\.3\.4 message size' cat "$K"
[ "$(grep -c '192.0.2.126:25 .* mail ' "$LOG")" = "$before" ] && ok "SIZE: no MAIL sent" ||
    fail size "the server received the message"

# --- AUTH, each mechanism, over STARTTLS
for m in PLAIN LOGIN CRAM-MD5 XOAUTH2; do
	ce "AUTH $m: sent" 0 env SMTPSEND_PASSWORD=s3cret bash -c \
	    "msg auth | $S --host relay.send.test --user alice --auth-mech $m a@else.test"
	cm "AUTH $m: the server saw alice over TLS" '^auth alice$' cat "$(last_dump).env"
done
ce "AUTH default mechanism, --passfile" 0 bash -c \
    "echo s3cret >'$T_TMP/pw'; msg auth | $S --host relay.send.test --user alice --passfile '$T_TMP/pw' a@else.test"
ce "AUTH wrong secret: 77" 77 env SMTPSEND_PASSWORD=wrong bash -c \
    "msg auth | $S --host relay.send.test --user alice a@else.test"
cm "AUTH wrong secret: 535" '^deferred a@else\.test 535 5\.7\.8 ' cat "$K"
ce "AUTH without TLS refused locally: 77" 77 env SMTPSEND_PASSWORD=s3cret bash -c \
    "msg auth | $S --host plain.send.test --user alice a@else.test"
cm "AUTH without TLS: says why" 'not sending AUTH credentials in cleartext' cat "$K"
cm "AUTH without TLS: 530 5.7.11" '^deferred a@else\.test 530 5\.7\.11 ' cat "$K"
ce "AUTH without TLS with --auth-plaintext" 0 env SMTPSEND_PASSWORD=s3cret bash -c \
    "msg auth | $S --host plain.send.test --user alice --auth-plaintext a@else.test"
cm "transcript hides the secret" '>>> AUTH PLAIN \*\*\*\*\*\*\*\*' env SMTPSEND_PASSWORD=s3cret bash -c \
    "msg auth | $S -v --host relay.send.test --user alice --auth-mech PLAIN a@else.test 2>&1"
if grep -q 'czNjcmV0\|s3cret' "$K"; then fail "transcript secret" "leaked"; else ok "transcript: no secret"; fi
# --timeout bounds AUTH too: a server that holds its AUTH reply 30 s.
printf 'alice:%s\n' "$(/usr/bin/python3 -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_SHA512)))' 2>/dev/null)" >"$T_TMP/lite-pw"
nsenter --net="$WORLD_DIR/inet.ns" "$T_ROOT/bin/smtpd-lite" -l 192.0.2.128:2527 --discard \
    --passwd "$T_TMP/lite-pw" --auth-plaintext --delay AUTH=30000 >"$WORLD_DIR/peers/send-lite.log" 2>&1 </dev/null &
lite_pid=$!
world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $lite_pid
wait_port 192.0.2.128 2527 5 || fail setup "smtpd-lite on 192.0.2.128:2527: $(tail -n 2 "$WORLD_DIR/peers/send-lite.log")"
t0=$(date +%s)
ce "AUTH held back past --timeout: deferred (75)" 75 env SMTPSEND_PASSWORD=s3cret bash -c \
    "msg slow | $S --host 192.0.2.128:2527 --tls none --user alice --auth-plaintext --timeout 3s --command-timeout 25s a@else.test"
t1=$(date +%s)
[ $((t1 - t0)) -lt 20 ] && ok "AUTH: given up at --timeout, not at --command-timeout ($((t1 - t0)) s)" ||
    fail auth-timeout "$((t1 - t0)) s"
# Its session waits out the 30 s: no need to wait for it.
kill -KILL "$lite_pid" 2>/dev/null
wait "$lite_pid" 2>/dev/null

# --- implicit TLS (RFC 8314) and LMTP (RFC 2033)
ce "SMTPS: sent" 0 env SMTPSEND_PASSWORD=s3cret bash -c \
    "msg smtps | $S --host smtps.send.test --smtps --tls require --user alice a@else.test"
cm "SMTPS: TLS and AUTH" '^tls yes$' cat "$(last_dump).env"
ce "LMTP: per-recipient replies: 75" 75 bash -c \
    "msg lmtp | $S --lmtp --host lmtp.send.test:24 a@send.test later@send.test"
cm "LMTP: one delivered" '^sent a@send\.test 250 ' cat "$K"
cm "LMTP: one deferred after DATA" '^deferred later@send\.test 452 4\.2\.2 mailbox full' cat "$K"

# --- CHUNKING (RFC 3030)
ce "BDAT: sent" 0 bash -c "(printf 'Subject: chunk\n\n'; seq 1 200000) | $S --host chunk.send.test a@else.test"
b=$(last_dump)
cm "BDAT: used" '^bdat yes$' cat "$b.env"
if cmp -s "$b.eml" <( (printf 'Subject: chunk\n\n'; seq 1 200000) | sed 's/$/\r/'); then
	ok "BDAT: content byte for byte"
else
	fail bdat-content "differs"
fi
ce "--no-chunking: DATA" 0 bash -c "msg nochunk | $S --no-chunking --host chunk.send.test a@else.test"
cm "--no-chunking: no BDAT" '^bdat no$' cat "$(last_dump).env"

# --- -t with Bcc, sendmail compatibility
ce "-t: recipients from the header" 0 bash -c \
    "printf 'To: a@send.test, \"B b\" <b@send.test>\nCc: (x) c@send.test\nBcc: hidden@send.test\nSubject: t\n\nbody\n' | $S -t -f me@example.test"
b=$(last_dump)
for r in a b c hidden; do
	cm "-t: rcpt $r" "^rcpt $r@send\\.test\$" cat "$b.env"
done
if grep -qi '^bcc:' "$b.eml"; then fail "-t: Bcc removed" "still there"; else ok "-t: Bcc removed"; fi
cm "-t: To kept" '^To: a@send' cat "$b.eml"
ce "-t, 'Name :' fields: the Bcc after them found and removed" 0 bash -c \
    "printf 'To : a@send.test\nX-Old : y\nBcc : hidden2@send.test\nSubject: t\n\nbody\n' | $S -t -f me@example.test"
b=$(last_dump)
cm "-t obsolete syntax: rcpt hidden2" '^rcpt hidden2@send\.test$' cat "$b.env"
if grep -qi '^bcc' "$b.eml"; then fail "-t obsolete syntax: Bcc removed" "still there"; else ok "-t obsolete syntax: Bcc removed"; fi
before=$(ls "$D" | wc -l)
ce "-t, a Bcc after a line that ends the header: refused (65)" 65 bash -c \
    "printf 'To: a@send.test\nX-T\\303\\251st: 1\nBcc: hidden3@send.test\n\nbody\n' | $S -t -f me@example.test"
cm "-t odd end: says why" 'line 2 is no header field.*Bcc field on line 3' cat "$K"
[ "$(ls "$D" | wc -l)" = "$before" ] && ok "-t odd end: nothing sent" || fail "-t odd end" "a message was sent"
ln -sf "$S" "$T_TMP/sendmail"
ce "sendmail: a lone dot ends input" 0 bash -c \
    "printf 'Subject: s\n\nbefore\n.\nafter\n' | '$T_TMP/sendmail' -odi -oem -f me@example.test a@send.test"
if grep -q after "$(last_dump).eml"; then fail "sendmail dot" "read past the dot"; else ok "sendmail: stopped at the dot"; fi
ce "sendmail -oi: the dot is data" 0 bash -c \
    "printf 'Subject: s\n\nbefore\n.\nafter\n' | '$T_TMP/sendmail' -oi a@send.test"
cm "sendmail -oi: after the dot delivered" '^after' cat "$(last_dump).eml"
cm "sendmail: unknown -o noted" 'option -oQ/tmp ignored' bash -c \
    "msg o | '$T_TMP/sendmail' -oQ/tmp -i a@send.test"
ce "-F adds From: when missing" 0 bash -c "printf 'Subject: f\n\nx\n' | $S -F 'Ann Example' -f ann@example.test a@send.test"
cm "-F: From header" '^From: "Ann Example" <ann@example\.test>' cat "$(last_dump).eml"

# --- DANE
ce "DANE-EE domain: sent" 0 bash -c "msg dane | $S a@dane-ee.test"
cm "DANE-EE: over TLS" '^tls yes$' cat "$(last_dump).env"
ce "DANE mismatch: deferred, 75" 75 bash -c "msg dane | $S a@dane-nomatch.test"
cm "DANE mismatch: 4.7.5" '^deferred a@dane-nomatch\.test [0-9]+ 4\.7\.5 ' cat "$K"
ce "DANE bogus TLSA: deferred, 75" 75 bash -c "msg dane | $S a@dane-bogus.test"
grep -q '192.0.2.106:25 .* mail \|192.0.2.109:25 .* mail ' "$LOG" &&
    fail "DANE failures" "a message reached the server" || ok "DANE failures: nothing delivered"

# --- JSON and quiet
cm "--json" '^\{"result":"sent","recipient":"a@send\.test"' bash -c "msg j | $S --json a@send.test"
check "json parses" /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$K"
ce "quiet" 0 bash -c "msg q | $S -q a@send.test"
[ -s "$K" ] && fail quiet "printed: $(head -n 2 "$K")" || ok "quiet: nothing printed"

# --- --each: many messages over one session
mkdir -p "$T_TMP/each"
for i in $(seq 1 50); do
	printf 'Subject: each %d\nX-Each: %d\n\nbody %d\n' "$i" "$i" "$i" >"$T_TMP/each/$i.eml"
done
before=$(grep -c '192.0.2.120:25 .* connect$' "$LOG")
ce "--each: 50 messages" 0 bash -c "$S --each --to a@send.test --to b@send.test --host mx.send.test $T_TMP/each/*.eml"
[ "$(grep -c '^sent ' "$K")" = 100 ] && ok "--each: 100 sent lines" || fail each "$(grep -c '^sent ' "$K") sent lines"
[ "$(grep -c '^message ' "$K")" = 50 ] && ok "--each: a message line each" || fail each-message "$(head -n 3 "$K")"
after=$(grep -c '192.0.2.120:25 .* connect$' "$LOG")
[ $((after - before)) = 1 ] && ok "--each: one session" || fail each-session "$((after - before)) sessions"
cm "--each: RSET between transactions" '>>> RSET' bash -c \
    "$S -v --each --to a@send.test --host mx.send.test $T_TMP/each/1.eml $T_TMP/each/2.eml 2>&1"
ce "--each with -t" 0 bash -c "printf 'To: t1@send.test\nSubject: t\n\nx\n' >'$T_TMP/t1.eml'; printf 'To: t2@send.test\nSubject: t\n\nx\n' >'$T_TMP/t2.eml'; $S --each -t '$T_TMP/t1.eml' '$T_TMP/t2.eml'"
cm "--each -t: each its own recipients" '^sent t1@send\.test .*' cat "$K"
ce "--each: a missing file: 65, the others sent" 65 bash -c "$S --each --to a@send.test $T_TMP/each/1.eml $T_TMP/nonexistent.eml"
cm "--each: the good one sent" '^sent a@send\.test ' cat "$K"

# --- --spool and --flush across a server outage (later.send.test is down)
SP=$T_TMP/spool
ce "--spool: deferred is queued, exit 0" 0 bash -c \
    "msg spooled | $S --spool '$SP' --connect-timeout 2 --host later.send.test a@send.test"
cm "--spool: queued line" '^queued a@send\.test 4[0-9][0-9] ' cat "$K"
[ "$(ls "$SP/new" | wc -l)" = 1 ] && ok "--spool: one entry" || fail spool "$(ls "$SP/new" 2>&1)"
[ "$(stat -c %a "$SP")" = 700 ] && ok "--spool: directory 0700" || fail spool-mode "$(stat -c %a "$SP")"
[ "$(stat -c %a "$SP"/new/*)" = 600 ] && ok "--spool: entry 0600" || fail spool-entry-mode "$(stat -c %a "$SP"/new/*)"
ce "--flush before the retry time: nothing" 0 "$S" --flush "$SP" --host later.send.test
[ -s "$K" ] && fail flush-early "printed: $(cat "$K")" || ok "--flush: waits for the backoff"
ce "--flush while down: still queued" 0 "$S" --flush "$SP" --retry-now --connect-timeout 2 --host later.send.test
cm "--flush: queued again" '^queued a@send\.test ' cat "$K"
cm "--flush: attempts counted" '^attempts 2$' cat "$SP"/new/*
echo "192.0.2.129 25 --hostname later.send.test --dump $D" >"$T_TMP/later.tab"
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/smtpd.py" \
    --table "$T_TMP/later.tab" --log "$LOG" >/dev/null 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" smtpd.py $!
wait_port 192.0.2.129 25 10 || fail setup "later.send.test did not start"
ce "--flush after the outage: sent" 0 "$S" --flush "$SP" --retry-now --host later.send.test
cm "--flush: sent line" '^sent a@send\.test 250 ' cat "$K"
[ -z "$(ls "$SP/new")" ] && ok "--flush: entry removed" || fail flush-remove "$(ls "$SP/new")"
cm "--flush: the message arrived" '^Subject: spooled' cat "$(last_dump).eml"
ce "--spool: bounced is not queued" 67 bash -c "msg b | $S --spool '$SP' bad@send.test"
[ -z "$(ls "$SP/new")" ] && ok "--spool: nothing queued for a bounce" || fail spool-bounce "$(ls "$SP/new")"
ce "--queue-lifetime: give up" 67 bash -c "msg old | $S --spool '$SP' later@send.test >/dev/null; sleep 1.1; $S --flush '$SP' --retry-now --queue-lifetime 1s"
cm "--queue-lifetime: bounced, gave up" '^bounced later@send\.test .*gave up after 2 attempts' cat "$K"
[ -z "$(ls "$SP/new")" ] && ok "--queue-lifetime: entry removed" || fail lifetime-remove "$(ls "$SP/new")"

# --- integrity: generated messages, compared byte for byte after the
# server un-stuffs (8-bit octets, lines starting with ".", bare LF and CR,
# no final newline, empty body).
N=${SMTPSEND_INTEGRITY_N:-1000}
G=$T_TMP/gen
mkdir -p "$G" "$T_TMP/dump-int"
/usr/bin/python3 - "$G" "$N" <<'PY'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7672)
pieces = [b".", b"..", b". x", b"caf\xc3\xa9", b"\xff\xfe", b"plain text",
          b"", b"From x", b".\r", b"tab\there", b"x" * 200]
for i in range(n):
    lines = [b"Subject: m%d" % i, b"X-N: %d" % i, b""]
    for _ in range(rnd.randrange(0, 12)):
        lines.append(b" ".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 4))))
    ends = [b"\n", b"\r\n", b"\r"]
    raw = b"".join(l + rnd.choice(ends) for l in lines)
    if rnd.random() < 0.2 and raw.endswith((b"\n", b"\r")):
        raw = raw.rstrip(b"\r\n")          # no final newline
    # What must arrive: every line end CRLF, one final CRLF.
    norm = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not norm.endswith(b"\r\n"):
        norm += b"\r\n"
    open(os.path.join(d, "%04d.in" % i), "wb").write(raw)
    open(os.path.join(d, "%04d.want" % i), "wb").write(norm)
PY
bad=0
for f in "$G"/*.in; do
	"$S" -q --host mx.send.test a@send.test <"$f" || bad=$((bad + 1))
done
[ "$bad" = 0 ] && ok "integrity: $N messages sent" || fail integrity "$bad of $N not sent"
# Match each stored message to its input by the X-N header.
/usr/bin/python3 - "$G" "$D" "$N" >"$T_TMP/int.out" 2>&1 <<'PY'
import glob, os, re, sys
g, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
got = {}
for f in glob.glob(os.path.join(d, "192.0.2.120-25-*.eml")):
    data = open(f, "rb").read()
    m = re.search(rb"^X-N: (\d+)\r\n", data, re.M)
    if m and data.startswith(b"Subject: m" + m.group(1) + b"\r\n"):
        got[int(m.group(1))] = data
bad = [i for i in range(n)
       if got.get(i) != open(os.path.join(g, "%04d.want" % i), "rb").read()]
print("compared %d, differing %d %s" % (n, len(bad), bad[:10]))
sys.exit(1 if bad else 0)
PY
if [ $? -eq 0 ]; then ok "integrity: byte for byte ($(cat "$T_TMP/int.out"))"; else fail integrity "$(cat "$T_TMP/int.out")"; fi

# --- a 200 MiB message to smtp-sink in constant memory
if /usr/bin/time -f '%M' -o "$T_TMP/rss" bash -c \
    "yes 'The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij' | head -c 209715200 | $S -q --host 192.0.2.128 --tls none a@send.test"; then
	ok "200 MiB: sent"
else
	fail "200 MiB" "not sent"
fi
rss=$(tail -n 1 "$T_TMP/rss")
# time -f %M is the largest RSS of the children: yes, head, bash, smtpsend.
if [ -n "$rss" ] && [ "$rss" -lt 16384 ]; then
	ok "200 MiB: peak RSS ${rss} KiB < 16 MiB"
else
	fail "200 MiB" "peak RSS ${rss:-?} KiB"
fi

finish
