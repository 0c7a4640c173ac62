#!/usr/bin/env bash
# Every host side by side, inside the private network namespace: `micro stats` against Rust,
# Python, Node, C and go-micro v5.30.0 greeters — the same table, the same fields, counts that
# grow by exactly the calls made (tests/interop/stats.sh); mutual TLS — each host's greeter
# requiring client certificates, called by go-micro's TLS client with and without one, and
# our CLI against go-micro's server requiring them (tests/interop/mtls.sh); etcd, Consul and
# NATS — Python, Node and C with go-micro's own etcd, Consul and NATS registries and NATS
# broker, both ways
# (tests/interop/backends.sh); several hosts — three network namespaces joined through a
# bridge, etcd as the registry, one host's cable cut mid-load (tests/interop/multihost.sh).
# Builds what it
# needs outside the namespace, reusing the Python venv and micro.node that 40-python and
# 50-node build, by the same commands.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export CARGO_TARGET_DIR="$top/target"
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
tests/interop/go/build.sh gm5 >/dev/null
cargo build --locked -q -p greeter-example -p micro-cli -p micro-ffi
bindings/python/scripts/venv.sh --reuse >/dev/null
[ -f bindings/node/micro.node ] || (cd bindings/node && npm install --silent --no-package-lock && npm run --silent build:debug)
mkdir -p target/stats
gcc -std=c11 -Wall -Iinclude examples/c/greeter/server.c -Ltarget/debug -lmicro -lpthread \
	-Wl,-rpath,"$top/target/debug" -o target/stats/c-greeter
gcc -std=c11 -Wall -Iinclude examples/c/pubsub/pubsub.c -Ltarget/debug -lmicro -lpthread \
	-Wl,-rpath,"$top/target/debug" -o target/stats/c-pubsub
gcc -std=c11 -Wall -Iinclude examples/c/greeter/client.c -Ltarget/debug -lmicro \
	-Wl,-rpath,"$top/target/debug" -o target/stats/c-client
need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
if [ "${#need[@]}" -gt 0 ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
rc=0
scripts/netns.sh tests/interop/stats.sh || rc=1
scripts/netns.sh tests/interop/mtls.sh || rc=1
scripts/netns.sh tests/interop/backends.sh etcd || rc=1
CONSUL_BIN="$(tests/interop/consul/build.sh)" scripts/netns.sh tests/interop/backends.sh consul || rc=1
scripts/netns.sh tests/interop/backends.sh nats || rc=1
tests/interop/multihost.sh || rc=1
exit "$rc"
