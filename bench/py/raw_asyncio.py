"""What an asyncio client pays with no client library (issue 18's asyncio client at 100 in flight).

Two floors, each with N coroutines on one loop, each awaiting its next call as soon as the
last one ended:

- ``sockets``: each coroutine owns a kept-alive connection (an ``asyncio.Protocol``), writes a
  prebuilt go-micro request (spec §4.11's headers) and awaits a future its protocol resolves
  once the whole reply is in, parsing nothing but Content-Length: the least a pure-asyncio
  client can do per call.
- ``futures``: no I/O at all; each call is a future resolved on the loop's next pass, all
  of a pass's futures by one callback (as our client's bell resolves a batch): what asyncio
  itself charges a coroutine to await one result.

    python raw_asyncio.py sockets HOST:PORT [coroutines=100] [seconds=2]
    python raw_asyncio.py futures [coroutines=100] [seconds=2]

Prints {"requests": N, "rate": calls/s}, counted after a 0.5 s warm-up.
"""
import asyncio
import json
import sys
import time

from raw_sync import WARMUP, reply_whole, request  # the same request, reply reading and warm-up


class Conn(asyncio.Protocol):
    """One kept-alive connection: ``call`` writes the request, the future resolves on the
    reply's last byte."""

    def __init__(self, req: bytes) -> None:
        self.req = req
        self.buf = b""
        self.waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if reply_whole(self.buf):
            self.buf = b""
            w, self.waiter = self.waiter, None
            if w is not None and not w.done():
                w.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        w, self.waiter = self.waiter, None
        if w is not None and not w.done():
            w.set_exception(ConnectionError("the server closed the connection"))

    def call(self) -> asyncio.Future:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(self.req)
        return self.waiter


async def run_sockets(addr: str, n: int, seconds: float) -> int:
    loop = asyncio.get_running_loop()
    host, port = addr.rsplit(":", 1)
    req = request(addr)
    conns = [(await loop.create_connection(lambda: Conn(req), host, int(port)))[1] for _ in range(n)]
    start = time.perf_counter() + WARMUP
    end = start + seconds

    async def worker(c: Conn) -> int:
        clock, done = time.perf_counter, 0
        while (t := clock()) < end:
            await c.call()
            if t >= start:
                done += 1
        return done

    counts = await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        assert c.transport is not None
        c.transport.close()
    return sum(counts)


async def run_futures(n: int, seconds: float) -> int:
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future] = []

    def resolve_all() -> None:
        batch = pending[:]
        pending.clear()
        for f in batch:
            f.set_result(None)

    def call() -> asyncio.Future:
        f = loop.create_future()
        if not pending:
            loop.call_soon(resolve_all)
        pending.append(f)
        return f

    start = time.perf_counter() + WARMUP
    end = start + seconds

    async def worker() -> int:
        clock, done = time.perf_counter, 0
        while (t := clock()) < end:
            await call()
            if t >= start:
                done += 1
        return done

    return sum(await asyncio.gather(*(worker() for _ in range(n))))


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "sockets":
        addr = sys.argv[2]
        n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
        seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
        done = asyncio.run(run_sockets(addr, n, seconds))
    elif mode == "futures":
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
        seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
        done = asyncio.run(run_futures(n, seconds))
    else:
        sys.exit("usage: raw_asyncio.py sockets HOST:PORT [coroutines] [seconds] | futures [coroutines] [seconds]")
    print(json.dumps({"requests": done, "rate": done / seconds}))


if __name__ == "__main__":
    main()
