#!/usr/bin/env bash
# C <-> go-micro interop over mDNS; run inside scripts/netns.sh (it re-execs itself there).
#   tests/c/interop.sh SERVER_BIN CLIENT_BIN [PUBSUB_BIN]
# A C server answers gm5, gm4 and gm6 clients (RPC, metadata and a bidi stream), and its
# service subscriber (micro_service_subscribe) is a go-micro subscriber endpoint in mDNS that
# receives gm5, gm4 and gm6 publishes over the http broker; a C client calls gm5, gm4 and gm6
# services (metadata reaching the Go handler too); with PUBSUB_BIN (examples/c/pubsub) over
# the http broker: a C subscriber receives gm5 and gm6 publishes and gm5 and gm6 subscribers
# receive a C publish (body bytes and headers intact).
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

# go-micro's mDNS lookup gives up after its own short wait, and on a loaded machine it can
# miss a service that is registered: a "not found" answer is asked again (up to 10 times);
# any other answer is final.
gmcall() {
	local out
	for _ in $(seq 10); do
		out="$("$@" 2>>"$tmp/gmcall.err")"
		case "$out" in *'not found'*) sleep 0.2 ;; *) break ;; esac
	done
	printf '%s\n' "$out"
}

tmp="$(mktemp -d)"
"$srv" c.greeter events.csvc >"$tmp/c.out" 2>"$tmp/c.err" & pids+=($!)
wait_ready "$tmp/c.out" || { cat "$tmp/c.err"; bad c_server_ready "no ready line"; exit 1; }
for v in gm5 gm4 gm6; do
	out="$(gmcall "$bin/$v" call --service c.greeter --endpoint Greeter.Hello --body '{"name":"Go"}')"
	if echo "$out" | grep -q '"ok":true,"body":"{\\"message\\":\\"Hello Go\\"}\\n"'; then ok "${v}_client_calls_c_server"; else bad "${v}_client_calls_c_server" "$out"; fi
	out="$(gmcall "$bin/$v" call --service c.greeter --endpoint Greeter.Hello --body '{}')"
	if echo "$out" | grep -q '"code":400'; then ok "${v}_client_gets_c_error"; else bad "${v}_client_gets_c_error" "$out"; fi
	# metadata from the Go caller reaches the C handler (micro_request_header)
	out="$(gmcall "$bin/$v" call --service c.greeter --endpoint Greeter.Hello --body '{"name":"md"}' --metadata "X-Trace-Id=go-$v")"
	if echo "$out" | grep -qF "\"body\":\"{\\\"message\\\":\\\"Hello md\\\",\\\"metadata\\\":{\\\"X-Trace-Id\\\":\\\"go-$v\\\"}}\\n\""; then
		ok "${v}_client_metadata_reaches_c_handler"
	else bad "${v}_client_metadata_reaches_c_handler" "$out"; fi
	# a go-micro bidi stream against the C stream handler: one greeting per name, in order
	out="$("$bin/$v" stream --service c.greeter --endpoint Greeter.Stream --names a,b,c --timeout-ms 10000 2>"$tmp/$v.stream.err")"
	want="$(for n in a b c; do printf '%s\n' "\"ok\":true,\"body\":\"{\\\"message\\\":\\\"Hello $n\\\"}\\n\""; done)"
	got="$(echo "$out" | grep -o '"ok":[a-z]*,"body":"[^,]*"')"
	if [ "$got" = "$want" ] && [ "$(echo "$out" | wc -l)" = 3 ]; then ok "${v}_stream_to_c_stream_handler"; else bad "${v}_stream_to_c_stream_handler" "$out $(tail -3 "$tmp/$v.stream.err")"; fi
done
# the C service's subscriber, as go-micro sees it: a Func endpoint with subscriber/topic metadata
for v in gm5 gm6; do
	out="$("$bin/$v" get --service c.greeter --wait-ms 5000 2>/dev/null)"
	if echo "$out" | grep -q '"name":"Func"' && echo "$out" | grep -q '"subscriber":"true"' && echo "$out" | grep -q '"topic":"events.csvc"'; then
		ok "${v}_sees_c_service_subscriber_endpoint"
	else bad "${v}_sees_c_service_subscriber_endpoint" "$out"; fi
done
# gm5 publishes 5 messages, gm4 one, gm6 one: the C service subscriber gets each exactly once
# (the http broker posts each publish on its own connection: arrival order is not checked here)
"$bin/gm5" publish --topic events.csvc --body '{"n":5}' --count 5 --metadata X-From=gm5 >"$tmp/g5pub.out" 2>&1
"$bin/gm4" publish --topic events.csvc --body '{"n":4}' --metadata X-From=gm4 >"$tmp/g4pub.out" 2>&1
"$bin/gm6" publish --topic events.csvc --body '{"n":6}' --metadata X-From=gm6 >"$tmp/g6pub.out" 2>&1
for _ in $(seq 100); do [ "$(grep -c '"event":"message"' "$tmp/c.out")" -ge 7 ] && break; sleep 0.1; done
sleep 0.3
# {"n":5} = 7b226e223a357d, {"n":4} = 7b226e223a347d
n5="$(grep '"event":"message"' "$tmp/c.out" | grep '"topic":"events.csvc","body_hex":"7b226e223a357d"' | grep '"X-From":"gm5"' | grep -c '"Micro-Topic":"events.csvc"')"
n4="$(grep '"event":"message"' "$tmp/c.out" | grep '"topic":"events.csvc","body_hex":"7b226e223a347d"' | grep -c '"X-From":"gm4"')"
# {"n":6} = 7b226e223a367d
n6="$(grep '"event":"message"' "$tmp/c.out" | grep '"topic":"events.csvc","body_hex":"7b226e223a367d"' | grep '"X-From":"gm6"' | grep -c '"Micro-Topic":"events.csvc"')"
ids="$(grep '"event":"message"' "$tmp/c.out" | grep -o '"Micro-I[Dd]":"[^"]*"' | sort -u | wc -l)"
total="$(grep -c '"event":"message"' "$tmp/c.out")"
if [ "$n5" = 5 ] && [ "$ids" = 7 ] && [ "$total" = 7 ]; then ok c_service_subscriber_gets_gm5_publishes; else bad c_service_subscriber_gets_gm5_publishes "gm5 $n5/5, ids $ids, total $total: $(cat "$tmp/c.out" "$tmp/g5pub.out")"; fi
if [ "$n4" = 1 ]; then ok c_service_subscriber_gets_gm4_publish; else bad c_service_subscriber_gets_gm4_publish "$(cat "$tmp/g4pub.out")"; fi
if [ "$n6" = 1 ]; then ok c_service_subscriber_gets_gm6_publish; else bad c_service_subscriber_gets_gm6_publish "$(cat "$tmp/g6pub.out")"; fi
for v in gm5 gm4 gm6; do
	"$bin/$v" serve --name "go.$v" >"$tmp/$v.out" 2>"$tmp/$v.err" & pids+=($!)
	wait_ready "$tmp/$v.out" || { bad "${v}_ready" "$(tail -3 "$tmp/$v.err")"; continue; }
	out="$("$cli" C "go.$v" 2>&1)"
	if [ "$out" = '{"message":"Hello C"}' ]; then ok "c_client_calls_${v}_server"; else bad "c_client_calls_${v}_server" "$out"; fi
	# go-micro answers an unknown handler in plain text: a 500 from go.micro.client, as go-micro's client says
	out="$("$cli" C "go.$v" Nope.Hello 2>&1)"
	if echo "$out" | grep -q '"id":"go.micro.client","code":500,"detail":"rpc: can.t find service Nope'; then ok "c_client_gets_${v}_plain_text_error_as_500"; else bad "c_client_gets_${v}_plain_text_error_as_500" "$out"; fi
	# metadata from the C caller reaches the Go handler's context (echoed for the name "md")
	out="$("$cli" md "go.$v" "X-Trace-Id=c-$v" 2>&1)"
	if echo "$out" | grep -qF "\"X-Trace-Id\":\"c-$v\""; then ok "c_client_metadata_reaches_${v}_handler"; else bad "c_client_metadata_reaches_${v}_handler" "$out"; fi
done
if [ -n "$ps" ]; then
	# Exact counts (a duplicate fails) and whole header maps: keys sorted, go-micro's spelling.
	uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
	for v in gm5 gm6; do
		# Go publish (3 messages) -> C subscriber
		"$ps" sub events.c.$v >"$tmp/csub.$v.out" 2>"$tmp/csub.$v.err" & csub=$!; pids+=($csub)
		if wait_ready "$tmp/csub.$v.out"; then
			# the Go publish returns after its linger (1 s), once its broker has posted everything
			"$bin/$v" publish --topic events.c.$v --body '{"n":1}' --count 3 --metadata X-From=go >"$tmp/gpub.$v.out" 2>&1
			for _ in $(seq 50); do [ "$(grep -c '"event":"message"' "$tmp/csub.$v.out")" -ge 3 ] && break; sleep 0.1; done
			sleep 0.3 # a duplicate still being printed would show now
			# {"n":1} = 7b226e223a317d
			want="^\\{\"event\":\"message\",\"topic\":\"events.c.$v\",\"body_hex\":\"7b226e223a317d\",\"header\":\\{\"Content-Type\":\"application/json\",\"Micro-ID\":\"$uuid\",\"Micro-Topic\":\"events.c.$v\",\"X-From\":\"go\"\\}\\}$"
			total="$(grep -c '"event":"message"' "$tmp/csub.$v.out")"
			exact="$(grep -cE "$want" "$tmp/csub.$v.out")"
			ids="$(grep -oE "\"Micro-ID\":\"$uuid\"" "$tmp/csub.$v.out" | sort -u | wc -l)"
			if [ "$total" = 3 ] && [ "$exact" = 3 ] && [ "$ids" = 3 ] && [ "$(grep -c '"ok":true' "$tmp/gpub.$v.out")" = 3 ]; then
				ok "c_subscriber_gets_${v}_publish"
			else bad "c_subscriber_gets_${v}_publish" "total $total, exact $exact, ids $ids: $(cat "$tmp/csub.$v.out" "$tmp/gpub.$v.out") $(tail -3 "$tmp/csub.$v.err")"; fi
			kill -TERM "$csub"; wait "$csub"; rc=$?
			if [ "$rc" = 0 ]; then ok "c_subscriber_exits_cleanly_$v"; else bad "c_subscriber_exits_cleanly_$v" "exit $rc"; fi
		else bad "c_subscriber_gets_${v}_publish" "no ready line: $(tail -3 "$tmp/csub.$v.err")"; fi
		# C publish -> Go subscriber. The C publisher starts first: it must wait until the
		# subscriber is discoverable and publish once (a publish answered "not found" stays queued
		# in the http broker, so a retry would arrive as a second copy).
		"$ps" pub events.go.$v '{"hi":"c","bin":"\u00ff"}' X-From=c >"$tmp/cpub.$v.out" 2>"$tmp/cpub.$v.err" & cpub=$!; pids+=($cpub)
		"$bin/$v" subscribe --topic events.go.$v >"$tmp/gsub.$v.out" 2>"$tmp/gsub.$v.err" & pids+=($!)
		if wait_ready "$tmp/gsub.$v.out"; then
			wait "$cpub"; echo "exit $?" >>"$tmp/cpub.$v.out" # it exits 1 s after its publish, deliveries done
			for _ in $(seq 50); do grep -q '"event":"message"' "$tmp/gsub.$v.out" && break; sleep 0.1; done
			sleep 0.3 # a duplicate still being printed would show now
			body="$(printf '%s' '{"hi":"c","bin":"\u00ff"}' | base64 -w0)"
			want="^\\{\"event\":\"message\",\"topic\":\"events.go.$v\",\"header\":\\{\"Content-Type\":\"application/json\",\"Micro-ID\":\"$uuid\",\"Micro-Topic\":\"events.go.$v\",\"X-From\":\"c\"\\},\"body\":\"$body\"\\}$"
			total="$(grep -c '"event":"message"' "$tmp/gsub.$v.out")"
			exact="$(grep -cE "$want" "$tmp/gsub.$v.out")"
			if [ "$total" = 1 ] && [ "$exact" = 1 ] && grep -q '^{"ok":true}$' "$tmp/cpub.$v.out" && grep -q '^exit 0$' "$tmp/cpub.$v.out"; then
				ok "${v}_subscriber_gets_c_publish"
			else bad "${v}_subscriber_gets_c_publish" "total $total, exact $exact: $(cat "$tmp/gsub.$v.out" "$tmp/cpub.$v.out" "$tmp/cpub.$v.err")"; fi
		else bad "${v}_subscriber_gets_c_publish" "$v subscriber not ready: $(tail -3 "$tmp/gsub.$v.err")"; fi
	done
fi
echo "interop: $fails failed"
exit "$fails"
