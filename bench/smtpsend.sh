#!/bin/bash
# ISC license.
#
# smtpsend benchmarks, run inside the test world by bench/run (make bench):
#
#   tests/world/world run bench/smtpsend.sh
#
# Against Postfix's smtp-sink on sink.send.test (192.0.2.128), in the same
# run, interleaved:
#   1. one small message per process from a shell loop: smtpsend, curl
#      smtp://, msmtp, swaks, and a nodemailer one-liner (fresh transport);
#   2. many small messages over one session: smtpsend --each against
#      nodemailer with a pooled connection (messages/s);
#   3. one 100 MiB message: wall time and peak RSS (GNU time) of smtpsend,
#      curl, msmtp and swaks.
# Environment: BENCH_N (rounds for 1; 21, 1..201), BENCH_EACH (messages for
# 2; 10000, 100..20000), BENCH_BIG_MB (size for 3; 100, 1..200),
# BENCH_NODE_MODULES (node_modules with nodemailer; without it, skipped).
# Never part of `make check`.

set -u
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
. "$BENCH_DIR/../tests/integration/lib.sh"

S=$T_ROOT/bin/smtpsend
SINK=192.0.2.128
clamp() {
	local v=$1 lo=$2 hi=$3
	case $v in ''|*[!0-9]*) v=$lo ;; esac
	[ "$v" -lt "$lo" ] && v=$lo
	[ "$v" -gt "$hi" ] && v=$hi
	echo "$v"
}
N=$(clamp "${BENCH_N:-21}" 1 201)
EACH=$(clamp "${BENCH_EACH:-10000}" 100 20000)
BIG=$(clamp "${BENCH_BIG_MB:-100}" 1 200)
NM=${BENCH_NODE_MODULES:-}

die() {
	echo "bench: $*" >&2
	exit 1
}
[ -x "$S" ] || die "no $S: run make first"
start_sink "$SINK" 25 || die "smtp-sink on $SINK"

MSG=$T_TMP/small.eml
printf 'From: bench@example.test\r\nTo: sink@example.test\r\nSubject: bench\r\n\r\nhello\r\n' >"$MSG"
cat >"$T_TMP/msmtprc" <<M
account default
host $SINK
port 25
from bench@example.test
auth off
tls off
M
chmod 600 "$T_TMP/msmtprc"

us() { echo "${EPOCHREALTIME/[.,]/}"; }
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
	    END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
		  printf "%d\n", m }'
}
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# The peers, each sending $MSG once to the sink; every run bounded.
p_smtpsend() { timeout 30 "$S" -q --host "$SINK" --tls none -f bench@example.test sink@example.test <"$MSG"; }
p_curl() { timeout 30 curl -s --url "smtp://$SINK:25" --mail-from bench@example.test --mail-rcpt sink@example.test --upload-file "$MSG"; }
p_msmtp() { timeout 30 msmtp -C "$T_TMP/msmtprc" sink@example.test <"$MSG"; }
p_swaks() { timeout 30 swaks -S -S --server "$SINK" --from bench@example.test --to sink@example.test --data "@$MSG" >/dev/null; }
p_nodemailer() { timeout 30 node "$BENCH_DIR/nodemailer.js" "$NM" "$SINK" 25 1 "$MSG" >/dev/null; }
peers="smtpsend curl"
command -v msmtp >/dev/null && peers="$peers msmtp"
command -v swaks >/dev/null && peers="$peers swaks"
[ -n "$NM" ] && [ -d "$NM/nodemailer" ] && command -v node >/dev/null && peers="$peers nodemailer"

declare -A T
for p in $peers; do
	"p_$p" || die "$p does not deliver to the sink"
done
echo "bench: 1. one message per process, $N rounds of: $peers" >&2
for _ in $(seq "$N"); do
	for p in $peers; do
		t0=$(us)
		"p_$p" || die "$p failed"
		T[$p]="${T[$p]:-} $(( $(us) - t0 ))"
	done
done
report="1. One small message per process to smtp-sink, $N rounds (median wall time per message)
"
# shellcheck disable=SC2086
base=$(median ${T[smtpsend]})
for p in $peers; do
	# shellcheck disable=SC2086
	m=$(median ${T[$p]})
	report="$report$(printf '  %-12s %10s   smtpsend/%s = %s' "$p" "$(ms "$m")" "$p" "$(ratio "$base" "$m")")
"
done

# 2. Many messages over one session.
mkdir -p "$T_TMP/each"
for i in $(seq "$EACH"); do
	cp "$MSG" "$T_TMP/each/$(printf '%05d' "$i").eml"
done
echo "bench: 2. $EACH messages over one session" >&2
t0=$(us)
timeout 300 "$S" -q --each --to sink@example.test --host "$SINK" --tls none \
    -f bench@example.test "$T_TMP/each"/*.eml || die "smtpsend --each failed"
t_each=$(( $(us) - t0 ))
r_each=$(awk -v n="$EACH" -v u="$t_each" 'BEGIN { printf "%.0f", n / (u / 1e6) }')
report="$report
2. $EACH small messages over one session to smtp-sink
$(printf '  %-34s %10s  %8s msg/s' "smtpsend --each" "$(ms "$t_each")" "$r_each")
"
if [[ " $peers " == *" nodemailer "* ]]; then
	t0=$(us)
	timeout 300 node "$BENCH_DIR/nodemailer.js" "$NM" "$SINK" 25 "$EACH" "$MSG" >/dev/null ||
	    die "nodemailer pooled failed"
	t_nm=$(( $(us) - t0 ))
	r_nm=$(awk -v n="$EACH" -v u="$t_nm" 'BEGIN { printf "%.0f", n / (u / 1e6) }')
	report="$report$(printf '  %-34s %10s  %8s msg/s' "nodemailer pool (1 connection)" "$(ms "$t_nm")" "$r_nm")
  smtpsend / nodemailer, messages/s: $(ratio "$r_each" "$r_nm") (goal >= 3)
"
fi

# 3. One big message.
BIGF=$T_TMP/big.eml
(printf 'From: bench@example.test\r\nTo: sink@example.test\r\nSubject: big\r\n\r\n'
 yes 'The quick brown fox jumps over the lazy dog. 0123456789 abcdefghijklmn' |
     head -c $((BIG * 1048576)) | sed 's/$/\r/') >"$BIGF"
echo "bench: 3. one ${BIG} MiB message" >&2
report="$report
3. One $BIG MiB message to smtp-sink: wall time, peak RSS (GNU time %M)
"
for p in smtpsend curl msmtp swaks; do
	[[ " $peers " == *" $p "* ]] || continue
	case $p in
	smtpsend) cmd=("$S" -q --host "$SINK" --tls none -f bench@example.test sink@example.test) ;;
	curl) cmd=(curl -s --url "smtp://$SINK:25" --mail-from bench@example.test --mail-rcpt sink@example.test --upload-file -) ;;
	msmtp) cmd=(msmtp -C "$T_TMP/msmtprc" sink@example.test) ;;
	swaks) cmd=(swaks -S -S --server "$SINK" --from bench@example.test --to sink@example.test --data -) ;;
	esac
	t0=$(us)
	if ! timeout 300 /usr/bin/time -f '%M' -o "$T_TMP/rss" "${cmd[@]}" <"$BIGF" >/dev/null 2>"$T_TMP/err"; then
		report="$report  $p: failed ($(tail -n 1 "$T_TMP/err"))
"
		continue
	fi
	t=$(( $(us) - t0 ))
	report="$report$(printf '  %-12s %10s   peak RSS %6s KiB' "$p" "$(ms "$t")" "$(tail -n 1 "$T_TMP/rss")")
"
done

echo
echo "smtpsend benchmark: $(nproc) CPUs, $(uname -sr)"
echo
printf '%s' "$report"
stop_peers
exit 0
