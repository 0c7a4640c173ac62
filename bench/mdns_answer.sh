#!/usr/bin/env bash
# An mDNS responder's answer time with 200 services × 3 nodes registered (issue 18), ours
# (`loadgen mdns-serve`: one responder for them all) and go-micro v5.30.0's (`gobench
# mdns-serve`: go-micro's mDNS registry, an mDNS server per node and per service). `loadgen
# mdns-ask` sends 600 PTR questions, one at a time, and times each until all 3 nodes of the
# service were named. Run inside scripts/netns.sh (run.sh's ONLY=registry does). Prints one
# JSON row per server kind and round (REPS, default 3), with the responder's resident memory
# and open descriptors once registered.
set -euo pipefail
B="$1"; G="$2"
[ "${MICRO_NETNS:-}" = 1 ] || { echo "mdns_answer.sh: run inside scripts/netns.sh" >&2; exit 2; }
work="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for rep in $(seq "${REPS:-3}"); do
	for kind in ours go; do
		if [ "$kind" = ours ]; then "$B/loadgen" mdns-serve --services 200 --nodes 3 >"$work/srv.out" 2>"$work/srv.err" &
		else "$G" mdns-serve -services 200 -nodes 3 >"$work/srv.out" 2>"$work/srv.err" &
		fi
		srv=$!
		for _ in $(seq 1200); do grep -q ready "$work/srv.out" && break; sleep 0.05; done
		grep -q ready "$work/srv.out" || { echo "mdns-serve ($kind) did not start: $(cat "$work/srv.err")" >&2; exit 1; }
		rss="$(awk '/^VmRSS/ {print $2}' "/proc/$srv/status")"
		fds="$(ls "/proc/$srv/fd" | wc -l)"
		"$B/loadgen" mdns-ask --services 200 --nodes 3 --queries 600 | tail -1 \
			| python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(server=sys.argv[1], rep=int(sys.argv[2]), rss_kb=int(sys.argv[3]), fds=int(sys.argv[4])); print(json.dumps(r))' \
				"$kind" "$rep" "$rss" "$fds"
		kill "$srv"; wait "$srv" 2>/dev/null || true
	done
done
