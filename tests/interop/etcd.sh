#!/usr/bin/env bash
# go-micro v5.30.0's and v6.10.0's etcd registry <-> ours, on a real etcd (Debian's etcd-server) on
# loopback: a go-micro service is found and called through etcd by our client and CLI, a
# Rust service is found (with endpoints) and called by go-micro's client, and a SIGKILLed
# Rust node leaves go-micro's view when its lease runs out.
#   tests/interop/etcd.sh        (gm5, gm6 and the Rust greeter are built first)
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$top/tests/interop/go/bin" rbin="$top/target/debug"
fails=0 pids=()
tmp="$(mktemp -d)"
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 150); do grep -q '"ready"' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

port="$(free_port)" peer="$(free_port)"
etcd --name interop --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$port" \
	--advertise-client-urls "http://127.0.0.1:$port" --listen-peer-urls "http://127.0.0.1:$peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "interop=http://127.0.0.1:$peer" \
	>"$tmp/etcd.log" 2>&1 & pids+=($!)
for _ in $(seq 150); do curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/v3/kv/range" -d '{"key":"eA=="}' && break; sleep 0.1; done
export MICRO_REGISTRY="etcd://127.0.0.1:$port" MICRO_REGISTER_TTL=3s MICRO_REGISTER_INTERVAL=1s

# Per Go peer (gm5, gm6: both have go-micro's registry/etcd and read MICRO_REGISTRY=etcd).
etcd_peer() {
	local gm="$1" out got rs start gone ms
	# go-micro serves, registered in etcd by go-micro's own etcd registry.
	"$bin/$gm" serve --name go.etcd.$gm >"$tmp/$gm.out" 2>"$tmp/$gm.err" & pids+=($!)
	wait_ready "$tmp/$gm.out" || { bad "${gm}_ready" "$(tail -3 "$tmp/$gm.err")"; exit 1; }
	out="$("$rbin/client" Etcd go.etcd.$gm 2>&1)"
	if echo "$out" | grep -q 'Hello Etcd'; then ok "rust_client_calls_${gm}_via_etcd"; else bad "rust_client_calls_${gm}_via_etcd" "$out"; fi
	out="$("$rbin/micro" --registry etcd --registry_address "127.0.0.1:$port" get service go.etcd.$gm -o json 2>&1)"
	if echo "$out" | grep -q '"Greeter.Hello"' && echo "$out" | grep -q '"registry": *"etcd"'; then ok "micro_cli_reads_${gm}_from_etcd"; else bad "micro_cli_reads_${gm}_from_etcd" "$out"; fi

	# Ours serves; go-micro finds it in etcd, with its endpoints, and calls it.
	MICRO_SERVER_NAME=rust.etcd.$gm "$rbin/server" >"$tmp/rs.$gm.out" 2>"$tmp/rs.$gm.err" & rs=$!; pids+=($rs)
	got=""; for _ in $(seq 50); do got="$("$bin/$gm" get --service rust.etcd.$gm 2>/dev/null)"; [ "$got" != "[]" ] && [ -n "$got" ] && break; sleep 0.2; done
	if echo "$got" | grep -q '"name":"Greeter.Hello"' && echo "$got" | grep -q '"protocol":"mucp"'; then ok "${gm}_reads_rust_service_from_etcd"; else bad "${gm}_reads_rust_service_from_etcd" "$got $(tail -3 "$tmp/rs.$gm.err")"; fi
	out="$("$bin/$gm" call --service rust.etcd.$gm --endpoint Greeter.Hello --body '{"name":"Go"}' 2>"$tmp/call.$gm.err")"
	if echo "$out" | grep -q 'Hello Go'; then ok "${gm}_calls_rust_via_etcd"; else bad "${gm}_calls_rust_via_etcd" "$out $(tail -3 "$tmp/call.$gm.err")"; fi
	out="$("$bin/$gm" list 2>/dev/null)"
	if echo "$out" | grep -q "\"rust.etcd.$gm\"" && echo "$out" | grep -q "\"go.etcd.$gm\""; then ok "${gm}_lists_both"; else bad "${gm}_lists_both" "$out"; fi

	# SIGKILL: no deregistration; the lease (TTL 3 s) takes the node away.
	kill -9 "$rs"; wait "$rs" 2>/dev/null
	start=$(date +%s%N); gone=""
	for _ in $(seq 60); do
		got="$("$bin/$gm" get --service rust.etcd.$gm 2>/dev/null)"
		if [ "$got" = "[]" ]; then gone=1; break; fi
		sleep 0.2
	done
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ -n "$gone" ] && [ "$ms" -le 5000 ]; then ok "killed_rust_node_leaves_${gm}_view_in_${ms}ms"; else bad "killed_rust_node_leaves_${gm}_view" "after ${ms} ms: $got"; fi
}

for gm in gm5 gm6; do etcd_peer "$gm"; done

echo "etcd interop: $fails failed"
[ "$fails" = 0 ]
