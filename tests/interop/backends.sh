#!/usr/bin/env bash
# etcd, Consul and NATS from Python, Node and C against go-micro v5.30.0, inside the private
# network namespace (with `nats`, NATS is the registry as well as the broker): a real etcd (Debian's etcd-server) or Consul (v1.14.11, CONSUL_BIN) is
# the registry and a real nats-server the broker, for every process (MICRO_REGISTRY=etcd://…
# or consul://…, MICRO_BROKER=nats). For each host: gm5 (go-micro's own registry/etcd or
# registry/consul) finds the host's service and calls it; gm5's NATS publish reaches the
# host's subscriber; the host's client finds gm5's service and calls it; the host's publish
# reaches gm5's NATS subscriber.
#   scripts/netns.sh tests/interop/backends.sh etcd|consul|nats   (nats: the registry too)
# Needs: etcd, Consul (CONSUL_BIN), nats-server, gm5, the Python binding in
# target/python-venv, bindings/node/micro.node, and the C greeter, client and pubsub
# examples built by scripts/test.d/54-hosts.sh under target/stats/.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
gm5="$top/tests/interop/go/bin/gm5" py="$top/target/python-venv/bin/python" here="$top/tests/interop/backends"
. "$top/tests/interop/lib.sh"
ok() { echo "ok $1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_server="$(command -v nats-server || echo /usr/sbin/nats-server)"

kind="${1:-etcd}"
port="$(free_port)" peer="$(free_port)" nport="$(free_port)"
case "$kind" in
etcd)
	etcd --name backends --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$port" \
		--advertise-client-urls "http://127.0.0.1:$port" --listen-peer-urls "http://127.0.0.1:$peer" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer" --initial-cluster "backends=http://127.0.0.1:$peer" \
		>"$tmp/registry.log" 2>&1 &
	registry_up() { curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/v3/kv/range" -d '{"key":"eA=="}'; }
	;;
consul)
	"${CONSUL_BIN:?set CONSUL_BIN (tests/interop/consul/build.sh)}" agent -dev -bind 127.0.0.1 -client 127.0.0.1 \
		-http-port "$port" -dns-port -1 -grpc-port -1 -grpc-tls-port -1 -server-port "$(free_port)" \
		-serf-lan-port "$(free_port)" -serf-wan-port "$(free_port)" >"$tmp/registry.log" 2>&1 &
	registry_up() { local l; l="$(curl -s "http://127.0.0.1:$port/v1/status/leader")" && [ "${#l}" -gt 2 ]; }
	;;
nats)
	# The nats-server started below for the broker is the registry too (go-micro's
	# registry/nats), on the same connection.
	port="$nport"
	registry_up() { :; }
	;;
*) echo "usage: backends.sh etcd|consul|nats"; exit 2 ;;
esac
[ "$kind" = nats ] || pids+=($!)
"$nats_server" -a 127.0.0.1 -p "$nport" >"$tmp/nats.log" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 300); do
	registry_up && (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && { up=1; break; }
	sleep 0.1
done
[ "$up" = 1 ] || { echo "FAIL backends: $kind or nats-server did not start: $(tail -3 "$tmp/registry.log") $(tail -3 "$tmp/nats.log")"; exit 1; }
export MICRO_REGISTRY="$kind://127.0.0.1:$port" MICRO_BROKER=nats MICRO_BROKER_ADDRESS="nats://127.0.0.1:$nport"
export MICRO_REGISTER_TTL=5s MICRO_REGISTER_INTERVAL=2s
nats=(--broker nats --broker-address "nats://127.0.0.1:$nport")

# gm5's service in the registry, and its NATS subscriber.
"$gm5" serve --name go.backends >"$tmp/gm5.out" 2>"$tmp/gm5.err" &
pids+=($!)
wait_for "$tmp/gm5.out" '"ready"' || bad gm5_ready "$(tail -3 "$tmp/gm5.err")"
"$gm5" subscribe --topic backends.to.go "${nats[@]}" >"$tmp/gm5sub.out" 2>"$tmp/gm5sub.err" &
pids+=($!)
wait_for "$tmp/gm5sub.out" '"ready"\|"subscribed"' || bad gm5_subscriber_ready "$(tail -3 "$tmp/gm5sub.err")"

# Whether gm5's subscriber got a message whose body holds TEXT (it prints bodies in base64).
gm5_got() {
	for _ in $(seq 600); do
		grep -o '"body":"[^"]*"' "$tmp/gm5sub.out" | cut -d'"' -f4 | while read -r b; do printf '%s' "$b" | base64 -d; echo; done |
			grep -q "$1" && return 0
		sleep 0.1
	done
	return 1
}

# What each host runs: its service (registered, subscribed over NATS), its client, its publish.
hosts=(python node c)
declare -A serve=(
	[python]="$py $here/peer.py serve py.backends backends.py"
	[node]="node $here/peer.js serve node.backends backends.node"
	[c]="$top/target/stats/c-greeter c.backends backends.c"
)
declare -A name=([python]=py.backends [node]=node.backends [c]=c.backends)
declare -A call=(
	[python]="$py $here/peer.py call go.backends"
	[node]="node $here/peer.js call go.backends"
	[c]="$top/target/stats/c-client C go.backends"
)
declare -A publish=(
	[python]="$py $here/peer.py publish backends.to.go from-python"
	[node]="node $here/peer.js publish backends.to.go from-node"
	[c]="$top/target/stats/c-pubsub pub backends.to.go {\"text\":\"from-c\"}"
)
declare -A greeting=([python]="Hello Py" [node]="Hello Node" [c]="Hello C")

for who in "${hosts[@]}"; do
	${serve[$who]} >"$tmp/$who.out" 2>"$tmp/$who.err" &
	pids+=($!)
	wait_for "$tmp/$who.out" '"ready"' || { bad "${who}_ready" "$(tail -3 "$tmp/$who.err")"; continue; }

	# go-micro finds it in the registry and calls it.
	got=""
	for _ in $(seq 100); do
		got="$("$gm5" get --service "${name[$who]}" 2>/dev/null)"
		[ -n "$got" ] && [ "$got" != "[]" ] && break
		sleep 0.1
	done
	out="$("$gm5" call --service "${name[$who]}" --endpoint Greeter.Hello --body '{"name":"Go"}' 2>&1)"
	if echo "$out" | grep -q 'Hello Go'; then ok "gm5_calls_${who}_via_${kind}"; else bad "gm5_calls_${who}_via_${kind}" "$got $out"; fi

	# go-micro's NATS publish reaches the host's subscriber.
	"$gm5" publish --topic "backends.${who/python/py}" --body '{"text":"from-go"}' "${nats[@]}" >"$tmp/$who.pub" 2>&1 ||
		bad "gm5_publishes_to_${who}" "$(tail -3 "$tmp/$who.pub")"
	want="from-go"
	[ "$who" = c ] && want="$(printf from-go | od -An -tx1 | tr -d ' \n')" # the C greeter prints body_hex
	if wait_for "$tmp/$who.out" "$want"; then ok "${who}_subscriber_gets_gm5_nats_publish"; else
		bad "${who}_subscriber_gets_gm5_nats_publish" "$(tail -3 "$tmp/$who.out") $(tail -3 "$tmp/$who.err")"; fi

	# The host's client finds go-micro's service in the registry and calls it.
	out="$(${call[$who]} 2>&1)"
	if echo "$out" | grep -q "${greeting[$who]}"; then ok "${who}_client_calls_gm5_via_${kind}"; else bad "${who}_client_calls_gm5_via_${kind}" "$out"; fi

	# The host's NATS publish reaches go-micro's subscriber.
	out="$(${publish[$who]} 2>&1)" || bad "${who}_publishes" "$out"
	if gm5_got "from-${who}"; then ok "gm5_subscriber_gets_${who}_nats_publish"; else
		bad "gm5_subscriber_gets_${who}_nats_publish" "$out $(tail -3 "$tmp/gm5sub.out")"; fi
done

echo "backends interop ($kind, NATS): $fails failed"
[ "$fails" = 0 ]
