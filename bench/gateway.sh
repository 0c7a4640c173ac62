#!/usr/bin/env bash
# The gateway rows (`ONLY=gateway bash bench/run.sh` runs this inside scripts/netns.sh):
# Greeter.Hello at c=1 and c=64, unpinned and pinned, REPS times each, as
#   direct:     our loadgen (micro client, explicit address) → our Rust greeter;
#   ours api:   loadgen http (hyper, POST JSON) → our `micro api` → the same Rust greeter;
#   go-micro api: loadgen http → go-micro v5.30.0's `micro api` → the same greeter on go-micro;
#   go direct:  our loadgen → the go-micro greeter (context: what go-micro's hop costs).
# The gateways find their greeter over mDNS (both `micro api`s look services up in a
# registry, and only mDNS is shared by separate processes without a server to run); the
# lookups are cached, so after the first request no registry is in the measurement.
# Prints one JSON row per run.
#
#   gateway.sh BENCH_BIN GOBENCH GOMICRO MICRO
set -euo pipefail
B="$1"; G="$2"; GM="$3"; MICRO="$4"
[ "${MICRO_NETNS:-}" = 1 ] || { echo "gateway.sh: run inside scripts/netns.sh" >&2; exit 2; }
D="${D:-3}"; WARMUP="${WARMUP:-1}"; REPS="${REPS:-3}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
log() { echo "bench: $*" >&2; }

# launch NAME PIN PATTERN CMD...: starts CMD (under taskset -c 0 when PIN is pinned), waits
# until its stdout matches PATTERN; sets $pid.
launch() {
	local name="$1" pin="$2" pattern="$3"; shift 3
	if [ "$pin" = pinned ]; then taskset -c 0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
	else "$@" >"$work/$name.out" 2>"$work/$name.err" & fi
	pid=$!; pids+=("$pid")
	for _ in $(seq 200); do
		grep -q "$pattern" "$work/$name.out" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	log "$name did not start: $(cat "$work/$name.out" "$work/$name.err")"; exit 1
}

# ready URL: waits until POST URL answers the greeting (the gateway has found the greeter).
ready() {
	for _ in $(seq 200); do
		curl -s -m 2 -XPOST -H 'Content-Type: application/json' -d '{"name":"bench"}' "$1" 2>/dev/null \
			| grep -q '"Hello bench"' && return 0
		sleep 0.05
	done
	log "no greeting through $1"; exit 1
}

row() { # LAYOUT WORKLOAD PAIR REP CMD...
	local layout="$1" workload="$2" pair="$3" rep="$4"; shift 4
	local pre=(); [ "$layout" = pinned ] && pre=(taskset -c 0)
	log "$layout $workload $pair (run $rep)"
	local res
	res="$("${pre[@]}" "$@" | tail -1)"
	echo "{\"layout\":\"$layout\",\"workload\":\"$workload\",\"pair\":\"$pair\",\"rep\":$rep,\"result\":$res}"
}

for L in unpinned pinned; do
	launch "greeter-$L" "$L" '"ready"' "$B/greeter" --registry mdns --name greeter
	ours="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/greeter-$L.out" | head -1)"
	launch "gogreeter-$L" "$L" '"ready"' "$G" serve -registry mdns -name go.greeter
	gogreeter="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/gogreeter-$L.out" | head -1)"
	launch "api-$L" "$L" 'micro api listening on' "$MICRO" --registry mdns api --api_address 127.0.0.1:0
	api="$(sed -n 's|.*micro api listening on http://\([^ ]*\).*|\1|p' "$work/api-$L.out" | head -1)"
	# go-micro's `micro api` prints the address it was given, not the one bound: a fixed port
	# (the namespace is private, nothing else listens in it).
	goapi=127.0.0.1:18080
	launch "goapi-$L" "$L" 'Listening' env MICRO_REGISTRY=mdns "$GM" api --address "$goapi"
	ready "http://$api/greeter/Greeter.Hello"
	ready "http://$goapi/go.greeter/Greeter.Hello"
	T=(--d "$D" --warmup "$WARMUP")
	for c in 1 64; do
		for rep in $(seq "$REPS"); do
			row "$L" "c=$c" "direct" "$rep" "$B/loadgen" unary --client micro --addr "$ours" --c "$c" "${T[@]}"
			row "$L" "c=$c" "ours api" "$rep" "$B/loadgen" http --addr "$api" --path /greeter/Greeter.Hello --c "$c" "${T[@]}"
			row "$L" "c=$c" "go-micro api" "$rep" "$B/loadgen" http --addr "$goapi" --path /go.greeter/Greeter.Hello --c "$c" "${T[@]}"
			row "$L" "c=$c" "go direct" "$rep" "$B/loadgen" unary --client micro --addr "$gogreeter" --c "$c" "${T[@]}"
		done
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
done
