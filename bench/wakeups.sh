#!/usr/bin/env bash
# Who wakes whom while a server is under load (issue 18): every `sched_wakeup` in the machine
# during a 3 s run of our loadgen (go-micro's request, 64 in flight, unpinned), counted by
# waking thread and woken thread (names without their numbers) and divided by the run's
# requests. A Rust-served run's threads always have work and almost
# never sleep; a host-served one's runtime threads, host thread and load generator sleep and
# are woken again, which is where its CPU goes idle.
#
#   SERVER=python PY=bench/.venv/bin/python bash bench/wakeups.sh
#   SERVER=node bash bench/wakeups.sh          (ADDON: the Node addon, as bench/thread_cpu.sh)
#   SERVER=rust bash bench/wakeups.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
pre=() # unpinned
. "$here/serve.sh"
serve_greeter
# The whole run is recorded, so its wake-ups divide by the requests it made.
perf record -q -a -e sched:sched_wakeup -o "$work/wk.data" -- \
	"$here/target/release/loadgen" unary --client micro --addr "$a" --c 64 --d 3 --warmup 0 >"$work/load.out" 2>/dev/null
perf script -i "$work/wk.data" -F comm,trace 2>/dev/null >"$work/wk.txt"
python3 - "$work/load.out" "$work/wk.txt" <<'PY'
import collections, json, re, sys
run = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
rate, served = run["rate"], run["requests"]
pairs = collections.Counter()


def name(thread):
    """A thread's name without its number (`micro-rt-12345`, `kworker/0:1`)."""
    return re.sub(r"[-/]?\d+$", "", thread.strip())


for line in open(sys.argv[2]):
    m = re.match(r"\s*(.+?)\s+comm=(.+?)\s+pid=", line)
    if m:
        pairs[(name(m.group(1)), name(m.group(2)))] += 1
print(f"requests/s {rate:.0f} (recorded, all CPUs)")
print(f"  {sum(pairs.values()) / served:.3f} threads woken a request, of which:")
for (w, c), n in pairs.most_common(8):
    print(f"  {n / served:7.3f}  {w} wakes {c}")
PY
