#!/bin/bash
# ISC license.
#
# Proves that the test world is what the other integration tests assume:
# DNSSEC states per zone, TLSA data, the test CA and nginx, the black hole and
# refusing addresses, the SMTP peers, glibc's resolver path.

. "$(dirname "$0")/lib.sh"

# kdig through the world's resolver; prints flags, status and answer.
q() {
	kdig +dnssec +time=2 +retry=1 @"$WORLD_RESOLVER" "$@" 2>&1
}
flags() {
	q "$@" | sed -n 's/^;; Flags: \([^;]*\);.*/\1/p'
}
status() {
	q "$@" | sed -n 's/.*status: \([A-Z]*\);.*/\1/p'
}
has_ad() {
	case " $(flags "$@") " in
	*" ad "*) return 0 ;;
	esac
	return 1
}
expect() {
	local name=$1 want=$2 got
	shift 2
	got=$("$@")
	if [ "$got" = "$want" ]; then
		ok "$name"
	else
		fail "$name" "got '$got', want '$want' from: $*"
	fi
}

# --- the namespace itself
check_match netns-only-lo-and-veth '^lo mxk-c $' sh -c "ip -o link show | awk -F': ' '{print \$2}' | sed 's/@.*//' | tr '\\n' ' '"
check_exit netns-no-default-route 0 sh -c '[ -z "$(ip route show default; ip -6 route show default)" ]'
check netns-blackhole-in-inet sh -c "nsenter --net=$WORLD_DIR/inet.ns ip -o addr show dev lo | grep -qw '$BLACKHOLE_V4'"
check netns-v6-in-inet sh -c "nsenter --net=$WORLD_DIR/inet.ns ip -o addr show dev lo | grep -qw '2001:db8::10/128'"
check_exit netns-servers-not-local 1 sh -c "ip -o addr show | grep -qw '192.0.2.10'"
check resolv-conf grep -qx 'options edns0 trust-ad' /etc/resolv.conf
check resolv-nameserver grep -qx 'nameserver 127.0.0.1' /etc/resolv.conf

# --- DNS: the declared status of every zone, from its template header
for f in "$WORLD_SRC"/zones/*.zone; do
	z=$(basename "$f" .zone)
	kind=$(sed -nE '1,5s/^;[[:space:]]*world:[[:space:]]*([a-z]+).*/\1/p' "$f" | head -n 1)
	case $kind in
	signed)
		expect "zone-$z-noerror" NOERROR status "$z." SOA
		# A signed zone below an unsigned one is an island: its DS
		# sits in an insecure zone, so nothing validates (AD=0).
		p=${z#*.}
		while [ -n "$p" ] && [ ! -f "$WORLD_SRC/zones/$p.zone" ]; do
			case $p in *.*) p=${p#*.} ;; *) p= ;; esac
		done
		if [ -n "$p" ] && sed -n '1,5p' "$WORLD_SRC/zones/$p.zone" |
		    grep -q 'world:[[:space:]]*unsigned'; then
			check_exit "zone-$z-island-no-ad" 1 has_ad "$z." SOA
		else
			check "zone-$z-ad" has_ad "$z." SOA
		fi
		;;
	unsigned)
		expect "zone-$z-noerror" NOERROR status "$z." SOA
		check_exit "zone-$z-no-ad" 1 has_ad "$z." SOA
		;;
	bogus)
		expect "zone-$z-servfail" SERVFAIL status "$z." SOA
		expect "zone-$z-cd-noerror" NOERROR status +cd "$z." SOA
		;;
	*)
		fail "zone-$z-kind" "no '; world:' header"
		;;
	esac
done

# --- DNS: the cases the next tools rely on
check_match signed-mx '^signed\.test\..*MX[[:space:]]+10 mx\.signed\.test\.' q signed.test MX
check signed-mx-ad has_ad signed.test MX
check_match signed-mx-ad-dig 'flags:.* ad[ ;]' dig +dnssec +time=2 +tries=1 @127.0.0.1 signed.test MX
check_match plain-mx '^plain\.test\..*MX[[:space:]]+10 mx\.plain\.test\.' q plain.test MX
check_exit plain-mx-no-ad 1 has_ad plain.test MX
expect bogus-mx-servfail SERVFAIL status bogus.test MX
expect nosuch-nxdomain NXDOMAIN status nosuch.test A
check nosuch-nxdomain-ad has_ad nosuch.test A
expect prio-dead-blackhole "$BLACKHOLE_V4" kdig +short @127.0.0.1 dead.prio.test A
expect prio-refuse-addr "$REFUSE_V4" kdig +short @127.0.0.1 refuse.prio.test A
expect nullmx-mx '0 .' kdig +short @127.0.0.1 nullmx.test MX
expect v6only-no-a '' kdig +short @127.0.0.1 mx.v6only.test A
expect v6only-aaaa 2001:db8::30 kdig +short @127.0.0.1 mx.v6only.test AAAA
expect idn-mx '10 mx.xn--bcher-kva.test.' kdig +short +noidn @127.0.0.1 xn--bcher-kva.test MX
check_match resolver-v6 '^;; Flags:.* ad[ ;]' kdig +dnssec +time=2 +retry=1 @::1 signed.test MX

# --- glibc's resolver path
check_match getent-hosts '^(192\.0\.2\.10|2001:db8::10)[[:space:]]+mx\.signed\.test' getent hosts mx.signed.test
check_match getent-ahostsv4 '^192\.0\.2\.10[[:space:]]' getent ahostsv4 mx.signed.test
check_exit getent-nosuch 2 getent hosts nosuch.test

# --- TLSA: the digest in dane.test is the SHA-256 of the certificate's SPKI
# (certtool's "Public Key ID" sha256 is computed over the same DER).
tlsa=$(kdig +short @127.0.0.1 _25._tcp.mx.dane.test TLSA)
spki=$(certtool -i --infile "$WORLD_DIR/certs/mx.dane.test.crt" |
    sed -n '/Public Key ID:/,/Public Key PIN:/s/^[[:space:]]*sha256:\([0-9a-f]*\)$/\1/p')
if [ -n "$spki" ] && [ "${tlsa,,}" = "3 1 1 $spki" ]; then
	ok tlsa-matches-cert
else
	fail tlsa-matches-cert "TLSA '$tlsa', SPKI sha256 '$spki'"
fi
check tlsa-ad has_ad _25._tcp.mx.dane.test TLSA
expect tlsa-world_tlsa "${tlsa,,}" world_tlsa 3 1 1 "$WORLD_DIR/certs/mx.dane.test.crt"

# --- test CA, certificates issued at run time
check_match ca-bundle 'BEGIN CERTIFICATE' cat "$SSL_CERT_FILE"
expect curl-ca-bundle "$SSL_CERT_FILE" echo "$CURL_CA_BUNDLE"
check world-cert world_cert runtime.signed.test runtime.signed.test 192.0.2.10
check_match world-cert-verifies 'Chain verification output: Verified' \
    certtool --verify --load-ca-certificate "$SSL_CERT_FILE" \
    --infile "$WORLD_DIR/certs/runtime.signed.test.chain.pem"
check_match world-cert-san 'DNSname: runtime\.signed\.test' \
    certtool -i --infile "$WORLD_DIR/certs/runtime.signed.test.crt"
check world-selfsigned-expired world_selfsigned old.dane.test old.dane.test --expired
check_exit world-selfsigned-is-expired 1 openssl x509 -checkend 0 -noout \
    -in "$WORLD_DIR/certs/old.dane.test.crt"
check world-selfsigned world_selfsigned new.dane.test new.dane.test
check_exit world-selfsigned-is-valid 0 openssl x509 -checkend 3600 -noout \
    -in "$WORLD_DIR/certs/new.dane.test.crt"

# --- nginx: the MTA-STS policy over HTTPS, verified by the test CA
url=https://mta-sts.signed.test/.well-known/mta-sts.txt
check_match https-policy '^version: STSv1' curl -sS --max-time 5 "$url"
expect https-content-type text/plain curl -sS --max-time 5 -o /dev/null -w '%{content_type}' "$url"
check_exit https-untrusted-ca 60 env CURL_CA_BUNDLE="$WORLD_DIR/certs/mx.dane.test.crt" \
    curl -sS --max-time 5 -o /dev/null "$url"
check_match https-resolve '^mode: enforce' curl -sS --max-time 5 \
    --resolve "mta-sts.signed.test:443:192.0.2.50" "$url"
check_exit https-not-on-refuse 7 curl -sS --max-time 5 -o /dev/null \
    --resolve "mta-sts.signed.test:443:$REFUSE_V4" "$url"

# --- black hole and refusing addresses (every attempt bounded)
tcp() {
	timeout "$1" bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$2" "$3" 2>/dev/null
}
fast_refuse() {
	local t0=$SECONDS rc
	tcp 2 "$1" 25
	rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $((SECONDS - t0)) -le 1 ]
}
check_exit blackhole-v4-hangs 124 tcp 2 "$BLACKHOLE_V4" 25
check_exit blackhole-v6-hangs 124 tcp 2 "$BLACKHOLE_V6" 25
check refuse-v4-at-once fast_refuse "$REFUSE_V4"
check refuse-v6-at-once fast_refuse "$REFUSE_V6"

# --- SMTP peers
if start_sink 192.0.2.10 25; then
	ok sink-start
	check sink-helo swaks --server 192.0.2.10 --to a@b.test --quit-after HELO
	check_match sink-message '250 ' swaks --server 192.0.2.10 \
	    --from x@signed.test --to a@b.test --body 'hello from the world'
else
	fail sink-start "smtp-sink did not start"
fi
if start_sink 2001:db8::10 25; then
	ok sink-v6-start
	check sink-v6-helo swaks -6 --server 2001:db8::10 --to a@b.test --quit-after HELO
else
	fail sink-v6-start "smtp-sink did not start on 2001:db8::10"
fi
if start_greeter 192.0.2.35 25 "421 4.3.2 mx1.greet.test busy"; then
	ok greeter-start
	check_match greeter-421 '^421 4\.3\.2' timeout 3 bash -c \
	    'exec 3<>/dev/tcp/192.0.2.35/25; IFS= read -r l <&3; echo "$l"'
	check_exit greeter-swaks-fails 21 swaks --server 192.0.2.35 --to a@b.test --quit-after HELO
else
	fail greeter-start "greeter did not start"
fi
if start_greeter 192.0.2.36 25 "554 5.7.1 no mail here"; then
	check_match greeter-554-quit '^221 ' timeout 3 bash -c \
	    'exec 3<>/dev/tcp/192.0.2.36/25; IFS= read -r l <&3; printf "QUIT\r\n" >&3; IFS= read -r l <&3; echo "$l"'
else
	fail greeter-554-start "greeter did not start"
fi
if start_greeter 2001:db8::10 2526 "" 10; then
	check_exit greeter-silent-v6 124 timeout 1 bash -c \
	    'exec 3<>/dev/tcp/2001:db8::10/2526; IFS= read -r l <&3'
else
	fail greeter-silent-start "greeter did not start"
fi
check peers-recorded test "$(wc -l <"$WORLD_DIR/peers.pids")" -eq 5
stop_peers
check_exit peers-stopped 1 tcp 2 192.0.2.10 25
check peers-file-empty test ! -s "$WORLD_DIR/peers.pids"

finish
