#!/usr/bin/env python3
"""Turns bench/run.sh's JSON rows into the Markdown results page (stdout)."""
import platform, sys, datetime

from reportlib import cpu as cpu_name, idle, rows as load_rows, sh

rows = load_rows(sys.argv[1])
command = sys.argv[2]
cpu = cpu_name()
ncpu = sh("nproc")
mem = sh("sh", "-c", "awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
print(f"# Benchmark results {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print(f"- **Machine:** {cpu}, {ncpu} vCPU, {mem}, kernel {platform.release()}{idle()}")
print(f"- **Versions:** micro {sh('sh','-c','git -C .. describe --always --dirty 2>/dev/null')}, {sh('rustc','--version')}, "
      f"{sh('go','version')}, go-micro.dev/v5 v5.30.0 (bench/go; rows *go*), go-micro.dev/v6 v6.10.0 "
      f"(bench/go6, the same program built from ../shared/peers' source; rows *go6*), hyper 1 (bench/Cargo.lock)")
print(f"- **Command:** `{command}` (each workload: warm-up, then a bounded measured window; loopback only)")
print("- **Layouts:** *unpinned* = processes free on all vCPUs (tokio and Go use every core); "
      "*pinned* = client and server both under `taskset -c 0`.")
print("- **Payload:** `{\"name\":\"bench\"}` → `{\"message\":\"Hello bench\"}`, JSON, go-micro HTTP transport; "
      "the hyper floor echoes the same 16 bytes over HTTP/1.1. Explicit addresses, no registry lookups.")
print("- **Publish:** *publish w=N* = one process per side holding a memory registry, the http broker, a subscriber "
      "and a publisher (ours: `Server::subscribe_json` + `Client::publish_json`; go-micro: `broker.NewHttpBroker`, "
      "`micro.RegisterSubscriber` + `client.Publish`), publishing while fewer than N messages are outstanding; "
      "msg/s = deliveries in the window, latency = publish → handler, *lost* = published − received after a drain. "
      "go-micro's broker delivers a backlog in batches of 8 with 100 ms between messages, so at w=64 its p99 "
      "shows those pauses; ours sends a batch's messages at once.\n")

def get(layout, workload, pair):
    for r in rows:
        if r.get("layout") == layout and r.get("workload") == workload and r.get("pair") == pair:
            return r["result"]
    return None

print("| layout | workload | client → server | req/s (msg/s) | p50 µs | p99 µs | p99.9 µs | errors |")
print("|---|---|---|---:|---:|---:|---:|---:|")
for r in rows:
    if "result" not in r:
        continue
    x = r["result"]
    if x["requests"] == 0:
        print(f"| {r['layout']} | {r['workload']} | {r['pair']} | **stalled**: no call completed in the window | | | | |")
        continue
    errs = f"{x['lost']} lost of {x['published']:,}" if "lost" in x else f"{x['errors']}"
    print(f"| {r['layout']} | {r['workload']} | {r['pair']} | {x['rate']:,.0f} | {x['p50_us']:,.0f} | "
          f"{x['p99_us']:,.0f} | {x['p999_us']:,.0f} | {errs} |")
print()

# Ours vs go-micro: every workload run as both ours→ours and go→go, with the cross rows
# against go→go (ours→go: our client's share; go→ours: our server's share).
def ratio(a, b, key="rate"):
    return f"{a[key] / b[key]:.2f}×" if a and b and b[key] > 0 and a["requests"] > 0 else "—"
pairs = []
for r in rows:
    k = (r.get("layout"), r.get("workload"))
    if "result" in r and k not in pairs and get(*k, "ours→ours") and get(*k, "go→go"):
        pairs.append(k)
if pairs:
    print("## Ours vs go-micro (ratios ours / go)\n")
    print("msg/s ratio = rate(ours→ours) / rate(go→go); p50 ratio likewise (below 1 is faster); the cross rows "
          "against go→go: ours→go swaps in our client, go→ours our server.\n")
    print("| layout | workload | ours→ours | go→go | ours/go rate | ours/go p50 | ours→go / go→go | go→ours / go→go |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for L, w in pairs:
        a, b = get(L, w, "ours→ours"), get(L, w, "go→go")
        c, d = get(L, w, "ours→go"), get(L, w, "go→ours")
        print(f"| {L} | {w} | {a['rate']:,.0f} | {b['rate']:,.0f} | {ratio(a, b)} | {ratio(a, b, 'p50_us')} | "
              f"{ratio(c, b) if c else '—'} | {ratio(d, b) if d else '—'} |")
    print()
# go-micro v6 next to v5: the same gobench program built against each (bench/go, bench/go6).
v6 = []
for r in rows:
    k = (r.get("layout"), r.get("workload"))
    if "result" in r and k not in v6 and get(*k, "go6→go6") and get(*k, "go→go"):
        v6.append(k)
if v6:
    print("## go-micro v6.10.0 vs v5.30.0 (ratios)\n")
    print("v6/v5 = rate(go6→go6) / rate(go→go); ours/v6 = rate(ours→ours) / rate(go6→go6); the cross rows "
          "against go6→go6: ours→go6 swaps in our client, go6→ours our server.\n")
    print("| layout | workload | go→go | go6→go6 | v6/v5 rate | v6/v5 p50 | ours/v6 rate | ours→go6 / go6→go6 | go6→ours / go6→go6 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for L, w in v6:
        b, b6 = get(L, w, "go→go"), get(L, w, "go6→go6")
        a, c, d = get(L, w, "ours→ours"), get(L, w, "ours→go6"), get(L, w, "go6→ours")
        print(f"| {L} | {w} | {b['rate']:,.0f} | {b6['rate']:,.0f} | {ratio(b6, b)} | {ratio(b6, b, 'p50_us')} | "
              f"{ratio(a, b6) if a else '—'} | {ratio(c, b6) if c else '—'} | {ratio(d, b6) if d else '—'} |")
    print()
mem = {r["workload"]: r for r in rows if r.get("workload", "").startswith("rss")}
disc = {r["server"]: r["ms"] for r in rows if r.get("workload") == "discovery"}
if mem:
    print("| memory | ours | go-micro |\n|---|---:|---:|")
    for k, label in (("rss-idle", "RSS idle (VmRSS)"), ("rss-load", "RSS peak after all unpinned load (VmHWM)")):
        if k in mem:
            print(f"| {label} | {mem[k]['ours_kb']/1024:.1f} MiB | {mem[k]['go_kb']/1024:.1f} MiB |")
    print()
if disc:
    print("| discovery: server spawn → peer's first successful call (mDNS, netns), 3 trials | ms |\n|---|---|")
    for k, v in disc.items():
        print(f"| {'our' if k == 'ours' else 'go-micro'} server, our client as peer | {', '.join(map(str, v))} |")
    print()

print("\n*stalled*: go-micro's server now and then leaves a request on a kept-alive connection unanswered "
      "until the client's 5 s timeout (seen from both clients, never against our server); such a call shows as a "
      "408 error and a ~5 s p99.9, or, when it started during warm-up, as an empty window.\n")
print("## Targets\n")
print("| target | layout | measured | verdict |\n|---|---|---|---|")
def verdict(ok, text):
    return ("met" if ok else "**missed**: " + text)
for L in ("unpinned", "pinned"):
    a, b = get(L, "unary c=64", "ours→ours"), get(L, "unary c=64", "go→go")
    if a and b and b["rate"] > 0:
        r = a["rate"] / b["rate"]
        print(f"| unary req/s at c=64 ≥ 3× go-micro's | {L} | {a['rate']:,.0f} vs {b['rate']:,.0f} = {r:.1f}× | "
              f"{verdict(r >= 3, f'{r:.1f}× is {3/r:.1f}× short')} |")
    a, b = get(L, "unary c=1", "ours→ours"), get(L, "unary c=1", "hyper→hyper")
    if a and b and b["p50_us"] > 0:
        r = a["p50_us"] / b["p50_us"]
        print(f"| p50 at c=1 ≤ 2× raw hyper's | {L} | {a['p50_us']:.0f} µs vs {b['p50_us']:.0f} µs = {r:.2f}× | "
              f"{verdict(r <= 2, f'{r:.2f}× is {r/2:.2f}× over')} |")
if "rss-idle" in mem:
    m = mem["rss-idle"]; r = m["ours_kb"] / m["go_kb"]
    print(f"| idle RSS ≤ ½ go-micro's | unpinned | {m['ours_kb']/1024:.1f} vs {m['go_kb']/1024:.1f} MiB = {r:.2f}× | "
          f"{verdict(r <= 0.5, f'{r:.2f}×')} |")
if "ours" in disc:
    ok = [v for v in disc["ours"] if v >= 0]
    worst = max(disc["ours"]) if ok and len(ok) == len(disc["ours"]) else None
    print(f"| callable by a peer < 1 s after start | netns | worst of 3: {worst if worst is not None else 'failed'} ms | "
          f"{verdict(worst is not None and worst < 1000, 'over 1 s or failed')} |")
handler_target = False
for L in ("unpinned", "pinned"):
    g, gg = get(L, "unary c=64", "ours→go"), get(L, "unary c=64", "go→go")
    for pair in ("ours→python (async def)", "ours→python (def)", "ours→node"):
        a = get(L, "unary c=64", pair)
        if not (a and g and g["rate"] > 0):
            continue
        handler_target = True
        r = a["rate"] / g["rate"]
        also = f"; go→go {gg['rate']:,.0f} ({a['rate'] / gg['rate']:.1f}×)" if gg and gg["rate"] > 0 else ""
        server = pair.split("→", 1)[1]
        print(f"| {server}-served req/s at c=64 ≥ go-micro-served (same Rust client) | {L} | "
              f"{a['rate']:,.0f} vs {g['rate']:,.0f} = {r:.1f}×{also} | {verdict(r >= 1, f'{r:.2f}× is {1/r:.2f}× short')} |")
for L in ("unpinned", "pinned"):
    for w in sorted({r["workload"] for r in rows if r.get("layout") == L and r.get("workload", "").startswith("publish")}):
        a, b = get(L, w, "ours→ours"), get(L, w, "go→go")
        if not (a and b and b["rate"] > 0):
            continue
        r = a["rate"] / b["rate"]
        lost = a.get("lost", 0), b.get("lost", 0)
        note = "reported (no fixed target)" if lost == (0, 0) else f"**messages lost**: ours {lost[0]}, go-micro {lost[1]}"
        print(f"| publish → subscriber msg/s over the http broker, ours vs go-micro ({w}) | {L} | "
              f"{a['rate']:,.0f} vs {b['rate']:,.0f} = {r:.2f}×; p50 {a['p50_us']:,.0f} vs {b['p50_us']:,.0f} µs | {note} |")
for L in ("unpinned", "pinned"):
    nb = get(L, "publish nats (nats bench)", "nats bench pub→sub")
    for w in ("publish nats w=1", "publish nats w=64", "publish nats w=8192"):
        a = get(L, w, "ours→ours")
        note = "reported" if a is None or not a.get("lost") else f"**messages lost**: {a['lost']}"
        if a and nb and nb["rate"] > 0:
            print(f"| NATS publish → subscriber msg/s, our broker ({w.split()[-1]}) vs `nats bench` pub→sub on the same "
                  f"server | {L} | {a['rate']:,.0f} vs {nb['rate']:,.0f} = {a['rate'] / nb['rate']:.2f}× | {note} |")
        elif a:
            print(f"| NATS publish → subscriber msg/s, our broker ({w.split()[-1]}) | {L} | {a['rate']:,.0f}, p50 "
                  f"{a['p50_us']:,.0f} µs | {note} (`nats bench` not built) |")
for L in ("unpinned", "pinned"):
    a, b = get(L, "stream w=64", "ours→ours"), get(L, "stream w=64", "go→go")
    if a and b and b["rate"] > 0:
        print(f"| stream msg/s with 64 in flight, ours vs go-micro | {L} | {a['rate']:,.0f} vs {b['rate']:,.0f} = "
              f"{a['rate'] / b['rate']:.1f}× | reported |")
# not an ONLY=pubsub|stream|gomicro run (those have no binding rows by design)
full = any(r.get("workload", "").startswith("unary") for r in rows) and "ONLY=" not in command
if full and not handler_target:
    print("| Python / Node handler workloads | — | not run (PY=0/NODE=0, or the binding is missing) | pending |")
if full and not any(r.get("pair") == "ours→node" for r in rows):
    print("| Node-served handler, Node client overhead | — | pending: bindings/node not in git when this ran | pending |")

# Client overhead: the same call to our Rust greeter from each binding's client and from
# our Rust client at the same concurrency. µs/call = 1e6/rate(client) − 1e6/rate(Rust).
ov = []
for L in ("unpinned", "pinned"):
    for c in (1, 100):
        base = get(L, f"unary c={c}", "ours→ours")
        for client in ("python", "node"):
            x = get(L, f"unary c={c}", f"{client}→ours")
            if base and x and base["rate"] > 0 and x["rate"] > 0:
                ov.append((L, c, client, x, base))
if ov:
    print("\n## Client overhead (Python / Node client vs our Rust client, calling our Rust greeter)\n")
    print("µs/call = 1e6/rate(binding client) − 1e6/rate(Rust client) at the same number of calls in flight: "
          "at 1 in flight the added latency per call, at 100 the added (mostly single-threaded) CPU time per call.\n")
    print("| layout | in flight | client | req/s | Rust client req/s | overhead µs/call | p50 µs (Rust p50) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for L, c, client, x, base in ov:
        d = 1e6 / x["rate"] - 1e6 / base["rate"]
        print(f"| {L} | {c} | {client} | {x['rate']:,.0f} | {base['rate']:,.0f} | {d:,.1f} | "
              f"{x['p50_us']:,.0f} ({base['p50_us']:,.0f}) |")
