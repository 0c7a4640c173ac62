#!/usr/bin/env bash
# System calls, context switches, CPU migrations and CPU a call of the C ABI's asynchronous
# client (`bench/c/client.c`, each call started from the callback of the one before),
# against the Rust greeter, unpinned, two builds alternated RUNS times each (issue 18).
# BASE_LIB and NEW_LIB are directories each holding a release build's `libmicro.so.1`;
# C calls in flight (default 1). One line per run; counts are per call, over the whole
# process's life (warm-up included: calls are estimated as the measured rate times D +
# WARMUP, so a rate that changes during the warm-up skews them slightly).
#
#   BASE_LIB=/tmp/base NEW_LIB=/tmp/new bash bench/c_stat.sh
#   C=100 RUNS=3 BASE_LIB=/tmp/base NEW_LIB=/tmp/new bash bench/c_stat.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${BASE_LIB:?a directory with the base libmicro.so.1}" "${NEW_LIB:?a directory with the new libmicro.so.1}"
C="${C:-1}" D="${D:-2}" WARMUP="${WARMUP:-0.3}" RUNS="${RUNS:-2}"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ln -sf libmicro.so.1 "$work/libmicro.so"
cp -f "$NEW_LIB/libmicro.so.1" "$work/libmicro.so.1"
gcc -O2 -std=c11 -Wall -Wextra -Werror -I"$here/../include" "$here/c/client.c" -L"$work" -lmicro -lpthread -o "$work/c-client"
pre=()
. "$here/serve.sh"
SERVER=rust serve_greeter
events=context-switches,cpu-migrations,task-clock,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write
for _ in $(seq "$RUNS"); do
	for who in base new; do
		lib="$BASE_LIB"; [ "$who" = new ] && lib="$NEW_LIB"
		res="$(LD_LIBRARY_PATH="$lib" perf stat -x, -e "$events" -o "$work/stat" \
			"$work/c-client" --addr "$a" --c "$C" --d "$D" --warmup "$WARMUP" | tail -1)"
		# Calls over the process's life: the rate times the warm-up and the measured seconds.
		python3 "$here/stat_row.py" "$who" "$res" "$work/stat" "$(python3 -c "print($D + $WARMUP)")"
	done
done
