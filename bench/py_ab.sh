#!/usr/bin/env bash
# A/B of two builds of the Python package on the asyncio paths, issue 18: a Python `async def`
# handler served to our loadgen and to wrk (go-micro's request, 64 in flight), and the asyncio
# client at 1 and 100 in flight against the Rust greeter; our Rust greeter and Rust client
# beside them as the reference. BASE_PY and NEW_PY are each a venv's python; unpinned and
# pinned (everything under `taskset -c 0`), REPS reps, every server started afresh each rep
# and the order of the builds swapped each rep. One JSON line per row on stdout;
# `bench/py_ab_report.py` turns them into a table of medians and new ÷ base.
#
#   BASE_PY=/tmp/base/bin/python NEW_PY=/tmp/new/bin/python bash bench/py_ab.sh > rows.jsonl
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
B="${B:-$here/target/release}"
REPS="${REPS:-3}" D="${D:-3}" WARMUP="${WARMUP:-1}"
: "${BASE_PY:?a python with the base build}" "${NEW_PY:?a python with the new build}"
command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# start NAME CMD...: starts a server (pinned as $pre says), sets $addr once it is ready.
start() {
	local name="$1"; shift
	"${pre[@]}" "$@" >"$work/$name.out" 2>"$work/$name.err" &
	for _ in $(seq 200); do grep -q '"ready"' "$work/$name.out" 2>/dev/null && break; sleep 0.05; done
	addr="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/$name.out" | head -1)"
	[ -n "$addr" ] || { echo "$name did not start: $(cat "$work/$name.err")" >&2; exit 1; }
}

# emit LAYOUT REP WORKLOAD WHO RESULT
emit() { echo "{\"layout\":\"$1\",\"rep\":$2,\"workload\":\"$3\",\"who\":\"$4\",\"result\":$5}"; }

wrkrun() {
	"${pre[@]}" wrk -t2 -c64 -d1s -s "$here/wrk/gomicro.lua" "http://$1/" >/dev/null
	"${pre[@]}" wrk -t2 -c64 -d"${D%.*}s" --latency -s "$here/wrk/gomicro.lua" "http://$1/" | python3 "$here/wrk/parse.py" "${D%.*}"
}

for layout in unpinned pinned; do
	pre=(); [ "$layout" = pinned ] && pre=(taskset -c 0)
	for rep in $(seq "$REPS"); do
		order=(base new); [ $((rep % 2)) = 0 ] && order=(new base)
		start "rust-$layout-$rep" "$B/greeter" --addr 127.0.0.1:0; rust="$addr"
		declare -A srv=()
		for who in "${order[@]}"; do
			py="$BASE_PY"; [ "$who" = new ] && py="$NEW_PY"
			start "$who-$layout-$rep" "$py" "$here/py/server.py" --mode async; srv[$who]="$addr"
		done
		emit "$layout" "$rep" "served c=64 (loadgen)" rust "$("${pre[@]}" "$B/loadgen" unary --client micro --addr "$rust" --c 64 --d "$D" --warmup "$WARMUP" | tail -1)"
		emit "$layout" "$rep" "served c=64 (wrk)" rust "$(wrkrun "$rust")"
		for who in "${order[@]}"; do
			emit "$layout" "$rep" "served c=64 (loadgen)" "$who" "$("${pre[@]}" "$B/loadgen" unary --client micro --addr "${srv[$who]}" --c 64 --d "$D" --warmup "$WARMUP" | tail -1)"
			emit "$layout" "$rep" "served c=64 (wrk)" "$who" "$(wrkrun "${srv[$who]}")"
		done
		for c in 1 100; do
			emit "$layout" "$rep" "client c=$c" rust "$("${pre[@]}" "$B/loadgen" unary --client micro --addr "$rust" --c "$c" --d "$D" --warmup "$WARMUP" | tail -1)"
			for who in "${order[@]}"; do
				py="$BASE_PY"; [ "$who" = new ] && py="$NEW_PY"
				emit "$layout" "$rep" "client c=$c" "$who" "$("${pre[@]}" "$py" "$here/py/client.py" --addr "$rust" --c "$c" --d "$D" --warmup "$WARMUP" | tail -1)"
			done
		done
		kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
		unset srv
	done
done
