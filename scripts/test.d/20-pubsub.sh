#!/usr/bin/env bash
# Pub/sub suite: the broker unit and Rust<->Rust tests, the NATS broker against Debian's
# nats-server (installed here if missing), interop with real go-micro (gm5/gm4 over the
# HTTP broker, gm5 over NATS) inside the private network namespace, and the example.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq nats-server >/dev/null
fi
export MICRO_REQUIRE_NATS=1
tests/interop/go/build.sh >/dev/null

pass=0; fail=0; failed=()
step() {
	local name="$1"; shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}

step "broker unit tests" cargo test --locked -q -p micro --lib broker
step "broker Rust<->Rust (memory, http)" cargo test --locked -q -p micro --test broker
step "broker NATS (nats-server)" cargo test --locked -q -p micro --test broker_nats -- --nocapture
step "interop pub/sub (gm5, gm4, NATS)" scripts/netns.sh cargo test --locked -q -p micro-interop --test pubsub -- --nocapture --test-threads=3

example() {
	cargo build --locked -q -p pubsub-example
	local bin="$top/target/debug/pubsub-example" out
	out="$(mktemp)"
	scripts/netns.sh bash -c "
		'$bin' sub demo-topic >'$out' 2>/dev/null & pid=\$!
		sleep 1
		'$bin' pub demo-topic hi 2 >/dev/null 2>&1 || { kill \$pid; exit 1; }
		sleep 1; kill -TERM \$pid; wait \$pid || true"
	cat "$out"
	local n
	n="$(grep -c 'demo-topic: Note' "$out" || true)"
	rm -f "$out"
	[ "$n" = 2 ]
}
step "example pubsub (sub + pub over mDNS/http broker)" example

echo "pubsub suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
