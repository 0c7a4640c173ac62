#!/usr/bin/env bash
# Docs suite: the documents say what the code does.
#   links     every relative link and #anchor in README.md, CONTRIBUTING.md, docs/ and the
#             packages' READMEs resolves (scripts/docs_check.py links);
#   rustdoc   `cargo doc` of the library and the gateway with warnings as errors (broken
#             intra-doc links, missing docs are warned by #![warn(missing_docs)]);
#   header    every function in include/micro.h has its comment (scripts/docs_check.py header);
#   tsdoc     every declaration in bindings/node/index.d.ts and every member of its classes,
#             interfaces and object types (each overload too) has a /** … */ comment
#             (scripts/docs_check.py tsdoc);
#   pydoc     every public module, name, method, property and attribute of the Python package
#             has a docstring, and every pyo3 function, class and method of micro._native a ///
#             doc (scripts/docs_check.py pydoc; read from the source, nothing built);
#   snippets  the README's Quick start Python and Node snippets, extracted as written, run
#             inside the private namespace: each language's server with its own client and
#             with the other language's client ("Hello John" every time).
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
out="$top/target/docs-check"
rm -rf "$out" && mkdir -p "$out"
pass=0 failed=()
step() { local name="$1"; shift; if (cd "$top" && "$@") >"$out/$name.log" 2>&1; then echo "ok $name"; pass=$((pass + 1)); else echo "FAIL $name (log: $out/$name.log)"; tail -30 "$out/$name.log"; failed+=("$name"); fi; }

py="$(bindings/python/scripts/venv.sh --reuse)/bin/python"
[ -f bindings/node/micro.node ] || (cd bindings/node && npm install --silent --no-package-lock --no-audit --no-fund && npm run --silent build:debug) >&2
mkdir -p "$out/snippets/node_modules" && ln -sfn "$top/bindings/node" "$out/snippets/node_modules/micro"

rustdoc() { RUSTDOCFLAGS="-D warnings" cargo doc --locked --offline --no-deps -q -p micro -p micro-gateway; }

# pair "SERVER CMD" "CLIENT CMD": the client is retried until the server has registered.
pair() {
	"$top/scripts/netns.sh" bash -c '
		set -u
		cd "$3"
		bash -c "$1" & srv=$!
		trap "kill $srv 2>/dev/null; wait $srv 2>/dev/null" EXIT
		for _ in $(seq 1 100); do
			got="$(bash -c "$2" 2>/dev/null)" && [ -n "$got" ] && break
			kill -0 $srv 2>/dev/null || { echo "server exited"; exit 1; }
			sleep 0.2
		done
		echo "reply: $got"
		[ "$got" = "Hello John" ]' pair "$1" "$2" "$out/snippets"
}

step links python3 scripts/docs_check.py links
step header python3 scripts/docs_check.py header
step tsdoc python3 scripts/docs_check.py tsdoc
step pydoc python3 scripts/docs_check.py pydoc
step rustdoc rustdoc
step snippets-extract python3 scripts/docs_check.py snippets "$out/snippets"
step python-server-python-client pair "$py server.py" "$py client.py"
step node-server-node-client pair "node server.js" "node client.js"
step node-server-python-client pair "node server.js" "$py client.py"
step python-server-node-client pair "$py server.py" "node client.js"

echo "docs suite: $pass passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ "${#failed[@]}" = 0 ]
