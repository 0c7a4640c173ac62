#!/usr/bin/env bash
# Metrics suite: our Prometheus /metrics (Rust, Python, Node) held against go-micro v5.30.0's
# own Prometheus wrapper, inside the private network namespace (tests/interop/metrics.sh).
# Runs after 40-python and 50-node, reusing the Python venv and micro.node they built.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="$top/target"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
command -v curl >/dev/null 2>&1 || { apt-get update -qq >/dev/null; apt-get install -y -qq curl >/dev/null; }
tests/interop/go/build.sh gm5 prom >/dev/null
cargo build --locked -q -p greeter-example
bindings/python/scripts/venv.sh --reuse >/dev/null
[ -f bindings/node/micro.node ] || (cd bindings/node && npm install --silent --no-package-lock && npm run --silent build:debug)
[ -d examples/node/greeter/node_modules ] || (cd examples/node/greeter && npm install --silent --no-package-lock)
venv="$top/target/metrics-venv"
if ! "$venv/bin/python" -c 'import prometheus_client' 2>/dev/null; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q --disable-pip-version-check prometheus-client
fi
METRICS_ARTIFACTS="$top/target" scripts/netns.sh tests/interop/metrics.sh
