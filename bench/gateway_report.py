#!/usr/bin/env python3
"""The gateway rows of bench/gateway.sh as Markdown (stdout): the median of the repeated
runs per row, then issue 13's targets with their verdicts.

    gateway_report.py ROWS.jsonl COMMAND
"""
import datetime
import platform
import sys

from reportlib import cpu as cpu_name, idle, rows as load_rows, sh

rows = load_rows(sys.argv[1])
command = sys.argv[2]

cpu = cpu_name()
runs = {}
for r in rows:
    runs.setdefault((r["layout"], r["workload"], r["pair"]), []).append(r["result"])


def med(key):
    """The median run of a row (by req/s) and every run's req/s."""
    rs = runs.get(key)
    if not rs:
        return None, []
    by_rate = sorted(rs, key=lambda x: x["rate"])
    return by_rate[len(by_rate) // 2], [x["rate"] for x in rs]


print(f"# Gateway benchmark {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print(f"- **Machine:** {cpu}, {sh('nproc')} vCPU, kernel {platform.release()}{idle()}, "
      f"load average at the end {open('/proc/loadavg').read().split()[0]} (other work on the machine shows here)")
print(f"- **Versions:** micro {sh('sh', '-c', 'git -C .. describe --always --dirty 2>/dev/null')}, "
      f"{sh('rustc', '--version')}, {sh('go', 'version')}, go-micro.dev/v5 v5.30.0 (bench/go, bench/go/micro)")
print(f"- **Command:** `{command}`, inside scripts/netns.sh; each row the run with the median req/s of "
      f"{max(len(v) for v in runs.values()) if runs else 0} (all runs' req/s listed)")
print("- **Rows:** *direct* = our loadgen (micro client, explicit address) → our Rust greeter; *ours api* = "
      "`loadgen http` (hyper, `POST /greeter/Greeter.Hello` JSON, one keep-alive connection per worker) → "
      "`micro api` (release) → the same greeter; *go-micro api* = the same HTTP load → go-micro v5.30.0's "
      "`micro api` → the greeter served by go-micro (`gobench serve`); *go direct* = our loadgen → that go-micro "
      "greeter. The gateways find the greeters over mDNS (cached after the first lookup).")
print("- **Layouts:** *unpinned* = every process free on both vCPUs; *pinned* = load generator, gateway and "
      "greeter all under `taskset -c 0`.\n")
print("| layout | workload | path | req/s | p50 µs | p99 µs | errors | req/s of each run |")
print("|---|---|---|---:|---:|---:|---:|---|")
for key in runs:
    m, all_rates = med(key)
    if m["requests"] == 0:
        print(f"| {key[0]} | {key[1]} | {key[2]} | **stalled**: no call completed in the window | | | | "
              f"{', '.join(f'{x:,.0f}' for x in all_rates)} |")
        continue
    print(f"| {key[0]} | {key[1]} | {key[2]} | {m['rate']:,.0f} | {m['p50_us']:,.0f} | {m['p99_us']:,.0f} | "
          f"{m['errors']} | {', '.join(f'{x:,.0f}' for x in all_rates)} |")

print("\n*stalled*: go-micro's server now and then leaves a request on a kept-alive connection unanswered until "
      "its client's 5 s timeout (bench/README.md); with go-micro's `micro api` in front, a run that meets it shows "
      "a 500 error and a ~5 s p99, or, when it started during warm-up, an empty window.")
print("\n## Targets (issue 13, item 6)\n")
print("| target | layout | measured | verdict |\n|---|---|---|---|")


def verdict(ok, text):
    return "met" if ok else "**missed**: " + text


for L in ("unpinned", "pinned"):
    d, o, g = (med((L, "c=64", p))[0] for p in ("direct", "ours api", "go-micro api"))
    if d and o and d["rate"] > 0:
        r = o["rate"] / d["rate"]
        print(f"| req/s at c=64 through `micro api` ≥ 0.5× direct | {L} | {o['rate']:,.0f} vs {d['rate']:,.0f} = "
              f"{r:.2f}× | {verdict(r >= 0.5, f'{r:.2f}×')} |")
    if o and g and g["rate"] > 0:
        r = o["rate"] / g["rate"]
        print(f"| req/s at c=64 through `micro api` ≥ 3× go-micro's `micro api` | {L} | {o['rate']:,.0f} vs "
              f"{g['rate']:,.0f} = {r:.1f}× | {verdict(r >= 3, f'{r:.1f}×')} |")
    d1, o1 = med((L, "c=1", "direct"))[0], med((L, "c=1", "ours api"))[0]
    if d1 and o1:
        added = o1["p50_us"] - d1["p50_us"]
        target = "≤ 100 µs" if L == "pinned" else "(target pinned only)"
        ok = added <= 100
        print(f"| p50 added by the hop at c=1 {target} | {L} | {o1['p50_us']:.0f} − {d1['p50_us']:.0f} = "
              f"{added:.0f} µs | {verdict(ok, f'{added:.0f} µs') if L == 'pinned' else 'reported'} |")
