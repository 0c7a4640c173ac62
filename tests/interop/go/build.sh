#!/usr/bin/env bash
# Build the go-micro interop harness binaries:
#   bin/gm5  (go-micro.dev/v5 v5.30.0, module ./v5)
#   bin/gm4  (go-micro.dev/v4 v4.11.0, module ./v4)
#   bin/gm6  (go-micro.dev/v6 v6.10.0, module ./v6; the module proxy refuses v6, so its
#             source is extracted from <repo>/../shared/peers/go-micro-v6.10.0.tar.gz
#             into ./.build (gitignored) and used through v6/go.mod's `replace`)
#   bin/gomicro  (go-micro's own `micro` CLI, go-micro.dev/v5/cmd/micro v5.30.0,
#                 built from the module ./gomicro, which only pins its dependencies)
#   bin/prom  (a go-micro v5.30.0 greeter wrapped by go-micro's Prometheus wrapper, ./prom;
#              only when asked for: tests/interop/metrics.sh)
#   bin/otel  (a go-micro v5.30.0 client wrapped by go-micro's OpenTelemetry wrapper, exporting
#              over OTLP/HTTP, ./otel; only when asked for: tests/interop/trace.sh)
# With arguments, only those: any of gm5 gm4 gm6 gomicro prom otel, or v6-source (just the extraction,
# for other modules that use the v6 source, e.g. bench/go6).
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

# extract_v6: unpack the go-micro v6.10.0 source next to the modules (once per tarball).
extract_v6() {
	local root tarball dest="$here/.build"
	root="$(cd "$here/../../.." && pwd)"
	tarball="${GO_MICRO_V6_TARBALL:-$root/../shared/peers/go-micro-v6.10.0.tar.gz}"
	if [ ! -f "$tarball" ]; then
		echo "build.sh: cannot build gm6: $tarball is missing (go-micro v6.10.0 source;" \
			"set GO_MICRO_V6_TARBALL=/path/to/go-micro-v6.10.0.tar.gz)" >&2
		return 1
	fi
	if [ -f "$dest/go-micro-v6.10.0/go.mod" ] && [ ! "$tarball" -nt "$dest/go-micro-v6.10.0/go.mod" ]; then
		return 0
	fi
	echo "build.sh: extracting $tarball" >&2
	rm -rf "$dest/go-micro-v6.10.0"
	mkdir -p "$dest"
	tar xzf "$tarball" -C "$dest"
	touch "$dest/go-micro-v6.10.0/go.mod"
}

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(gm5 gm4 gm6 gomicro)
for t in "${targets[@]}"; do
	case "$t" in
	gm5) build gm5 v5 ;;
	gm4) build gm4 v4 ;;
	gm6) extract_v6; build gm6 v6 ;;
	gomicro) build gomicro gomicro go-micro.dev/v5/cmd/micro ;;
	prom) build prom prom . ;;
	otel) build otel otel . ;;
	v6-source) extract_v6 ;;
	*) echo "build.sh: unknown target $t (gm5, gm4, gm6, gomicro, prom, otel, v6-source)" >&2; exit 1 ;;
	esac
done
