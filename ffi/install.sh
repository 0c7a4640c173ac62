#!/usr/bin/env bash
# Installs the C library: libmicro.so (with its ABI soname link), libmicro.a, micro.h, a
# pkg-config file and a CMake package, under PREFIX (default /usr/local), as `make install`
# would. DESTDIR is honoured for packagers.
#
#   ffi/install.sh [PREFIX]
#
#   PREFIX/lib/libmicro.so.<ABI>, PREFIX/lib/libmicro.so -> libmicro.so.<ABI>, PREFIX/lib/libmicro.a
#   PREFIX/include/micro.h
#   PREFIX/lib/pkgconfig/micro.pc           pkg-config --cflags --libs micro
#   PREFIX/lib/cmake/micro/microConfig.cmake  find_package(micro) -> micro::micro, micro::static
#
# It builds the release library first (cargo build --release -p micro-ffi) unless
# MICRO_FFI_LIBDIR names a directory that already holds libmicro.so and libmicro.a.
# Linux only for now: on macOS the library is libmicro.dylib and this script says so.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"
prefix="${1:-/usr/local}"
case "$prefix" in /*) ;; *) prefix="$(pwd)/$prefix" ;; esac
dest="${DESTDIR:-}"

if [ "$(uname -s)" != Linux ]; then
	echo "ffi/install.sh: only Linux is supported so far; on $(uname -s) copy target/release/libmicro.* and include/micro.h by hand" >&2
	exit 2
fi

libdir_src="${MICRO_FFI_LIBDIR:-}"
if [ -z "$libdir_src" ]; then
	(cd "$top" && cargo build --locked --release -q -p micro-ffi)
	libdir_src="$top/target/release"
fi
for f in libmicro.so libmicro.a; do
	[ -f "$libdir_src/$f" ] || { echo "ffi/install.sh: $libdir_src/$f is missing" >&2; exit 1; }
done

abi="$(sed -n 's/^#define MICRO_ABI_VERSION \([0-9]*\)$/\1/p' "$top/include/micro.h")"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$top/Cargo.toml" | head -1)"
[ -n "$abi" ] && [ -n "$version" ] || { echo "ffi/install.sh: cannot read the ABI or crate version" >&2; exit 1; }

lib="$prefix/lib" inc="$prefix/include"
install -d "$dest$lib/pkgconfig" "$dest$lib/cmake/micro" "$dest$inc"
install -m 0755 "$libdir_src/libmicro.so" "$dest$lib/libmicro.so.$abi"
ln -sfn "libmicro.so.$abi" "$dest$lib/libmicro.so"
install -m 0644 "$libdir_src/libmicro.a" "$dest$lib/libmicro.a"
install -m 0644 "$top/include/micro.h" "$dest$inc/micro.h"
"$here/pkgconfig.sh" "$prefix" "$lib" "$inc" "$dest$lib/pkgconfig" >/dev/null
sed -e "s|@ABI@|$abi|g" "$here/cmake/microConfig.cmake.in" >"$dest$lib/cmake/micro/microConfig.cmake"
sed -e "s|@VERSION@|$version|g" "$here/cmake/microConfigVersion.cmake.in" >"$dest$lib/cmake/micro/microConfigVersion.cmake"
echo "installed micro $version (ABI $abi) under $dest$prefix"
