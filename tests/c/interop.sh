#!/usr/bin/env bash
# C <-> go-micro interop over mDNS; run inside scripts/netns.sh (it re-execs itself there).
#   tests/c/interop.sh SERVER_BIN CLIENT_BIN [PUBSUB_BIN]
# A C server answers gm5 and gm4 clients (RPC and a bidi stream), and its service subscriber
# (micro_service_subscribe) is a go-micro subscriber endpoint in mDNS that receives gm5 and gm4
# publishes over the http broker; a C client calls gm5 and gm4 services; with
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
"$srv" c.greeter events.csvc >"$tmp/c.out" 2>"$tmp/c.err" & pids+=($!)
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
# the C service's subscriber, as go-micro sees it: a Func endpoint with subscriber/topic metadata
out="$("$bin/gm5" get --service c.greeter --wait-ms 5000 2>/dev/null)"
if echo "$out" | grep -q '"name":"Func"' && echo "$out" | grep -q '"subscriber":"true"' && echo "$out" | grep -q '"topic":"events.csvc"'; then
	ok gm5_sees_c_service_subscriber_endpoint
else bad gm5_sees_c_service_subscriber_endpoint "$out"; fi
# gm5 publishes 5 messages, gm4 one: the C service subscriber gets each exactly once (the http
# broker posts each publish on its own connection: arrival order is not checked here)
"$bin/gm5" publish --topic events.csvc --body '{"n":5}' --count 5 --metadata X-From=gm5 >"$tmp/g5pub.out" 2>&1
"$bin/gm4" publish --topic events.csvc --body '{"n":4}' --metadata X-From=gm4 >"$tmp/g4pub.out" 2>&1
for _ in $(seq 100); do [ "$(grep -c '"event":"message"' "$tmp/c.out")" -ge 6 ] && break; sleep 0.1; done
sleep 0.3
# {"n":5} = 7b226e223a357d, {"n":4} = 7b226e223a347d
n5="$(grep '"event":"message"' "$tmp/c.out" | grep '"topic":"events.csvc","body_hex":"7b226e223a357d"' | grep '"X-From":"gm5"' | grep -c '"Micro-Topic":"events.csvc"')"
n4="$(grep '"event":"message"' "$tmp/c.out" | grep '"topic":"events.csvc","body_hex":"7b226e223a347d"' | grep -c '"X-From":"gm4"')"
ids="$(grep '"event":"message"' "$tmp/c.out" | grep -o '"Micro-I[Dd]":"[^"]*"' | sort -u | wc -l)"
total="$(grep -c '"event":"message"' "$tmp/c.out")"
if [ "$n5" = 5 ] && [ "$ids" = 6 ] && [ "$total" = 6 ]; then ok c_service_subscriber_gets_gm5_publishes; else bad c_service_subscriber_gets_gm5_publishes "gm5 $n5/5, ids $ids, total $total: $(cat "$tmp/c.out" "$tmp/g5pub.out")"; fi
if [ "$n4" = 1 ]; then ok c_service_subscriber_gets_gm4_publish; else bad c_service_subscriber_gets_gm4_publish "$(cat "$tmp/g4pub.out")"; fi
for v in gm5 gm4; do
	"$bin/$v" serve --name "go.$v" >"$tmp/$v.out" 2>"$tmp/$v.err" & pids+=($!)
	wait_ready "$tmp/$v.out" || { bad "${v}_ready" "$(tail -3 "$tmp/$v.err")"; continue; }
	out="$("$cli" C "go.$v" 2>&1)"
	if [ "$out" = '{"message":"Hello C"}' ]; then ok "c_client_calls_${v}_server"; else bad "c_client_calls_${v}_server" "$out"; fi
	# go-micro answers an unknown handler in plain text: a 500 from go.micro.client, as go-micro's client says
	out="$("$cli" C "go.$v" Nope.Hello 2>&1)"
	if echo "$out" | grep -q '"id":"go.micro.client","code":500,"detail":"rpc: can.t find service Nope'; then ok "c_client_gets_${v}_plain_text_error_as_500"; else bad "c_client_gets_${v}_plain_text_error_as_500" "$out"; fi
done
if [ -n "$ps" ]; then
	# Exact counts (a duplicate fails) and whole header maps: keys sorted, go-micro's spelling.
	uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
	# gm5 publish (3 messages) -> C subscriber
	"$ps" sub events.c >"$tmp/csub.out" 2>"$tmp/csub.err" & csub=$!; pids+=($csub)
	if wait_ready "$tmp/csub.out"; then
		# gm5 publish returns after its linger (1 s), once its broker has posted everything
		"$bin/gm5" publish --topic events.c --body '{"n":1}' --count 3 --metadata X-From=go >"$tmp/gpub.out" 2>&1
		for _ in $(seq 50); do [ "$(grep -c '"event":"message"' "$tmp/csub.out")" -ge 3 ] && break; sleep 0.1; done
		sleep 0.3 # a duplicate still being printed would show now
		# {"n":1} = 7b226e223a317d
		want="^\\{\"event\":\"message\",\"topic\":\"events.c\",\"body_hex\":\"7b226e223a317d\",\"header\":\\{\"Content-Type\":\"application/json\",\"Micro-ID\":\"$uuid\",\"Micro-Topic\":\"events.c\",\"X-From\":\"go\"\\}\\}$"
		total="$(grep -c '"event":"message"' "$tmp/csub.out")"
		exact="$(grep -cE "$want" "$tmp/csub.out")"
		ids="$(grep -oE "\"Micro-ID\":\"$uuid\"" "$tmp/csub.out" | sort -u | wc -l)"
		if [ "$total" = 3 ] && [ "$exact" = 3 ] && [ "$ids" = 3 ] && [ "$(grep -c '"ok":true' "$tmp/gpub.out")" = 3 ]; then
			ok c_subscriber_gets_gm5_publish
		else bad c_subscriber_gets_gm5_publish "total $total, exact $exact, ids $ids: $(cat "$tmp/csub.out" "$tmp/gpub.out") $(tail -3 "$tmp/csub.err")"; fi
		kill -TERM "$csub"; wait "$csub"; rc=$?
		if [ "$rc" = 0 ]; then ok c_subscriber_exits_cleanly; else bad c_subscriber_exits_cleanly "exit $rc"; fi
	else bad c_subscriber_gets_gm5_publish "no ready line: $(tail -3 "$tmp/csub.err")"; fi
	# C publish -> gm5 subscriber. The C publisher starts first: it must wait until the
	# subscriber is discoverable and publish once (a publish answered "not found" stays queued
	# in the http broker, so a retry would arrive as a second copy).
	"$ps" pub events.go '{"hi":"c","bin":"\u00ff"}' X-From=c >"$tmp/cpub.out" 2>"$tmp/cpub.err" & cpub=$!; pids+=($cpub)
	"$bin/gm5" subscribe --topic events.go >"$tmp/gsub.out" 2>"$tmp/gsub.err" & pids+=($!)
	if wait_ready "$tmp/gsub.out"; then
		wait "$cpub"; echo "exit $?" >>"$tmp/cpub.out" # it exits 1 s after its publish, deliveries done
		for _ in $(seq 50); do grep -q '"event":"message"' "$tmp/gsub.out" && break; sleep 0.1; done
		sleep 0.3 # a duplicate still being printed would show now
		body="$(printf '%s' '{"hi":"c","bin":"\u00ff"}' | base64 -w0)"
		want="^\\{\"event\":\"message\",\"topic\":\"events.go\",\"header\":\\{\"Content-Type\":\"application/json\",\"Micro-ID\":\"$uuid\",\"Micro-Topic\":\"events.go\",\"X-From\":\"c\"\\},\"body\":\"$body\"\\}$"
		total="$(grep -c '"event":"message"' "$tmp/gsub.out")"
		exact="$(grep -cE "$want" "$tmp/gsub.out")"
		if [ "$total" = 1 ] && [ "$exact" = 1 ] && grep -q '^{"ok":true}$' "$tmp/cpub.out" && grep -q '^exit 0$' "$tmp/cpub.out"; then
			ok gm5_subscriber_gets_c_publish
		else bad gm5_subscriber_gets_c_publish "total $total, exact $exact: $(cat "$tmp/gsub.out" "$tmp/cpub.out" "$tmp/cpub.err")"; fi
	else bad gm5_subscriber_gets_c_publish "gm5 subscriber not ready: $(tail -3 "$tmp/gsub.err")"; fi
fi
echo "interop: $fails failed"
exit "$fails"
