#!/usr/bin/env bash
# A/B of a binding's client, issue 18: our Rust client, then two builds of the binding,
# calling the Rust greeter with 1 and 100 calls in flight, unpinned and pinned (client and
# server under `taskset -c 0`), REPS reps, the order of the three clients rotated each rep.
# One JSON line per row on stdout; `bench/sync_ab_report.py` turns them into a table and the
# added cost per call over the Rust client.
# - CLIENT=sync (default): the blocking Python client (`call_sync`); BASE_PY and NEW_PY are
#   each a venv's python. CLIENT=asyncio: the same venvs' asyncio client (`await call`).
# - CLIENT=node: the Node client (`bench/node/client.js`); BASE_ADDON and NEW_ADDON are built
#   `micro.node` files (a release build of bindings/node, copied); BASE_PKG and NEW_PKG, when
#   set, the package directories whose JavaScript each side runs (bindings/node otherwise).
# - CLIENT=c: the C ABI's asynchronous `micro_client_call` (`bench/c/client.c`, each call
#   started from the callback of the one before); BASE_LIB and NEW_LIB are directories each
#   holding a release build's `libmicro.so.1` (`cargo build --release -p micro-ffi`, copied).
#
#   BASE_PY=/tmp/base/bin/python NEW_PY=/tmp/new/bin/python bash bench/sync_ab.sh > rows.jsonl
#   CLIENT=node BASE_ADDON=/tmp/base.node NEW_ADDON=/tmp/new.node bash bench/sync_ab.sh > rows.jsonl
#   CLIENT=c BASE_LIB=/tmp/base NEW_LIB=/tmp/new bash bench/sync_ab.sh > rows.jsonl
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
B="${B:-$here/target/release}"
REPS="${REPS:-3}" D="${D:-2}" WARMUP="${WARMUP:-0.5}"
: "${CLIENT:=sync}"
case "$CLIENT" in
sync | asyncio) : "${BASE_PY:?a python with the base build}" "${NEW_PY:?a python with the new build}" ;;
node) : "${BASE_ADDON:?a base micro.node}" "${NEW_ADDON:?a new micro.node}" ;;
c) : "${BASE_LIB:?a directory with the base libmicro.so.1}" "${NEW_LIB:?a directory with the new libmicro.so.1}" ;;
*) echo "CLIENT must be sync, asyncio, node or c, got $CLIENT" >&2; exit 2 ;;
esac
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
if [ "$CLIENT" = c ]; then
	ln -sf libmicro.so.1 "$work/libmicro.so"
	cp -f "$NEW_LIB/libmicro.so.1" "$work/libmicro.so.1"
	gcc -O2 -std=c11 -Wall -Wextra -Werror -I"$here/../include" "$here/c/client.c" -L"$work" -lmicro -lpthread -o "$work/c-client"
fi

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
				load=(--addr "$addr" --c "$c" --d "$D" --warmup "$WARMUP")
				case "$CLIENT/$who" in
				*/rust) cmd=("$B/loadgen" unary --client micro "${load[@]}") ;;
				sync/base) cmd=("$BASE_PY" "$here/py/client.py" --sync "${load[@]}") ;;
				sync/new) cmd=("$NEW_PY" "$here/py/client.py" --sync "${load[@]}") ;;
				asyncio/base) cmd=("$BASE_PY" "$here/py/client.py" "${load[@]}") ;;
				asyncio/new) cmd=("$NEW_PY" "$here/py/client.py" "${load[@]}") ;;
				node/base) cmd=(env MICRO_NODE_ADDON="$BASE_ADDON" MICRO_NODE_PKG="${BASE_PKG:-}" node "$here/node/client.js" "${load[@]}") ;;
				node/new) cmd=(env MICRO_NODE_ADDON="$NEW_ADDON" MICRO_NODE_PKG="${NEW_PKG:-}" node "$here/node/client.js" "${load[@]}") ;;
				c/base) cmd=(env LD_LIBRARY_PATH="$BASE_LIB" "$work/c-client" "${load[@]}") ;;
				c/new) cmd=(env LD_LIBRARY_PATH="$NEW_LIB" "$work/c-client" "${load[@]}") ;;
				esac
				res="$("${pre[@]}" "${cmd[@]}" | tail -1)"
				echo "{\"layout\":\"$layout\",\"c\":$c,\"rep\":$rep,\"client\":\"$who\",\"result\":$res}"
			done
		done
	done
	kill "$gpid"; wait "$gpid" 2>/dev/null || true
done
