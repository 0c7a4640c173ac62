#!/usr/bin/env bash
# Consul registry suite: builds Consul v1.14.11 from the Go module proxy if it is not cached
# (tests/interop/consul/build.sh; minutes the first time, nothing after), runs the registry's
# tests against real agents (register/get/list/watch, TTL expiry of a dead node, an agent
# restarted empty, a wrong ACL token, an unreachable agent), then interop with go-micro
# v5.30.0's own consul registry inside the private network namespace
# (tests/interop/consul.sh: calls both ways, endpoints and metadata, watch, SIGKILL expiry).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
command -v curl >/dev/null 2>&1 || { apt-get update -qq >/dev/null; apt-get install -y -qq curl >/dev/null; }
CONSUL_BIN="$(tests/interop/consul/build.sh)"
export CONSUL_BIN MICRO_REQUIRE_CONSUL=1
cargo test --locked -q -p micro --lib registry::consul
cargo test --locked -q -p micro --test consul -- --test-threads=2
tests/interop/go/build.sh >/dev/null
cargo build --locked -q -p greeter-example -p micro-cli
scripts/netns.sh tests/interop/consul.sh
