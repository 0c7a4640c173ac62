#!/usr/bin/env bash
# Run suite (#20): `micro new` writes a service in each language (Rust, Python, Node, Go),
# then `micro run -r --env test` runs a micro.mu naming all four, each depending on the
# one before (go ← rust ← python ← node), inside the private network namespace (mDNS):
#   - all build with their own tools and start in dependency order, each after the one it
#     depends on registered; all register (micro ps) and answer through the gateway and
#     `micro call`; the env block's variables reach them (MICRO_SERVER_VERSION);
#   - an edited file reloads only its service; `kill -9` of a service: -r restarts it and
#     it registers again; `-k NAME` stops one (not restarted), `-s`/`ps` show it, `micro
#     logs` prints a service's output; `-k all` ends micro run;
#   - `micro mcp serve` driven over stdio by a JSON-RPC client (initialize, tools/list,
#     tools/call) calls the Rust service and a go-micro v5 service (gm5); `mcp list`,
#     `mcp test`; with --auth, over stdio and HTTP, a token of micro api's auth store
#     calls the tool its scope allows and is refused the other;
#   - `micro new --template crud|api` in each language: crud through micro call, api
#     through micro run's gateway.
# Builds share the workspace's target dir (CARGO_TARGET_DIR) and run offline.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="$top/target"
out="$top/target/run-check"
rm -rf "$out" && mkdir -p "$out"

need=()
command -v go >/dev/null || need+=(golang-go)
command -v node >/dev/null && command -v npm >/dev/null || need+=(nodejs npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v curl >/dev/null || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi

cargo build --locked -q -p micro-cli || { echo "FAIL build micro"; exit 1; }
tests/interop/go/build.sh >/dev/null || { echo "FAIL build gm5"; exit 1; }
# The Node addon (bindings/node/micro.node) and the Python wheel, from this checkout.
[ -f bindings/node/micro.node ] || (cd bindings/node && MICRO_NODE_PROFILE=debug node scripts/build.js --debug) >"$out/node-build.log" 2>&1 ||
	{ echo "FAIL node addon"; tail -20 "$out/node-build.log"; exit 1; }
venv="$(bindings/python/scripts/venv.sh --reuse)" &&
	"$venv/bin/maturin" build --profile dev --quiet -m bindings/python/Cargo.toml -o "$out/wheels" >"$out/wheel.log" 2>&1 ||
	{ echo "FAIL python wheel"; tail -20 "$out/wheel.log"; exit 1; }

micro="$top/target/debug/micro"
proj="$out/proj"
mkdir -p "$proj"
for lang in rust python node go; do
	(cd "$proj" && "$micro" new "svc-$lang" --lang "$lang") >>"$out/new.log" 2>&1 || { echo "FAIL micro new --lang $lang"; cat "$out/new.log"; exit 1; }
done
# The Python service's venv gets micro-mesh from the wheel just built (no PyPI here):
# `micro run` then finds requirements.txt satisfied.
python3 -m venv "$proj/svc-python/.venv" && "$proj/svc-python/.venv/bin/pip" install -q --no-index "$out"/wheels/micro_mesh-*.whl ||
	{ echo "FAIL python venv"; exit 1; }
# --template pubsub in each language: a second project of four services, no dependencies.
ps="$out/pubsub"
mkdir -p "$ps"
for lang in rust python node go; do
	(cd "$ps" && "$micro" new "ps-$lang" --lang "$lang" --template pubsub) >>"$out/new.log" 2>&1 || { echo "FAIL micro new --template pubsub --lang $lang"; exit 1; }
	printf 'service ps-%s\n    path ./ps-%s\n' "$lang" "$lang" >>"$ps/micro.mu"
done
python3 -m venv "$ps/ps-python/.venv" && "$ps/ps-python/.venv/bin/pip" install -q --no-index "$out"/wheels/micro_mesh-*.whl ||
	{ echo "FAIL python venv"; exit 1; }
# --template crud and --template api in each language: a third project of eight services.
tp="$out/tmpl"
mkdir -p "$tp"
for t in crud api; do
	for lang in rust python node go; do
		(cd "$tp" && "$micro" new "$t-$lang" --lang "$lang" --template "$t") >>"$out/new.log" 2>&1 || { echo "FAIL micro new --template $t --lang $lang"; exit 1; }
		printf 'service %s-%s\n    path ./%s-%s\n' "$t" "$lang" "$t" "$lang" >>"$tp/micro.mu"
	done
	python3 -m venv "$tp/$t-python/.venv" && "$tp/$t-python/.venv/bin/pip" install -q --no-index "$out"/wheels/micro_mesh-*.whl ||
		{ echo "FAIL python venv"; exit 1; }
done
(cd "$tp" && "$micro" new nope --template web) >"$out/new-unknown.log" 2>&1
grep -q "unknown template \"web\": the templates are basic, pubsub, crud, api" "$out/new-unknown.log" && [ ! -e "$tp/nope" ] ||
	{ echo "FAIL micro new --template web: want an error listing the templates"; cat "$out/new-unknown.log"; exit 1; }
# A local bare git repository holding a copy of the Go service, for `micro run URL` and -u.
command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git >/dev/null; }
cp -a "$proj/svc-go" "$out/svc-go-work" &&
	git -C "$out/svc-go-work" init -q -b main && git -C "$out/svc-go-work" add -A &&
	git -C "$out/svc-go-work" -c user.name=t -c user.email=t@example.com commit -qm svc-go &&
	git clone -q --bare "$out/svc-go-work" "$out/svc-go.git" &&
	git -C "$out/svc-go-work" remote add origin "$out/svc-go.git" || { echo "FAIL git setup"; exit 1; }
cat >"$proj/micro.mu" <<'EOF'
# go ← rust ← python ← node
service svc-go
    path ./svc-go

service svc-rust
    path ./svc-rust
    depends svc-go

service svc-python
    path ./svc-python
    depends svc-rust

service svc-node
    path ./svc-node
    depends svc-python

env test
    MICRO_SERVER_VERSION 2.0
EOF

MICRO="$micro" PROJ="$proj" OUT="$out" GM5="$top/tests/interop/go/bin/gm5" GOMICRO="$top/tests/interop/go/bin/gomicro" scripts/netns.sh bash -c '
set -u
export CARGO_NET_OFFLINE=true GOFLAGS=-mod=mod GOPROXY=off npm_config_offline=true npm_config_audit=false npm_config_fund=false PIP_NO_INDEX=1
pass=0 failed=()
check() { local name="$1"; shift; if "$@"; then echo "ok $name"; pass=$((pass + 1)); else echo "FAIL $name"; failed+=("$name"); fi; }
field() { python3 -c "import json,sys; s=[x for x in json.load(open(\"$PROJ/.micro/run/status.json\"))[\"services\"] if x[\"name\"]==sys.argv[1]][0]; print(s[sys.argv[2]])" "$1" "$2" 2>/dev/null; }
# until CMD: retried every 0.5 s while micro run lives (builds are slow on a loaded machine).
until_ok() { for _ in $(seq 1 1200); do "$@" && return 0; kill -0 $run 2>/dev/null || return 1; sleep 0.5; done; return 1; }
# again CMD: up to three tries, for a check made by a new process (micro call, micro mcp):
# its first registry lookup can miss a responder slowed by a loaded machine; a real fault
# fails all three.
again() { for i in 1 2 3; do "$@" && return 0; echo "(try $i failed)"; sleep 1; done; return 1; }

"$MICRO" run -r --env test "$PROJ" >"$OUT/run.log" 2>&1 & run=$!
trap "kill $run 2>/dev/null; wait $run 2>/dev/null" EXIT

all_registered() { for s in svc-go svc-rust svc-python svc-node; do [ "$(field $s registered)" = True ] || return 1; done; }
check "all four build, start and register" until_ok all_registered
"$MICRO" ps "$PROJ" | tee "$OUT/ps1.txt"
line() { grep -n "^$1 *| $2" "$OUT/run.log" | head -1 | cut -d: -f1; }
in_order() {
	local prev=svc-go
	for s in svc-rust svc-python svc-node; do
		local reg start
		reg=$(line $prev registered); start=$(line $s "started (pid")
		[ -n "$reg" ] && [ -n "$start" ] && [ "$reg" -lt "$start" ] || { echo "$s started (line $start) before $prev registered (line $reg)"; return 1; }
		prev=$s
	done
}
check "each starts after the one it depends on registered" in_order
gw() { curl -sf -XPOST -H "Content-Type: application/json" "http://127.0.0.1:8080/$1/$2" -d "{\"name\":\"$3\"}"; }
calls() {
	for s in go rust python node; do
		h=$(python3 -c "import sys; print(\"\".join(p.capitalize() for p in sys.argv[1].split(\"-\")))" "svc-$s")
		got=$(gw "svc-$s" "$h.Hello" "Ann") && echo "gateway svc-$s: $got" && echo "$got" | grep -q "Hello Ann" || { echo "gateway svc-$s: $got"; return 1; }
		got=$("$MICRO" call "svc-$s" "$h.Hello" "{\"name\":\"Bo\"}") && echo "$got" | grep -q "Hello Bo" || { echo "call svc-$s: $got"; return 1; }
	done
}
check "each answers through the gateway and micro call" again calls
env_reached() { "$MICRO" get service svc-go -o raw | grep -q "\"version\":\"2.0\"" && "$MICRO" get service svc-rust -o raw | grep -q "\"version\":\"2.0\""; }
check "--env test: its variables reach the services" again env_reached

# Reload: edit the Python service; only it restarts.
sed -i "s/\"Hello \" + name/\"Hi \" + name/" "$PROJ/svc-python/main.py"
reloaded() { "$MICRO" call svc-python SvcPython.Hello "{\"name\":\"Cy\"}" 2>/dev/null | grep -q "Hi Cy"; }
check "an edited file reloads its service" until_ok reloaded
only_one() { [ "$(field svc-python reloads)" = 1 ] && for s in svc-go svc-rust svc-node; do [ "$(field $s reloads)" = 0 ] || { echo "$s reloaded"; return 1; }; done; }
check "only that service reloaded" only_one

# kill -9: -r restarts it and it registers again.
old=$(field svc-rust pid)
kill -9 "$old"
back() { [ "$(field svc-rust restarts)" = 1 ] && [ "$(field svc-rust pid)" != "$old" ] && [ "$(field svc-rust pid)" != None ] && [ "$(field svc-rust registered)" = True ]; }
check "kill -9: restarted with -r and registered again" until_ok back
answers() { "$MICRO" call svc-rust SvcRust.Hello "{\"name\":\"Di\"}" 2>/dev/null | grep -q "Hello Di"; }
check "the restarted service answers" until_ok answers

# MCP over stdio: a JSON-RPC client; the Rust service and a go-micro v5 service.
"$GM5" serve --name gm.mcp >"$OUT/gm5.log" 2>&1 & gm=$!
trap "kill $run $gm 2>/dev/null; wait $run 2>/dev/null" EXIT
gm_up() { "$MICRO" call gm.mcp Greeter.Hello "{\"name\":\"x\"}" >/dev/null 2>&1; }
until_ok gm_up
mcp() {
	python3 - "$MICRO" <<"PY"
import json, subprocess, sys
p = subprocess.Popen([sys.argv[1], "mcp", "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
n = 0
def rpc(method, params=None, notify=False):
    global n
    msg = {"jsonrpc": "2.0", "method": method}
    if params is not None: msg["params"] = params
    if not notify:
        n += 1; msg["id"] = n
    p.stdin.write(json.dumps(msg) + "\n"); p.stdin.flush()
    if notify: return None
    rsp = json.loads(p.stdout.readline())
    assert rsp["id"] == n, rsp
    return rsp
init = rpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}})
assert init["result"]["protocolVersion"] == "2025-06-18" and "tools" in init["result"]["capabilities"], init
rpc("notifications/initialized", notify=True)
assert rpc("ping")["result"] == {}
tools = {t["name"]: t for t in rpc("tools/list")["result"]["tools"]}
print("tools:", sorted(tools))
rs, gm = tools["svc-rust.SvcRust.Hello"], tools["gm.mcp.Greeter.Hello"]
assert rs["description"].startswith("Greets a name"), rs
assert gm["inputSchema"]["properties"]["name"]["type"] == "string", gm
for name, who, want in [("svc-rust.SvcRust.Hello", "Eve", "Hello Eve"), ("gm.mcp.Greeter.Hello", "Fay", "Hello Fay"),
                        ("svc-python.SvcPython.Hello", "Ida", "Hi Ida")]:
    r = rpc("tools/call", {"name": name, "arguments": {"name": who}})["result"]
    print(name, "->", r)
    assert not r["isError"] and json.loads(r["content"][0]["text"])["message"] == want, r
r = rpc("tools/call", {"name": "svc-rust.SvcRust.Hello", "arguments": {}})["result"]
assert r["isError"] and "name required" in r["content"][0]["text"], r
assert rpc("nope")["error"]["code"] == -32601
p.stdin.close(); p.wait()
PY
}
check "mcp serve (stdio): initialize, ping, tools/list, tools/call on Rust, Python and go-micro" again mcp
mcp_cli() { "$MICRO" mcp list | grep -q "^gm.mcp.Greeter.Hello" && "$MICRO" mcp test gm.mcp.Greeter.Hello "{\"name\":\"Gil\"}" | grep -q "Hello Gil"; }
check "mcp list and mcp test" again mcp_cli
"$MICRO" mcp serve --mcp_address 127.0.0.1:3000 >"$OUT/mcp-http.log" 2>&1 & mh=$!
trap "kill $run $gm $mh 2>/dev/null; wait $run 2>/dev/null" EXIT
mcp_http() {
	until_ok curl -sf http://127.0.0.1:3000/health >/dev/null || return 1
	got=$(curl -sf -XPOST http://127.0.0.1:3000/mcp -H "Content-Type: application/json" \
		-d "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"gm.mcp.Greeter.Hello\",\"arguments\":{\"name\":\"Jo\"}}}")
	echo "POST /mcp: $got"; echo "$got" | grep -q "Hello Jo" || return 1
	curl -sf http://127.0.0.1:3000/mcp/tools | grep -q "svc-rust.SvcRust.Hello" || return 1
	got=$(curl -sf -XPOST http://127.0.0.1:3000/mcp/call -d "{\"tool\":\"svc-rust.SvcRust.Hello\",\"input\":{\"name\":\"Kim\"}}")
	echo "POST /mcp/call: $got"; [ "$got" = "{\"result\":{\"message\":\"Hello Kim\"}}" ]
}
check "mcp serve over HTTP: POST /mcp, GET /mcp/tools, POST /mcp/call" again mcp_http
kill $mh
# MCP with auth: the store (micro api --auth) holds the rules and a token with
# the scope "greet", which the rule on gm.mcp.Greeter.Hello asks for; svc-rust needs "rust".
export MICRO_ADMIN_PASSWORD=mcp-admin-password-1 MICRO_AUTH_DIR="$OUT/auth"
"$MICRO" api --auth --api_address 127.0.0.1:8091 >"$OUT/api-auth.log" 2>&1 & ap=$!
trap "kill $run $gm $ap 2>/dev/null; wait $run 2>/dev/null" EXIT
auth_setup() {
	until_ok curl -sf http://127.0.0.1:8091/health >/dev/null || return 1
	local admin
	admin=$(curl -sf -XPOST http://127.0.0.1:8091/auth/login -H "Content-Type: application/json" \
		-d "{\"id\":\"admin\",\"password\":\"$MICRO_ADMIN_PASSWORD\"}" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"token\"])") || return 1
	for r in "gm.mcp.Greeter.Hello greet" "svc-rust rust"; do
		set -- $r
		curl -sf -XPOST http://127.0.0.1:8091/auth/rules -H "Authorization: Bearer $admin" -H "Content-Type: application/json" \
			-d "{\"resource\":\"$1\",\"scopes\":\"$2\"}" >/dev/null || { echo "rule $1: refused"; return 1; }
	done
	curl -sf -XPOST http://127.0.0.1:8091/auth/tokens -H "Authorization: Bearer $admin" -H "Content-Type: application/json" \
		-d "{\"name\":\"mcp\",\"scopes\":\"greet\"}" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"token\"])" >"$OUT/mcp-token"
}
check "auth store: rules and a token with one scope, made through micro api --auth" auth_setup
kill $ap; wait $ap 2>/dev/null
export MCP_TOKEN="$(cat "$OUT/mcp-token")"
mcp_auth() {
	python3 - "$MICRO" <<"PY"
import json, os, subprocess, sys
def session(extra, env):
    p = subprocess.Popen([sys.argv[1], "mcp", "serve", "--auth"] + extra, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, **env})
    def rpc(method, params):
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) + "\n"); p.stdin.flush()
        return json.loads(p.stdout.readline())
    return p, rpc
tok = os.environ["MCP_TOKEN"]
for how, extra, env in [("--token", ["--token", tok], {}), ("MICRO_MCP_TOKEN", [], {"MICRO_MCP_TOKEN": tok})]:
    p, rpc = session(extra, env)
    names = [t["name"] for t in rpc("tools/list", {})["result"]["tools"]]
    assert "gm.mcp.Greeter.Hello" in names and "svc-rust.SvcRust.Hello" not in names, names
    ok = rpc("tools/call", {"name": "gm.mcp.Greeter.Hello", "arguments": {"name": "Ola"}})["result"]
    assert not ok["isError"] and "Hello Ola" in ok["content"][0]["text"], ok
    no = rpc("tools/call", {"name": "svc-rust.SvcRust.Hello", "arguments": {"name": "Pam"}})["result"]
    assert no["isError"] and "needs one of [rust]" in no["content"][0]["text"] and "403" in no["content"][0]["text"], no
    print(how, "allowed:", ok["content"][0]["text"], "refused:", no["content"][0]["text"])
    p.stdin.close(); p.wait()
# No token: every call refused (401); a call'"'"'s own _token is taken.
p, rpc = session([], {})
r = rpc("tools/call", {"name": "gm.mcp.Greeter.Hello", "arguments": {"name": "Quin"}})["result"]
assert r["isError"] and "401" in r["content"][0]["text"], r
r = rpc("tools/call", {"name": "gm.mcp.Greeter.Hello", "arguments": {"name": "Quin"}, "_token": tok})["result"]
assert not r["isError"] and "Hello Quin" in r["content"][0]["text"], r
p.stdin.close(); p.wait()
PY
}
check "mcp serve --auth (stdio): the scopes of the token allow one tool and refuse another, naming the scope" again mcp_auth
"$MICRO" mcp serve --auth --mcp_address 127.0.0.1:3001 >"$OUT/mcp-http-auth.log" 2>&1 & mh=$!
trap "kill $run $gm $mh 2>/dev/null; wait $run 2>/dev/null" EXIT
mcp_http_auth() {
	until_ok curl -sf http://127.0.0.1:3001/health >/dev/null || return 1
	local body="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"gm.mcp.Greeter.Hello\",\"arguments\":{\"name\":\"Ron\"}}}" code got
	code=$(curl -s -o /dev/null -w "%{http_code}" -XPOST http://127.0.0.1:3001/mcp -H "Content-Type: application/json" -d "$body")
	[ "$code" = 401 ] || { echo "no token: HTTP $code"; return 1; }
	code=$(curl -s -o /dev/null -w "%{http_code}" -XPOST http://127.0.0.1:3001/mcp -H "Authorization: Bearer junk" -d "$body")
	[ "$code" = 401 ] || { echo "a junk token: HTTP $code"; return 1; }
	got=$(curl -sf -XPOST http://127.0.0.1:3001/mcp -H "Authorization: Bearer $MCP_TOKEN" -H "Content-Type: application/json" -d "$body")
	echo "allowed: $got"; echo "$got" | grep -q "Hello Ron" || return 1
	got=$(curl -sf -XPOST http://127.0.0.1:3001/mcp -H "Authorization: Bearer $MCP_TOKEN" -H "Content-Type: application/json" \
		-d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"svc-rust.SvcRust.Hello\",\"arguments\":{\"name\":\"Sue\"}}}")
	echo "refused: $got"; echo "$got" | grep -q "\"isError\":true" && echo "$got" | grep -q "needs one of \[rust\]" || return 1
	got=$(curl -sf http://127.0.0.1:3001/mcp/tools -H "Authorization: Bearer $MCP_TOKEN")
	echo "$got" | grep -q "gm.mcp.Greeter.Hello" && ! echo "$got" | grep -q "svc-rust.SvcRust.Hello" || { echo "GET /mcp/tools: $got"; return 1; }
	code=$(curl -s -o /dev/null -w "%{http_code}" -XPOST http://127.0.0.1:3001/mcp/call -H "Authorization: Bearer $MCP_TOKEN" -d "{\"tool\":\"svc-rust.SvcRust.Hello\",\"input\":{\"name\":\"Tim\"}}")
	[ "$code" = 403 ] || { echo "POST /mcp/call outside the scopes: HTTP $code"; return 1; }
}
check "mcp serve --auth over HTTP: Bearer required (401), allowed and refused calls, tools/list filtered" again mcp_http_auth
kill $mh
unset MICRO_AUTH_DIR MICRO_ADMIN_PASSWORD

# -k, -s, ps, logs.
"$MICRO" run -k svc-node "$PROJ"
stopped() { [ "$(field svc-node state)" = stopped ] && [ "$(field svc-node pid)" = None ]; }
check "-k stops one service" until_ok stopped
status() { "$MICRO" run -s "$PROJ" | tee "$OUT/ps2.txt" | grep -Eq "^svc-node +node +stopped" && grep -Eq "^svc-rust +rust +running +[0-9]+ +[0-9smh]+ +1 +0 +yes" "$OUT/ps2.txt"; }
check "-s shows state, pid, uptime, restarts, registered" status
cat "$OUT/ps2.txt"
logs() { "$MICRO" logs svc-go --path "$PROJ" | grep -q "started (pid" && "$MICRO" logs svc-python --path "$PROJ" | grep -q "file changed"; }
check "micro logs prints a service log" logs
"$MICRO" run -k all "$PROJ" >/dev/null
ended() { ! kill -0 $run 2>/dev/null; }
for _ in $(seq 1 900); do ended && break; sleep 0.2; done   # each service has 10 s after SIGTERM
check "-k all ends micro run" ended
gone() { ! "$MICRO" ps "$PROJ" >/dev/null 2>&1; }
check "ps after the end: not running" gone

# go-micro v5.30.0'"'"'s own micro run, side by side, on the same micro.mu: it builds every
# service with go build, so only the Go one runs; our micro call reaches it. Its state goes
# under $HOME/micro, so HOME is a directory of the test (Go'"'"'s caches named as they are).
gmhome="$OUT/gomicro-home"; mkdir -p "$gmhome"
modcache="$(go env GOMODCACHE)" gocache="$(go env GOCACHE)" gopath="$(go env GOPATH)"
HOME="$gmhome" GOMODCACHE="$modcache" GOCACHE="$gocache" GOPATH="$gopath" \
	"$GOMICRO" run --no-gateway --no-watch "$PROJ" >"$OUT/gomicro-run.log" 2>&1 & run=$!
gm_run_up() { "$MICRO" call svc-go SvcGo.Hello "{\"name\":\"Ru\"}" 2>/dev/null | grep -q "Hello Ru"; }
check "go-micro v5'"'"'s micro run, same micro.mu: its Go service answers our micro call" until_ok gm_run_up
gm_run_go_only() { for s in svc-rust svc-python svc-node; do grep -A2 "^\[$s\] build failed" "$OUT/gomicro-run.log" | grep -Eq "go.mod file not found|cannot find main module" || return 1; done; }
check "… and it cannot build the Rust, Python and Node services (go build only)" until_ok gm_run_go_only
kill $run; wait $run 2>/dev/null
# Its Go service is not left behind (its pid file: the first line).
for f in "$gmhome"/micro/run/*.pid; do [ -e "$f" ] || continue; p=$(head -1 "$f"); for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; kill -9 "$p" 2>/dev/null; done

# No project file: the service in PATH, whatever its language (here the Go one).
"$MICRO" run --no-gateway --no-watch "$PROJ/svc-go" >"$OUT/run-one.log" 2>&1 & run=$!
one() { "$MICRO" ps "$PROJ/svc-go" 2>/dev/null | grep -Eq "^svc-go +go +running .* yes$"; }
check "no project file: runs the service in PATH" until_ok one
one_calls() { "$MICRO" call svc-go SvcGo.Hello "{\"name\":\"Lu\"}" | grep -q "Hello Lu"; }
check "… and it answers" again one_calls
# micro run killed outright: its service is not left behind (it gets SIGTERM).
pid=$(python3 -c "import json; print(json.load(open(\"$PROJ/svc-go/.micro/run/status.json\"))[\"services\"][0][\"pid\"])")
kill -9 $run; wait $run 2>/dev/null
orphan_gone() { for _ in $(seq 1 900); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done; return 1; }
check "kill -9 of micro run: its service stops too" orphan_gone
# A git URL: cloned under the cache and run; -u pulls a pushed change before building.
export GOCACHE="$(go env GOCACHE)" XDG_CACHE_HOME="$OUT/cache"   # keep Go'"'"'s build cache
url="file://$OUT/svc-go.git"
"$MICRO" run --no-gateway --no-watch "$url" >"$OUT/run-git.log" 2>&1 & run=$!
git_up() { "$MICRO" run -s "$url" 2>/dev/null | grep -Eq "^svc-go +go +running .* yes$"; }
check "a git URL is cloned and run" until_ok git_up
"$MICRO" run -k all "$url" >/dev/null; wait $run
sed -i "s/\"Hello \"/\"Hey \"/" "$OUT/svc-go-work/handler.go"
git -C "$OUT/svc-go-work" -c user.name=t -c user.email=t@example.com commit -qam hey && git -C "$OUT/svc-go-work" push -q origin main
"$MICRO" run -u --no-gateway --no-watch "$url" >"$OUT/run-git-u.log" 2>&1 & run=$!
git_hey() { "$MICRO" call svc-go SvcGo.Hello "{\"name\":\"Mo\"}" 2>/dev/null | grep -q "Hey Mo"; }
check "-u pulls the pushed change before building" until_ok git_hey
"$MICRO" run -k all "$url" >/dev/null; wait $run
# --template pubsub: each service publishes on NAME.events and hears it (Publish, then Last).
"$MICRO" run --no-gateway --no-watch "$OUT/pubsub" >"$OUT/run-pubsub.log" 2>&1 & run=$!
ps_up() { [ "$("$MICRO" ps "$OUT/pubsub" 2>/dev/null | grep -c " yes$")" = 4 ]; }
check "pubsub template: all four build, start and register" until_ok ps_up
pubsub() {
	for l in go rust python node; do
		local h="Ps${l^}"
		publish() { "$MICRO" call "ps-$l" "$h.Publish" "{\"text\":\"t-$l\"}" -o raw >/dev/null; }
		heard() { "$MICRO" call "ps-$l" "$h.Last" "{}" -o raw | grep -q "\"t-$l\""; }
		# Registered is not yet subscribed as every publisher sees it: a publish nobody hears
		# yet is a 404, so it is published again until it is heard (each wait: 10 s).
		round() { publish || return 1; for _ in $(seq 1 20); do heard && return 0; sleep 0.5; done; return 1; }
		until_ok round || { echo "ps-$l did not hear its message"; return 1; }
	done
}
check "pubsub template: each hears what it publishes" pubsub
"$MICRO" run -k all "$OUT/pubsub" >/dev/null; wait $run
# --template crud and api: eight services, the gateway on :8080 (the first run'"'"'s has ended).
"$MICRO" run --no-watch "$OUT/tmpl" >"$OUT/run-tmpl.log" 2>&1 & run=$!
tmpl_up() { [ "$("$MICRO" ps "$OUT/tmpl" 2>/dev/null | grep -c " yes$")" = 8 ]; }
check "crud and api templates: all eight build, start and register" until_ok tmpl_up
crud() {
	for l in go rust python node; do
		local s="crud-$l" h="Crud${l^}" got
		c() { "$MICRO" call "$s" "$h.$1" "$2" -o raw 2>&1; }
		got=$(c Create "{\"name\":\"Ann-$l\",\"email\":\"ann@example.com\"}") || { echo "$s create: $got"; return 1; }
		local id
		id=$(echo "$got" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"record\"][\"id\"])") || { echo "$s create: $got"; return 1; }
		got=$(c Read "{\"id\":\"$id\"}") && echo "$got" | grep -q "\"Ann-$l\"" || { echo "$s read: $got"; return 1; }
		got=$(c Update "{\"id\":\"$id\",\"name\":\"Bea-$l\"}") && echo "$got" | grep -q "\"Bea-$l\"" && echo "$got" | grep -q "ann@example.com" || { echo "$s update: $got"; return 1; }
		got=$(c List "{}") && echo "$got" | python3 -c "import json,sys; r=json.load(sys.stdin); assert any(x[\"id\"]==sys.argv[1] and x[\"name\"]==sys.argv[2] for x in r[\"records\"]) and r[\"total\"]==len(r[\"records\"]), r" "$id" "Bea-$l" || { echo "$s list: $got"; return 1; }
		got=$(c Delete "{\"id\":\"$id\"}") && echo "$got" | grep -q "\"deleted\": *true" || { echo "$s delete: $got"; return 1; }
		got=$(c Read "{\"id\":\"$id\"}") && { echo "$s read after delete answered: $got"; return 1; }
		echo "$got" | grep -q "\"code\": *404" && echo "$got" | grep -q "record .*$id.* not found" || { echo "$s read after delete: $got"; return 1; }
		got=$(c Create "{}") && { echo "$s create without a name answered: $got"; return 1; }
		echo "$got" | grep -q "\"code\": *400" && echo "$got" | grep -q "name required" || { echo "$s create without a name: $got"; return 1; }
		echo "$s: create, read, update, list, delete, read -> 404, create {} -> 400"
	done
}
check "crud template: create, read back, update, list, delete, 404 after delete, 400 without a name" again crud
shapes() { "$MICRO" get service crud-go -o raw | grep -q "UpdateRequest" && "$MICRO" get service crud-rust -o raw | grep -q "UpdateRequest"; }
check "crud template: the registry shows the request shapes" again shapes
api() {
	for l in go rust python node; do
		local s="api-$l" got code
		got=$(curl -sf "http://127.0.0.1:8080/$s/health") && echo "$got" | grep -q "\"status\": *\"ok\"" || { echo "GET /$s/health: $got"; return 1; }
		got=$(curl -sf -XPOST "http://127.0.0.1:8080/$s/hello" -H "Content-Type: application/json" -d "{\"name\":\"Cy\"}") && echo "$got" | grep -q "Hello Cy" || { echo "POST /$s/hello: $got"; return 1; }
		code=$(curl -s -o "$OUT/api-400.json" -w "%{http_code}" -XPOST "http://127.0.0.1:8080/$s/hello" -H "Content-Type: application/json" -d "{}")
		[ "$code" = 400 ] && grep -q "name required" "$OUT/api-400.json" || { echo "POST /$s/hello {}: $code $(cat "$OUT/api-400.json")"; return 1; }
		echo "$s: GET /$s/health, POST /$s/hello, 400 without a name"
	done
}
check "api template: GET /NAME/health and POST /NAME/hello through the gateway, 400 without a name" again api
"$MICRO" run -k all "$OUT/tmpl" >/dev/null; wait $run
echo "run suite (netns): $pass passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ "${#failed[@]}" = 0 ]
' 2>&1 | tee "$out/checks.log"
rc=${PIPESTATUS[0]}
if [ "$rc" != 0 ]; then
	for log in run run-one run-git run-git-u run-pubsub run-tmpl; do
		[ -s "$out/$log.log" ] && { echo "--- $log.log (last 40 lines)"; tail -40 "$out/$log.log"; }
	done
	# Named again last: CI shows the end of the output.
	grep -h "^FAIL\|^run suite" "$out/checks.log"
fi
exit "$rc"
