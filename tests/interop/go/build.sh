#!/usr/bin/env bash
# Build the go-micro interop harness binaries:
#   bin/gm5  (go-micro.dev/v5 v5.30.0, module ./v5)
#   bin/gm4  (go-micro.dev/v4 v4.11.0, module ./v4)
#   bin/gomicro  (go-micro's own `micro` CLI, go-micro.dev/v5/cmd/micro v5.30.0,
#                 built from the module ./gomicro, which only pins its dependencies)
# Idempotent: a binary is rebuilt only when a source, go.mod or go.sum of its
# module (or of the shared ./gmcli module) is newer than it. Modules are
# downloaded from the Go module proxy as needed (versions pinned by go.sum).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/bin"
mkdir -p "$bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

build() { # name module-dir [package]
	local name="$1" mod="$2" pkg="${3:-./cmd/$1}" out="$bin/$1"
	if [ -x "$out" ] && [ "${FORCE:-0}" != "1" ] &&
		[ -z "$(find "$here/$mod" "$here/gmcli" \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$out" -print -quit)" ]; then
		return 0
	fi
	echo "build.sh: building $name" >&2
	(cd "$here/$mod" && go build -o "$out.tmp" "$pkg")
	mv -f "$out.tmp" "$out"
}

build gm5 v5
build gm4 v4
build gomicro gomicro go-micro.dev/v5/cmd/micro
