#!/usr/bin/env bash
# Trace suite: one OpenTelemetry trace from go-micro v5.30.0's OpenTelemetry wrapper through
# Python, Node and Rust, every span received and checked, inside the private network
# namespace (tests/interop/trace.sh). Builds what it needs outside the namespace (Go modules
# from the proxy, PyPI's opentelemetry-proto into target/trace-venv), reusing the Python venv
# and micro.node that 40-python and 50-node build, by the same commands.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="$top/target"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
tests/interop/go/build.sh otel >/dev/null
cargo build --locked -q -p greeter-example -p pubsub-example
bindings/python/scripts/venv.sh --reuse >/dev/null
[ -f bindings/node/micro.node ] || (cd bindings/node && npm install --silent --no-package-lock && npm run --silent build:debug)
venv="$top/target/trace-venv"
if ! "$venv/bin/python" -c 'import opentelemetry.proto' 2>/dev/null; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q --disable-pip-version-check "opentelemetry-proto==1.38.0"
fi
TRACE_ARTIFACTS="$top/target" scripts/netns.sh tests/interop/trace.sh
