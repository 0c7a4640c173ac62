#!/usr/bin/env bash
# CPU per request of each thread of a server under wrk (go-micro's request, 64 connections),
# issue 18: where a host-served call's time goes (runtime thread vs the host's own thread).
# SERVER is `rust` (bench/target/release/greeter), `node` (bench/node/server.js; ADDON and
# PKG as MICRO_NODE_ADDON / MICRO_NODE_PKG; ADDON defaults to the release build bench/run.sh
# leaves in bench/target/micro.node, never bindings/node's own, which the test suite builds
# in debug) or `python` (bench/py/server.py under $PY).
# PIN=1 puts server and load generator on CPU 0. LOAD=loadgen sends the load with our own
# loadgen (bench/target/release/loadgen, go-micro's request through our Rust client, 64 in
# flight) instead of wrk, and counts its threads too. Prints requests/s and, per thread, µs
# of CPU (`perf stat -e task-clock`, 3 s inside a 5 s run) per request, with its context
# switches and futex calls (a thread sleeping on a lock or waking one) per request, the idle
# share of the CPUs it ran on and the threads woken a request.
#
#   SERVER=node PIN=1 bash bench/thread_cpu.sh
#   SERVER=python PY=bench/.venv/bin/python PIN=1 bash bench/thread_cpu.sh
#   SERVER=python PY=bench/.venv/bin/python LOAD=loadgen PIN=1 bash bench/thread_cpu.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pre=(); [ "${PIN:-0}" = 1 ] && pre=(taskset -c 0)
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. "$here/serve.sh"
serve_greeter
case "${LOAD:-wrk}" in
wrk)
	"${pre[@]}" wrk -t2 -c64 -d1s -s "$here/wrk/gomicro.lua" "http://$a/" >/dev/null
	"${pre[@]}" wrk -t2 -c64 -d5s -s "$here/wrk/gomicro.lua" "http://$a/" >"$work/load.out" &
	;;
loadgen)
	"${pre[@]}" "$here/target/release/loadgen" unary --client micro --addr "$a" --c 64 --d 5 --warmup 0 >"$work/load.out" &
	;;
*) echo "LOAD must be wrk or loadgen" >&2; exit 2 ;;
esac
lp=$!
sleep 1 # inside the run: the count starts after its first second
grep '^cpu' /proc/stat >"$work/cpu.before"
perf stat -x, -e task-clock,context-switches,syscalls:sys_enter_futex --per-thread -p "$sp,$lp" -- sleep 3 2>"$work/stat" &
pp=$!
perf stat -x, -a -e sched:sched_wakeup -- sleep 3 2>"$work/wakeups" &
wp=$!
ls "/proc/$lp/task" >"$work/load.tids" 2>/dev/null || true
wait "$pp"
wait "$wp" || true
grep '^cpu' /proc/stat >"$work/cpu.after"
wait "$lp"
python3 - "$work/load.out" "$work/stat" "$work/load.tids" "$work/cpu.before" "$work/cpu.after" "${PIN:-0}" "$work/wakeups" <<'PY'
import json, re, sys
out = open(sys.argv[1]).read()
m = re.search(r"Requests/sec:\s*([0-9.]+)", out)
rps = float(m.group(1)) if m else json.loads(out.strip().splitlines()[-1])["rate"]
print(f"requests/s {rps:.0f}")
load = set(open(sys.argv[3]).read().split())
rows = {}
for line in open(sys.argv[2]):
    f = line.strip().split(",")
    if len(f) <= 3:
        continue
    try:
        v = float(f[1])
    except ValueError:
        continue  # <not counted>
    who = "load" if f[0].rsplit("-", 1)[-1] in load else "server"
    rows.setdefault(f"{who} {f[0]}", {})[f[3]] = v
for thread, r in rows.items():
    us = r.get("task-clock", 0) * 1000 / (rps * 3)
    cs = r.get("context-switches", 0) / (rps * 3)
    # futex calls: a thread that sleeps on a lock, or wakes one sleeping on it.
    fx = r.get("syscalls:sys_enter_futex", 0) / (rps * 3)
    print(f"  {thread:<34} {us:6.2f} µs CPU, {cs:5.2f} context switches, {fx:5.3f} futex calls a request")
# Idle time of the CPUs the run had (CPU 0 pinned, all of them unpinned) over the same
# window, from /proc/stat (idle + iowait): a host-served run that leaves CPU idle is waiting
# on its hand-off, not short of CPU.
def ticks(path):
    return {f[0]: [int(x) for x in f[1:]] for f in (l.split() for l in open(path))}
before, after = ticks(sys.argv[4]), ticks(sys.argv[5])
cpu = "cpu0" if sys.argv[6] == "1" else "cpu"
d = [a - b for a, b in zip(after[cpu], before[cpu])]
print(f"  idle {100 * (d[3] + d[4]) / max(1, sum(d[:8])):.1f}% of {'CPU 0' if cpu == 'cpu0' else 'all CPUs'}")
# Threads woken in the whole machine (each a sleep ended: a host thread waiting for its next
# batch, a runtime worker parked), per request.
for line in open(sys.argv[7]):
    f = line.strip().split(",")
    if len(f) > 2 and f[2] == "sched:sched_wakeup":
        try:
            print(f"  {float(f[0]) / (rps * 3):.3f} threads woken a request (all CPUs)")
        except ValueError:
            print("  threads woken: not counted (perf cannot read sched:sched_wakeup here)")
PY
