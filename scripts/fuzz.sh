#!/usr/bin/env bash
# Fuzzes every decoder that reads network bytes (fuzz/: mDNS datagrams and TXT payloads,
# HTTP transport requests and responses, legacy codecs, http broker envelopes, NATS server
# lines, registry JSON) with cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz pass its sanitizer flags). Seeds: fuzz/seeds/<target> (go-micro's own bytes).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     # default 10 s, every target
#
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
failed=()
for t in "${targets[@]}"; do
	mkdir -p "corpus/$t" "seeds/$t"
	if cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
		>"corpus/$t.log" 2>&1; then
		echo "ok fuzz $t: $(grep -Eo 'Done [0-9]+ runs' "corpus/$t.log" | tail -1)"
	else
		echo "FAIL fuzz $t (inputs in fuzz/artifacts/$t):"; grep -E "panicked|ERROR|SUMMARY|Test unit" "corpus/$t.log" | head -8
		failed+=("$t")
	fi
done
[ "${#failed[@]}" -eq 0 ] || { echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"; exit 1; }
echo "fuzz: ${#targets[@]} targets, ${secs} s each, no crash"
