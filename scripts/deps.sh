#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian machine that has Rust, Go,
# Python and Node: Debian packages (only those missing), Go modules, crates.
# Idempotent and quiet when everything is present.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
for extra in "$@"; do
	case "$extra" in
	nats) command -v nats-server >/dev/null 2>&1 || need+=(nats-server) ;;
	valgrind) command -v valgrind >/dev/null 2>&1 || need+=(valgrind) ;;
	pkg-config) command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config) ;;
	esac
done
if [ "${#need[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps.sh: please install: ${need[*]}" >&2
		exit 2
	fi
	echo "deps.sh: apt-get install ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Go modules (go-micro v5.30.0 and v4.11.0, pinned by go.sum; v6.10.0 from ../shared/peers) and the harness binaries.
"$top/tests/interop/go/build.sh"
(cd "$top/examples/go/greeter" && go build -o "$top/target/go-greeter" .)
# The NATS JWT library `core/tests/nats_nkey.rs` runs (`go run`), fetched here: that test
# also runs inside the network namespace, where nothing can be downloaded.
(cd "$top/tests/interop/nats_creds" && go mod download)
# Crates.
(cd "$top" && cargo fetch --locked -q)
