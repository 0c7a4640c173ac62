#!/usr/bin/env bash
# Go<->Go self test of the gm4/gm5/gm6 harness binaries (every client against
# every server: gm6 <-> gm5 both ways, gm4 <-> gm5 both ways). Runs itself inside a
# private network namespace (scripts/netns.sh), so mDNS never leaves loopback.
# Exits non-zero on the first mismatch. Every command is bounded by timeouts
# and all background processes are killed on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

if [ "${MICRO_NETNS:-}" != "1" ]; then
	"$here/build.sh"
	exec "$root/scripts/netns.sh" "$here/$(basename "${BASH_SOURCE[0]}")" "$@"
fi

B="$here/bin"
T="$(mktemp -d /tmp/gm-selftest.XXXXXX)"
PIDS=()
FAILED=0

cleanup() {
	local rc=$?
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.2
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
		echo "selftest: FAILED (logs kept in $T)" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

say() { echo "--- $*" >&2; }
die() { FAILED=1; echo "selftest: FAIL: $*" >&2; exit 1; }

# start NAME CMD... : run CMD in the background, stdout -> $T/NAME.out
start() {
	local name="$1"; shift
	"$@" >"$T/$name.out" 2>"$T/$name.err" &
	PIDS+=("$!")
	eval "PID_$name=$!"
}

# wait_ready NAME : wait (max 10 s) for the ready line
wait_ready() {
	local i
	for i in $(seq 100); do
		if grep -q '"event":"ready"' "$T/$1.out" 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	cat "$T/$1.err" >&2 || true
	die "$1 did not become ready"
}

# field NAME KEY : extract a string field from the ready line
field() {
	grep -m1 '"event":"ready"' "$T/$1.out" | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}

# run CMD... : run a client command (max 20 s), stdout captured in $OUT
run() {
	OUT="$(timeout 20 "$@" 2>"$T/last.err")" || die "command failed (rc=$?): $* :: $(cat "$T/last.err")"
}

# expect_out EXACT : $OUT must equal EXACT
expect_out() {
	[ "$OUT" = "$1" ] || die "unexpected output
  got:  $OUT
  want: $1"
}

# expect_has FRAGMENT... : $OUT must contain every fragment
expect_has() {
	local f
	for f in "$@"; do
		case "$OUT" in *"$f"*) ;; *) die "output lacks '$f'
  got: $OUT" ;; esac
	done
}

# wait_count NAME FRAGMENT N : wait (max 10 s) until $T/NAME.out has N lines containing FRAGMENT
wait_count() {
	local i n=0
	for i in $(seq 100); do
		n=$(grep -cF -- "$2" "$T/$1.out" 2>/dev/null || true)
		[ "$n" -ge "$3" ] && break
		sleep 0.1
	done
	[ "$n" -eq "$3" ] || die "$1: expected $3 lines with '$2', got $n"
}

# wait_has NAME FRAGMENT [SECONDS] : wait (max SECONDS, default 10) until $T/NAME.out has a line containing FRAGMENT
wait_has() {
	local i
	for i in $(seq $(( ${3:-10} * 10 ))); do
		grep -qF -- "$2" "$T/$1.out" 2>/dev/null && return 0
		sleep 0.1
	done
	die "$1: no line with '$2'"
}

hello_line() { printf '{"ok":true,"body":"{\\"message\\":\\"Hello %s\\"}\\n","body_b64":"%s"}' "$1" "$(printf '{"message":"Hello %s"}\n' "$1" | base64 -w0)"; }

say "starting servers and subscribers"
start s5 "$B/gm5" serve --name go.greeter --subscribe events --proto
start s4 "$B/gm4" serve --name go.greeter4 --subscribe events --sub-arg frame --version 4.0 --proto
start s6 "$B/gm6" serve --name go.greeter6 --subscribe events --version 6.0 --proto
start b6 "$B/gm6" subscribe --topic events
start b5 "$B/gm5" subscribe --topic events
start b4 "$B/gm4" subscribe --topic events
start q1 "$B/gm5" subscribe --topic work --queue workers
start q2 "$B/gm4" subscribe --topic work --queue workers
start q3 "$B/gm6" subscribe --topic work --queue workers
for n in s5 s4 s6 b5 b4 b6 q1 q2 q3; do wait_ready "$n"; done

ID5="$(field s5 id)"; ADDR5="$(field s5 address)"
ID4="$(field s4 id)"; ADDR4="$(field s4 address)"
ID6="$(field s6 id)"; ADDR6="$(field s6 address)"
case "$ID5" in go.greeter-*) ;; *) die "bad id $ID5" ;; esac
case "$ADDR5" in 127.0.0.1:*) ;; *) die "serve on 127.0.0.1:0 registered $ADDR5" ;; esac

for cli in gm5 gm4 gm6; do
	for svc in go.greeter go.greeter4 go.greeter6; do
		say "$cli -> $svc"
		case "$svc" in
		go.greeter) id="$ID5"; addr="$ADDR5" ;;
		go.greeter4) id="$ID4"; addr="$ADDR4" ;;
		*) id="$ID6"; addr="$ADDR6" ;;
		esac

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Hello --body '{"name":"Bob"}'
		expect_out "$(hello_line Bob)"

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Hello --body '{"name":"Ann"}' --count 3 --interval-ms 10
		expect_out "$(hello_line Ann)
$(hello_line Ann)
$(hello_line Ann)"

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Fail --body '{"code":418,"detail":"short and stout"}'
		expect_out '{"ok":false,"error":{"id":"go.greeter","code":418,"detail":"short and stout","status":"I'"'"'m a teapot"}}'

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Fail --body '{"code":404,"detail":"nothing here"}'
		expect_out '{"ok":false,"error":{"id":"go.greeter","code":404,"detail":"nothing here","status":"Not Found"}}'

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Whoami --body '{}'
		expect_has '"ok":true' "\"message\\\":\\\"$id\\\""

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Slow --body '{"ms":50}'
		expect_has '"ok":true' 'slept'

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Hello --body '{"name":"Direct"}' --address "$addr"
		expect_out "$(hello_line Direct)"

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Nope --body '{}'
		expect_has '"ok":false' "can't find method Nope"

		# protobuf through go-micro's proto codec on the server (StringValue), raw Frame on the client
		run "$B/$cli" call --service "$svc" --endpoint Proto.Echo --content-type application/protobuf --body-b64 CgNCb2I=
		expect_out '{"ok":true,"body":"\n\tHello Bob","body_b64":"CglIZWxsbyBCb2I="}'
		run "$B/$cli" call --service "$svc" --endpoint Proto.Echo --content-type application/protobuf --body ''
		expect_out '{"ok":true,"body":"\n\u0006Hello ","body_b64":"CgZIZWxsbyA="}'

		run "$B/$cli" call --service "$svc" --endpoint Greeter.Hello --body '{"name":"T"}' --count 2 --stamp
		expect_has '"ok":true' '"at_ms":' '"took_ms":'
		[ "$(printf '%s\n' "$OUT" | grep -c '"at_ms":')" -eq 2 ] || die "--stamp: expected 2 stamped lines: $OUT"

		run "$B/$cli" stream --service "$svc" --endpoint Greeter.Stream --names a,b,c
		expect_out "$(hello_line a)
$(hello_line b)
$(hello_line c)"
	done
done

say "timeouts and retries"
run "$B/gm5" call --service go.greeter --endpoint Greeter.Slow --body '{"ms":1500}' --timeout-ms 300 --retries 0
expect_has '"ok":false' '"code":408'
run "$B/gm4" call --service go.greeter --endpoint Greeter.Slow --body '{"ms":1500}' --timeout-ms 300 --retries 0
expect_has '"ok":false' '"code":408'
run "$B/gm6" call --service go.greeter --endpoint Greeter.Slow --body '{"ms":1500}' --timeout-ms 300 --retries 0
expect_has '"ok":false' '"code":408'
run "$B/gm5" call --service go.greeter6 --endpoint Greeter.Slow --body '{"ms":1500}' --timeout-ms 300 --retries 0
expect_has '"ok":false' '"code":408'
run "$B/gm6" call --service go.nobody --endpoint Greeter.Hello --body '{}' --retries 1 --retry-always
expect_has '"ok":false' '"id":"go.micro.client"' '"code":500'
run "$B/gm5" call --service go.nobody --endpoint Greeter.Hello --body '{}' --retries 1 --retry-always
expect_has '"ok":false' '"id":"go.micro.client"' '"code":500'

say "registry get/list"
for cli in gm5 gm4 gm6; do
	run "$B/$cli" get --service go.greeter
	expect_has '[{"name":"go.greeter","version":"latest","metadata":null,"endpoints":[' \
		'"name":"Greeter.Hello"' '"name":"Greeter.Stream"' '"metadata":{"stream":"true"}' \
		'"metadata":{"subscriber":"true","topic":"events"}' \
		"\"metadata\":{\"broker\":\"http\",\"protocol\":\"mucp\",\"registry\":\"mdns\",\"server\":\"mucp\",\"transport\":\"http\"},\"id\":\"$ID5\",\"address\":\"$ADDR5\""
	run "$B/$cli" get --service go.greeter6
	expect_has '"name":"go.greeter6","version":"6.0"' '"name":"Proto.Echo"' \
		"\"metadata\":{\"broker\":\"http\",\"protocol\":\"mucp\",\"registry\":\"mdns\",\"server\":\"mucp\",\"transport\":\"http\"},\"id\":\"$ID6\",\"address\":\"$ADDR6\""
	run "$B/$cli" get --service go.greeter4
	expect_has '"name":"go.greeter4","version":"4.0"' "\"id\":\"$ID4\""
	run "$B/$cli" get --service micro.http.broker
	expect_has '"version":"ff.http.broadcast"' '"version":"workers"' '"topic":"events"' '"topic":"work"'
	run "$B/$cli" list
	expect_has '"go.greeter"' '"go.greeter4"' '"go.greeter6"' '"micro.http.broker"'
	run "$B/$cli" get --service go.absent
	expect_out '[]'
done

say "publish/subscribe over the HTTP broker"
body='{"say":"hi"}'
b64="$(printf '%s' "$body" | base64 -w0)"
run "$B/gm5" publish --topic events --body "$body" --metadata X-Trace=t5 --linger-ms 300
expect_out '{"ok":true}'
run "$B/gm4" publish --topic events --body "$body" --metadata X-Trace=t4 --linger-ms 300
expect_out '{"ok":true}'
run "$B/gm6" publish --topic events --body "$body" --metadata X-Trace=t6 --linger-ms 300
expect_out '{"ok":true}'
for n in s5 s4 s6 b5 b4 b6; do
	wait_count "$n" "\"body\":\"$b64\"" 3
	wait_count "$n" '"X-Trace":"t5"' 1
	wait_count "$n" '"X-Trace":"t4"' 1
	wait_count "$n" '"X-Trace":"t6"' 1
	wait_count "$n" '"Micro-Topic":"events"' 3
done
grep -q '"header":{"Content-Type":"application/json","Micro-ID":"' "$T/b5.out" || die "b5: header shape"
grep -q '"header":{"Content-Type":"application/json","Micro-ID":"' "$T/b6.out" || die "b6: header shape"

# binary body with a non-JSON content type, broker-level subscribers only see exact bytes
run "$B/gm5" publish --topic events --body-b64 AAEC/w== --content-type application/octet-stream --linger-ms 300
expect_out '{"ok":true}'
for n in b5 b4 b6 s4; do wait_count "$n" '"body":"AAEC/w=="' 1; done

say "queue group delivers each message once"
run "$B/gm5" publish --topic work --body '{"n":1}' --count 4 --interval-ms 150 --linger-ms 500
expect_out '{"ok":true}
{"ok":true}
{"ok":true}
{"ok":true}'
total=0
for i in $(seq 50); do
	total=$(( $(grep -c '"event":"message"' "$T/q1.out" || true) + $(grep -c '"event":"message"' "$T/q2.out" || true) + $(grep -c '"event":"message"' "$T/q3.out" || true) ))
	[ "$total" -ge 4 ] && break
	sleep 0.1
done
sleep 0.3
total=$(( $(grep -c '"event":"message"' "$T/q1.out" || true) + $(grep -c '"event":"message"' "$T/q2.out" || true) + $(grep -c '"event":"message"' "$T/q3.out" || true) ))
[ "$total" -eq 4 ] || die "queue group: expected 4 deliveries in total, got $total"

NATS_BIN="${NATS_SERVER:-$(command -v nats-server || true)}"
if [ -n "$NATS_BIN" ]; then
	say "NATS broker (gm5; gm4 must refuse)"
	start nats "$NATS_BIN" -a 127.0.0.1 -p 4222
	for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.1; done
	start n5 "$B/gm5" subscribe --broker nats --topic nev
	wait_ready n5
	run "$B/gm5" publish --broker nats --topic nev --body "$body" --metadata X-Trace=nats --linger-ms 200
	expect_out '{"ok":true}'
	wait_count n5 "\"body\":\"$b64\"" 1
	wait_count n5 '"X-Trace":"nats"' 1
	# gm6 <-> gm5 over NATS, both ways
	start n6 "$B/gm6" subscribe --broker nats --topic nev
	wait_ready n6
	run "$B/gm6" publish --broker nats --topic nev --body "$body" --metadata X-Trace=nats6 --linger-ms 200
	expect_out '{"ok":true}'
	wait_count n5 '"X-Trace":"nats6"' 1
	wait_count n6 '"X-Trace":"nats6"' 1
	run "$B/gm5" publish --broker nats --topic nev --body "$body" --metadata X-Trace=nats5 --linger-ms 200
	expect_out '{"ok":true}'
	wait_count n6 '"X-Trace":"nats5"' 1
	if timeout 10 "$B/gm4" publish --broker nats --topic nev --body "$body" >/dev/null 2>&1; then
		die "gm4 accepted --broker nats"
	fi
else
	say "NATS: skipped (no nats-server on PATH; set NATS_SERVER=/path/to/nats-server)"
fi

say "https broker (errata): v6 checks the subscriber's certificate by default, v5 does not"
# A gm5 broker subscriber serving https with go-micro's self-signed certificate. A publisher
# delivers asynchronously after Publish returns; once its process has exited (after the
# linger) it can deliver nothing more, so the gm5 message arriving after the gm6 publisher
# exited shows whether the gm6 message was refused.
start hs env GM_BROKER_SECURE=true "$B/gm5" subscribe --topic tlsev
wait_ready hs
gm_b64() { printf '{"from":"%s"}' "$1" | base64 -w0; }
run "$B/gm6" publish --topic tlsev --body '{"from":"gm6"}' --linger-ms 500
run "$B/gm5" publish --topic tlsev --body '{"from":"gm5"}' --linger-ms 500
wait_count hs "\"body\":\"$(gm_b64 gm5)\"" 1
[ "$(grep -c "\"body\":\"$(gm_b64 gm6)\"" "$T/hs.out")" -eq 0 ] || die "gm6 delivered to a self-signed https subscriber without MICRO_TLS_INSECURE"
run env MICRO_TLS_INSECURE=true "$B/gm6" publish --topic tlsev --body '{"from":"gm6i"}' --linger-ms 500
wait_count hs "\"body\":\"$(gm_b64 gm6i)\"" 1

say "status-text: go-micro errors.New status for every code"
for cli in gm5 gm4 gm6; do
	run "$B/$cli" status-text
	expect_has '"418":"I'"'"'m a teapot"' '"404":"Not Found"' '"511":"Network Authentication Required"'
	eval "ST_$cli=\$OUT"
done
[ "$ST_gm6" = "$ST_gm5" ] || die "status-text differs between gm6 and gm5"


say "watch: announcements, goodbyes and the registry cache view"
start w5 "$B/gm5" watch --service go.watched --cache-ms 200
start w4 "$B/gm4" watch --service go.watched --cache-ms 200
start w6 "$B/gm6" watch --service go.watched --cache-ms 200
wait_ready w5; wait_ready w4; wait_ready w6
grep -q '"event":"ready","service":"go.watched"' "$T/w5.out" || die "watch ready line: $(cat "$T/w5.out")"
start sw "$B/gm4" serve --name go.watched
wait_ready sw
IDW="$(field sw id)"
for n in w5 w4 w6; do
	wait_has "$n" "\"action\":\"create\",\"service\":{\"name\":\"go.watched\""
	wait_has "$n" "\"id\":\"$IDW\""
	# a v5 cache that looked the name up before it existed waits 5 s before asking again
	wait_has "$n" "\"event\":\"view\",\"nodes\":[\"$IDW\"]" 20
done
kill -TERM "$PID_sw"
wait "$PID_sw" || die "gm4 serve (watched) exited non-zero"
for n in w5 w4 w6; do
	wait_has "$n" '"action":"delete"'
	wait_has "$n" '"event":"view","nodes":[]'
done
kill -TERM "$PID_w5" "$PID_w4" "$PID_w6"
wait "$PID_w5" || die "gm5 watch exited non-zero after SIGTERM"
wait "$PID_w6" || die "gm6 watch exited non-zero after SIGTERM"
wait "$PID_w4" || die "gm4 watch exited non-zero after SIGTERM"

say "SIGTERM deregisters and exits 0"
kill -TERM "$PID_s4"
rc=0; timeout 10 tail --pid="$PID_s4" -f /dev/null || rc=$?
[ "$rc" -eq 0 ] || die "gm4 serve did not exit after SIGTERM"
wait "$PID_s4" || die "gm4 serve exited non-zero"
run "$B/gm5" get --service go.greeter4
expect_out '[]'
run "$B/gm5" call --service go.greeter4 --endpoint Greeter.Hello --body '{}' --retries 0
expect_has '"ok":false' '"code":500' 'go.greeter4'

kill -TERM "$PID_s6"
wait "$PID_s6" || die "gm6 serve exited non-zero"
run "$B/gm5" get --service go.greeter6
expect_out '[]'

kill -TERM "$PID_s5"
wait "$PID_s5" || die "gm5 serve exited non-zero"
run "$B/gm6" get --service go.greeter
expect_out '[]'

say "all checks passed"
echo "selftest: OK"
