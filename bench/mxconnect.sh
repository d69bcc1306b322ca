#!/bin/bash
# ISC license.
#
# mxconnect benchmarks, run inside the test world by bench/run (make bench):
#
#   tests/world/world run bench/mxconnect.sh
#
# 1. Time to connected for prio.test (MX 10 black hole, 20 refused, 30 live)
#    with default settings: mxconnect, the npm package mx-connect, Postfix
#    posttls-finger.
# 2. Plan time for bench10.test (ten MX hosts, A + AAAA each): mxconnect's
#    parallel lookups against the same queries one after another, with the
#    warm local unbound and through bench/dnsdelay.py (a resolver DELAY ms
#    away).
# See bench/README.md for the method.  Never part of `make check`.
#
# Environment (each bounded below):
#   BENCH_N              mxconnect repetitions per measurement (11; 1..101)
#   BENCH_PEER_RUNS      runs of mx-connect and posttls-finger (1; 1..3)
#   BENCH_PEER_TIMEOUT   seconds a peer run may take (180; 10..300)
#   BENCH_DNS_DELAY_MS   resolver round trip added by the relay (20; 1..200)
#   BENCH_NODE_MODULES   node_modules directory holding mx-connect (set by
#                        bench/run; without it mx-connect is skipped)

set -u
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
. "$BENCH_DIR/../tests/integration/lib.sh"

MXC=$T_ROOT/bin/mxconnect
PTF=/usr/sbin/posttls-finger

clamp() {
	local v=$1 lo=$2 hi=$3
	case $v in
	''|*[!0-9]*) v=$lo ;;
	esac
	[ "$v" -lt "$lo" ] && v=$lo
	[ "$v" -gt "$hi" ] && v=$hi
	echo "$v"
}
N=$(clamp "${BENCH_N:-11}" 1 101)
PEER_RUNS=$(clamp "${BENCH_PEER_RUNS:-1}" 1 3)
PEER_TIMEOUT=$(clamp "${BENCH_PEER_TIMEOUT:-180}" 10 300)
DELAY_MS=$(clamp "${BENCH_DNS_DELAY_MS:-20}" 1 200)
NODE_MODULES=${BENCH_NODE_MODULES:-}
RELAY=127.0.0.2

say() {
	printf '%s\n' "$*" >&2
}

die() {
	say "bench: $*"
	exit 1
}

[ -x "$MXC" ] || die "no $MXC: run make first"
# posttls-finger refuses to run without a main.cf: a private one.
world_postfix_config || die "cannot write a Postfix configuration"

# timed OUT CMD...: run CMD (stdout and stderr to OUT); RC and US (elapsed
# microseconds, wall clock) are set.
timed() {
	local out=$1 t0 t1
	shift
	t0=${EPOCHREALTIME/[.,]/}
	"$@" >"$out" 2>&1
	RC=$?
	t1=${EPOCHREALTIME/[.,]/}
	US=$((t1 - t0))
}

# stats US...: "MEDIAN MIN MAX" in microseconds.
stats() {
	printf '%s\n' "$@" | sort -n | awk '
	    { v[NR] = $1 }
	    END {
		if (NR % 2) m = v[(NR + 1) / 2]
		else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d %d %d\n", m, v[1], v[NR]
	    }'
}

# fmt US: milliseconds below 10 s, else seconds.
fmt() {
	awk -v u="$1" 'BEGIN {
		if (u < 10000000) printf "%.1f ms", u / 1000
		else printf "%.2f s", u / 1000000
	}'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'
}

times_slower() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.0f", b / a; else print "-" }'
}

OUT=$T_TMP/out1
REPORT=$T_TMP/report
: >"$REPORT"
row() {
	printf '%s\n' "$*" >>"$REPORT"
}

say "bench: $(nproc) CPUs, $("$MXC" --version 2>&1 | head -n 1)," \
    "N=$N, peer runs=$PEER_RUNS, peer timeout=${PEER_TIMEOUT}s," \
    "DNS delay=${DELAY_MS}ms"
say "bench: kernel net.ipv4.tcp_syn_retries=$(cat /proc/sys/net/ipv4/tcp_syn_retries)"

# ------------------------------------------------------------ 1. prio.test

start_sink 192.0.2.20 25 || die "smtp-sink on 192.0.2.20"

# Every tool asks the same unbound: warm its cache first, so that no tool
# pays for the first (cold) lookups.
"$MXC" -n prio.test >/dev/null 2>&1 || die "mxconnect -n prio.test failed"
timed "$OUT" "$MXC" prio.test
[ "$RC" -eq 0 ] || die "mxconnect prio.test: exit $RC: $(cat "$OUT")"
say "bench: one mxconnect prio.test run, for the record:"
grep -E '^(attempt|connected)' "$OUT" | sed 's/^/    /' >&2

say "bench: mxconnect -q prio.test x $N"
samples=()
for _ in $(seq "$N"); do
	timed "$OUT" timeout 60 "$MXC" -q prio.test
	[ "$RC" -eq 0 ] || die "mxconnect -q prio.test: exit $RC: $(cat "$OUT")"
	samples+=("$US")
done
read -r MXC_MED MXC_MIN MXC_MAX < <(stats "${samples[@]}")

# peer NAME CHECK-ERE CMD...: PEER_RUNS runs bounded by PEER_TIMEOUT; sets
# PEER_MED (microseconds, or the bound when a run timed out), PEER_NOTE.
peer() {
	local name=$1 re=$2 i s=() to=0 bad=0
	shift 2
	PEER_NOTE=
	for i in $(seq "$PEER_RUNS"); do
		say "bench: $name (run $i of $PEER_RUNS, up to ${PEER_TIMEOUT}s)"
		timed "$OUT" timeout "$PEER_TIMEOUT" "$@"
		sed 's/^/    /' "$OUT" | head -n 8 >&2
		if [ "$RC" -eq 124 ]; then
			to=$((to + 1))
			s+=($((PEER_TIMEOUT * 1000000)))
		elif ! grep -Eq -- "$re" "$OUT"; then
			bad=$((bad + 1))
			s+=("$US")
		else
			s+=("$US")
		fi
	done
	read -r PEER_MED PEER_MIN PEER_MAX < <(stats "${s[@]}")
	[ "$to" -eq 0 ] || PEER_NOTE="$to of $PEER_RUNS timed out"
	[ "$bad" -eq 0 ] || PEER_NOTE="${PEER_NOTE:+$PEER_NOTE, }$bad of $PEER_RUNS did not connect"
	PEER_TO=$to
}

SUMMARY=
peer_row() {
	local label=$1 short=$2 shown r
	r=$(ratio "$MXC_MED" "$PEER_MED")
	if [ "$PEER_TO" -gt 0 ]; then
		shown="> ${PEER_TIMEOUT} s (timed out)"
		row "$(printf '  %-40s %4s  %-30s  mxconnect/peer < %s' "$label" \
		    "$PEER_RUNS" "$shown" "$r")"
		SUMMARY="$SUMMARY  time to connected, mxconnect / $short: < $r ($(fmt "$MXC_MED") vs $shown)
"
	else
		shown=$(fmt "$PEER_MED")
		[ "$PEER_RUNS" -gt 1 ] &&
		    shown="$shown ($(fmt "$PEER_MIN")..$(fmt "$PEER_MAX"))"
		row "$(printf '  %-40s %4s  %-30s  mxconnect/peer = %s (peer %sx slower)' \
		    "$label" "$PEER_RUNS" "$shown" "$r" \
		    "$(times_slower "$MXC_MED" "$PEER_MED")")"
		SUMMARY="$SUMMARY  time to connected, mxconnect / $short: $r ($(fmt "$MXC_MED") vs $(fmt "$PEER_MED"))
"
	fi
	[ -z "$PEER_NOTE" ] || row "      ($PEER_NOTE)"
}

row "1. Time to connected, prio.test: MX 10 black hole, MX 20 refused, MX 30 live"
row "   (wall clock per process; defaults of each tool)"
row "$(printf '  %-40s %4s  %-30s  %s' tool runs "median (min..max)" ratio)"
row "$(printf '  %-40s %4s  %-30s' "mxconnect -q prio.test" "$N" \
    "$(fmt "$MXC_MED") ($(fmt "$MXC_MIN")..$(fmt "$MXC_MAX"))")"

if [ -n "$NODE_MODULES" ] && [ -f "$NODE_MODULES/mx-connect/package.json" ] &&
    command -v node >/dev/null 2>&1; then
	v=$(node -p "require('$NODE_MODULES/mx-connect/package.json').version" 2>/dev/null)
	peer "mx-connect $v" '^connected live\.prio\.test ' \
	    node "$BENCH_DIR/mx-connect.js" "$NODE_MODULES" prio.test
	inner=$(sed -nE 's/.* in ([0-9.]+) ms$/\1/p' "$OUT" | tail -n 1)
	peer_row "mx-connect $v (node $(node --version))" mx-connect
	[ -z "$inner" ] || row "      (last run, inside node from call to callback: $inner ms)"
else
	row "  mx-connect: skipped (not installed: BENCH_NODE_MODULES unset or npm failed)"
fi

if [ -x "$PTF" ]; then
	peer "posttls-finger" '^posttls-finger: Connected to live\.prio\.test' \
	    "$PTF" -l none prio.test
	peer_row "posttls-finger -l none prio.test" posttls-finger
else
	row "  posttls-finger: skipped (no $PTF)"
fi
stop_peers

# ------------------------------------------------------------ 2. bench10.test

# The relay: every query held DELAY_MS, then passed to unbound (which
# answers from its cache).  Bounded lifetime; stopped with the peers.
/usr/bin/python3 "$BENCH_DIR/dnsdelay.py" "$RELAY" 53 127.0.0.1 53 \
    "$DELAY_MS" 900 >"$WORLD_DIR/peers/dnsdelay.log" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" dnsdelay $!
up=0
for _ in $(seq 50); do
	if kdig +time=1 +retry=0 +short @"$RELAY" bench10.test MX 2>/dev/null |
	    grep -q mx; then
		up=1
		break
	fi
	sleep 0.1
done
[ "$up" = 1 ] || die "dnsdelay relay on $RELAY does not answer: $(cat "$WORLD_DIR/peers/dnsdelay.log")"

"$MXC" -n bench10.test >"$OUT" 2>&1 || die "mxconnect -n bench10.test: $(cat "$OUT")"
[ "$(wc -l <"$OUT")" -eq 20 ] || die "bench10.test: expected 20 routes: $(cat "$OUT")"

# The three methods, each resolving the same 21 names (1 MX, 10 A, 10 AAAA)
# through resolver $1.  Every mxconnect has --timeout 10 and every kdig
# +time=2 +retry=0, so each run is bounded.
m_parallel() {
	"$MXC" -n --timeout 10 --resolver "$1" bench10.test >/dev/null
}
m_perhost() {
	local i
	kdig +time=2 +retry=0 +short @"$1" bench10.test MX >/dev/null || return 1
	for i in $(seq 10); do
		"$MXC" -n --timeout 10 --resolver "$1" --mx "mx$i.bench10.test" \
		    bench10.test >/dev/null || return 1
	done
}
m_sequential() {
	local i f
	kdig +time=2 +retry=0 +short @"$1" bench10.test MX >/dev/null || return 1
	for i in $(seq 10); do
		for f in -4 -6; do
			"$MXC" -n "$f" --timeout 10 --resolver "$1" \
			    --mx "mx$i.bench10.test" bench10.test >/dev/null ||
			    return 1
		done
	done
}
# m_spawn K: the same processes without their DNS, to subtract: K mxconnect
# runs with a pre-resolved route and, when K > 1, the one kdig (against the
# warm unbound, without delay).
m_spawn() {
	local i
	if [ "$1" -gt 1 ]; then
		kdig +time=2 +retry=0 +short @127.0.0.1 bench10.test MX >/dev/null ||
		    return 1
	fi
	for i in $(seq "$1"); do
		"$MXC" -n --timeout 10 --mx mx1.bench10.test=192.0.2.201 \
		    bench10.test >/dev/null || return 1
	done
}

# Interleaved: each round runs every method once, so that the machine's
# noise spreads over all of them.  S[KEY] collects the samples.
declare -A S
sample() {
	local key=$1
	shift
	timed "$OUT" "$@"
	[ "$RC" -eq 0 ] || die "$*: exit $RC: $(cat "$OUT")"
	S[$key]="${S[$key]:-} $US"
}
say "bench: bench10.test, $N rounds of: each method via 127.0.0.1 (warm" \
    "unbound) and via $RELAY (+$DELAY_MS ms), and the process baselines"
for _ in $(seq "$N"); do
	for r in 127.0.0.1 "$RELAY"; do
		sample "par $r" m_parallel "$r"
		sample "host $r" m_perhost "$r"
		sample "seq $r" m_sequential "$r"
	done
	sample "spawn 1" m_spawn 1
	sample "spawn 11" m_spawn 10
	sample "spawn 21" m_spawn 20
done

# med KEY: median microseconds; range KEY: "median (min..max)".
med() {
	# shellcheck disable=SC2086
	stats ${S[$1]} | cut -d' ' -f1
}
range() {
	local m lo hi
	# shellcheck disable=SC2086
	read -r m lo hi < <(stats ${S[$1]})
	echo "$(fmt "$m") ($(fmt "$lo")..$(fmt "$hi"))"
}
# net A B: A - B microseconds, at least 1.
net() {
	awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 1) d = 1; print int(d) }'
}

row ""
row "2. Plan for bench10.test: 10 MX hosts x (A + AAAA) = 21 queries, $N rounds"
row "$(printf '  %-12s %-44s %6s  %-30s %10s  %s' resolver method rounds \
    "median (min..max)" "net" "parallel/this (net)")"
declare -A NET
for r in 127.0.0.1 "$RELAY"; do
	if [ "$r" = 127.0.0.1 ]; then
		label="unbound warm"
	else
		label="+${DELAY_MS} ms relay"
	fi
	NET[par $r]=$(net "$(med "par $r")" "$(med "spawn 1")")
	NET[host $r]=$(net "$(med "host $r")" "$(med "spawn 11")")
	NET[seq $r]=$(net "$(med "seq $r")" "$(med "spawn 21")")
	for m in par host seq; do
		case $m in
		par) what="parallel: mxconnect -n bench10.test" rounds=2 ;;
		host) what="per host: kdig MX + 10 x mxconnect --mx mxI" rounds=11 ;;
		seq) what="sequential: kdig MX + 20 x mxconnect -4/-6" rounds=21 ;;
		esac
		row "$(printf '  %-12s %-44s %6s  %-30s %10s  %s (%s)' "$label" "$what" \
		    "$rounds" "$(range "$m $r")" "$(fmt "${NET[$m $r]}")" \
		    "$(ratio "$(med "par $r")" "$(med "$m $r")")" \
		    "$(ratio "${NET[par $r]}" "${NET[$m $r]}")")"
		label=
	done
done
row "  net = median minus the median of the same processes without DNS:"
row "  1 mxconnect $(fmt "$(med "spawn 1")"), kdig + 10 mxconnect $(fmt "$(med "spawn 11")")," \
    "kdig + 20 mxconnect $(fmt "$(med "spawn 21")")"
stop_peers

# ------------------------------------------------------------ summary

row ""
row "Ratios (smaller is better for mxconnect):"
printf '%s' "$SUMMARY" >>"$REPORT"
for r in 127.0.0.1 "$RELAY"; do
	if [ "$r" = 127.0.0.1 ]; then
		label="warm unbound"
	else
		label="+${DELAY_MS} ms resolver"
	fi
	row "$(printf '  plan, parallel / sequential, %-17s %s (net of process cost: %s)' \
	    "$label:" "$(ratio "$(med "par $r")" "$(med "seq $r")")" \
	    "$(ratio "${NET[par $r]}" "${NET[seq $r]}")")"
done
row "  (rounds of DNS round trips: parallel 2, sequential 21: 2/21 = $(ratio 2 21))"

echo
echo "mxconnect benchmark: $(nproc) CPUs, $(uname -sr), N=$N"
echo
cat "$REPORT"
rm -f "$REPORT"
exit 0
