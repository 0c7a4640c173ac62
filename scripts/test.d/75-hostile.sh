#!/usr/bin/env bash
# Hostile peers (issue #19): core/tests/hostile.rs and mdns_hostile.rs, each alone, in a private network namespace,
# with room for its ~3000 attacking connections (both ends are in the test process, so
# each costs two descriptors; the test scales its counts down under a lower limit).
# Prints what it measured: normal-call latency under each attack against the same run's
# calibration, how long each kind of attacking connection was held against its limit,
# open files and RSS before and after.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
scripts/netns.sh cargo test --locked --offline -q -p micro --test hostile -- --ignored --nocapture
# mDNS against a LAN peer (forged goodbyes, question floods, oversized packets): in a
# namespace of its own, since it gives that namespace's loopback two more addresses.
scripts/netns.sh cargo test --locked --offline -q -p micro --test mdns_hostile -- --ignored --nocapture
