#!/usr/bin/env bash
# Build the go-micro interop harness binaries:
#   bin/gm5  (go-micro.dev/v5 v5.30.0, module ./v5)
#   bin/gm4  (go-micro.dev/v4 v4.11.0, module ./v4)
# Idempotent: a binary is rebuilt only when a source, go.mod or go.sum of its
# module (or of the shared ./gmcli module) is newer than it. Modules are
# downloaded from the Go module proxy as needed (versions pinned by go.sum).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/bin"
mkdir -p "$bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

build() { # name module-dir
	local name="$1" mod="$2" out="$bin/$1"
	if [ -x "$out" ] && [ "${FORCE:-0}" != "1" ] &&
		[ -z "$(find "$here/$mod" "$here/gmcli" \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$out" -print -quit)" ]; then
		return 0
	fi
	echo "build.sh: building $name" >&2
	(cd "$here/$mod" && go build -o "$out.tmp" "./cmd/$name")
	mv -f "$out.tmp" "$out"
}

build gm5 v5
build gm4 v4
