#!/usr/bin/env bash
# CLI suite: the `micro` binary's unit tests, then the binary against a Rust service and a
# real go-micro v5.30.0 service (gm5) over mDNS inside the private network namespace —
# every command, its output text and exit code — and a shell completion script that loads.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
tests/interop/go/build.sh >/dev/null

pass=0; fail=0; failed=()
step() {
	local name="$1"; shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}

step "cli unit tests (formats, parsing)" cargo test --locked -q -p micro-cli --bins
step "cli vs Rust and go-micro services (netns)" scripts/netns.sh cargo test --locked -q -p micro-cli --test cli -- --test-threads=4
completion() {
	cargo build --locked -q -p micro-cli
	bash -c 'source <("'"$top"'/target/debug/micro" completion bash) && complete -p micro | grep -q _micro'
}
step "bash completion loads" completion

echo "cli suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
