#!/usr/bin/env bash
# CLI suite: the `micro` binary's unit tests, then the binary against a Rust service and real
# go-micro v5.30.0 and v6.10.0 services (gm5, gm6) over mDNS inside the private network namespace —
# every command, its output text and exit code — `micro bot` against a Slack stand-in on loopback,
# and a shell completion script that loads.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
tests/interop/go/build.sh >/dev/null
# nats-server for `micro --broker nats` (Debian's package), required here.
scripts/deps.sh nats
export MICRO_REQUIRE_NATS=1

pass=0; fail=0; failed=()
step() {
	local name="$1"; shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}

step "cli unit tests (formats, parsing)" cargo test --locked -q -p micro-cli --bins
step "cli vs Rust and go-micro services (netns)" scripts/netns.sh cargo test --locked -q -p micro-cli --test cli -- --test-threads=4
step "micro bot vs a Slack stand-in (netns)" scripts/netns.sh cargo test --locked -q -p micro-cli --test bot
completion() {
	cargo build --locked -q -p micro-cli
	bash -c 'source <("'"$top"'/target/debug/micro" completion bash) && complete -p micro | grep -q _micro'
}
step "bash completion loads" completion

# go-micro #885: without a multicast route mDNS fails at once with what to do, instead of
# "not found" after a timeout. A private namespace whose loopback has no multicast route.
no_multicast() {
	cargo build --locked -q -p micro-cli -p greeter-example
	unshare -n bash -c '
		ip link set lo up
		for cmd in "'"$top"'/target/debug/micro services" "'"$top"'/target/debug/server"; do
			s=$(date +%s%N); out=$(timeout 10 $cmd 2>&1); rc=$?; ms=$(( ($(date +%s%N) - s) / 1000000 ))
			echo "$cmd: rc=$rc in ${ms} ms"
			[ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$ms" -lt 1000 ] || { echo "$out"; exit 1; }
			echo "$out" | grep -q "no multicast route" && echo "$out" | grep -q "choose another registry" || { echo "$out"; exit 1; }
		done'
}
step "no multicast route: mDNS fails within 1 s, saying what to do" no_multicast

echo "cli suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
