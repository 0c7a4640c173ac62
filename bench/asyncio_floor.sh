#!/usr/bin/env bash
# Issue 18's asyncio client at 100 in flight beside what asyncio itself allows: against the
# Rust greeter, the Rust client (loadgen), our asyncio client (bench/py/client.py), a pure
# asyncio client on the loop's own sockets with no library (bench/py/raw_asyncio.py sockets),
# and asyncio awaiting futures with no I/O at all (raw_asyncio.py futures). `REPS` rounds
# (3), each row `D` seconds (2) after a 0.5 s warm-up; PIN=1 puts everything on CPU 0.
# Prints each row's calls/s per round and its µs per call over the Rust client's.
#
#   PY=bench/.venv/bin/python bash bench/asyncio_floor.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${PY:-python3}"
reps="${REPS:-3}" d="${D:-2}" c="${C:-100}"
pre=(); [ "${PIN:-0}" = 1 ] && pre=(taskset -c 0)
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. "$here/serve.sh"
SERVER=rust serve_greeter
rate() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["rate"])'; }
for r in $(seq "$reps"); do
	echo "rust $("${pre[@]}" "$here/target/release/loadgen" unary --client micro --addr "$a" --c "$c" --d "$d" --warmup 0.5 | rate)"
	echo "asyncio $("${pre[@]}" "$py" "$here/py/client.py" --addr "$a" --c "$c" --d "$d" --warmup 0.5 | rate)"
	echo "raw-sockets $("${pre[@]}" "$py" "$here/py/raw_asyncio.py" sockets "$a" "$c" "$d" | rate)"
	echo "raw-futures $("${pre[@]}" "$py" "$here/py/raw_asyncio.py" futures "$c" "$d" | rate)"
done >"$work/rows"
python3 - "$work/rows" "$c" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, rate = line.split()
    rows[name].append(float(rate))
rust = statistics.median(rows["rust"])
print(f"{sys.argv[2]} calls in flight, calls/s per round; µs a call (median) over the Rust client's")
for name in ("rust", "asyncio", "raw-sockets", "raw-futures"):
    rs = rows[name]
    med = statistics.median(rs)
    extra = "" if name in ("rust", "raw-futures") else f"  +{1e6 / med - 1e6 / rust:.1f} µs"
    if name == "raw-futures":
        extra = f"  {1e6 / med:.2f} µs an await (no I/O)"
    print(f"  {name:<12} {' '.join(f'{x:9.0f}' for x in rs)}   median {med:9.0f}{extra}")
PY
