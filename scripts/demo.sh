#!/usr/bin/env bash
# The demo: one mesh, five languages. A plain go-micro (v5.30.0) greeter and greeters in
# Rust, Python, Node and C — the last four through micro, in-process, no sidecar — find each
# other over mDNS and call each other, and the `micro` CLI lists and calls them all.
#
# As root on a machine whose loopback has no multicast (like CI), it runs inside a private
# network namespace so mDNS never leaves the machine; on a laptop it runs on the LAN as a
# go-micro service would. `--quick` skips the Python, Node and C builds (Go and Rust only).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="$top/target"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

build() {
	scripts/deps.sh
	cargo build --locked -q -p greeter-example -p micro-cli
	[ "$quick" = 1 ] && return 0
	echo "== building the Python, Node and C layers (first time: a few minutes)"
	cargo build --locked -q -p micro-ffi
	cc -std=c99 -Iinclude examples/c/greeter/server.c -Ltarget/debug -lmicro -lpthread -Wl,-rpath,"$top/target/debug" -o target/c-greeter-server
	cc -std=c99 -Iinclude examples/c/greeter/client.c -Ltarget/debug -lmicro -lpthread -Wl,-rpath,"$top/target/debug" -o target/c-greeter-client
	if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
		apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
	fi
	[ -x target/python-venv/bin/python ] || python3 -m venv target/python-venv
	target/python-venv/bin/pip install -q "maturin>=1.9.4,<2"
	MATURIN_PEP517_ARGS="--profile dev" target/python-venv/bin/pip install -q --force-reinstall --no-deps ./bindings/python
	(cd bindings/node && npm install --silent --no-package-lock --no-audit --no-fund && npm run --silent build:debug)
	(cd examples/node/greeter && npm install --silent --no-package-lock --no-audit --no-fund)
}

if [ "${MICRO_NETNS:-}" != "1" ]; then
	build
	if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
		exec scripts/netns.sh "$0" "$@"
	fi
fi

micro=target/debug/micro
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
serve() { "$@" >/dev/null 2>&1 & pids+=($!); }
# Waits (bounded) until the registry lists a service: discovery, not a sleep.
found() {
	for _ in $(seq 1 50); do
		"$micro" get service "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "demo: $1 never appeared in the registry" >&2
	return 1
}
# Runs one call and prints its reply; a call that fails or does not greet ends the demo with
# its error, so "demo ok" means every language reached every other it called.
greet() {
	local label="$1" out err
	shift
	err="$(mktemp)"
	if ! out="$("$@" 2>"$err")" || [[ "$out" != *Hello* ]]; then
		echo "demo: $label failed: $out" >&2
		cat "$err" >&2
		exit 1
	fi
	rm -f "$err"
	printf '%-34s %s\n' "$label" "$out"
}

echo "== starting greeters"
serve target/go-greeter serve go.greeter
serve target/debug/server
services=(go.greeter greeter)
if [ "$quick" = 0 ]; then
	serve target/python-venv/bin/python examples/python/greeter/server.py py.greeter
	serve node examples/node/greeter/server.js node.greeter
	serve target/c-greeter-server c.greeter
	services+=(py.greeter node.greeter c.greeter)
fi
for s in "${services[@]}"; do found "$s"; done

echo "== micro list services"
"$micro" list services
echo "== calls across languages"
greet "Rust client   -> Go (go-micro)" target/debug/client Alice go.greeter
greet "Go client     -> Rust" target/go-greeter call Bob greeter
if [ "$quick" = 0 ]; then
	greet "Python client -> Go (go-micro)" target/python-venv/bin/python examples/python/greeter/client.py Carol go.greeter
	greet "Node client   -> Python" node examples/node/greeter/client.js Dave py.greeter
	greet "C client      -> Node" target/c-greeter-client Erin node.greeter
	greet "Go client     -> C" target/go-greeter call Frank c.greeter
	greet "Python client -> Rust" target/python-venv/bin/python examples/python/greeter/client.py Grace greeter
fi
greet "micro CLI     -> Go (go-micro)" "$micro" --output raw call go.greeter Greeter.Hello '{"name":"Heidi"}'
echo "demo ok"
