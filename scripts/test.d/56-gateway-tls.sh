#!/usr/bin/env bash
# Gateway TLS suite: micro api over HTTPS from certificate files (plain HTTP on the TLS port,
# mTLS), the TLS flags and variables of the `micro` binary, and ACME against a real ACME
# server — Debian's pebble, which validates the tls-alpn-01 challenge by connecting to the
# gateway (issue, restart from the cache without a new order, background renewal).
# Everything on loopback, memory registry (no mDNS). Pebble is required: installed here if
# missing, and the suite fails (does not skip) when it cannot run.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
if ! command -v pebble >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "56-gateway-tls: pebble is missing: apt-get install pebble" >&2
		exit 1
	fi
	echo "56-gateway-tls: apt-get install pebble" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble >/dev/null
fi
usage="$(pebble -h 2>&1 || true)"
case "$usage" in *-config*) ;; *) echo "56-gateway-tls: pebble does not run: $usage" >&2; exit 1 ;; esac
# The challenge must really be validated.
unset PEBBLE_VA_ALWAYS_VALID PEBBLE_VA_NOSLEEP
cargo test --locked -q -p micro-gateway --lib -- tls:: acme::
cargo test --locked -q -p micro-gateway --test tls
cargo test --locked -q -p micro-cli --test api_tls
