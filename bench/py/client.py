"""The Python client side of the benchmarks: a closed loop of `micro.Client().call`s.

    python client.py --addr H:P [--c 100] [--d 3] [--warmup 1] [--sync]

`--c` calls in flight on one asyncio loop (each starts when the last ended), explicit
address (no registry), no retries; `--sync`: `call_sync` from `--c` threads instead. Prints one JSON line in loadgen's format: requests,
errors, seconds, rate, p50_us, p99_us, p999_us (latency of each call as the caller sees it).
"""
import argparse
import asyncio
import json
import threading
import time

import micro

BODY = {"name": "bench"}


async def run(addr: str, c: int, d: float, warmup: float) -> dict:
    client = micro.Client(registry="memory", retries=0, pool_size=c + 4)
    lat: list[int] = []
    errors = 0
    t0 = time.perf_counter()
    start = t0 + warmup
    end = start + d

    async def worker() -> None:
        nonlocal errors
        call = client.call
        clock = time.perf_counter
        while True:
            t = clock()
            if t >= end:
                return
            try:
                r = await call("greeter", "Greeter.Hello", BODY, address=addr)
                ok = r.get("message") == "Hello bench"
            except micro.Error:
                ok = False
            if t >= start:
                lat.append(int((clock() - t) * 1e9))
                if not ok:
                    errors += 1

    await asyncio.gather(*(worker() for _ in range(c)))
    return summary(lat, errors, d)


def run_sync(addr: str, c: int, d: float, warmup: float) -> dict:
    client = micro.SyncClient(registry="memory", retries=0, pool_size=c + 4)
    lats: list[list[int]] = [[] for _ in range(c)]
    errs = [0] * c
    start = time.perf_counter() + warmup
    end = start + d

    def worker(i: int) -> None:
        call = client.call_sync
        clock = time.perf_counter
        lat = lats[i]
        while True:
            t = clock()
            if t >= end:
                return
            try:
                ok = call("greeter", "Greeter.Hello", BODY, address=addr).get("message") == "Hello bench"
            except micro.Error:
                ok = False
            if t >= start:
                lat.append(int((clock() - t) * 1e9))
                if not ok:
                    errs[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summary([x for lat in lats for x in lat], sum(errs), d)


def summary(lat: list[int], errors: int, d: float) -> dict:
    lat.sort()

    def q(x: float) -> float:
        return lat[min(len(lat) - 1, int(x * len(lat)))] / 1000.0 if lat else 0.0

    return {"requests": len(lat), "errors": errors, "seconds": d, "rate": len(lat) / d,
            "p50_us": q(0.50), "p99_us": q(0.99), "p999_us": q(0.999)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", required=True)
    p.add_argument("--c", type=int, default=100)
    p.add_argument("--d", type=float, default=3.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--sync", action="store_true", help="call_sync from --c threads")
    a = p.parse_args()
    res = run_sync(a.addr, a.c, a.d, a.warmup) if a.sync else asyncio.run(run(a.addr, a.c, a.d, a.warmup))
    print(json.dumps(res, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()
