#!/usr/bin/env bash
# C <-> go-micro interop over mDNS; run inside scripts/netns.sh (it re-execs itself there).
#   tests/c/interop.sh SERVER_BIN CLIENT_BIN [PUBSUB_BIN]
# A C server answers gm5 and gm4 clients (RPC and a bidi stream); a C client calls gm5 and gm4 services; with
# PUBSUB_BIN (examples/c/pubsub) over the http broker: a C subscriber receives a gm5
# publish and a gm5 subscriber receives a C publish (body bytes and headers intact).
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "${MICRO_NETNS:-}" != "1" ]; then exec "$top/scripts/netns.sh" "$0" "$@"; fi
srv="$1" cli="$2" ps="${3:-}" bin="$top/tests/interop/go/bin"
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
	# a go-micro bidi stream against the C stream handler: one greeting per name, in order
	out="$("$bin/$v" stream --service c.greeter --endpoint Greeter.Stream --names a,b,c --timeout-ms 10000 2>"$tmp/$v.stream.err")"
	want="$(for n in a b c; do printf '%s\n' "\"ok\":true,\"body\":\"{\\\"message\\\":\\\"Hello $n\\\"}\\n\""; done)"
	got="$(echo "$out" | grep -o '"ok":[a-z]*,"body":"[^,]*"')"
	if [ "$got" = "$want" ] && [ "$(echo "$out" | wc -l)" = 3 ]; then ok "${v}_stream_to_c_stream_handler"; else bad "${v}_stream_to_c_stream_handler" "$out $(tail -3 "$tmp/$v.stream.err")"; fi
done
for v in gm5 gm4; do
	"$bin/$v" serve --name "go.$v" >"$tmp/$v.out" 2>"$tmp/$v.err" & pids+=($!)
	wait_ready "$tmp/$v.out" || { bad "${v}_ready" "$(tail -3 "$tmp/$v.err")"; continue; }
	out="$("$cli" C "go.$v" 2>&1)"
	if [ "$out" = '{"message":"Hello C"}' ]; then ok "c_client_calls_${v}_server"; else bad "c_client_calls_${v}_server" "$out"; fi
done
if [ -n "$ps" ]; then
	# gm5 publish -> C subscriber
	"$ps" sub events.c >"$tmp/csub.out" 2>"$tmp/csub.err" & csub=$!; pids+=($csub)
	if wait_ready "$tmp/csub.out"; then
		"$bin/gm5" publish --topic events.c --body '{"n":1}' --metadata X-From=go >"$tmp/gpub.out" 2>&1
		for _ in $(seq 50); do grep -q '"event":"message"' "$tmp/csub.out" && break; sleep 0.1; done
		line="$(grep '"event":"message"' "$tmp/csub.out" | head -1)"
		# {"n":1} = 7b226e223a317d
		if echo "$line" | grep -q '"topic":"events.c","body_hex":"7b226e223a317d"' && echo "$line" | grep -q '"X-From":"go"' &&
			echo "$line" | grep -q '"Micro-Topic":"events.c"' && [ "$(grep -c '"event":"message"' "$tmp/csub.out")" = 1 ]; then
			ok c_subscriber_gets_gm5_publish
		else bad c_subscriber_gets_gm5_publish "$(cat "$tmp/csub.out" "$tmp/gpub.out") $(tail -3 "$tmp/csub.err")"; fi
		kill -TERM "$csub"; wait "$csub"; rc=$?
		if [ "$rc" = 0 ]; then ok c_subscriber_exits_cleanly; else bad c_subscriber_exits_cleanly "exit $rc"; fi
	else bad c_subscriber_gets_gm5_publish "no ready line: $(tail -3 "$tmp/csub.err")"; fi
	# C publish -> gm5 subscriber
	"$bin/gm5" subscribe --topic events.go >"$tmp/gsub.out" 2>"$tmp/gsub.err" & pids+=($!)
	if wait_ready "$tmp/gsub.out"; then
		"$ps" pub events.go '{"hi":"c","bin":"\u00ff"}' X-From=c >"$tmp/cpub.out" 2>&1; echo "exit $?" >>"$tmp/cpub.out"
		for _ in $(seq 50); do grep -q '"event":"message"' "$tmp/gsub.out" && break; sleep 0.1; done
		line="$(grep '"event":"message"' "$tmp/gsub.out" | head -1)"
		want="$(printf '%s' '{"hi":"c","bin":"\u00ff"}' | base64 -w0)"
		if echo "$line" | grep -qF "\"body\":\"$want\"" && echo "$line" | grep -q '"X-From":"c"' &&
			echo "$line" | grep -q '"Content-Type":"application/json"' && echo "$line" | grep -q '"Micro-Topic":"events.go"'; then
			ok gm5_subscriber_gets_c_publish
		else bad gm5_subscriber_gets_c_publish "$(cat "$tmp/gsub.out" "$tmp/cpub.out")"; fi
	else bad gm5_subscriber_gets_c_publish "gm5 subscriber not ready: $(tail -3 "$tmp/gsub.err")"; fi
fi
echo "interop: $fails failed"
exit "$fails"
