"""The benchmark greeter served by the Python binding: `Greeter.Hello` (JSON).

    python server.py [--mode async|sync] [--addr 127.0.0.1:0]

`async` answers with an `async def` handler on the event loop, `sync` with a plain `def`
(run in a worker thread, as the package does for plain functions). Memory registry; prints
`{"event":"ready","address":...}` once serving, then runs until SIGTERM.
"""
import argparse
import asyncio
import json
import sys

import micro


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=("async", "sync"), default="async")
    p.add_argument("--addr", default="127.0.0.1:0")
    a = p.parse_args()
    svc = micro.Service("greeter", address=a.addr, registry="memory")

    if a.mode == "async":
        @svc.handle("Greeter.Hello")
        async def hello(req):
            return {"message": "Hello " + req["name"]}
    else:
        @svc.handle("Greeter.Hello")
        def hello(req):
            return {"message": "Hello " + req["name"]}

    async def serve() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(svc.serve(stop))
        while not svc.running:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        print(json.dumps({"event": "ready", "address": svc.address}, separators=(",", ":")), flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
