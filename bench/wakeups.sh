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
case "${SERVER:?rust, node or python}" in
rust) "$here/target/release/greeter" >"$work/srv.out" 2>&1 & ;;
node)
	addon="${ADDON:-$here/target/micro.node}"
	[ -f "$addon" ] || { echo "no release build of the Node addon at $addon: run \`ONLY=hostserve bash bench/run.sh\` once, or set ADDON" >&2; exit 2; }
	MICRO_NODE_ADDON="$addon" node "$here/node/server.js" >"$work/srv.out" 2>&1 &
	;;
python) "${PY:-python3}" "$here/py/server.py" >"$work/srv.out" 2>&1 & ;;
*) echo "SERVER must be rust, node or python" >&2; exit 2 ;;
esac
for _ in $(seq 100); do grep -q '"ready"' "$work/srv.out" && break; sleep 0.05; done
a="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/srv.out" | head -1)"
[ -n "$a" ] || { echo "server did not start: $(cat "$work/srv.out")" >&2; exit 1; }
# The whole run is recorded, so its wake-ups divide by the requests it made.
perf record -q -a -e sched:sched_wakeup -o "$work/wk.data" -- \
	"$here/target/release/loadgen" unary --client micro --addr "$a" --c 64 --d 3 --warmup 0 >"$work/load.out" 2>/dev/null
perf script -i "$work/wk.data" -F comm,trace 2>/dev/null >"$work/wk.txt"
python3 - "$work/load.out" "$work/wk.txt" <<'PY'
import collections, json, re, sys
run = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
rate, served = run["rate"], run["requests"]
pairs = collections.Counter()
for line in open(sys.argv[2]):
    m = re.match(r"\s*(.+?)\s+comm=(.+?)\s+pid=", line)
    if not m:
        continue
    name = lambda s: re.sub(r"[-/]?\d+$", "", s.strip())
    pairs[(name(m.group(1)), name(m.group(2)))] += 1
print(f"requests/s {rate:.0f} (recorded, all CPUs)")
print(f"  {sum(pairs.values()) / served:.3f} threads woken a request, of which:")
for (w, c), n in pairs.most_common(8):
    print(f"  {n / served:7.3f}  {w} wakes {c}")
PY
