"""Two Python services of one name (each on its own memory registry, loopback) and a client
calling them through its selector: ``selector.py SELECTOR|- CALLS`` makes the client with
``selector=SELECTOR`` (no keyword for ``-``, so ``MICRO_SELECTOR`` decides), calls
``Who.Ami`` CALLS times over both addresses and prints one JSON line: ``{"ids": [a, b],
"seen": [...]}`` (each call's answering service id), or ``{"error": ..., "type": ...}``
when making the client fails."""
import asyncio
import json
import sys

import micro


def whoami(svc):
    """A handler answering with `svc`'s node id."""
    return lambda req: {"id": svc.id}


async def main(selector: str, calls: int) -> dict:
    try:  # first: a bad MICRO_SELECTOR would fail the services too
        c = micro.Client(registry="memory") if selector == "-" else micro.Client(registry="memory", selector=selector)
    except Exception as e:
        return {"error": str(e), "type": type(e).__name__}
    svcs = [micro.Service("py.selector", registry="memory", address="127.0.0.1:0") for _ in range(2)]
    for svc in svcs:
        svc.handle("Who.Ami", whoami(svc))
        await svc.start()
    try:
        addrs = [s.address for s in svcs]
        seen = [(await c.call("py.selector", "Who.Ami", {}, address=addrs))["id"] for _ in range(calls)]
        return {"ids": [s.id for s in svcs], "seen": seen}
    finally:
        for svc in svcs:
            await svc.stop()


print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))), flush=True)
