"""Exits with a started service, a call in flight in another thread, and no stop()."""
import asyncio
import sys

import micro

svc = micro.Service("exiting", registry=sys.argv[1] if len(sys.argv) > 1 else "memory", address="127.0.0.1:0")


@svc.handle("Greeter.Hello")
async def hello(req):
    return {"message": "hi"}


async def main():
    await svc.start()
    print(await svc.client.call("exiting", "Greeter.Hello", {}), flush=True)
    # returns without stop(): asyncio.run closes the loop, atexit deregisters

asyncio.run(main())
print("main done", flush=True)
