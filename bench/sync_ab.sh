#!/usr/bin/env bash
# A/B of the blocking Python client (`call_sync`), issue 18: our Rust client, then two builds
# of the Python package (BASE_PY and NEW_PY: each a venv's python), calling the Rust greeter
# with 1 and 100 calls in flight, unpinned and pinned (client and server under
# `taskset -c 0`), REPS reps, the order of the three clients rotated each rep. One JSON line
# per row on stdout; `bench/sync_ab_report.py` turns them into a table and the added cost
# per call over the Rust client.
#
#   BASE_PY=/tmp/base/bin/python NEW_PY=/tmp/new/bin/python bash bench/sync_ab.sh > rows.jsonl
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
B="${B:-$here/target/release}"
REPS="${REPS:-3}" D="${D:-2}" WARMUP="${WARMUP:-0.5}"
: "${BASE_PY:?a python with the base build}" "${NEW_PY:?a python with the new build}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

for layout in unpinned pinned; do
	pre=(); [ "$layout" = pinned ] && pre=(taskset -c 0)
	"${pre[@]}" "$B/greeter" --addr 127.0.0.1:0 >"$work/greeter.out" 2>"$work/greeter.err" &
	gpid=$!
	for _ in $(seq 200); do grep -q '"ready"' "$work/greeter.out" 2>/dev/null && break; sleep 0.05; done
	addr="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/greeter.out" | head -1)"
	[ -n "$addr" ] || { echo "greeter did not start: $(cat "$work/greeter.err")" >&2; exit 1; }
	for c in 1 100; do
		for rep in $(seq "$REPS"); do
			order=(rust base new)
			for _ in $(seq $(( (rep - 1) % 3 ))); do order=("${order[@]:1}" "${order[0]}"); done
			for who in "${order[@]}"; do
				case "$who" in
				rust) cmd=("$B/loadgen" unary --client micro --addr "$addr" --c "$c" --d "$D" --warmup "$WARMUP") ;;
				base) cmd=("$BASE_PY" "$here/py/client.py" --sync --addr "$addr" --c "$c" --d "$D" --warmup "$WARMUP") ;;
				new) cmd=("$NEW_PY" "$here/py/client.py" --sync --addr "$addr" --c "$c" --d "$D" --warmup "$WARMUP") ;;
				esac
				res="$("${pre[@]}" "${cmd[@]}" | tail -1)"
				echo "{\"layout\":\"$layout\",\"c\":$c,\"rep\":$rep,\"client\":\"$who\",\"result\":$res}"
			done
		done
	done
	kill "$gpid"; wait "$gpid" 2>/dev/null || true
done
