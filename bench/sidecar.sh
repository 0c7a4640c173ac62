#!/usr/bin/env bash
# The sidecar rows (`ONLY=sidecar bash bench/run.sh` runs this inside scripts/netns.sh): a
# program beside `micro proxy` calling Greeter.Hello through it, against the Rust client
# calling the same greeter directly, at c=1, unpinned and pinned, REPS times each:
#   direct:  our loadgen (micro client, explicit address) → our Rust greeter;
#   sidecar: loadgen http (hyper, POST JSON, keep-alive) → `micro proxy` (release, rpc
#            handler: /greeter/hello → greeter Greeter.Hello) → the same Rust greeter.
# The sidecar finds the greeter over mDNS once (cached). Prints one JSON row per run.
#
#   sidecar.sh BENCH_BIN MICRO
set -euo pipefail
B="$1"; MICRO="$2"
[ "${MICRO_NETNS:-}" = 1 ] || { echo "sidecar.sh: run inside scripts/netns.sh" >&2; exit 2; }
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

ready() {
	for _ in $(seq 200); do
		curl -s -m 2 -XPOST -H 'Content-Type: application/json' -d '{"name":"bench"}' "$1" 2>/dev/null \
			| grep -q '"Hello bench"' && return 0
		sleep 0.05
	done
	log "no greeting through $1"; exit 1
}

row() { # LAYOUT PAIR REP CMD...
	local layout="$1" pair="$2" rep="$3"; shift 3
	local pre=(); [ "$layout" = pinned ] && pre=(taskset -c 0)
	log "$layout $pair (run $rep)"
	local res
	res="$("${pre[@]}" "$@" | tail -1)"
	echo "{\"layout\":\"$layout\",\"workload\":\"c=1\",\"pair\":\"$pair\",\"rep\":$rep,\"result\":$res}"
}

for L in unpinned pinned; do
	launch "greeter-$L" "$L" '"ready"' "$B/greeter" --registry mdns --name greeter
	ours="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/greeter-$L.out" | head -1)"
	launch "proxy-$L" "$L" 'micro proxy listening on' "$MICRO" --registry mdns --address 127.0.0.1:0 proxy
	sc="$(sed -n 's|.*micro proxy listening on http://\([^ ]*\).*|\1|p' "$work/proxy-$L.out" | head -1)"
	ready "http://$sc/greeter/hello"
	T=(--d "$D" --warmup "$WARMUP" --c 1)
	for rep in $(seq "$REPS"); do
		row "$L" direct "$rep" "$B/loadgen" unary --client micro --addr "$ours" "${T[@]}"
		row "$L" sidecar "$rep" "$B/loadgen" http --addr "$sc" --path /greeter/hello "${T[@]}"
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
done
