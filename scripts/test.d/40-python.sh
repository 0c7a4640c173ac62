#!/usr/bin/env bash
# Python binding suite: builds `micro` with `pip install ./bindings/python` into a venv
# (target/python-venv, bindings/python/scripts/venv.sh), checks the .pyi stubs against the
# native module (mypy.stubtest, no missing-stub allowance) and the package against them
# (mypy --strict), checks a fully annotated user service (bindings/python/tests/typed) with
# mypy --strict and pyright (the decorators keep each handler's type), then runs the pytest
# suite inside scripts/netns.sh (mDNS interop with gm5, gm4 and gm6 and the Rust greeter
# client; docs/python.md's run= snippets; local, protobuf, registry, errors, threads/GIL,
# Ctrl-C, fork, exit and load tests over loopback).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="$top/target"

venv="$(bindings/python/scripts/venv.sh)"

# Stubs must match the native module, and the package must type-check against them.
(cd /tmp && "$venv/bin/python" -m mypy.stubtest micro._native && "$venv/bin/python" -m mypy --strict -p micro)
# A user's fully annotated service type-checks as it is written: no "untyped decorator".
(cd bindings/python/tests/typed && "$venv/bin/python" -m mypy --strict orders.py \
	&& "$venv/bin/pyright" --pythonpath "$venv/bin/python" orders.py)

# Peers: the go-micro harness and the Rust greeter client.
tests/interop/go/build.sh >/dev/null
cargo build -q --locked -p greeter-example

cd bindings/python
MICRO_PY_INTEROP=1 "$top/scripts/netns.sh" "$venv/bin/python" -m pytest -p no:cacheprovider -s -rA tests "$@"
