#!/usr/bin/env bash
# Keeps bench/ from rotting: builds the benchmark workspace (Rust and the go-micro side) and
# runs one 2-second workload (our client -> our greeter, loopback, explicit address).
# The full benchmark is `bash bench/run.sh`; it is not part of the test suite.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
start=$(date +%s)
# The hosts' rows too, on the builds the Python and Node suites made (debug: a few hundred
# calls each, to prove they run, not how fast).
py="$top/target/python-venv/bin/python"
[ -x "$py" ] && "$py" -c 'import micro' 2>/dev/null || py=""
node_ok=0
[ -f "$top/bindings/node/micro.node" ] && command -v node >/dev/null && node_ok=1
if D=2 WARMUP=0.5 ONLY=smoke SMOKE_PY="$py" SMOKE_NODE="$node_ok" bash "$top/bench/run.sh"; then
	echo "bench-smoke: 1 passed, 0 failed ($(( $(date +%s) - start )) s)"
else
	echo "bench-smoke: 0 passed, 1 failed" >&2
	exit 1
fi
