# Shared by the interop scripts that run many processes inside the namespace (metrics.sh,
# trace.sh): `pids` ended at exit with `$tmp` removed, `bad NAME WHY` counts a failure in
# `fails`, `wait_for FILE PATTERN` waits for a line (`wait_tries` tenths of a second, 600
# unless the script sets it before sourcing this).
fails=0 pids=()
tmp="$(mktemp -d)"
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
wait_for() { for _ in $(seq "${wait_tries:-600}"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
