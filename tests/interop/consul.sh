#!/usr/bin/env bash
# go-micro v5.30.0's consul registry <-> ours, on one real Consul agent (v1.14.11 built by
# tests/interop/consul/build.sh; CONSUL_BIN overrides) on loopback: a go-micro service is
# found and called through Consul by our client and CLI, a Rust service is found (with
# endpoints and metadata, decoded from go-micro's tags) and called by go-micro's client, both
# are listed by both, and a SIGKILLed Rust node leaves both views when its TTL check fails.
# Run it inside scripts/netns.sh (the agent's ports then collide with nothing):
#   scripts/netns.sh tests/interop/consul.sh   (gm5, the Rust greeter and the CLI built first)
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$top/tests/interop/go/bin" rbin="$top/target/debug"
consul="${CONSUL_BIN:-$("$top/tests/interop/consul/build.sh")}"
fails=0 pids=()
tmp="$(mktemp -d)"
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 150); do grep -q '"ready"' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

port="$(free_port)"
"$consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 -http-port "$port" -dns-port -1 -grpc-port -1 \
	-grpc-tls-port -1 -server-port "$(free_port)" -serf-lan-port "$(free_port)" -serf-wan-port "$(free_port)" \
	>"$tmp/consul.log" 2>&1 & pids+=($!)
leader=""
for _ in $(seq 300); do
	leader="$(curl -s "http://127.0.0.1:$port/v1/status/leader")"
	[ "${#leader}" -gt 2 ] && break
	sleep 0.1
done
[ "${#leader}" -gt 2 ] || { bad consul_leader "$(tail -5 "$tmp/consul.log")"; exit 1; }
export MICRO_REGISTRY="consul://127.0.0.1:$port" MICRO_REGISTER_TTL=3s MICRO_REGISTER_INTERVAL=1s

# go-micro serves, registered in Consul by go-micro's own consul registry.
"$bin/gm5" serve --name go.consul --metadata team=go >"$tmp/gm5.out" 2>"$tmp/gm5.err" & pids+=($!)
wait_ready "$tmp/gm5.out" || { bad gm5_ready "$(tail -3 "$tmp/gm5.err")"; exit 1; }
out="$("$rbin/client" Consul go.consul 2>&1)"
if echo "$out" | grep -q 'Hello Consul'; then ok rust_client_calls_gm5_via_consul; else bad rust_client_calls_gm5_via_consul "$out"; fi
out="$("$rbin/micro" --registry consul --registry_address "127.0.0.1:$port" get service go.consul -o json 2>&1)"
if echo "$out" | grep -q '"Greeter.Hello"' && echo "$out" | grep -q '"registry": *"consul"' && echo "$out" | grep -q '"team": *"go"'; then
	ok micro_cli_reads_gm5_from_consul_with_endpoints_and_metadata
else bad micro_cli_reads_gm5_from_consul_with_endpoints_and_metadata "$out"; fi
out="$("$rbin/micro" --registry consul --registry_address "127.0.0.1:$port" call go.consul Greeter.Hello '{"name":"Cli"}' 2>&1)"
if echo "$out" | grep -q 'Hello Cli'; then ok micro_cli_calls_gm5_via_consul; else bad micro_cli_calls_gm5_via_consul "$out"; fi

# Ours serves; go-micro's watcher hears it arrive, finds it in Consul, with its endpoints,
# and calls it.
"$bin/gm5" watch --service rust.consul >"$tmp/watch.out" 2>"$tmp/watch.err" & pids+=($!)
for _ in $(seq 150); do grep -q '"ready"' "$tmp/watch.out" 2>/dev/null && break; sleep 0.1; done
grep -q '"ready"' "$tmp/watch.out" || bad gm5_watch_ready "$(tail -3 "$tmp/watch.err")"
MICRO_SERVER_NAME=rust.consul "$rbin/server" >"$tmp/rs.out" 2>"$tmp/rs.err" & rs=$!; pids+=($rs)
got=""; for _ in $(seq 50); do got="$("$bin/gm5" get --service rust.consul 2>/dev/null)"; echo "$got" | grep -q '"address"' && break; sleep 0.2; done
for _ in $(seq 50); do grep -q '"action":"create"' "$tmp/watch.out" && break; sleep 0.1; done
if grep -q '"action":"create".*"rust.consul' "$tmp/watch.out"; then ok gm5_watch_hears_rust_register; else bad gm5_watch_hears_rust_register "$(cat "$tmp/watch.out")"; fi
if echo "$got" | grep -q '"name":"Greeter.Hello"' && echo "$got" | grep -q '"protocol":"mucp"' && echo "$got" | grep -q '"registry":"consul"'; then
	ok gm5_reads_rust_service_from_consul
else bad gm5_reads_rust_service_from_consul "$got $(tail -3 "$tmp/rs.err")"; fi
out="$("$bin/gm5" call --service rust.consul --endpoint Greeter.Hello --body '{"name":"Go"}' 2>"$tmp/call.err")"
if echo "$out" | grep -q 'Hello Go'; then ok gm5_calls_rust_via_consul; else bad gm5_calls_rust_via_consul "$out $(tail -3 "$tmp/call.err")"; fi
out="$("$bin/gm5" list 2>/dev/null)"
if echo "$out" | grep -q '"rust.consul"' && echo "$out" | grep -q '"go.consul"'; then ok gm5_lists_both; else bad gm5_lists_both "$out"; fi
out="$("$rbin/micro" --registry consul --registry_address "127.0.0.1:$port" services 2>&1)"
if echo "$out" | grep -q 'rust.consul' && echo "$out" | grep -q 'go.consul'; then ok micro_cli_lists_both; else bad micro_cli_lists_both "$out"; fi

# SIGKILL: no deregistration; the TTL check (3 s) goes critical and both sides stop seeing
# the node (go-micro drops critical instances; we ask for passing ones).
kill -9 "$rs"; wait "$rs" 2>/dev/null
start=$(date +%s%N); gone=""
for _ in $(seq 100); do
	got="$("$bin/gm5" get --service rust.consul 2>/dev/null)"
	if ! echo "$got" | grep -q '"address"'; then gone=1; break; fi
	sleep 0.2
done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ -n "$gone" ]; then ok "killed_rust_node_leaves_gm5_view_in_${ms}ms"; else bad killed_rust_node_leaves_gm5_view "after ${ms} ms: $got"; fi
for _ in $(seq 50); do grep -q '"action":"delete"' "$tmp/watch.out" && break; sleep 0.1; done
if grep -q '"action":"delete"' "$tmp/watch.out"; then ok gm5_watch_hears_killed_rust_node_leave; else bad gm5_watch_hears_killed_rust_node_leave "$(cat "$tmp/watch.out")"; fi
out="$("$rbin/micro" --registry consul --registry_address "127.0.0.1:$port" get service rust.consul -o json 2>&1)"
if ! echo "$out" | grep -q '"address"'; then ok killed_rust_node_leaves_our_view; else bad killed_rust_node_leaves_our_view "$out"; fi

echo "consul interop: $fails failed"
[ "$fails" = 0 ]
