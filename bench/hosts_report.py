#!/usr/bin/env python3
"""Issue 18's rows (bench/run.sh ONLY=hostserve) as Markdown on stdout: every row's median,
min and max over the reps, then the targets, each judged on the median of its per-rep
ratios (each rep's two rows ran a few seconds apart, so load that drifts over minutes
cancels), with min and max of those ratios beside it.

    hosts_report.py ROWS.jsonl COMMAND
"""
import datetime
import platform
import statistics
import sys

from reportlib import cpu as cpu_name, idle, rows as load_rows, sh

rows = load_rows(sys.argv[1])
command = sys.argv[2]

# runs[(layout, workload, pair)] = [result of rep 1, rep 2, ...], in the order they ran.
runs = {}
for r in rows:
    runs.setdefault((r["layout"], r["workload"], r["pair"]), []).append(r["result"])
reps = max((len(v) for v in runs.values()), default=0)
cpu = cpu_name()


def fmt_range(xs, f="{:,.0f}"):
    return f"{f.format(min(xs))}–{f.format(max(xs))}" if xs else "—"


print(f"# Host-served benchmark (issue 18) {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print(f"- **Machine:** {cpu}, {sh('nproc')} vCPU, kernel {platform.release()}{idle()}, load average at the "
      f"end {open('/proc/loadavg').read().split()[0]}")
print(f"- **Versions:** micro {sh('sh', '-c', 'git -C .. describe --always --dirty 2>/dev/null')}, "
      f"{sh('rustc', '--version')}, {sh('python3', '--version')}, node {sh('node', '--version')}, "
      f"{sh('sh', '-c', 'wrk --version 2>&1 | head -1')}, {sh('sh', '-c', 'nats-server --version')}, "
      "aiohttp 3.14.5, nats-py 2.16.0, nats.go 1.42.0")
print(f"- **Command:** `{command}`; {reps} reps, each row's median of them (min–max beside it)")
print("- **Handler:** the JSON greeter `{\"name\":\"bench\"}` → `{\"message\":\"Hello bench\"}` everywhere: our "
      "Rust greeter (`handle_json`), the Python package (`async def` on the loop, `def` in a worker thread), the "
      "Node package (an async function), aiohttp (`request.json()`, `json_response`), node:http (`JSON.parse`, "
      "`JSON.stringify`), a nats-py responder (`json.loads`, `msg.respond`); raw hyper echoes the body (the floor).")
print("- **Load:** *ours* = our loadgen (go-micro's request through our Rust client, 64 in flight); *wrk* = "
      "Debian's wrk, 2 threads, 64 connections, go-micro's own request (`wrk/gomicro.lua`: the headers of "
      "gomicro-wire.md §4.11, every reply checked), which aiohttp and node:http answer as plain HTTP; "
      "*nats.go* = `go/natsload`, 64 requests in flight through one connection. *client* rows: the binding "
      "clients calling the Rust greeter, beside our Rust client at the same concurrency.")
print("- **Layouts:** *unpinned* = every process free on both vCPUs; *pinned* = load generator and server under "
      "`taskset -c 0`.\n")
print("| layout | workload | load → server | req/s | min–max | p50 µs | p99 µs | errors |")
print("|---|---|---|---:|---|---:|---:|---:|")
for key, rs in runs.items():
    rates = [x["rate"] for x in rs]
    m = sorted(rs, key=lambda x: x["rate"])[len(rs) // 2]
    errs = sum(x["errors"] for x in rs)
    print(f"| {key[0]} | {key[1]} | {key[2]} | {m['rate']:,.0f} | {fmt_range(rates)} | {m['p50_us']:,.0f} | "
          f"{m['p99_us']:,.0f} | {errs} |")


def paired(L, wa, pa, wb, pb, f=lambda a, b: a["rate"] / b["rate"] if b["rate"] > 0 else 0.0):
    """f(a, b) for each rep that ran both rows: (median, [each rep's value])."""
    a, b = runs.get((L, wa, pa), []), runs.get((L, wb, pb), [])
    vals = [f(x, y) for x, y in zip(a, b)]
    return (statistics.median(vals), vals) if vals else (None, [])


def verdict(ok, miss):
    return "met" if ok else f"**missed** ({miss})"


print("\n## Targets (issue 18)\n")
print("Each ratio is the median of the per-rep ratios (min–max of them in brackets).\n")
print("| target | layout | measured | verdict |\n|---|---|---|---|")
C = "unary c=64"


def ratio_row(text, L, a, b, goal):
    r, vals = paired(L, C, a, C, b)
    if r is None:
        print(f"| {text} | {L} | not run | — |")
        return
    print(f"| {text} | {L} | {r:.2f}× [{fmt_range(vals, '{:.2f}')}] | "
          f"{verdict(r >= goal, f'{r:.2f}× of {goal}×: short by {(goal - r) / goal:.0%}')} |")


for L in ("unpinned", "pinned"):
    ratio_row("Python `async def` ≥ 0.8× Rust-served (our loadgen)", L, "ours→python (async def)", "ours→ours", 0.8)
    ratio_row("Python `async def` ≥ 0.8× Rust-served (wrk)", L, "wrk→python (async def)", "wrk→ours", 0.8)
    ratio_row("Python `async def` ≥ aiohttp (wrk)", L, "wrk→python (async def)", "wrk→aiohttp", 1.0)
    ratio_row("Python `async def` (wrk) ≥ nats-py responder (nats.go)", L, "wrk→python (async def)",
              "nats.go→nats-py", 1.0)
    ratio_row("Python `async def` (our loadgen) ≥ nats-py responder (nats.go)", L, "ours→python (async def)",
              "nats.go→nats-py", 1.0)
    ratio_row("Python `def` ≥ 0.5× `async def` (our loadgen)", L, "ours→python (def)", "ours→python (async def)", 0.5)
    ratio_row("Python `def` ≥ 0.5× `async def` (wrk)", L, "wrk→python (def)", "wrk→python (async def)", 0.5)
    ratio_row("Node ≥ 0.8× Rust-served (our loadgen)", L, "ours→node", "ours→ours", 0.8)
    ratio_row("Node ≥ 0.8× Rust-served (wrk)", L, "wrk→node", "wrk→ours", 0.8)
    ratio_row("Node ≥ 1.5× node:http (wrk)", L, "wrk→node", "wrk→node:http", 1.5)
    r, vals = paired(L, C, "wrk→ours", C, "wrk→hyper")
    if r is not None:
        print(f"| headline: Rust-served ÷ raw hyper (wrk) | {L} | {r:.2f}× [{fmt_range(vals, '{:.2f}')}] | reported |")

print("\n### Client overhead over the Rust client\n")
print("Per call: at 1 in flight, the mean call time (1 / rate) minus the Rust client's; at 100 in flight, the "
      "time per completed call (1 / rate) minus the Rust client's, i.e. what the binding adds to a call's cost "
      "on this machine. Target ≤ 5 µs, except the asyncio client at 1 in flight (reported).\n")
print("| client | layout | in flight | added µs per call | verdict |\n|---|---|---|---:|---|")


def added(a, b):
    return (1e6 / a["rate"] - 1e6 / b["rate"]) if a["rate"] > 0 and b["rate"] > 0 else float("inf")


for pair, name, strict1 in (("python sync→ours", "Python sync", True), ("python asyncio→ours", "Python asyncio", False),
                            ("node→ours", "Node", True)):
    for L in ("unpinned", "pinned"):
        for c in (1, 100):
            w = f"client c={c}"
            us, vals = paired(L, w, pair, w, "ours→ours", added)
            if us is None:
                continue
            judged = strict1 or c == 100
            v = verdict(us <= 5, f"{us:.1f} µs, {us - 5:.1f} µs over") if judged else "reported"
            print(f"| {name} | {L} | {c} | {us:.1f} [{fmt_range(vals, '{:.1f}')}] | {v} |")
