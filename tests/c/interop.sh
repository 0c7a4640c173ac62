#!/usr/bin/env bash
# C <-> go-micro interop over mDNS; run inside scripts/netns.sh (it re-execs itself there).
#   tests/c/interop.sh SERVER_BIN CLIENT_BIN
# A C server answers gm5 and gm4 clients; a C client calls gm5 and gm4 services.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "${MICRO_NETNS:-}" != "1" ]; then exec "$top/scripts/netns.sh" "$0" "$@"; fi
srv="$1" cli="$2" bin="$top/tests/interop/go/bin"
fails=0 pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
wait_ready() { for _ in $(seq 100); do grep -q '"ready"' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

tmp="$(mktemp -d)"
"$srv" c.greeter >"$tmp/c.out" 2>"$tmp/c.err" & pids+=($!)
wait_ready "$tmp/c.out" || { cat "$tmp/c.err"; bad c_server_ready "no ready line"; exit 1; }
for v in gm5 gm4; do
	out="$("$bin/$v" call --service c.greeter --endpoint Greeter.Hello --body '{"name":"Go"}' 2>"$tmp/$v.call.err")"
	if echo "$out" | grep -q '"ok":true,"body":"{\\"message\\":\\"Hello Go\\"}\\n"'; then ok "${v}_client_calls_c_server"; else bad "${v}_client_calls_c_server" "$out"; fi
	out="$("$bin/$v" call --service c.greeter --endpoint Greeter.Hello --body '{}' 2>/dev/null)"
	if echo "$out" | grep -q '"code":400'; then ok "${v}_client_gets_c_error"; else bad "${v}_client_gets_c_error" "$out"; fi
done
for v in gm5 gm4; do
	"$bin/$v" serve --name "go.$v" >"$tmp/$v.out" 2>"$tmp/$v.err" & pids+=($!)
	wait_ready "$tmp/$v.out" || { bad "${v}_ready" "$(tail -3 "$tmp/$v.err")"; continue; }
	out="$("$cli" C "go.$v" 2>&1)"
	if [ "$out" = '{"message":"Hello C"}' ]; then ok "c_client_calls_${v}_server"; else bad "c_client_calls_${v}_server" "$out"; fi
done
echo "interop: $fails failed"
exit "$fails"
