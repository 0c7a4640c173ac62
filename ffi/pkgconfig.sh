#!/usr/bin/env bash
# Writes micro.pc from ffi/micro.pc.in.
#   ffi/pkgconfig.sh PREFIX LIBDIR INCLUDEDIR OUTDIR
# e.g. in-tree: ffi/pkgconfig.sh "$PWD" "$PWD/target/release" "$PWD/include" target/pkgconfig
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -1)"
mkdir -p "$4"
sed -e "s|@PREFIX@|$1|; s|@LIBDIR@|$2|; s|@INCLUDEDIR@|$3|; s|@VERSION@|$version|; s|@LIBS_PRIVATE@|-lpthread -ldl -lm -lgcc_s -lc|" \
	"$here/micro.pc.in" >"$4/micro.pc"
echo "$4/micro.pc"
