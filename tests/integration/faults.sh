#!/bin/bash
# ISC license.
#
# Faults, against real peers in the test world: the resolver dies or
# stalls in the middle of a run, or answers late, or is a black hole in
# resolv.conf; a server cuts the TLS handshake after STARTTLS, closes in
# the middle of DATA, or answers garbage; clients stall smtpd-lite or cut
# their own handshake; smtpd-lite stores mail on a full file system; and
# mtasts-check is killed again and again while it writes its cache.
#
# The peers: tests/world/faulty.py (one misbehaviour per address of
# zones/faults.test.zone), tests/world/dnsfault.py (a resolver that goes
# silent or slow), a second unbound of our own (killed, stopped), smtpd.py
# (the good MX, which stores what it gets), smtp-sink, smtpd-lite, nginx
# (zones/sts-faults.test.zone).  SIGKILL of smtpd-lite under load, with every
# acknowledged message intact, is in smtpd_lite.sh ("SIGKILL under load").
#
# No timing assertions: every command runs under timeout(1) with a bound
# several times what its own deadlines allow, and a hang is a failure.
# VERBOSE=1 prints the measured times and memory figures.

. "$(dirname "$0")/lib.sh"

S=$T_ROOT/bin/smtpsend
X=$T_ROOT/bin/mxconnect
L=$T_ROOT/bin/smtpd-lite
C=$WORLD_DIR/certs
P=$WORLD_DIR/peers
D=$T_TMP/dump
PY=/usr/bin/python3
mkdir -p "$P" "$D"

# no NAME ERE FILE: FILE must not match ERE (octet by octet: in a UTF-8
# locale a bracket expression does not match an invalid octet).
no() {
	if LC_ALL=C grep -Eaq -- "$2" "$3"; then
		fail "$1" "matches /$2/: $(LC_ALL=C grep -Ea -- "$2" "$3" | head -n 2 | cat -v)"
	else
		ok "$1"
	fi
}
# timed CMD...: run CMD, keep its duration in T_SECS.
timed() {
	local t0=$EPOCHREALTIME rc
	"$@"
	rc=$?
	T_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
	return $rc
}
# figure TEXT: a measured figure, printed with VERBOSE=1.
figure() {
	[ "${VERBOSE:-0}" = 1 ] && echo "figure: $*"
	return 0
}
msg() { printf 'From: a@example.test\nSubject: %s\n\nhello\n' "$1"; }
export -f msg
ndumps() { ls "$D"/*.eml 2>/dev/null | wc -l; }

# inet NAME CMD...: a peer in the inet namespace, recorded for `world stop`.
inet() {
	local name=$1
	shift
	nsenter --net="$WORLD_DIR/inet.ns" "$@" >"$P/$name.out" 2>&1 </dev/null &
	world_pid_add "$WORLD_DIR/peers.pids" "$name" $!
	PEER_PID=$!
}
# faulty ADDR MODE [OPTION...]: tests/world/faulty.py on ADDR:25.
faulty() {
	local a=$1 m=$2
	shift 2
	inet "faulty-$a" "$PY" "$WORLD_SRC/faulty.py" "$a" 25 "$m" \
	    --log "$P/faulty.log" "$@"
}

world_cert faults cut.faults.test good.faults.test close.faults.test \
    garbtls.faults.test stall.faults.test lite.faults.test \
    full.faults.test || fail setup "cannot issue the certificate"
TLS=(--cert "$C/faults.chain.pem" --key "$C/faults.key")
faulty 192.0.2.160 starttls-cut "${TLS[@]}"
faulty 192.0.2.162 starttls-close "${TLS[@]}"
faulty 192.0.2.163 starttls-garbage "${TLS[@]}"
faulty 192.0.2.164 starttls-stall "${TLS[@]}" --idle 30
faulty 192.0.2.165 data-close --after 3000
faulty 192.0.2.166 data-close
faulty 192.0.2.167 reply-binary
faulty 192.0.2.168 reply-longline
faulty 192.0.2.169 reply-endless --limit 67108864
faulty 192.0.2.170 greeting-binary
faulty 192.0.2.171 greeting-http
inet smtpd-good "$PY" "$WORLD_SRC/smtpd.py" 192.0.2.161 25 "${TLS[@]}" \
    --hostname good.faults.test --dump "$D"
start_sink 192.0.2.174 25 -w 1 || fail setup "smtp-sink on 192.0.2.174"
for a in 160 161 162 163 164 165 166 167 168 169 170 171; do
	wait_port "192.0.2.$a" 25 10 ||
	    fail setup "nothing listens on 192.0.2.$a: $(cat "$P"/*"192.0.2.$a"*.out 2>/dev/null | tail -n 3)"
done

# --------------------------------------------------------------- resolver
# Our own unbound on 127.0.0.2 (the world's config, another address), so
# that killing it leaves the world's resolver alone.
U=$T_TMP/unbound
mkdir -p "$U"
sed -e '/^ *interface:/d' -e "s|^ *pidfile:.*|    pidfile: \"$U/unbound.pid\"|" \
    -e "s|^ *logfile:.*|    logfile: \"$U/unbound.log\"|" \
    -e 's|^server:|server:\n    interface: 127.0.0.2|' \
    "$WORLD_DIR/unbound/unbound.conf" >"$U/unbound.conf"
unbound2() {
	setsid unbound -d -c "$U/unbound.conf" >>"$U/stderr.log" 2>&1 </dev/null &
	UB=$!
	world_pid_add "$WORLD_DIR/peers.pids" unbound2 $UB
	for _ in $(seq 50); do
		kdig +time=1 +retry=0 @127.0.0.2 test. SOA 2>/dev/null |
		    grep -q 'status: NOERROR' && return 0
		sleep 0.1
	done
	fail unbound2 "no second unbound: $(tail -n 3 "$U/unbound.log" "$U/stderr.log")"
	return 1
}
# dnsfault ADDR OPTION...: tests/world/dnsfault.py (client side).
dnsfault() {
	local a=$1
	shift
	"$PY" "$WORLD_SRC/dnsfault.py" "$a" 53 --log "$T_TMP/dns-$a.log" "$@" \
	    >"$P/dnsfault-$a.out" 2>&1 </dev/null &
	world_pid_add "$WORLD_DIR/peers.pids" dnsfault $!
	for _ in $(seq 50); do
		grep -q ready "$P/dnsfault-$a.out" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "dnsfault $a" "did not start: $(cat "$P/dnsfault-$a.out")"
}

# Two domains in one run, delivered in turn: ra.faults.test (smtp-sink,
# 1 s to answer DATA) and rb.faults.test, whose lookups come after the
# resolver is gone.  The resolver goes (SIG) once smtpsend is connected
# to ra's MX and its TLSA lookup is done.
resolver_goes() {
	for _ in $(seq 200); do
		[ -n "$(ss -Htn state established dst 192.0.2.174 2>/dev/null)" ] &&
		    break
		sleep 0.05
	done
	sleep 0.3
	kill "-$1" "$UB"
}
unbound2
resolver_goes KILL &
killer=$!
ce "resolver killed mid-run: 75" 75 timed timeout 30 bash -c \
    "msg mid | $S --resolver 127.0.0.2 a@ra.faults.test b@rb.faults.test"
wait "$killer"
figure "resolver killed mid-run: $T_SECS s"
cm "resolver killed: the first domain was sent" '^sent a@ra\.faults\.test 250 ' cat "$K"
cm "resolver killed: the second deferred, saying why" \
    '^deferred b@rb\.faults\.test 451 4\.4\.3 rb\.faults\.test: MX lookup failed: .*127\.0\.0\.2#53' cat "$K"

unbound2
resolver_goes STOP &
killer=$!
ce "resolver stopped (SIGSTOP) mid-run: 75" 75 timed timeout 40 bash -c \
    "msg mid | $S --resolver 127.0.0.2 a@ra.faults.test b@rb.faults.test"
wait "$killer"
kill -CONT "$UB"
kill "$UB"
figure "resolver stopped mid-run: $T_SECS s (2 tries of 2 s)"
cm "resolver stopped: the second deferred on a timeout" \
    '^deferred b@rb\.faults\.test 451 4\.4\.3 rb\.faults\.test: MX lookup failed: timeout' cat "$K"

# A resolver that answers the first query (the MX) and then nothing.
dnsfault 127.0.0.4 --answer 1
ce "resolver dies after the MX answer: mxconnect 75" 75 timed timeout 30 \
    "$X" --resolver 127.0.0.4 --dns-timeout 3s tlscut.faults.test
figure "mxconnect, resolver dead after the MX lookup: $T_SECS s (--dns-timeout 3s)"
cm "mxconnect: address lookups failed" 'no usable MX host: address lookups failed' cat "$K"
cm "mxconnect: says it is temporary" 'this is temporary' cat "$K"
dnsfault 127.0.0.6 --answer 1
ce "resolver dies after the MX answer: smtpsend 75" 75 timed timeout 40 bash -c \
    "msg mid | $S --resolver 127.0.0.6 b@rb.faults.test"
figure "smtpsend, resolver dead after the MX lookup: $T_SECS s"
cm "smtpsend: deferred, 4.x.x" '^deferred b@rb\.faults\.test 4[0-9][0-9] 4\.' cat "$K"

# A slow resolver: every answer 3 s late.
dnsfault 127.0.0.5 --delay 3
ce "slow resolver: mxconnect --dns-timeout 1s: 75" 75 timed timeout 20 \
    "$X" --resolver 127.0.0.5 --dns-timeout 1s rb.faults.test
figure "mxconnect, resolver 3 s late, --dns-timeout 1s: $T_SECS s"
cm "slow resolver: MX lookup timed out" 'MX lookup failed: timeout' cat "$K"
ce "slow resolver: smtpsend 75" 75 timed timeout 40 bash -c \
    "msg slow | $S --resolver 127.0.0.5 b@rb.faults.test"
figure "smtpsend, resolver 3 s late: $T_SECS s"
cm "slow resolver: smtpsend deferred on a timeout" '^deferred b@rb\.faults\.test 451 4\.4\.3 .*timeout' cat "$K"

# A black hole in resolv.conf (a private mount namespace: the world's
# resolv.conf stays as it is).
dnsfault 127.0.0.3 --silent
printf 'nameserver 127.0.0.3\noptions timeout:1 attempts:1\n' >"$T_TMP/resolv.conf"
printf 'nameserver 127.0.0.3\n' >"$T_TMP/resolv-default.conf"
# withconf FILE CMD...: CMD with FILE as its /etc/resolv.conf.
withconf() {
	local f=$1
	shift
	unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$f" "$@"
}
export -f withconf
ce "black-holed resolv.conf (timeout:1): smtpsend 75" 75 timed timeout 20 bash -c \
    "msg bh | withconf '$T_TMP/resolv.conf' $S b@rb.faults.test"
figure "smtpsend, black-holed resolver, timeout:1 attempts:1: $T_SECS s"
cm "black hole: deferred, the resolver named" '^deferred b@rb\.faults\.test 451 4\.4\.3 .*timeout: 127\.0\.0\.3#53' cat "$K"
ce "black-holed resolv.conf (defaults): smtpsend 75" 75 timed timeout 40 bash -c \
    "msg bh | withconf '$T_TMP/resolv-default.conf' $S b@rb.faults.test"
figure "smtpsend, black-holed resolver, resolv.conf defaults: $T_SECS s"
ce "black-holed resolv.conf: mxconnect 75" 75 timed timeout 40 bash -c \
    "withconf '$T_TMP/resolv-default.conf' $X rb.faults.test"
figure "mxconnect, black-holed resolver, resolv.conf defaults: $T_SECS s"
cm "black hole: mxconnect says why" 'MX lookup failed: timeout' cat "$K"
ce "black-holed resolv.conf: mtasts-check 75" 75 timed timeout 60 bash -c \
    "withconf '$T_TMP/resolv.conf' mtasts-check --no-cache sts-enforce.test"
figure "mtasts-check, black-holed resolver: $T_SECS s"
cm "black hole: mtasts-check unreachable, no cache" '^sts-enforce\.test unreachable .*timeout.*no cached policy' cat "$K"
grep -q ' 15 rb\.faults\.test\. dropped$' "$T_TMP/dns-127.0.0.3.log" &&
    ok "black hole: the queries went to the black hole" ||
    fail black-hole-log "$(tail -n 3 "$T_TMP/dns-127.0.0.3.log")"

# ---------------------------------------------------------- TLS handshake
# The faulty MX first, the good one second: smtpsend moves on.
for d in tlscut tlsclose tlsgarbage; do
	before=$(ndumps)
	ce "$d: smtpsend tries the next MX: sent" 0 timed timeout 60 bash -c \
	    "msg $d | $S -v --json x@$d.faults.test"
	figure "smtpsend, $d then the good MX: $T_SECS s"
	cm "$d: sent by the second MX" '"result":"sent".*"host":"good\.faults\.test"' cat "$K"
	cm "$d: -v says why the first MX was left" '^smtpsend: MX [a-z]+\.faults\.test failed: .*TLS handshake' cat "$K"
	[ "$(ndumps)" = $((before + 1)) ] && ok "$d: stored once" ||
	    fail "$d-stored" "$(ndumps) stored, $before before"
done
ce "tlsstall: the handshake deadline, then the next MX" 0 timed timeout 60 bash -c \
    "msg stall | $S --command-timeout 2s x@tlsstall.faults.test"
figure "smtpsend, a stalled handshake (--command-timeout 2s), then the good MX: $T_SECS s"
ce "onlycut: smtpsend 75" 75 timed timeout 30 bash -c "msg c | $S x@onlycut.faults.test"
cm "onlycut: deferred 4.7.0, the handshake named" '^deferred x@onlycut\.faults\.test 451 4\.7\.0 cut\.faults\.test: TLS handshake' cat "$K"
ce "onlycut, --tls require: 75" 75 timeout 30 bash -c "msg c | $S --tls require x@onlycut.faults.test"
ce "mxconnect --starttls, cut handshake: 75" 75 timeout 30 "$X" --starttls onlycut.faults.test
cm "mxconnect: the handshake failure" 'failed cut\.faults\.test .*TLS handshake' cat "$K"
ce "mxconnect --starttls, cut then good: 0" 0 timeout 30 "$X" --starttls tlscut.faults.test
cm "mxconnect: the second MX verified" '^verdict Trusted good\.faults\.test ' cat "$K"
ce "mxconnect --starttls, 220 then close: 0 via the next MX" 0 timeout 30 "$X" --starttls tlsclose.faults.test
ce "mxconnect --starttls, stalled handshake: 0 via the next MX" 0 timed timeout 30 \
    "$X" --starttls --greeting-timeout 2s tlsstall.faults.test
figure "mxconnect, a stalled handshake (--greeting-timeout 2s), then the good MX: $T_SECS s"

# ---------------------------------------------------------- mid-DATA close
ce "server closes in the middle of DATA: 75" 75 timed timeout 30 bash -c \
    "(msg middata; seq 1 5000) | $S --host middata.faults.test x@faults.test"
figure "smtpsend, connection closed in DATA: $T_SECS s"
cm "mid-DATA: deferred 4.4.2" '^deferred x@faults\.test 451 4\.4\.2 .*(closed|reset)' cat "$K"
ce "server closes after the final dot, no reply: 75" 75 timeout 30 bash -c \
    "(msg afterdot; seq 1 5000) | $S --host afterdot.faults.test x@faults.test"
cm "after the dot: deferred 4.4.2" '^deferred x@faults\.test 451 4\.4\.2 ' cat "$K"
SP=$T_TMP/spool
(printf 'From: a@example.test\nSubject: spooled\n\n'; seq 1 5000) >"$T_TMP/spooled.eml"
ce "mid-DATA with --spool: queued, exit 0" 0 timeout 30 \
    "$S" --spool "$SP" --host middata.faults.test x@faults.test <"$T_TMP/spooled.eml"
cm "mid-DATA with --spool: the queued line" '^queued x@faults\.test 451 4\.4\.2 ' cat "$K"
[ "$(ls "$SP/new" 2>/dev/null | wc -l)" = 1 ] && ok "--spool: one entry" ||
    fail spool-entry "$(ls -la "$SP/new" 2>&1)"
before=$(ndumps)
ce "--flush to the good server: sent" 0 timeout 30 \
    "$S" --flush "$SP" --retry-now --host good.faults.test --tls none
[ "$(ndumps)" = $((before + 1)) ] && [ -z "$(ls "$SP/new")" ] &&
    ok "--flush: delivered, spool empty" || fail flush "$(ls "$SP/new")"
f=$(ls -t "$D"/*.eml | head -n 1)
if tr -d '\r' <"$f" | grep -v '^\(Date\|Message-ID\):' |
    cmp -s - <(grep -v '^\(Date\|Message-ID\):' "$T_TMP/spooled.eml"); then
	ok "--flush: the message arrived whole"
else
	fail flush-content "$(diff <(tr -d '\r' <"$f") "$T_TMP/spooled.eml" | head -n 5)"
fi

# --------------------------------------------------------------- garbage
# Each peer sends garbage where a reply belongs; the endless ones would send
# 16 or 64 MiB.  smtpsend must stop reading, say 76, and stay small.
for h in binary longline endless noise http; do
	ce "$h: smtpsend 76" 76 timed /usr/bin/time -f 'maxrss %M' -o "$T_TMP/rss" \
	    timeout 30 bash -c "msg $h | $S --host $h.faults.test x@faults.test"
	rss=$(awk '/maxrss/ { print $2 }' "$T_TMP/rss")
	figure "smtpsend against $h: $T_SECS s, max RSS $rss KiB"
	[ -n "$rss" ] && [ "$rss" -lt 65536 ] && ok "$h: memory bounded (${rss} KiB)" ||
	    fail "$h-rss" "max RSS ${rss:-?} KiB"
	cm "$h: deferred with a protocol status" '^deferred x@faults\.test 451 4\.5\.0 ' cat "$K"
	no "$h: nothing raw from the peer in the output" $'[^\t -~]' "$K"
	case $h in
	longline) cm "$h: the line limit named" 'reply line longer than 2048 octets' cat "$K" ;;
	endless) cm "$h: the reply limit named" 'reply longer than 65536 octets' cat "$K" ;;
	*) cm "$h: malformed reply" 'malformed reply line' cat "$K" ;;
	esac
done
ce "noise first, good second: sent by the good MX" 0 timeout 30 bash -c \
    "msg j | $S --json x@junkfirst.faults.test"
cm "noise first: the good MX" '"host":"good\.faults\.test"' cat "$K"
ce "mxconnect: a binary greeting: 76" 76 timeout 30 "$X" --mx noise.faults.test faults.test
no "mxconnect: nothing raw from the peer" $'[^\t -~]' "$K"
ce "mxconnect: an HTTP greeting: 76" 76 timeout 30 "$X" --mx http.faults.test faults.test
ce "mxconnect --starttls: a binary EHLO reply: 76" 76 timeout 30 "$X" --starttls --mx binary.faults.test faults.test
# The peers' view: smtpsend read past its limit, then hung up long before
# the end of the endless answers (64 MiB and 16 MiB).
for m in reply-endless:65536:67108864 reply-longline:2048:16777216; do
	IFS=: read -r mode lo hi <<<"$m"
	if awk -v m="$mode" -v lo="$lo" -v hi="$hi" '$2 == m {
	    n = $NF; sub(/^sent=/, "", n); if (n + 0 > lo && n + 0 < hi) f = 1 }
	    END { exit !f }' "$P/faulty.log"; then
		ok "$mode: the client hung up early"
	else
		fail "$mode-peer" "$(grep " $mode " "$P/faulty.log" | tail -n 3)"
	fi
done

# --------------------------------------------------- smtpd-lite: clients
# talk.py ADDR PORT MODE N [SOURCE]: N clients at once that each misbehave
# after the greeting: silent (say nothing), partial (half a command, no
# line end), data (half a message, then nothing), tls-silent (STARTTLS,
# then no ClientHello), tls-partial (40 octets of one, then nothing),
# tls-cut (40 octets, then close), tls-garbage (non-TLS octets), rst (a
# reset in the middle of a command).  One line each: "MODE closed|open
# first=GREETING last=LAST-LINE" (open: the server kept it 12 s).
cat >"$T_TMP/talk.py" <<'EOF'
import socket, ssl, struct, sys, threading
addr, port, mode, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
src = sys.argv[5] if len(sys.argv) > 5 else None
def hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
    t = ctx.wrap_bio(i, o, server_hostname="lite.faults.test")
    try:
        t.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return o.read()
def reply(f):
    while True:
        l = f.readline()
        if not l:
            return "EOF"
        if len(l) < 4 or l[3:4] != b"-":
            return l.decode("latin-1").strip()
out = [None] * n
def one(k):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(12)
    first = last = "-"
    try:
        s.connect((addr, port))
        f = s.makefile("rb")
        first = last = reply(f)
        if first.startswith("220"):
            if mode == "partial":
                s.sendall(b"EHLO half-a-comm")
            elif mode == "rst":
                s.sendall(b"EHLO c\r\nMAIL FROM:<a@exa")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                out[k] = "%s reset first=%s" % (mode, first)
                return
            elif mode == "data":
                for c in (b"EHLO c", b"MAIL FROM:<a@example.test>", b"RCPT TO:<b@faults.test>", b"DATA"):
                    s.sendall(c + b"\r\n")
                    reply(f)
                s.sendall(b"Subject: stalled\r\n\r\nhalf a mess")
            elif mode.startswith("tls"):
                s.sendall(b"EHLO c\r\n")
                reply(f)
                s.sendall(b"STARTTLS\r\n")
                last = reply(f)
                ch = hello()
                if mode == "tls-partial":
                    s.sendall(ch[:40])
                elif mode == "tls-cut":
                    s.sendall(ch[:40])
                    s.close()
                    out[k] = "%s cut first=%s last=%s" % (mode, first, last)
                    return
                elif mode == "tls-garbage":
                    s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)))
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        if data:
            last = data.decode("latin-1").strip().split("\n")[-1].strip()
        out[k] = "%s closed first=%s last=%s" % (mode, first, last)
    except socket.timeout:
        out[k] = "%s open first=%s last=%s" % (mode, first, last)
    except OSError as e:
        out[k] = "%s closed first=%s last=%s (%s)" % (mode, first, last, e.__class__.__name__)
threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for l in out:
    print(l)
EOF
talk() { timeout 30 "$PY" "$T_TMP/talk.py" 192.0.2.172 25 "$@"; }
LM=$T_TMP/lite
LLOG=$P/smtpd-lite.out
mkdir -p "$LM"
inet smtpd-lite "$L" -l 192.0.2.172:25 --hostname lite.faults.test \
    --maildir "$LM" "${TLS[@]}" --timeout 3s --data-timeout 5s --max-per-ip 12
LITE=$PEER_PID
wait_port 192.0.2.172 25 5 || fail setup "smtpd-lite: $(tail -n 3 "$P/smtpd-lite.out")"
nmail() { find "$LM/new" -type f 2>/dev/null | wc -l; }

# Stalled clients: 14 silent ones from SOURCE_V4 (2 over --max-per-ip),
# and one of each other kind; five messages are sent meanwhile.
pids=
talk silent 14 "$SOURCE_V4" >"$T_TMP/stall-many.out" & pids="$pids $!"
for m in partial data tls-silent tls-partial; do
	talk $m 1 >"$T_TMP/stall-$m.out" & pids="$pids $!"
done
sleep 0.5
for i in 1 2 3 4 5; do
	ce "stalled clients: message $i sent meanwhile" 0 timeout 30 bash -c \
	    "msg meanwhile$i | $S --host lite.faults.test --tls require x$i@faults.test"
done
# shellcheck disable=SC2086
wait $pids
cat "$T_TMP"/stall-*.out >"$T_TMP/stall.out"
[ "$(grep -c '^silent closed .*last=421 4\.4\.2 ' "$T_TMP/stall-many.out")" = 12 ] &&
    ok "stalls: 12 silent clients closed with 421 4.4.2 at the deadline" ||
    fail stall-silent "$(sort "$T_TMP/stall-many.out" | uniq -c)"
[ "$(grep -c '^silent closed first=421 4\.3\.2 ' "$T_TMP/stall-many.out")" = 2 ] &&
    ok "stalls: 2 over --max-per-ip refused with 421 4.3.2" ||
    fail stall-limit "$(sort "$T_TMP/stall-many.out" | uniq -c)"
cm "stalls: half a command, 421 4.4.2" '^partial closed .*last=421 4\.4\.2 ' cat "$T_TMP/stall.out"
cm "stalls: half a message, 421 4.4.2" '^data closed .*last=421 4\.4\.2 ' cat "$T_TMP/stall.out"
cm "stalls: STARTTLS without a handshake: closed" '^tls-silent closed .*last=220 ' cat "$T_TMP/stall.out"
cm "stalls: half a ClientHello: closed" '^tls-partial closed .*last=220 ' cat "$T_TMP/stall.out"
no "stalls: no client kept past the deadline" ' open ' "$T_TMP/stall.out"
# Served meanwhile: messages stored before the first deadline fired (all
# five, unless the machine is very slow).
if awk '/ msg .*result="250/ { m++ } / timeout client=/ { exit !(m > 0) } END { exit !m }' "$LLOG"; then
	ok "stalls: messages stored while the stalled sessions were open"
else
	fail stall-order "$(grep -E ' msg | timeout ' "$LLOG" | head -n 8)"
fi
[ "$(nmail)" = 5 ] && ok "stalls: five stored" || fail stall-stored "$(nmail)"
n0=$(grep -l 'Subject: stalled' "$LM"/new/* 2>/dev/null | wc -l)
[ "$n0" = 0 ] && ok "stalls: the half message was not stored" || fail stall-half "$n0"

# Clients that cut their own handshake, or send garbage for one, or reset
# in the middle of a command: smtpd-lite goes on serving.
pids=
talk tls-cut 8 >"$T_TMP/cut.out" & pids="$pids $!"
talk tls-garbage 4 >"$T_TMP/garbage.out" & pids="$pids $!"
talk rst 4 "$SOURCE_V4" >"$T_TMP/rst.out" & pids="$pids $!"
# shellcheck disable=SC2086
wait $pids
[ "$(grep -c '^tls-cut cut .*last=220 ' "$T_TMP/cut.out")" = 8 ] &&
    ok "cut handshakes: 8 clients cut theirs after 220" || fail cut "$(cat "$T_TMP/cut.out")"
ce "after cut handshakes: STARTTLS and a message" 0 timeout 30 bash -c \
    "msg aftercut | $S --host lite.faults.test --tls require y@faults.test"
kill -0 "$LITE" 2>/dev/null && ok "cut handshakes: smtpd-lite still runs" || fail cut-alive "gone"
n=$(grep -c 'tls client=.* result=failed' "$LLOG")
[ "$n" -ge 12 ] && ok "cut handshakes: each logged as a failed handshake ($n)" ||
    fail cut-log "$n: $(grep 'tls client' "$LLOG" | head -n 3)"
[ "$(nmail)" = 6 ] && ok "cut handshakes: nothing stored for them" || fail cut-stored "$(nmail)"

# ------------------------------------------------- smtpd-lite: disk full
# A 512 KiB tmpfs, half of it taken by a filler file; 30 messages of
# 17 KiB from two clients at once.  What got 250 must be stored whole;
# the rest gets a temporary reply and is kept by smtpsend --spool; once the
# filler is gone the spool is flushed, and every message is stored once.
FULL=$T_TMP/full
mkdir -p "$FULL"
# intact JSON... NEWDIR MSGDIR: every message a JSON line says was sent is
# in NEWDIR whole (after the Received field), nothing else is there, and
# nothing is there twice.
cat >"$T_TMP/intact.py" <<'EOF'
import json, os, re, sys
*logs, new, msgs = sys.argv[1:]
sent = []
for log in logs:
    for l in open(log):
        o = json.loads(l)
        if o["result"] == "sent":
            sent.append(os.path.basename(o["message"]) if o.get("message")
                        else None)
stored = {}
for f in os.listdir(new):
    data = open(os.path.join(new, f), "rb").read()
    m = re.search(rb"\r\nX-Seq: (\d+)\r\n", data)
    key = m.group(1).decode() + ".eml" if m else "?" + f
    stored.setdefault(key, []).append(data)
bad = []
for k, v in stored.items():
    want = open(os.path.join(msgs, k), "rb").read().replace(b"\n", b"\r\n") \
        if not k.startswith("?") else None
    if want is None or len(v) != 1 or not v[0].endswith(want):
        bad.append(k)
print("sent %d stored %d damaged-or-twice %s" % (len(sent), len(stored),
      ",".join(sorted(bad)) or "none"))
sys.exit(1 if bad or len(stored) != len(sent) else 0)
EOF
if mount -t tmpfs -o size=512k,nr_inodes=1000 tmpfs "$FULL" 2>/dev/null; then
	head -c 262144 /dev/zero >"$FULL/filler"
	inet smtpd-full "$L" -l 192.0.2.173:25 --hostname full.faults.test \
	    --maildir "$FULL/md"
	FPID=$PEER_PID
	wait_port 192.0.2.173 25 5 || fail setup "smtpd-lite (full): $(tail -n 3 "$P/smtpd-full.out")"
	mkdir -p "$T_TMP/fm"
	for i in $(seq 1 30); do
		{
			printf 'Subject: full %d\nX-Seq: %d\n\n' "$i" "$i"
			for j in $(seq 1 250); do
				printf 'message %d line %d %050d\n' "$i" "$j" "$j"
			done
		} >"$T_TMP/fm/$i.eml"
	done
	FS=$T_TMP/fullspool
	each() {
		timeout 60 "$S" --each --to f@faults.test --host full.faults.test \
		    --tls none --json --spool "$FS" "$@"
	}
	each "$T_TMP"/fm/{1..15}.eml >"$T_TMP/full-a.json" 2>"$T_TMP/full-a.err" &
	a=$!
	each "$T_TMP"/fm/{16..30}.eml >"$T_TMP/full-b.json" 2>"$T_TMP/full-b.err"
	rb=$?
	wait "$a"
	ra=$?
	[ "$ra" = 0 ] && [ "$rb" = 0 ] && ok "disk full: both clients exit 0 (queued)" ||
	    fail full-exit "$ra $rb: $(cat "$T_TMP"/full-*.err | head -n 3)"
	cat "$T_TMP"/full-a.json "$T_TMP"/full-b.json >"$T_TMP/full.json"
	nsent=$(grep -c '"result":"sent"' "$T_TMP/full.json")
	nq=$(grep -c '"result":"queued"' "$T_TMP/full.json")
	figure "disk full: $nsent sent, $nq queued of 30"
	[ "$nsent" -gt 0 ] && [ "$nq" -gt 0 ] && [ $((nsent + nq)) = 30 ] &&
	    ok "disk full: some sent ($nsent), the rest queued ($nq)" ||
	    fail full-split "$nsent sent, $nq queued"
	no "disk full: every refusal temporary 452 4.3.1" \
	    '"result":"queued".*"code":([^4]|4[^5]|45[^2])|"result":"queued".*"status":"4\.[^3]' "$T_TMP/full.json"
	cm "disk full: 452 4.3.1" '"code":452,"status":"4\.3\.1"' cat "$T_TMP/full.json"
	check "disk full: what got 250 is stored whole, nothing more" \
	    "$PY" "$T_TMP/intact.py" "$T_TMP/full.json" "$FULL/md/new" "$T_TMP/fm"
	[ -z "$(ls -A "$FULL/md/tmp")" ] && ok "disk full: nothing left in tmp/" ||
	    fail full-tmp "$(ls -la "$FULL/md/tmp")"
	kill -0 "$FPID" 2>/dev/null && ok "disk full: smtpd-lite still runs" || fail full-alive gone
	[ "$(ls "$FS/new" | wc -l)" = "$nq" ] && ok "disk full: one spool entry per queued message" ||
	    fail full-spool "$(ls "$FS/new" | wc -l) entries"
	# Space again: flush until the spool is empty (bounded).
	rm -f "$FULL/filler"
	: >"$T_TMP/flush.json"
	for _ in 1 2 3 4; do
		[ -z "$(ls "$FS/new")" ] && break
		timeout 60 "$S" --flush "$FS" --retry-now --host full.faults.test \
		    --tls none --json >>"$T_TMP/flush.json" 2>"$T_TMP/flush.err"
		# Make room for what is left, as an operator would.
		[ -z "$(ls "$FS/new")" ] || find "$FULL/md/new" -type f | head -n 10 |
		    while read -r f; do mv "$f" "$T_TMP/fm-moved-${f##*/}"; done
	done
	[ -z "$(ls "$FS/new")" ] && ok "recovered: the spool is empty after flushing" ||
	    fail full-recover "$(ls "$FS/new" | wc -l) left: $(tail -n 2 "$T_TMP/flush.err")"
	nfl=$(grep -c '"result":"sent"' "$T_TMP/flush.json")
	figure "disk full: $nfl sent by --flush once space was freed"
	mkdir -p "$T_TMP/fall"
	cp "$FULL"/md/new/* "$T_TMP/fall/" 2>/dev/null
	for f in "$T_TMP"/fm-moved-*; do [ -f "$f" ] && cp "$f" "$T_TMP/fall/"; done
	# The flush JSON has no file names: the check counts its sent lines.
	check "recovered: all 30 stored whole, each once" \
	    "$PY" "$T_TMP/intact.py" "$T_TMP/full.json" "$T_TMP/flush.json" "$T_TMP/fall" "$T_TMP/fm"
	[ "$(ls "$T_TMP/fall" | wc -l)" = 30 ] && ok "recovered: 30 messages" ||
	    fail full-30 "$(ls "$T_TMP/fall" | wc -l)"
	ce "recovered: a new message is accepted" 0 timeout 30 bash -c \
	    "msg after | $S --host full.faults.test --tls none z@faults.test"
	kill "$FPID" 2>/dev/null
	wait "$FPID" 2>/dev/null
	umount "$FULL" || fail full-umount "cannot unmount $FULL"
else
	skip "disk full" "cannot mount a tmpfs here"
fi

# ------------------------------------------- mtasts-check killed mid-write
# sts-faults.test publishes id faults2 and a 5.5 KiB policy; the cache holds
# an older policy (id faults1) each time, so every run fetches and writes.
# SIGKILL lands at random moments around the write, again and again; the
# cache file must always parse and be the old policy or the new one, whole.
MC=$T_TMP/stscache
SF=sts-faults.test
ce "mtasts-check: the new policy cached" 0 timeout 30 mtasts-check --no-mx --cache-dir "$MC" "$SF"
cm "mtasts-check: fetched" "^$SF ok mode=enforce id=faults2 .* source=fetch" cat "$K"
cat >"$T_TMP/stskill.py" <<'EOF'
import os, random, signal, subprocess, sys, time
prog, cache, dom, old, new = sys.argv[1:6]
path = os.path.join(cache, dom)
oldb = open(old, "rb").read()
newpol = open(new, "rb").read()
def parse(b):
    """(id, policy) of a cache file, or raise."""
    head, sep, body = b.partition(b"\n\n")
    lines = head.split(b"\n")
    assert sep and lines[0] == b"mxkit-mta-sts 1" and len(lines) == 6, "header"
    kv = dict(l.split(b": ", 1) for l in lines[1:])
    assert kv[b"domain"] == dom.encode(), "domain"
    assert int(kv[b"length"]) == len(body), "length %s, %d octets" % (kv[b"length"], len(body))
    assert int(kv[b"expires"]) >= int(kv[b"fetched"]), "dates"
    return kv[b"id"], body
oldid, oldpol = parse(oldb)
def put_old():
    tmp = path + ".test-tmp"
    with open(tmp, "wb") as f:
        f.write(oldb)
    os.rename(tmp, path)
cmd = [prog, "--no-mx", "--timeout", "10s", "--cache-dir", cache, dom]
runs = []
for _ in range(3):
    put_old()
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    runs.append(time.monotonic() - t0)
t = sorted(runs)[1]
seen = {"old": 0, "new": 0}
bad = []
n = 0
rnd = random.Random(8461)
end = time.monotonic() + 25
while n < 200 and time.monotonic() < end and (n < 60 or min(seen.values()) < 3):
    n += 1
    put_old()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rnd.uniform(0.3, 1.1) * t)
    p.send_signal(signal.SIGKILL)
    p.wait()
    try:
        b = open(path, "rb").read()
        i, pol = parse(b)
        if b == oldb:
            seen["old"] += 1
        elif i == b"faults2" and pol == newpol:
            seen["new"] += 1
        else:
            bad.append("run %d: id %s, policy of %d octets" % (n, i, len(pol)))
    except Exception as e:
        bad.append("run %d: %r" % (n, e))
litter = [f for f in os.listdir(cache) if f.startswith("." + dom + ".")]
print("runs %d (one whole run %.0f ms): old %d, new %d, torn or wrong %d, "
      "temporary files left %d" % (n, t * 1000, seen["old"], seen["new"],
                                   len(bad), len(litter)))
for b in bad[:5]:
    print(b)
sys.exit(1 if bad or min(seen.values()) == 0 else 0)
EOF
# The old policy: another mode, one mx, its own length.
{
	pol=$'version: STSv1\nmode: testing\nmx: old.sts-faults.test\nmax_age: 86400\n'
	now=$(date +%s)
	printf 'mxkit-mta-sts 1\ndomain: %s\nid: faults1\nfetched: %d\nexpires: %d\nlength: %d\n\n%s' \
	    "$SF" "$now" $((now + 86400)) "${#pol}" "$pol"
} >"$T_TMP/sts-old"
check "mtasts-check under SIGKILL: the cache always whole, old or new" \
    timeout 60 "$PY" "$T_TMP/stskill.py" "$T_ROOT/bin/mtasts-check" "$MC" "$SF" \
    "$T_TMP/sts-old" "$WORLD_DIR/www/mta-sts.$SF/.well-known/mta-sts.txt"
figure "mtasts-check under SIGKILL: $(head -n 1 "$T_OUT")"
# What the kills left is read by mtasts-check itself: with the resolver a
# black hole, the cached policy stays in force.
ce "after the kills: the cache read back (resolver down)" 0 timeout 30 bash -c \
    "withconf '$T_TMP/resolv.conf' mtasts-check --no-mx --cache-dir '$MC' $SF"
cm "after the kills: a cached policy in force" "^$SF ok mode=(enforce id=faults2|testing id=faults1) .* source=cache" cat "$K"
ce "after the kills: a normal run" 0 timeout 30 mtasts-check --no-mx --cache-dir "$MC" "$SF"
cm "after the kills: the new policy" "^$SF (ok|changed) mode=enforce id=faults2 " cat "$K"

finish
