#!/usr/bin/env bash
# Keeps bench/ from rotting: builds the benchmark workspace (Rust and the go-micro side) and
# runs one 2-second workload (our client -> our greeter, loopback, explicit address).
# The full benchmark is `bash bench/run.sh`; it is not part of the test suite.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
start=$(date +%s)
if D=2 WARMUP=0.5 ONLY=smoke bash "$top/bench/run.sh"; then
	echo "bench-smoke: 1 passed, 0 failed ($(( $(date +%s) - start )) s)"
else
	echo "bench-smoke: 0 passed, 1 failed" >&2
	exit 1
fi
