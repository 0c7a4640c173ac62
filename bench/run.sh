#!/usr/bin/env bash
# Runs every benchmark and writes bench/results/<date>.md (see bench/README.md).
#
#   bash bench/run.sh                 # full run (~8 min on 2 cores, builds included)
#   D=2 WARMUP=0.5 ONLY=smoke bash bench/run.sh   # the smoke: one unary workload + publish, no results file
#   ONLY=pubsub | ONLY=stream bash bench/run.sh     # just those rows, both layouts; table on stdout, no results file
#   ONLY=hosts bash bench/run.sh                      # unary served in Rust, Python and Node, binding clients; table on stdout
#   ONLY=hostserve bash bench/run.sh  # issue 18: handlers served in Rust, Python and Node beside aiohttp,
#                                     # node:http and a nats-py responder, our loadgen and wrk, REPS=3 runs a
#                                     # row, both layouts; the binding clients' overhead; writes
#                                     # bench/results/<date>-hosts.md with the targets' verdicts
#   ONLY=payloads bash bench/run.sh   # unary with 1 KiB, 64 KiB and 1 MiB bodies at c=16, ours and go-micro
#                                     # both ways, both layouts, RSS after the load; writes <date>-payloads.md
#   ONLY=registry bash bench/run.sh   # lookups through the registry cache, 200 services × 3 nodes (both layouts);
#                                     # as root, an mDNS responder's answer time with them, ours and go-micro's
#   ONLY=lost bash bench/run.sh       # requests read and never answered on kept-alive connections: go-micro
#                                     # v5 and v6 vs ours, bench/go/lostreq; writes bench/results/<date>-lost.md
#   ONLY=gomicro bash bench/run.sh                    # the go-micro rows, v5 (go) and v6 (go6), both layouts; table on stdout
#   ONLY=gateway bash bench/run.sh    # `micro api` vs direct vs go-micro's `micro api` (root: netns);
#                                     # writes bench/results/<date>-gateway.md (REPS=3 runs a row)
#   ONLY=sidecar bash bench/run.sh    # a program's calls through `micro proxy` vs the Rust client direct, c=1,
#                                     # p50 added (root: netns); writes bench/results/<date>-sidecar.md
#   ONLY=wrappers BASE=262360f bash bench/run.sh  # what the shipped wrappers cost: unary c=1 and c=64 against the
#                                     # greeter with wrappers off / metrics on / access log on (and built at
#                                     # BASE, when set), interleaved REPS times; writes bench/results/<date>-wrappers.md
#
# Loopback only. Throughput runs name the server's address (no registry, memory registry on
# the servers); the discovery run uses mDNS inside scripts/netns.sh. The Python rows use a
# release build of bindings/python in bench/.venv (built here when stale; PY=0 skips them);
# the Node rows use bindings/node (NODE=0 skips them).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"
cd "$here"
D="${D:-3}"            # measured seconds per workload
WARMUP="${WARMUP:-1}"  # warm-up seconds per workload
RATE="${RATE:-2000}"   # open-loop rate (req/s)
DRAIN="${DRAIN:-3}"    # publish workload: longest wait for outstanding messages after the window
ONLY="${ONLY:-all}"
PY="${PY:-1}"          # 0: no Python rows
NODE="${NODE:-1}"      # 0: no Node rows
B="$here/target/release"
G="$here/go/bin/gobench"
G6="$here/go/bin/gobench6" # the same program against go-micro v6.10.0 (bench/go6)
GM="$here/go/bin/gomicro"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

log() { echo "bench: $*" >&2; }

# The Python package, release profile, into bench/.venv; rebuilt when its sources or core's
# are newer than the last build. Sets $P (the venv's python) or leaves it empty.
P=""
build_python() {
	[ "$PY" = 1 ] || return 0
	command -v python3 >/dev/null || { log "no python3: Python rows skipped"; return 0; }
	local venv="$here/.venv" stamp="$here/.venv/.micro-release"
	if [ ! -x "$venv/bin/python" ]; then
		python3 -m venv "$venv" || { log "cannot make a venv (python3-venv missing?): Python rows skipped"; return 0; }
	fi
	if [ ! -f "$stamp" ] || [ -n "$(find "$top/bindings/python" "$top/core/src" "$top/core/Cargo.toml" \( -name '*.rs' -o -name '*.py' -o -name '*.pyi' -o -name '*.toml' \) -newer "$stamp" -print -quit)" ]; then
		log "building bindings/python (release) into bench/.venv"
		"$venv/bin/pip" install -q --upgrade pip "maturin>=1.9.4,<2" >/dev/null
		CARGO_TARGET_DIR="$here/target" "$venv/bin/pip" install -q --force-reinstall --no-deps "$top/bindings/python"
		touch "$stamp"
	fi
	P="$venv/bin/python"
}

# The Node package (bindings/node), release profile. Sets $N to 1 when usable.
N=""
build_node() {
	[ "$NODE" = 1 ] || return 0
	[ -f "$top/bindings/node/package.json" ] || { log "bindings/node not in the tree: Node rows skipped"; return 0; }
	command -v node >/dev/null || { log "no node: Node rows skipped"; return 0; }
	# Release build into bench/target; the package loads it through MICRO_NODE_ADDON, so
	# bindings/node/micro.node (whatever profile it was built with) is left alone.
	log "building bindings/node (release)"
	CARGO_TARGET_DIR="$here/target" cargo build --release -q --manifest-path "$top/bindings/node/Cargo.toml"
	cp -f "$here/target/release/libmicro_node.so" "$here/target/micro.node.tmp"
	mv -f "$here/target/micro.node.tmp" "$here/target/micro.node"
	export MICRO_NODE_ADDON="$here/target/micro.node"
	N=1
}

# The bench greeter as it was at commit $BASE (ONLY=wrappers): that commit's tree, by
# `git archive`, in bench/target-base/src, built into bench/target-base (seeded from
# bench/target on the first build, so only micro and the bench crate compile). Sets $BG;
# skipped with a note when BASE is unset, git is missing or BASE is not a commit here.
BG=""
build_base() {
	[ -n "${BASE:-}" ] || return 0
	command -v git >/dev/null || { log "no git: BASE=$BASE skipped"; return 0; }
	local dir="$here/target-base" rev
	rev="$(git -C "$top" rev-parse --verify -q "$BASE^{commit}")" || { log "BASE=$BASE is not a commit here: skipped"; return 0; }
	if [ "$(cat "$dir/src.commit" 2>/dev/null)" != "$rev" ]; then
		log "extracting $BASE ($rev) into bench/target-base/src"
		rm -rf "$dir/src"
		mkdir -p "$dir/src"
		git -C "$top" archive "$rev" | tar -x -C "$dir/src"
		echo "$rev" >"$dir/src.commit"
	fi
	if [ ! -d "$dir/release" ] && [ -d "$here/target/release" ]; then
		cp -a "$here/target/release" "$dir/release"
	fi
	log "building the greeter at $BASE (release) into bench/target-base"
	CARGO_TARGET_DIR="$dir" cargo build --release -q --manifest-path "$dir/src/bench/Cargo.toml" --bin greeter
	BG="$dir/release/greeter"
}

build() {
	if [ "$ONLY" = wrappers ]; then
		log "building the greeter and loadgen (cargo --release)"
		cargo build --release -q --manifest-path "$here/Cargo.toml" --bin greeter --bin loadgen
		build_base
		return 0
	fi
	log "building (cargo --release, go)"
	cargo build --release -q --manifest-path "$here/Cargo.toml"
	case "$ONLY" in all | hosts | hostserve) build_python; build_node ;; esac
	if [ "$ONLY" = hostserve ]; then
		[ -z "$P" ] || "$P" -m pip install -q "aiohttp==3.14.5" "nats-py==2.16.0"
		if [ ! -x "$here/go/bin/natsload" ] || [ -n "$(find "$here/go/natsload" -newer "$here/go/bin/natsload" -print -quit)" ]; then
			(cd "$here/go/natsload" && GOFLAGS="${GOFLAGS:--buildvcs=false}" go build -o ../bin/natsload.tmp . && mv -f ../bin/natsload.tmp ../bin/natsload)
		fi
		command -v wrk >/dev/null || { log "wrk is not installed (Debian: apt-get install wrk)"; exit 1; }
		command -v nats-server >/dev/null || { log "nats-server is not installed (Debian: apt-get install nats-server)"; exit 1; }
	fi
	if [ ! -x "$G" ] || [ -n "$(find "$here/go" -path "$here/go/micro" -prune -o \( -name '*.go' -o -name go.mod -o -name go.sum \) -newer "$G" -print -quit)" ]; then
		(cd "$here/go" && GOFLAGS="${GOFLAGS:--buildvcs=false}" go build -o bin/gobench.tmp . && mv -f bin/gobench.tmp bin/gobench)
	fi
	case "$ONLY" in all | gomicro | stream | pubsub | lost) build_go6 ;; esac
	if [ "$ONLY" = lost ] && { [ ! -x "$here/go/bin/lostreq" ] || [ -n "$(find "$here/go/lostreq" -newer "$here/go/bin/lostreq" -print -quit)" ]; }; then
		(cd "$here/go/lostreq" && GOFLAGS="${GOFLAGS:--buildvcs=false}" go build -o ../bin/lostreq.tmp . && mv -f ../bin/lostreq.tmp ../bin/lostreq)
	fi
	# natscli's `nats bench`, beside the NATS publish rows (pinned; the module proxy serves it).
	case "$ONLY" in all | pubsub)
		if command -v nats-server >/dev/null && [ ! -x "$here/go/bin/nats" ]; then
			GOBIN="$here/go/bin" GOFLAGS="${GOFLAGS:--buildvcs=false}" go install github.com/nats-io/natscli/nats@v0.5.0 \
				|| log "cannot build natscli: the NATS rows go without nats bench"
		fi ;;
	esac
	if [ "$ONLY" = sidecar ]; then
		cargo build --release -q -p micro-cli --manifest-path "$top/Cargo.toml"
	fi
	if [ "$ONLY" = gateway ]; then
		# Our `micro` (release, the root workspace's target) and go-micro v5.30.0's own `micro`
		# (`go-micro.dev/v5/cmd/micro`, pinned by bench/go/micro/go.mod).
		cargo build --release -q -p micro-cli --manifest-path "$top/Cargo.toml"
		if [ ! -x "$GM" ] || [ "$here/go/micro/go.mod" -nt "$GM" ]; then
			(cd "$here/go/micro" && GOFLAGS="${GOFLAGS:--buildvcs=false}" go build -o ../bin/gomicro.tmp go-micro.dev/v5/cmd/micro \
				&& mv -f ../bin/gomicro.tmp ../bin/gomicro)
		fi
	fi
}

# gobench6: bench/go/main.go with its imports moved to go-micro.dev/v6, built in bench/go6
# against the v6.10.0 source that tests/interop/go/build.sh extracts (the module proxy
# refuses v6); rebuilt when main.go, go6/go.mod or go6/go.sum is newer than the binary.
build_go6() {
	"$top/tests/interop/go/build.sh" v6-source
	if [ ! -x "$G6" ] || [ -n "$(find "$here/go/main.go" "$here/go6/go.mod" "$here/go6/go.sum" -newer "$G6" -print -quit)" ]; then
		{
			echo "// Code generated by bench/run.sh from bench/go/main.go (go-micro.dev/v5 → v6); DO NOT EDIT."
			echo
			sed -e 's#go-micro.dev/v5#go-micro.dev/v6#g' \
				-e '1s#.*#// gobench6: the go-micro side of the benchmarks, built against go-micro.dev/v6 v6.10.0.#' "$here/go/main.go"
		} >"$here/go6/main.go"
		(cd "$here/go6" && GOFLAGS="${GOFLAGS:--buildvcs=false}" go build -o ../go/bin/gobench6.tmp . && mv -f ../go/bin/gobench6.tmp ../go/bin/gobench6)
	fi
}

# start NAME PIN CMD...: starts a server, waits for its ready line, sets $addr and $pid.
# result_file SUFFIX: bench/results/<UTC date>SUFFIX.md, or with -2, -3… after it when a run
# of the day already wrote that name, so a second run never overwrites the first. Reports are
# written to $work first and moved there, so the tree they name is not dirtied by themselves.
result_file() {
	local base n=2 f
	base="$here/results/$(date -u +%Y-%m-%d)$1"
	f="$base.md"
	while [ -e "$f" ]; do f="$base-$n.md"; n=$((n + 1)); done
	echo "$f"
}

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

# cpu_ticks PID: the user + system CPU time PID has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

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
	local L="$1" ours go go6 hy ourpid gopid
	start "ours-$L" "$L" "$B/greeter"; ours="$addr"; ourpid="$pid"
	start "go-$L" "$L" "$G" serve; go="$addr"; gopid="$pid"
	start "go6-$L" "$L" "$G6" serve; go6="$addr"
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
		gomicro6_unary "$L" "$c" "$ours" "$go6"
		row "$L" "unary c=$c" "hyper→hyper" "$B/loadgen" unary --client hyper --addr "$hy" --c "$c" "${T[@]}"
	done
	row "$L" "unary open $RATE/s" "ours→ours" "$B/loadgen" unary --client micro --addr "$ours" --c 32 --rate "$RATE" "${T[@]}"
	row "$L" "unary open $RATE/s" "ours→go" "$B/loadgen" unary --client micro --addr "$go" --c 32 --rate "$RATE" "${T[@]}"
	row "$L" "unary open $RATE/s" "hyper→hyper" "$B/loadgen" unary --client hyper --addr "$hy" --c 32 --rate "$RATE" "${T[@]}"
	streams "$L" "$ours" "$go" "$go6"
	pubsub "$L"
	bindings "$L" "$ours"
	if [ "$L" = unpinned ]; then
		echo "{\"layout\":\"$L\",\"workload\":\"rss-load\",\"ours_kb\":$(rss_kb "$ourpid" VmHWM),\"go_kb\":$(rss_kb "$gopid" VmHWM)}" >>"$rows"
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	pids=()
}

# gomicro6_unary LAYOUT C OURS GO6: the go-micro v6 unary rows at concurrency C (go6 = the
# same gobench built against go-micro v6.10.0): go6→go6, ours→go6, go6→ours.
gomicro6_unary() {
	local L="$1" c="$2" ours="$3" go6="$4" T=(--d "$D" --warmup "$WARMUP") GT=(-d "${D}s" -warmup "${WARMUP}s")
	row "$L" "unary c=$c" "go6→go6" "$G6" load -addr "$go6" -c "$c" "${GT[@]}"
	row "$L" "unary c=$c" "ours→go6" "$B/loadgen" unary --client micro --addr "$go6" --c "$c" "${T[@]}"
	row "$L" "unary c=$c" "go6→ours" "$G6" load -addr "$ours" -c "$c" "${GT[@]}"
}

# streams LAYOUT OURS GO [GO6]: one Greeter.Stream ping-pong, every client against every server
# (go-micro servers discard the placeholder first message; ours does the same).
streams() {
	local L="$1" ours="$2" go="$3" go6="${4:-}" T=(--d "$D" --warmup "$WARMUP") GT=(-d "${D}s" -warmup "${WARMUP}s")
	row "$L" "stream" "ours→ours" "$B/loadgen" stream --addr "$ours" "${T[@]}"
	row "$L" "stream" "go→go" "$G" stream -addr "$go" "${GT[@]}"
	row "$L" "stream" "ours→go" "$B/loadgen" stream --addr "$go" "${T[@]}"
	row "$L" "stream" "go→ours" "$G" stream -addr "$ours" "${GT[@]}"
	if [ -n "$go6" ]; then
		row "$L" "stream" "go6→go6" "$G6" stream -addr "$go6" "${GT[@]}"
		row "$L" "stream" "ours→go6" "$B/loadgen" stream --addr "$go6" "${T[@]}"
		row "$L" "stream" "go6→ours" "$G6" stream -addr "$ours" "${GT[@]}"
	fi
	# 64 messages in flight on the one stream (a sender and a receiver on it).
	row "$L" "stream w=64" "ours→ours" "$B/loadgen" stream --addr "$ours" --window 64 "${T[@]}"
	row "$L" "stream w=64" "go→go" "$G" stream -addr "$go" -window 64 "${GT[@]}"
	row "$L" "stream w=64" "ours→go" "$B/loadgen" stream --addr "$go" --window 64 "${T[@]}"
	row "$L" "stream w=64" "go→ours" "$G" stream -addr "$ours" -window 64 "${GT[@]}"
}

# pubsub LAYOUT: publish → subscriber over the http broker, one process per side (memory
# registry, http broker subscriber and publisher in-process), at 1 and 64 messages
# outstanding. Cross-process ours↔go rows would need a registry both processes share
# (mDNS, etcd), which would put discovery into the measurement; not run.
pubsub() {
	local L="$1" w lim
	lim="$(awk -v d="$D" -v w="$WARMUP" -v r="$DRAIN" 'BEGIN {printf "%d", d + w + r + 15}')"
	for w in 1 64; do
		row "$L" "publish w=$w" "ours→ours" timeout "$lim" "$B/loadgen" pubsub --window "$w" --d "$D" --warmup "$WARMUP" --drain "$DRAIN"
		row "$L" "publish w=$w" "go→go" timeout "$lim" "$G" pubsub -window "$w" -d "${D}s" -warmup "${WARMUP}s" -drain "${DRAIN}s"
		row "$L" "publish w=$w" "go6→go6" timeout "$lim" "$G6" pubsub -window "$w" -d "${D}s" -warmup "${WARMUP}s" -drain "${DRAIN}s"
	done
	natspub "$L" "$lim"
}

# natspub LAYOUT LIMIT: publish → subscriber through Debian's nats-server (our NATS broker,
# publisher and subscriber in one process, the server in another), at 1, 64 and 8192
# outstanding (8192: bursts past what a subscriber once held, 4096 messages: none lost),
# beside `nats bench` (natscli, go/bin/nats) publishing and subscribing 16-byte messages on
# the same server. Skipped, and said so, without nats-server.
natspub() {
	local L="$1" lim="$2" port pre=() w
	command -v nats-server >/dev/null || { log "no nats-server: NATS publish rows skipped"; return 0; }
	[ "$L" = pinned ] && pre=(taskset -c 0)
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
	"${pre[@]}" nats-server -a 127.0.0.1 -p "$port" >"$work/nats-pub-$L.log" 2>&1 & pids+=($!)
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
	for w in 1 64 8192; do
		row "$L" "publish nats w=$w" "ours→ours" timeout "$lim" "$B/loadgen" pubsub --broker "nats://127.0.0.1:$port" --window "$w" --d "$D" --warmup "$WARMUP" --drain "$DRAIN"
	done
	if [ -x "$here/go/bin/nats" ]; then
		log "$L publish nats: nats bench"
		local out msgs
		msgs="$(awk -v d="$D" 'BEGIN {printf "%d", d * 200000}')"
		"${pre[@]}" "$here/go/bin/nats" --server "nats://127.0.0.1:$port" bench sub bench.sub --msgs "$msgs" --size 16 \
			--no-progress >"$work/nats-bench-sub-$L.txt" 2>&1 &
		local sub=$!
		# The subscriber says it started before it subscribes: a moment for its SUB to land.
		for _ in $(seq 100); do grep -q "Starting Core NATS subscriber," "$work/nats-bench-sub-$L.txt" 2>/dev/null && break; sleep 0.05; done
		sleep 0.2
		"${pre[@]}" "$here/go/bin/nats" --server "nats://127.0.0.1:$port" bench pub bench.sub --msgs "$msgs" --size 16 \
			--no-progress >/dev/null 2>&1 || true
		timeout 30 tail --pid="$sub" -f /dev/null || kill "$sub" 2>/dev/null
		out="$(cat "$work/nats-bench-sub-$L.txt")"
		echo "$out" >"$work/nats-bench-$L.txt"
		python3 - "$work/nats-bench-$L.txt" "$L" >>"$rows" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
# natscli v0.5.0 prints "NATS Core NATS subscriber stats: 1,825,427 msgs/sec ~ 28 MiB/sec".
m = re.search(r"subscriber stats:\s*([\d,]+)\s*msgs/sec", text)
rate = float(m.group(1).replace(",", "")) if m else 0.0
res = {"requests": 1 if m else 0, "errors": 0 if m else 1, "seconds": 0, "rate": rate, "p50_us": 0, "p99_us": 0, "p999_us": 0}
print(json.dumps({"layout": sys.argv[2], "workload": "publish nats (nats bench)", "pair": "nats bench pub→sub", "result": res}))
PY
	fi
}

# bindings LAYOUT OURS: the unary workload with the handler in Python / Node (served to our
# Rust load generator), and their clients against our Rust greeter at OURS (1 and 100 in
# flight), next to our Rust client at the same concurrency.
bindings() {
	local L="$1" ours="$2" T=(--d "$D" --warmup "$WARMUP") c
	local pre=(); [ "$L" = pinned ] && pre=(taskset -c 0)
	if [ -n "$P" ]; then
		local pya pys
		start "py-async-$L" "$L" "$P" "$here/py/server.py" --mode async; pya="$addr"
		start "py-def-$L" "$L" "$P" "$here/py/server.py" --mode sync; pys="$addr"
		for c in 1 64; do
			row "$L" "unary c=$c" "ours→python (async def)" "$B/loadgen" unary --client micro --addr "$pya" --c "$c" "${T[@]}"
			row "$L" "unary c=$c" "ours→python (def)" "$B/loadgen" unary --client micro --addr "$pys" --c "$c" "${T[@]}"
		done
	fi
	if [ -n "$N" ]; then
		local nd
		start "node-$L" "$L" node "$here/node/server.js"; nd="$addr"
		for c in 1 64; do
			row "$L" "unary c=$c" "ours→node" "$B/loadgen" unary --client micro --addr "$nd" --c "$c" "${T[@]}"
		done
	fi
	row "$L" "unary c=100" "ours→ours" "$B/loadgen" unary --client micro --addr "$ours" --c 100 "${T[@]}"
	for c in 1 100; do
		[ -n "$P" ] && row "$L" "unary c=$c" "python→ours" "$P" "$here/py/client.py" --addr "$ours" --c "$c" "${T[@]}"
		[ -n "$N" ] && row "$L" "unary c=$c" "node→ours" node "$here/node/client.js" --addr "$ours" --c "$c" "${T[@]}"
	done
	return 0
}

# wrappers: unary Greeter.Hello from our loadgen at each concurrency in $CS against the
# greeter in each configuration (wrappers off, metrics on, access log on with no log
# subscriber, and the greeter built at $BASE when set), one server per configuration, all
# started up front and measured in turn (A B C D, A B C D, ...) REPS times so load from
# elsewhere on the machine falls on every configuration alike; the greeter's CPU time over
# each run is recorded too (CPU per call is less sensitive to that load than req/s).
# LAYOUT=pinned puts every process under `taskset -c 0`. Afterwards the metrics greeter's
# /metrics is scraped (proof that it counted the calls) and the report compares medians
# against the targets.
wrappers() {
	local L="${LAYOUT:-unpinned}" reps="${REPS:-3}" cs="${CS:-1 64}" cfg c rep res t0 t1 hz
	hz="$(getconf CLK_TCK)"
	local -A at=() pidof=()
	local cfgs=(off metrics access)
	rows="$work/rows.jsonl"
	: >"$rows"
	start off "$L" env -u MICRO_METRICS_ADDRESS -u MICRO_ACCESS_LOG "$B/greeter"; at[off]="$addr"; pidof[off]="$pid"
	start metrics "$L" env -u MICRO_ACCESS_LOG MICRO_METRICS_ADDRESS=127.0.0.1:0 "$B/greeter"; at[metrics]="$addr"; pidof[metrics]="$pid"
	local scrape
	scrape="$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$work/metrics.out" | head -1)"
	[ -n "$scrape" ] || { log "the metrics greeter names no metrics address: $(cat "$work/metrics.out")"; exit 1; }
	start access "$L" env -u MICRO_METRICS_ADDRESS MICRO_ACCESS_LOG=true "$B/greeter"; at[access]="$addr"; pidof[access]="$pid"
	if [ -n "$BG" ]; then
		start base "$L" env -u MICRO_METRICS_ADDRESS -u MICRO_ACCESS_LOG "$BG"; at[base]="$addr"; pidof[base]="$pid"
		cfgs+=(base)
	fi
	sleep 1
	local pre=(); [ "$L" = pinned ] && pre=(taskset -c 0)
	for rep in $(seq "$reps"); do
		for c in $cs; do
			for cfg in "${cfgs[@]}"; do
				log "rep $rep/$reps c=$c $cfg"
				t0="$(cpu_ticks "${pidof[$cfg]}")"
				res="$("${pre[@]}" "$B/loadgen" unary --client micro --addr "${at[$cfg]}" --c "$c" --d "$D" --warmup "$WARMUP" | tail -1)"
				t1="$(cpu_ticks "${pidof[$cfg]}")"
				echo "{\"layout\":\"$L\",\"config\":\"$cfg\",\"c\":$c,\"rep\":$rep,\"warmup\":$WARMUP,\"server_cpu_s\":$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {print (b - a) / hz}'),\"result\":$res}" >>"$rows"
			done
		done
	done
	for cfg in "${cfgs[@]}"; do
		echo "{\"config\":\"$cfg\",\"hwm_kb\":$(rss_kb "${pidof[$cfg]}" VmHWM)}" >>"$rows"
	done
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
		"http://$scrape/metrics" >"$work/scrape.txt" || { log "scraping http://$scrape/metrics failed"; exit 1; }
	mkdir -p "$here/results"
	out="$(result_file -wrappers)"
	python3 "$here/wrappers_report.py" "$rows" "$work/scrape.txt" "${BASE:-}" \
		"ONLY=wrappers${BASE:+ BASE=$BASE} LAYOUT=$L CS='$cs' D=$D WARMUP=$WARMUP REPS=$reps bash bench/run.sh" >"$work/report.md"
	mv "$work/report.md" "$out"
	log "wrote $out"
	cat "$out"
}

build
if [ "$ONLY" = wrappers ]; then
	wrappers
	exit
fi
if [ "$ONLY" = smoke ]; then
	rows="$work/rows.jsonl"
	start ours unpinned "$B/greeter"
	"$B/loadgen" unary --client micro --addr "$addr" --c 4 --d "$D" --warmup "$WARMUP" | tee "$work/smoke.json"
	grep -q '"errors":0,' "$work/smoke.json" && ! grep -q '"requests":0,' "$work/smoke.json" \
		|| { log "unary smoke failed: $(cat "$work/smoke.json")"; exit 1; }
	# Messages flow over the http broker on both sides: some delivered, none lost.
	lim="$(awk -v d="$D" -v w="$WARMUP" 'BEGIN {printf "%d", d + w + 20}')"
	timeout "$lim" "$B/loadgen" pubsub --window 64 --d "$D" --warmup "$WARMUP" --drain 3 | tee "$work/pub-ours.json"
	timeout "$lim" "$G" pubsub -window 64 -d "${D}s" -warmup "${WARMUP}s" -drain 3s 2>/dev/null | tee "$work/pub-go.json"
	for f in "$work/pub-ours.json" "$work/pub-go.json"; do
		grep -q '"lost":0,' "$f" && grep -q '"publish_errors":0,' "$f" && ! grep -q '"requests":0,' "$f" \
			|| { log "publish smoke failed: $(cat "$f")"; exit 1; }
	done
	# The hosts' rows still run (issue 18), not their speed: the Python and Node servers
	# under our loadgen and their clients against the Rust greeter, a few hundred calls each
	# with no error. SMOKE_PY: a python with the package installed (90-bench-smoke passes the
	# test venv's); SMOKE_NODE=1: bindings/node as built (its micro.node).
	o="$addr"
	smoke_row() { # smoke_row NAME CMD...: one run, at least 100 calls, none failed
		local f="$work/smoke-$1.json"; shift
		"$@" | tail -1 | tee "$f"
		python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["requests"] >= 100 and r["errors"] == 0 else 1)' "$f" \
			|| { log "host smoke $(basename "$f") failed: $(cat "$f")"; exit 1; }
	}
	if [ -n "${SMOKE_PY:-}" ]; then
		start py-async unpinned "$SMOKE_PY" "$here/py/server.py" --mode async
		smoke_row py-async "$B/loadgen" unary --client micro --addr "$addr" --c 4 --d "$D" --warmup "$WARMUP"
		start py-def unpinned "$SMOKE_PY" "$here/py/server.py" --mode sync
		smoke_row py-def "$B/loadgen" unary --client micro --addr "$addr" --c 4 --d "$D" --warmup "$WARMUP"
		smoke_row py-client "$SMOKE_PY" "$here/py/client.py" --addr "$o" --c 8 --d "$D" --warmup "$WARMUP"
		smoke_row py-sync-client "$SMOKE_PY" "$here/py/client.py" --sync --addr "$o" --c 8 --d "$D" --warmup "$WARMUP"
	fi
	if [ "${SMOKE_NODE:-0}" = 1 ]; then
		start node unpinned node "$here/node/server.js"
		smoke_row node "$B/loadgen" unary --client micro --addr "$addr" --c 4 --d "$D" --warmup "$WARMUP"
		smoke_row node-client node "$here/node/client.js" --addr "$o" --c 8 --d "$D" --warmup "$WARMUP"
	fi
	exit
fi
if [ "$ONLY" = gateway ]; then
	[ "$(id -u)" -eq 0 ] || { log "ONLY=gateway needs root (the gateways find the greeters over mDNS in scripts/netns.sh)"; exit 2; }
	rows="$work/rows.jsonl"
	"$top/scripts/netns.sh" env D="$D" WARMUP="$WARMUP" REPS="${REPS:-3}" \
		bash "$here/gateway.sh" "$B" "$G" "$GM" "$top/target/release/micro" >"$rows"
	mkdir -p "$here/results"
	out="$(result_file -gateway)"
	python3 "$here/gateway_report.py" "$rows" "ONLY=gateway D=$D WARMUP=$WARMUP REPS=${REPS:-3} bash bench/run.sh" >"$work/report.md"
	mv "$work/report.md" "$out"
	log "wrote $out"
	cat "$out"
	exit
fi
if [ "$ONLY" = sidecar ]; then
	[ "$(id -u)" -eq 0 ] || { log "ONLY=sidecar needs root (the sidecar finds the greeter over mDNS in scripts/netns.sh)"; exit 2; }
	rows="$work/rows.jsonl"
	"$top/scripts/netns.sh" env D="$D" WARMUP="$WARMUP" REPS="${REPS:-3}" \
		bash "$here/sidecar.sh" "$B" "$top/target/release/micro" >"$rows"
	mkdir -p "$here/results"
	out="$(result_file -sidecar)"
	python3 "$here/sidecar_report.py" "$rows" "ONLY=sidecar D=$D WARMUP=$WARMUP REPS=${REPS:-3} bash bench/run.sh" >"$work/report.md"
	mv "$work/report.md" "$out"
	log "wrote $out"
	cat "$out"
	exit
fi
# wrkrow LAYOUT WORKLOAD PAIR ADDR: Debian's wrk (2 threads, $WC connections, default 64)
# sending go-micro's own request (wrk/gomicro.lua, every reply checked) to http://ADDR/, after
# a 1 s warm-up run; appends a row in loadgen's shape (wrk/parse.py).
wrkrow() {
	local layout="$1" workload="$2" pair="$3" a="$4" pre=() out res
	[ "$layout" = pinned ] && pre=(taskset -c 0)
	log "$layout $workload $pair"
	"${pre[@]}" wrk -t2 -c"${WC:-64}" -d1s -s "$here/wrk/gomicro.lua" "http://$a/" >/dev/null
	out="$("${pre[@]}" wrk -t2 -c"${WC:-64}" -d"${D%.*}s" --latency -s "$here/wrk/gomicro.lua" "http://$a/")"
	res="$(python3 "$here/wrk/parse.py" "${D%.*}" <<<"$out")"
	echo "{\"layout\":\"$layout\",\"workload\":\"$workload\",\"pair\":\"$pair\",\"result\":$res}" >>"$rows"
}

# hostserve: issue 18's rows, REPS times (default 3) in each layout. The JSON greeter served
# by our Rust greeter, the Python package (async def and def), the Node package, aiohttp,
# node:http and a nats-py responder on Debian's nats-server, and raw hyper (the floor): our
# loadgen (go-micro's request through our client) against ours, wrk (go-micro's request, a
# load generator nobody here wrote) against every HTTP server, natsload (nats.go) against
# the responder; then the binding clients against the Rust greeter (asyncio, sync and Node,
# at 1 and 100 in flight) beside our Rust client. Each rep starts every server afresh.
hostserve() {
	local reps="${REPS:-3}" rep L T=(--d "$D" --warmup "$WARMUP") c o hy pya pys nd aio nh nport nurl
	rows="$work/rows.jsonl"
	: >"$rows"
	[ -n "$P" ] && [ -n "$N" ] || { log "ONLY=hostserve needs the Python and Node rows (PY=1 NODE=1)"; exit 1; }
	for rep in $(seq "$reps"); do
		for L in unpinned pinned; do
			local pre=(); [ "$L" = pinned ] && pre=(taskset -c 0)
			start "ours-$L-$rep" "$L" "$B/greeter"; o="$addr"
			start "hyper-$L-$rep" "$L" "$B/hyper-echo"; hy="$addr"
			start "py-async-$L-$rep" "$L" "$P" "$here/py/server.py" --mode async; pya="$addr"
			start "py-def-$L-$rep" "$L" "$P" "$here/py/server.py" --mode sync; pys="$addr"
			start "node-$L-$rep" "$L" node "$here/node/server.js"; nd="$addr"
			start "aiohttp-$L-$rep" "$L" "$P" "$here/py/aiohttp_server.py"; aio="$addr"
			start "nodehttp-$L-$rep" "$L" node "$here/node/http_server.js"; nh="$addr"
			nport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
			"${pre[@]}" nats-server -a 127.0.0.1 -p "$nport" >"$work/nats-$L-$rep.log" 2>&1 & pids+=($!)
			nurl="nats://127.0.0.1:$nport"
			for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && break; sleep 0.05; done
			start "natspy-$L-$rep" "$L" "$P" "$here/py/nats_responder.py" --nats "$nurl"
			for c in 64; do
				row "$L" "unary c=$c" "ours→ours" "$B/loadgen" unary --client micro --addr "$o" --c "$c" "${T[@]}"
				row "$L" "unary c=$c" "ours→python (async def)" "$B/loadgen" unary --client micro --addr "$pya" --c "$c" "${T[@]}"
				row "$L" "unary c=$c" "ours→python (def)" "$B/loadgen" unary --client micro --addr "$pys" --c "$c" "${T[@]}"
				row "$L" "unary c=$c" "ours→node" "$B/loadgen" unary --client micro --addr "$nd" --c "$c" "${T[@]}"
				wrkrow "$L" "unary c=$c" "wrk→ours" "$o"
				WRK_EXPECT='"name":"bench"' wrkrow "$L" "unary c=$c" "wrk→hyper" "$hy"
				wrkrow "$L" "unary c=$c" "wrk→python (async def)" "$pya"
				wrkrow "$L" "unary c=$c" "wrk→python (def)" "$pys"
				wrkrow "$L" "unary c=$c" "wrk→node" "$nd"
				wrkrow "$L" "unary c=$c" "wrk→aiohttp" "$aio"
				wrkrow "$L" "unary c=$c" "wrk→node:http" "$nh"
				row "$L" "unary c=$c" "nats.go→nats-py" "$here/go/bin/natsload" -nats "$nurl" -c "$c" -d "${D}s" -warmup "${WARMUP}s"
			done
			for c in 1 100; do
				row "$L" "client c=$c" "ours→ours" "$B/loadgen" unary --client micro --addr "$o" --c "$c" "${T[@]}"
				row "$L" "client c=$c" "python asyncio→ours" "$P" "$here/py/client.py" --addr "$o" --c "$c" "${T[@]}"
				row "$L" "client c=$c" "python sync→ours" "$P" "$here/py/client.py" --sync --addr "$o" --c "$c" "${T[@]}"
				row "$L" "client c=$c" "node→ours" node "$here/node/client.js" --addr "$o" --c "$c" "${T[@]}"
			done
			for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
			pids=()
		done
	done
	local out; out="$(result_file -hosts)"
	python3 "$here/hosts_report.py" "$rows" "ONLY=hostserve D=$D WARMUP=$WARMUP REPS=$reps bash bench/run.sh" >"$work/report.md"
	mv "$work/report.md" "$out"
	log "wrote $out"
	cat "$out"
}
if [ "$ONLY" = registry ]; then
	# Lookups through the client's registry cache with 200 services of 3 nodes registered:
	# the first lookup (a miss) and 100,000 cached ones, p50/p99/p99.9, both layouts; each
	# as `Cache::lookup` answers (a copy) and as a call makes it (`lookup_shared`, shared).
	echo "| layout | lookup | services × nodes | first lookup (miss) µs | cached lookups/s | p50 µs | p99 µs | p99.9 µs | errors |"
	echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
	for L in unpinned pinned; do
		pre=(); [ "$L" = pinned ] && pre=(taskset -c 0)
		for kind in copy shared; do
			"${pre[@]}" "$B/loadgen" registry --services 200 --nodes 3 --lookups 100000 --lookup "$kind" | tail -1 | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("| {} | {} | {} × {} | {:,.1f} | {:,.0f} | {:.2f} | {:.2f} | {:.2f} | {} |".format(sys.argv[1], r["lookup"], r["services"], r["nodes"],
      r["miss_us"], r["rate"], r["p50_us"], r["p99_us"], r["p999_us"], r["errors"]))' "$L"
		done
	done
	# An mDNS responder's answer time with the same 200 × 3 registered, ours beside go-micro's
	# (bench/mdns_answer.sh, inside scripts/netns.sh): the median of REPS rounds of 600
	# questions each, unpinned.
	if [ "$(id -u)" -ne 0 ]; then
		log "not root: the mDNS answer rows (scripts/netns.sh) skipped"
		exit
	fi
	"$top/scripts/netns.sh" bash "$here/mdns_answer.sh" "$B" "$G" >"$work/mdns.jsonl"
	python3 - "$work/mdns.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda k, who: statistics.median(r[k] for r in rows if r["server"] == who)
print("\n| mDNS responder, 200 × 3 registered | first answer p50 µs | all 3 nodes p50 µs | p99 µs | p99.9 µs | unanswered | RSS MiB | open fds |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for who, label in (("ours", "ours (one responder)"), ("go", "go-micro v5.30.0 (a server per node)")):
    if not any(r["server"] == who for r in rows):
        continue
    print(f"| {label} | {med('first_p50_us', who):,.0f} | {med('p50_us', who):,.0f} | {med('p99_us', who):,.0f} | "
          f"{med('p999_us', who):,.0f} | {sum(r['errors'] for r in rows if r['server'] == who)} of "
          f"{sum(r['requests'] + r['errors'] for r in rows if r['server'] == who)} | {med('rss_kb', who) / 1024:.1f} | {med('fds', who):.0f} |")
if {r["server"] for r in rows} >= {"ours", "go"}:
    print(f"\ngo-micro ÷ ours (median of {len(rows) // 2} rounds): all nodes p50 {med('p50_us', 'go') / med('p50_us', 'ours'):.1f}×, "
          f"p99 {med('p99_us', 'go') / med('p99_us', 'ours'):.1f}×")
PY
	exit
fi
if [ "$ONLY" = lost ]; then
	# Requests a server reads and never answers (bench/go/lostreq): LOST_N requests (100,000)
	# sent one at a time on each of 2 kept-alive connections, the next as soon as a reply is
	# read, to go-micro v5.30.0, go-micro v6.10.0 and our Rust greeter, REPS rounds (3),
	# unpinned; a request unanswered after 1 s is lost. Writes bench/results/<date>-lost.md.
	n="${LOST_N:-100000}"
	lrows="$work/lost.jsonl"
	: >"$lrows"
	for rep in $(seq "${REPS:-3}"); do
		start "go-$rep" unpinned "$G" serve; g="$addr"
		start "go6-$rep" unpinned "$G6" serve; g6="$addr"
		start "ours-$rep" unpinned "$B/greeter"; o="$addr"
		for pair in "go-micro v5.30.0|$g|go.greeter" "go-micro v6.10.0|$g6|go.greeter" "ours (Rust greeter)|$o|greeter"; do
			IFS='|' read -r who at svc <<<"$pair"
			log "lost requests: $who, round $rep"
			"$here/go/bin/lostreq" --addr "$at" --service "$svc" --n "$n" --c 2 --wait 1s \
				| python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["server"]=sys.argv[1]; r["rep"]=int(sys.argv[2]); print(json.dumps(r))' "$who" "$rep" >>"$lrows"
		done
		for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
		pids=()
	done
	mkdir -p "$here/results"
	out="$(result_file "-lost")"
	python3 "$here/lost_report.py" "$lrows" "ONLY=lost LOST_N=$n REPS=${REPS:-3} bash bench/run.sh" >"$work/lost.md"
	mv "$work/lost.md" "$out"
	log "wrote $out"
	cat "$out"
	exit
fi
if [ "$ONLY" = payloads ]; then
	# Bodies of 1 KiB, 64 KiB and 1 MiB (the name padded; the greeting echoes it), 16 calls in
	# flight, ours and go-micro both ways; the greeters' peak RSS after the unpinned load.
	rows="$work/rows.jsonl"
	: >"$rows"
	T=(--d "$D" --warmup "$WARMUP") GT=(-d "${D}s" -warmup "${WARMUP}s")
	for L in unpinned pinned; do
		start "ours-$L" "$L" "$B/greeter"; o="$addr"; opid="$pid"
		start "go-$L" "$L" "$G" serve; g="$addr"; gpid="$pid"
		for size in 1024 65536 1048576; do
			w="unary c=16 $((size / 1024)) KiB"
			row "$L" "$w" "ours→ours" "$B/loadgen" unary --client micro --addr "$o" --c 16 --size "$size" "${T[@]}"
			row "$L" "$w" "go→go" "$G" load -addr "$g" -c 16 -size "$size" "${GT[@]}"
			row "$L" "$w" "ours→go" "$B/loadgen" unary --client micro --addr "$g" --c 16 --size "$size" "${T[@]}"
			row "$L" "$w" "go→ours" "$G" load -addr "$o" -c 16 -size "$size" "${GT[@]}"
		done
		if [ "$L" = unpinned ]; then
			echo "{\"layout\":\"$L\",\"workload\":\"rss-load\",\"ours_kb\":$(rss_kb "$opid" VmHWM),\"go_kb\":$(rss_kb "$gpid" VmHWM)}" >>"$rows"
		fi
		for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
		pids=()
	done
	out="$(result_file -payloads)"
	python3 "$here/report.py" "$rows" "ONLY=payloads D=$D WARMUP=$WARMUP bash bench/run.sh" >"$work/report.md"
	mv "$work/report.md" "$out"
	log "wrote $out"
	cat "$out"
	exit
fi
if [ "$ONLY" = hostserve ]; then
	hostserve
	exit
fi
if [ "$ONLY" = hosts ]; then
	# The unary rows served in Rust, Python and Node and the binding clients' rows, both
	# layouts; table on stdout, no results file (for before/after comparisons of a change).
	rows="$work/rows.jsonl"
	: >"$rows"
	T=(--d "$D" --warmup "$WARMUP")
	for L in unpinned pinned; do
		start "ours-$L" "$L" "$B/greeter"; o="$addr"
		for c in 1 64; do
			row "$L" "unary c=$c" "ours→ours" "$B/loadgen" unary --client micro --addr "$o" --c "$c" "${T[@]}"
		done
		bindings "$L" "$o"
		for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
		pids=()
	done
	python3 "$here/report.py" "$rows" "ONLY=hosts D=$D WARMUP=$WARMUP bash bench/run.sh"
	exit
fi
if [ "$ONLY" = gomicro ]; then
	# Every go-micro row, v5 and v6, both layouts: unary c=1 and c=64 (with ours→ours as the
	# reference), the streams, publish; table on stdout, no results file.
	rows="$work/rows.jsonl"
	: >"$rows"
	T=(--d "$D" --warmup "$WARMUP") GT=(-d "${D}s" -warmup "${WARMUP}s")
	for L in unpinned pinned; do
		start "ours-$L" "$L" "$B/greeter"; o="$addr"
		start "go-$L" "$L" "$G" serve; g="$addr"
		start "go6-$L" "$L" "$G6" serve; g6="$addr"
		for c in 1 64; do
			row "$L" "unary c=$c" "ours→ours" "$B/loadgen" unary --client micro --addr "$o" --c "$c" "${T[@]}"
			row "$L" "unary c=$c" "go→go" "$G" load -addr "$g" -c "$c" "${GT[@]}"
			row "$L" "unary c=$c" "ours→go" "$B/loadgen" unary --client micro --addr "$g" --c "$c" "${T[@]}"
			row "$L" "unary c=$c" "go→ours" "$G" load -addr "$o" -c "$c" "${GT[@]}"
			gomicro6_unary "$L" "$c" "$o" "$g6"
		done
		streams "$L" "$o" "$g" "$g6"
		pubsub "$L"
		for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
		pids=()
	done
	python3 "$here/report.py" "$rows" "ONLY=gomicro D=$D WARMUP=$WARMUP bash bench/run.sh"
	exit
fi
if [ "$ONLY" = pubsub ] || [ "$ONLY" = stream ]; then
	rows="$work/rows.jsonl"
	: >"$rows"
	for L in unpinned pinned; do
		if [ "$ONLY" = pubsub ]; then
			pubsub "$L"
		else
			start "ours-$L" "$L" "$B/greeter"; o="$addr"
			start "go-$L" "$L" "$G" serve; g="$addr"
			start "go6-$L" "$L" "$G6" serve; g6="$addr"
			streams "$L" "$o" "$g" "$g6"
			for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
			pids=()
		fi
	done
	python3 "$here/report.py" "$rows" "ONLY=$ONLY D=$D WARMUP=$WARMUP bash bench/run.sh"
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
out="$(result_file "")"
python3 "$here/report.py" "$rows" "bash bench/run.sh" >"$work/report.md"
mv "$work/report.md" "$out"
log "wrote $out"
cat "$out"
