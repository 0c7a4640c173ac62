"""CPU time of the client process per call, by layer (issue 18): where a Python call's
microseconds go at one call in flight.

    python call_cpu.py --addr H:P [--n 15000] [--loops 5] [--sync | --asyncio]
    python call_cpu.py --addr H:P --loadgen bench/target/release/loadgen [--d 2]

Each layer is a closed loop of `--n` calls to the greeter at `--addr` (one in flight), run
`--loops` times; the median loop's CPU time (`time.process_time`, every thread of this
process, the runtime's included) and wall time per call are printed as one JSON line per
layer:
- `native`: the extension's own call, the cheapest one the build has (`call_value_blocking` /
  `call_value` awaited, with the dict; before them `call_blocking` / `call` with the body
  already encoded): what the binding costs below its Python layer;
- `client`: `SyncClient.call_sync` (or `Client.call` awaited) with a dict body, as users call it.
`client - native` is the Python layer's own cost per call. CPU time is steadier than latency
on a noisy VM: it does not count the time spent waiting for the other CPU to wake up.
With `--loadgen`, the same for our Rust client (layer `rust`): CPU of a `loadgen unary` run
at one call in flight over its requests, `--loops` runs of `--d` seconds.
`bench/call_cpu.sh` runs this for two builds, alternating, and prints the table.
"""
import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import time

import micro
from micro import _native

BODY = {"name": "bench"}
RAW = json.dumps(BODY, separators=(",", ":")).encode()


def measure(loop, n: int, loops: int) -> tuple[float, float]:
    """Median CPU µs and wall µs per call of `loop(n)` over `loops` runs (one warm-up run first)."""
    loop(max(n // 5, 500))
    cpu, wall = [], []
    for _ in range(loops):
        c0, w0 = time.process_time(), time.perf_counter()
        loop(n)
        cpu.append((time.process_time() - c0) / n * 1e6)
        wall.append((time.perf_counter() - w0) / n * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def sync_layers(addr: str) -> dict:
    client = micro.SyncClient(registry="memory", retries=0)
    call = client.call_sync
    where = [addr]
    value = getattr(client._c, "call_value_blocking", None)
    native = client._c.call_blocking

    def native_loop(n: int) -> None:
        for _ in range(n):
            if value is not None:
                v, _ct = value("greeter", "Greeter.Hello", BODY, addr, None)
            else:
                v, _ct = native("greeter", "Greeter.Hello", RAW, content_type="application/json", address=where,
                                whole=False)
            assert v["message"] == "Hello bench", v

    def client_loop(n: int) -> None:
        for _ in range(n):
            v = call("greeter", "Greeter.Hello", BODY, address=addr)
            assert v["message"] == "Hello bench", v

    return {"native": native_loop, "client": client_loop}


def asyncio_layers(addr: str) -> dict:
    client = micro.Client(registry="memory", retries=0)
    call = client.call
    where = [addr]
    value = getattr(client._c, "call_value", None)
    native = client._c.call
    loop = asyncio.new_event_loop()

    async def native_n(n: int) -> None:
        for _ in range(n):
            if value is not None:
                started = value("greeter", "Greeter.Hello", BODY, addr, None)
                # A (future, canceller) pair; a704bc1's gave the future alone.
                v, _ct = await (started[0] if isinstance(started, tuple) else started)
            else:
                v, _ct = await native("greeter", "Greeter.Hello", RAW, content_type="application/json",
                                      address=where, whole=False)
            assert v["message"] == "Hello bench", v

    async def client_n(n: int) -> None:
        for _ in range(n):
            v = await call("greeter", "Greeter.Hello", BODY, address=addr)
            assert v["message"] == "Hello bench", v

    return {"native": lambda n: loop.run_until_complete(native_n(n)),
            "client": lambda n: loop.run_until_complete(client_n(n))}


def rust_layer(loadgen: str, addr: str, d: float, loops: int) -> tuple[float, float, int]:
    """Median CPU µs and wall µs per call of our Rust client (`loadgen`, one call in flight),
    and the calls of the median run."""
    runs = []
    for _ in range(loops):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([loadgen, "unary", "--client", "micro", "--addr", addr, "--c", "1", "--d", str(d),
                              "--warmup", "0"], check=True, capture_output=True, text=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = json.loads(out.strip().splitlines()[-1])
        n = int(r["requests"])
        if r["errors"] or n == 0:
            raise SystemExit(f"loadgen failed: {out}")
        cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / n * 1e6
        runs.append((cpu, float(r["seconds"]) / n * 1e6, n))
    runs.sort()
    return runs[len(runs) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", required=True)
    p.add_argument("--n", type=int, default=15000)
    p.add_argument("--loops", type=int, default=5)
    p.add_argument("--label", default="")
    p.add_argument("--loadgen", help="measure our Rust client instead (a loadgen binary)")
    p.add_argument("--d", type=float, default=2.0, help="seconds of each --loadgen run")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--sync", dest="kind", action="store_const", const="sync")
    kind.add_argument("--asyncio", dest="kind", action="store_const", const="asyncio")
    a = p.parse_args()
    if a.loadgen:
        cpu, wall, n = rust_layer(a.loadgen, a.addr, a.d, a.loops)
        print(json.dumps({"label": a.label, "client": "rust", "layer": "rust", "n": n, "loops": a.loops,
                          "cpu_us": round(cpu, 2), "wall_us": round(wall, 2)}), flush=True)
        return
    kind = a.kind or "sync"
    layers = (sync_layers if kind == "sync" else asyncio_layers)(a.addr)
    for layer, loop in layers.items():
        cpu, wall = measure(loop, a.n, a.loops)
        print(json.dumps({"label": a.label, "client": kind, "layer": layer, "n": a.n, "loops": a.loops,
                          "cpu_us": round(cpu, 2), "wall_us": round(wall, 2)}), flush=True)


if __name__ == "__main__":
    _native  # the extension this build carries: imported so a missing one fails here, not mid-run
    main()
