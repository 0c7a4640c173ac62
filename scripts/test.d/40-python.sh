#!/usr/bin/env bash
# Python binding suite: builds `micro` with `pip install ./bindings/python` into a venv
# (target/python-venv), checks the .pyi stubs against the native module (mypy.stubtest),
# then runs the pytest suite inside scripts/netns.sh (mDNS interop with gm5 and the Rust
# greeter client; local, fork, exit and load tests over loopback).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="$top/target"

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
	apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi
venv="$top/target/python-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
"$venv/bin/pip" install -q "maturin>=1.9.4,<2" pytest mypy typing_extensions
# The one-command install users run (dev profile here: it reuses the workspace build).
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/pip" install -q --force-reinstall --no-deps ./bindings/python

# Stubs must match the native module.
(cd /tmp && "$venv/bin/python" -m mypy.stubtest micro._native --ignore-missing-stub)

# Peers: the go-micro harness and the Rust greeter client.
tests/interop/go/build.sh >/dev/null
cargo build -q --locked -p greeter-example

cd bindings/python
MICRO_PY_INTEROP=1 "$top/scripts/netns.sh" "$venv/bin/python" -m pytest -p no:cacheprovider -s -rA tests "$@"
