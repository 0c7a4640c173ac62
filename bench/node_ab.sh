#!/usr/bin/env bash
# A/B of two builds of the Node addon serving the bench greeter (bench/node/server.js), issue
# 18: wrk (go-micro's request) and our loadgen at 64 in flight, unpinned and pinned (server
# and load under `taskset -c 0`), REPS reps, the order of the builds swapped each rep, each
# server started afresh. BASE_ADDON and NEW_ADDON are built `micro.node` files (a release
# build of bindings/node, copied). BASE_PKG and NEW_PKG, when set, are copies of the package
# (bindings/node's lib/, index.js, package.json) for an A/B of its JavaScript; unset, both
# use bindings/node. One JSON line per server run on stdout.
#
#   BASE_ADDON=/tmp/base.node NEW_ADDON=/tmp/new.node bash bench/node_ab.sh > rows.jsonl
#   BASE_ADDON=$A NEW_ADDON=$A BASE_PKG=/tmp/base-pkg NEW_PKG=bindings/node bash bench/node_ab.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
B="${B:-$here/target/release}"
REPS="${REPS:-3}" D="${D:-3}"
: "${BASE_ADDON:?a base micro.node}" "${NEW_ADDON:?a new micro.node}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for layout in unpinned pinned; do
	pre=(); [ "$layout" = pinned ] && pre=(taskset -c 0)
	for rep in $(seq "$REPS"); do
		order=(base new); [ $((rep % 2)) = 0 ] && order=(new base)
		for who in "${order[@]}"; do
			addon="$BASE_ADDON" pkg="${BASE_PKG:-}"; [ "$who" = new ] && addon="$NEW_ADDON" pkg="${NEW_PKG:-}"
			[ -z "$pkg" ] || pkg="$(cd "$pkg" && pwd)"
			MICRO_NODE_ADDON="$addon" MICRO_NODE_PKG="$pkg" "${pre[@]}" node "$here/node/server.js" >"$work/srv.out" 2>&1 &
			sp=$!
			for _ in $(seq 100); do grep -q '"ready"' "$work/srv.out" && break; sleep 0.05; done
			a="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/srv.out" | head -1)"
			[ -n "$a" ] || { echo "node server did not start: $(cat "$work/srv.out")" >&2; exit 1; }
			"${pre[@]}" wrk -t2 -c64 -d1s -s "$here/wrk/gomicro.lua" "http://$a/" >/dev/null
			w="$("${pre[@]}" wrk -t2 -c64 -d"${D}s" --latency -s "$here/wrk/gomicro.lua" "http://$a/" | python3 "$here/wrk/parse.py" "$D")"
			l="$("${pre[@]}" "$B/loadgen" unary --client micro --addr "$a" --c 64 --d "$D" --warmup 1 | tail -1)"
			echo "{\"layout\":\"$layout\",\"rep\":$rep,\"who\":\"$who\",\"wrk\":$w,\"loadgen\":$l}"
			kill "$sp"; wait "$sp" 2>/dev/null || true
		done
	done
done
