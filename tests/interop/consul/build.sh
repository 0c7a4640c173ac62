#!/usr/bin/env bash
# Build a real Consul agent for the registry tests: Consul v1.14.11 (MPL-2.0), the last line
# that builds from the Go module proxy (v1.16.1 needs consul/envoyextensions, which the proxy
# does not serve; v1.16.2 onward is under the BSL). A two-line wrapper module pulls it in.
# The binary is cached by version, so a later run only prints its path:
#   tests/interop/consul/build.sh          -> prints the path of the consul binary
# CONSUL_CACHE overrides the cache folder (default ~/.cache/micro/consul-<version>).
set -euo pipefail
version="${CONSUL_VERSION:-1.14.11}"
cache="${CONSUL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/micro/consul-$version}"
out="$cache/consul"
if [ -x "$out" ]; then
	echo "$out"
	exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build.sh: go is needed to build consul" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "build.sh: building consul v$version (several minutes the first time)" >&2
(
	cd "$work"
	export GOFLAGS="${GOFLAGS:--buildvcs=false}"
	go mod init w >/dev/null 2>&1
	go get "github.com/hashicorp/consul@v$version" >&2
	go build -o "$out.tmp" github.com/hashicorp/consul >&2
)
mv -f "$out.tmp" "$out"
echo "$out"
