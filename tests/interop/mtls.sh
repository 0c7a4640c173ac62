#!/usr/bin/env bash
# Mutual TLS across the hosts and go-micro v5.30.0's TLS transport, over mDNS inside the
# private network namespace. A test CA (openssl) signs a server and a client certificate;
# another CA signs a stranger's. Servers that require client certificates
# (MICRO_TLS_CLIENT_CA with MICRO_TLS_CERT/KEY) in each host — the Rust, Python, Node and C
# greeters — answer gm5's client presenting the CA's client certificate (GM_TLS_CERT/KEY,
# go-micro's transport.TLSConfig) and refuse it without one; gm5's own server requiring
# client certificates (tls.RequireAndVerifyClientCert) answers our CLI presenting
# MICRO_TLS_CERT/KEY and refuses it without a certificate and with the stranger's, and so do
# the Python, Node and C clients (the same variables).
#   scripts/netns.sh tests/interop/mtls.sh
# Needs what tests/interop/stats.sh needs, and openssl.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
micro="$top/target/debug/micro" gm5="$top/tests/interop/go/bin/gm5"
. "$top/tests/interop/lib.sh"
export MICRO_REGISTRY=mdns
ok() { echo "ok $1"; }

# The certificates: CA, server (IP 127.0.0.1, localhost), client, and a stranger's client.
pki="$tmp/pki"
mkdir -p "$pki"
ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
	-keyout "$pki/$1.key" -out "$pki/$1.pem" 2>/dev/null; }
leaf() { # leaf NAME CA SAN USAGE
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$pki/$1.key" -out "$pki/$1.csr" 2>/dev/null &&
		printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" >"$pki/$1.ext" &&
		openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$2.pem" -CAkey "$pki/$2.key" -CAcreateserial -days 2 \
			-extfile "$pki/$1.ext" -out "$pki/$1.pem" 2>/dev/null
}
ca ca "micro test CA" && ca other "another CA" &&
	leaf server ca "IP:127.0.0.1,DNS:localhost" serverAuth &&
	leaf client ca "DNS:client.micro" clientAuth &&
	leaf stranger other "DNS:stranger.micro" clientAuth ||
	{ echo "FAIL pki: openssl could not make the test certificates"; exit 1; }

mkdir -p "$tmp/node_modules" && ln -s "$top/bindings/node" "$tmp/node_modules/micro"
suffix="$$"
declare -A names
serve() { # who NAME command…: a greeter requiring client certificates
	local who="$1" name="$2"
	shift 2
	MICRO_TLS_CERT="$pki/server.pem" MICRO_TLS_KEY="$pki/server.key" MICRO_TLS_CLIENT_CA="$pki/ca.pem" \
		MICRO_TLS_CA="$pki/ca.pem" "$@" >"$tmp/$who.out" 2>"$tmp/$who.err" &
	pids+=($!)
	names[$who]="$name"
}
serve rust "rust.mtls.$suffix" env MICRO_SERVER_NAME="rust.mtls.$suffix" "$top/target/debug/server"
serve python "py.mtls.$suffix" "$top/target/python-venv/bin/python" "$top/examples/python/greeter/server.py" "py.mtls.$suffix"
serve node "node.mtls.$suffix" env NODE_PATH="$tmp/node_modules" node "$top/examples/node/greeter/server.js" "node.mtls.$suffix"
serve c "c.mtls.$suffix" "$top/target/stats/c-greeter" "c.mtls.$suffix"

# gm5 calling NAME over TLS, trusting the CA; with the client certificate unless "anonymous".
gm5call() {
	local name="$1" who="$2"
	local id=(GM_TLS_CERT="$pki/client.pem" GM_TLS_KEY="$pki/client.key")
	[ "$who" = anonymous ] && id=()
	env MICRO_TRANSPORT_SECURE=true GM_TLS_CA="$pki/ca.pem" "${id[@]}" \
		"$gm5" call --service "$name" --endpoint Greeter.Hello --body '{"name":"mTLS"}' --retries 0 --timeout-ms 10000 2>&1
}

for who in rust python node c; do
	name="${names[$who]}"
	# Registered: go-micro's mDNS lookup may miss a fresh registration on a loaded machine.
	out=""
	for _ in $(seq 100); do
		out="$(gm5call "$name" client)"
		case "$out" in *'not found'*) sleep 0.2 ;; *) break ;; esac
	done
	if echo "$out" | grep -q 'Hello mTLS'; then ok "gm5_with_client_cert_calls_${who}_mtls_server"; else
		bad "gm5_with_client_cert_calls_${who}_mtls_server" "$out $(tail -3 "$tmp/$who.err")"; fi
	out="$(gm5call "$name" anonymous)"
	if echo "$out" | grep -q '"ok":false' && ! echo "$out" | grep -q 'Hello mTLS'; then ok "gm5_without_client_cert_refused_by_${who}"; else
		bad "gm5_without_client_cert_refused_by_${who}" "$out"; fi
done

# gm5's server requiring client certificates; our CLI as the client.
MICRO_TRANSPORT_SECURE=true GM_TLS_CERT="$pki/server.pem" GM_TLS_KEY="$pki/server.key" GM_TLS_CLIENT_CA="$pki/ca.pem" \
	"$gm5" serve --name "go.mtls.$suffix" >"$tmp/gm5.out" 2>"$tmp/gm5.err" &
pids+=($!)
wait_for "$tmp/gm5.out" '"ready"' || bad gm5_mtls_ready "$(tail -3 "$tmp/gm5.err")"
cli() { # cli CERT-NAME|none: our CLI calling gm5's server, trusting the CA
	local id=(MICRO_TLS_CERT="$pki/$1.pem" MICRO_TLS_KEY="$pki/$1.key")
	[ "$1" = none ] && id=()
	env MICRO_TLS_CA="$pki/ca.pem" "${id[@]}" "$micro" --client_retries 0 --client_request_timeout 10s \
		call "go.mtls.$suffix" Greeter.Hello '{"name":"Rust"}' 2>&1
}
out="$(cli client)"
if echo "$out" | grep -q 'Hello Rust'; then ok micro_cli_with_client_cert_calls_gm5_mtls_server; else
	bad micro_cli_with_client_cert_calls_gm5_mtls_server "$out $(tail -3 "$tmp/gm5.err")"; fi
for id in none stranger; do
	out="$(cli "$id")"
	if ! echo "$out" | grep -q 'Hello Rust' && echo "$out" | grep -qi 'error'; then ok "micro_cli_${id}_cert_refused_by_gm5"; else
		bad "micro_cli_${id}_cert_refused_by_gm5" "$out"; fi
done

# The other hosts' clients against gm5's server: the same variables give them the identity.
gcc_client="$top/target/stats/c-client"
clients=(
	"python:$top/target/python-venv/bin/python $top/examples/python/greeter/client.py Guest go.mtls.$suffix"
	"node:env NODE_PATH=$tmp/node_modules node $top/examples/node/greeter/client.js Guest go.mtls.$suffix"
	"c:$gcc_client Guest go.mtls.$suffix"
)
for entry in "${clients[@]}"; do
	who="${entry%%:*}" cmd="${entry#*:}"
	out="$(env MICRO_TLS_CA="$pki/ca.pem" MICRO_TLS_CERT="$pki/client.pem" MICRO_TLS_KEY="$pki/client.key" $cmd 2>&1)"
	if echo "$out" | grep -q 'Hello Guest'; then ok "${who}_client_with_client_cert_calls_gm5_mtls_server"; else
		bad "${who}_client_with_client_cert_calls_gm5_mtls_server" "$out"; fi
	out="$(env MICRO_TLS_CA="$pki/ca.pem" MICRO_CLIENT_RETRIES=0 $cmd 2>&1)"
	if ! echo "$out" | grep -q 'Hello Guest' && echo "$out" | grep -q 'CertificateRequired'; then ok "${who}_client_without_cert_refused_by_gm5"; else
		bad "${who}_client_without_cert_refused_by_gm5" "$out"; fi
done

echo "mtls interop: $fails failed"
[ "$fails" = 0 ]
