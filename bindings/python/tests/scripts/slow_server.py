"""A Python service in its own process for the tests that need calls answered elsewhere:
``Slow.Sleep {"s": seconds}`` sleeps, then answers ``{"slept": s}``. Prints JSON lines on
stdout: ``{"event": "ready", "address": ...}`` once serving, then ``{"event": "call", "s": s}``
as each call enters its handler. Serves until SIGTERM/SIGINT (memory registry, loopback)."""
import asyncio
import json

import micro

svc = micro.Service("slow", registry="memory", address="127.0.0.1:0")


def say(**event):
    print(json.dumps(event), flush=True)


@svc.handle("Slow.Sleep")
async def sleep(req):
    say(event="call", s=req["s"])
    await asyncio.sleep(req["s"])
    return {"slept": req["s"]}


async def main():
    stop = asyncio.Event()
    serving = asyncio.create_task(svc.serve(stop))
    while svc.address is None:  # serve() starts the service; poll until it listens
        if serving.done():
            await serving  # raises what made it fail
        await asyncio.sleep(0.01)
    say(event="ready", address=svc.address)
    await serving


asyncio.run(main())
