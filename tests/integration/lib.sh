# ISC license.
#
# Sourced (bash) by every integration test script.  The scripts run inside
# the test world (tests/world/world run scripts/run-integration), which sets
# WORLD_DIR, WORLD_SRC, SSL_CERT_FILE, CURL_CA_BUNDLE and WORLD_RESOLVER.
#
# Results:
#   ok NAME                      count a pass (printed when VERBOSE=1)
#   fail NAME MSG...             count a failure, print "FAIL NAME: MSG" on stderr
#   skip NAME WHY...             count a skip
#   check NAME CMD...            pass when CMD exits 0
#   check_exit NAME CODE CMD...  pass when CMD exits with CODE
#   check_match NAME ERE CMD...  pass when CMD's output (stdout+stderr) matches ERE
#   finish                       print "N passed, N failed[, N skipped]"; exit
#                                non-zero when anything failed
# After a check, $T_OUT holds the file with the command's output.
#
# Peers (each recorded in $WORLD_DIR/peers.pids; `world stop` kills them too):
#   start_sink ADDR PORT [smtp-sink option...]   Postfix smtp-sink
#   start_greeter ADDR PORT "421 text" [IDLE]    sends a greeting (greeter.py)
#   stop_peers                                   stop every peer
#   wait_port ADDR PORT [SECONDS]                wait until ADDR:PORT accepts
#
# Also available (tests/world/functions.sh): world_cert NAME [DNSNAME...],
# world_selfsigned NAME DNSNAME [--expired], world_tlsa U S M CERTFILE,
# world_nginx, world_addrs NAME, world_postfix_config (MAIL_CONFIG for
# posttls-finger), world_zone_reload ZONE; and every variable of
# tests/world/world.conf
# (BLACKHOLE_V4, REFUSE_V4, ...).
#
# The script's EXIT trap stops the peers; a script that sets its own EXIT
# trap must call stop_peers in it.

if [ -z "${WORLD_DIR:-}" ] || [ -z "${WORLD_SRC:-}" ]; then
	echo "${0##*/}: not inside the test world; run:" \
	    "tests/world/world run scripts/run-integration ${0##*/}" >&2
	exit 70
fi

T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
# The binaries under test: bin/, or MXKIT_BINDIR (scripts/run-integration
# --asan and --valgrind put the sanitizer builds or wrappers there).
T_BIN=${MXKIT_BINDIR:-$T_ROOT/bin}
case :$PATH: in
"$T_BIN":*) ;;
*) PATH=$T_BIN:$PATH ;;
esac
export PATH

. "$WORLD_SRC/functions.sh" || exit 70
. "$WORLD_SRC/world.conf" || exit 70

T_PASSED=0
T_FAILED=0
T_SKIPPED=0
T_TMP=$(mktemp -d "$WORLD_DIR/test.XXXXXX") || exit 70
T_OUT=$T_TMP/out

ok() {
	T_PASSED=$((T_PASSED + 1))
	if [ "${VERBOSE:-0}" = 1 ]; then
		echo "ok $1"
	fi
	return 0
}

fail() {
	local name=$1
	shift
	T_FAILED=$((T_FAILED + 1))
	echo "FAIL $name: $*" >&2
	return 1
}

skip() {
	local name=$1
	shift
	T_SKIPPED=$((T_SKIPPED + 1))
	if [ "${VERBOSE:-0}" = 1 ]; then
		echo "skip $name: $*"
	fi
	return 0
}

# Show the end of the last command's output under a failure.
t_show_output() {
	if [ -s "$T_OUT" ]; then
		tail -n 15 "$T_OUT" | sed 's/^/    | /' >&2
		# An output without a final newline must not swallow the
		# next line (the result line).
		[ -z "$(tail -c 1 "$T_OUT")" ] || echo >&2
	fi
}

check() {
	local name=$1 rc
	shift
	"$@" >"$T_OUT" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "exit $rc from: $*"
		t_show_output
		return 1
	fi
}

check_exit() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$T_OUT" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "$name"
	else
		fail "$name" "exit $rc, expected $want, from: $*"
		t_show_output
		return 1
	fi
}

check_match() {
	local name=$1 re=$2
	shift 2
	"$@" >"$T_OUT" 2>&1
	if grep -Eq -- "$re" "$T_OUT"; then
		ok "$name"
	else
		fail "$name" "output does not match /$re/ from: $*"
		t_show_output
		return 1
	fi
}

finish() {
	stop_peers
	if [ "$T_SKIPPED" -gt 0 ]; then
		echo "$T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
	else
		echo "$T_PASSED passed, $T_FAILED failed"
	fi
	rm -rf "$T_TMP"
	[ "$T_FAILED" -eq 0 ] && exit 0
	exit 1
}

# wait_port ADDR PORT [SECONDS]: 0 once a TCP connect succeeds, 1 after
# SECONDS (default 5).  Each attempt is bounded by one second.
wait_port() {
	local addr=$1 port=$2 end=$((SECONDS + ${3:-5}))
	while :; do
		if timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$addr" "$port" \
		    2>/dev/null; then
			return 0
		fi
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}

# start_sink ADDR PORT [smtp-sink option...]: Postfix smtp-sink on ADDR:PORT
# (log in $WORLD_DIR/peers/sink-ADDR-PORT.log).  Example options: -L (LMTP),
# -d DIR (dump messages), -R DIR, -f CMDS (hang up after CMDS).
start_sink() {
	local addr=$1 port=$2 hp log u=
	shift 2
	case $addr in
	*:*) hp="[$addr]:$port" ;;
	*) hp="$addr:$port" ;;
	esac
	# smtp-sink insists on -u USER when run as root.  In a rootless world
	# (unshare -r: one uid mapped, setgroups denied) it cannot switch
	# users, so it runs as uid 1000 in a nested user namespace instead.
	if [ "$(cat /proc/self/setgroups 2>/dev/null)" = deny ]; then
		u="unshare --user --map-user=1000 --map-group=1000 /usr/sbin/smtp-sink"
	elif [ "$(id -u)" -eq 0 ]; then
		u="/usr/sbin/smtp-sink -u root"
	else
		u=/usr/sbin/smtp-sink
	fi
	log=$WORLD_DIR/peers/sink-$addr-$port.log
	mkdir -p "$WORLD_DIR/peers"
	# shellcheck disable=SC2086
	nsenter --net="$WORLD_DIR/inet.ns" $u "$@" "$hp" 100 >"$log" 2>&1 </dev/null &
	world_pid_add "$WORLD_DIR/peers.pids" smtp-sink $!
	if ! wait_port "$addr" "$port" 5; then
		echo "start_sink: smtp-sink does not listen on $hp: $(tail -n 3 "$log")" >&2
		return 1
	fi
}

# start_greeter ADDR PORT GREETING [IDLE]: see tests/world/greeter.py.
start_greeter() {
	local addr=$1 port=$2 log
	shift 2
	log=$WORLD_DIR/peers/greeter-$addr-$port.log
	mkdir -p "$WORLD_DIR/peers"
	nsenter --net="$WORLD_DIR/inet.ns" /usr/bin/python3 "$WORLD_SRC/greeter.py" "$addr" "$port" "$@" \
	    >"$log" 2>&1 </dev/null &
	world_pid_add "$WORLD_DIR/peers.pids" greeter $!
	if ! wait_port "$addr" "$port" 5; then
		echo "start_greeter: no listener on $addr:$port: $(tail -n 3 "$log")" >&2
		return 1
	fi
}

stop_peers() {
	world_pids_stop "$WORLD_DIR/peers.pids"
}

trap 'stop_peers' EXIT

# ce / cm: check_exit / check_match that keep the output in $K, for the
# checks that follow on the same run (cm "..." RE cat "$K").
K=$T_TMP/kept
keep() { cp "$T_OUT" "$K"; }
ce() { check_exit "$@"; local r=$?; keep; return $r; }
cm() { check_match "$@"; local r=$?; keep; return $r; }
# nomatch NAME ERE FILE: FILE must not match ERE.
nomatch() {
	if grep -Eq -- "$2" "$3"; then
		fail "$1" "output matches /$2/"
		sed 's/^/    | /' "$3" | tail -n 5 >&2
	else
		ok "$1"
	fi
}
