#!/usr/bin/env bash
# Install suite: each host installed from built artifacts into a fresh place with no access
# to the source tree, as a user would, then its greeter run there (inside the private network
# namespace: mDNS):
#   C       ffi/install.sh PREFIX; the C greeter built against the installed copy by
#           pkg-config and by CMake (find_package(micro)), shared and static, and run;
#   Python  the wheel maturin builds (abi3, manylinux) installed into a fresh venv with no
#           cargo on PATH; examples/python/greeter's server and client run from a copy;
#   Node    scripts/package.js's two packages (micro-mesh and its per-platform package)
#           installed into a fresh project as `micro@npm:`-style alias; the Node greeter runs;
#   CLI     `cargo install --path cli` into a fresh root; `micro completion` for each shell.
# Builds use the dev profile (the workspace build), to keep CI short; the documented
# commands in the packages' READMEs use --release and are otherwise the same.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export PATH="$HOME/.cargo/bin:$PATH"
out="$top/target/install-check"
rm -rf "$out" && mkdir -p "$out"
pass=0 failed=()
step() { local name="$1"; shift; if (cd "$top" && "$@") >"$out/$name.log" 2>&1; then echo "ok $name"; pass=$((pass + 1)); else echo "FAIL $name (log: $out/$name.log)"; tail -30 "$out/$name.log"; failed+=("$name"); fi; }

need=()
for t in cmake:cmake pkg-config:pkg-config gcc:gcc; do command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}"); done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ "${#need[@]}" -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
cargo build --locked -q -p micro-ffi -p micro-node -p micro-cli || { echo "FAIL build"; exit 1; }

# A service and its client, both from the installed copy, inside one private namespace:
# the client is retried until the server has registered (each try is a real mDNS lookup).
greet() { # greet "SERVER CMD" "CLIENT CMD" EXPECTED
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

c_install() {
	local prefix="$out/c-prefix"
	MICRO_FFI_LIBDIR="$top/target/debug" ffi/install.sh "$prefix" &&
		ls -l "$prefix/lib" "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/micro" &&
		[ -L "$prefix/lib/libmicro.so" ] && [ -f "$prefix/lib/libmicro.so.1" ] && [ -f "$prefix/lib/libmicro.a" ]
}
c_pkgconfig() {
	local prefix="$out/c-prefix" app="$out/c-pkgconfig"
	mkdir -p "$app" && cp examples/c/greeter/*.c "$app/" && cd "$app" || return 1
	export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
	cc server.c $(pkg-config --cflags --libs micro) -lpthread -o greeter-server &&
		cc client.c $(pkg-config --cflags --libs micro) -o greeter-client &&
		ldd greeter-client | grep -F "$prefix/lib/libmicro.so.1" &&
		greet "$app/greeter-server c.installed" "$app/greeter-client Alice c.installed" '{"message":"Hello Alice"}'
}
c_cmake() {
	local prefix="$out/c-prefix" app="$out/c-cmake"
	mkdir -p "$app" && cp examples/c/greeter/*.c examples/c/greeter/CMakeLists.txt "$app/" && cd "$app" || return 1
	cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
		cmake --build build >/dev/null &&
		! ldd build/greeter-client-static | grep -q libmicro &&
		greet "$app/build/greeter-server c.cmake" "$app/build/greeter-client-static Bob c.cmake" '{"message":"Hello Bob"}'
}

py_wheel() {
	local venv
	venv="$(bindings/python/scripts/venv.sh --reuse)" || return 1
	"$venv/bin/maturin" build --profile dev --quiet -m bindings/python/Cargo.toml -o "$out/wheels" &&
		ls "$out/wheels" && ls "$out/wheels" | grep -E '^micro_mesh-.*-cp310-abi3-manylinux.*\.whl$'
}
py_install() {
	local app="$out/py-app" clean_path="/usr/local/bin:/usr/bin:/bin"
	mkdir -p "$app" && cp examples/python/greeter/*.py "$app/" && cd "$app" || return 1
	# No cargo (and no rustc) on PATH: the wheel must not need them.
	env PATH="$clean_path" sh -c '! command -v cargo' &&
		env PATH="$clean_path" python3 -m venv "$app/venv" &&
		env PATH="$clean_path" "$app/venv/bin/pip" install -q --no-index "$out"/wheels/micro_mesh-*.whl &&
		"$app/venv/bin/pip" show micro-mesh | grep -E '^(Name|License):' &&
		(cd / && "$app/venv/bin/python" -c 'import micro, sys; assert "/bindings/" not in micro.__file__, micro.__file__; print(micro.__file__)') &&
		greet "cd $app && venv/bin/python server.py py.installed" "cd $app && venv/bin/python client.py Carol py.installed" 'Hello Carol'
}

node_pack() {
	node bindings/node/scripts/package.js --addon "$top/target/debug/libmicro_node.so" --out "$out/npm" &&
		ls "$out/npm"/micro-mesh-0.*.tgz "$out/npm"/micro-mesh-linux-*-0.*.tgz
}
node_install() {
	local app="$out/node-app"
	mkdir -p "$app" && cp examples/node/greeter/*.js "$app/" && cd "$app" || return 1
	npm init -y >/dev/null &&
		npm install --silent --no-audit --no-fund --no-package-lock "$out"/npm/micro-mesh-linux-*.tgz &&
		npm install --silent --no-audit --no-fund --no-package-lock "micro@file:$(ls "$out"/npm/micro-mesh-0.*.tgz)" &&
		[ ! -e node_modules/micro/micro.node ] && [ -f node_modules/micro-mesh-linux-x64-gnu/micro.node ] &&
		node -e 'const m = require("micro"); if (typeof m.Service !== "function") process.exit(1)' &&
		greet "cd $app && node server.js node.installed" "cd $app && node client.js Dave node.installed" 'Hello Dave'
}

cli_install() {
	local root="$out/cli-root"
	CARGO_TARGET_DIR="$top/target" cargo install --locked --offline --quiet --debug --path cli --root "$root" &&
		"$root/bin/micro" --version &&
		for sh in bash zsh fish; do "$root/bin/micro" completion "$sh" >"$out/micro.$sh" && [ -s "$out/micro.$sh" ] || return 1; done &&
		grep -q "complete" "$out/micro.bash" && grep -q "call" "$out/micro.bash"
}

step c-install c_install
step c-pkgconfig c_pkgconfig
step c-cmake c_cmake
step python-wheel py_wheel
step python-install py_install
step node-package node_pack
step node-install node_install
step cli-install cli_install

echo "install suite: $pass passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ "${#failed[@]}" = 0 ]
