#!/usr/bin/env bash
# One OpenTelemetry trace from go-micro through Python, Node and Rust, over mDNS inside the
# private network namespace. go-micro v5.30.0's own OpenTelemetry client wrapper
# (wrapper/trace/opentelemetry, OTLP/HTTP exporter) starts it; our hosts carry it on in
# go-micro's `Traceparent` metadata and export their spans to the same receiver, which
# decodes them with the OpenTelemetry project's protobuf classes (trace/receiver.py).
#   go (otel) → py.trace (trace/hop.py) → node.trace (trace/hop.js) → rust.trace (greeter)
# Asserted: the trace holds exactly the six spans, each the child of the one before (the Go
# span a root), with go-micro's names and kinds and the resource names set by
# OTEL_SERVICE_NAME; a failing call (empty name: the Rust greeter's 400) marks every span of
# its trace an error; a publish from go-micro ("Pub to trace.events") is the parent of the
# "Sub from trace.events" spans of the Python, Node and Rust subscribers; a publish from the
# Python handler (our client's "Pub to trace.relay") continues the handler's span and is the
# parent of the Node and Rust subscribers' spans.
#   scripts/netns.sh tests/interop/trace.sh
# Needs: otel (tests/interop/go/build.sh otel), target/debug/server and pubsub-example, the
# Python binding in target/python-venv, bindings/node/micro.node and PyPI's
# opentelemetry-proto in target/trace-venv (TRACE_VENV); scripts/test.d/54-trace.sh makes them.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$top/tests/interop/go/bin"
venv="${TRACE_VENV:-$top/target/trace-venv}"
. "$top/tests/interop/lib.sh"

"$venv/bin/python" -c 'import opentelemetry.proto' 2>/dev/null || {
	echo "FAIL trace: no opentelemetry-proto in $venv (python3 -m venv $venv && $venv/bin/pip install opentelemetry-proto)"
	exit 1
}
receiver() { "$venv/bin/python" "$top/tests/interop/trace/receiver.py" "$@"; }
spans="$tmp/spans.jsonl"
# Started directly, not through the function: $! must be the receiver itself, for cleanup to end it.
"$venv/bin/python" "$top/tests/interop/trace/receiver.py" serve "$spans" >"$tmp/receiver.out" 2>"$tmp/receiver.err" &
pids+=($!)
wait_for "$tmp/receiver.out" '^listening' || { echo "FAIL receiver: $(tail -3 "$tmp/receiver.err")"; exit 1; }
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(awk '{print $2}' "$tmp/receiver.out")"
# Export soon after a span ends (Go's SDK and ours both read it), so the receiver is the sync.
export OTEL_BSP_SCHEDULE_DELAY=100

# who  OTEL_SERVICE_NAME  ready-pattern  command…
start() {
	local who="$1" otel="$2" ready="$3"
	shift 3
	OTEL_SERVICE_NAME="$otel" "$@" >"$tmp/$who.out" 2>"$tmp/$who.err" &
	pids+=($!)
	wait_for "$tmp/$who.out" "$ready" || bad "${who}_ready" "$(tail -3 "$tmp/$who.err")"
}
start rust rust-greeter 'listening on' env MICRO_SERVER_NAME=rust.trace "$top/target/debug/server"
start rustsub rust-sub 'subscribed to' env MICRO_SERVER_NAME=rust.sub "$top/target/debug/pubsub-example" sub trace.events
start rustrelay rust-relay-sub 'subscribed to' env MICRO_SERVER_NAME=rust.relay "$top/target/debug/pubsub-example" sub trace.relay
start node node-hop 'serving' node "$top/tests/interop/trace/hop.js" node.trace rust.trace
start python python-hop 'serving' "$top/target/python-venv/bin/python" "$top/tests/interop/trace/hop.py" py.trace node.trace

# go  name  otel-args…: runs go-micro's traced client; its first line is its span's ids.
go() {
	local name="$1"
	shift
	OTEL_SERVICE_NAME=go-client "$bin/otel" "$@" >"$tmp/$name.go" 2>"$tmp/$name.goerr"
}
trace_of() { head -1 "$tmp/$1.go" | sed -n 's/.*"trace_id":"\([0-9a-f]*\)".*/\1/p'; }
chain=(
	"go-client:py.trace.Greeter.Hello:client"
	"python-hop:py.trace.Greeter.Hello:server"
	"python-hop:node.trace.Greeter.Hello:client"
	"node-hop:node.trace.Greeter.Hello:server"
	"node-hop:rust.trace.Greeter.Hello:client"
	"rust-greeter:rust.trace.Greeter.Hello:server"
)

# A good call: the answer went through every hop, and its trace is the chain.
go good call py.trace Greeter.Hello '{"name":"Trace"}' || bad good_call "$(tail -3 "$tmp/good.goerr") $(tail -1 "$tmp/good.go")"
grep -q 'py.trace > node.trace > Hello Trace' "$tmp/good.go" || bad good_answer "$(tail -1 "$tmp/good.go")"
t="$(trace_of good)"
if [ -z "$t" ]; then bad good_trace "no trace id from go: $(cat "$tmp/good.go")"; else
	receiver wait "$spans" "$t" 6 || fails=$((fails + 1))
	receiver chain "$spans" "$t" "${chain[@]}" || fails=$((fails + 1))
fi

# A failing call: the Rust greeter's 400 comes back through every hop, each span an error.
go bad call py.trace Greeter.Hello '{"name":""}' && bad bad_call "answered: $(tail -1 "$tmp/bad.go")"
grep -q 'name required' "$tmp/bad.go" || bad bad_answer "$(tail -1 "$tmp/bad.go")"
t="$(trace_of bad)"
if [ -z "$t" ]; then bad bad_trace "no trace id from go: $(cat "$tmp/bad.go")"; else
	receiver wait "$spans" "$t" 6 || fails=$((fails + 1))
	receiver chain "$spans" "$t" "${chain[@]/%/:error}" || fails=$((fails + 1))
fi

# A publish: go-micro's "Pub to" span is the parent of each subscriber's "Sub from" span.
# -hold: go-micro's http broker delivers after Publish returns, so the publisher stays up.
OTEL_SERVICE_NAME=go-client "$bin/otel" -hold -subscribers 3 publish trace.events '{"text":"traced","n":1}' \
	>"$tmp/pub.go" 2>"$tmp/pub.goerr" &
pids+=($!)
wait_for "$tmp/pub.go" 'trace_id' || bad publish "$(tail -3 "$tmp/pub.goerr")"
t="$(trace_of pub)"
if [ -z "$t" ]; then bad pub_trace "no trace id from go: $(cat "$tmp/pub.go")"; else
	receiver wait "$spans" "$t" 4 || fails=$((fails + 1))
	receiver fan "$spans" "$t" "go-client:Pub to trace.events:client" "python-hop:Sub from trace.events:server" \
		"node-hop:Sub from trace.events:server" "rust-sub:Sub from trace.events:server" || fails=$((fails + 1))
fi

# A publish from a handler (ours, Python's client): "Pub to trace.relay" is the child of the
# Python server span and the parent of the Node and Rust subscribers' "Sub from" spans.
go relay call py.trace Greeter.Announce '{"text":"relayed","n":2}' || bad relay_call "$(tail -3 "$tmp/relay.goerr") $(tail -1 "$tmp/relay.go")"
t="$(trace_of relay)"
if [ -z "$t" ]; then bad relay_trace "no trace id from go: $(cat "$tmp/relay.go")"; else
	receiver wait "$spans" "$t" 5 || fails=$((fails + 1))
	receiver chain "$spans" "$t" "go-client:py.trace.Greeter.Announce:client" "python-hop:py.trace.Greeter.Announce:server" \
		"python-hop:Pub to trace.relay:client" "node-hop:Sub from trace.relay:server" \
		"rust-relay-sub:Sub from trace.relay:server^2" || fails=$((fails + 1))
fi

cp "$spans" "${TRACE_ARTIFACTS:-$top/target}/trace-spans.jsonl" 2>/dev/null || true
echo "trace interop: $fails failed"
[ "$fails" = 0 ]
