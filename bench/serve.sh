# Sourced by bench/thread_cpu.sh, bench/wakeups.sh, bench/asyncio_floor.sh, bench/c_stat.sh and bench/served_stat.sh: `serve_greeter` starts the bench
# greeter served by $SERVER (`rust`: bench/target/release/greeter; `node`: bench/node/server.js
# with the addon $ADDON, by default the release build bench/run.sh leaves in
# bench/target/micro.node, and the package $PKG; `python`: bench/py/server.py under $PY),
# prefixed by the command in the array `pre` (empty: unpinned), its output in $work/srv.out.
# Once it is ready, `sp` is its pid and `a` its address. Needs `here` and `work`.
serve_greeter() {
	case "${SERVER:?rust, node or python}" in
	rust) "${pre[@]}" "$here/target/release/greeter" >"$work/srv.out" 2>&1 & ;;
	node)
		local addon="${ADDON:-$here/target/micro.node}"
		[ -f "$addon" ] || { echo "no release build of the Node addon at $addon: run \`ONLY=hostserve bash bench/run.sh\` once, or set ADDON" >&2; exit 2; }
		MICRO_NODE_ADDON="$addon" MICRO_NODE_PKG="${PKG:-}" "${pre[@]}" node "$here/node/server.js" >"$work/srv.out" 2>&1 &
		;;
	python) "${pre[@]}" "${PY:-python3}" "$here/py/server.py" >"$work/srv.out" 2>&1 & ;;
	*) echo "SERVER must be rust, node or python" >&2; exit 2 ;;
	esac
	sp=$!
	for _ in $(seq 100); do grep -q '"ready"' "$work/srv.out" && break; sleep 0.05; done
	a="$(sed -n 's/.*"address":"\([^"]*\)".*/\1/p' "$work/srv.out" | head -1)"
	[ -n "$a" ] || { echo "server did not start: $(cat "$work/srv.out")" >&2; exit 1; }
}
