#!/usr/bin/env bash
# Several hosts on one machine: three network namespaces (a, b, c), each with its own
# address on 10.77.0.0/24 and joined by veth pairs through a bridge in a fourth (the hub,
# 10.77.0.1, which runs a real etcd). No multicast crosses them: every process finds the
# others through etcd (MICRO_REGISTRY=etcd://10.77.0.1:2379), as services on separate hosts do.
#   a: the Rust greeter (rust.mh) and go-micro v5.30.0 (go.mh)
#   b: a Python service (py.mh)       c: a Node service (node.mh)
# Asserted: each service is found and called from another namespace by a client in another
# language (our CLI, Python, Node, gm5). Then one name (mh.shared) is served in all three
# (Rust, Python, Node) and a Python client in a calls it without pause; c's cable is cut
# (its bridge port set down) mid-load: c's node leaves the registry within a bounded time
# of its TTL (3 s; the time is printed), and once it has, every call succeeds on the survivors.
#   tests/interop/multihost.sh        (root: makes and removes its namespaces; never touches
#                                      the machine's own interfaces)
# Needs: etcd, target/debug/micro and server, gm5, the Python binding in target/python-venv,
# bindings/node/micro.node (scripts/test.d/54-hosts.sh builds them).
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
micro="$top/target/debug/micro" gm5="$top/tests/interop/go/bin/gm5" py="$top/target/python-venv/bin/python"
peers="$top/tests/interop/backends"
[ "$(id -u)" = 0 ] || { echo "multihost: needs root (ip netns)"; exit 1; }
fails=0 pids=()
tmp="$(mktemp -d)"
s="$$"
hub="mh$s-hub"
spaces=("$hub")
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	for n in "${spaces[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
wait_for() { for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# The network: the hub's bridge, and one veth pair per host, made inside the namespaces.
ip netns add "$hub" && ip -n "$hub" link set lo up &&
	ip -n "$hub" link add br0 type bridge && ip -n "$hub" addr add 10.77.0.1/24 dev br0 && ip -n "$hub" link set br0 up ||
	{ echo "FAIL netns: cannot make the hub namespace"; exit 1; }
declare -A ns ip
i=1
for h in a b c; do
	ns[$h]="mh$s-$h" ip[$h]="10.77.0.1$i"
	spaces+=("${ns[$h]}")
	ip netns add "${ns[$h]}" && ip -n "${ns[$h]}" link set lo up &&
		ip -n "$hub" link add "port$h" type veth peer name eth0 netns "${ns[$h]}" &&
		ip -n "$hub" link set "port$h" master br0 up &&
		ip -n "${ns[$h]}" addr add "${ip[$h]}/24" dev eth0 && ip -n "${ns[$h]}" link set eth0 up ||
		{ echo "FAIL netns: cannot make host $h"; exit 1; }
	i=$((i + 1))
done

on() { local h="$1"; shift; ip netns exec "${ns[$h]}" "$@"; }
ip netns exec "$hub" etcd --name mh --data-dir "$tmp/etcd" --listen-client-urls http://10.77.0.1:2379 \
	--advertise-client-urls http://10.77.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
	--initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster mh=http://127.0.0.1:2380 >"$tmp/etcd.log" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 300); do
	on a curl -sf -o /dev/null -X POST http://10.77.0.1:2379/v3/kv/range -d '{"key":"eA=="}' && { up=1; break; }
	sleep 0.1
done
[ "$up" = 1 ] || { echo "FAIL etcd: not reachable from a: $(tail -3 "$tmp/etcd.log")"; exit 1; }
export MICRO_REGISTRY=etcd://10.77.0.1:2379 MICRO_REGISTER_TTL=3s MICRO_REGISTER_INTERVAL=1s
mkdir -p "$tmp/node_modules" && ln -s "$top/bindings/node" "$tmp/node_modules/micro"

start() { # host who command…
	local h="$1" who="$2"
	shift 2
	# Not through `on`: a function in the background is a subshell, and killing it left the
	# command running (ip netns exec becomes the command itself, so $! is the command).
	ip netns exec "${ns[$h]}" "$@" >"$tmp/$who.out" 2>"$tmp/$who.err" &
	pids+=($!)
}
start a rust env MICRO_SERVER_NAME=rust.mh "$top/target/debug/server"
start a go "$gm5" serve --name go.mh --address "${ip[a]}:0"
start b py "$py" "$peers/peer.py" serve py.mh mh.events.py
start c node node "$peers/peer.js" serve node.mh mh.events.node
wait_for "$tmp/rust.out" 'listening on' || bad rust_ready "$(tail -3 "$tmp/rust.err")"
for who in go py node; do wait_for "$tmp/$who.out" '"ready"' || bad "${who}_ready" "$(tail -3 "$tmp/$who.err")"; done

# Each service from another namespace, by a client in another language.
check() { # name want host command…
	local name="$1" want="$2" h="$3" out
	shift 3
	out="$(on "$h" "$@" 2>&1)"
	if echo "$out" | grep -q "$want"; then ok "$name"; else bad "$name" "$out"; fi
}
check micro_cli_in_a_calls_python_in_b "Hello A" a "$micro" call py.mh Greeter.Hello '{"name":"A"}'
check micro_cli_in_a_calls_node_in_c "Hello A" a "$micro" call node.mh Greeter.Hello '{"name":"A"}'
check python_in_b_calls_go_in_a "Hello Py" b "$py" "$peers/peer.py" call go.mh
check gm5_in_b_calls_node_in_c "Hello Go" b "$gm5" call --service node.mh --endpoint Greeter.Hello --body '{"name":"Go"}'
check node_in_c_calls_go_in_a "Hello Node" c node "$peers/peer.js" call go.mh
check gm5_in_c_calls_rust_in_a "Hello Go" c "$gm5" call --service rust.mh --endpoint Greeter.Hello --body '{"name":"Go"}'
check micro_cli_in_c_calls_python_in_b "Hello C" c "$micro" call py.mh Greeter.Hello '{"name":"C"}'
out="$(on b "$gm5" get --service rust.mh 2>&1)"
if echo "$out" | grep -q "\"address\":\"${ip[a]}:"; then ok gm5_sees_rust_at_its_own_address; else bad gm5_sees_rust_at_its_own_address "$out"; fi

# One name in all three namespaces; a Python client in a calls it without pause.
start a shared-a env MICRO_SERVER_NAME=mh.shared "$top/target/debug/server"
start b shared-b "$py" "$peers/peer.py" serve mh.shared mh.events.b
start c shared-c node "$peers/peer.js" serve mh.shared mh.events.c
nodes() { on a "$micro" -o json get service mh.shared 2>/dev/null | "$py" -c 'import json,sys
try: print(sum(len(s.get("nodes") or []) for s in json.load(sys.stdin)))
except Exception: print(0)'; }
n=0
for _ in $(seq 300); do n="$(nodes)"; [ "$n" = 3 ] && break; sleep 0.1; done
[ "$n" = 3 ] || bad shared_three_nodes "$n nodes: $(tail -3 "$tmp/shared-c.err")"
stop="$tmp/stop"
ip netns exec "${ns[a]}" env MICRO_CLIENT_RETRIES=3 MICRO_CLIENT_REQUEST_TIMEOUT=30s "$py" "$top/tests/interop/multihost/load.py" mh.shared "$stop" \
	>"$tmp/load.out" 2>"$tmp/load.err" &
load=$!
pids+=($load)
wait_for "$tmp/load.out" '"t": 2' || bad load_running "$(tail -3 "$tmp/load.err")"

# Cut c's cable; c's node must leave the registry (its lease runs out: nobody renews it).
cut_at="$(date +%s%N)" cut_line="$(wc -l <"$tmp/load.out")"
ip -n "$hub" link set portc down
gone=""
for _ in $(seq 300); do n="$(nodes)"; [ "$n" = 2 ] && { gone=1; break; }; sleep 0.1; done
ms=$((($(date +%s%N) - cut_at) / 1000000))
# Lease expiry is etcd's own clock: TTL 3 s after the last renewal (1 s before at most),
# plus the watch reaching the cache; 3 × TTL leaves room for a loaded machine.
if [ -n "$gone" ] && [ "$ms" -le 9000 ]; then ok "cut_node_left_registry_in_${ms}ms"; else bad cut_node_left_registry "after ${ms} ms: $n nodes"; fi
left_line="$(wc -l <"$tmp/load.out")"
# Then a few more seconds of calls: every one succeeds, on the survivors.
for _ in $(seq 600); do [ "$(wc -l <"$tmp/load.out")" -ge $((left_line + 4)) ] && break; sleep 0.1; done
touch "$stop"
wait "$load" 2>/dev/null
echo "load (one line per second; c cut after line $cut_line, gone after line $left_line):"
cat "$tmp/load.out"
after="$(tail -n +"$((left_line + 2))" "$tmp/load.out")"
read -r ok_after fail_after < <(printf '%s\n' "$after" | "$py" -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin if l.strip()]
print(sum(r["ok"] for r in rows), sum(r["fail"] for r in rows))')
if [ "${ok_after:-0}" -gt 0 ] && [ "${fail_after:-1}" = 0 ]; then ok "survivors_answer_every_call_after_the_cut ($ok_after calls)"; else
	bad survivors_answer_every_call_after_the_cut "ok $ok_after, failed $fail_after: $after"; fi

echo "multihost: $fails failed"
[ "$fails" = 0 ]
