#!/usr/bin/env bash
# The demo: a Go greeter (plain go-micro v5) and a Rust greeter (micro) find each other
# over mDNS and call each other, both ways.
#
# As root on a machine whose loopback has no multicast (like CI), it runs inside a private
# network namespace so mDNS never leaves the machine; on a laptop it runs on the LAN as a
# go-micro service would.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"

if [ "${MICRO_NETNS:-}" != "1" ] && [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
	scripts/deps.sh
	cargo build --locked -q -p greeter-example
	exec scripts/netns.sh "$0" "$@"
fi
if [ "${MICRO_NETNS:-}" != "1" ]; then
	scripts/deps.sh
	cargo build --locked -q -p greeter-example
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== starting a Go greeter (go-micro v5.30.0) as 'go.greeter'"
target/go-greeter serve go.greeter 2>/dev/null &
pids+=($!)
echo "== starting a Rust greeter (micro) as 'greeter'"
MICRO_SERVER_NAME=greeter target/debug/server &
pids+=($!)

echo "== Rust client -> Go service"
target/debug/client Alice go.greeter
echo "== Go client -> Rust service"
target/go-greeter call Bob greeter 2>/dev/null
echo "== Rust client -> Rust service"
target/debug/client Carol greeter
echo "demo ok"
