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
# address:
#   smtpd-lite --discard  against Postfix's smtp-sink (the C discard ceiling);
#   smtpd-lite --maildir  (fsync, 250 once stored) against a private Postfix
#                         instance delivering to a Maildir with virtual(8)
#                         (queue file fsync'ed before 250, then delivered
#                         and fsync'ed by virtual), and aiosmtpd writing
#                         files without fsync (tests/world/smtpd.py --dump).
# Messages per second, medians of BENCH_RUNS (1; odd) runs per cell.  For
# the two stores that say 250 after the message is in the Maildir
# (smtpd-lite, aiosmtpd) the clock stops with smtp-source; for Postfix,
# which says 250 once the message is in its queue, it stops when the last
# message is in new/ (the "accepted" column is its rate at smtp-source's
# end).  Ratios smtpd-lite / peer.  Then the resident memory of 10000 idle
# sessions.  Never part of `make check`.

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
RUNS=${BENCH_RUNS:-1}
case $RUNS in ''|*[!0-9]*) RUNS=1 ;; esac
[ $((RUNS % 2)) = 0 ] && RUNS=$((RUNS + 1))
IDLE=${BENCH_IDLE:-10000}
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
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# source SIZE SESSIONS MODE: one smtp-source run (bounded).
source_run() {
	local d=
	[ "$3" = d ] && d=-d
	timeout 300 smtp-source -s "$2" -m "$N" -l "$1" $d -c -f a@lite.test -t b@lite.test "$ADDR:25" >/dev/null 2>&1 ||
	    echo "bench: smtp-source failed ($*)" >&2
}
# rate SIZE SESSIONS MODE: messages/s of one smtp-source run.
rate() {
	local t0 t1
	t0=$(us)
	source_run "$@"
	t1=$(us)
	awk -v n="$N" -v u="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (u / 1e6) }'
}
# rate_delivered DIR SIZE SESSIONS MODE: messages/s until DIR/new holds N
# more files (at most 300 s); the rate at smtp-source's end goes to
# $T_TMP/acc.
rate_delivered() {
	local dir=$1 t0 t1 t2 before want
	shift
	before=$(find "$dir/new" -type f 2>/dev/null | wc -l)
	want=$((before + N))
	t0=$(us)
	source_run "$@"
	t1=$(us)
	local have last=-1 still=0
	for _ in $(seq 3000); do
		have=$(find "$dir/new" -type f 2>/dev/null | wc -l)
		[ "$have" -ge "$want" ] && break
		# No progress for 30 s: something is wrong; give up.
		if [ "$have" = "$last" ]; then
			still=$((still + 1))
			[ $still -ge 300 ] && { echo "bench: delivery stalled at $have of $want" >&2; break; }
		else
			still=0
		fi
		last=$have
		sleep 0.1
	done
	t2=$(us)
	awk -v n="$N" -v u="$((t1 - t0))" 'BEGIN { printf "%.0f\n", n / (u / 1e6) }' >>"$T_TMP/acc"
	awk -v n="$N" -v u="$((t2 - t0))" 'BEGIN { printf "%.0f", n / (u / 1e6) }'
}
declare -A R
cells=${BENCH_CELLS:-"1024:1:c 1024:10:c 1024:100:c 1024:10:d 102400:10:c 102400:10:d"}
# BENCH_SERVERS: which servers to run (default all).
servers=" ${BENCH_SERVERS:-lite-discard smtp-sink lite-maildir postfix aiosmtpd idle} "
want() { case $servers in *" $1 "*) return 0 ;; esac; return 1; }
run_all() {	# run_all NAME [DIR]: every cell, RUNS times, medians
	local c size sess mode i v a
	for c in $cells; do
		IFS=: read -r size sess mode <<<"$c"
		: >"$T_TMP/runs" >"$T_TMP/acc"
		for i in $(seq "$RUNS"); do
			if [ $# -gt 1 ]; then
				v=$(rate_delivered "$2" "$size" "$sess" "$mode")
			else
				v=$(rate "$size" "$sess" "$mode")
			fi
			echo "$v" >>"$T_TMP/runs"
			echo "bench: $1 $c: $v/s" >&2
		done
		R[$1 $c]=$(median <"$T_TMP/runs")
		[ -s "$T_TMP/acc" ] && R[$1-acc $c]=$(median <"$T_TMP/acc")
	done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# A private Postfix: smtpd -> cleanup (queue file fsync) -> qmgr ->
# virtual(8) into one Maildir, with its own configuration, queue and
# logs in $WORLD_DIR/postfix-bench; the system's /etc/postfix is not used.
postfix_start() {
	local d=$WORLD_DIR/postfix-bench uid gid
	uid=$(id -u postfix 2>/dev/null) || return 1
	gid=$(id -g postfix) || return 1
	mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/mail" || return 1
	# mail_owner must reach its directories below the world's.
	chmod 711 "$WORLD_DIR" "$d"
	cp /etc/postfix/master.cf "$d/etc/master.cf" || return 1
	[ -f /etc/postfix/dynamicmaps.cf ] && cp /etc/postfix/dynamicmaps.cf "$d/etc/"
	cat >"$d/etc/main.cf" <<-EOF
	compatibility_level = 3.6
	queue_directory = $d/queue
	data_directory = $d/data
	mail_owner = postfix
	setgid_group = postdrop
	myhostname = mx.lite.test
	mydestination =
	inet_interfaces = $ADDR
	inet_protocols = ipv4
	mynetworks = 127.0.0.0/8
	smtpd_relay_restrictions = reject_unauth_destination
	virtual_mailbox_domains = lite.test
	virtual_mailbox_base = $d/mail
	virtual_mailbox_maps = static:lite.test/
	virtual_uid_maps = static:$uid
	virtual_gid_maps = static:$gid
	virtual_minimum_uid = 1
	virtual_mailbox_limit = 0
	message_size_limit = 0
	maillog_file = $d/maillog
	maillog_file_prefixes = $d
	smtpd_client_connection_count_limit = 0
	smtpd_client_connection_rate_limit = 0
	smtpd_client_message_rate_limit = 0
	default_process_limit = 200
	smtputf8_enable = no
	biff = no
	EOF
	chown -R postfix:postfix "$d/mail" "$d/data"
	# postfix(1) writes its errors only to a terminal, or syslog.
	world_inet script -qc "postfix -c $d/etc start" /dev/null >"$d/start.log" 2>&1
	wait_port "$ADDR" 25 20 || { echo "bench: postfix did not start: $(cat "$d/start.log")" >&2; return 1; }
	PFX_MAILDIR=$d/mail/lite.test	# made by virtual(8), as postfix
}
postfix_stop() {
	world_inet script -qc "postfix -c $WORLD_DIR/postfix-bench/etc stop" /dev/null >/dev/null 2>&1
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/$ADDR/25") 2>/dev/null || return 0
		sleep 0.2
	done
}

mkdir -p "$WORLD_DIR/peers" "$T_TMP/md" "$T_TMP/aio"
world_postfix_config
if [ "$(cat /proc/self/setgroups 2>/dev/null)" = deny ]; then
	sink=(unshare --user --map-user=1000 --map-group=1000 /usr/sbin/smtp-sink)
elif [ "$(id -u)" -eq 0 ]; then
	sink=(/usr/sbin/smtp-sink -u root)
else
	sink=(/usr/sbin/smtp-sink)
fi
echo "bench: $N messages per cell, $RUNS run(s) each" >&2
if want lite-discard; then
	start lite-discard "$L" -l "$ADDR:25" --discard --max-clients 5000 --max-per-ip 5000
	run_all lite-discard; stop
fi
if want smtp-sink; then
	start smtp-sink "${sink[@]}" -c "$ADDR:25" 1000
	run_all smtp-sink; stop
fi
if want lite-maildir; then
	start lite-maildir "$L" -l "$ADDR:25" --maildir "$T_TMP/md" --max-clients 5000 --max-per-ip 5000
	run_all lite-maildir; stop
	rm -rf "$T_TMP/md"
fi
if ! want postfix; then
	:
elif [ "$(id -u)" -eq 0 ] && postfix_start; then
	run_all postfix "$PFX_MAILDIR"
	postfix_stop
	rm -rf "$WORLD_DIR/postfix-bench/mail"
else
	echo "bench: no private Postfix (needs root and the postfix user): skipped" >&2
fi
if want aiosmtpd; then
	start aiosmtpd /usr/bin/python3 "$WORLD_SRC/smtpd.py" "$ADDR" 25 --dump "$T_TMP/aio" --size 1000000 --pipelining --max-sessions 100000 --max-concurrent 200
	run_all aiosmtpd; stop
	rm -rf "$T_TMP/aio"
fi

echo
echo "smtpd benchmark: $(nproc) CPUs, $(uname -sr), smtp-source, $N messages per cell, median of $RUNS (messages/s)"
printf '  %-18s %12s %10s %6s   %12s %10s %9s %6s %10s %6s\n' "size:sessions:mode" lite-discard smtp-sink ratio \
    lite-maildir postfix "accepted" ratio aiosmtpd ratio
for c in $cells; do
	printf '  %-18s %12s %10s %6s   %12s %10s %9s %6s %10s %6s\n' "$c" "${R[lite-discard $c]:--}" "${R[smtp-sink $c]:--}" \
	    "$(ratio "${R[lite-discard $c]:--}" "${R[smtp-sink $c]:--}")" \
	    "${R[lite-maildir $c]:--}" "${R[postfix $c]:--}" "${R[postfix-acc $c]:--}" \
	    "$(ratio "${R[lite-maildir $c]:--}" "${R[postfix $c]:-0}")" \
	    "${R[aiosmtpd $c]:--}" "$(ratio "${R[lite-maildir $c]:--}" "${R[aiosmtpd $c]:--}")"
done
echo "  (mode c: one connection per message; d: smtp-source -d, many per connection;"
echo "   postfix: until delivered to the Maildir, accepted: until its last 250)"

# Idle sessions: RSS of the server holding IDLE open, greeted sessions.
want idle || exit 0
start lite-idle "$L" -l "$ADDR:25" --discard --max-clients $((IDLE + 100)) --max-per-ip $((IDLE + 100)) --timeout 120s
cat >"$T_TMP/idle.py" <<'PY'
import resource, socket, sys, time
n = int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
ss = []
for i in range(n):
    ss.append(socket.create_connection((sys.argv[1], 25), timeout=10))
for s in ss:
    s.recv(100)
print("open", len(ss), flush=True)
time.sleep(60)
PY
/usr/bin/python3 "$T_TMP/idle.py" "$ADDR" "$IDLE" >"$T_TMP/idle.out" 2>&1 &
idle=$!
for _ in $(seq 600); do
	grep -q '^open' "$T_TMP/idle.out" && break
	kill -0 "$idle" 2>/dev/null || break
	sleep 0.1
done
sleep 1
rss=$(awk '/VmRSS/ { print $2 }' /proc/$SRV/status 2>/dev/null)
nopen=$(awk '/^open/ { print $2 }' "$T_TMP/idle.out")
kill "$idle" 2>/dev/null
wait "$idle" 2>/dev/null
echo "  ${nopen:-0} idle sessions (of $IDLE): smtpd-lite RSS ${rss:-?} KiB = $(awk -v r="${rss:-0}" 'BEGIN { printf "%.1f MiB", r / 1024 }') ($(awk -v r="${rss:-0}" -v n="${nopen:-1}" 'BEGIN { printf "%.2f", r / n }') KiB per session, process included)"
stop
exit 0
