#!/usr/bin/env python3
"""Reads `bench/sync_ab.sh`'s JSON lines (stdin) and prints a markdown table of every row,
then the added cost per call over the Rust client (1/rate difference, in µs per call at
one in flight; per call per caller at 100) for each build, median of the reps with min–max."""
import json
import statistics
import sys


def main() -> None:
    rows = [json.loads(line) for line in sys.stdin if line.strip().startswith("{")]
    print("| layout | c | rep | client | calls/s | p50 µs | p99 µs | errors |")
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for r in rows:
        res = r["result"]
        print(f"| {r['layout']} | {r['c']} | {r['rep']} | {r['client']} | {res['rate']:,.0f} | "
              f"{res['p50_us']:,.0f} | {res['p99_us']:,.0f} | {res['errors']} |")
    rate = {(r["layout"], r["c"], r["rep"], r["client"]): r["result"]["rate"] for r in rows}
    print()
    print("| layout | c | client | added µs per call over Rust (median) | min–max | target |")
    print("|---|---:|---|---:|---|---|")
    for layout in ("unpinned", "pinned"):
        for c in (1, 100):
            reps = sorted({k[2] for k in rate if k[0] == layout and k[1] == c})
            for who in ("base", "new"):
                added = []
                for rep in reps:
                    rust, other = rate.get((layout, c, rep, "rust")), rate.get((layout, c, rep, who))
                    if rust and other:
                        added.append((1 / other - 1 / rust) * 1e6)
                if not added:
                    continue
                med = statistics.median(added)
                verdict = "met" if med <= 5 else f"missed by {med - 5:.0f} µs"
                print(f"| {layout} | {c} | {who} | {med:.1f} | {min(added):.1f}–{max(added):.1f} | ≤ 5 µs: {verdict} |")


if __name__ == "__main__":
    main()
