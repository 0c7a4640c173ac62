#!/usr/bin/env bash
# CPU per request of each thread of a server under wrk (go-micro's request, 64 connections),
# issue 18: where a host-served call's time goes (runtime thread vs the host's own thread).
# SERVER is `rust` (bench/target/release/greeter), `node` (bench/node/server.js; ADDON and
# PKG as MICRO_NODE_ADDON / MICRO_NODE_PKG; ADDON defaults to the release build bench/run.sh
# leaves in bench/target/micro.node, never bindings/node's own, which the test suite builds
# in debug) or `python` (bench/py/server.py under $PY).
# PIN=1 puts server and wrk on CPU 0. Prints requests/s and, per thread, µs of CPU
# (`perf stat -e task-clock`, 3 s inside a 5 s wrk run) per request.
#
#   SERVER=node PIN=1 bash bench/thread_cpu.sh
#   SERVER=python PY=bench/.venv/bin/python PIN=1 bash bench/thread_cpu.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pre=(); [ "${PIN:-0}" = 1 ] && pre=(taskset -c 0)
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
case "${SERVER:?rust, node or python}" in
rust) "${pre[@]}" "$here/target/release/greeter" >"$work/srv.out" 2>&1 & ;;
node)
	addon="${ADDON:-$here/target/micro.node}"
	[ -f "$addon" ] || { echo "no release build of the Node addon at $addon: run \`ONLY=hostserve bash bench/run.sh\` once, or set ADDON" >&2; exit 2; }
	MICRO_NODE_ADDON="$addon" MICRO_NODE_PKG="${PKG:-}" "${pre[@]}" node "$here/node/server.js" >"$work/srv.out" 2>&1 &
	;;
python) "${pre[@]}" "${PY:-python3}" "$here/py/server.py" >"$work/srv.out" 2>&1 & ;;
*) echo "SERVER must be rust, node or python" >&2; exit 2 ;;
esac
sp=$!
for _ in $(seq 100); do grep -q '"ready"' "$work/srv.out" && break; sleep 0.05; done
a="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/srv.out" | head -1)"
[ -n "$a" ] || { echo "server did not start: $(cat "$work/srv.out")" >&2; exit 1; }
"${pre[@]}" wrk -t2 -c64 -d1s -s "$here/wrk/gomicro.lua" "http://$a/" >/dev/null
"${pre[@]}" wrk -t2 -c64 -d5s -s "$here/wrk/gomicro.lua" "http://$a/" >"$work/wrk.out" &
wp=$!
sleep 1 # inside the wrk run: the count starts after its first second
perf stat -x, -e task-clock --per-thread -p "$sp" -- sleep 3 2>"$work/stat"
wait "$wp"
python3 - "$(awk '/Requests\/sec/{print $2}' "$work/wrk.out")" "$work/stat" <<'PY'
import sys
rps = float(sys.argv[1])
print(f"requests/s {rps:.0f}")
for line in open(sys.argv[2]):
    f = line.strip().split(",")
    if len(f) > 3 and f[3] == "task-clock":
        try:
            ms = float(f[1])
        except ValueError:
            continue  # <not counted>
        print(f"  {f[0]:<28} {ms * 1000 / (rps * 3):6.2f} µs CPU a request")
PY
