#!/usr/bin/env bash
# Sidecar suite: `micro proxy` / `micro sidecar` (gateway/src/sidecar) — the module's unit
# tests and gateway/tests/sidecar.rs in-process (memory registry and broker, a hyper
# neighbour), then tests/sidecar/e2e.sh inside the private network namespace: a Python
# http.server program with no micro binding beside our sidecar, real go-micro v5.30.0 peers
# (gm5), and the CLI through --proxy_address from a second namespace joined by a veth pair.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
tests/interop/go/build.sh >/dev/null
cargo build --locked -q -p micro-cli
need() { command -v "$1" >/dev/null 2>&1; }
if ! need python3 || ! need curl || ! need ip; then
	apt-get update -qq && apt-get install -y -qq python3 curl iproute2 >/dev/null
fi

pass=0; fail=0; failed=()
step() {
	local name="$1"; shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}

step "sidecar unit tests (registry JSON, endpoint paths, neighbour errors)" \
	cargo test --locked -q -p micro-gateway --lib sidecar
step "sidecar in-process: registry API, broker websocket, slow client, neighbour forwarding and health" \
	cargo test --locked -q -p micro-gateway --test sidecar
step "micro proxy with a Python neighbour, go-micro peers and the CLI from another namespace (netns)" \
	scripts/netns.sh tests/sidecar/e2e.sh

echo "sidecar suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
