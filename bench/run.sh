#!/usr/bin/env bash
# Runs every benchmark and writes bench/results/<date>.md (see bench/README.md).
#
#   bash bench/run.sh                 # full run (~5 min on 2 cores, builds included)
#   D=2 WARMUP=0.5 ONLY=smoke bash bench/run.sh   # one 2-second workload, no results file
#
# Loopback only. Throughput runs name the server's address (no registry, memory registry on
# the servers); the discovery run uses mDNS inside scripts/netns.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"
cd "$here"
D="${D:-3}"            # measured seconds per workload
WARMUP="${WARMUP:-1}"  # warm-up seconds per workload
RATE="${RATE:-2000}"   # open-loop rate (req/s)
ONLY="${ONLY:-all}"
B="$here/target/release"
G="$here/go/bin/gobench"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

log() { echo "bench: $*" >&2; }

build() {
	log "building (cargo --release, go)"
	cargo build --release -q --manifest-path "$here/Cargo.toml"
	if [ ! -x "$G" ] || [ -n "$(find "$here/go" \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$G" -print -quit)" ]; then
		(cd "$here/go" && GOFLAGS="${GOFLAGS:--buildvcs=false}" go build -o bin/gobench.tmp . && mv -f bin/gobench.tmp bin/gobench)
	fi
}

# start NAME PIN CMD...: starts a server, waits for its ready line, sets $addr and $pid.
start() {
	local name="$1" pin="$2"; shift 2
	local out="$work/$name.out"
	if [ "$pin" = pinned ]; then taskset -c 0 "$@" >"$out" 2>"$work/$name.err" & else "$@" >"$out" 2>"$work/$name.err" & fi
	pid=$!; pids+=("$pid")
	for _ in $(seq 100); do
		if grep -q '"ready"' "$out" 2>/dev/null; then
			addr="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$out" | head -1)"
			return 0
		fi
		sleep 0.05
	done
	log "$name did not start: $(cat "$work/$name.err")"; exit 1
}

rss_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }

# row LAYOUT WORKLOAD PAIR CMD...: runs one load generator, appends a JSON row.
row() {
	local layout="$1" workload="$2" pair="$3"; shift 3
	local pre=(); [ "$layout" = pinned ] && pre=(taskset -c 0)
	log "$layout $workload $pair"
	local res
	res="$("${pre[@]}" "$@" | tail -1)"
	echo "{\"layout\":\"$layout\",\"workload\":\"$workload\",\"pair\":\"$pair\",\"result\":$res}" >>"$rows"
}

layout() {
	local L="$1" ours go hy ourpid gopid
	start "ours-$L" "$L" "$B/greeter"; ours="$addr"; ourpid="$pid"
	start "go-$L" "$L" "$G" serve; go="$addr"; gopid="$pid"
	start "hyper-$L" "$L" "$B/hyper-echo"; hy="$addr"
	sleep 1
	if [ "$L" = unpinned ]; then
		echo "{\"layout\":\"$L\",\"workload\":\"rss-idle\",\"ours_kb\":$(rss_kb "$ourpid" VmRSS),\"go_kb\":$(rss_kb "$gopid" VmRSS)}" >>"$rows"
	fi
	local T=(--d "$D" --warmup "$WARMUP")
	local GT=(-d "${D}s" -warmup "${WARMUP}s")
	for c in 1 64; do
		row "$L" "unary c=$c" "ours→ours" "$B/loadgen" unary --client micro --addr "$ours" --c "$c" "${T[@]}"
		row "$L" "unary c=$c" "go→go" "$G" load -addr "$go" -c "$c" "${GT[@]}"
		row "$L" "unary c=$c" "ours→go" "$B/loadgen" unary --client micro --addr "$go" --c "$c" "${T[@]}"
		row "$L" "unary c=$c" "go→ours" "$G" load -addr "$ours" -c "$c" "${GT[@]}"
		row "$L" "unary c=$c" "hyper→hyper" "$B/loadgen" unary --client hyper --addr "$hy" --c "$c" "${T[@]}"
	done
	row "$L" "unary open $RATE/s" "ours→ours" "$B/loadgen" unary --client micro --addr "$ours" --c 32 --rate "$RATE" "${T[@]}"
	row "$L" "unary open $RATE/s" "ours→go" "$B/loadgen" unary --client micro --addr "$go" --c 32 --rate "$RATE" "${T[@]}"
	row "$L" "unary open $RATE/s" "hyper→hyper" "$B/loadgen" unary --client hyper --addr "$hy" --c 32 --rate "$RATE" "${T[@]}"
	row "$L" "stream" "ours→ours" "$B/loadgen" stream --addr "$ours" "${T[@]}"
	row "$L" "stream" "go→go" "$G" stream -addr "$go" "${GT[@]}"
	if [ "$L" = unpinned ]; then
		echo "{\"layout\":\"$L\",\"workload\":\"rss-load\",\"ours_kb\":$(rss_kb "$ourpid" VmHWM),\"go_kb\":$(rss_kb "$gopid" VmHWM)}" >>"$rows"
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	pids=()
}

build
if [ "$ONLY" = smoke ]; then
	rows="$work/rows.jsonl"
	start ours unpinned "$B/greeter"
	"$B/loadgen" unary --client micro --addr "$addr" --c 4 --d "$D" --warmup "$WARMUP" | tee "$work/smoke.json"
	grep -q '"errors":0,' "$work/smoke.json" && ! grep -q '"requests":0,' "$work/smoke.json"
	exit
fi

rows="$work/rows.jsonl"
: >"$rows"
layout unpinned
layout pinned
if [ "$(id -u)" -eq 0 ]; then
	log "discovery (mDNS, in scripts/netns.sh)"
	"$top/scripts/netns.sh" bash "$here/discover.sh" "$B" "$G" >>"$rows"
else
	log "not root: discovery (mDNS needs scripts/netns.sh) skipped"
fi
mkdir -p "$here/results"
out="$here/results/$(date -u +%Y-%m-%d).md"
python3 "$here/report.py" "$rows" "bash bench/run.sh" >"$out"
log "wrote $out"
cat "$out"
