#!/usr/bin/env bash
# Fuzzes every decoder that reads network bytes (fuzz/: mDNS datagrams and TXT payloads,
# HTTP transport requests and responses, legacy codecs, http broker envelopes and the http
# broker's listener, the server's stream demultiplexing, NATS server lines, registry JSON,
# etcd replies and watch lines) and the C ABI's string entry points, with cargo-fuzz on the
# stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its sanitizer flags). Built with
# overflow checks and debug assertions (fuzz/Cargo.toml); inputs up to 70,000 bytes, so a
# whole 65 KB mDNS datagram fits. Seeds: fuzz/seeds/<target> (go-micro's own bytes, and a
# minimised corpus of earlier long runs).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     # default 10 s, every target
#   scripts/fuzz.sh 600                                  # the long run whose figures are in the README
#
# Prints one line per target: runs, edges covered (cov), features (ft), corpus size, crashes.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-10}"; shift || true
export PATH="$HOME/.cargo/bin:$PATH" RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2 -q
cd "$top/fuzz"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -O >/dev/null
# The targets run in a private network namespace (scripts/netns.sh) when root can make
# one: whatever a fuzzed name or address asks for, no packet reaches a real interface.
inside=()
if [ "$(id -u)" = 0 ] && [ "${MICRO_NETNS:-}" != 1 ]; then inside=("$top/scripts/netns.sh"); fi
failed=()
for t in "${targets[@]}"; do
	mkdir -p "corpus/$t" "seeds/$t"
	if "${inside[@]}" cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -max_len=70000 \
		-rss_limit_mb=2048 -timeout=10 >"corpus/$t.log" 2>&1; then
		runs="$(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "corpus/$t.log" | tail -1 | grep -Eo '[0-9]+ runs')"
		cov="$(grep -E '^#[0-9]+' "corpus/$t.log" | tail -1 | grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)"
		echo "ok fuzz $t: ${secs} s, ${runs:-? runs}, ${cov:-no coverage line}, crashes: 0"
	else
		echo "FAIL fuzz $t (inputs in fuzz/artifacts/$t):"; grep -E "panicked|ERROR|SUMMARY|Test unit|^error" "corpus/$t.log" | head -8 || true
		failed+=("$t")
	fi
done
[ "${#failed[@]}" -eq 0 ] || { echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"; exit 1; }
echo "fuzz: ${#targets[@]} targets, ${secs} s each, no crash"
