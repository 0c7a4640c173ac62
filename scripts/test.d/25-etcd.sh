#!/usr/bin/env bash
# etcd registry suite: installs Debian's etcd-server if missing, runs the registry's tests
# against a real etcd (register/get/list/watch, lease expiry and keep-alive, lost keys and
# leases restored, unreachable members), then interop with go-micro v5.30.0's and v6.10.0's own
# etcd registry (tests/interop/etcd.sh: calls both ways, endpoints, SIGKILL expiry).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
if ! command -v etcd >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq etcd-server >/dev/null
fi
command -v curl >/dev/null 2>&1 || apt-get install -y -qq curl >/dev/null
export MICRO_REQUIRE_ETCD=1
cargo test --locked -q -p micro --test etcd
tests/interop/go/build.sh >/dev/null
cargo build --locked -q -p greeter-example -p micro-cli
tests/interop/etcd.sh
