#!/usr/bin/env bash
# Node binding suite: builds the native module (`npm run build:debug` = cargo build -p
# micro-node, copied to bindings/node/micro.node), type-checks index.d.ts with tsc, proves
# `npm install ./bindings/node` from another project with no micro.node built yet (npm's
# install hook builds it) + require/import, makes sure the Python binding is in
# target/python-venv (the same venv 40-python.sh uses, created here if missing), then runs
# the `node --test` suite inside scripts/netns.sh (mDNS interop with gm5, gm4 and gm6, the
# Rust greeter client and the Python binding; docs/node.md's run= snippets; local, errors,
# env, lifecycle, types and load tests over loopback)
# and the greeter example against gm5.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="$top/target"

node_major() { node -e 'console.log(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null || [ "$(node_major)" -lt 20 ]; then
	apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
[ "$(node_major)" -ge 20 ] || { echo "50-node: Node 20+ required, found $(node --version)" >&2; exit 1; }
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# npm's install hook (scripts/install.js) builds the dev profile here, reusing the workspace build.
export MICRO_NODE_PROFILE=debug

# Build (dev profile: reuses the workspace build) and dev tools (typescript, @types/node).
(cd bindings/node && npm install --silent --no-package-lock && npm run --silent build:debug)
(cd bindings/node && npx tsc -p test/tsconfig.json)

# The one-command install users run, from another project, as from a fresh clone: no
# micro.node yet, so npm's install hook builds it; require and import both work.
rm -f bindings/node/micro.node
proj="$top/target/node-install-check"
rm -rf "$proj" && mkdir -p "$proj"
(cd "$proj" && npm init -y >/dev/null && npm install --silent --no-package-lock "micro@file:$top/bindings/node" \
	&& node -e 'const m = require("micro"); if (typeof m.Service !== "function") process.exit(1)' \
	&& node --input-type=module -e 'import micro, { Client } from "micro"; if (micro.Client !== Client) process.exit(1)')
[ -f bindings/node/micro.node ] || { echo "50-node: npm install did not build micro.node" >&2; exit 1; }
echo "50-node: npm install micro@file:./bindings/node (built micro.node; the package is micro-mesh), require('micro') and import micro from 'micro': ok"

# The Python binding, for the test where it calls a Node service (reused if installed).
bindings/python/scripts/venv.sh --reuse >/dev/null

# Peers: the go-micro harness and the Rust greeter client; the example's dependency link.
tests/interop/go/build.sh >/dev/null
cargo build -q -p greeter-example
(cd examples/node/greeter && npm install --silent --no-package-lock)

cd bindings/node
MICRO_NODE_INTEROP=1 "$top/scripts/netns.sh" node --test --test-reporter=spec test/
"$top/scripts/netns.sh" bash "$top/examples/node/greeter/check.sh"
