#!/usr/bin/env bash
# Our Prometheus metrics against go-micro v5.30.0's own (wrapper/monitoring/prometheus), over
# mDNS inside the private network namespace: the same greeter served by go-micro's Go (wrapped
# by go-micro's Prometheus handler wrapper), by Rust, Python and Node (MICRO_METRICS_ADDRESS,
# nothing else changed); go-micro's client calls each 3 times well and 2 times badly (a null
# body); each /metrics is scraped with curl and parsed by the Prometheus project's Python
# client (metrics_compare.py): the counts, the family names and types, the label names and
# the histogram buckets must be go-micro's.
#   scripts/netns.sh tests/interop/metrics.sh
# Needs: gm5 and prom (tests/interop/go/build.sh gm5 prom), target/debug/server, the Python
# binding in target/python-venv, bindings/node/micro.node, examples/node/greeter's install and
# PyPI's prometheus-client in target/metrics-venv (METRICS_VENV).
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$top/tests/interop/go/bin"
venv="${METRICS_VENV:-$top/target/metrics-venv}"
wait_tries=300
. "$top/tests/interop/lib.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The parser: the Prometheus project's Python client, in a venv of its own (made by
# scripts/test.d/53-metrics.sh, outside the namespace, where PyPI is reachable).
"$venv/bin/python" -c 'import prometheus_client' 2>/dev/null || {
	echo "FAIL metrics: no prometheus-client in $venv (python3 -m venv $venv && $venv/bin/pip install prometheus-client)"
	exit 1
}

# who  service  ready-pattern  command…
start() {
	local who="$1" name="$2" ready="$3" port
	shift 3
	port="$(free_port)"
	echo "$port" >"$tmp/$who.port"
	MICRO_SERVER_NAME="$name" MICRO_METRICS_ADDRESS="127.0.0.1:$port" "$@" >"$tmp/$who.out" 2>"$tmp/$who.err" &
	pids+=($!)
	wait_for "$tmp/$who.out" "$ready" || wait_for "$tmp/$who.err" "$ready" || bad "${who}_ready" "$(tail -3 "$tmp/$who.err")"
}
start go go.metrics '"ready"' "$bin/prom"
start rust rust.metrics 'listening on' "$top/target/debug/server"
start python py.metrics 'serving' "$top/target/python-venv/bin/python" "$top/examples/python/greeter/server.py" py.metrics
start node node.metrics 'serving' node "$top/examples/node/greeter/server.js" node.metrics

# The first good call waits for discovery (mDNS), so nothing is counted before it lands.
call() { "$bin/gm5" call --service "$1" --endpoint Greeter.Hello --body "$2" --retries 0 2>>"$tmp/calls.err"; }
for who in go rust python node; do
	svc="$who.metrics"; [ "$who" = python ] && svc=py.metrics
	found=""
	for _ in $(seq 100); do call "$svc" '{"name":"Metrics"}' | grep -q 'Hello Metrics' && { found=1; break; }; sleep 0.2; done
	[ -n "$found" ] || { bad "${who}_called" "$(tail -3 "$tmp/calls.err")"; continue; }
	for _ in 1 2; do call "$svc" '{"name":"Metrics"}' | grep -q 'Hello Metrics' || bad "${who}_good_call" "$(tail -1 "$tmp/calls.err")"; done
	for _ in 1 2; do call "$svc" 'null' | grep -q '"ok":true' && bad "${who}_bad_call" "null body answered"; done
	curl -fsS "http://127.0.0.1:$(cat "$tmp/$who.port")/metrics" >"$tmp/$who.metrics" || bad "${who}_scrape" "curl failed"
done
# A scraper that asks for OpenMetrics (Prometheus does) gets it, with the same numbers.
curl -fsS -H 'Accept: application/openmetrics-text; version=1.0.0' -D "$tmp/om.headers" \
	"http://127.0.0.1:$(cat "$tmp/rust.port")/metrics" >"$tmp/rust-openmetrics.metrics" || bad rust_openmetrics_scrape "curl failed"
grep -qi '^content-type: application/openmetrics-text' "$tmp/om.headers" || bad rust_openmetrics_content_type "$(grep -i content-type "$tmp/om.headers")"
cp "$tmp"/*.metrics "${METRICS_ARTIFACTS:-$top/target}/" 2>/dev/null || true

"$venv/bin/python" "$top/tests/interop/metrics_compare.py" 3 2 \
	"go=go.metrics:Greeter.Hello:$tmp/go.metrics" \
	"rust=rust.metrics:Greeter.Hello:$tmp/rust.metrics" \
	"python=py.metrics:Greeter.Hello:$tmp/python.metrics" \
	"node=node.metrics:Greeter.Hello:$tmp/node.metrics" \
	"rust-openmetrics=rust.metrics:Greeter.Hello:$tmp/rust-openmetrics.metrics" || fails=$((fails + 1))

echo "metrics interop: $fails failed"
[ "$fails" = 0 ]
