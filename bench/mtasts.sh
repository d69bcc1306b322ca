#!/bin/bash
# ISC license.
#
# mtasts-check benchmark (issue: MTA-STS), run inside the test world by
# bench/run:
#
#   tests/world/world run bench/mtasts.sh
#
# BENCH_STS_DOMAINS (1000; 10..2000) policy domains dN.stsbench.test are
# added to the world at run time: their records go into the zone
# stsbench.test (reloaded in nsd), every policy host mta-sts.dN.stsbench.test
# is served by one extra nginx on 198.51.100.250 (certificates from the
# world's CA, 100 names each), each with its own policy file.  The same list
# is then checked by
#   mtasts-check --no-cache --no-mx --jobs 32 -f LIST   (parallel)
#   mtasts-check --no-cache --no-mx --jobs 1 -f LIST    (sequential)
#   mta-sts-query DOMAIN, once per domain, one after another (what a
#   script around postfix-mta-sts-resolver's tool does), and 32 at a time
#   with xargs -P 32
# after one untimed warm-up pass (DNS cached in unbound for everyone).
# The world has no netem, so HTTPS runs at loopback speed and the work is
# mostly CPU (TLS handshakes on 2 cores); a second pair of mtasts-check
# runs goes through bench/dnsdelay.py (every DNS query held
# BENCH_DNS_DELAY_MS, 20 ms, a resolver across a network) to show what the
# parallel lookups buy when the network, not the CPU, is the cost.
# Wall times, medians of BENCH_N (3) rounds for mtasts-check, one round for
# mta-sts-query; every run is checked to have found every policy.  Never
# part of `make check`.

set -u
export LC_ALL=C
BENCH_DIR=$(cd "$(dirname "$0")" && pwd -P)
. "$BENCH_DIR/../tests/integration/lib.sh"

N=${BENCH_STS_DOMAINS:-1000}
case $N in ''|*[!0-9]*) N=1000 ;; esac
[ "$N" -lt 10 ] && N=10
[ "$N" -gt 2000 ] && N=2000
R=${BENCH_N:-3}
case $R in ''|*[!0-9]*) R=3 ;; esac
[ "$R" -lt 1 ] && R=1
[ "$R" -gt 11 ] && R=11
POL=198.51.100.250
MXA=198.51.100.251
MSQ=${BENCH_STS_PEER:-/usr/bin/mta-sts-query}
us() { echo "${EPOCHREALTIME/[.,]/}"; }
die() { echo "bench: $*" >&2; exit 1; }

W=$T_TMP/stsbench
mkdir -p "$W/www" "$W/nginx/tmp" || die "cannot make $W"
: >"$W/list"
names=()
{
	for i in $(seq 1 "$N"); do
		d=d$i
		echo "$d IN MX 10 mx.$d"
		echo "mx.$d IN A $MXA"
		echo "_mta-sts.$d IN TXT \"v=STSv1; id=bench$i\""
		echo "mta-sts.$d IN A $POL"
	done
} >>"$WORLD_DIR/zones/stsbench.test.zone"
for i in $(seq 1 "$N"); do
	d=d$i.stsbench.test
	echo "$d" >>"$W/list"
	names+=("mta-sts.$d")
	mkdir -p "$W/www/$d/.well-known"
	printf 'version: STSv1\nmode: enforce\nmx: mx.%s\nmax_age: 86400\n' "$d" \
	    >"$W/www/$d/.well-known/mta-sts.txt"
done
world_zone_reload stsbench.test || die "cannot reload stsbench.test"
# certtool puts at most 128 names in a certificate: one certificate and
# one server block per 100 policy hosts.
servers=
for ((g = 0; g * 100 < N; g++)); do
	chunk=("${names[@]:$((g * 100)):100}")
	world_cert "stsbench$g" "${chunk[@]}" >/dev/null 2>&1 ||
	    die "cannot issue certificate $g"
	servers="$servers
    server {
        listen $POL:443 ssl;
        server_name ${chunk[*]};
        ssl_certificate $WORLD_DIR/certs/stsbench$g.chain.pem;
        ssl_certificate_key $WORLD_DIR/certs/stsbench$g.key;
        root $W/www/\$dom;
    }"
done
world_inet ip addr add "$POL/32" dev lo 2>/dev/null
cat >"$W/nginx/nginx.conf" <<EOT
user root root;
daemon off;
master_process off;
worker_processes 1;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $W/nginx/tmp/body;
    proxy_temp_path $W/nginx/tmp/proxy;
    fastcgi_temp_path $W/nginx/tmp/fastcgi;
    uwsgi_temp_path $W/nginx/tmp/uwsgi;
    scgi_temp_path $W/nginx/tmp/scgi;
    types { text/plain txt; }
    default_type application/octet-stream;
    ssl_protocols TLSv1.2 TLSv1.3;
    map \$host \$dom { ~^mta-sts\\.(?<d>.+)\$ \$d; }
    server_names_hash_max_size 8192;
    server_names_hash_bucket_size 128;
$servers
}
EOT
nsenter --net="$WORLD_DIR/inet.ns" /usr/sbin/nginx -p "$W/nginx" -e "$W/nginx/error.log" \
    -c "$W/nginx/nginx.conf" >"$W/nginx/stderr.log" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" nginx-stsbench $!
wait_port "$POL" 443 10 || die "nginx does not listen: $(tail -n 3 "$W/nginx/error.log")"

# run_ours JOBS [OPTION...]: wall time in µs of one pass; every domain
# must be ok.
run_ours() {
	local t0 t1 n j=$1
	shift
	t0=$(us)
	timeout 600 mtasts-check --no-cache --no-mx --jobs "$j" "$@" -f "$W/list" >"$W/out" 2>&1
	t1=$(us)
	n=$(grep -c ' ok mode=enforce ' "$W/out")
	[ "$n" -eq "$N" ] || echo "bench: mtasts-check --jobs $j $*: $n of $N ok" >&2
	echo $((t1 - t0))
}
# run_theirs P: one mta-sts-query per domain, P at a time.
run_theirs() {
	local t0 t1 n
	t0=$(us)
	timeout 1800 xargs -P "$1" -n 1 sh -c 'timeout 30 '"$MSQ"' "$0" 2>/dev/null' <"$W/list" >"$W/theirs"
	t1=$(us)
	n=$(grep -c 'STSFetchResult.VALID' "$W/theirs")
	[ "$n" -eq "$N" ] || echo "bench: mta-sts-query -P $1: $n of $N valid" >&2
	echo $((t1 - t0))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "bench: mtasts: $N policy domains, $R rounds" >&2
run_ours 32 >/dev/null		# warm-up: unbound caches every record
par=$(for _ in $(seq "$R"); do run_ours 32; done | median)
seq1=$(for _ in $(seq "$R"); do run_ours 1; done | median)
DELAY_MS=${BENCH_DNS_DELAY_MS:-20}
case $DELAY_MS in ''|*[!0-9]*) DELAY_MS=20 ;; esac
[ "$DELAY_MS" -gt 200 ] && DELAY_MS=200
RELAY=127.0.0.2
/usr/bin/python3 "$BENCH_DIR/dnsdelay.py" "$RELAY" 53 127.0.0.1 53 \
    "$DELAY_MS" 1200 >"$W/dnsdelay.log" 2>&1 </dev/null &
world_pid_add "$WORLD_DIR/peers.pids" dnsdelay $!
for _ in $(seq 50); do
	kdig +time=1 +retry=0 +short @"$RELAY" d1.stsbench.test MX 2>/dev/null |
	    grep -q mx && break
	sleep 0.1
done
dpar=$(for _ in $(seq "$R"); do run_ours 32 --resolver "$RELAY"; done | median)
dseq=$(run_ours 1 --resolver "$RELAY")
if [ -x "$MSQ" ]; then
	th1=$(run_theirs 1)
	th32=$(run_theirs 32)
else
	echo "bench: no $MSQ (scripts/deps installs postfix-mta-sts-resolver)" >&2
	th1= th32=
fi

ms() { awk -v u="$1" 'BEGIN { printf "%.0f ms", u / 1000 }'; }
ratio() { [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }' || echo "-"; }
echo "== mtasts-check, $N MTA-STS domains (wall time; ratio = row / column)"
printf '%-36s %10s\n' "mtasts-check --jobs 32" "$(ms "$par")"
printf '%-36s %10s\n' "mtasts-check --jobs 1" "$(ms "$seq1")"
[ -n "$th1" ] && printf '%-36s %10s\n' "mta-sts-query, one at a time" "$(ms "$th1")"
[ -n "$th32" ] && printf '%-36s %10s\n' "mta-sts-query, xargs -P 32" "$(ms "$th32")"
printf '%-36s %10s\n' "mtasts-check --jobs 32, DNS +${DELAY_MS}ms" "$(ms "$dpar")"
printf '%-36s %10s\n' "mtasts-check --jobs 1, DNS +${DELAY_MS}ms" "$(ms "$dseq")"
echo "ratio --jobs 32 / --jobs 1:              $(ratio "$par" "$seq1")"
echo "ratio --jobs 32 / --jobs 1, DNS +${DELAY_MS}ms:   $(ratio "$dpar" "$dseq")"
echo "ratio --jobs 32 / mta-sts-query (1):     $(ratio "$par" "$th1")"
echo "ratio --jobs 32 / mta-sts-query (-P 32): $(ratio "$par" "$th32")"
echo "ratio --jobs 1 / mta-sts-query (1):      $(ratio "$seq1" "$th1")"
stop_peers
rm -rf "$T_TMP"
