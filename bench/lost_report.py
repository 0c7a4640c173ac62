#!/usr/bin/env python3
"""The rows of `ONLY=lost bash bench/run.sh` as Markdown (stdout): per server, the requests
sent one at a time on kept-alive connections (bench/go/lostreq), how many were read and never
answered, per round and in all, and whether the connection still answered afterwards.

    lost_report.py ROWS.jsonl COMMAND
"""
import datetime
import platform
import sys

from reportlib import cpu as cpu_name, idle, rows as load_rows, sh

rows = load_rows(sys.argv[1])
command = sys.argv[2]

by = {}
for r in rows:
    by.setdefault(r["server"], []).append(r)

print(f"# Lost requests {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n")
print(f"- **Machine:** {cpu_name()}, {sh('nproc')} vCPU, kernel {platform.release()}{idle()}, load average at the end "
      f"{open('/proc/loadavg').read().split()[0]}")
print(f"- **Versions:** micro {sh('sh', '-c', 'git -C .. describe --always --dirty 2>/dev/null')}, {sh('go', 'version')}")
print(f"- **Command:** `{command}`")
print("- **What:** bench/go/lostreq (Go standard library only) sends go-micro's unary request "
      "(`Greeter.Hello`, JSON) one at a time on each of 2 kept-alive connections, the next as soon as "
      "the reply is read. A request with no reply within 1 s is *lost*; lostreq then sends one more on "
      "the same connection (*alive after*: it was answered, so the server dropped one request on a live "
      "connection rather than hanging it) and goes on on a new connection. Every server runs with its "
      "defaults, unpinned.\n")
print("| server | requests | lost | lost per 100k | alive after | errors | lost in each round | index on its connection |")
print("|---|---:|---:|---:|---:|---:|---|---|")
for server, rs in by.items():
    req = sum(r["requests"] for r in rs)
    lost = sum(r["lost"] for r in rs)
    alive = sum(r["alive_after_loss"] for r in rs)
    errors = sum(r["errors"] for r in rs)
    at = sorted(i for r in rs for i in r["lost_at"])
    per = 100000 * lost / req if req else 0
    print(f"| {server} | {req:,} | {lost} | {per:.1f} | {alive} | {errors} | "
          f"{', '.join(str(r['lost']) for r in rs)} | {', '.join(map(str, at[:12]))}{' …' if len(at) > 12 else ''} |")
print("\ngo-micro's cause (v4, v5, v6): its server files a connection's calls by `Micro-ID`, which HTTP "
      "delivers canonicalised as `Micro-Id`, so every unary call on a connection shares one empty id; a "
      "request that arrives before the previous call's entry is released goes to that finished call.")
print("\nA go-micro client waits its 5 s per-attempt timeout for a lost request, then retries it "
      "(RetryOnError); ours returns the 408 unless the call allows retrying timeouts.")
