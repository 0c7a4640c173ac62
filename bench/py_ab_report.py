"""Turns bench/py_ab.sh's rows into a Markdown table: per layout and workload, the median
rate (min–max) and p50 of the Rust reference, the base build and the new build, and
new ÷ base and each build ÷ Rust (medians of the per-rep ratios); for the client rows, the
added µs per call over the Rust client (1e6/rate − 1e6/rate of Rust, median of the reps).

    python3 bench/py_ab_report.py < rows.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def main() -> None:
    rows = [json.loads(line) for line in sys.stdin if line.strip()]
    by = defaultdict(dict)  # (layout, workload) -> rep -> who -> result
    for r in rows:
        by[(r["layout"], r["workload"])].setdefault(r["rep"], {})[r["who"]] = r["result"]
    print("| layout | workload | Rust req/s | base req/s | new req/s | new ÷ base | base ÷ Rust | new ÷ Rust | base p50 µs | new p50 µs | added µs base → new |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for (layout, workload), reps in by.items():
        def rates(who):
            return [reps[k][who]["rate"] for k in sorted(reps) if who in reps[k]]

        def med(xs):
            return statistics.median(xs) if xs else float("nan")

        def span(xs):
            return f"{med(xs):,.0f} ({min(xs):,.0f}–{max(xs):,.0f})" if xs else "–"

        def ratio(a, b):
            return med([reps[k][a]["rate"] / reps[k][b]["rate"] for k in reps if a in reps[k] and b in reps[k]])

        def p50(who):
            return med([reps[k][who]["p50_us"] for k in reps if who in reps[k]])

        def added(who):
            return med([1e6 / reps[k][who]["rate"] - 1e6 / reps[k]["rust"]["rate"] for k in reps if who in reps[k]])

        extra = f"{added('base'):.1f} → {added('new'):.1f}" if workload.startswith("client") else "–"
        print(f"| {layout} | {workload} | {span(rates('rust'))} | {span(rates('base'))} | {span(rates('new'))} | "
              f"{ratio('new', 'base'):.2f}× | {ratio('base', 'rust'):.2f}× | {ratio('new', 'rust'):.2f}× | "
              f"{p50('base'):,.0f} | {p50('new'):,.0f} | {extra} |")


if __name__ == "__main__":
    main()
