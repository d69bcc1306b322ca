#!/bin/bash
# ISC license.
#
# TLS probe benchmark, run inside the test world by bench/run (make bench):
#
#   tests/world/world run bench/tls.sh
#
# A full probe: DNS (MX, A/AAAA, TLSA) + connect + EHLO + STARTTLS + DANE
# or PKIX verification + EHLO + QUIT, against the same STARTTLS server
# (tests/world/smtpd.py), by mxconnect --starttls and by Postfix's
# posttls-finger, interleaved, BENCH_N rounds (11; 1..101).  Reports the
# median wall time per process and the ratio mxconnect / posttls-finger.
# Never part of `make check`.

set -u
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
. "$BENCH_DIR/../tests/integration/lib.sh"

MXC=$T_ROOT/bin/mxconnect
PTF=/usr/sbin/posttls-finger
N=${BENCH_N:-11}
case $N in ''|*[!0-9]*) N=11 ;; esac
[ "$N" -lt 1 ] && N=1
[ "$N" -gt 101 ] && N=101

die() {
	echo "bench: $*" >&2
	exit 1
}
[ -x "$MXC" ] || die "no $MXC: run make first"
[ -x "$PTF" ] || die "no $PTF (Debian package postfix)"
world_postfix_config || die "cannot write a Postfix configuration"

C=$WORLD_DIR/certs
tab=$T_TMP/smtpd.table
cat >"$tab" <<T
192.0.2.100 25 --cert $C/mx.dane-ee.test.chain.pem --key $C/mx.dane-ee.test.key --hostname mx.dane-ee.test
192.0.2.103 25 --cert $C/mx.dane-ta.test.chain.pem --key $C/mx.dane-ta.test.key --hostname mx.dane-ta.test
192.0.2.114 25 --cert $C/mx.pkix.test.chain.pem --key $C/mx.pkix.test.key --hostname mx.pkix.test
T
mkdir -p "$WORLD_DIR/peers"
nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/smtpd.py" \
    --table "$tab" --max-sessions 2000 --idle 10 \
    >"$WORLD_DIR/peers/bench-smtpd.out" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" smtpd.py $!
wait_port 192.0.2.114 25 10 || die "smtpd.py did not start"

timed() {
	local t0 t1
	t0=${EPOCHREALTIME/[.,]/}
	"$@" >"$T_TMP/out" 2>&1
	RC=$?
	t1=${EPOCHREALTIME/[.,]/}
	US=$((t1 - t0))
}
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
	    END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
		  printf "%d\n", m }'
}
ms() {
	awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'
}

# scenario LABEL DOMAIN OUR_POLICY PTF_LEVEL
report=
scenario() {
	local label=$1 dom=$2 pol=$3 lvl=$4 a=() b=() i ma mb
	# Warm the resolver's cache and check both tools verify.
	timeout 30 "$MXC" --starttls --tls-policy "$pol" "$dom" >"$T_TMP/out" 2>&1 ||
	    die "mxconnect --starttls $dom: $(tail -n 3 "$T_TMP/out")"
	grep -q '^verdict Verified' "$T_TMP/out" || die "mxconnect: $dom not Verified"
	timeout 30 "$PTF" -c -l "$lvl" -F "$SSL_CERT_FILE" "$dom" >"$T_TMP/out" 2>&1
	grep -q 'Verified TLS connection' "$T_TMP/out" ||
	    die "posttls-finger $dom not Verified: $(tail -n 3 "$T_TMP/out")"
	echo "bench: $label: $N rounds" >&2
	for i in $(seq "$N"); do
		timed timeout 30 "$MXC" -q --starttls --tls-policy "$pol" "$dom"
		[ "$RC" -eq 0 ] || die "mxconnect $dom: exit $RC"
		a+=("$US")
		timed timeout 30 "$PTF" -c -l "$lvl" -F "$SSL_CERT_FILE" "$dom"
		grep -q 'Verified TLS connection' "$T_TMP/out" || die "posttls-finger $dom failed"
		b+=("$US")
	done
	ma=$(median "${a[@]}")
	mb=$(median "${b[@]}")
	report="$report$(printf '  %-34s %12s %14s   %s' "$label" "$(ms "$ma")" \
	    "$(ms "$mb")" "$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2f", a / b }')")
"
}

scenario "DANE-EE 3 1 1 (dane-ee.test)" dane-ee.test auto dane
scenario "DANE-TA 2 0 1 (dane-ta.test)" dane-ta.test auto dane
scenario "PKIX verify (pkix.test)" pkix.test pkix verify

echo
echo "TLS probe benchmark: $(nproc) CPUs, $(uname -sr), N=$N, median wall time per process"
echo "(DNS + connect + EHLO + STARTTLS + verify + EHLO + QUIT, same server, interleaved)"
printf '  %-34s %12s %14s   %s\n' scenario mxconnect posttls-finger "ratio (goal <= 0.7)"
printf '%s' "$report"
stop_peers
exit 0
