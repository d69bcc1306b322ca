# ISC license.
#
# Shell functions of the test world, sourced by tests/world/world and by
# tests/integration/lib.sh (bash).  Everything here works on $WORLD_DIR and
# $WORLD_SRC and never touches anything outside them, except the network
# namespace that `world run` created.
#
#   world_cert NAME [DNSNAME...]        CA-issued server key and certificate
#   world_selfsigned NAME DNSNAME [--expired]
#   world_tlsa USAGE SELECTOR MATCHING CERTFILE   TLSA rdata for a certificate
#   world_nginx                         (re)start nginx for $WORLD_DIR/www/*
#   world_addrs NAME                    NAME's addresses in the world's DNS
#   world_pid_add FILE NAME PID         remember a process to stop later
#   world_pids_stop FILE [NAME]         stop the processes a pid file lists

world_msg() {
	echo "world: $*" >&2
}

# Start time of a process (field 22 of /proc/PID/stat), to tell a process
# from a later one that reuses its PID.
world_starttime() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	set -- $stat
	echo "${20}"
}

# True while PID runs and is the process that was recorded (not a zombie).
world_pid_alive() {
	local pid=$1 start=$2 stat
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	set -- $stat
	[ "$1" != Z ] && [ "${20}" = "$start" ]
}

# world_pid_add FILE NAME PID: append "PID STARTTIME NAME" to FILE.
world_pid_add() {
	local st
	st=$(world_starttime "$3") || st=0
	echo "$3 $st $2" >>"$1"
}

# True while a process of session SID runs (the daemons are started with
# setsid, so their session id is their pid and covers their children).
# With "all", zombies count too.
world_session_alive() {
	ps -e -o sid=,stat= 2>/dev/null | awk -v s="$1" -v all="${2:-}" '
	    $1 == s && (all != "" || $2 !~ /^Z/) { f = 1 }
	    END { exit !f }'
}

# world_pids_stop FILE [NAME]: TERM every process FILE lists (or only those
# called NAME), newest first; wait up to 5 s for them and the rest of their
# session, then KILL what is left.  Removes the stopped entries from FILE.
world_pids_stop() {
	local file=$1 only=${2:-} pid st name left keep p still
	[ -f "$file" ] || return 0
	left=
	keep=
	while read -r pid st name; do
		[ -n "$pid" ] || continue
		if [ -n "$only" ] && [ "$name" != "$only" ]; then
			keep="$keep$pid $st $name
"
			continue
		fi
		if world_pid_alive "$pid" "$st"; then
			kill -TERM "$pid" 2>/dev/null
		fi
		left="$left $pid:$st"
	done < <(tac "$file")
	for _ in $(seq 50); do
		still=
		for p in $left; do
			if world_pid_alive "${p%%:*}" "${p#*:}" ||
			    world_session_alive "${p%%:*}"; then
				still="$still $p"
			fi
		done
		left=$still
		[ -z "$left" ] && break
		sleep 0.1
	done
	for p in $left; do
		world_msg "process ${p%%:*} ignored SIGTERM; killing it"
		world_pid_alive "${p%%:*}" "${p#*:}" && kill -KILL "${p%%:*}" 2>/dev/null
		world_session_alive "${p%%:*}" && kill -KILL -- "-${p%%:*}" 2>/dev/null
	done
	# Reap our own children (harmless for others), then give the init
	# process a moment to reap orphaned zombies, so that nothing of the
	# world shows in ps when this returns.
	while read -r pid st name; do
		[ -n "$pid" ] || continue
		if [ -z "$only" ] || [ "$name" = "$only" ]; then
			wait "$pid" 2>/dev/null
		fi
	done <"$file"
	for _ in $(seq 20); do
		still=
		while read -r pid st name; do
			[ -n "$pid" ] || continue
			if { [ -z "$only" ] || [ "$name" = "$only" ]; } &&
			    world_session_alive "$pid" all; then
				still=1
			fi
		done <"$file"
		[ -z "$still" ] && break
		sleep 0.05
	done
	printf '%s' "$keep" >"$file"
	return 0
}

# Dates for certtool templates, relative to now (GNU date).
world_date() {
	date -u -d "$1" '+%Y-%m-%d %H:%M:%S'
}

# world_cert_template FILE CN NAMES...: the subject and name lines.
world_cert_names() {
	local n
	echo "cn = \"$1\""
	for n in "$@"; do
		case $n in
		*:*|[0-9]*.[0-9]*.[0-9]*.[0-9]*) echo "ip_address = \"$n\"" ;;
		*) echo "dns_name = \"$n\"" ;;
		esac
	done
}

world_newkey() {
	certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
	    --outfile "$1" >/dev/null 2>&1
}

# Create the test CA in $WORLD_DIR/ca (called once by `world start`).
world_ca() {
	local d=$WORLD_DIR/ca
	mkdir -p "$d" "$WORLD_DIR/certs" || return 1
	cat >"$d/ca.tmpl" <<-EOF
	cn = "mxkit test world CA"
	organization = "mxkit test world"
	serial = 1
	activation_date = "$(world_date '-1 day')"
	expiration_date = "$(world_date '+30 days')"
	ca
	cert_signing_key
	crl_signing_key
	EOF
	world_newkey "$d/ca.key" &&
	    certtool --generate-self-signed --load-privkey "$d/ca.key" \
	    --template "$d/ca.tmpl" --outfile "$d/ca.pem" >/dev/null 2>"$d/ca.log" ||
	    { world_msg "cannot create the test CA: $(cat "$d/ca.log")"; return 1; }
}

# world_cert NAME [DNSNAME...]: issue $WORLD_DIR/certs/NAME.{key,crt,chain.pem}
# for a TLS server, signed by the test CA.  The names default to NAME; a name
# that looks like an IP address becomes an iPAddress SAN.
world_cert() {
	local name=${1:?usage: world_cert NAME [DNSNAME...]} d=$WORLD_DIR/certs
	shift
	[ $# -gt 0 ] || set -- "$name"
	mkdir -p "$d" || return 1
	{
		world_cert_names "$@"
		echo "organization = \"mxkit test world\""
		echo "serial = $(date +%s%N)"
		echo "activation_date = \"$(world_date '-1 day')\""
		echo "expiration_date = \"$(world_date '+30 days')\""
		echo "tls_www_server"
		echo "signing_key"
	} >"$d/$name.tmpl"
	world_newkey "$d/$name.key" &&
	    certtool --generate-certificate --load-privkey "$d/$name.key" \
	    --load-ca-certificate "$WORLD_DIR/ca/ca.pem" \
	    --load-ca-privkey "$WORLD_DIR/ca/ca.key" \
	    --template "$d/$name.tmpl" --outfile "$d/$name.crt" \
	    >/dev/null 2>"$d/$name.log" ||
	    { world_msg "cannot issue $name: $(cat "$d/$name.log")"; return 1; }
	cat "$d/$name.crt" "$WORLD_DIR/ca/ca.pem" >"$d/$name.chain.pem"
}

# world_selfsigned NAME DNSNAME [--expired]: a self-signed server certificate
# (for DANE-EE); --expired makes one whose validity ended 30 days ago.
world_selfsigned() {
	local name=${1:?usage: world_selfsigned NAME DNSNAME [--expired]}
	local dns=${2:?usage: world_selfsigned NAME DNSNAME [--expired]}
	local from='-1 day' until='+30 days' d=$WORLD_DIR/certs
	if [ "${3:-}" = --expired ]; then
		from='-60 days'
		until='-30 days'
	fi
	mkdir -p "$d" || return 1
	{
		world_cert_names "$dns"
		echo "serial = $(date +%s%N)"
		echo "activation_date = \"$(world_date "$from")\""
		echo "expiration_date = \"$(world_date "$until")\""
		echo "tls_www_server"
		echo "signing_key"
	} >"$d/$name.tmpl"
	world_newkey "$d/$name.key" &&
	    certtool --generate-self-signed --load-privkey "$d/$name.key" \
	    --template "$d/$name.tmpl" --outfile "$d/$name.crt" \
	    >/dev/null 2>"$d/$name.log" ||
	    { world_msg "cannot make $name: $(cat "$d/$name.log")"; return 1; }
	cp "$d/$name.crt" "$d/$name.chain.pem"
}

# world_tlsa USAGE SELECTOR MATCHING CERTFILE: print "U S M HEX" (RFC 6698
# section 2.1): selector 0 = whole certificate DER, 1 = SubjectPublicKeyInfo
# DER; matching 0 = the data itself, 1 = SHA-256, 2 = SHA-512.
world_tlsa() {
	local u=$1 s=$2 m=$3 crt=$4 hex
	[ -r "$crt" ] || { world_msg "TLSA: no certificate $crt"; return 1; }
	hex=$(
		set -o pipefail
		if [ "$s" = 0 ]; then
			openssl x509 -in "$crt" -outform DER
		else
			openssl x509 -in "$crt" -noout -pubkey |
			    openssl pkey -pubin -outform DER
		fi | case $m in
		0) od -An -v -tx1 | tr -d ' \n' ;;
		1) sha256sum | cut -d' ' -f1 ;;
		2) sha512sum | cut -d' ' -f1 ;;
		*) exit 1 ;;
		esac
	) || { world_msg "TLSA: cannot compute $u $s $m for $crt"; return 1; }
	[ -n "$hex" ] || return 1
	echo "$u $s $m $hex"
}

# Addresses (A and AAAA) of NAME according to the world's resolver.
world_addrs() {
	local t
	for t in A AAAA; do
		kdig +short +time=2 +retry=1 @"${WORLD_RESOLVER:-127.0.0.1}" "$1" "$t" 2>/dev/null |
		    grep -E '^[0-9.]+$|^[0-9a-fA-F:]*:[0-9a-fA-F:]*$'
	done
}

# world_nginx: write $WORLD_DIR/nginx/nginx.conf with one HTTPS server per
# directory $WORLD_DIR/www/HOSTNAME (copied from tests/world/www at start;
# tests may add files or hosts), listening on port 443 of every address
# HOSTNAME has in the world's DNS, with a certificate for HOSTNAME from the
# test CA (certs/https-HOSTNAME.*, issued when missing: to serve a bad
# certificate, replace it, e.g. world_selfsigned https-HOST HOST --expired,
# and call world_nginx again; or name it in certs.conf); a file
# $WORLD_DIR/www/HOSTNAME.conf is included in the host's server block;
# then (re)start nginx.  Hosts without an address are skipped.
world_nginx() {
	local n=$WORLD_DIR/nginx dir host a listen servers='' first='' extra
	mkdir -p "$n/tmp" || return 1
	for dir in "$WORLD_DIR"/www/*/; do
		[ -d "$dir" ] || continue
		host=$(basename "$dir")
		listen=
		for a in $(world_addrs "$host" | sort -u); do
			case $a in
			*:*) listen="$listen	listen [$a]:443 ssl;
" ;;
			*) listen="$listen	listen $a:443 ssl;
" ;;
			esac
			[ -n "$first" ] || first=$a
		done
		if [ -z "$listen" ]; then
			world_msg "nginx: $host has no address in the world's DNS; skipped"
			continue
		fi
		if [ ! -f "$WORLD_DIR/certs/https-$host.crt" ]; then
			world_cert "https-$host" "$host" || return 1
		fi
		# www/HOSTNAME.conf, when present, goes into the server block
		# (a redirect, another Content-Type, ...).
		extra=
		if [ -f "$WORLD_DIR/www/$host.conf" ]; then
			extra="	include $WORLD_DIR/www/$host.conf;
"
		fi
		servers="$servers
    server {
$listen	server_name $host;
	ssl_certificate $WORLD_DIR/certs/https-$host.chain.pem;
	ssl_certificate_key $WORLD_DIR/certs/https-$host.key;
	root ${dir%/};
$extra    }"
	done
	world_pids_stop "$WORLD_DIR/pids" nginx
	[ -n "$servers" ] || return 0
	cat >"$n/nginx.conf" <<-EOF
	# Generated by tests/world (world_nginx).
	user root root;
	daemon off;
	master_process off;
	worker_processes 1;
	pid $n/nginx.pid;
	error_log $n/error.log info;
	events {
	    worker_connections 256;
	}
	http {
	    access_log $n/access.log;
	    client_body_temp_path $n/tmp/body;
	    proxy_temp_path $n/tmp/proxy;
	    fastcgi_temp_path $n/tmp/fastcgi;
	    uwsgi_temp_path $n/tmp/uwsgi;
	    scgi_temp_path $n/tmp/scgi;
	    types {
	        text/plain txt;
	        text/html html;
	    }
	    default_type application/octet-stream;
	    ssl_protocols TLSv1.2 TLSv1.3;
	$servers
	}
	EOF
	if ! world_inet /usr/sbin/nginx -t -q -p "$n" -e "$n/error.log" -c "$n/nginx.conf" \
	    >"$n/check.log" 2>&1; then
		world_msg "nginx: bad configuration: $(cat "$n/check.log")"
		return 1
	fi
	nsenter --net="$WORLD_DIR/inet.ns" setsid /usr/sbin/nginx -p "$n" -e "$n/error.log" -c "$n/nginx.conf" \
	    >>"$n/stderr.log" 2>&1 </dev/null &
	world_pid_add "$WORLD_DIR/pids" nginx $!
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/$first/443") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	world_msg "nginx does not listen on $first:443: $(tail -n 5 "$n/error.log" "$n/stderr.log" 2>/dev/null)"
	return 1
}

# world_inet CMD [ARG...]: run CMD in the "inet" namespace, where every
# server of the world lives (see world.conf).
world_inet() {
	nsenter --net="$WORLD_DIR/inet.ns" "$@"
}

# A private, minimal Postfix configuration directory for the Postfix test
# tools (posttls-finger, smtp-source), which refuse to run without a
# main.cf; the system's /etc/postfix is never touched.  Exports
# MAIL_CONFIG.  Logging goes to stderr.
world_postfix_config() {
	local d=$WORLD_DIR/postfix
	mkdir -p "$d" || return 1
	cat >"$d/main.cf" <<PFEOF || return 1
compatibility_level = 3.6
smtp_dns_support_level = dnssec
maillog_file = /dev/stderr
PFEOF
	export MAIL_CONFIG=$d
}

# world_zone_reload ZONE: after a test edited $WORLD_DIR/zones/ZONE.zone
# (the generated zone with SOA and NS; records relative to the origin),
# bump its SOA serial, sign it again with the zone's key (signed zones) and
# make nsd load it (SIGHUP: nsd reads zone files whose mtime changed; the
# mtime is moved forward so that two edits within a second are seen).
# Waits (5 s at most) until nsd serves the new serial.  Unbound keeps what
# it cached (up to 300 s): query nsd ($NS_V4) directly to see the change.
world_zone_reload() {
	local z=$1 zd=$WORLD_DIR/zones key serial f pid
	[ -f "$zd/$z.zone" ] || { world_msg "zone_reload: no zone $z"; return 1; }
	serial=$(awk '$3 == "SOA" { print $6; exit }' "$zd/$z.zone")
	serial=$((serial + 1))
	sed -i -E "s/^(@ IN SOA [^ ]+ [^ ]+ )[0-9]+ /\1$serial /" "$zd/$z.zone" ||
	    return 1
	f=$(cat "$zd/$z.file") || return 1
	if [ "$f" != "$zd/$z.zone" ]; then
		key=$(ls "$WORLD_DIR/keys/K$z.+"*.key 2>/dev/null | head -n 1)
		[ -n "$key" ] || { world_msg "zone_reload: no key for $z"; return 1; }
		ldns-signzone -i "$(date -u -d '-1 day' +%Y%m%d%H%M%S)" \
		    -e "$(date -u -d '+30 days' +%Y%m%d%H%M%S)" \
		    -o "$z." -f "$f" "$zd/$z.zone" "${key%.key}" ||
		    { world_msg "zone_reload: ldns-signzone failed for $z"; return 1; }
	fi
	touch -d "@$(( $(date +%s) + serial ))" "$f" || return 1
	pid=$(awk '$3 == "nsd" { print $1; exit }' "$WORLD_DIR/pids")
	[ -n "$pid" ] && kill -HUP "$pid" 2>/dev/null ||
	    { world_msg "zone_reload: nsd is not running"; return 1; }
	for _ in $(seq 50); do
		if kdig +time=1 +retry=0 +norec @"$NS_V4" "$z." SOA 2>/dev/null |
		    awk -v s="$serial" '$4 == "SOA" && $7 == s { f = 1 } END { exit !f }'; then
			return 0
		fi
		sleep 0.1
	done
	world_msg "zone_reload: nsd does not serve serial $serial of $z"
	return 1
}
