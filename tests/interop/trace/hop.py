"""A Python hop of tests/interop/trace.sh's trace: ``hop.py NAME NEXT`` serves Greeter.Hello
by calling NEXT's Greeter.Hello (nothing passed by hand: the handler's trace goes on by
itself) and prefixing the answer; its errors are the handler's. Greeter.Announce publishes its
request on ``trace.relay`` (the publish continuing the handler's trace). It also subscribes
to ``trace.events``. Prints ``serving NAME`` once started (registered)."""
import asyncio
import sys

import micro

name, after = sys.argv[1], sys.argv[2]
svc = micro.Service(name)


@svc.handle("Greeter.Hello")
async def hello(req, ctx):
    got = await svc.client.call(after, "Greeter.Hello", req)
    return {"message": f"{name} > {got['message']}"}


@svc.handle("Greeter.Announce")
async def announce(req, ctx):
    await svc.client.publish("trace.relay", req)
    return {"message": f"{name} published on trace.relay"}


@svc.subscribe("trace.events")
async def delivered(msg):
    print(f"delivered {msg.topic}", flush=True)


async def main():
    await svc.start()
    print(f"serving {name}", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
