#!/usr/bin/env bash
# TLS transport suite: Rust<->Rust over TLS (trusted, untrusted, plain and insecure
# clients, streams, configuration from MICRO_TRANSPORT_SECURE / MICRO_TLS_*), then interop
# with go-micro v5.30.0's and v6.10.0's transport.Secure both ways (tests/interop/tls.sh, in the netns).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
cargo test --locked -q -p micro --test tls
tests/interop/go/build.sh >/dev/null
cargo build --locked -q -p greeter-example -p micro-cli
tests/interop/tls.sh
