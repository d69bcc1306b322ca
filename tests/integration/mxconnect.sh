#!/bin/bash
# ISC license.
#
# mxconnect against real nsd/unbound and real listeners in the test world.
# Zones: tests/world/zones/*.zone.  No timing assertions: only behaviour.

. "$(dirname "$0")/lib.sh"

MXC="mxconnect --connect-timeout 3 --greeting-timeout 5 --timeout 30"
# check_* overwrite $T_OUT: later checks of the same output read a copy.

start_sink 192.0.2.20 25 || fail setup "smtp-sink on 192.0.2.20"
start_sink 192.0.2.10 25 || fail setup "smtp-sink on 192.0.2.10"
start_sink 2001:db8::30 25 || fail setup "smtp-sink on [2001:db8::30]"
start_sink 192.0.2.32 25 || fail setup "smtp-sink on 192.0.2.32"
start_sink 192.0.2.33 25 || fail setup "smtp-sink on 192.0.2.33"
start_sink 192.0.2.34 25 || fail setup "smtp-sink on 192.0.2.34"
start_sink 192.0.2.36 25 || fail setup "smtp-sink on 192.0.2.36"
start_greeter 192.0.2.35 25 "421 4.3.2 mx1 is busy, try another" ||
	fail setup "greeter on 192.0.2.35"
start_greeter 192.0.2.37 25 "554 5.7.1 no mail for you" ||
	fail setup "greeter on 192.0.2.37"
start_greeter 192.0.2.38 25 "554 5.3.2 not accepting" ||
	fail setup "greeter on 192.0.2.38"

# Usage and input errors.
ce "no target: usage" 64 mxconnect
ce "bad option: usage" 64 mxconnect --no-such-option x.test
ce "bad duration: usage" 64 mxconnect --connect-timeout soon x.test
cm "--help" "^usage: mxconnect" mxconnect --help
cm "--version" "^mxconnect [0-9]" mxconnect --version
ce "conflicting modes: usage" 64 mxconnect -n signed.test -- cat
ce "zero timeout: usage" 64 mxconnect --timeout 0 signed.test
ce "bad proxy URL checked first: usage" 64 mxconnect --proxy http://x nosuch.test
ce "proxy password in argv refused: usage" 64 mxconnect --proxy socks5h://u:secret@127.0.0.1:1080 nosuch.test
cm "proxy password: the reason, not the secret" "MXCONNECT_PROXY_PASSWORD" cat "$K"
check "proxy password: not echoed" bash -c "! grep -q secret '$K'"
cm "getopt errors in our format" "^mxconnect: error: unknown option --bogus" mxconnect --bogus x.test
ce "invalid target: 65" 65 mxconnect 'a@@b.test'
cm "invalid target message" "invalid target" mxconnect 'bad..name.test'

# Priorities: a SYN-dropping host and a refusing one before a live one.
ce "prio: connects" 0 $MXC prio.test
cm "prio: winner is the live MX" \
	"^connected 192\.0\.2\.20:25 live\.prio\.test pref 30 dnssec secure" \
	cat "$K"
cm "prio: blackhole attempt abandoned" \
	"^attempt 192\.0\.2\.66:25 dead\.prio\.test (aborted|timeout)" cat "$K"
cm "prio: refused attempt" \
	"^attempt 192\.0\.2\.67:25 refuse\.prio\.test refused" cat "$K"
cm "prio: plan in preference order" "^10 20 30 $" \
	bash -c "$MXC -n prio.test | cut -d' ' -f1 | tr '\n' ' '"
cm "prio: greeting shown" "^greeting 220 " $MXC prio.test
ce "prio: one at a time (--attempt-delay 0)" 0 \
	$MXC --attempt-delay 0 --connect-timeout 1 prio.test
cm "prio: sequential attempt timed out" \
	"^attempt 192\.0\.2\.66:25 dead\.prio\.test timeout" cat "$K"

# --plan: one route per line, PREF HOST ADDRESS DNSSEC.
cm "plan format" "^10 mx\.signed\.test 192\.0\.2\.10 secure$" \
	$MXC -n signed.test
cm "plan: IPv6 route" "^10 mx\.signed\.test 2001:db8::10 secure$" \
	cat "$K"
cm "plan: insecure zone" "^10 mx\.plain\.test 192\.0\.2\.11 insecure$" \
	$MXC -n plain.test

# Equal preferences are shuffled; --no-shuffle keeps one order.
a_first=0 b_first=0
for i in $(seq 1 30); do
	first=$($MXC -n equal.test | head -n 1 | cut -d' ' -f2)
	case $first in
	a.equal.test) a_first=$((a_first + 1)) ;;
	b.equal.test) b_first=$((b_first + 1)) ;;
	esac
done
if [ $a_first -gt 0 ] && [ $b_first -gt 0 ]; then
	ok "equal preferences: both orders seen"
else
	fail "equal preferences: both orders seen" "a first $a_first, b first $b_first"
fi
orders=$(for i in $(seq 1 10); do $MXC -n --no-shuffle equal.test | tr '\n' ' '; echo; done | sort -u | wc -l)
if [ "$orders" -eq 1 ]; then
	ok "--no-shuffle: one order"
else
	fail "--no-shuffle: one order" "$orders different orders"
fi

# Implicit MX, null MX, NXDOMAIN, bogus.
cm "implicit MX" "^0 implicit\.test 192\.0\.2\.23 (secure|insecure)$" \
	$MXC -n implicit.test
ce "null MX: 68" 68 $MXC nullmx.test
cm "null MX: message" "accepts no mail" cat "$K"
ce "NXDOMAIN: 68" 68 $MXC nosuch.test
cm "NXDOMAIN: message" "no such domain" cat "$K"
ce "bogus zone: 75" 75 $MXC bogus.test
cm "bogus zone: SERVFAIL" "SERVFAIL" cat "$K"

# Address families.
cm "IPv6-only MX: plan" "^10 mx\.v6only\.test 2001:db8::30 " \
	$MXC -n v6only.test
ce "IPv6-only MX: connects" 0 $MXC v6only.test
cm "IPv6-only MX: winner" "^connected \[2001:db8::30\]:25" cat "$K"
ce "IPv6-only MX with -4: nothing usable (69)" 69 $MXC -4 v6only.test
cm "dual: -4" "^10 mx\.dual\.test 192\.0\.2\.31 " $MXC -n -4 dual.test
if grep -q 2001:db8 "$T_OUT"; then fail "dual: -4 has no IPv6" "$(cat "$K")"; else ok "dual: -4 has no IPv6"; fi
cm "dual: -6" "^10 mx\.dual\.test 2001:db8::31 " $MXC -n -6 dual.test
if grep -q 192.0.2 "$T_OUT"; then fail "dual: -6 has no IPv4" "$(cat "$K")"; else ok "dual: -6 has no IPv4"; fi
cm "dual: default IPv4 first" "^10 mx\.dual\.test 192\.0\.2\.31 " \
	bash -c "$MXC -n dual.test | head -n 1"
cm "dual: --prefer-ipv6" "^10 mx\.dual\.test 2001:db8::31 " \
	bash -c "$MXC -n --prefer-ipv6 dual.test | head -n 1"

# Filters.
cm "no --block-local: loopback MX planned" "^10 mx\.local\.test 127\.0\.0\.1 " \
	$MXC -n local.test
ce "--block-local: connects to the second MX" 0 $MXC --block-local local.test
cm "--block-local: loopback skipped" "^skip 10 mx\.local\.test 127\.0\.0\.1 local address blocked" \
	cat "$K"
cm "--block-local: winner" "^connected 192\.0\.2\.32:25 mx2\.local\.test" cat "$K"
ce "--ignore-host by name" 0 $MXC --ignore-host dead.prio.test --ignore-host 192.0.2.67 prio.test
if grep -q '^attempt 192\.0\.2\.6[67]' "$T_OUT"; then
	fail "--ignore-host: no attempt to ignored hosts" "$(cat "$K")"
else
	ok "--ignore-host: no attempt to ignored hosts"
fi
cm "--ignore-host: reason shown" "^skip 10 dead\.prio\.test - ignored" cat "$K"
ce "MX host without address: next MX" 0 $MXC noaddr.test
cm "MX host without address: reason" "^skip 10 ghost\.noaddr\.test - no address records" \
	cat "$K"

# IDN, address literals, pre-resolved routes.
cm "IDN target in Unicode" "^10 mx\.xn--bcher-kva\.test 192\.0\.2\.33 " \
	$MXC -n 'bücher.test'
ce "IDN: connects" 0 $MXC 'info@Bücher.test'
cm "IDN: domain shown both ways" "^domain xn--bcher-kva\.test bücher\.test" cat "$K"
ce "address literal" 0 $MXC '[192.0.2.20]'
cm "address literal: no DNS, connected" "^connected 192\.0\.2\.20:25" cat "$K"
ce "address literal in a mailbox" 0 $MXC 'postmaster@[192.0.2.20]'
ce "--mx pre-resolved, no DNS" 0 $MXC --resolver "$REFUSE_V4" --dns-timeout 2 \
	--mx relay.example.test:10=192.0.2.20 anything.test
cm "--mx: winner" "^connected 192\.0\.2\.20:25 relay\.example\.test pref 10" cat "$K"

# Greetings: 421 moves on; 5xx everywhere is permanent.
ce "421 greeting: next MX" 0 $MXC greet.test
cm "421 greeting: rejected attempt" "^attempt 192\.0\.2\.35:25 mx1\.greet\.test rejected .*421" \
	cat "$K"
cm "421 greeting: winner mx2" "^connected 192\.0\.2\.36:25 mx2\.greet\.test" cat "$K"
ce "5xx greetings only: 69" 69 $MXC refusing.test
ce "refused only: 75" 75 $MXC --mx a.test=192.0.2.67 x.test
# A quicker backup that refuses (554) does not end the race: the
# preferred MX still connecting goes on, and its timeout makes the run a
# deferral (75), not a bounce (69).
ce "slow MX 10, MX 20 greets 554: 75" 75 $MXC --attempt-delay 200ms --connect-timeout 2 \
	--mx dead.x.test:10=$BLACKHOLE_V4 --mx no.x.test:20=192.0.2.37 x.test
cm "slow MX 10: not aborted, timed out" "^attempt $BLACKHOLE_V4:25 dead\.x\.test (timeout|timed out)" cat "$K"
cm "slow MX 10: MX 20 rejected" "^attempt 192\.0\.2\.37:25 no\.x\.test rejected .*554" cat "$K"
# With -s: MX 10 greets and then answers EHLO with 421, MX 20 greets 554.
# The first failed for now, so the run is a deferral (75), not 69.
for a in 192.0.2.35:421 192.0.2.37:554; do
	at=${a%%:*} code=${a#*:}
	if [ "$code" = 421 ]; then f="EHLO=421:4.3.2 busy"; else f="CONNECT=554:5.7.1 go away"; fi
	nsenter --net="$WORLD_DIR/inet.ns" "$T_ROOT/bin/smtpd-lite" -l "$at:2527" --discard --reply "$f" \
	    >"$WORLD_DIR/peers/mxc-lite-$code.log" 2>&1 </dev/null &
	world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $!
	wait_port "$at" 2527 5 || fail setup "smtpd-lite on $at:2527"
done
# A greeting cut off by the server's close: seen at once, not after the
# greeting timeout.
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.38", 2528))
s.listen(5)
s.settimeout(60)
for _ in range(5):
    c, _ = s.accept()
    c.sendall(b"220 half a gree")
    c.close()
' >/dev/null 2>&1 </dev/null &
half_pid=$!
world_pid_add "$WORLD_DIR/peers.pids" half-greeter $half_pid
wait_port 192.0.2.38 2528 5 || fail setup "half greeter"
t0=$(date +%s)
ce "a greeting cut off by a close: 75" 75 $MXC -p 2528 --greeting-timeout 30s --mx half.x.test=192.0.2.38 x.test
cm "a greeting cut off: says so" 'closed in the middle of the greeting' cat "$K"
[ $(($(date +%s) - t0)) -lt 20 ] && ok "a greeting cut off: seen before the greeting timeout" || fail half-greeting "$(($(date +%s) - t0)) s"
kill "$half_pid" 2>/dev/null
wait "$half_pid" 2>/dev/null
ce "-s: EHLO 421 on MX 10, 554 greeting on MX 20: 75" 75 $MXC -s --tls-policy none -p 2527 \
	--mx busy.x.test:10=192.0.2.35 --mx no.x.test:20=192.0.2.37 x.test

# Exec mode (UCSPI): PROG reads the banner on fd 6, writes on fd 7.
cm "exec: banner on fd 6" "^220 .*
PROTO=TCP 192\.0\.2\.10 25 mx\.signed\.test 10 secure$" \
	$MXC -4 signed.test -- sh -c 'IFS= read -r l <&6; printf "%s\n" "$l" | tr -d "\r";
	printf "QUIT\r\n" >&7; echo "PROTO=$PROTO $TCPREMOTEIP $TCPREMOTEPORT $MXHOST $MXPREF $MXDNSSEC"'
cm "exec: -e form" "^220 " $MXC -e sh -4 signed.test -c 'head -n 1 <&6'
ce "exec: missing program" 69 $MXC -4 signed.test -- /nonexistent/prog

# Pipe mode driven by a script.
cm "pipe: QUIT answered" "^221 " bash -c "printf 'QUIT\r\n' | $MXC -c -4 signed.test"
cm "pipe: greeting first" "^220 " cat "$K"
cm "pipe: --crlf" "^250" bash -c "printf 'EHLO client.test\nQUIT\n' | $MXC -c --crlf -4 signed.test"

# Through a SOCKS5 proxy on the client (like Tor): names go to the proxy.
/usr/bin/python3 "$WORLD_SRC/socks5.py" 127.0.0.1 1080 "$T_TMP/socks.log" \
	>"$T_TMP/socks.out" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" socks5 $!
if wait_port 127.0.0.1 1080 5; then
	ce "proxy: connects" 0 $MXC --proxy socks5h://127.0.0.1:1080 prio.test
	cm "proxy: live MX reached by name" "^connected live\.prio\.test:25 live\.prio\.test pref 30" cat "$K"
	cm "proxy: refused host reported" "^attempt refuse\.prio\.test:25 refuse\.prio\.test rejected|^attempt refuse\.prio\.test:25 refuse\.prio\.test error" cat "$K"
	cm "proxy: names sent to the proxy (ATYP 3)" "^CONNECT 3 refuse\.prio\.test 25 -> 5" cat "$T_TMP/socks.log"
	ce "proxy: socks5:// sends addresses" 0 $MXC --proxy socks5://127.0.0.1:1080 --ignore-host dead.prio.test signed.test
	cm "proxy: ATYP 1 for socks5://" "^CONNECT 1 192\.0\.2\.10 25 -> 0" cat "$T_TMP/socks.log"
	ce "proxy: --block-local applies to names we resolved" 0 $MXC --block-local --proxy socks5h://127.0.0.1:1080 local.test
	cm "proxy: loopback MX not sent to the proxy" "^connected mx2\.local\.test:25" cat "$K"
	if grep -q 'CONNECT 3 mx\.local\.test' "$T_TMP/socks.log"; then
		fail "proxy: blocked host never named to the proxy" "$(cat "$T_TMP/socks.log")"
	else
		ok "proxy: blocked host never named to the proxy"
	fi
	ce "proxy: unreachable proxy is temporary" 75 $MXC --proxy socks5h://127.0.0.1:1081 signed.test
else
	fail "proxy: setup" "socks5.py does not listen: $(cat "$T_TMP/socks.out")"
fi

# JSON and quiet.
check "json: valid" bash -c "$MXC --json prio.test | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o[\"connected\"][\"host\"] == \"live.prio.test\", o
assert o[\"exit\"] == 0
assert o[\"plan\"][0][\"host\"] == \"dead.prio.test\"
assert any(a[\"outcome\"] == \"refused\" for a in o[\"attempts\"])
'"
check "json: failure object" bash -c "$MXC --json nullmx.test | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
assert o[\"result\"] == \"nullmx\" and o[\"exit\"] == 68, o
'; [ \${PIPESTATUS[0]} -eq 68 ]"
check "quiet: no output" bash -c "[ -z \"\$($MXC -q prio.test 2>&1)\" ]"
ce "quiet: exit status kept" 68 $MXC -q nullmx.test

# Verbose output names the resolver and DNS timings.
cm "-v: resolver and timings" "resolver 127\.0\.0\.1.*AD trusted" $MXC -v -n signed.test
cm "-v: DNS queries with timings" "MX signed\.test: ok, secure, 1 records, [0-9]+ ms" \
	$MXC -v -n signed.test

finish
