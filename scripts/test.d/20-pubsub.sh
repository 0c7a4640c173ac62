#!/usr/bin/env bash
# Pub/sub suite: the broker unit and Rust<->Rust tests, the NATS broker and the NATS registry
# against Debian's nats-server (installed here if missing), interop with real go-micro
# (gm5/gm4/gm6 over the HTTP broker, gm5/gm6 over NATS, gm5's NATS registry) inside the
# private network namespace, and the example.
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
step "registry NATS (nats-server)" cargo test --locked -q -p micro --test registry_nats
step "NATS NKey and creds (JWT) authentication (nats-server)" cargo test --locked -q -p micro --test nats_nkey
step "interop NATS registry (gm5's registry/nats)" bash -c 'cargo build --locked -q -p greeter-example -p micro-cli && scripts/netns.sh tests/interop/nats_registry.sh'
step "interop pub/sub (gm5, gm4, gm6, NATS)" scripts/netns.sh cargo test --locked -q -p micro-interop --test pubsub -- --nocapture --test-threads=3

# The example over mDNS and the http broker: the subscriber's ready line is polled for, the
# publisher waits for the subscriber to be discoverable and publishes each message once, and
# the subscriber must print exactly those messages (a duplicate or a loss fails the step).
example() {
	cargo build --locked -q -p pubsub-example
	local bin="$top/target/debug/pubsub-example" out rc=0
	out="$(mktemp)"
	scripts/netns.sh bash -c '
		bin="$1" out="$2"
		"$bin" sub demo-topic >"$out" 2>/dev/null & pid=$!
		for _ in $(seq 200); do grep -q "^subscribed to demo-topic" "$out" && break; sleep 0.05; done
		grep -q "^subscribed to demo-topic" "$out" || { kill $pid; echo "subscriber printed no ready line"; exit 1; }
		"$bin" pub demo-topic hi 3 >/dev/null 2>&1 || { kill $pid; echo "pub failed"; exit 1; }
		for _ in $(seq 200); do [ "$(grep -c "demo-topic: Note" "$out")" -ge 3 ] && break; sleep 0.05; done
		sleep 0.5 # the publisher has exited: anything more would be a duplicate still being printed
		kill -TERM $pid; wait $pid || { echo "subscriber exited with $?"; exit 1; }' _ "$bin" "$out" || rc=1
	cat "$out"
	local n ns ids
	n="$(grep -c 'demo-topic: Note' "$out" || true)"
	ns="$(grep -o 'demo-topic: Note { text: "hi", n: [0-9]* }' "$out" | sort -u | wc -l)"
	ids="$(grep -o 'Micro-ID [0-9a-f-]*' "$out" | sort -u | wc -l)"
	rm -f "$out"
	echo "example: $n messages, $ns distinct, $ids distinct Micro-IDs (want 3 of each)"
	[ "$rc" = 0 ] && [ "$n" = 3 ] && [ "$ns" = 3 ] && [ "$ids" = 3 ]
}
step "example pubsub (sub + pub over mDNS/http broker)" example

echo "pubsub suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
