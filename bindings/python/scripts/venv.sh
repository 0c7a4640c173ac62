#!/usr/bin/env bash
# The Python binding's test virtualenv, target/python-venv: creates it (python3 -m venv,
# installing python3-venv if needed), installs the test tools (maturin, pytest, mypy,
# pyright — its PyPI wrapper with the nodejs extra, which runs pyright's npm package on a Node
# from a wheel —, protobuf) and the package itself with the one command users run, `pip install
# ./bindings/python` (dev profile: it reuses the workspace build). Prints the venv's path.
#
#   bindings/python/scripts/venv.sh           install (or reinstall) the package: 40-python.sh
#   bindings/python/scripts/venv.sh --reuse   only if `import micro` fails there: 50-node.sh
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$top/target}"
venv="$top/target/python-venv"

if [ "${1:-}" = "--reuse" ] && [ -x "$venv/bin/python" ] && (cd /tmp && "$venv/bin/python" -c 'import micro' 2>/dev/null); then
	echo "$venv"
	exit 0
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
	apt-get update -qq >&2 && apt-get install -y -qq python3-venv >/dev/null
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >&2
"$venv/bin/pip" install -q "maturin>=1.9.4,<2" pytest mypy "pyright[nodejs]" typing_extensions protobuf >&2
MATURIN_PEP517_ARGS="--profile dev" "$venv/bin/pip" install -q --force-reinstall --no-deps ./bindings/python >&2
echo "$venv"
