#!/bin/bash
# ISC license.
#
# smtpd-lite benchmarks, run inside the test world by bench/run:
#
#   tests/world/world run bench/smtpd.sh
#
# Postfix's smtp-source sends BENCH_MSGS (2000; 100..20000) messages of
# 1 KiB and 100 KiB at 1, 10 and 100 sessions, one connection per message
# and with -d (many per connection), to each server in turn on the same
# address: smtpd-lite --discard, Postfix's smtp-sink, smtpd-lite --maildir
# (fsync) and aiosmtpd writing a Maildir without fsync (tests/world/smtpd.py
# --dump).  Messages per second; ratios smtpd-lite / peer.  Then the
# resident memory of 2000 idle sessions.  Never part of `make check`.

set -u
export LC_ALL=C
BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
. "$BENCH_DIR/../tests/integration/lib.sh"

L=$T_ROOT/bin/smtpd-lite
ADDR=192.0.2.146
N=${BENCH_MSGS:-2000}
case $N in ''|*[!0-9]*) N=2000 ;; esac
[ "$N" -lt 100 ] && N=100
[ "$N" -gt 20000 ] && N=20000
us() { echo "${EPOCHREALTIME/[.,]/}"; }

start() {	# start NAME CMD...: a server on $ADDR:25 in the inet namespace
	local name=$1
	shift
	nsenter --net="$WORLD_DIR/inet.ns" "$@" >"$WORLD_DIR/peers/bench-$name.log" 2>&1 </dev/null &
	SRV=$!
	world_pid_add "$WORLD_DIR/peers.pids" "$name" $SRV
	wait_port "$ADDR" 25 10 || { echo "bench: $name did not start" >&2; exit 1; }
}
stop() {
	kill "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
}
# rate SIZE SESSIONS MODE: messages/s of one smtp-source run.
rate() {
	local t0 t1 d=
	[ "$3" = d ] && d=-d
	t0=$(us)
	timeout 300 smtp-source -s "$2" -m "$N" -l "$1" $d -c -f a@lite.test -t b@lite.test "$ADDR:25" >/dev/null 2>&1 || echo "bench: smtp-source failed" >&2
	t1=$(us)
	awk -v n="$N" -v u="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (u / 1e6) }'
}
declare -A R
cells="1024:1:c 1024:10:c 1024:100:c 1024:10:d 102400:10:c 102400:10:d"
run_all() {	# run_all NAME
	local c size sess mode
	for c in $cells; do
		IFS=: read -r size sess mode <<<"$c"
		R[$1 $c]=$(rate "$size" "$sess" "$mode")
	done
}
mkdir -p "$WORLD_DIR/peers" "$T_TMP/md" "$T_TMP/aio"
if [ "$(cat /proc/self/setgroups 2>/dev/null)" = deny ]; then
	sink=(unshare --user --map-user=1000 --map-group=1000 /usr/sbin/smtp-sink)
elif [ "$(id -u)" -eq 0 ]; then
	sink=(/usr/sbin/smtp-sink -u root)
else
	sink=(/usr/sbin/smtp-sink)
fi
echo "bench: $N messages per cell" >&2
start lite-discard "$L" -l "$ADDR:25" --discard --max-clients 5000 --max-per-ip 5000
run_all lite-discard; stop
start smtp-sink "${sink[@]}" -c "$ADDR:25" 1000
run_all smtp-sink; stop
start lite-maildir "$L" -l "$ADDR:25" --maildir "$T_TMP/md" --max-clients 5000 --max-per-ip 5000
run_all lite-maildir; stop
start aiosmtpd /usr/bin/python3 "$WORLD_SRC/smtpd.py" "$ADDR" 25 --dump "$T_TMP/aio" --size 1000000 --pipelining --max-sessions 100000 --max-concurrent 200
run_all aiosmtpd; stop

echo
echo "smtpd benchmark: $(nproc) CPUs, $(uname -sr), smtp-source, $N messages per cell (messages/s)"
printf '  %-22s %12s %12s %8s %14s %12s %8s\n' "size:sessions:mode" lite-discard smtp-sink ratio lite-maildir aiosmtpd ratio
for c in $cells; do
	printf '  %-22s %12s %12s %8s %14s %12s %8s\n' "$c" "${R[lite-discard $c]}" "${R[smtp-sink $c]}" \
	    "$(awk -v a="${R[lite-discard $c]}" -v b="${R[smtp-sink $c]}" 'BEGIN { printf "%.2f", a / b }')" \
	    "${R[lite-maildir $c]}" "${R[aiosmtpd $c]}" \
	    "$(awk -v a="${R[lite-maildir $c]}" -v b="${R[aiosmtpd $c]}" 'BEGIN { printf "%.2f", a / b }')"
done
echo "  (mode c: one connection per message; d: smtp-source -d, many per connection)"

# Idle sessions: RSS of the server holding 2000 open, greeted sessions.
start lite-idle "$L" -l "$ADDR:25" --discard --max-clients 5000 --max-per-ip 5000 --timeout 60s
/usr/bin/python3 - "$ADDR" >"$T_TMP/idle.out" <<'PY'
import socket, sys, time
ss = []
for i in range(2000):
    s = socket.create_connection((sys.argv[1], 25), timeout=5)
    ss.append(s)
for s in ss:
    s.recv(100)
print("open", len(ss), flush=True)
time.sleep(1.5)
PY
rss=$(awk '/VmRSS/ { print $2 }' /proc/$SRV/status 2>/dev/null)
echo "  2000 idle sessions: smtpd-lite RSS ${rss:-?} KiB ($(awk -v r="${rss:-0}" 'BEGIN { printf "%.1f", r / 2000 }') KiB per session, process included)"
stop
exit 0
