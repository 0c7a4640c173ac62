#!/usr/bin/env bash
# Time from a service's start until a peer's call succeeds, over mDNS. Run inside
# scripts/netns.sh (run.sh does). The peer (our client with an mDNS registry cache) is up
# first and calls the service by name every 5 ms; the clock starts when the server process
# is spawned. Prints one JSON row per server kind (ours, go-micro), 3 trials each.
set -euo pipefail
B="$1"; G="$2"
[ "${MICRO_NETNS:-}" = 1 ] || { echo "discover.sh: run inside scripts/netns.sh" >&2; exit 2; }
work="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
trial() { # kind name -> ms
	local kind="$1" name="$2" peer srv t0 t1
	"$B/loadgen" discover --service "$name" --timeout 10 >"$work/peer.out" 2>"$work/peer.err" & peer=$!
	for _ in $(seq 200); do grep -q ready "$work/peer.out" && break; sleep 0.02; done
	t0=$(date +%s%N)
	if [ "$kind" = ours ]; then "$B/greeter" --registry mdns --name "$name" >/dev/null 2>&1 & srv=$!
	else "$G" serve -registry mdns -name "$name" >/dev/null 2>&1 & srv=$!; fi
	if wait "$peer"; then
		t1=$(sed -n 's/.*"unix_ns":"\([0-9]*\)".*/\1/p' "$work/peer.out")
		echo $(( (t1 - t0) / 1000000 ))
	else
		echo -1
	fi
	kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true
}
for kind in ours go; do
	ms=()
	for i in 1 2 3; do ms+=("$(trial "$kind" "bench.$kind.$i.$$")"); done
	echo "{\"layout\":\"unpinned\",\"workload\":\"discovery\",\"server\":\"$kind\",\"ms\":[$(IFS=,; echo "${ms[*]}")]}"
done
