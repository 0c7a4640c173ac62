#!/usr/bin/env bash
# `micro proxy` end to end, inside scripts/netns.sh (mDNS): a plain HTTP program with no
# micro binding (tests/sidecar/neighbour.py, Python's standard library only) beside our
# sidecar, and real go-micro v5.30.0 peers (tests/interop/go/bin/gm5).
#
#  - the program is registered by the sidecar and called by a go-micro client through the
#    mesh; its health URL failing deregisters it, recovering registers it again;
#  - the program calls a go-micro service, publishes to a go-micro subscriber and receives a
#    go-micro publisher's messages over the sidecar's websocket;
#  - the CLI with --proxy_address from a second network namespace joined to this one by a
#    veth pair only (no multicast route there: the sidecar's TCP port is all it reaches);
#  - bad input: a non-JSON body, an unknown service, a websocket client that never reads
#    (dropped and logged), a neighbour that hangs (the call times out, the sidecar serves on).
#
# Every wait polls for an event with a deadline; nothing sleeps a fixed time to be "ready".
#
#   scripts/netns.sh tests/sidecar/e2e.sh        (after cargo build -p micro-cli)
set -euo pipefail
[ "${MICRO_NETNS:-}" = 1 ] || { echo "e2e.sh: run inside scripts/netns.sh" >&2; exit 2; }
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MICRO="${MICRO:-$top/target/debug/micro}"
GM5="$top/tests/interop/go/bin/gm5"
PY="${PYTHON:-python3}"
NB="$top/tests/sidecar/neighbour.py"
work="$(mktemp -d)"
ns="sc-$$"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

pass=0; fail=0; failed=()
ok() { echo "ok   - $1"; pass=$((pass + 1)); }
no() { echo "FAIL - $1"; fail=$((fail + 1)); failed+=("$1"); }
check() { local name="$1"; shift; if "$@"; then ok "$name"; else no "$name"; fi; }

# until SECONDS CMD...: runs CMD until it succeeds, at most SECONDS.
until_ok() {
	local deadline=$((SECONDS + $1)); shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# start NAME CMD...: runs CMD in the background, stdout/stderr in $work/NAME.{out,err}.
start() {
	local name="$1"; shift
	"$@" >"$work/$name.out" 2>"$work/$name.err" &
	pids+=("$!")
	eval "pid_$name=$!"
}
printed() { grep -q -- "$2" "$work/$1.out" 2>/dev/null; }
printed_text() { grep -qF -- "$2" "$work/$1.out" 2>/dev/null; }
logged() { grep -q -- "$2" "$work/$1.err" 2>/dev/null; }

# --- the second namespace: a veth pair, no multicast route -------------------------------
ip netns add "$ns"
ip link add scm type veth peer name scc netns "$ns"
ip addr add 10.201.0.1/30 dev scm
ip link set scm up
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" ip addr add 10.201.0.2/30 dev scc
ip netns exec "$ns" ip link set scc up
outside() { ip netns exec "$ns" "$@"; }

# --- the program, the go-micro peers, the sidecar ------------------------------------------
start nb "$PY" "$NB" serve "$work/nb.port"
until_ok 20 test -s "$work/nb.port" || { echo "neighbour did not start"; exit 1; }
nbport="$(cat "$work/nb.port")"
start gsrv "$GM5" serve --name go.micro.srv.greeter
start gsub "$GM5" serve --name sc.sub --subscribe sc.topic
until_ok 20 printed gsrv '"ready"' && until_ok 20 printed gsub '"ready"' || { echo "gm5 did not start"; exit 1; }

SC=10.201.0.1:18081
start sc "$MICRO" --registry mdns --address "$SC" proxy \
	--server_name py.greeter --server_address "127.0.0.1:$nbport" \
	--server_endpoints Greeter.Hello,Greeter.Fail,Slow.Hang \
	--healthcheck_url "http://127.0.0.1:$nbport/health" --healthcheck_interval 200ms \
	--register_interval 1s --rpc_address 127.0.0.1:0 --server_timeout 1s --subscriber_queue 8
until_ok 20 printed sc 'micro proxy listening on' || { cat "$work/sc.out" "$work/sc.err"; exit 1; }

registered() { "$GM5" get --service py.greeter | grep -q '"py.greeter-'; }
gone() { "$GM5" get --service py.greeter | grep -qx '\[\]'; }

# --- the mesh calls the program ------------------------------------------------------------
check "the sidecar registered the program (gm5 get sees py.greeter)" until_ok 20 registered
"$GM5" call --service py.greeter --endpoint Greeter.Hello --body '{"name":"Go"}' >"$work/call1" 2>/dev/null || true
check "a go-micro client calls the program through the mesh" \
	grep -q '"ok":true.*Hello Go.*Greeter.Hello' "$work/call1"
"$GM5" call --service py.greeter --endpoint Greeter.Fail --body '{}' >"$work/call2" 2>/dev/null || true
check "the program's 418 reaches the go-micro client as a go-micro error" \
	grep -q '"ok":false.*"code":418.*no tea here' "$work/call2"

# --- health ----------------------------------------------------------------------------------
"$PY" "$NB" call "127.0.0.1:$nbport" /admin/sick '{}' >/dev/null
check "a failing health URL deregisters the program" until_ok 20 gone
check "the sidecar logs the deregistration" logged sc 'Healthcheck error. Deregistering py.greeter-'
curl -s -o /dev/null -w '%{http_code}' "http://$SC/health" >"$work/h1" || true
check "the sidecar's /health says 503 while the program is sick" grep -qx 503 "$work/h1"
"$PY" "$NB" call "127.0.0.1:$nbport" /admin/well '{}' >/dev/null
check "a recovered health URL registers the program again" until_ok 20 registered
"$GM5" call --service py.greeter --endpoint Greeter.Hello --body '{"name":"again"}' >"$work/call3" 2>/dev/null || true
check "and the mesh calls it again" grep -q 'Hello again' "$work/call3"

# --- the program uses the mesh through the sidecar ------------------------------------------
"$PY" "$NB" call "$SC" /greeter/greeter/hello '{"name":"Py"}' >"$work/py1"
check "the program calls a go-micro service (/greeter/greeter/hello, namespace go.micro.srv)" \
	grep -q '"status": 200.*Hello Py' "$work/py1"
"$PY" "$NB" call "$SC" /rpc '{"service":"go.micro.srv.greeter","endpoint":"Greeter.Hello","request":{"name":"Rpc"}}' >"$work/py2"
check "the program calls through /rpc" grep -q '"status": 200.*Hello Rpc' "$work/py2"
"$PY" "$NB" publish "$SC" sc.topic '{"from":"python"}' >"$work/py3"
check "the program publishes (200)" grep -q '"status": 200' "$work/py3"
check "a go-micro subscriber receives it" until_ok 20 printed gsub '"topic":"sc.topic"'
start pysub "$PY" "$NB" subscribe "$SC" sc.ws
until_ok 20 printed pysub subscribed
# The subscription reaches the mesh through mDNS after the handshake: publish until it lands.
start gpub "$GM5" publish --topic sc.ws --body '{"from":"go"}' --count 600 --interval-ms 100 --linger-ms 100
check "the program receives a go-micro publisher's message over the websocket" \
	until_ok 60 printed_text pysub 'from\":\"go'
kill "$pid_gpub" 2>/dev/null || true

# --- bad input ---------------------------------------------------------------------------------
code() { curl -s -o "$work/body" -w '%{http_code}' "$@" || true; }
check "a non-JSON body is a 400 that says so" \
	bash -c '[ "$(curl -s -o '"$work"'/b1 -w "%{http_code}" -H "Content-Type: application/json" -d "{not json" http://'"$SC"'/greeter/greeter/hello)" = 400 ] && grep -qi json '"$work"'/b1'
check "an unknown service is a 404" \
	bash -c '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Content-Type: application/json" -d "{}" http://'"$SC"'/nosuch/thing/call)" = 404 ]'
check "a registry body that is not a service is a 400" \
	bash -c '[ "$(curl -s -o /dev/null -w "%{http_code}" -XPOST -d "[1,2]" http://'"$SC"'/registry)" = 400 ]'
check "/broker without a topic is a 400" \
	bash -c '[ "$(curl -s -o /dev/null -w "%{http_code}" -XPOST -d "x" http://'"$SC"'/broker)" = 400 ]'
"$GM5" call --service py.greeter --endpoint Slow.Hang --body '{}' --retries 0 >"$work/hang" 2>/dev/null || true
check "a hanging neighbour: the call ends with a 408" grep -q '"ok":false.*"code":408' "$work/hang"
"$GM5" call --service py.greeter --endpoint Greeter.Hello --body '{"name":"after"}' >"$work/after" 2>/dev/null || true
check "and the sidecar goes on serving" grep -q 'Hello after' "$work/after"
# A subscriber that never reads: a small receive buffer, a queue of 8, 8 KiB messages.
start stall "$PY" "$NB" stall "$SC" sc.flood
until_ok 20 printed stall subscribed
big="$("$PY" -c 'import json; print(json.dumps({"pad": "x" * 8192}))')"
start flood "$GM5" publish --topic sc.flood --body "$big" --count 20000 --interval-ms 1 --linger-ms 100
check "a websocket client that never reads is dropped and logged" until_ok 120 logged sc 'websocket subscriber dropped'
kill "$pid_flood" 2>/dev/null || true
rss="$(awk '/VmRSS/ {print $2}' "/proc/$pid_sc/status")"
echo "     sidecar RSS after the flood: ${rss} kB"
check "the sidecar's memory stays bounded (RSS < 200 MB)" [ "$rss" -lt 204800 ]

# --- the CLI from the other namespace ------------------------------------------------------
P=(--proxy_address "$SC")
outside "$MICRO" --registry mdns list services >"$work/direct.out" 2>"$work/direct.err" && direct=0 || direct=$?
check "outside, the mesh is not reachable without the sidecar (mdns list fails or is empty)" \
	bash -c '[ '"$direct"' != 0 ] || ! grep -q py.greeter '"$work"'/direct.out'
outside "$MICRO" "${P[@]}" list services >"$work/ls" 2>&1 || true
check "outside: micro --proxy_address list services" grep -qx 'py.greeter' "$work/ls"
outside env MICRO_PROXY_ADDRESS="$SC" "$MICRO" get service go.micro.srv.greeter >"$work/get" 2>&1 || true
check "outside: MICRO_PROXY_ADDRESS=… micro get service" grep -q 'Greeter.Hello' "$work/get"
outside "$MICRO" "${P[@]}" call py.greeter Greeter.Hello '{"name":"cli"}' >"$work/cc" 2>&1 || true
check "outside: micro call the program" grep -q 'Hello cli' "$work/cc"
outside "$MICRO" "${P[@]}" call go.micro.srv.greeter Greeter.Hello '{"name":"cli"}' >"$work/cg" 2>&1 || true
check "outside: micro call a go-micro service" grep -q 'Hello cli' "$work/cg"
outside "$MICRO" "${P[@]}" call nosuch Foo.Bar '{}' >"$work/cn" 2>&1 && cn=0 || cn=$?
check "outside: an unknown service fails (exit 1) and says so" bash -c '[ '"$cn"' = 1 ] && grep -qi "not found" '"$work"'/cn'
outside "$MICRO" "${P[@]}" publish sc.topic '{"from":"cli"}' >"$work/cp" 2>&1 || true
check "outside: micro publish reaches the go-micro subscriber" \
	bash -c 'grep -qx ok '"$work"'/cp && until_ok() { local d=$((SECONDS+20)); while ! grep -q "$1" '"$work"'/gsub.out; do [ $SECONDS -lt $d ] || return 1; sleep 0.1; done; }; until_ok "eyJmcm9tIjoiY2xpIn0="'
outside "$MICRO" "${P[@]}" health go.micro.srv.greeter >"$work/hh" 2>&1 && hh=0 || hh=$?
check "outside: micro health (each node checked through the sidecar's /rpc)" \
	bash -c '[ '"$hh"' = 0 ] && grep -q "go.micro.srv.greeter-.*reachable" '"$work"'/hh || { echo "exit '"$hh"':"; cat '"$work"'/hh; false; }'
outside "$MICRO" "${P[@]}" stream -o raw go.micro.srv.greeter Greeter.Stream '{"name":"a"}' '{"name":"b"}' >"$work/st" 2>&1 && st=0 || st=$?
check "outside: micro stream to a go-micro service through the sidecar's /rpc websocket" \
	bash -c '[ '"$st"' = 0 ] && grep -q "Hello a" '"$work"'/st && grep -q "Hello b" '"$work"'/st || { echo "exit '"$st"':"; cat '"$work"'/st; false; }'
svc='{"name":"sc.manual","nodes":[{"id":"sc.manual-1","address":"127.0.0.1:9"}]}'
outside "$MICRO" "${P[@]}" register service "$svc" >/dev/null 2>&1 || true
check "outside: micro register service through the sidecar" until_ok 20 bash -c '"'"$GM5"'" get --service sc.manual | grep -q sc.manual-1'
outside "$MICRO" "${P[@]}" deregister service "$svc" >/dev/null 2>&1 || true
check "outside: micro deregister service through the sidecar" until_ok 20 bash -c '"'"$GM5"'" get --service sc.manual | grep -qx "\[\]"'

# --- the transparent RPC proxy (--protocol=mucp): go-micro clients with MICRO_PROXY --------
start mucp "$MICRO" --registry mdns --address 127.0.0.1:18082 proxy --protocol mucp
start mucpf "$MICRO" --registry mdns --address 127.0.0.1:18083 proxy --protocol mucp --endpoint go.micro.srv.greeter
until_ok 20 printed mucp 'micro proxy (mucp) listening' && until_ok 20 printed mucpf 'micro proxy (mucp) listening' ||
	{ echo "the mucp proxies did not start"; cat "$work/mucp.err" "$work/mucpf.err"; }
# With --endpoint every call goes to that service: gm5 names a service nobody serves, so an
# answer proves the call went through the proxy.
MICRO_PROXY=127.0.0.1:18083 "$GM5" call --service no.such.service --endpoint Greeter.Hello --body '{"name":"fixed"}' >"$work/mc2" 2>&1 || true
check "mucp proxy --endpoint: a go-micro client with MICRO_PROXY reaches the fixed service" grep -q 'Hello fixed' "$work/mc2"
MICRO_PROXY=127.0.0.1:18082 "$GM5" call --service go.micro.srv.greeter --endpoint Greeter.Hello --body '{"name":"routed"}' >"$work/mc1" 2>&1 || true
check "mucp proxy: routed by the call's Micro-Service to the go-micro service" grep -q 'Hello routed' "$work/mc1"
MICRO_PROXY=127.0.0.1:18082 "$GM5" call --service go.micro.srv.greeter --endpoint Greeter.Nope --body '{}' >"$work/mc3" 2>&1 || true
check "mucp proxy: the service's own error comes back through it" grep -qi 'nope\|not found\|unknown' "$work/mc3"
# Streams go through too, message by message both ways: gm5's bidi stream, routed and fixed.
MICRO_PROXY=127.0.0.1:18082 "$GM5" stream --service go.micro.srv.greeter --endpoint Greeter.Stream --names a,b,c --timeout-ms 20000 >"$work/ms1" 2>&1 || true
check "mucp proxy: a go-micro stream is carried both ways, in order" \
	bash -c '[ "$(grep -o "Hello [abc]" '"$work"'/ms1 | tr "\n" " ")" = "Hello a Hello b Hello c " ]'
MICRO_PROXY=127.0.0.1:18083 "$GM5" stream --service no.such.service --endpoint Greeter.Stream --names x,y --timeout-ms 20000 >"$work/ms2" 2>&1 || true
check "mucp proxy --endpoint: a stream reaches the fixed service" \
	bash -c '[ "$(grep -o "Hello [xy]" '"$work"'/ms2 | tr "\n" " ")" = "Hello x Hello y " ]'
MICRO_PROXY=127.0.0.1:18082 "$GM5" stream --service go.micro.srv.greeter --endpoint Greeter.Nope --names z --timeout-ms 20000 >"$work/ms3" 2>&1 || true
check "mucp proxy: a stream the service refuses fails with the service's error" \
	bash -c 'grep -qi "nope\|not found\|can.t find" '"$work"'/ms3 && ! grep -q "Hello z" '"$work"'/ms3'
kill "$pid_mucp" "$pid_mucpf" 2>/dev/null || true
wait "$pid_mucp" 2>/dev/null || true
MICRO_PROXY=127.0.0.1:18082 "$GM5" call --service go.micro.srv.greeter --endpoint Greeter.Hello --body '{"name":"gone"}' >"$work/mc4" 2>&1 || true
check "with the proxy stopped the same MICRO_PROXY call fails (so it went through the proxy)" bash -c '! grep -q "Hello gone" '"$work"'/mc4'

# --- exit: SIGTERM deregisters ---------------------------------------------------------------
kill -TERM "$pid_sc"
check "on SIGTERM the sidecar exits 0" wait "$pid_sc"
check "and the program is deregistered" until_ok 20 gone

echo "sidecar e2e: $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
