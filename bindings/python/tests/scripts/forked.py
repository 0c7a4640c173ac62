"""Shared by the fork scripts: a greeter that answers with its process id, and a stream
endpoint whose handler keeps its ServerStream in ``STREAMS`` (until ``RELEASE`` is set)."""
import asyncio
import os

import micro

STREAMS = []
RELEASE = []


def greeter(name):
    svc = micro.Service(name, registry="memory", address="127.0.0.1:0")

    @svc.handle("Greeter.Hello")
    async def hello(req):
        return {"message": "Hello " + req["name"], "pid": os.getpid()}

    @svc.stream("Greeter.Stream")
    async def stream(s):
        STREAMS.append(s)
        async for m in s:
            await s.send({"message": "Hello " + m["name"], "pid": os.getpid()})
    return svc


async def serve_once(name):
    """Starts a fresh greeter in this process, calls it once, stops it; the reply."""
    svc = greeter(name)
    await svc.start()
    r = await svc.client.call(name, "Greeter.Hello", {"name": name})
    await svc.stop()
    return r
