#!/bin/bash
# ISC license.
#
# The main paths of each binary, short, against real peers in the world:
#   mxconnect      plan, connect, exec a program on the socket, null MX,
#                  bogus DNSSEC, --starttls with DANE-EE, DANE-TA and a
#                  bogus TLSA RRset;
#   mtasts-check   fetch, cache, --json, a policy host with a bad cert;
#   smtpsend       to a STARTTLS/PIPELINING/DSN server with one bounce, to
#                  a CHUNKING server (BDAT), to smtpd-lite (MX lookup);
#   smtpd-lite     receiving: cleartext into a Maildir (0600 files, 0700
#                  directories), STARTTLS + AUTH, a refused recipient,
#                  then SIGTERM (exit 0, so that leak checks run at exit).
# Not part of the plain integration run (the other scripts cover all of
# this and more): scripts/run-integration --asan runs it with the
# ASan+UBSan binaries of build/asan/bin, make check-valgrind with every
# binary under valgrind (--valgrind).  The binaries come from PATH
# (MXKIT_BINDIR first, see lib.sh).

. "$(dirname "$0")/lib.sh"

C=$WORLD_DIR/certs
D=$T_TMP/dump
M=$T_TMP/maildir
mkdir -p "$WORLD_DIR/peers" "$D" "$M"
# Under valgrind everything is ~20 times slower.
MXC="mxconnect --connect-timeout 10 --greeting-timeout 20 --timeout 60"

echo "binaries: $(dirname "$(command -v mxconnect)")"

# --- peers
start_sink 192.0.2.20 25 || fail setup "smtp-sink on 192.0.2.20"
tab=$T_TMP/smtpd.table
cat >"$tab" <<EOF
192.0.2.100 25 --cert $C/mx.dane-ee.test.chain.pem --key $C/mx.dane-ee.test.key --hostname mx.dane-ee.test
192.0.2.103 25 --cert $C/mx.dane-ta.test.chain.pem --key $C/mx.dane-ta.test.key --hostname mx.dane-ta.test
192.0.2.109 25 --cert $C/mx.dane-bogus.test.chain.pem --key $C/mx.dane-bogus.test.key --hostname mx.dane-bogus.test
192.0.2.120 25 --cert $C/mx.send.test.chain.pem --key $C/mx.send.test.key --hostname mx.send.test --pipelining --dsn --smtputf8 --dump $D --reject bad@send.test="550 5.1.1 no such user"
192.0.2.124 25 --hostname chunk.send.test --chunking --pipelining --size 33554432 --dump $D
EOF
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/smtpd.py" \
    --table "$tab" --idle 60 >"$WORLD_DIR/peers/main-smtpd.out" 2>&1 \
    </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" smtpd.py $!
wait_port 192.0.2.124 25 10 ||
	fail setup "smtpd.py: $(tail -n 3 "$WORLD_DIR/peers/main-smtpd.out")"

# smtpd-lite, the binary from PATH, as lite.test's MX (cleartext) and as
# tls.lite.test (STARTTLS, AUTH).
printf 'alice:%s\n' "$(/usr/bin/python3 -c 'import crypt; print(crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_SHA512)))' 2>/dev/null)" \
    >"$T_TMP/passwd"
LITE=$(command -v smtpd-lite)
lite() {
	local name=$1 addr=$2
	shift 2
	nsenter --net="$WORLD_DIR/inet.ns" "$LITE" -l "$addr:25" --hostname \
	    "$name.lite.test" "$@" >"$WORLD_DIR/peers/main-lite-$name.log" \
	    2>&1 </dev/null &
	eval "LITE_$name=\$!"
	world_pid_add "$WORLD_DIR/peers.pids" smtpd-lite $!
	wait_port "$addr" 25 20 ||
		fail "start smtpd-lite $name" \
		    "$(tail -n 3 "$WORLD_DIR/peers/main-lite-$name.log")"
}
lite mx 192.0.2.140 --maildir "$M/%d" --accept-domain lite.test
lite tls 192.0.2.141 --maildir "$M/tls" --cert "$C/tls.lite.test.chain.pem" \
    --key "$C/tls.lite.test.key" --passwd "$T_TMP/passwd" --require-tls -v

msg() { printf 'From: a@example.test\nTo: %s\nSubject: %s\n\nhello\n.dot\n' "$1" "$2"; }
export -f msg

# --- mxconnect
cm "mxconnect --plan" "^10 dead\.prio\.test " $MXC --plan prio.test
ce "mxconnect connects" 0 $MXC prio.test
cm "mxconnect: the live MX" "^connected 192\.0\.2\.20:25 live\.prio\.test" \
    cat "$K"
cm "mxconnect exec: greeting on fd 6, QUIT on fd 7" "^banner: 220 " \
    $MXC prio.test -- sh -c 'IFS= read -r b <&6; echo "banner: $b"; printf "QUIT\r\n" >&7'
ce "mxconnect null MX: 68" 68 $MXC nullmx.test
ce "mxconnect bogus DNSSEC: 75" 75 $MXC bogus.test
ce "mxconnect --starttls DANE-EE" 0 $MXC --starttls dane-ee.test
cm "mxconnect --starttls DANE-EE verdict" \
    "^verdict Verified mx\.dane-ee\.test .*DANE-EE 3 1 1" cat "$K"
ce "mxconnect --starttls DANE-TA" 0 $MXC --starttls --json dane-ta.test
cm "mxconnect --starttls DANE-TA verdict" '"verdict":"Verified"' cat "$K"
ce "mxconnect --starttls bogus TLSA: 75" 75 $MXC --starttls dane-bogus.test

# --- mtasts-check
MC="mtasts-check --timeout 60 --cache-dir $T_TMP/sts-cache"
ce "mtasts-check fetch" 0 $MC sts-enforce.test sts-wild.test
cm "mtasts-check enforce policy" \
    "^sts-enforce\.test ok mode=enforce .*source=fetch" cat "$K"
cm "mtasts-check wildcard policy" "^sts-wild\.test ok " cat "$K"
ce "mtasts-check from the cache" 0 $MC --json sts-enforce.test
cm "mtasts-check cache hit" '"source":"cache"' cat "$K"
ce "mtasts-check untrusted policy host: 65" 65 $MC sts-untrusted.test
cm "mtasts-check untrusted: the reason" "certificate of mta-sts\.sts-untrusted\.test not valid" cat "$K"
ce "mtasts-check policy syntax error: 65" 65 $MC sts-syntax.test

# --- smtpsend
ce "smtpsend STARTTLS + pipelining, one bounce: 67" 67 bash -c \
    "msg ok@send.test main | smtpsend --timeout 120 -f s@example.test --dsn-notify FAILURE ok@send.test bad@send.test"
cm "smtpsend: the good recipient sent" "^sent ok@send\.test 250 " cat "$K"
cm "smtpsend: the bad one bounced" "^bounced bad@send\.test 550 5\.1\.1" \
    cat "$K"
ce "smtpsend an empty message (BDAT 0 LAST) to smtpd-lite" 0 bash -c \
    "smtpsend --timeout 120 --host mx.lite.test --tls none -f s@example.test empty@lite.test </dev/null"
ce "smtpsend BDAT" 0 bash -c \
    "msg x@send.test chunked | smtpsend --timeout 120 --host chunk.send.test --tls none -f s@example.test x@send.test"
check "smtpsend BDAT: stored" grep -rqs "Subject: chunked" "$D"
ce "smtpsend to smtpd-lite (MX lookup)" 0 bash -c \
    "msg postmaster@lite.test e2e | smtpsend --timeout 120 -f s@example.test postmaster@lite.test"
ce "smtpsend STARTTLS + AUTH PLAIN to smtpd-lite" 0 env SMTPSEND_PASSWORD=s3cret \
    bash -c "msg a@lite.test auth | smtpsend --timeout 120 --host tls.lite.test --tls require --user alice --auth-mech PLAIN a@lite.test"
ce "smtpsend AUTH wrong secret: 77" 77 env SMTPSEND_PASSWORD=nope \
    bash -c "msg a@lite.test auth | smtpsend --timeout 120 --host tls.lite.test --tls require --user alice a@lite.test"

# --- smtpd-lite: what it stored
f=$(grep -l "Subject: e2e" $(find "$M/lite.test" -path '*/new/*' -type f \
    2>/dev/null) /dev/null 2>/dev/null | head -n 1)
if [ -n "$f" ]; then
	ok "smtpd-lite: message in the Maildir"
else
	fail "smtpd-lite: message in the Maildir" "nothing in $M/lite.test/new"
fi
if [ -n "$f" ]; then
	check_match "smtpd-lite: message file 0600" '^600$' stat -c %a "$f"
	check_match "smtpd-lite: Maildir directories 0700" '^700 700 700 700$' \
	    bash -c "stat -c %a '$M/lite.test' '$M/lite.test/new' '$M/lite.test/cur' '$M/lite.test/tmp' | tr '\n' ' ' | sed 's/ \$//'"
fi
check "smtpd-lite: STARTTLS + AUTH message stored" \
    bash -c "grep -rqs 'Subject: auth' '$M/tls'"
cm "smtpd-lite: recipient outside --accept-domain refused" "^550 " \
    bash -c "printf 'EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@other.test>\r\nQUIT\r\n' | timeout 30 nsenter --net='$WORLD_DIR/inet.ns' /usr/bin/python3 -c '
import socket, sys, time
s = socket.create_connection((\"192.0.2.140\", 25), timeout=20)
s.recv(512)
for l in sys.stdin.buffer.read().split(b\"\r\n\")[:-1]:
    s.sendall(l + b\"\r\n\")
    sys.stdout.write(s.recv(4096).decode(\"latin-1\"))
' | grep -v '^2'"
# The tls instance logs the transcript (-v): AUTH must be hidden there,
# the secret and the base64 of "\0alice\0s3cret" alike.
check_match "smtpd-lite -v: AUTH in the transcript" ">>> AUTH PLAIN$" \
    cat "$WORLD_DIR/peers/main-lite-tls.log"
if grep -Eq 's3cret|AGFsaWNlAHMzY3JldA|czNjcmV0' "$WORLD_DIR"/peers/main-lite-*.log; then
	fail "smtpd-lite: no secret in the log" "the AUTH secret is in the log"
else
	ok "smtpd-lite: no secret in the log"
fi
check "smtpsend -v: no secret in the transcript" env SMTPSEND_PASSWORD=s3cret \
    bash -c "msg a@lite.test auth2 | smtpsend -v --timeout 120 --host tls.lite.test --tls require --user alice --auth-mech LOGIN a@lite.test >'$T_TMP/v.out' 2>&1; grep -q 'AUTH LOGIN' '$T_TMP/v.out' && ! grep -Eq 's3cret|czNjcmV0' '$T_TMP/v.out'"

# SMTP smuggling (CVE-2023-51764 class): "LF . CR LF" does not end the
# message, so the MAIL after it is part of it, not a second transaction.
n0=$(find "$M/lite.test" -path '*/new/*' -type f | wc -l)
cat >"$T_TMP/smuggle.py" <<'EOF'
import socket
s = socket.create_connection(("192.0.2.140", 25), timeout=20)
f = s.makefile("rb")
def line():
    while True:
        l = f.readline()
        if l[3:4] != b"-":
            return l
line()
for c in [b"EHLO c\r\n", b"MAIL FROM:<a@b.test>\r\n",
          b"RCPT TO:<postmaster@lite.test>\r\n", b"DATA\r\n"]:
    s.sendall(c)
    print(line().decode().strip())
s.sendall(b"Subject: smuggle\r\n\r\nhello\n.\r\nMAIL FROM:<evil@x.test>\r\n"
          b"RCPT TO:<postmaster@lite.test>\r\nDATA\r\nsmuggled\r\n.\r\n")
print(line().decode().strip())
s.sendall(b"QUIT\r\n")
print(line().decode().strip())
EOF
cm "smtpd-lite: LF . CR LF is data (one reply at the end)" \
    "^250 2\.0\.0 Ok: queued" \
    nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$T_TMP/smuggle.py"
check "smtpd-lite: LF . CR LF: QUIT answered next" grep -q "^221 " "$K"
n1=$(find "$M/lite.test" -path '*/new/*' -type f | wc -l)
if [ $((n1 - n0)) -eq 1 ] && grep -lq "MAIL FROM:<evil@x.test>" \
    $(find "$M/lite.test" -path '*/new/*' -type f) 2>/dev/null; then
	ok "smtpd-lite: one message, the smuggled MAIL inside it"
else
	fail "smtpd-lite: one message, the smuggled MAIL inside it" \
	    "$((n1 - n0)) new messages"
fi

ce "smtpd-lite --stdio honours -u (no such user: 78)" 78 bash -c \
    "printf 'QUIT\r\n' | smtpd-lite --stdio -u no-such-user-mxkit --discard"
cm "smtpd-lite --stdio: one session" "^221 " bash -c \
    "printf 'EHLO c\r\nQUIT\r\n' | smtpd-lite --stdio --discard --hostname stdio.test"

# SIGTERM: a clean exit, so that leak checkers report at exit.
for p in "$LITE_mx" "$LITE_tls"; do
	kill -TERM "$p" 2>/dev/null
done
for name in mx tls; do
	eval "p=\$LITE_$name"
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	wait "$p"
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "smtpd-lite $name: exit 0 after SIGTERM"
	else
		fail "smtpd-lite $name: exit 0 after SIGTERM" "exit $rc: $(tail -n 5 "$WORLD_DIR/peers/main-lite-$name.log")"
	fi
done

finish
