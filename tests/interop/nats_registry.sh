#!/usr/bin/env bash
# go-micro v5.30.0's NATS registry <-> ours, on Debian's nats-server on loopback: a go-micro
# service is found (by asking it on micro.nats.query) and called by our client and CLI, a
# Rust service is found (with endpoints) and called by go-micro's client, both are listed by
# both, go-micro's watcher hears a Rust node arrive and leave (micro.nats.watch), and a
# SIGKILLed Rust node is gone from the next lookup (nobody answers for it).
#   tests/interop/nats_registry.sh   (gm5, the Rust greeter and the CLI built first)
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$top/tests/interop/go/bin" rbin="$top/target/debug"
nats="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
fails=0 pids=()
tmp="$(mktemp -d)"
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

port="$(free_port)"
"$nats" -a 127.0.0.1 -p "$port" >"$tmp/nats.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
export MICRO_REGISTRY="nats://127.0.0.1:$port" MICRO_REGISTER_INTERVAL=1s
cli=("$rbin/micro" --registry nats --registry_address "127.0.0.1:$port")

# go-micro serves, answering queries through go-micro's own NATS registry.
"$bin/gm5" serve --name go.nats >"$tmp/gm5.out" 2>"$tmp/gm5.err" & pids+=($!)
wait_for "$tmp/gm5.out" '"ready"' || { bad gm5_ready "$(tail -3 "$tmp/gm5.err")"; exit 1; }
out="$("$rbin/client" Nats go.nats 2>&1)"
if echo "$out" | grep -q 'Hello Nats'; then ok rust_client_calls_gm5_via_nats_registry; else bad rust_client_calls_gm5_via_nats_registry "$out"; fi
out="$("${cli[@]}" get service go.nats -o json 2>&1)"
if echo "$out" | grep -q '"Greeter.Hello"' && echo "$out" | grep -q '"registry": *"nats"'; then ok micro_cli_reads_gm5_from_nats_registry; else bad micro_cli_reads_gm5_from_nats_registry "$out"; fi

# go-micro watches; ours serves and then stops (deregistering), then serves and is killed.
"$bin/gm5" watch --service rust.nats >"$tmp/watch.out" 2>"$tmp/watch.err" & watch=$!; pids+=($watch)
wait_for "$tmp/watch.out" '"ready"' || bad gm5_watch_ready "$(tail -3 "$tmp/watch.err")"
MICRO_SERVER_NAME=rust.nats "$rbin/server" >"$tmp/rs.out" 2>"$tmp/rs.err" & rs=$!; pids+=($rs)
if wait_for "$tmp/watch.out" '"action":"create"'; then ok gm5_watch_hears_rust_register; else bad gm5_watch_hears_rust_register "$(cat "$tmp/watch.out")"; fi
got=""; for _ in $(seq 50); do got="$("$bin/gm5" get --service rust.nats 2>/dev/null)"; echo "$got" | grep -q '"address"' && break; sleep 0.2; done
if echo "$got" | grep -q '"name":"Greeter.Hello"' && echo "$got" | grep -q '"registry":"nats"'; then ok gm5_reads_rust_service_from_nats_registry; else bad gm5_reads_rust_service_from_nats_registry "$got $(tail -3 "$tmp/rs.err")"; fi
out="$("$bin/gm5" call --service rust.nats --endpoint Greeter.Hello --body '{"name":"Go"}' 2>"$tmp/call.err")"
if echo "$out" | grep -q 'Hello Go'; then ok gm5_calls_rust_via_nats_registry; else bad gm5_calls_rust_via_nats_registry "$out $(tail -3 "$tmp/call.err")"; fi
out="$("$bin/gm5" list 2>/dev/null)"
if echo "$out" | grep -q '"rust.nats"' && echo "$out" | grep -q '"go.nats"'; then ok gm5_lists_both; else bad gm5_lists_both "$out"; fi
out="$("${cli[@]}" services 2>&1)"
if echo "$out" | grep -q 'rust.nats' && echo "$out" | grep -q 'go.nats'; then ok micro_cli_lists_both; else bad micro_cli_lists_both "$out"; fi
kill -INT "$rs"; wait "$rs" 2>/dev/null # the example server stops on Ctrl-C, deregistering
if wait_for "$tmp/watch.out" '"action":"delete"'; then ok gm5_watch_hears_rust_deregister; else bad gm5_watch_hears_rust_deregister "$(cat "$tmp/watch.out")"; fi

MICRO_SERVER_NAME=rust.nats "$rbin/server" >"$tmp/rs2.out" 2>"$tmp/rs2.err" & rs=$!; pids+=($rs)
got=""; for _ in $(seq 50); do got="$("$bin/gm5" get --service rust.nats 2>/dev/null)"; echo "$got" | grep -q '"address"' && break; sleep 0.2; done
kill -9 "$rs"; wait "$rs" 2>/dev/null
got="$("$bin/gm5" get --service rust.nats 2>/dev/null)"
if ! echo "$got" | grep -q '"address"'; then ok killed_rust_node_is_gone_from_the_next_gm5_lookup; else bad killed_rust_node_is_gone_from_the_next_gm5_lookup "$got"; fi

echo "nats registry interop: $fails failed"
[ "$fails" = 0 ]
