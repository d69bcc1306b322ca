#!/bin/bash
# ISC license.
#
# smtpd-lite benchmarks, run inside the test world by bench/run:
#
#   tests/world/world run bench/smtpd.sh
#
# Postfix's smtp-source sends BENCH_MSGS (2000; 100..20000) messages of
# 1 KiB and 100 KiB at 1, 10 and 100 sessions, one connection per message
# and with -d (many per connection), in two races of servers running side
# by side on one address, each on its own port:
#   smtpd-lite --discard  against Postfix's smtp-sink (the C discard ceiling),
#                         as it starts by default (--busy-poll auto: it
#                         polls a little before it sleeps while that finds
#                         work, which spares the client the cost of waking
#                         it; see --busy-poll in smtpd-lite(8)) and with
#                         --busy-poll 0 (lite-sleep: it never polls);
#   smtpd-lite --maildir  (fsync, 250 once stored) against a private Postfix
#                         instance delivering to a Maildir with virtual(8)
#                         (queue file fsync'ed before 250, then delivered
#                         and fsync'ed by virtual), aiosmtpd writing files
#                         without fsync (tests/world/smtpd.py --dump), and
#                         the disk's floor (below).
# Each cell runs BENCH_RUNS (1; odd) rounds; a round runs every server of
# the race once, in an order that rotates from round to round, so that
# the machine's changing load falls on all alike.  Messages per second,
# medians, and for single processes their CPU time per message.  For the
# stores that say 250 after the message is in the Maildir (smtpd-lite,
# aiosmtpd) the clock stops with smtp-source; for Postfix, which says 250
# once the message is in its queue, it stops when the last message is in
# new/ (the "accepted" column is its rate at smtp-source's end).  Ratios
# smtpd-lite / peer.  Then the resident memory of 10000 idle sessions, and
# the rate of 1 KiB messages at 10 sessions beside them.  Also how busy
# smtp-source kept its core in each cell.
# BENCH_CELLS (size:sessions:mode ...) and BENCH_SERVERS (names, and
# "floor", "idle") narrow a run; BENCH_LITE_B=PATH races a second
# smtpd-lite build beside the first (an A/B test of a change).  Never part of `make check`.

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

declare -A PID PORT R
# start NAME PORT CMD...: a server on $ADDR:PORT in the inet namespace.
start() {
	local name=$1 port=$2
	shift 2
	nsenter --net="$WORLD_DIR/inet.ns" "$@" >"$WORLD_DIR/peers/bench-$name.log" 2>&1 </dev/null &
	PID[$name]=$!
	PORT[$name]=$port
	world_pid_add "$WORLD_DIR/peers.pids" "$name" $!
	wait_port "$ADDR" "$port" 10 || { echo "bench: $name did not start" >&2; exit 1; }
}
stop() {	# stop NAME
	kill "${PID[$1]}" 2>/dev/null
	wait "${PID[$1]}" 2>/dev/null
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# CPU ticks (user + system, all threads) of a process.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# source PORT SIZE SESSIONS MODE: one smtp-source run (bounded); its CPU
# seconds (user system) to $T_TMP/client.
source_run() {
	local d=
	[ "$4" = d ] && d=-d
	/usr/bin/time -f '%U %S' -o "$T_TMP/client" timeout 300 smtp-source -s "$3" -m "$N" -l "$2" $d -c \
	    -f a@lite.test -t b@lite.test "$ADDR:$1" >/dev/null 2>&1 || echo "bench: smtp-source failed ($*)" >&2
}
# one NAME SIZE SESSIONS MODE: one run against server NAME; appends
# messages/s to $T_TMP/NAME.runs and server CPU microseconds per message
# to $T_TMP/NAME.cpu.  For postfix the clock stops when $PFX_MAILDIR/new
# holds N more files (at most 300 s; its rate at smtp-source's end goes
# to $T_TMP/postfix.acc) and no CPU is taken (it is many processes).
one() {
	local name=$1 t0 t1 t2 c0 c1 before want have last=-1 still=0
	shift
	if [ "$name" = postfix ]; then
		before=$(find "$PFX_MAILDIR/new" -type f 2>/dev/null | wc -l)
		want=$((before + N))
	fi
	if [ "$name" = floor ]; then
		/usr/bin/python3 "$T_TMP/floor.py" "$SD/floor" "$N" "$1" "$2" >>"$T_TMP/floor.runs"
		return
	fi
	c0=$(ticks "${PID[$name]:-0}")
	t0=$(us)
	source_run "${PORT[$name]}" "$@"
	t1=$(us)
	c1=$(ticks "${PID[$name]:-0}")
	if [ "$name" = postfix ]; then
		for _ in $(seq 3000); do
			have=$(find "$PFX_MAILDIR/new" -type f 2>/dev/null | wc -l)
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
		awk -v n="$N" -v u="$((t1 - t0))" 'BEGIN { printf "%.0f\n", n / (u / 1e6) }' >>"$T_TMP/postfix.acc"
		t1=$t2
	else
		awk -v n="$N" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" \
		    'BEGIN { printf "%.0f\n", c / hz * 1e6 / n }' >>"$T_TMP/$name.cpu"
	fi
	awk -v n="$N" -v u="$((t1 - t0))" 'BEGIN { printf "%.0f\n", n / (u / 1e6) }' >>"$T_TMP/$name.runs"
	# How busy smtp-source was over its run (1.00: one core).
	awk -v u="$((t1 - t0))" '{ printf "%.2f\n", ($1 + $2) / (u / 1e6) }' "$T_TMP/client" >>"$T_TMP/$name.ccpu" 2>/dev/null
	# The stores start each run empty (untimed).
	case $name in
	lite-maildir) find "$SD/md" -type f -delete 2>/dev/null ;;
	lite-b-maildir) find "$SD/md-b" -type f -delete 2>/dev/null ;;
	aiosmtpd) find "$SD/aio" -type f -delete 2>/dev/null ;;
	postfix) find "$PFX_MAILDIR" -type f -delete 2>/dev/null ;;
	esac
}
# The disk's floor, raced as if it were a server: as many threads as the
# cell has sessions, each storing one message at a time as --maildir does
# (tmp/ file, write, fsync, link into new/, fsync new/, unlink) and
# nothing else.  No store that says 250 only once a message is durable
# can take that many sessions' messages faster on this disk, whatever its
# protocol costs.  (Python's threads let go of the interpreter in each of
# these system calls.)
cat >"$T_TMP/floor.py" <<'PY'
import os, shutil, sys, threading, time
d, n, size, nt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
shutil.rmtree(d, ignore_errors=True)
os.makedirs(d + "/tmp")
os.makedirs(d + "/new")
os.chdir(d)
body = b"x" * (size + 80)
def store(t):
    for i in range(t, n, nt):
        f = os.open("tmp/%d" % i, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(f, body)
        os.fsync(f)
        os.close(f)
        os.link("tmp/%d" % i, "new/%d" % i)
        g = os.open("new", os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(g)
        os.close(g)
        os.unlink("tmp/%d" % i)
th = [threading.Thread(target=store, args=(t,)) for t in range(nt)]
t0 = time.perf_counter()
for t in th:
    t.start()
for t in th:
    t.join()
print("%.0f" % (n / (time.perf_counter() - t0)))
PY
# race "NAME..." : every cell, RUNS rounds; in each round every server
# once, in an order that rotates from round to round, so that a change
# in the machine's load falls on all of them alike.  Medians into R.
race() {
	local names=($1) c size sess mode i k j name v
	for c in $cells; do
		IFS=: read -r size sess mode <<<"$c"
		for name in "${names[@]}"; do
			: >"$T_TMP/$name.runs" >"$T_TMP/$name.cpu" >"$T_TMP/$name.acc" >"$T_TMP/$name.ccpu"
		done
		for i in $(seq "$RUNS"); do
			for k in $(seq 0 $((${#names[@]} - 1))); do
				j=$(((k + i) % ${#names[@]}))
				name=${names[$j]}
				one "$name" "$size" "$sess" "$mode"
				v=$(tail -n 1 "$T_TMP/$name.runs")
				[ -n "$v" ] && echo "bench: $name $c: $v/s" >&2
			done
		done
		for name in "${names[@]}"; do
			R[$name $c]=$(median <"$T_TMP/$name.runs")
			[ -s "$T_TMP/$name.cpu" ] && R[$name-cpu $c]=$(median <"$T_TMP/$name.cpu")
			[ -s "$T_TMP/$name.acc" ] && R[$name-acc $c]=$(median <"$T_TMP/$name.acc")
			[ -s "$T_TMP/$name.ccpu" ] && R[$name-ccpu $c]=$(median <"$T_TMP/$name.ccpu")
		done
	done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
cells=${BENCH_CELLS:-"1024:1:c 1024:10:c 1024:100:c 1024:10:d 102400:10:c 102400:10:d"}
# BENCH_SERVERS: which to run (default all).
servers=" ${BENCH_SERVERS:-lite-discard lite-sleep smtp-sink lite-maildir postfix aiosmtpd floor idle} "
want() { case $servers in *" $1 "*) return 0 ;; esac; return 1; }
# The names asked for that are among $@.
pick() { local n o=; for n in "$@"; do want "$n" && o="$o $n"; done; echo $o; }

# A private Postfix: smtpd -> cleanup (queue file fsync) -> qmgr ->
# virtual(8) into one Maildir, with its own configuration, queue and
# logs in $WORLD_DIR/postfix-bench; the system's /etc/postfix is not used.
postfix_start() {
	local d=$WORLD_DIR/postfix-bench uid gid
	uid=$(id -u postfix 2>/dev/null) || return 1
	gid=$(id -g postfix) || return 1
	mkdir -p "$d/etc" "$SD/pfx-queue" "$d/data" "$SD/pfx-mail" || return 1
	# mail_owner must reach its directories below the world's.
	chmod 711 "$WORLD_DIR" "$d"
	cp /etc/postfix/master.cf "$d/etc/master.cf" || return 1
	[ -f /etc/postfix/dynamicmaps.cf ] && cp /etc/postfix/dynamicmaps.cf "$d/etc/"
	cat >"$d/etc/main.cf" <<-EOF
	compatibility_level = 3.6
	queue_directory = $SD/pfx-queue
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
	virtual_mailbox_base = $SD/pfx-mail
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
	chown -R postfix:postfix "$SD/pfx-mail" "$d/data"
	# postfix(1) writes its errors only to a terminal, or syslog.
	world_inet script -qc "postfix -c $d/etc start" /dev/null >"$d/start.log" 2>&1
	wait_port "$ADDR" 25 20 || { echo "bench: postfix did not start: $(cat "$d/start.log")" >&2; return 1; }
	PFX_MAILDIR=$SD/pfx-mail/lite.test	# made by virtual(8), as postfix
}
postfix_stop() {
	world_inet script -qc "postfix -c $WORLD_DIR/postfix-bench/etc stop" /dev/null >/dev/null 2>&1
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/$ADDR/25") 2>/dev/null || return 0
		sleep 0.2
	done
}

# The stores (Maildirs, Postfix's queue, aiosmtpd's files, the floor) live
# on a file system of their own: a fresh ext4 with its journal, as on a
# mail server, in an image file mounted for the run (BENCH_FS=image, the
# default, as root), so that the results do not depend on what the rest
# of the machine did to its file system lately.  (This VM's root is an
# ext4 without a journal; there ext4 skips inodes freed in the last
# minutes when it makes a file, which after heavy churn costs a
# millisecond or more of CPU per file.)  BENCH_FS=tmp keeps them in the
# test's directory instead.
SD=$T_TMP
fsnote="the test directory ($(findmnt -n -o FSTYPE -T "$T_TMP" 2>/dev/null))"
bench_umount() {
	if [ -n "${BENCH_MNT:-}" ]; then
		umount "$BENCH_MNT" 2>/dev/null || umount -l "$BENCH_MNT" 2>/dev/null
		rm -f "$WORLD_DIR/benchfs.img"
		BENCH_MNT=
	fi
}
trap 'stop_peers; bench_umount' EXIT
if [ "${BENCH_FS:-image}" = image ] && [ "$(id -u)" -eq 0 ]; then
	m=$WORLD_DIR/benchfs
	mkdir -p "$m"
	if truncate -s 16G "$WORLD_DIR/benchfs.img" &&
	    mkfs.ext4 -q -F "$WORLD_DIR/benchfs.img" >/dev/null 2>&1 &&
	    mount -o loop "$WORLD_DIR/benchfs.img" "$m"; then
		BENCH_MNT=$m
		SD=$m
		chmod 711 "$m"
		fsnote="a fresh ext4 image with a journal (loop device)"
	else
		echo "bench: cannot mount a file system image; the stores stay in $T_TMP" >&2
		rm -f "$WORLD_DIR/benchfs.img"
	fi
fi
mkdir -p "$WORLD_DIR/peers" "$SD/md" "$SD/aio"
world_postfix_config
if [ "$(cat /proc/self/setgroups 2>/dev/null)" = deny ]; then
	sink=(unshare --user --map-user=1000 --map-group=1000 /usr/sbin/smtp-sink)
elif [ "$(id -u)" -eq 0 ]; then
	sink=(/usr/sbin/smtp-sink -u root)
else
	sink=(/usr/sbin/smtp-sink)
fi
echo "bench: $N messages per cell, $RUNS round(s) each" >&2

# The discard race: smtpd-lite --discard and smtp-sink side by side.
# BENCH_LITE_B: a second smtpd-lite build raced beside the first (A/B).
LB=${BENCH_LITE_B:-}
if [ -n "$LB" ]; then
	want lite-discard && servers="$servers lite-b-discard "
	want lite-maildir && servers="$servers lite-b-maildir "
fi
race1=$(pick lite-discard lite-b-discard lite-sleep smtp-sink)
if [ -n "$race1" ]; then
	want lite-discard && start lite-discard 2525 "$L" -l "$ADDR:2525" --discard --max-clients 5000 --max-per-ip 5000
	# The same without --busy-poll: asleep when the next command comes.
	want lite-sleep && start lite-sleep 2545 "$L" -l "$ADDR:2545" --discard --max-clients 5000 --max-per-ip 5000 --busy-poll 0
	want lite-b-discard && start lite-b-discard 2535 "$LB" -l "$ADDR:2535" --discard --max-clients 5000 --max-per-ip 5000
	want smtp-sink && start smtp-sink 2526 "${sink[@]}" -c "$ADDR:2526" 1000
	race "$race1"
	for n in $race1; do stop "$n"; done
fi

# The store race: smtpd-lite --maildir, a private Postfix into a Maildir,
# aiosmtpd writing files.
race2=$(pick lite-maildir lite-b-maildir postfix aiosmtpd floor)
if [ -n "$race2" ]; then
	want lite-maildir && start lite-maildir 2527 "$L" -l "$ADDR:2527" --maildir "$SD/md" --max-clients 5000 --max-per-ip 5000
	want lite-b-maildir && start lite-b-maildir 2537 "$LB" -l "$ADDR:2537" --maildir "$SD/md-b" --max-clients 5000 --max-per-ip 5000
	want aiosmtpd && start aiosmtpd 2528 /usr/bin/python3 "$WORLD_SRC/smtpd.py" "$ADDR" 2528 --dump "$SD/aio" --size 1000000 --pipelining --max-sessions 100000 --max-concurrent 200
	if want postfix; then
		if [ "$(id -u)" -eq 0 ] && postfix_start; then
			PORT[postfix]=25
		else
			echo "bench: no private Postfix (needs root and the postfix user): skipped" >&2
			race2=$(echo " $race2 " | sed 's/ postfix / /')
		fi
	fi
	race "$race2"
	want lite-maildir && stop lite-maildir
	want lite-b-maildir && stop lite-b-maildir
	want aiosmtpd && stop aiosmtpd
	if [ -n "${PORT[postfix]:-}" ]; then
		postfix_stop
		rm -rf "$SD/pfx-mail" "$SD/pfx-queue"
	fi
	rm -rf "$SD/md" "$SD/md-b" "$SD/aio" "$SD/floor"
fi

echo
echo "smtpd benchmark: $(nproc) CPUs, $(uname -sr), smtp-source, $N messages per cell, median of $RUNS round(s)"
echo "(messages/s; in brackets the server's CPU time per message, microseconds; stores on $fsnote)"
printf '  %-18s %14s %14s %6s   %14s %8s %8s %6s %8s %6s %6s\n' "size:sessions:mode" lite-discard smtp-sink ratio \
    lite-maildir postfix accepted ratio aiosmtpd ratio floor
cpu() { [ -n "${R[$1-cpu $2]:-}" ] && echo "${R[$1 $2]} [${R[$1-cpu $2]}]" || echo "${R[$1 $2]:--}"; }
for c in $cells; do
	printf '  %-18s %14s %14s %6s   %14s %8s %8s %6s %8s %6s %6s\n' "$c" "$(cpu lite-discard "$c")" "$(cpu smtp-sink "$c")" \
	    "$(ratio "${R[lite-discard $c]:-}" "${R[smtp-sink $c]:-}")" \
	    "$(cpu lite-maildir "$c")" "${R[postfix $c]:--}" "${R[postfix-acc $c]:--}" \
	    "$(ratio "${R[lite-maildir $c]:-}" "${R[postfix $c]:-}")" \
	    "${R[aiosmtpd $c]:--}" "$(ratio "${R[lite-maildir $c]:-}" "${R[aiosmtpd $c]:-}")" \
	    "${R[floor $c]:--}"
done
if want lite-sleep; then
	echo "  smtpd-lite --discard --busy-poll 0 (sleeps as soon as nothing is ready):"
	for c in $cells; do
		printf '  %-18s %14s %14s %6s\n' "$c" "$(cpu lite-sleep "$c")" "" \
		    "$(ratio "${R[lite-sleep $c]:-}" "${R[smtp-sink $c]:-}")"
	done
	echo "  (ratios against smtp-sink)"
fi
if [ -n "$LB" ]; then
	echo "  B build ($LB):"
	for c in $cells; do
		printf '  %-18s %14s %14s %6s   %14s %8s\n' "$c" "$(cpu lite-b-discard "$c")" "" \
		    "$(ratio "${R[lite-b-discard $c]:-}" "${R[lite-discard $c]:-}")" \
		    "$(cpu lite-b-maildir "$c")" "$(ratio "${R[lite-b-maildir $c]:-}" "${R[lite-maildir $c]:-}")"
	done
	echo "  (ratios B / A)"
fi
echo "  (mode c: one connection per message; d: smtp-source -d, many per connection;"
echo "   postfix: until delivered to the Maildir, accepted: until its last 250)"
want floor && echo "  floor: the disk's rate for the same store (write, fsync, link, fsync new/), one thread per session, same rounds"
# smtp-source is one process: near 1.00 the client, not the server, is
# the bound (a second smtp-source process does not help: on 2 CPUs the
# three processes' wake-ups cost more than they share).
echo "  smtp-source's CPU in cores over its run (medians; near 1.00 the client is the bound):"
printf '  %-18s %14s %14s   %14s %8s\n' "size:sessions:mode" lite-discard smtp-sink lite-maildir postfix
for c in $cells; do
	printf '  %-18s %14s %14s   %14s %8s\n' "$c" "${R[lite-discard-ccpu $c]:--}" "${R[smtp-sink-ccpu $c]:--}" \
	    "${R[lite-maildir-ccpu $c]:--}" "${R[postfix-ccpu $c]:--}"
done

# Idle sessions: RSS of the server holding IDLE open, greeted sessions,
# and what they cost the others: smtp-source at 10 sessions (1 KiB, one
# connection per message) before they open and while they are open
# (with BENCH_LITE_B, for both builds).
want idle || exit 0
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
time.sleep(120)
PY
rate() {	# messages/s of one smtp-source run against port 25
	local t0 t1
	t0=$(us)
	source_run 25 1024 10 c
	t1=$(us)
	echo $((N * 1000000 / (t1 - t0 + 1)))
}
for build in "$L" ${LB:+"$LB"}; do
	start lite-idle 25 "$build" -l "$ADDR:25" --discard --max-clients $((IDLE + 100)) --max-per-ip $((IDLE + 100)) --timeout 120s
	before=$(rate)
	/usr/bin/python3 "$T_TMP/idle.py" "$ADDR" "$IDLE" >"$T_TMP/idle.out" 2>&1 &
	idle=$!
	for _ in $(seq 600); do
		grep -q '^open' "$T_TMP/idle.out" && break
		kill -0 "$idle" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	rss=$(awk '/VmRSS/ { print $2 }' /proc/${PID[lite-idle]}/status 2>/dev/null)
	nopen=$(awk '/^open/ { print $2 }' "$T_TMP/idle.out")
	during=$(rate)
	kill "$idle" 2>/dev/null
	wait "$idle" 2>/dev/null
	[ "$build" = "$L" ] || echo "  B build ($build):"
	echo "  ${nopen:-0} idle sessions (of $IDLE): smtpd-lite RSS ${rss:-?} KiB = $(awk -v r="${rss:-0}" 'BEGIN { printf "%.1f MiB", r / 1024 }') ($(awk -v r="${rss:-0}" -v n="${nopen:-1}" 'BEGIN { printf "%.2f", r / n }') KiB per session, process included)"
	echo "  1 KiB at 10 sessions beside them: $during msg/s; before they opened: $before msg/s (ratio $(awk -v a="$during" -v b="$before" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'))"
	stop lite-idle
done
exit 0
