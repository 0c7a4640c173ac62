#!/usr/bin/env bash
# `micro stats` against one greeter in each language, side by side, over mDNS inside the
# private network namespace: Rust (examples/rust/greeter), Python, Node and C (their
# examples/*/greeter) and go-micro v5.30.0 (gm5 --debug: go-micro's own Debug handler).
# Asserted for each: `micro stats NAME` prints go-micro's table with every field filled
# (started as go-micro's clock, uptime as a Go duration, memory in mb and not zero, threads
# > 0, gc as a Go duration); `micro -o json stats NAME` has the same stats fields for all
# five; one good call and one failing call (the handler's own error) make requests grow by
# exactly 3 (the Debug.Stats call before them included) and errors by exactly 1.
#   scripts/netns.sh tests/interop/stats.sh
# Needs: target/debug/micro and server, gm5 (tests/interop/go/build.sh gm5), the Python
# binding in target/python-venv, bindings/node/micro.node, the C greeter built by
# scripts/test.d/54-hosts.sh at target/stats/c-greeter.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
micro="$top/target/debug/micro"
. "$top/tests/interop/lib.sh"
export MICRO_REGISTRY=mdns

mkdir -p "$tmp/node_modules" && ln -s "$top/bindings/node" "$tmp/node_modules/micro"

# who  NAME  command…: started in the background, its output kept.
start() {
	local who="$1" name="$2"
	shift 2
	"$@" >"$tmp/$who.out" 2>"$tmp/$who.err" &
	pids+=($!)
	names[$who]="$name"
}
declare -A names
suffix="$$"
start rust "rust.stats.$suffix" env MICRO_SERVER_NAME="rust.stats.$suffix" "$top/target/debug/server"
start python "py.stats.$suffix" "$top/target/python-venv/bin/python" "$top/examples/python/greeter/server.py" "py.stats.$suffix"
start node "node.stats.$suffix" env NODE_PATH="$tmp/node_modules" node "$top/examples/node/greeter/server.js" "node.stats.$suffix"
start c "c.stats.$suffix" "$top/target/stats/c-greeter" "c.stats.$suffix"
start go "go.stats.$suffix" "$top/tests/interop/go/bin/gm5" serve --name "go.stats.$suffix" --debug

# The failing call each greeter answers with its own error.
declare -A failing=(
	[rust]='Greeter.Hello {"name":""}'
	[python]='Greeter.Fail {"code":418,"detail":"teapot"}'
	[node]='Greeter.Fail {"code":418,"detail":"teapot"}'
	[c]='Greeter.Hello {}'
	[go]='Greeter.Fail {"code":418,"detail":"teapot"}'
)
hosts=(rust python node c go)

# Registered and answering: `micro health check` passes (mDNS can take a few seconds).
for who in "${hosts[@]}"; do
	ok=0
	for _ in $(seq 300); do
		"$micro" health check "${names[$who]}" >/dev/null 2>&1 && { ok=1; break; }
		sleep 0.1
	done
	[ "$ok" = 1 ] || bad "${who}_ready" "$(tail -3 "$tmp/$who.err")"
done

# The stats fields of `micro -o json stats NAME`, sorted, one line; "requests errors" counts.
fields() { "$top/target/python-venv/bin/python" -c 'import json,sys; r=json.load(sys.stdin); print(" ".join(sorted(r[0]["stats"])))'; }
counts() { "$top/target/python-venv/bin/python" -c 'import json,sys; s=json.load(sys.stdin)[0]["stats"]; print(s["requests"], s["errors"])'; }

want_fields=""
for who in "${hosts[@]}"; do
	name="${names[$who]}"
	table="$("$micro" stats "$name" 2>"$tmp/$who.stats.err")" || { bad "${who}_stats" "$(cat "$tmp/$who.stats.err")"; continue; }
	printf '%s\n' "$table" | grep -q $'^node\t\taddress:port\t\tstarted\tuptime\tmemory\tthreads\tgc$' ||
		bad "${who}_stats_header" "$table"
	row="$(printf '%s\n' "$table" | tail -1)"
	# node  ""  address  ""  started  uptime  memory  threads  gc
	if ! printf '%s\n' "$row" | awk -F'\t' '
		NF != 9 { exit 1 }
		$5 !~ /^[A-Z][a-z][a-z] +[0-9]+ [0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/ { exit 2 }
		$6 !~ /s$/ { exit 3 }
		$7 !~ /^[0-9.]+mb$/ || $7 == "0.00mb" { exit 4 }
		$8 !~ /^[1-9][0-9]*$/ { exit 5 }
		$9 !~ /s$/ { exit 6 }'; then
		bad "${who}_stats_row" "$row"
	fi
	echo "$who: $row"
	json="$("$micro" -o json stats "$name" 2>&1)" || { bad "${who}_stats_json" "$json"; continue; }
	f="$(printf '%s' "$json" | fields)" || { bad "${who}_stats_fields" "$json"; continue; }
	if [ -z "$want_fields" ]; then want_fields="$f"; echo "fields: $f"
	elif [ "$f" != "$want_fields" ]; then bad "${who}_same_fields" "$f, the first had $want_fields"; fi

	read -r r0 e0 < <(printf '%s' "$json" | counts)
	"$micro" call "$name" Greeter.Hello '{"name":"Stats"}' >/dev/null 2>&1 || bad "${who}_good_call" "failed"
	read -r ep body <<<"${failing[$who]}"
	"$micro" call "$name" "$ep" "$body" >/dev/null 2>&1 && bad "${who}_failing_call" "answered"
	read -r r1 e1 < <("$micro" -o json stats "$name" | counts)
	if [ "$((r1 - r0)) $((e1 - e0))" != "3 1" ]; then
		bad "${who}_counts" "requests $r0 -> $r1, errors $e0 -> $e1 (want +3, +1)"
	else
		echo "ok ${who}_counts (requests $r0 -> $r1, errors $e0 -> $e1)"
	fi
done

echo "stats interop: $fails failed"
[ "$fails" = 0 ]
