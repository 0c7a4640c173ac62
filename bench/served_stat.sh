#!/usr/bin/env bash
# System calls, context switches and CPU a served call costs the server process: the bench
# greeter served by $SERVER (rust, node or python; see bench/serve.sh), our loadgen at C calls
# in flight (default 64) for D seconds, `perf stat -p` on the server over the same seconds.
# Two builds alternated RUNS times each (issue 18): for node, BASE_ADDON and NEW_ADDON (built
# `micro.node` files); for python, BASE_PY and NEW_PY (interpreters of venvs with each build
# installed); for rust, one build (both rows alike). PIN=1 puts server and load under
# `taskset -c 0`. One line per run; counts are per call (calls = the requests the loadgen
# completed in the window).
#
#   SERVER=node BASE_ADDON=/tmp/base.node NEW_ADDON=/tmp/new.node PIN=1 bash bench/served_stat.sh
#   SERVER=python BASE_PY=/tmp/a/bin/python NEW_PY=bench/.venv/bin/python bash bench/served_stat.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
B="${B:-$here/target/release}"
C="${C:-64}" D="${D:-3}" RUNS="${RUNS:-3}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
pre=(); [ "${PIN:-0}" = 1 ] && pre=(taskset -c 0)
. "$here/serve.sh"
events=context-switches,cpu-migrations,task-clock,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write
for _ in $(seq "$RUNS"); do
	for who in base new; do
		case "$SERVER" in
		node) ADDON="$BASE_ADDON"; [ "$who" = new ] && ADDON="$NEW_ADDON" ;;
		python) PY="$BASE_PY"; [ "$who" = new ] && PY="$NEW_PY" ;;
		esac
		serve_greeter
		"${pre[@]}" "$B/loadgen" unary --client micro --addr "$a" --c "$C" --d 1 --warmup 0 >/dev/null
		perf stat -x, -e "$events" -o "$work/stat" -p "$sp" -- sleep "$D" &
		ps=$!
		res="$("${pre[@]}" "$B/loadgen" unary --client micro --addr "$a" --c "$C" --d "$D" --warmup 0 | tail -1)"
		wait "$ps"
		kill "$sp"; wait "$sp" 2>/dev/null || true
		python3 "$here/stat_row.py" "$who" "$res" "$work/stat"
	done
done
