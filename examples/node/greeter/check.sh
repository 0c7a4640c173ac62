#!/usr/bin/env bash
# Runs the Node greeter, calls it with the Node client and gm5, stops it with Ctrl-C and
# checks it deregistered. Needs the private namespace (scripts/netns.sh) for mDNS.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gm5="$here/../../../tests/interop/go/bin/gm5"
cd "$here"
node server.js node.example 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	out="$(node client.js Ex node.example 2>/dev/null || true)"
	[ "$out" = "Hello Ex" ] && break
	sleep 0.2
done
[ "$out" = "Hello Ex" ] || { echo "example: client got '$out'" >&2; exit 1; }
"$gm5" call --service node.example --endpoint Greeter.Hello --body '{"name":"Go"}' | grep -q '"ok":true' \
	|| { echo "example: gm5 call failed" >&2; exit 1; }
kill -INT $pid
wait $pid
[ "$("$gm5" get --service node.example)" = "[]" ] || { echo "example: still registered after Ctrl-C" >&2; exit 1; }
echo "example: node client and gm5 called the Node greeter; Ctrl-C deregistered it: ok"
