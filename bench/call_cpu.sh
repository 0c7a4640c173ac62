#!/usr/bin/env bash
# CPU per call inside the client at one call in flight, by layer (issue 18): our Rust
# client, and each build's native call and Python call (`bench/py/call_cpu.py`), against the
# Rust greeter, REPS rounds with the builds' order alternating, pinned (client and greeter
# on CPU 0, the default) or not (PIN=0). Prints the JSON rows on stderr and, on stdout, the
# median of each layer and what the Python layer and the native call add.
# CLIENT=sync (default) or asyncio; NEW_PY a venv's python with the build to measure; BASE_PY
# (optional) one with the build to compare it with.
#
#   NEW_PY=bench/.venv/bin/python bash bench/call_cpu.sh
#   BASE_PY=/tmp/base/bin/python NEW_PY=bench/.venv/bin/python CLIENT=asyncio bash bench/call_cpu.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
B="${B:-$here/target/release}"
REPS="${REPS:-3}" N="${N:-15000}" LOOPS="${LOOPS:-3}"
: "${CLIENT:=sync}" "${NEW_PY:?a venv python with the build to measure}"
case "$CLIENT" in sync | asyncio) ;; *) echo "CLIENT must be sync or asyncio, got $CLIENT" >&2; exit 2 ;; esac
pre=(); [ "${PIN:-1}" = 1 ] && pre=(taskset -c 0)
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"${pre[@]}" "$B/greeter" --addr 127.0.0.1:0 >"$work/greeter.out" 2>"$work/greeter.err" &
for _ in $(seq 200); do grep -q '"ready"' "$work/greeter.out" 2>/dev/null && break; sleep 0.05; done
addr="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/greeter.out" | head -1)"
[ -n "$addr" ] || { echo "greeter did not start: $(cat "$work/greeter.err")" >&2; exit 1; }
builds=(new); [ -n "${BASE_PY:-}" ] && builds=(base new)
for rep in $(seq "$REPS"); do
	order=("${builds[@]}"); [ $((rep % 2)) = 0 ] && [ "${#builds[@]}" = 2 ] && order=(new base)
	"${pre[@]}" "$NEW_PY" "$here/py/call_cpu.py" --addr "$addr" --loadgen "$B/loadgen" --loops 1 --label rust
	for who in "${order[@]}"; do
		py="$NEW_PY"; [ "$who" = base ] && py="$BASE_PY"
		"${pre[@]}" "$py" "$here/py/call_cpu.py" --addr "$addr" --"$CLIENT" --n "$N" --loops "$LOOPS" --label "$who"
	done
done | tee "$work/rows.jsonl" >&2
python3 - "$work/rows.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by: dict[tuple[str, str], list[float]] = {}
for r in rows:
    by.setdefault((r["label"], r["layer"]), []).append(r["cpu_us"])
med = {k: statistics.median(v) for k, v in by.items()}
rust = med.get(("rust", "rust"))
print(f"CPU µs per call, median of {len(by.get(('rust', 'rust'), []))} (min-max)")
for (label, layer), v in sorted(by.items()):
    print(f"  {label:5} {layer:7} {statistics.median(v):6.2f}  ({min(v):.2f}-{max(v):.2f})")
for label in ("base", "new"):
    if (label, "client") in med and (label, "native") in med:
        py = med[(label, "client")] - med[(label, "native")]
        nat = med[(label, "native")] - rust if rust is not None else float("nan")
        print(f"  {label}: Python layer {py:.2f} µs, native call over the Rust client {nat:.2f} µs")
PY
