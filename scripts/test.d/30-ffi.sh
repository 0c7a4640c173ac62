#!/usr/bin/env bash
# The C ABI suite: libmicro builds; include/micro.h is what cbindgen generates, compiles as
# C99 and C++, and declares every exported symbol (all micro_-prefixed); every pointer argument
# of every export has a NULL test (tests/c/null_coverage.py), every string (`const char *`)
# argument an invalid UTF-8 test (tests/c/utf8_coverage.py); libmicro.so's SONAME is
# libmicro.so.<MICRO_ABI_VERSION>; micro.pc builds the greeter and pub/sub examples; a local
# mDNS failure is UNAVAILABLE (in an empty network namespace); the C
# tests (RPC, server streams, pub/sub incl. NATS against a local nats-server, server
# subscribers, thread roles) pass under valgrind (whole process: no error, no definite or
# indirect leak) and with the C program built with ASAN/UBSan; C <-> go-micro interop (RPC, a
# go-micro stream client against a C stream handler, pub/sub, a C service subscriber).
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
pass=0 failed=()
step() { local name="$1"; shift; if "$@" >"$out/$name.log" 2>&1; then echo "ok $name"; pass=$((pass + 1)); else echo "FAIL $name (log: $out/$name.log)"; tail -25 "$out/$name.log"; failed+=("$name"); fi; }

need=()
for t in gcc:gcc g++:g++ pkg-config:pkg-config valgrind:valgrind nm:binutils python3:python3; do
	command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
if [ "${#need[@]}" -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
export PATH="$HOME/.cargo/bin:$PATH"
command -v cbindgen >/dev/null 2>&1 || cargo install cbindgen --locked --version 0.29.4 -q

out="$top/target/ffi-test"; mkdir -p "$out"; rm -f "$out"/*.log
lib="$top/target/debug"
cargo build --locked -q -p micro-ffi || { echo "FAIL build"; exit 1; }

header_fresh() {
	cbindgen --quiet --config ffi/cbindgen.toml --crate micro-ffi --output "$out/micro.h" ffi && diff -u include/micro.h "$out/micro.h"
}
exports_declared() {
	local syms; syms="$(nm -D --defined-only "$lib/libmicro.so" | awk '$2 ~ /^[TDBRV]$/ {print $3}')"
	local bad=0
	while read -r s; do
		[ -z "$s" ] && continue
		case "$s" in micro_*) ;; *) echo "exported without micro_ prefix: $s"; bad=1 ;; esac
		grep -Eq "\\b$s\\(" include/micro.h || { echo "exported but not declared in micro.h: $s"; bad=1; }
	done <<<"$syms"
	echo "$(wc -l <<<"$syms") exported symbols"
	return $bad
}
soname_abi() {
	local abi want; abi="$(sed -n 's/^#define MICRO_ABI_VERSION \([0-9]*\)$/\1/p' include/micro.h)"; want="libmicro.so.$abi"
	[ -n "$abi" ] || { echo "no MICRO_ABI_VERSION in micro.h"; return 1; }
	readelf -d "$lib/libmicro.so" | tee "$out/dynamic.txt" | grep -F "(SONAME)" | grep -qF "[$want]" || { echo "SONAME is not $want:"; grep SONAME "$out/dynamic.txt"; return 1; }
	printf 'int micro_abi_version(void);\nint main(void){return micro_abi_version() == %s ? 0 : 1;}\n' "$abi" >"$out/so.c"
	gcc "$out/so.c" -L"$lib" -lmicro -Wl,-rpath,"$lib" -o "$out/so" &&
		readelf -d "$out/so" | grep -F "(NEEDED)" | grep -qF "[$want]" && "$out/so" && echo "SONAME $want; a -lmicro program needs $want and runs"
}
null_tests() {
	python3 tests/c/null_coverage.py include/micro.h tests/c/test_micro.c
}
utf8_tests() {
	python3 tests/c/utf8_coverage.py include/micro.h tests/c/test_micro.c
}
header_c_cpp() {
	printf '#include "micro.h"\nint main(void){return MICRO_CHECK_ABI();}\n' >"$out/h.c"
	gcc -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude -c "$out/h.c" -o "$out/h.o" &&
		g++ -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -Iinclude -c "$out/h.c" -o "$out/hpp.o"
}
greeter_pkgconfig() {
	ffi/pkgconfig.sh "$top" "$lib" "$top/include" "$out/pkgconfig" &&
		export PKG_CONFIG_PATH="$out/pkgconfig" &&
		cc -std=c99 -Wall -Wextra -Werror examples/c/greeter/server.c $(pkg-config --cflags --libs micro) -lpthread -o "$out/greeter-server" &&
		cc -std=c99 -Wall -Wextra -Werror examples/c/greeter/client.c $(pkg-config --cflags --libs micro) -o "$out/greeter-client" &&
		cc -std=c99 -Wall -Wextra -Werror examples/c/pubsub/pubsub.c $(pkg-config --cflags --libs micro) -lpthread -o "$out/pubsub" &&
		cc -std=c99 examples/c/greeter/client.c -Iinclude "$lib/libmicro.a" $(pkg-config --static --libs-only-other --libs-only-l micro | sed 's/-lmicro//') -o "$out/greeter-client-static" &&
		{ MICRO_REGISTRY=memory "$out/greeter-client-static" X nowhere >"$out/static.txt" 2>&1 || true; } &&
		grep -q '"code":404' "$out/static.txt"
}
# A local mDNS failure (here: a private network namespace with no interface up, so nothing
# leaves it) is MICRO_STATUS_UNAVAILABLE from go.micro.registry, not REMOTE: no service answered.
local_mdns_failure() {
	local got; got="$(MICRO_REGISTRY=mdns timeout 30 unshare -n "$out/greeter-client" X nowhere 2>&1)"
	echo "$got"
	grep -q '"status":"UNAVAILABLE","id":"go.micro.registry","code":503,"detail":"mdns: cannot reach the multicast group' <<<"$got"
}
# A nats-server on loopback (a free port) for the C tests' NATS cases; MICRO_TEST_STRICT=1
# makes a test that cannot run (no NATS) fail instead of skipping.
nats_pid=""
trap '[ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null' EXIT
start_nats() {
	local bin; bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
	"$bin" -a 127.0.0.1 -p -1 >"$out/nats.log" 2>&1 & nats_pid=$!
	for _ in $(seq 100); do
		local port; port="$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/nats.log")"
		if [ -n "$port" ]; then export MICRO_TEST_NATS="nats://127.0.0.1:$port" MICRO_TEST_STRICT=1; return 0; fi
		sleep 0.1
	done
	echo "nats-server did not start: $(tail -3 "$out/nats.log")"; return 1
}
# valgrind checks the whole process (Rust and C): any memcheck error, or a definite or indirect
# leak, fails the run. (Possible leaks and still-reachable blocks are threads' and statics'
# memory at exit: reported by valgrind -s if wanted, not errors.) Under valgrind the process
# runs tens of times slower, so the servers' read timeouts (5 s to a complete head by
# default; micro_server_new reads them from the environment) are scaled up as the tests'
# own call timeouts are: a connection whose first request comes that late is valgrind's
# slowness, not a stalling peer. (Under two busy loops, 1 call in 1000 found its fresh
# connection closed by the 5 s default before the scaling reached the C server.)
c_tests_valgrind() {
	gcc -std=c11 -g -Wall -Wextra -Werror -Iinclude tests/c/test_micro.c -L"$lib" -lmicro -lpthread -Wl,-rpath,"$lib" -o "$out/test_micro" &&
		MICRO_SERVER_HEADER_TIMEOUT=120s MICRO_SERVER_BODY_TIMEOUT=120s \
		timeout 400 valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=97 --fair-sched=yes "$out/test_micro"
}
# ASAN/UBSan instrument the C test program only (its own bugs, and its use of the library's
# pointers in C code); libmicro itself is not instrumented (Rust's -Zsanitizer needs nightly).
# LeakSanitizer sees every allocation, the library's included.
c_tests_asan() {
	gcc -std=c11 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wall -Iinclude tests/c/test_micro.c \
		-L"$lib" -lmicro -lpthread -Wl,-rpath,"$lib" -o "$out/test_asan" &&
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 timeout 200 "$out/test_asan"
}
interop() {
	tests/interop/go/build.sh && tests/c/interop.sh "$out/greeter-server" "$out/greeter-client" "$out/pubsub"
}

step header_matches_cbindgen header_fresh
step exports_all_declared_and_prefixed exports_declared
step soname_carries_abi_version soname_abi
step header_compiles_c99_and_cxx header_c_cpp
step every_pointer_argument_has_a_null_test null_tests
step every_string_argument_has_an_invalid_utf8_test utf8_tests
step greeter_builds_with_pkgconfig greeter_pkgconfig
step local_mdns_failure_is_unavailable_not_remote local_mdns_failure
step nats_server_on_loopback start_nats
step c_tests_under_valgrind c_tests_valgrind
step c_tests_under_asan_ubsan c_tests_asan
step interop_c_gomicro_v5_v4_rpc_stream_pubsub interop
grep -hE '^(ok|FAIL) ' "$out"/c_tests_*.log "$out"/interop*.log 2>/dev/null | sed 's/^/    /'
echo "ffi: $pass passed, ${#failed[@]} failed ${failed[*]:-}"
[ "${#failed[@]}" -eq 0 ]
