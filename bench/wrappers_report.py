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
import math
import platform
import re
import statistics
import sys

from reportlib import cpu as cpu_name, idle, rows as load_rows, sh

rows = load_rows(sys.argv[1])
scrape = open(sys.argv[2], encoding="utf-8").read()
base = sys.argv[3]
command = sys.argv[4]


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
        res["rep"] = r["rep"]
        res["cpu_us"] = r["server_cpu_s"] * 1e6 / calls if "server_cpu_s" in r and calls > 0 else float("nan")
        runs.setdefault((r["config"], r["c"]), []).append(res)
concurrencies = sorted({c for _, c in runs})


def med(key, field):
    return statistics.median(x[field] for x in runs[key])


def spread(key, field="rate"):
    """(max − min) / median of FIELD over the runs: how far apart the runs of one configuration landed."""
    xs = [x[field] for x in runs[key]]
    return (max(xs) - min(xs)) / statistics.median(xs)


cpu = cpu_name()
print(f"# Wrapper cost {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print(f"- **Machine:** {cpu}, {sh('nproc')} vCPU, kernel {platform.release()}{idle()}, load average at the end "
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
print("Each run of one configuration is paired with the run of the other made next to it (same rep, "
      "seconds apart), and the ratio of their req/s taken: load from other work that drifts over the "
      "minutes cancels out of a pair. *Paired ratio* is the median of those ratios, *range* the order "
      "statistics that hold that median with 95 % confidence (sign test; below 6 reps it is min–max, which "
      "holds it with 75 % at 3 reps and 94 % at 5). \"No measurable change\" = the range contains 1; "
      "the 0.95 target is met when the whole range is at or above it, missed when all of it is below.\n")
print("| comparison | c | paired ratio | range | ratio of medians | p50 added | server CPU per call added | target | verdict |")
print("|---|---:|---:|---|---:|---:|---:|---|---|")


def paired(a, b, c):
    """The req/s ratios a/b of the runs made in the same rep, sorted."""
    rb = {x["rep"]: x["rate"] for x in runs[(b, c)]}
    return sorted(x["rate"] / rb[x["rep"]] for x in runs[(a, c)] if rb.get(x["rep"]))


def median_interval(xs):
    """An interval of order statistics that holds the median of what was sampled with ≥ 95 %
    confidence (the sign test's): [x_j, x_(n+1−j)] for the largest j with P(Binomial(n, ½) < j)
    ≤ 2.5 %. Below 6 samples that is min–max, which then holds it with less (75 % at 3, 94 % at 5).
    XS is sorted."""
    n, j = len(xs), 1
    while j + 1 <= (n + 1) // 2 and sum(math.comb(n, i) for i in range(j + 1)) / 2**n <= 0.025:
        j += 1
    what = "min–max" if j == 1 else f"95 % CI: sorted runs {j}–{n + 1 - j} of {n}"
    return xs[j - 1], xs[n - j], what


def compare(a, b, c, target):
    if (a, c) not in runs or (b, c) not in runs:
        return
    ratio = med((a, c), "rate") / med((b, c), "rate")
    added = med((a, c), "p50_us") - med((b, c), "p50_us")
    cpu = med((a, c), "cpu_us") - med((b, c), "cpu_us")
    cpu_rel = cpu / med((b, c), "cpu_us")
    pr = paired(a, b, c)
    head = f"| {a} / {b} | {c} |"
    tail = f"{ratio:.3f} | {added:+,.0f} µs | {cpu:+.2f} µs ({cpu_rel:+.1%}) |"
    if len(pr) < 2:
        print(f"{head} {pr[0] if pr else float('nan'):.3f} | — | {tail} — | one run: nothing to judge against (REPS ≥ 3) |")
        return
    pm = statistics.median(pr)
    lo, hi, what = median_interval(pr)
    if target == "0.95":
        goal = "≥ 0.95"
        if lo >= 0.95:
            verdict = f"met ({pm - 1:+.1%} req/s; the whole range ≥ 0.95)"
        elif hi < 0.95:
            verdict = f"**missed** ({pm - 1:+.1%} req/s; the whole range < 0.95)"
        else:
            verdict = (f"not resolved: {pm - 1:+.1%} req/s, but the range spans 0.95 — too noisy "
                       "to tell; more reps, a quieter machine, or the CPU-per-call column")
    elif target == "noise":
        goal = "no measurable change"
        verdict = (f"no measurable change ({pm - 1:+.1%}; the range holds 1)" if lo <= 1 <= hi
                   else f"**changed** by {pm - 1:+.1%} (the range excludes 1)")
    else:
        goal = "reported"
        verdict = f"{pm - 1:+.1%} req/s"
    print(f"{head} {pm:.3f} | {lo:.3f}–{hi:.3f} ({what}) | {tail} {goal} | {verdict} |")


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
