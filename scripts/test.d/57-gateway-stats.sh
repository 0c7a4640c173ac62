#!/usr/bin/env bash
# Gateway stats suite: `micro api --enable_stats` after known traffic — /stats as JSON,
# /metrics as Prometheus text, and the /stats page rendered by headless Chromium (Debian's
# `chromium`, driven over the DevTools protocol by scripts/gateway_stats_check.py), its
# Requests table checked and a screenshot kept in target/artifacts/gateway-stats.png.
# Runs inside the private network namespace: the page must work with no network (no CDN).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"

if ! command -v chromium >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || { echo "57-gateway-stats: please install Debian's chromium" >&2; exit 2; }
	echo "57-gateway-stats: apt-get install chromium" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The DevTools client: the `websockets` package, in a venv of its own under target/.
venv="$top/target/stats-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import websockets.sync.client' 2>/dev/null || "$venv/bin/pip" install -q 'websockets>=13,<18'

pass=0; fail=0; failed=()
step() {
	local name="$1"; shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}

step "stats counters (unit)" cargo test --locked -q -p micro-gateway --lib stats
cargo build --locked -q -p micro-cli
step "stats page in headless Chromium, /stats JSON, /metrics (netns)" scripts/netns.sh \
	"$venv/bin/python" scripts/gateway_stats_check.py --micro "$top/target/debug/micro" \
	--screenshot "$top/target/artifacts/gateway-stats.png"

echo "gateway stats suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
