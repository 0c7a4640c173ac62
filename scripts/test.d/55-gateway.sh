#!/usr/bin/env bash
# Gateway suite: `micro api` (the micro-gateway crate) end to end — the crate's unit tests,
# the handlers against in-process services (gateway/tests/handlers.rs), a request's
# allocations (gateway/tests/request_allocations.rs), the auth layer over HTTP
# (gateway/tests/auth.rs), then gateway/tests/api.rs inside the private network namespace: our `micro api` binary
# in front of go-micro v5.30.0 fixtures (gm5 fx-*) and the Rust greeter, and the same
# requests against go-micro's own `micro api` (bin/gomicro) where the two must agree.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
tests/interop/go/build.sh >/dev/null
cargo build --locked -q -p micro-cli -p greeter-example
# Python's and Node's greeters behind the gateway: the test venv (built by the Python suite,
# made here when missing) and the Node addon (dev build, reusing the workspace's).
export MICRO_TEST_PYTHON="$(bindings/python/scripts/venv.sh --reuse)/bin/python"
(cd bindings/node && npm install --silent --no-package-lock --no-audit --no-fund && npm run --silent build:debug) >&2
export MICRO_TEST_NODE_PACKAGE="$top/bindings/node"

pass=0; fail=0; failed=()
step() {
	local name="$1"; shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}

unit() { cargo test --locked -q -p micro-gateway --lib && cargo test --locked -q -p micro-gateway --doc; }
step "gateway unit and doc tests (resolver, errors, CORS, stats, qson, go.api)" unit
step "api, event, http/proxy and web handlers (memory registry and broker, loopback)" \
	cargo test --locked -q -p micro-gateway --test handlers
step "a request shares the registry cache's answer: its allocations do not grow with the service's size" \
	cargo test --locked -q -p micro-gateway --test request_allocations
step "auth: login, expired/revoked/forged/wrong-scope tokens on every call path, persistence, no password anywhere" \
	cargo test --locked -q -p micro-gateway --test auth
step "micro api --auth: the first admin's password printed once, MICRO_ADMIN_PASSWORD, persistence (the binary)" \
	cargo test --locked -q -p micro-cli --test api_auth
step "micro api vs go-micro services and go-micro's micro api (netns)" \
	scripts/netns.sh cargo test --locked -q -p micro-gateway --test api -- --test-threads=4

echo "gateway suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
