#!/usr/bin/env python3
"""The wrapper-cost rows of `ONLY=wrappers bash bench/run.sh` as Markdown (stdout): per
configuration and concurrency the median of the interleaved runs, their spread, and the
ratios against issue 17's targets (metrics on ≥ 0.95× wrappers off at c=64; wrappers off
vs the greeter built before wrappers existed: no change beyond the runs' own spread).

    wrappers_report.py ROWS.jsonl SCRAPE.txt BASE COMMAND

SCRAPE.txt is the metrics greeter's /metrics text after the runs; BASE is the baseline
commit as given (empty: no baseline rows).
"""
import datetime
import json
import platform
import re
import statistics
import subprocess
import sys

rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
scrape = open(sys.argv[2], encoding="utf-8").read()
base = sys.argv[3]
command = sys.argv[4]


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return "?"


NAMES = {
    "off": "wrappers off",
    "metrics": "metrics on (`MICRO_METRICS_ADDRESS=127.0.0.1:0`)",
    "access": "access log on (`MICRO_ACCESS_LOG=true`, no log subscriber)",
    "base": f"before wrappers (built at `{base}`)",
}
ORDER = [k for k in NAMES if any(r.get("config") == k for r in rows)]

runs = {}
hwm = {}
layout = "unpinned"
for r in rows:
    if "hwm_kb" in r:
        hwm[r["config"]] = r["hwm_kb"]
    else:
        layout = r["layout"]
        res = dict(r["result"])
        # The greeter's CPU time covers warm-up and window alike; the calls in it are
        # estimated at the window's rate over both.
        calls = res["rate"] * (res["seconds"] + r.get("warmup", 0))
        res["cpu_us"] = r["server_cpu_s"] * 1e6 / calls if "server_cpu_s" in r and calls > 0 else float("nan")
        runs.setdefault((r["config"], r["c"]), []).append(res)
concurrencies = sorted({c for _, c in runs})


def med(key, field):
    return statistics.median(x[field] for x in runs[key])


def spread(key, field="rate"):
    """(max − min) / median of FIELD over the runs: how far apart the runs of one configuration landed."""
    xs = [x[field] for x in runs[key]]
    return (max(xs) - min(xs)) / statistics.median(xs)


cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# Wrapper cost {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print(f"- **Machine:** {cpu}, {sh('nproc')} vCPU, kernel {platform.release()}, load average at the end "
      f"{open('/proc/loadavg').read().split()[0]} (other work on the machine shows here)")
print(f"- **Versions:** micro {sh('sh', '-c', 'git -C .. describe --always --dirty 2>/dev/null')}, {sh('rustc', '--version')}")
print(f"- **Command:** `{command}`")
print("- **Rows:** our loadgen (micro client, explicit address, no wrappers of its own) → the bench greeter "
      "(release), `Greeter.Hello` JSON, closed loop at c calls in flight. One greeter per configuration, all "
      "running at once; the runs go through the configurations in turn ("
      f"{', '.join(ORDER)}, {ORDER[0] if ORDER else ''}, …), so load from other work falls on each alike. Every figure is the median of the runs; *spread* is "
      "(max − min) / median of their req/s. *Server CPU µs/call* is the greeter's user + system CPU "
      "time over a run (warm-up included, from /proc/PID/stat) divided by the calls of that run (the "
      "window's rate × (window + warm-up)); it moves less with other load on the machine than req/s does.")
print(f"- **Layout:** {layout} ({'every process under `taskset -c 0`' if layout == 'pinned' else 'processes free on every vCPU'}).\n")

print("| configuration | c | req/s (median) | spread | p50 µs | p99 µs | server CPU µs/call (spread) | req/s of each run | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
for c in concurrencies:
    for k in ORDER:
        if (k, c) not in runs:
            continue
        rs = runs[(k, c)]
        print(f"| {NAMES[k]} | {c} | {med((k, c), 'rate'):,.0f} | {spread((k, c)):.1%} | "
              f"{med((k, c), 'p50_us'):,.0f} | {med((k, c), 'p99_us'):,.0f} | "
              f"{med((k, c), 'cpu_us'):.2f} ({spread((k, c), 'cpu_us'):.1%}) | "
              f"{', '.join(format(x['rate'], ',.0f') for x in rs)} | {sum(x['errors'] for x in rs)} |")
if hwm:
    print("\nPeak resident memory after the runs (VmHWM): "
          + ", ".join(f"{k} {hwm[k] / 1024:.1f} MiB" for k in ORDER if k in hwm) + ".")

print("\n## Against the targets (issue 17 item 5)\n")
print("| comparison | c | ratio of median req/s | p50 added | server CPU per call added | target | verdict |")
print("|---|---:|---:|---:|---:|---|---|")


def compare(a, b, c, target):
    if (a, c) not in runs or (b, c) not in runs:
        return
    ratio = med((a, c), "rate") / med((b, c), "rate")
    added = med((a, c), "p50_us") - med((b, c), "p50_us")
    cpu = med((a, c), "cpu_us") - med((b, c), "cpu_us")
    cpu_rel = cpu / med((b, c), "cpu_us")
    noise = max(spread((a, c)), spread((b, c)))
    if min(len(runs[(a, c)]), len(runs[(b, c)])) < 2:
        print(f"| {a} / {b} | {c} | {ratio:.3f} | {added:+,.0f} µs | {cpu:+.2f} µs ({cpu_rel:+.1%}) | — | "
              "one run: no spread to judge against (REPS ≥ 3) |")
        return
    if target == "0.95":
        goal = "≥ 0.95"
        verdict = (f"met ({ratio - 1:+.1%} req/s; runs' spread {noise:.1%})" if ratio >= 0.95
                   else f"**missed** ({ratio - 1:+.1%} req/s; runs' spread {noise:.1%})")
    elif target == "noise":
        goal = "no change beyond the spread"
        verdict = (f"no measurable change ({ratio - 1:+.1%}, within the runs' {noise:.1%} spread)"
                   if abs(ratio - 1) <= noise else f"**changed** by {ratio - 1:+.1%} (beyond the runs' {noise:.1%} spread)")
    else:
        goal = "reported"
        verdict = f"{ratio - 1:+.1%} req/s (runs' spread {noise:.1%})"
    print(f"| {a} / {b} | {c} | {ratio:.3f} | {added:+,.0f} µs | {cpu:+.2f} µs ({cpu_rel:+.1%}) | {goal} | {verdict} |")


for c in concurrencies:
    compare("metrics", "off", c, "0.95" if c == 64 else "reported")
for c in concurrencies:
    compare("off", "base", c, "noise")
for c in concurrencies:
    compare("access", "off", c, "reported")

# The metrics greeter counted the calls it served (warm-ups included, so at least the measured ones).
pattern = re.compile(r'^micro_request_total\{([^}]*)\}\s+([0-9.e+]+)', re.M)
counted = sum(float(v) for labels, v in pattern.findall(scrape)
              if 'endpoint="Greeter.Hello"' in labels and 'status="success"' in labels)
measured = sum(x["requests"] - x["errors"] for (k, _), rs in runs.items() if k == "metrics" for x in rs)
print(f"\nThe metrics greeter's `/metrics` after the runs: `micro_request_total{{endpoint=\"Greeter.Hello\","
      f"status=\"success\"}}` = {counted:,.0f} (measured windows: {measured:,} successful calls; the rest are "
      f"warm-ups) — {'the wrapper counted every call' if counted >= measured > 0 else '**fewer than measured: the wrapper was not on**'}.")
if not base:
    print("\nNo baseline: run with `BASE=<commit>` (e.g. 262360f, the last commit before wrappers) for the "
          "*before wrappers* rows.")
