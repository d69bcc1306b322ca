#!/bin/bash
# ISC license.
#
# smtpd-lite against real clients in the test world: swaks, Postfix's
# smtp-source and posttls-finger, smtpsend, and a few scripted talkers
# (python3) for what no client does on purpose.  Each scenario's server
# runs in the world's inet namespace on an address of zones/lite.test.zone.
# No timing assertions.

. "$(dirname "$0")/lib.sh"

L=$T_ROOT/bin/smtpd-lite
S=$T_ROOT/bin/smtpsend
C=$WORLD_DIR/certs
M=$T_TMP/maildir
mkdir -p "$WORLD_DIR/peers"

# lite NAME ADDR [options...]: start smtpd-lite on ADDR:25 (log in
# $WORLD_DIR/peers/lite-NAME.log, pid in LITE_PID).
lite() {
	local name=$1 addr=$2
	shift 2
	nsenter --net="$WORLD_DIR/inet.ns" "$L" -l "$addr:25" --hostname \
	    "$name.lite.test" "$@" >"$WORLD_DIR/peers/lite-$name.log" 2>&1 \
	    </dev/null &
	LITE_PID=$!
	world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $LITE_PID
	if ! wait_port "$addr" 25 5; then
		fail "start $name" "$(tail -n 3 "$WORLD_DIR/peers/lite-$name.log")"
		return 1
	fi
}

msg() { printf 'From: a@example.test\nSubject: %s\n\nhello\n.dot\n' "$1"; }
export -f msg
nnew() { find "$1" -path '*/new/*' -type f 2>/dev/null | wc -l; }

# A scripted client: talk.py ADDR PORT, the script on stdin: lines
# "> TEXT" sent (\r\n added; \n inside TEXT stays bare), "= N" sleep N
# seconds, "< " read and print what came.
cat >"$T_TMP/talk.py" <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
out = []
def rd():
    s.settimeout(2)
    try:
        data = s.recv(65536)
        out.append(data.decode("latin-1"))
        return data
    except socket.timeout:
        return b""
def send(b):
    try:
        s.sendall(b)
    except OSError:
        pass
for line in sys.stdin.read().split("\n"):
    if line.startswith("> "):
        send(line[2:].replace("\\n", "\n").replace("\\0", "\0").encode("latin-1") + b"\r\n")
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
export -f talk
export T_TMP
mkdir -p "$M" "$M/lmtp" "$M/tls" "$M/load"

# --- usage
ce "no delivery given: usage" 64 "$L" -l 127.0.0.1:2525
ce "no listener: usage" 64 "$L" --discard
ce "--require-tls without --cert: usage" 64 "$L" -l 127.0.0.1:2525 --discard --require-tls
ce "--busy-poll 1001: usage (at most 1000)" 64 "$L" -l 127.0.0.1:2525 --discard --busy-poll 1001
ce "--busy-poll x: usage" 64 "$L" -l 127.0.0.1:2525 --discard --busy-poll x
ce "--exec a program that is not there: 78" 78 "$L" -l 127.0.0.1:2525 --exec /nonexistent/deliver --
cm "--help" '^usage: smtpd-lite' "$L" --help
ce "bad passwd file: 78" 78 bash -c "echo 'no colon here' >'$T_TMP/badpw'; '$L' -l 127.0.0.1:2525 --discard --passwd '$T_TMP/badpw'"

# --- Maildir delivery, byte-exact
lite mx 192.0.2.140 --maildir "$M/%d" --accept-domain lite.test
ce "smtpsend to smtpd-lite: sent" 0 bash -c "msg one | $S -f a@example.test u@lite.test"
cm "250 after storing" '^sent u@lite\.test 250 2\.0\.0 Ok: queued as ' cat "$K"
# smtpsend's EHLO name: this host's if it is a domain name, else the
# address literal of its end (RFC 5321 4.1.4).
case $(hostname) in
*.*) want_helo=$(hostname) ;;
*) want_helo='[203.0.113.2]' ;;
esac
grep -qF "helo=$want_helo from=<a@example.test>" "$WORLD_DIR/peers/lite-mx.log" && ok "smtpsend's default EHLO name: $want_helo" ||
    fail ehlo-name "$(grep -o 'helo=[^ ]*' "$WORLD_DIR/peers/lite-mx.log" | tail -n 1)"
f=$(find "$M/lite.test/new" -type f | head -n 1)
if [ -n "$f" ] && sed '1,/^\tWed\|^\t[A-Z][a-z][a-z], /d' "$f" >/dev/null &&
    [ "$(awk 'f; /^\t[A-Z][a-z][a-z], [0-9]/ { f = 1 }' "$f")" = "$(msg one | sed 's/$/\r/')" ]; then
	ok "maildir: content byte for byte after the Received field"
else
	fail maildir-content "$(cat -A "$f" 2>&1 | head -n 12)"
fi
cm "maildir: a Received field" '^Received: from [^ ]+ \(\[203\.0\.113\.2\]\)' cat "$f"
cm "maildir: Received with the queue id" 'by mx\.lite\.test \(smtpd-lite\) with ESMTP id [0-9A-F]+' cat "$f"
[ "$(stat -c %a "$f")" = 600 ] && ok "maildir: file 0600" || fail maildir-mode "$(stat -c %a "$f")"
[ "$(stat -c %a "$M/lite.test")" = 700 ] && ok "maildir: folder 0700" || fail folder-mode "$(stat -c %a "$M/lite.test")"
[ -z "$(ls "$M/lite.test/tmp")" ] && ok "maildir: tmp/ empty" || fail maildir-tmp "$(ls "$M/lite.test/tmp")"
# A NUL goes as BINARYMIME (RFC 3030), and is stored as it came.
ce "smtpsend, a NUL in the message: sent as BINARYMIME" 0 bash -c "printf 'Subject: nul\n\na\\000b\n' | $S -f a@example.test nul@lite.test"
cm "BINARYMIME: logged so" 'from=<a@example\.test> rcpts=1 .*body=BINARYMIME bdat=yes result="250 ' cat "$WORLD_DIR/peers/lite-mx.log"
f=$(grep -l '^Subject: nul' "$M"/lite.test/new/* 2>/dev/null | head -n 1)
[ -n "$f" ] && grep -qaP '^a\x00b\r$' "$f" && ok "BINARYMIME: the NUL stored" || fail binarymime-store "$(cat -A "$f" 2>&1 | tail -n 2)"
ce "relay refused: 550 5.7.1" 67 bash -c "msg r | $S --host mx.lite.test x@elsewhere.test"
cm "relay refused: reply" '^bounced x@elsewhere\.test 550 5\.7\.1 ' cat "$K"
ce "swaks, pipelined" 0 swaks --server mx.lite.test --to p@lite.test --from a@example.test --pipeline
cm "swaks: PIPELINING offered" 'PIPELINING' cat "$K"
before=$(nnew "$M")
ce "smtpsend BDAT (CHUNKING)" 0 bash -c "(printf 'Subject: chunk\n\n'; seq 1 50000) | $S --host mx.lite.test --tls none b@lite.test"
[ "$(nnew "$M")" = $((before + 1)) ] && ok "BDAT: stored" || fail bdat "not stored"
cm "BDAT: logged" 'bdat=yes result="250' cat "$WORLD_DIR/peers/lite-mx.log"
ce "smtp-source: 10 sessions, 200 messages" 0 timeout 60 smtp-source -s 10 -m 200 -c -f a@example.test -t s@lite.test 192.0.2.140:25
n=$(grep -c 'from=<a@example.test> rcpts=1 .*result="250' "$WORLD_DIR/peers/lite-mx.log")
[ "$n" -ge 200 ] && ok "smtp-source: every message acknowledged and logged ($n)" || fail smtp-source "$n logged"
ce "smtpsend DSN and SMTPUTF8 accepted" 0 bash -c "msg d | $S --host mx.lite.test --dsn-notify SUCCESS --dsn-ret HDRS --dsn-envid e1 $'j\\303\\266rg@lite.test'"
ce "VRFY 252" 0 bash -c "talk 192.0.2.140 25 <<< $'<\n> EHLO c\n> VRFY root\n<\n> QUIT\n<' | grep -q '^252 2.5.2'"
talk 192.0.2.140 25 >"$T_TMP/bin.out" <<EOF
<
> EHLO c
<
> MAIL FROM:<a@example.test> BODY=BINARYMIME
<
> RCPT TO:<b@lite.test>
<
> DATA
<
> QUIT
<
EOF
cm "EHLO offers BINARYMIME (RFC 3030)" '^250-BINARYMIME' tr -d '\r' <"$T_TMP/bin.out"
cm "DATA after BODY=BINARYMIME: 503 (RFC 3030 3)" '^503 5\.5\.1 Error: BINARYMIME needs BDAT' tr -d '\r' <"$T_TMP/bin.out"
# --busy-poll: the same service, awake a little longer after each batch.
lite poll 192.0.2.141 --discard --busy-poll 50
ce "--busy-poll 50: smtp-source, 10 sessions, 300 messages" 0 timeout 60 smtp-source -s 10 -m 300 -f a@example.test -t s@lite.test 192.0.2.141:25
[ "$(grep -c 'result="250 ' "$WORLD_DIR/peers/lite-poll.log")" = 300 ] && ok "--busy-poll 50: 300 logged with 250" ||
    fail busy-poll "$(grep -c 'result="250 ' "$WORLD_DIR/peers/lite-poll.log") logged"
kill "$LITE_PID" 2>/dev/null; wait "$LITE_PID" 2>/dev/null
# A client that waits 20 ms before each command: --busy-poll 50 polls
# after every one of its 80 commands and finds nothing; auto (the
# default) soon stops, and only probes once in 64 waits.
slow=$(printf '<\n'; for i in $(seq 80); do printf '> NOOP\n= 0.02\n'; done; printf '> QUIT\n<\n')
polls() { sed -n 's/.*stopped busy-poll=\([0-9]*\) .*/\1/p' "$WORLD_DIR/peers/lite-$1.log"; }
for mode in 50 auto; do
	lite "poll$mode" 192.0.2.141 --discard --busy-poll $mode
	talk 192.0.2.141 25 <<<"$slow" >"$T_TMP/slow.out"
	kill "$LITE_PID" 2>/dev/null; wait "$LITE_PID" 2>/dev/null
	[ "$(grep -c '^250 ' "$T_TMP/slow.out")" -ge 1 ] || fail "slow client, --busy-poll $mode" "$(tail -n 2 "$T_TMP/slow.out")"
done
[ "$(polls poll50)" -ge 40 ] 2>/dev/null && ok "--busy-poll 50: polls after every command of a slow client ($(polls poll50))" ||
    fail busy-poll-50 "$(tail -n 1 "$WORLD_DIR/peers/lite-poll50.log")"
[ "$(polls pollauto)" -le 4 ] 2>/dev/null && ok "--busy-poll auto: polls for a slow client only to probe ($(polls pollauto))" ||
    fail busy-poll-auto "$(tail -n 1 "$WORLD_DIR/peers/lite-pollauto.log")"
# RFC 5321 4.5.1: <Postmaster> without a domain, past --accept-domain,
# into the folder of the server's own name.
ce "swaks to <postmaster>: delivered" 0 swaks --server mx.lite.test --to postmaster --from a@example.test --header 'Subject: to the postmaster'
cm "postmaster: in the folder of the server's name" 'Subject: to the postmaster' bash -c "cat '$M'/mx.lite.test/new/*"
cm "postmaster: Received for <postmaster@mx.lite.test>" 'for <postmaster@mx\.lite\.test>' bash -c "cat '$M'/mx.lite.test/new/*"

# --- bad input: the server keeps serving
talk 192.0.2.140 25 >"$T_TMP/bad.out" <<EOF
<
> EHLO c
<
> MAIL FROM:<a@example.test>
> RCPT TO:<a@lite.test>
<
> NOOP $(head -c 3000 /dev/zero | tr '\0' x)
<
> NO\0OP
<
> DATA
> .
<
> RCPT TO:<a@lite.test>
<
> BDAT 3
<
EOF
cm "overlong command: 500" '500 5\.5\.2 Error: line too long' cat "$T_TMP/bad.out"
cm "NUL: 500" '500 5\.5\.2 Error: NUL' cat "$T_TMP/bad.out"
{ printf '<\n> EHLO c\n<\n'; for i in $(seq 12); do echo "> garbage$i"; done; echo '<'; } |
    talk 192.0.2.140 25 >"$T_TMP/garbage.out"
cm "garbage: 421 after too many errors" '^421 4\.7\.0' cat "$T_TMP/garbage.out"
{ printf '<\n> EHLO c\n> MAIL FROM:<a@example.test>\n'; for i in $(seq 1000); do echo "> RCPT TO:<r$i@lite.test>"; done; echo '<'; echo '= 1'; echo '<'; echo '> QUIT'; echo '<'; } |
    talk 192.0.2.140 25 >"$T_TMP/rcpts.out"
cm "1000 RCPTs: 452 past the limit" '452 4\.5\.3 Error: too many recipients' cat "$T_TMP/rcpts.out"
[ "$(grep -c '^250 2.1.5' "$T_TMP/rcpts.out")" = 100 ] && ok "1000 RCPTs: 100 accepted" ||
    fail rcpts "$(grep -c '^250 2.1.5' "$T_TMP/rcpts.out") accepted"
talk 192.0.2.140 25 >"$T_TMP/order.out" <<EOF
<
> RCPT TO:<a@lite.test>
<
> EHLO c
<
>> MAIL FROM:<a@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\nMAIL FROM:<evil@example.test>\r\n
<
EOF
cm "commands out of order: 503" '503 5\.5\.1' cat "$T_TMP/order.out"
cm "DATA pipelined after a refused one: 421" '421 4\.5\.0' cat "$T_TMP/order.out"
talk 192.0.2.140 25 >"$T_TMP/smuggle.out" <<EOF
<
> EHLO c
> MAIL FROM:<a@example.test>
> RCPT TO:<smuggle@lite.test>
> DATA
<
>> Subject: s\r\n\r\nbody\n.\nMAIL FROM:<evil@example.test>\r\n.\r\n
<
> QUIT
<
EOF
[ "$(grep -c '250 2.1.0' "$T_TMP/smuggle.out")" = 1 ] && ok "smuggling: one MAIL only" || fail smuggle "$(cat "$T_TMP/smuggle.out")"
if grep -rl 'MAIL FROM:<evil' "$M/lite.test/new" >/dev/null; then ok "smuggling: the fake MAIL is message text"; else fail smuggle-text "not stored as text"; fi
ce "still serving after the battery" 0 bash -c "msg after | $S --host mx.lite.test z@lite.test"

# --- limits: size, early talker, idle and DATA deadlines
lite small 192.0.2.144 --discard --max-size 2k --greet-delay 300ms --timeout 2s --data-timeout 3s
ce "SIZE= over --max-size: 552 at MAIL" 69 bash -c "(printf 'Subject: big\n\n'; head -c 5000 /dev/zero | tr '\\0' y | fold -w 70) | $S --host small.lite.test --tls none a@lite.test"
cm "SIZE: 552" '552 5\.3\.4' cat "$K"
talk 192.0.2.144 25 >"$T_TMP/early.out" <<EOF
> EHLO too-early
<
= 0.5
<
EOF
cm "early talker refused" '^554 5\.5\.1 .*talking before the greeting' cat "$T_TMP/early.out"
talk 192.0.2.144 25 >"$T_TMP/idle.out" <<EOF
= 0.6
<
> EHLO c
<
= 2.5
<
EOF
cm "idle client: 421 after --timeout" '421 4\.4\.2' cat "$T_TMP/idle.out"
# A command dripped an octet at a time: --timeout runs from the reply.
talk 192.0.2.144 25 >"$T_TMP/drip.out" <<EOF
= 0.6
<
> EHLO c
<
>> N
= 0.6
>> O
= 0.6
>> O
= 0.6
>> P
= 0.6
>> \r
= 0.6
>> \n
<
EOF
cm "dripping client: 421 within --timeout of the last reply" '421 4\.4\.2' cat "$T_TMP/drip.out"
nomatch "dripping client: the NOOP never completed" '^250 2\.0\.0 Ok' "$T_TMP/drip.out"
talk 192.0.2.144 25 >"$T_TMP/steady.out" <<EOF
= 0.6
<
> EHLO c
<
= 1.3
> NOOP
<
= 1.3
> NOOP
<
= 1.3
> QUIT
<
EOF
cm "a command every 1.3 s under --timeout 2s: served to QUIT" '^221 ' cat "$T_TMP/steady.out"
nomatch "a command every 1.3 s: no 421" '^421' "$T_TMP/steady.out"
( talk 192.0.2.144 25 >"$T_TMP/slow.out" <<EOF
= 0.6
<
> EHLO c
> MAIL FROM:<a@example.test>
> RCPT TO:<a@lite.test>
> DATA
<
> line 1
= 1.5
> line 2
= 1.5
> line 3
= 1.5
<
EOF
) &
slow=$!
sleep 0.8
ce "other sessions served during a slow one" 0 bash -c "msg other | $S --host small.lite.test --tls none a@lite.test"
wait $slow
cm "slow DATA: 421 at the DATA deadline" '421 4\.4\.2' cat "$T_TMP/slow.out"

# --- STARTTLS, AUTH, injection
printf 'alice:%s\n' "$(/usr/bin/python3 -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_SHA512)))' 2>/dev/null)" >"$T_TMP/passwd"
lite tls 192.0.2.141 --maildir "$M/tls" --cert "$C/tls.lite.test.chain.pem" --key "$C/tls.lite.test.key" --passwd "$T_TMP/passwd" --require-tls
world_postfix_config
cm "posttls-finger: Verified" 'Verified TLS connection established' \
    timeout 20 posttls-finger -c -l verify -F "$SSL_CERT_FILE" "[tls.lite.test]"
ce "MAIL before STARTTLS: 530" 0 bash -c "talk 192.0.2.141 25 <<< $'<\n> EHLO c\n> MAIL FROM:<a@example.test>\n<' | grep -q '^530 5.7.0'"
ce "no AUTH offered before TLS" 1 bash -c "talk 192.0.2.141 25 <<< $'<\n> EHLO c\n<' | grep -q AUTH"
for m in PLAIN LOGIN; do
	ce "STARTTLS + AUTH $m: sent" 0 env SMTPSEND_PASSWORD=s3cret bash -c \
	    "msg auth | $S --host tls.lite.test --tls require --user alice --auth-mech $m a@lite.test"
done
cm "AUTH logged" 'auth client=203\.0\.113\.2 user=alice result=ok' cat "$WORLD_DIR/peers/lite-tls.log"
ce "AUTH wrong secret: 77" 77 env SMTPSEND_PASSWORD=nope bash -c \
    "msg auth | $S --host tls.lite.test --tls require --user alice a@lite.test"
f=$(find "$M/tls/new" -type f | head -n 1)
cm "Received: ESMTPSA with the TLS details" 'with ESMTPSA id [0-9A-F]+\s*$' sed -n 2p "$f"
cm "Received: TLS protocol and cipher" '^\s*\(TLS1\.[23] ' cat "$f"
/usr/bin/python3 - >"$T_TMP/inject.out" 2>&1 <<'EOF'
import socket, ssl, os
s = socket.create_connection(("192.0.2.141", 25), timeout=10)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline()
        lines.append(l.decode())
        if len(l) < 4 or l[3:4] == b" ":
            return "".join(lines)
print("greeting", reply().strip())
s.sendall(b"EHLO c\r\n"); reply()
# STARTTLS with a command pipelined behind it, in one segment.
s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.test>\r\n")
print("starttls", reply().strip())
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
t = ctx.wrap_socket(s, server_hostname="tls.lite.test")
tf = t.makefile("rb")
t.sendall(b"EHLO c\r\n")
lines = []
while True:
    l = tf.readline().decode()
    lines.append(l)
    if l[3:4] == " ":
        break
print("first reply over TLS", lines[0].strip())
EOF
cm "STARTTLS injection: nothing answered for the injected command" 'first reply over TLS 250-tls\.lite\.test' cat "$T_TMP/inject.out"

# --- LMTP, per-recipient replies from per-user folders
lite lmtp 192.0.2.142 --lmtp --maildir "$M/lmtp/%u"
ce "LMTP: one stored, one refused: 67" 67 bash -c "msg l | $S --lmtp --host lmtp.lite.test:25 --tls none good@lite.test '\"a/b\"@lite.test'"
cm "LMTP: the good one" '^sent good@lite\.test 250 ' cat "$K"
cm "LMTP: the unsafe folder refused" '^bounced "a/b"@lite\.test 550 5\.1\.3 ' cat "$K"
[ "$(nnew "$M/lmtp")" = 1 ] && ok "LMTP: one file" || fail lmtp-files "$(nnew "$M/lmtp")"
[ -d "$M/lmtp/good/new" ] && ok "LMTP: %u folder" || fail lmtp-folder "$(ls "$M/lmtp")"

# --- --exec: exit codes mapped
printf '#!/bin/sh\nOUTDIR=%s\n' "$T_TMP/exec" >"$T_TMP/deliver.sh"
cat >>"$T_TMP/deliver.sh" <<'EOF'
cat >"$OUTDIR/$QUEUE_ID.eml"
env | grep -E '^(SENDER|RECIPIENTS|CLIENT_IP|HELO|QUEUE_ID|BODY)=' >"$OUTDIR/$QUEUE_ID.env"
case $RECIPIENTS in
*temp@*) echo "mailbox busy" >&2; exit 75 ;;
*nouser@*) echo "no such mailbox" >&2; exit 67 ;;
*broken@*) exit 3 ;;
esac
exit 0
EOF
chmod +x "$T_TMP/deliver.sh"
mkdir -p "$T_TMP/exec"
lite exec 192.0.2.143 --exec "$T_TMP/deliver.sh" --
ce "exec 0: 250" 0 bash -c "msg e | $S --host exec.lite.test --tls none ok@lite.test"
ce "exec 75: 451, deferred" 75 bash -c "msg e | $S --host exec.lite.test --tls none temp@lite.test"
cm "exec 75: the program's text" '^deferred temp@lite\.test 451 4\.3\.0 mailbox busy' cat "$K"
ce "exec 67: 550 (refused after DATA: 69)" 69 bash -c "msg e | $S --host exec.lite.test --tls none nouser@lite.test"
cm "exec 67: 550 5.1.1" '^bounced nouser@lite\.test 550 5\.1\.1 no such mailbox' cat "$K"
ce "exec 3: 554" 69 bash -c "msg e | $S --host exec.lite.test --tls none broken@lite.test"
cm "exec other: 554 5.3.0" '554 5\.3\.0' cat "$K"
cm "exec: environment" '^SENDER=' cat "$T_TMP"/exec/*.env
cm "exec: the body type" '^BODY=(7BIT|8BITMIME)$' cat "$T_TMP"/exec/*.env
cm "exec: message on stdin" '^Subject: e' cat "$T_TMP"/exec/*.eml
# A program that exits at once while a child of its own holds its stdin
# open, never reading: its exit status decides, not the 10-minute
# deadline (a MiB does not fit the pipe).
kill "$LITE_PID" 2>/dev/null
wait "$LITE_PID" 2>/dev/null
printf '#!/bin/sh\nsleep 20 <&0 &\nexit 0\n' >"$T_TMP/forks.sh"
chmod +x "$T_TMP/forks.sh"
lite exec 192.0.2.143 --exec "$T_TMP/forks.sh" --
ce "exec: exited, its child holding stdin: 250 all the same" 0 timeout 60 bash -c "(printf 'Subject: big\n\n'; head -c 1000000 /dev/zero | tr '\\0' y | fold -w 70) | $S --host exec.lite.test --tls none ok@lite.test"
kill "$LITE_PID" 2>/dev/null
wait "$LITE_PID" 2>/dev/null
# SIGTERM while a program hangs: it is killed when the 10 s grace is
# over, and the server exits then, not at the program's own 10-minute
# deadline.
printf '#!/bin/sh\ncat >/dev/null\nexec sleep 600\n' >"$T_TMP/hang.sh"
chmod +x "$T_TMP/hang.sh"
lite exec 192.0.2.143 --exec "$T_TMP/hang.sh" --
(msg h | timeout 60 $S --host exec.lite.test --tls none ok@lite.test >/dev/null 2>&1) &
cpid=$!
for _ in $(seq 50); do
	pgrep -f "sleep 600" >/dev/null && break
	sleep 0.1
done
kill -TERM "$LITE_PID"
for _ in $(seq 250); do
	kill -0 "$LITE_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$LITE_PID" 2>/dev/null; then
	fail exec-stop "still running 25 s after SIGTERM"
	kill -9 "$LITE_PID" 2>/dev/null
else
	ok "SIGTERM: a hung program does not hold the server past the grace"
fi
wait "$LITE_PID" 2>/dev/null
wait "$cpid" 2>/dev/null
cm "SIGTERM: the program killed as the server stops" 'hang\.sh: killed as the server stops' cat "$WORLD_DIR/peers/lite-exec.log"
! pgrep -f "sleep 600" >/dev/null && ok "SIGTERM: the program's process group gone" || fail exec-pgrp "$(pgrep -af 'sleep 600')"

# --- a full file system: 452, nothing half-stored
mkdir -p "$T_TMP/full"
if mount -t tmpfs -o size=128k tmpfs "$T_TMP/full" 2>/dev/null; then
	lite full 192.0.2.145 --maildir "$T_TMP/full/md"
	ce "disk full: deferred (452)" 75 bash -c "(printf 'Subject: big\n\n'; head -c 400000 /dev/zero | tr '\\0' z | fold -w 70) | $S --host full.lite.test --tls none f@lite.test"
	cm "disk full: 452 4.3.1" '^deferred f@lite\.test 452 4\.3\.1 ' cat "$K"
	[ "$(nnew "$T_TMP/full/md")" = 0 ] && ok "disk full: nothing in new/" || fail disk-full "$(nnew "$T_TMP/full/md") files"
	cm "disk full: the error logged with the queue id" '^smtpd-lite: store qid=[^ ]*: 452 4\.3\.1 .*No space left on device' cat "$WORLD_DIR/peers/lite-full.log"
	! grep -q 'store:.*store: ' "$WORLD_DIR/peers/lite-full.log" && ok "disk full: one \"store\" in the log line" || fail disk-full-log "$(grep 'store:.*store: ' "$WORLD_DIR/peers/lite-full.log")"
	ce "disk full: a small one still fits" 0 bash -c "msg small | $S --host full.lite.test --tls none f@lite.test"
	kill "$LITE_PID" 2>/dev/null
	wait "$LITE_PID" 2>/dev/null
	umount "$T_TMP/full"
else
	skip "disk full" "cannot mount a tmpfs here"
fi

# --- SIGKILL under load: every acknowledged message is intact
mkdir -p "$T_TMP/kill-msgs"
for i in $(seq 1 4000); do
	printf 'Subject: k\nX-Kill: %d\n\n%s\n' "$i" "$(head -c 2000 /dev/zero | tr '\0' k | fold -w 70)" >"$T_TMP/kill-msgs/$i.eml"
done
lite load 192.0.2.146 --maildir "$M/load"
( sleep 0.4; kill -9 "$LITE_PID" ) &
killer=$!
"$S" --each --to k@lite.test --host load.lite.test --tls none --json "$T_TMP"/kill-msgs/*.eml >"$T_TMP/kill.json" 2>/dev/null
wait "$killer"
/usr/bin/python3 - "$T_TMP/kill.json" "$M/load/new" "$T_TMP/kill-msgs" >"$T_TMP/kill.out" 2>&1 <<'EOF'
import json, os, re, sys
acked = set()
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["result"] == "sent":
        acked.add(os.path.basename(o["message"]))
stored = {}
d = sys.argv[2]
for f in os.listdir(d) if os.path.isdir(d) else []:
    data = open(os.path.join(d, f), "rb").read()
    m = re.search(rb"X-Kill: (\d+)\r\n", data)
    if m:
        stored[m.group(1).decode() + ".eml"] = data
bad = []
for a in acked:
    want = open(os.path.join(sys.argv[3], a), "rb").read().replace(b"\n", b"\r\n")
    got = stored.get(a)
    if got is None or not got.endswith(want):
        bad.append(a)
print("acked %d stored %d lost-or-damaged %d" % (len(acked), len(stored), len(bad)))
sys.exit(1 if bad or not acked else 0)
EOF
if [ $? -eq 0 ]; then ok "SIGKILL: $(cat "$T_TMP/kill.out")"; else fail sigkill "$(cat "$T_TMP/kill.out") $(head -c 300 "$T_TMP/kill.json") $(tail -n 3 "$WORLD_DIR/peers/lite-load.log")"; fi

# --- SIGTERM: a clean stop
lite term 192.0.2.146 --discard
kill -TERM "$LITE_PID"
if timeout 15 bash -c "while kill -0 $LITE_PID 2>/dev/null; do sleep 0.1; done"; then
	ok "SIGTERM: stopped"
else
	fail sigterm "still running"
fi
cm "SIGTERM: logged" 'stopped' cat "$WORLD_DIR/peers/lite-term.log"

# --- --stdio (inetd, tcpserver)
mkdir -p "$T_TMP/stdio"
printf 'EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<s@lite.test>\r\nDATA\r\nSubject: stdio\r\n\r\nhi\r\n.\r\nQUIT\r\n' |
    TCPREMOTEIP=192.0.2.99 timeout 10 "$L" --stdio --maildir "$T_TMP/stdio" --hostname stdio.lite.test >"$T_TMP/stdio.out" 2>"$T_TMP/stdio.err"
cm "--stdio: served" '^250 2\.0\.0 Ok: queued as' cat "$T_TMP/stdio.out"
cm "--stdio: client from TCPREMOTEIP" '\(\[192\.0\.2\.99\]\)' cat "$T_TMP"/stdio/new/*

finish
