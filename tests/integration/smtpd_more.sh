#!/bin/bash
# ISC license.
#
# smtpd-lite, continued (tests/integration/smtpd_lite.sh has the protocol,
# delivery, TLS and AUTH): fault injection (--reply, --delay, --drop-after,
# --reject-rate), --dnsbl against a DNS list zone of the world, --check
# with a long-running policy program, --max-per-ip, unsafe recipients,
# --workers, systemd socket activation and a reliability run.  Real
# clients: swaks, smtp-source, smtpsend, and scripted talkers (python3).
# Servers run in the world's inet namespace on the addresses of
# zones/lite.test.zone.  No timing assertions: delays are tested against
# client timeouts several times shorter.

. "$(dirname "$0")/lib.sh"

L=$T_ROOT/bin/smtpd-lite
S=$T_ROOT/bin/smtpsend
M=$T_TMP/maildir
P=$WORLD_DIR/peers
mkdir -p "$P" "$M"

# lite NAME ADDR [options...]: start smtpd-lite on ADDR:25 (log in
# $P/lite-NAME.log, pid in LITE_PID).
lite() {
	local name=$1 addr=$2
	shift 2
	nsenter --net="$WORLD_DIR/inet.ns" "$L" -l "$addr:25" --hostname \
	    "$name.lite.test" "$@" >"$P/lite-$name.log" 2>&1 </dev/null &
	LITE_PID=$!
	world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $LITE_PID
	addr=${addr#[}
	if ! wait_port "${addr%]}" 25 5; then
		fail "start $name" "$(tail -n 3 "$P/lite-$name.log")"
		return 1
	fi
}
unlite() {
	kill "$LITE_PID" 2>/dev/null
	wait "$LITE_PID" 2>/dev/null
}

msg() { printf 'From: a@example.test\nSubject: %s\n\nhello\n' "$1"; }
export -f msg
nnew() { find "$1" -path '*/new/*' -type f 2>/dev/null | wc -l; }
# count FILE ERE: lines of FILE matching ERE.
count() { grep -Ec -- "$2" "$1"; }

# talk.py ADDR PORT [SOURCE]: a scripted client; the script on stdin:
# "> TEXT" sent with CRLF, ">> TEXT" sent as is (\r \n), "= N" sleep N
# seconds, "<" read what came (2 s at most) and print it.
cat >"$T_TMP/talk.py" <<'EOF'
import socket, sys, time
src = (sys.argv[3], 0) if len(sys.argv) > 3 else None
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10,
                             source_address=src)
out = []
def rd():
    s.settimeout(2)
    try:
        data = s.recv(65536)
        out.append(data.decode("latin-1") if data else "(closed)\n")
    except socket.timeout:
        pass
    except OSError as e:
        out.append("(%s)\n" % e)
def send(b):
    try:
        s.sendall(b)
    except OSError:
        pass
for line in sys.stdin.read().split("\n"):
    if line.startswith("> "):
        send(line[2:].encode("latin-1") + b"\r\n")
    elif line.startswith(">> "):
        send(line[3:].replace("\\r", "\r").replace("\\n", "\n").encode("latin-1"))
    elif line.startswith("= "):
        time.sleep(float(line[2:]))
    elif line.startswith("<"):
        time.sleep(0.2)
        rd()
sys.stdout.write("".join(out))
EOF
talk() { /usr/bin/python3 "$T_TMP/talk.py" "$@"; }

F=192.0.2.147
FH=faults.lite.test

# --- usage of the fault options
ce "--reply without CODE: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --reply RCPT
ce "--reply 250: usage (only 4xx and 5xx)" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --reply RCPT=250
ce "--reply CONNECT=450: usage (421 or 5xx)" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --reply CONNECT=450
ce "--reply FOO=451: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --reply FOO=451
ce "--reject-rate 2: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --reject-rate 2
ce "--reject-at EHLO: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --reject-rate 0.5 --reject-at EHLO
ce "--delay RCPT=x: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --delay RCPT=x

# --- --reply: each place of a transaction
lite faults $F --maildir "$M/faults" --json-log \
    --reply 'RCPT=451:4.7.1 greylisted, try again' --reply MAIL=421
# MAIL=421 and RCPT=... in one server: smtpsend meets MAIL first.
ce "--reply MAIL=421: deferred" 75 bash -c "msg a | $S --host $FH --tls none a@lite.test"
cm "--reply MAIL=421: the injected reply" '^deferred a@lite\.test 421 4\.0\.0 Error: injected fault' cat "$K"
unlite
lite faults $F --maildir "$M/faults" --json-log --reply 'RCPT=451:4.7.1 greylisted, try again'
ce "--reply RCPT=451: smtpsend defers" 75 bash -c "msg a | $S --host $FH --tls none a@lite.test"
cm "--reply RCPT=451: text and status" '^deferred a@lite\.test 451 4\.7\.1 greylisted, try again' cat "$K"
ce "--reply RCPT=451: swaks sees it" 24 swaks --server $FH --to b@lite.test --from a@example.test
cm "--reply RCPT=451: swaks' transcript" '<\*\* +451 4\.7\.1 greylisted' cat "$K"
cm "--reply RCPT: a JSON fault record" '^\{"event":"fault","client":"203\.0\.113\.2",.*"command":"RCPT","fault":"reply","reply":"451 4\.7\.1 greylisted, try again"\}$' cat "$P/lite-faults.log"
[ "$(nnew "$M/faults")" = 0 ] && ok "--reply RCPT: nothing stored" || fail reply-rcpt-stored "$(nnew "$M/faults")"
unlite

lite faults $F --maildir "$M/data" --json-log --reply 'DATA=554:5.7.0 no DATA today'
ce "--reply DATA=554: bounced (BDAT: DATA's fault)" 69 bash -c "msg a | $S --host $FH --tls none a@lite.test"
cm "--reply DATA=554: the reply" '^bounced a@lite\.test 554 5\.7\.0 no DATA today' cat "$K"
ce "--reply DATA=554: swaks (DATA) bounced" 25 swaks --server $FH --to b@lite.test --from a@example.test
cm "--reply DATA=554: swaks' transcript" '<\*\* +554 5\.7\.0 no DATA today' cat "$K"
[ "$(nnew "$M/data")" = 0 ] && ok "--reply DATA: nothing stored" || fail reply-data-stored "$(nnew "$M/data")"
# A client that does not wait for the 354 has its message read as
# commands otherwise: the refusal closes the pipelined session.
talk $F 25 >"$T_TMP/data.out" <<EOF
<
> EHLO c
> MAIL FROM:<a@example.test>
> RCPT TO:<b@lite.test>
>> DATA\r\nMAIL FROM:<evil@example.test>\r\n
<
EOF
cm "--reply DATA with pipelined text: 421 after it" '554 5\.7\.0 no DATA today.*421 4\.5\.0' tr '\r\n' '  ' <"$T_TMP/data.out"
unlite

lite faults $F --maildir "$M/dot" --json-log --reply 'DOT=452:4.3.1 disk full (injected)' --accept-domain lite.test
ce "--reply DOT=452: deferred after the message" 75 bash -c "msg dot | $S --host $FH --tls none a@lite.test"
cm "--reply DOT=452: the reply" '^deferred a@lite\.test 452 4\.3\.1 disk full \(injected\)' cat "$K"
[ "$(nnew "$M/dot")" = 0 ] && ok "--reply DOT: nothing stored" || fail reply-dot-stored "$(nnew "$M/dot")"
cm "--reply DOT: the message record names the fault" '^\{"event":"message",.*"fault":"reply DOT=452".*"code":452' cat "$P/lite-faults.log"
ce "--reply DOT, BDAT: the end of the last chunk" 75 bash -c "(printf 'Subject: chunk\n\n'; seq 1 3000) | $S --host $FH --tls none b@lite.test"
cm "--reply DOT, BDAT: logged" '"bdat":true.*"fault":"reply DOT=452"' cat "$P/lite-faults.log"
unlite

lite faults $F --discard --reply EHLO=502 --json-log
ce "--reply EHLO=502: smtpsend falls back to HELO" 0 bash -c "msg helo | $S --host $FH --tls none a@lite.test"
cm "--reply EHLO=502: served over SMTP" '"helo":"[^"]+".*"body":"7BIT"' grep '"event":"message"' "$P/lite-faults.log"
unlite

lite faults $F --discard --reply 'CONNECT=554:5.7.1 no service for you'
talk $F 25 >"$T_TMP/c554.out" <<EOF
<
> EHLO c
<
> MAIL FROM:<a@example.test>
<
> QUIT
<
EOF
cm "--reply CONNECT=554: the greeting" '^554 5\.7\.1 no service for you' cat "$T_TMP/c554.out"
cm "--reply CONNECT=554: then 503 until QUIT (RFC 5321 3.1)" '503 5\.5\.1 .*503 5\.5\.1 .*221 2\.0\.0' tr '\r\n' '  ' <"$T_TMP/c554.out"
ce "--reply CONNECT=554: smtpsend bounces" 67 bash -c "msg a | $S --host $FH --tls none a@lite.test"
cm "--reply CONNECT=554: smtpsend names the greeting" 'greeting 554 5\.7\.1: no service for you' cat "$K"
unlite
lite faults $F --discard --reply CONNECT=421
ce "--reply CONNECT=421: smtpsend defers" 75 bash -c "msg a | $S --host $FH --tls none a@lite.test"
cm "--reply CONNECT=421: the greeting" '421 4\.0\.0' cat "$K"
unlite

# --- --drop-after
lite faults $F --maildir "$M/faults" --drop-after RCPT
ce "--drop-after RCPT: smtpsend defers" 75 bash -c "msg a | $S --host $FH --tls none a@lite.test"
talk $F 25 >"$T_TMP/drop.out" <<EOF
<
> EHLO c
> MAIL FROM:<a@example.test>
> RCPT TO:<b@lite.test>
<
<
EOF
cm "--drop-after RCPT: MAIL answered, RCPT not, closed" '250 2\.1\.0 Ok +\(closed\)' tr '\r\n' '  ' <"$T_TMP/drop.out"
cm "--drop-after RCPT: logged" 'fault client=203\.0\.113\.2 command=RCPT fault=drop' cat "$P/lite-faults.log"
unlite
lite faults $F --maildir "$M/drop" --drop-after DOT --json-log
ce "--drop-after DOT: smtpsend defers (no reply after the message)" 75 bash -c "msg a | $S --host $FH --tls none a@lite.test"
[ "$(nnew "$M/drop")" = 0 ] && ok "--drop-after DOT: nothing stored" || fail drop-dot-stored "$(nnew "$M/drop")"
cm "--drop-after DOT: the message record" '"event":"message".*"fault":"drop DOT".*"code":0' cat "$P/lite-faults.log"
unlite
lite faults $F --discard --drop-after CONNECT
talk $F 25 >"$T_TMP/dropc.out" <<EOF
<
EOF
cm "--drop-after CONNECT: closed without a greeting" '^\(closed\)' cat "$T_TMP/dropc.out"
unlite

# --- --delay: against client timeouts several times shorter
lite faults $F --discard --json-log --delay DATA=4000 --delay RCPT=300
cm "--delay DATA=4s: swaks' 1 s timeout expires at DATA" 'DATA.*\n?.*([Tt]imed? ?out|timeout)' bash -c "swaks --server $FH --to b@lite.test --from a@example.test --timeout 1 2>&1 | tr '\n' ' '"
ce "--delay DATA=4s: a patient client gets through" 0 bash -c "msg a | $S --host $FH --tls none a@lite.test"
cm "--delay: JSON fault records" '"command":"DATA","fault":"delay","delay_ms":4000' cat "$P/lite-faults.log"
cm "--delay: the message record lists the delays" '"event":"message".*"fault":"delay RCPT=300ms,delay DATA=4000ms"' cat "$P/lite-faults.log"
# The event loop goes on during a delay: another session is served.
( msg slow | $S --host $FH --tls none s@lite.test >"$T_TMP/slow.out" 2>&1 ) &
slow=$!
sleep 1
talk $F 25 >"$T_TMP/other.out" <<EOF
<
> EHLO other
<
> QUIT
<
EOF
cm "--delay: others served meanwhile" '250-faults\.lite\.test Hello other' cat "$T_TMP/other.out"
wait $slow
cm "--delay: the slow one sent too" '^sent s@lite\.test 250' cat "$T_TMP/slow.out"
unlite
lite faults $F --discard --delay RCPT=4000
ce "--delay RCPT=4s: smtpsend's 1 s command timeout expires" 75 bash -c "msg a | $S --host $FH --tls none --command-timeout 1 a@lite.test"
cm "--delay RCPT: deferred on the timeout" '^deferred a@lite\.test .*([Tt]ime|timeout)' cat "$K"
unlite
lite faults $F --discard --delay CONNECT=3000
ce "--delay CONNECT=3s: swaks' 1 s timeout expires" 0 bash -c "swaks --server $FH --to b@lite.test --timeout 1 2>&1 | grep -qi 'timed out\|timeout'"
unlite
# Our delay is not the client's time: with --timeout 2s, a RCPT sent 1 s
# after the MAIL reply and held 1.5 s still gets its 250.
lite faults $F --discard --timeout 2s --delay RCPT=1500
talk $F 25 >"$T_TMP/ourtime.out" <<EOF
<
> EHLO c
<
> MAIL FROM:<a@example.test>
<
= 0.8
> RCPT TO:<b@lite.test>
= 1.7
<
> QUIT
<
EOF
cm "--delay under --timeout: the held RCPT is answered" '^250 2\.1\.5' cat "$T_TMP/ourtime.out"
nomatch "--delay under --timeout: no timeout" '^421' "$T_TMP/ourtime.out"
unlite

# --- --reject-rate: a share of transactions, seedable (smtp-source stops
# at the first refusal: smtpsend --each sends 200 messages in one session)
mkdir -p "$T_TMP/msgs"
for i in $(seq -w 1 200); do msg "rate $i" >"$T_TMP/msgs/$i.eml"; done
lite faults $F --maildir "$M/rate" --json-log --reject-rate 0.3 --seed 42
ce "--reject-rate: 200 messages, some deferred" 75 timeout 60 "$S" --each --to r@lite.test --host $FH --tls none --json "$T_TMP"/msgs/*.eml
grep -c '"result":"sent"' "$K" >"$T_TMP/sent1"
grep '"event":"message"' "$P/lite-faults.log" | grep -o '"code":[0-9]*' >"$T_TMP/rate1"
n250=$(count "$T_TMP/rate1" ':250$')
n451=$(count "$T_TMP/rate1" ':451$')
[ $((n250 + n451)) = 200 ] && ok "--reject-rate: 200 messages, 250 or 451 ($n250, $n451)" || fail reject-rate-total "$n250 + $n451"
[ "$n451" -ge 30 ] && [ "$n451" -le 90 ] && ok "--reject-rate 0.3: $n451 of 200 refused" || fail reject-rate-share "$n451 of 200"
[ "$(nnew "$M/rate")" = "$n250" ] && ok "--reject-rate: stored = accepted ($n250)" || fail reject-rate-stored "$(nnew "$M/rate") stored, $n250 accepted"
cm "--reject-rate: logged with the seed" 'reject-rate=0\.3 at=DOT seed=42' cat "$P/lite-faults.log"
unlite
[ "$(cat "$T_TMP/sent1")" = "$n250" ] && ok "--reject-rate: smtpsend's sent = the server's 250s" || fail reject-rate-sent "$(cat "$T_TMP/sent1") vs $n250"
lite faults $F --discard --json-log --reject-rate 0.3 --seed 42
timeout 60 "$S" --each --to r@lite.test --host $FH --tls none "$T_TMP"/msgs/*.eml >/dev/null 2>&1
grep '"event":"message"' "$P/lite-faults.log" | grep -o '"code":[0-9]*' >"$T_TMP/rate2"
cmp -s "$T_TMP/rate1" "$T_TMP/rate2" && ok "--reject-rate: the same seed, the same choices" || fail reject-rate-seed "$(diff "$T_TMP/rate1" "$T_TMP/rate2" | head -n 5)"
unlite
lite faults $F --discard --json-log --reject-rate 1 --reject-at RCPT
ce "--reject-rate 1 --reject-at RCPT: deferred" 75 bash -c "msg a | $S --host $FH --tls none a@lite.test"
cm "--reject-at RCPT: 451 4.3.0" '^deferred a@lite\.test 451 4\.3\.0 .*reject-rate' cat "$K"
cm "--reject-at RCPT: a fault record" '"command":"RCPT","fault":"reject-rate"' cat "$P/lite-faults.log"
unlite

# --- --dnsbl: a DNS list zone of the world, asked through nsd
Q=192.0.2.148
QH=policy.lite.test
NSD=$NS_V4
lite policy $Q --discard --json-log --resolver "$NSD" --dnsbl dnsbl.test --dnsbl dnsbl2.test
ce "dnsbl: a client not listed is served" 0 swaks --server $Q --to a@lite.test --from a@example.test
ce "dnsbl: a listed client refused at RCPT" 24 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE_V4"
cm "dnsbl: 554 5.7.1 naming the zone and its TXT" '<\*\* +554 5\.7\.1 Service unavailable; client \[198\.51\.100\.1\] blocked using dnsbl\.test: spam source seen at the test trap' cat "$K"
cm "dnsbl: logged" 'dnsbl client=198\.51\.100\.1 zone=dnsbl\.test a=127\.0\.0\.2 result=listed' cat "$P/lite-policy.log"
ce "dnsbl: the second zone" 24 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE3_V4"
cm "dnsbl: the second zone named, no TXT" '<\*\* +554 5\.7\.1 Service unavailable; client \[198\.51\.100\.3\] blocked using dnsbl2\.test\s*$' cat "$K"
ce "dnsbl: 127.255.255.254 is an error, not a listing" 0 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE2_V4"
cm "dnsbl: the error code logged" 'dnsbl client=198\.51\.100\.2 zone=dnsbl\.test a=127\.255\.255\.254 result=ignored' cat "$P/lite-policy.log"
talk $Q 25 "$SOURCE_V4" >"$T_TMP/bl.out" <<EOF
<
> EHLO c
> MAIL FROM:<a@example.test>
> RCPT TO:<a@lite.test>
> RCPT TO:<b@lite.test>
> DATA
<
> QUIT
<
EOF
cm "dnsbl: pipelined RCPTs each refused, then DATA" '554 5\.7\.1 .*554 5\.7\.1 .*554 5\.5\.1 Error: no valid recipients' tr '\r\n' '  ' <"$T_TMP/bl.out"
unlite
lite policy6 "[2001:db8::148]" --discard --resolver "$NSD" --dnsbl dnsbl.test
ce "dnsbl: an IPv6 client listed (nibbles)" 24 swaks --server "2001:db8::148" -6 --to a@lite.test --from a@example.test --local-interface "$SOURCE_V6"
cm "dnsbl: IPv6 refused" '554 5\.7\.1 Service unavailable; client \[2001:db8:1::1\] blocked using dnsbl\.test' cat "$K"
ce "dnsbl: an IPv6 client not listed" 0 swaks --server "2001:db8::148" -6 --to a@lite.test --from a@example.test
unlite

# A slow resolver: the RCPT waits for the lookup, the event loop does not.
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$T_ROOT/bench/dnsdelay.py" $Q 5353 "$NSD" 53 1500 120 >"$P/dnsdelay.log" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" dnsdelay $!
sleep 0.5
lite policy $Q --discard --resolver "$Q:5353" --dnsbl dnsbl.test --dnsbl-timeout 5s
( talk $Q 25 "$SOURCE_V4" >"$T_TMP/slowbl.out" <<EOF
<
> EHLO c
> MAIL FROM:<a@example.test>
> RCPT TO:<a@lite.test>
= 2.5
<
EOF
) &
slowbl=$!
sleep 0.5
talk $Q 25 >"$T_TMP/fast.out" <<EOF
<
> EHLO fast
<
EOF
cm "dnsbl, slow resolver: others served while a RCPT waits" '250-policy\.lite\.test Hello fast' cat "$T_TMP/fast.out"
wait $slowbl
cm "dnsbl, slow resolver: the RCPT refused once the answer came" '554 5\.7\.1 Service unavailable; client \[198\.51\.100\.1\]' cat "$T_TMP/slowbl.out"
unlite
lite policy $Q --discard --resolver "$Q:5353" --dnsbl dnsbl.test --dnsbl-timeout 300ms
ce "dnsbl: past --dnsbl-timeout, not listed (fail open)" 0 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE_V4"
cm "dnsbl: the timeout logged" 'dnsbl client=198\.51\.100\.1 zone=dnsbl\.test result=timeout \(not listed\)' cat "$P/lite-policy.log"
unlite

# The cache of list answers: a listed and a clean client looked up once
# through a resolver of our own (dnsfault.py in front of nsd), then the
# resolver killed: the next sessions from the same addresses get the
# cached answers (a lookup would time out and list nobody).
# bl_resolver: start it on $Q:5354 (pid in BLR_PID).
bl_resolver() {
	: >"$P/blr.out"
	nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/dnsfault.py" $Q 5354 --upstream "$NSD:53" \
	    --log "$T_TMP/blr.log" >"$P/blr.out" 2>&1 </dev/null &
	BLR_PID=$!
	world_pid_add "$WORLD_DIR/peers.pids" dnsfault $BLR_PID
	for _ in $(seq 50); do
		grep -q ready "$P/blr.out" && return 0
		sleep 0.1
	done
	fail bl-resolver "did not start: $(cat "$P/blr.out")"
}
bl_resolver
lite policy $Q --discard --resolver "$Q:5354" --dnsbl dnsbl.test --dnsbl-timeout 1s
ce "dnsbl cache: a listed client refused (looked up)" 24 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE_V4"
ce "dnsbl cache: a clean client served (looked up)" 0 swaks --server $Q --to a@lite.test --from a@example.test
{ kill -KILL "$BLR_PID"; wait "$BLR_PID"; } 2>/dev/null
ce "dnsbl cache: resolver gone, the listed client still refused" 24 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE_V4"
cm "dnsbl cache: the same reply, TXT and all" '<\*\* +554 5\.7\.1 Service unavailable; client \[198\.51\.100\.1\] blocked using dnsbl\.test: spam source seen at the test trap' cat "$K"
cm "dnsbl cache: the listing logged as cached" 'dnsbl client=198\.51\.100\.1 zone=dnsbl\.test a=127\.0\.0\.2 result=listed txt="spam source seen at the test trap" cached=yes ttl=[0-9]+s' cat "$P/lite-policy.log"
ce "dnsbl cache: resolver gone, the clean client served" 0 swaks --server $Q --to a@lite.test --from a@example.test
cm "dnsbl cache: the clean answer logged as cached" 'dnsbl client=203\.0\.113\.2 zone=dnsbl\.test result=not-listed cached=yes ttl=[0-9]+s' cat "$P/lite-policy.log"
nomatch "dnsbl cache: no lookup timed out" 'result=timeout' "$P/lite-policy.log"
[ "$(grep -c ' 1\.100\.51\.198\.dnsbl\.test' "$T_TMP/blr.log")" = 2 ] &&
    ok "dnsbl cache: the listed client asked about once (A and TXT)" || fail dnsbl-cache-queries "$(cat "$T_TMP/blr.log")"
unlite
# Without the cache the same steps fail open: the lookup times out.
bl_resolver
lite policy $Q --discard --resolver "$Q:5354" --dnsbl dnsbl.test --dnsbl-timeout 1s --dnsbl-cache 0
ce "dnsbl --dnsbl-cache 0: listed, refused" 24 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE_V4"
{ kill -KILL "$BLR_PID"; wait "$BLR_PID"; } 2>/dev/null
ce "dnsbl --dnsbl-cache 0: resolver gone, served (nothing kept)" 0 swaks --server $Q --to a@lite.test --from a@example.test --local-interface "$SOURCE_V4"
nomatch "dnsbl --dnsbl-cache 0: nothing from a cache" 'cached=yes' "$P/lite-policy.log"
unlite

# --- unsafe recipients refused at RCPT, not after the message
W=192.0.2.149
mkdir -p "$M/u"
lite multi $W --maildir "$M/u/%u" --accept-domain lite.test
ce "unsafe local part: refused at RCPT, the other delivered (67)" 67 bash -c "msg u | $S --host $W --tls none good@lite.test '\"a/b\"@lite.test' '\".hidden\"@lite.test'"
cm "unsafe: a/b 550 5.1.3" '^bounced "a/b"@lite\.test 550 5\.1\.3 ' cat "$K"
cm "unsafe: .hidden 550 5.1.3" '^bounced "\.hidden"@lite\.test 550 5\.1\.3 ' cat "$K"
cm "unsafe: the good one sent" '^sent good@lite\.test 250 ' cat "$K"
[ "$(nnew "$M/u")" = 1 ] && [ -d "$M/u/good/new" ] && ok "unsafe: one file, in good/" || fail unsafe-files "$(find "$M/u" | head)"
[ ! -e "$M/u/a" ] && [ -z "$(ls -A "$M/u" | grep -v '^good$')" ] && ok "unsafe: nothing made outside" || fail unsafe-outside "$(ls -A "$M/u")"
talk $W 25 >"$T_TMP/unsafe.out" <<EOF
<
> EHLO c
> MAIL FROM:<a@example.test>
> RCPT TO:<"../x"@lite.test>
<
EOF
cm "unsafe: ../x refused at RCPT" '550 5\.1\.3 Error: unsafe recipient' cat "$T_TMP/unsafe.out"
unlite

# --- --max-per-ip: a third session from one address gets 421
lite multi $W --discard --max-per-ip 2 --timeout 30s
/usr/bin/python3 - "$W" >"$T_TMP/perip.out" 2>&1 <<'EOF'
import socket, sys
ss = [socket.create_connection((sys.argv[1], 25), timeout=5) for _ in range(2)]
for s in ss:
    print("held", s.recv(200).decode().strip())
t = socket.create_connection((sys.argv[1], 25), timeout=5)
print("third", t.recv(200).decode().strip())
o = socket.create_connection((sys.argv[1], 25), timeout=5, source_address=("198.51.100.1", 0))
print("other", o.recv(200).decode().strip())
EOF
cm "--max-per-ip 2: two held" 'held 220 multi' cat "$T_TMP/perip.out"
cm "--max-per-ip 2: the third refused" '^third 421 4\.3\.2 Too many connections' cat "$T_TMP/perip.out"
cm "--max-per-ip 2: another address served" '^other 220 multi' cat "$T_TMP/perip.out"
cm "--max-per-ip: logged" 'refused client=203\.0\.113\.2 reason=max-per-ip' cat "$P/lite-multi.log"
unlite

# --- --check: one long-running policy program, a line per recipient
cat >"$T_TMP/policy.py" <<'EOF'
#!/usr/bin/python3
# A --check program: one request line in, one reply line out.
import os, sys, time, urllib.parse
log = open(sys.argv[1], "a")
for line in sys.stdin:
    f = dict(kv.split("=", 1) for kv in line.split())
    f = {k: urllib.parse.unquote(v) for k, v in f.items()}
    print(os.getpid(), line.strip(), file=log, flush=True)
    r = f.get("rcpt", "")
    if r.startswith("bad@"):
        out = "550 5.1.1 <%s>: no such user here" % r
    elif r.startswith("temp@"):
        out = "75"
    elif r.startswith("nouser@"):
        out = "67"
    elif r.startswith("other@"):
        out = "3"
    elif r.startswith("die@"):
        sys.exit(1)
    elif r.startswith("slow@"):
        time.sleep(4)
        out = "0"
    elif f.get("from") == "" and r.startswith("bounce@"):
        out = "550 5.7.1 no bounces to that one"
    else:
        out = "0"
    print(out, flush=True)
EOF
chmod +x "$T_TMP/policy.py"
lite policy $Q --maildir "$M/check" --check /usr/bin/python3 "$T_TMP/policy.py" "$T_TMP/policy.log" -- --check-timeout 1s
ce "check: accepted" 0 bash -c "msg c | $S --host $Q --tls none -f a@example.test good@lite.test"
ce "check: 550 with the program's text and status" 67 bash -c "msg c | $S --host $Q --tls none -f a@example.test bad@lite.test"
cm "check: 550 5.1.1" '^bounced bad@lite\.test 550 5\.1\.1 <bad@lite\.test>: no such user here' cat "$K"
ce "check: 75 is 451 4.3.0" 75 bash -c "msg c | $S --host $Q --tls none temp@lite.test"
cm "check: 451 4.3.0" '^deferred temp@lite\.test 451 4\.3\.0 ' cat "$K"
ce "check: 67 is 550 5.1.1, 3 is 554 5.3.0" 67 bash -c "msg c | $S --host $Q --tls none nouser@lite.test other@lite.test"
cm "check: 67" '^bounced nouser@lite\.test 550 5\.1\.1 ' cat "$K"
cm "check: 3" '^bounced other@lite\.test 554 5\.3\.0 ' cat "$K"
ce "check: the null sender (from=)" 67 bash -c "msg c | $S --host $Q --tls none -f '' bounce@lite.test"
cm "check: null sender refused" '^bounced bounce@lite\.test 550 5\.7\.1 no bounces' cat "$K"
cm "check: the request line" '^[0-9]+ request=rcpt session=[0-9]+ client=203\.0\.113\.2 helo=[^ ]+ tls= auth= from=a@example\.test rcpt=good@lite\.test nrcpt=0 server=policy\.lite\.test$' cat "$T_TMP/policy.log"
ce "check: smtp-source 5 sessions, 40 messages, 2 recipients each" 0 timeout 60 smtp-source -s 5 -m 40 -r 2 -c -f a@example.test -t s@lite.test $Q:25
n=$(grep -c 'rcpt=[0-9]*s@lite.test' "$T_TMP/policy.log")
[ "$n" = 80 ] && ok "check: 80 requests for 80 recipients" || fail check-requests "$n"
[ "$(nnew "$M/check")" = 41 ] && ok "check: 41 messages stored" || fail check-stored "$(nnew "$M/check")"
[ "$(awk '{print $1}' "$T_TMP/policy.log" | sort -u | wc -l)" = 1 ] && ok "check: one program for every request (no fork per recipient)" ||
    fail check-one-process "$(awk '{print $1}' "$T_TMP/policy.log" | sort | uniq -c)"
# A slow answer: the RCPT gets 451 at --check-timeout, the program is
# replaced, and other sessions are served meanwhile.
( msg slow | $S --host $Q --tls none slow@lite.test >"$T_TMP/slowc.out" 2>&1 ) &
slowc=$!
sleep 0.3
talk $Q 25 >"$T_TMP/fastc.out" <<EOF
<
> EHLO fast
<
EOF
cm "check, slow program: others served meanwhile" '250-policy\.lite\.test Hello fast' cat "$T_TMP/fastc.out"
wait $slowc
cm "check, slow program: 451 at the deadline" '^deferred slow@lite\.test 451 4\.3\.0 Error: policy check failed' cat "$T_TMP/slowc.out"
cm "check, slow program: logged" 'check: .*python3.* did not answer in time' cat "$P/lite-policy.log"
sleep 1.1
ce "check: the program dies: 451" 75 bash -c "msg c | $S --host $Q --tls none die@lite.test"
sleep 1.1
ce "check: started again after it died" 0 bash -c "msg c | $S --host $Q --tls none again@lite.test"
[ "$(awk '{print $1}' "$T_TMP/policy.log" | sort -u | wc -l)" = 3 ] && ok "check: three programs in all (slow killed, died)" ||
    fail check-restarts "$(awk '{print $1}' "$T_TMP/policy.log" | sort | uniq -c)"
unlite
ce "check: a missing program is a configuration error" 78 timeout 5 "$L" -l 127.0.0.1:2525 --discard --check /nonexistent/policy --
ce "check: no program: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --check --

# --- a client that leaves while its session waits is noticed at once
# (EPOLLRDHUP), not at the end of the wait.  waitlog FILE ERE: up to 8 s
# for a line of FILE to match.
waitlog() {
	local i
	for i in $(seq 80); do
		grep -Eq -- "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}
lite faults $F --discard --delay RCPT=20s
talk $F 25 >"$T_TMP/gone.out" <<EOF
<
> EHLO c
<
> MAIL FROM:<a@example.test>
<
> RCPT TO:<b@lite.test>
EOF
if waitlog "$P/lite-faults.log" 'close client=203\.0\.113\.2:[0-9]+ messages=0 duration=[0-9]+ms .*state=mail'; then
	ok "--delay RCPT=20s: a client gone during the delay is closed at once"
else
	fail gone-delay "no close line within 8 s: $(tail -n 3 "$P/lite-faults.log")"
fi
cm "--delay: the departure logged" 'gone client=203\.0\.113\.2 wait=delay state=mail' cat "$P/lite-faults.log"
d=$(sed -n 's/.*close client=203\.0\.113\.2:[0-9]* messages=0 duration=\([0-9]*\)ms .*state=mail.*/\1/p' "$P/lite-faults.log" | tail -n 1)
[ "${d:-20000}" -lt 15000 ] && ok "--delay: the session lasted ${d} ms, not 20 s" || fail gone-duration "${d:-none}"
unlite
# A client that pipelines RCPT and QUIT, then half-closes, still gets
# both replies after the delay.
lite faults $F --discard --delay RCPT=1500ms
/usr/bin/python3 - "$F" >"$T_TMP/half.out" 2>&1 <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 25), timeout=10)
s.recv(200)
s.sendall(b"EHLO c\r\n")
time.sleep(0.3)
s.recv(2000)
s.sendall(b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@lite.test>\r\nQUIT\r\n")
s.shutdown(socket.SHUT_WR)
out = b""
end = time.time() + 8
while time.time() < end:
    d = s.recv(2000)
    if not d:
        break
    out += d
print(out.decode("latin-1").replace("\r\n", " | "))
EOF
cm "--delay, half-close after QUIT: the replies still come" '250 2\.1\.0 .*\| 250 2\.1\.5 .*\| 221 2\.0\.0 ' cat "$T_TMP/half.out"
nomatch "--delay, half-close after QUIT: not taken for gone" 'gone client=' "$P/lite-faults.log"
unlite
# The --check program: a client gone while its RCPT is asked about; the
# late answer is dropped and the next session has its own.
cat >"$T_TMP/slowpolicy.py" <<'EOF'
import sys, time
for line in sys.stdin:
    if "rcpt=slow" in line:
        time.sleep(4)
    print("0", flush=True)
EOF
lite policy $Q --discard --check /usr/bin/python3 "$T_TMP/slowpolicy.py" -- --check-timeout 10s
talk $Q 25 >"$T_TMP/goneq.out" <<EOF
<
> EHLO c
<
> MAIL FROM:<a@example.test>
<
> RCPT TO:<slow@lite.test>
EOF
if waitlog "$P/lite-policy.log" 'gone client=203\.0\.113\.2 wait=check state=mail'; then
	ok "check: a client gone while the program thinks is closed at once"
else
	fail gone-check "$(tail -n 3 "$P/lite-policy.log")"
fi
talk $Q 25 >"$T_TMP/afterq.out" <<EOF
<
> EHLO c
<
> MAIL FROM:<a@example.test>
<
> RCPT TO:<next@lite.test>
= 5
<
> QUIT
<
EOF
cm "check: the next session gets its own answer after the late one" '250 2\.1\.5 .*221 2\.0\.0' tr '\r\n' '  ' <"$T_TMP/afterq.out"
unlite

# --- --workers: N processes, each its own loop and SO_REUSEPORT socket
mkdir -p "$M/w"
lite multi $W --maildir "$M/w" --workers 3 --max-per-ip 1000
sleep 0.5
workers() { ps -o pid= --ppid "$LITE_PID" | wc -l; }
[ "$(workers)" = 3 ] && ok "--workers 3: three worker processes" || fail workers-count "$(ps -o pid,args --ppid "$LITE_PID")"
ce "--workers: smtp-source 20 sessions, 300 messages" 0 timeout 60 smtp-source -s 20 -m 300 -c -f a@example.test -t w@lite.test $W:25
[ "$(nnew "$M/w")" = 300 ] && ok "--workers: 300 stored" || fail workers-stored "$(nnew "$M/w")"
nw=$(grep -o '^smtpd-lite\[[0-9]*\]: msg ' "$P/lite-multi.log" | sort -u | wc -l)
[ "$nw" -ge 2 ] && ok "--workers: messages served by $nw workers" || fail workers-spread "$nw"
[ "$(grep -o 'queued as [0-9A-F]*' "$P/lite-multi.log" | sort | uniq -d | wc -l)" = 0 ] && ok "--workers: queue ids unique" ||
    fail workers-qid "$(grep -o 'queued as [0-9A-F]*' "$P/lite-multi.log" | sort | uniq -d | head -n 3)"
victim=$(ps -o pid= --ppid "$LITE_PID" | head -n 1 | tr -d ' ')
kill -KILL "$victim"
for _ in $(seq 30); do
	[ "$(workers)" = 3 ] && ! kill -0 "$victim" 2>/dev/null && break
	sleep 0.2
done
[ "$(workers)" = 3 ] && ok "--workers: a killed worker is replaced" || fail workers-restart "$(workers) workers"
cm "--workers: the death logged" "worker [0-9] pid=$victim killed by signal 9; starting it again" cat "$P/lite-multi.log"
ce "--workers: still serving" 0 timeout 60 smtp-source -s 5 -m 30 -c -f a@example.test -t w@lite.test $W:25
kill -HUP "$LITE_PID"
sleep 0.5
[ "$(grep -c '^smtpd-lite\[[0-9]\]: reloaded' "$P/lite-multi.log")" = 3 ] && ok "--workers: SIGHUP passed on to each" ||
    fail workers-hup "$(grep reloaded "$P/lite-multi.log")"
kill -TERM "$LITE_PID"
wait "$LITE_PID"
rc=$?
[ $rc = 0 ] && ok "--workers: SIGTERM, exit 0" || fail workers-term "exit $rc"
[ "$(ps -o pid= --ppid "$LITE_PID" | wc -l)" = 0 ] && ok "--workers: no worker left" || fail workers-left "$(ps -o pid,args --ppid "$LITE_PID")"
cm "--workers: every worker stopped" '^smtpd-lite\[3\]: stopped' cat "$P/lite-multi.log"

# --- --workers: --max-per-ip and --max-clients hold across the workers
# (one table shared by them).  Each round fills the limit and tries once
# more; 20 rounds, so that the one too many meets each worker.  Then the
# worker of a held session is killed: its slots come back, no others.
cat >"$T_TMP/limits.py" <<'EOF'
import os, signal, socket, subprocess, sys, time
mode, addr, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
srcs = ["203.0.113.2", "198.51.100.1", "198.51.100.2", "198.51.100.3"]
def conn(src):
    """(socket, first line) of a session from src."""
    s = socket.create_connection((addr, 25), timeout=5, source_address=(src, 0))
    try:
        return s, s.recv(200).decode("latin-1").strip()
    except OSError as e:
        return s, "(%s)" % e
def hold(src):
    """A session that got its 220 (sessions just closed may still count)."""
    for _ in range(50):
        s, g = conn(src)
        if g.startswith("220"):
            return s
        s.close()
        time.sleep(0.1)
    print("cannot hold a session from", src)
    sys.exit(1)
def src(i):
    return srcs[0] if mode == "perip" else srcs[i % len(srcs)]
if mode in ("perip", "clients"):
    for r in range(20):
        held = [hold(src(i)) for i in range(limit)]
        t, g = conn(src(limit))
        print("over", g)
        t.close()
        for s in held:
            s.close()
        time.sleep(0.05)
elif mode == "kill":
    # The limit held, the worker of the first session killed: the slots
    # of its sessions come back, those of the other worker stay taken.
    ns, log = sys.argv[4], sys.argv[5]
    held = [hold(srcs[0]) for _ in range(limit)]
    ss = subprocess.run(["nsenter", "--net=" + ns, "ss", "-tnpH", "state",
                         "established", "( sport = :25 )"],
                        capture_output=True, text=True).stdout
    mine = str(held[0].getsockname()[1])
    victim = None
    for line in ss.splitlines():
        f = line.split()
        if len(f) >= 5 and f[3].rsplit(":", 1)[1] == mine and "pid=" in f[4]:
            victim = int(f[4].split("pid=")[1].split(",")[0])
    if victim is None:
        print("no worker found for the session:", ss)
        sys.exit(1)
    os.kill(victim, signal.SIGKILL)
    for _ in range(50):
        if ("pid=%d killed" % victim) in open(log).read():
            break
        time.sleep(0.1)
    time.sleep(0.2)
    alive = 0
    for s in held:
        s.setblocking(False)
        try:
            alive += 1 if s.recv(100) else 0
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print("killed", victim, "alive", alive)
    more = []
    for _ in range(limit + 1):
        s, g = conn(srcs[0])
        more.append(s)
        if not g.startswith("220"):
            print("then", len(more) - 1, "more, refused", g)
            break
    else:
        print("never refused")
EOF
lite multi $W --discard --workers 2 --max-per-ip 2 --timeout 30s
sleep 0.3
/usr/bin/python3 "$T_TMP/limits.py" perip $W 2 >"$T_TMP/lim1.out" 2>&1
[ "$(grep -c '^over 421 4\.3\.2 ' "$T_TMP/lim1.out")" = 20 ] && ok "--workers 2 --max-per-ip 2: the third session refused, 20 times of 20" ||
    fail workers-perip "$(sort "$T_TMP/lim1.out" | uniq -c)"
[ "$(grep -Eo '^smtpd-lite\[[12]\]: refused client=203\.0\.113\.2 reason=max-per-ip' "$P/lite-multi.log" | cut -c1-13 | sort -u | wc -l)" = 2 ] &&
    ok "--workers --max-per-ip: refused by both workers" || fail workers-perip-both "$(grep refused "$P/lite-multi.log" | cut -c1-13 | sort | uniq -c)"
/usr/bin/python3 "$T_TMP/limits.py" kill $W 2 "$WORLD_DIR/inet.ns" "$P/lite-multi.log" >"$T_TMP/lim3.out" 2>&1
cm "--workers: a killed worker's sessions closed" '^killed [0-9]+ alive [01]$' cat "$T_TMP/lim3.out"
alive=$(sed -n 's/^killed [0-9]* alive //p' "$T_TMP/lim3.out")
cm "--workers: the killed worker's slots come back, the other's stay" "^then $((2 - ${alive:-9})) more, refused 421 4\.3\.2 " cat "$T_TMP/lim3.out"
unlite
lite multi $W --discard --workers 2 --max-clients 3 --timeout 30s
sleep 0.3
/usr/bin/python3 "$T_TMP/limits.py" clients $W 3 >"$T_TMP/lim2.out" 2>&1
[ "$(grep -c '^over 421 4\.3\.2 ' "$T_TMP/lim2.out")" = 20 ] && ok "--workers 2 --max-clients 3: the fourth session refused, 20 times of 20" ||
    fail workers-clients "$(sort "$T_TMP/lim2.out" | uniq -c)"
[ "$(grep -Eo '^smtpd-lite\[[12]\]: refused client=[0-9.]+ reason=max-clients' "$P/lite-multi.log" | cut -c1-13 | sort -u | wc -l)" = 2 ] &&
    ok "--workers --max-clients: refused by both workers" || fail workers-clients-both "$(grep refused "$P/lite-multi.log" | cut -c1-13 | sort | uniq -c)"
unlite

# --- systemd socket activation (LISTEN_FDS), with systemd-socket-activate
nsenter --net="$WORLD_DIR/inet.ns" systemd-socket-activate -l $W:25 -- "$L" --discard --hostname act.lite.test --workers 2 \
    >"$P/lite-act.log" 2>&1 </dev/null &
LITE_PID=$!
world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $LITE_PID
wait_port $W 25 5
ce "socket activation: the first connection starts the server" 0 swaks --server $W --to a@lite.test --from a@example.test
cm "socket activation: served by smtpd-lite" '<-  220 act\.lite\.test ESMTP' cat "$K"
cm "socket activation: the descriptor taken" 'smtpd-lite: start workers=2 listen=1' cat "$P/lite-act.log"
ce "socket activation: smtp-source 10 sessions, 100 messages" 0 timeout 60 smtp-source -s 10 -m 100 -c -f a@example.test -t w@lite.test $W:25
unlite
ce "LISTEN_PID of another process: nothing to serve (64)" 64 env LISTEN_PID=1 LISTEN_FDS=1 timeout 5 "$L" --discard
ce "LISTEN_FDS on a file, through exec: 78" 78 bash -c 'exec 3</dev/null; export LISTEN_FDS=1; exec env LISTEN_PID=$$ "$0" --discard' "$L"

# One process per connection (systemd Accept=yes, inetd): --stdio on the
# accepted socket; the client's address from the socket itself.
mkdir -p "$M/acc"
nsenter --net="$WORLD_DIR/inet.ns" systemd-socket-activate -a --inetd -l $W:25 -- "$L" --stdio --maildir "$M/acc" \
    --hostname acc.lite.test >"$P/lite-acc.log" 2>&1 </dev/null &
LITE_PID=$!
world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $LITE_PID
wait_port $W 25 5
ce "Accept=yes: a session per process" 0 bash -c "msg acc | $S --host $W --tls none a@lite.test"
ce "Accept=yes: and another" 0 bash -c "msg acc2 | $S --host $W --tls none b@lite.test"
[ "$(nnew "$M/acc")" = 2 ] && ok "Accept=yes: both stored" || fail accept-stored "$(nnew "$M/acc")"
cm "Accept=yes: the client's address from the socket" 'Received: from [^ ]+ \(\[203\.0\.113\.2\]\)' cat "$M"/acc/new/*
cm "Accept=yes: logged with its port" 'close client=203\.0\.113\.2:[1-9][0-9]* messages=1' cat "$P/lite-acc.log"
unlite

# --- AUTH off the event loop: a password hash that takes a second or more
# (SHA-512 with many rounds) must not hold up another session.
slowhash=$(/usr/bin/python3 -W ignore -c 'import crypt; print(crypt.crypt("s3cret", "$6$rounds=3000000$mxkitsalt"))' 2>/dev/null)
printf 'alice:%s\n' "$slowhash" >"$T_TMP/slowpw"
lite slowauth $F --discard --passwd "$T_TMP/slowpw" --auth-plaintext
( talk $F 25 >"$T_TMP/slowauth-a.out" <<EOF
<
> EHLO a.example
<
> AUTH PLAIN $(printf '\0alice\0s3cret' | base64)
> NOOP
= 8
<
> QUIT
<
EOF
) &
slowa=$!
sleep 0.4
talk $F 25 >"$T_TMP/slowauth-b.out" <<EOF
<
> EHLO b.example
<
> QUIT
<
EOF
cm "slow AUTH: another session served meanwhile" '^221 ' cat "$T_TMP/slowauth-b.out"
# Clients that send AUTH and reset the connection: their hashes are
# skipped and logged as abandoned.
cat >"$T_TMP/authrst.py" <<'PY'
import base64, socket, struct, sys, time
cred = base64.b64encode(b"\0alice\0wrong").decode()
for i in range(3):
    s = socket.create_connection((sys.argv[1], 25), timeout=10)
    s.recv(1000)
    s.sendall(b"EHLO r\r\n")
    time.sleep(0.2)
    s.recv(1000)
    s.sendall(("AUTH PLAIN %s\r\n" % cred).encode())
    time.sleep(0.1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
PY
/usr/bin/python3 "$T_TMP/authrst.py" $F
wait $slowa
cm "slow AUTH: 235, then the pipelined NOOP" '235 2\.7\.0 Authentication successful250 2\.0\.0 Ok' bash -c "tr -d '\r\n' <'$T_TMP/slowauth-a.out'"
# The other session closed before the hash was done: the log says so.
nb=$(grep -n 'close client=.* messages=0' "$P/lite-slowauth.log" | head -n 1 | cut -d: -f1)
na=$(grep -n 'auth client=.* user=alice result=ok' "$P/lite-slowauth.log" | head -n 1 | cut -d: -f1)
[ -n "$nb" ] && [ -n "$na" ] && [ "$nb" -lt "$na" ] && ok "slow AUTH: the other session was done first" ||
    fail slowauth-order "close at line ${nb:-none}, auth at line ${na:-none}"
for _ in $(seq 100); do
	[ "$(grep -c 'result=abandoned' "$P/lite-slowauth.log")" -ge 3 ] && break
	sleep 0.1
done
[ "$(grep -c 'auth client=[^ ]* user=alice result=abandoned' "$P/lite-slowauth.log")" = 3 ] &&
    ok "slow AUTH: three reset clients, three abandoned hashes" ||
    fail slowauth-abandoned "$(grep 'auth client' "$P/lite-slowauth.log")"
unlite

# At most 4 AUTH hashes wait per store thread: with one thread, the fifth
# and sixth of six at once get 454 4.7.0 instead of a longer queue.
lite slowauth $F --discard --passwd "$T_TMP/slowpw" --auth-plaintext --store-threads 1
pids=
for i in 1 2 3 4 5 6; do
	( talk $F 25 >"$T_TMP/busy-$i.out" <<EOF
<
> EHLO b$i.example
<
> AUTH PLAIN $(printf '\0alice\0s3cret' | base64)
= 1
<
EOF
	) &
	pids="$pids $!"
done
wait $pids
busy=$(cat "$T_TMP"/busy-*.out | grep -c '^454 4\.7\.0')
[ "$busy" = 2 ] && ok "AUTH cap: two of six answered 454 4.7.0 at once" || fail auth-busy "$busy answered 454"
[ "$(grep -c 'result=busy' "$P/lite-slowauth.log")" = 2 ] && ok "AUTH cap: logged result=busy" ||
    fail auth-busy-log "$(grep -c 'result=busy' "$P/lite-slowauth.log")"
unlite

# --- --max-auth-fail N/T: failed AUTH counted per client address across
# sessions and both workers; past N, AUTH gets 454 4.7.0 without a look
# at the credentials (the right password too), other addresses are not
# affected, and T after the first failure the address may try again.
fasthash=$(/usr/bin/python3 -W ignore -c 'import crypt; print(crypt.crypt("s3cret", "$6$mxkitsalt"))' 2>/dev/null)
printf 'alice:%s\n' "$fasthash" >"$T_TMP/fastpw"
ce "--max-auth-fail 0: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --passwd "$T_TMP/fastpw" --max-auth-fail 0
ce "--max-auth-fail 3/x: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --passwd "$T_TMP/fastpw" --max-auth-fail 3/x
ce "--max-auth-fail without --passwd: usage" 64 timeout 5 "$L" -l 127.0.0.1:2525 --discard --max-auth-fail 3
ce "--max-auth-fail with --stdio: usage" 64 timeout 5 "$L" --stdio --discard --passwd "$T_TMP/fastpw" --max-auth-fail 3 </dev/null
lite authfail $F --discard --passwd "$T_TMP/fastpw" --auth-plaintext --max-auth-fail 2/6s --workers 2
# authtry PASSWORD [SOURCE]: the reply to one session's AUTH PLAIN.
authtry() {
	talk $F 25 ${2:+"$2"} <<EOF | tr -d '\r' | grep -E '^(235|454|535) '
<
> EHLO t.example
<
> AUTH PLAIN $(printf '\0alice\0%s' "$1" | base64)
<
> QUIT
<
EOF
}
r0=$(authtry s3cret)
t1=$(date +%s%N)
r1=$(authtry wrong) r2=$(authtry wrong) r3=$(authtry s3cret) r4=$(authtry wrong)
r5=$(authtry s3cret "$SOURCE_V4")
codes() { for r in "$@"; do printf '%s ' "${r%% *}"; done; }
[ "$(codes "$r0" "$r1" "$r2" "$r3" "$r4" "$r5")" = "235 535 535 454 454 235 " ] &&
    ok "--max-auth-fail 2: 235, 535, 535, then 454 even for the right password; another address 235" ||
    fail authfail-codes "$(codes "$r0" "$r1" "$r2" "$r3" "$r4" "$r5")"
cm "--max-auth-fail: the 454 says why" '^454 4\.7\.0 Too many failed authentications' echo "$r3"
[ "$(count "$P/lite-authfail.log" 'auth client=203\.0\.113\.2 user=alice result=blocked reason=max-auth-fail')" = 2 ] &&
    ok "--max-auth-fail: the two blocked attempts logged" || fail authfail-log "$(grep 'auth client' "$P/lite-authfail.log")"
# 6 s after the first failure (its AUTH came under 1 s after t1) the count
# is gone.
left=$(( (t1 + 7500000000 - $(date +%s%N)) / 1000000 ))
[ "$left" -gt 0 ] && sleep "$(awk -v m="$left" 'BEGIN { print m / 1000 }')"
r6=$(authtry s3cret)
[ "${r6%% *}" = 235 ] && ok "--max-auth-fail 2/6s: 6 s later the address may try again" || fail authfail-window "${r6:-no reply}"
# Four wrong passwords at once: an attempt counts from its start, so two
# are checked (535) and two refused (454), however the hashes interleave.
pids=
for i in 1 2 3 4; do
	authtry wrong >"$T_TMP/afpar-$i.out" &
	pids="$pids $!"
done
wait $pids
[ "$(cat "$T_TMP"/afpar-*.out | cut -c1-3 | sort | tr '\n' ' ')" = "454 454 535 535 " ] &&
    ok "--max-auth-fail 2: four sessions at once get two guesses" ||
    fail authfail-parallel "$(cat "$T_TMP"/afpar-*.out | cut -c1-3 | sort | tr '\n' ' ')"
unlite

# --- SIGHUP after -u: the certificate, key and password files only root
# may read are read again by the reader that stayed root; both workers
# take the new ones (a self-signed certificate, another user).
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	H=$T_TMP/hup
	mkdir -p "$H/archive" && chmod 700 "$H"
	CD=$WORLD_DIR/certs
	# The key behind a relative link, the way certbot keeps them.
	cp "$CD/tls.lite.test.chain.pem" "$H/cert.pem" && cp "$CD/tls.lite.test.key" "$H/archive/key1.pem"
	ln -sf archive/key1.pem "$H/key.pem"
	printf 'alice:%s\n' "$fasthash" >"$H/passwd"
	chmod 600 "$H/cert.pem" "$H/archive/key1.pem" "$H/passwd"
	ce "SIGHUP after -u: nobody cannot read the key itself" 1 setpriv --reuid=65534 --regid=65534 --clear-groups cat "$H/key.pem"
	lite multi $W --discard --cert "$H/cert.pem" --key "$H/key.pem" --passwd "$H/passwd" --auth-plaintext --workers 2 -u nobody
	# hupwait: SIGHUP to the server, then up to 5 s for its "reloaded".
	hupwait() {
		kill -HUP "$LITE_PID"
		for _ in $(seq 50); do
			grep -q 'reloaded' "$P/lite-multi.log" && break
			sleep 0.1
		done
	}
	# subject W: the certificate's subject, as gnutls-cli prints it.
	subject() {
		timeout 10 gnutls-cli --insecure --starttls-proto=smtp -p 25 "$1" </dev/null 2>&1 |
		    grep -o "subject \`CN=[^,']*" | head -n 1
	}
	cm "SIGHUP after -u: the first certificate" 'CN=tls\.lite\.test' subject $W
	[ "$(awk '/^Uid:/ { print $2 }' "/proc/$LITE_PID/status")" = 65534 ] && ok "SIGHUP after -u: the server runs as nobody" ||
	    fail hup-uid "$(grep Uid: "/proc/$LITE_PID/status")"
	cp "$CD/mx.dane.test.crt" "$H/cert.pem" && cp "$CD/mx.dane.test.key" "$H/key.pem"
	printf 'bob:%s\n' "$fasthash" >"$H/passwd"
	kill -HUP "$LITE_PID"
	for _ in $(seq 50); do
		[ "$(count "$P/lite-multi.log" '^smtpd-lite\[[12]\]: reloaded')" = 2 ] && break
		sleep 0.1
	done
	[ "$(count "$P/lite-multi.log" '^smtpd-lite\[[12]\]: reloaded')" = 2 ] && ok "SIGHUP after -u: both workers reloaded" ||
	    fail hup-reloaded "$(grep reload "$P/lite-multi.log")"
	[ "$(count "$P/lite-multi.log" 'reload .*failed')" = 0 ] && ok "SIGHUP after -u: nothing failed" ||
	    fail hup-failed "$(grep 'reload .*failed' "$P/lite-multi.log")"
	n=0
	for i in 1 2 3 4 5 6; do
		subject $W | grep -q 'CN=mx\.dane\.test' && n=$((n + 1))
	done
	[ "$n" = 6 ] && ok "SIGHUP after -u: six sessions, the new certificate every time" || fail hup-cert "$n of 6"
	# authas USER: the reply code to USER's AUTH PLAIN (password s3cret).
	authas() {
		talk $W 25 <<EOF | tr -d '\r' | grep -E '^(235|535) ' | cut -c1-3
<
> EHLO h.example
<
> AUTH PLAIN $(printf '\0%s\0s3cret' "$1" | base64)
<
> QUIT
<
EOF
	}
	r="$(authas bob) $(authas alice)"
	[ "$r" = "235 535" ] && ok "SIGHUP after -u: the new password file (bob in, alice out)" || fail hup-passwd "$r"
	# The reader killed: the next SIGHUP says so and reads as nobody
	# (which fails here and keeps the loaded files).
	pgrep -x smtpd-lite-rd >/dev/null && ok "SIGHUP after -u: the reader runs" || fail hup-reader "no smtpd-lite-rd"
	pkill -x smtpd-lite-rd
	sleep 0.3
	kill -HUP "$LITE_PID"
	for _ in $(seq 50); do
		[ "$(count "$P/lite-multi.log" 'warning: reader gone.*as user nobody')" = 2 ] && break
		sleep 0.1
	done
	[ "$(count "$P/lite-multi.log" 'warning: reader gone.*as user nobody')" = 2 ] &&
	    ok "SIGHUP after -u: a dead reader, said by both workers" || fail hup-gone "$(grep -i reader "$P/lite-multi.log")"
	cm "SIGHUP after -u: then the old certificate kept" 'CN=mx\.dane\.test' subject $W
	unlite
	# A key in a directory nobody may change: the root reader refuses it
	# (else a link there could name /etc/shadow), warned at start.
	mkdir -p "$T_TMP/hupw"
	cp "$CD/tls.lite.test.chain.pem" "$CD/tls.lite.test.key" "$T_TMP/hupw/"
	chmod 600 "$T_TMP/hupw"/*
	chown nobody "$T_TMP/hupw"
	lite multi $W --discard --cert "$T_TMP/hupw/tls.lite.test.chain.pem" --key "$T_TMP/hupw/tls.lite.test.key" -u nobody
	cm "SIGHUP after -u: an unsafe directory warned at start" 'warning: .*hupw/tls\.lite\.test\.key is in a directory others than root may change' cat "$P/lite-multi.log"
	hupwait
	cm "SIGHUP after -u: the reader refuses it" 'reload certificates failed \(kept the old ones\): certificate: Operation not permitted' cat "$P/lite-multi.log"
	unlite
	# A link that only passes through such a directory on its way to a
	# key root keeps: refused as well (the link there could be changed).
	L2=$T_TMP/hupl
	mkdir -p "$L2" && chmod 700 "$L2"
	cp "$CD/tls.lite.test.chain.pem" "$L2/cert.pem" && cp "$CD/tls.lite.test.key" "$L2/real.key"
	chmod 600 "$L2/cert.pem" "$L2/real.key"
	ln -sfn "$L2/real.key" "$T_TMP/hupw/hop"
	ln -sfn "$T_TMP/hupw/hop" "$L2/key.pem"
	lite multi $W --discard --cert "$L2/cert.pem" --key "$L2/key.pem" -u nobody
	cm "SIGHUP after -u: a link through such a directory warned at start" 'warning: .*hupl/key\.pem is in a directory others than root may change' cat "$P/lite-multi.log"
	hupwait
	cm "SIGHUP after -u: the reader refuses that link" 'reload certificates failed \(kept the old ones\): key: Operation not permitted' cat "$P/lite-multi.log"
	nomatch "SIGHUP after -u: the certificate beside it still read" 'certificate: Operation not permitted' "$P/lite-multi.log"
	unlite
	# Group write is refused even for group root: an ACL giving a user
	# write shows as that mask in the mode.
	G=$T_TMP/hupg
	mkdir -p "$G" && chgrp 0 "$G" && chmod 775 "$G"
	cp "$CD/tls.lite.test.chain.pem" "$CD/tls.lite.test.key" "$G/"
	chmod 600 "$G"/*
	lite multi $W --discard --cert "$G/tls.lite.test.chain.pem" --key "$G/tls.lite.test.key" -u nobody
	cm "SIGHUP after -u: a group-writable directory warned at start" 'warning: .*hupg/tls\.lite\.test\.key is in a directory others than root may change' cat "$P/lite-multi.log"
	unlite
	# Without a reader (no -u) a file that cannot be read keeps the old.
	lite multi $W --discard --cert "$H/cert.pem" --key "$H/key.pem"
	: >"$H/key.pem"
	hupwait
	cm "SIGHUP: a broken key keeps the old certificate, logged" 'reload certificates failed \(kept the old ones\)' cat "$P/lite-multi.log"
	cm "SIGHUP: the old certificate still served" 'CN=mx\.dane\.test' subject $W
	unlite
else
	echo "  (SIGHUP after -u: skipped, not root)"
fi

# --- reliability: smtp-source, 100 sessions, 20000 messages into a Maildir
# (fsync'ed; smtp-source gives up at the first refusal, so its exit 0 means
# 20000 times 250); each message has its own recipient (-N): every one
# must be stored once.
B=192.0.2.150
mkdir -p "$M/bulk"
lite bulk $B --maildir "$M/bulk" --max-clients 500 --max-per-ip 500
ce "bulk: smtp-source -s 100 -m 20000, all acknowledged" 0 timeout 240 smtp-source -s 100 -m 20000 -N -f a@example.test -t r@lite.test $B:25
unlite
grep -rho 'for <[0-9]*r@lite\.test>' "$M/bulk/new" | sort >"$T_TMP/bulk.rcpts"
n=$(wc -l <"$T_TMP/bulk.rcpts")
u=$(sort -u "$T_TMP/bulk.rcpts" | wc -l)
[ "$n" = 20000 ] && [ "$u" = 20000 ] && ok "bulk: 20000 stored, 0 lost, 0 duplicated" || fail bulk-stored "$n stored, $u distinct"
[ "$(nnew "$M/bulk")" = 20000 ] && ok "bulk: 20000 files in new/" || fail bulk-files "$(nnew "$M/bulk")"
[ -z "$(ls -A "$M/bulk/tmp")" ] && ok "bulk: tmp/ empty" || fail bulk-tmp "$(ls "$M/bulk/tmp" | wc -l) left"
[ "$(grep -c 'result="250 ' "$P/lite-bulk.log")" = 20000 ] && ok "bulk: 20000 logged with 250" || fail bulk-log "$(grep -c 'result="250 ' "$P/lite-bulk.log")"
rm -rf "$M/bulk"

finish
