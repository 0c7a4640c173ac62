#!/usr/bin/env bash
# Runs every test: unit and integration tests of each crate, and the interop suite
# against real go-micro (v5.30.0, v4.11.0) inside a private network namespace with
# multicast on loopback (mDNS never leaves the machine). Needs root for the namespace.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"

# No incremental caches: a one-shot run gains nothing from them and they were a third of
# target/ (5.7 GB). The free disk is printed first, so a run that runs out of it says so.
export CARGO_INCREMENTAL=0
df -h "$top" | tail -1 | awk '{print "disk: " $4 " free of " $2 " at start"}'

scripts/deps.sh
cargo build --locked --workspace --all-targets -q

# House style (rustfmt.toml) and lints, as the code is written.
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -q -- -D warnings

# The Go harness proves itself Go <-> Go first, so an interop failure points at us.
tests/interop/go/selftest.sh >/dev/null

# Everything, in the namespace: unit tests do not need it, mDNS and interop tests do.
# The CLI's and the gateway's tests run once, in their own suites (test.d/60-cli.sh,
# test.d/55-gateway.sh), after the binaries they start are built.
scripts/netns.sh cargo test --locked --offline --workspace --exclude micro-cli --exclude micro-gateway -- --test-threads=4

# Each part of the project adds its own suite here (C ABI, Python, Node, CLI, …); each
# installs what it needs and runs its mDNS parts inside scripts/netns.sh itself.
# Each suite's time is printed as it ends; a failing suite is named last, where CI's
# excerpt of the output ends.
times=()
for suite in scripts/test.d/*.sh; do
	[ -e "$suite" ] || continue
	echo "== $suite"
	t=$SECONDS
	if ! bash "$suite"; then
		echo "== FAILED: $suite after $((SECONDS - t)) s (whole run so far: $SECONDS s)"
		df -h "$top" | tail -1 | awk '{print "disk: " $4 " free of " $2}'
		exit 1
	fi
	times+=("$suite: $((SECONDS - t)) s")
	echo "== $suite passed in $((SECONDS - t)) s"
done
printf '%s\n' "${times[@]}"
echo "all suites passed in $SECONDS s"
df -h "$top" | tail -1 | awk '{print "disk: " $4 " free of " $2 " at the end"}'
du -sh "$top/target" | awk '{print "target/: " $1}'
