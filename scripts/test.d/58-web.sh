#!/usr/bin/env bash
# Web suite: `micro web` / `micro server` (micro_gateway::web) — the dashboard's unit tests,
# gateway/tests/web.rs over HTTP (pages, the registry's server-sent events, call forms and
# go-micro errors, the terminal, the reverse proxy to real HTTP and websocket apps with
# X-Micro-Web-Base-Path, micro server's gateway beside the dashboard), then the dashboard in
# Debian's headless Chromium (scripts/web_check.py over the DevTools protocol) against live
# Rust, go-micro, Python and Node services inside the private network namespace, with a
# screenshot per step in target/artifacts/web-*.png — ending with `micro server` signing the
# browser in: a wrong password refused on the page, a call outside the account's scopes shown
# as the 403 on the call form. Set WEB_BINDINGS=0 to leave the Python
# and Node greeters out (they need the Python venv and the Node addon built).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"

if ! command -v chromium >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || { echo "58-web: please install Debian's chromium" >&2; exit 2; }
	echo "58-web: apt-get install chromium" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The DevTools client: the `websockets` package, in the venv the stats suite uses.
venv="$top/target/stats-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import websockets.sync.client' 2>/dev/null || "$venv/bin/pip" install -q 'websockets>=13,<18'

tests/interop/go/build.sh >/dev/null
cargo build --locked -q -p micro-cli -p greeter-example
bindings=()
if [ "${WEB_BINDINGS:-1}" != 0 ]; then
	python="$(bindings/python/scripts/venv.sh --reuse)/bin/python"
	(cd bindings/node && npm install --silent --no-package-lock --no-audit --no-fund && npm run --silent build:debug) >&2
	bindings=(--python "$python" --node-package "$top/bindings/node")
fi

pass=0; fail=0; failed=()
step() {
	local name="$1"; shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}

step "dashboard unit tests (proxy routes, names, console)" cargo test --locked -q -p micro-gateway --lib web
step "dashboard over HTTP: pages, events, forms, terminal, proxy, websockets (loopback)" \
	cargo test --locked -q -p micro-gateway --test web
step "micro web in headless Chromium with live Rust, go-micro, Python and Node services (netns)" \
	scripts/netns.sh "$venv/bin/python" scripts/web_check.py --micro "$top/target/debug/micro" \
	--greeter "$top/target/debug/server" --gm5 "$top/tests/interop/go/bin/gm5" \
	--artifacts "$top/target/artifacts" "${bindings[@]}"

echo "web suite: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
