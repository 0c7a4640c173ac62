#!/usr/bin/env bash
# go-micro v4.11.0's, v5.30.0's and v6.10.0's TLS transport (transport.Secure) <-> ours, in the private
# network namespace (mDNS): a Rust server with a self-signed certificate is called by gm4's, gm5's
# and gm6's secure clients, and refused by plain ones; gm4's, gm5's and gm6's self-signed secure
# servers are called by our CLI
# over TLS (MICRO_TLS_INSECURE, as go-micro's own clients must skip verification there).
#   tests/interop/tls.sh        (re-executes itself inside scripts/netns.sh)
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "${MICRO_NETNS:-}" != "1" ]; then exec "$top/scripts/netns.sh" "$0" "$@"; fi
bin="$top/tests/interop/go/bin" rbin="$top/target/debug"
fails=0 pids=()
tmp="$(mktemp -d)"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
wait_ready() { for _ in $(seq 150); do grep -q '"ready"' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# Ours, secure: a self-signed certificate for this host's addresses.
MICRO_SERVER_NAME=rust.tls MICRO_TRANSPORT_SECURE=true MICRO_TLS_INSECURE=true \
	"$rbin/server" >"$tmp/rs.out" 2>"$tmp/rs.err" & pids+=($!)
for gm in gm4 gm5 gm6; do
	got=""; for _ in $(seq 50); do got="$("$bin/$gm" get --service rust.tls 2>/dev/null)"; [ "$got" != "[]" ] && [ -n "$got" ] && break; sleep 0.2; done
	if echo "$got" | grep -q '"secure":"true"'; then ok "rust_tls_node_says_secure_to_$gm"; else bad "rust_tls_node_says_secure_to_$gm" "$got $(tail -3 "$tmp/rs.err")"; fi
	out="$(MICRO_TRANSPORT_SECURE=true "$bin/$gm" call --service rust.tls --endpoint Greeter.Hello --body '{"name":"TLS"}' --retries 0 2>"$tmp/c1.err")"
	if echo "$out" | grep -q 'Hello TLS'; then ok "${gm}_secure_client_calls_rust_tls_server"; else bad "${gm}_secure_client_calls_rust_tls_server" "$out $(tail -3 "$tmp/c1.err")"; fi
	out="$("$bin/$gm" call --service rust.tls --endpoint Greeter.Hello --body '{"name":"plain"}' --retries 0 --timeout-ms 3000 2>"$tmp/c2.err")"
	if echo "$out" | grep -q '"ok":false'; then ok "${gm}_plain_client_is_refused"; else bad "${gm}_plain_client_is_refused" "$out"; fi
done

# go-micro, secure: its own self-signed certificate.
for gm in gm4 gm5 gm6; do
	MICRO_TRANSPORT_SECURE=true "$bin/$gm" serve --name "go.tls.$gm" >"$tmp/$gm.out" 2>"$tmp/$gm.err" & pids+=($!)
	wait_ready "$tmp/$gm.out" || { bad "${gm}_tls_ready" "$(tail -3 "$tmp/$gm.err")"; exit 1; }
	out="$(MICRO_TLS_INSECURE=true "$rbin/micro" call "go.tls.$gm" Greeter.Hello '{"name":"Rust"}' 2>&1)"
	if echo "$out" | grep -q 'Hello Rust'; then ok "micro_cli_calls_${gm}_tls_server"; else bad "micro_cli_calls_${gm}_tls_server" "$out"; fi
	out="$(MICRO_TRANSPORT_SECURE=true "$rbin/micro" call "go.tls.$gm" Greeter.Hello '{"name":"Rust"}' 2>&1)"
	if echo "$out" | grep -q 'MICRO_TLS_CA'; then ok "micro_cli_without_trust_says_what_to_set_$gm"; else bad "micro_cli_without_trust_says_what_to_set_$gm" "$out"; fi
	out="$("$rbin/micro" --client_retries 0 --client_request_timeout 2s call "go.tls.$gm" Greeter.Hello '{"name":"plain"}' 2>&1)"
	if echo "$out" | grep -qi 'error'; then ok "micro_cli_plain_is_refused_by_${gm}_tls"; else bad "micro_cli_plain_is_refused_by_${gm}_tls" "$out"; fi
done

echo "tls interop: $fails failed"
[ "$fails" = 0 ]
