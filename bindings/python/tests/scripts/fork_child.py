"""After fork(): objects from the parent raise ForkError in the child; new ones work; the parent is unaffected."""
import asyncio
import os
import sys

import micro
from forked import greeter, serve_once


async def start(svc):
    await svc.start()
    return await svc.client.call(svc.name, "Greeter.Hello", {"name": "before"})


parent = greeter("forked")
loop = asyncio.new_event_loop()
assert loop.run_until_complete(start(parent))["message"] == "Hello before"
old_client = micro.SyncClient(registry="memory")
gen = micro._native.runtime_generation()

pid = os.fork()
if pid == 0:
    code = 0
    try:
        old_client.call_sync("forked", "Greeter.Hello", {"name": "x"}, address=parent.address)
        print("child: old client worked", file=sys.stderr)
        code = 1
    except micro.ForkError as e:
        assert "fork" in e.detail, e.detail
    try:
        asyncio.run(parent.client.call("forked", "Greeter.Hello", {"name": "x"}))
        code = 1
    except micro.ForkError:
        pass

    r = asyncio.run(serve_once("child"))
    if r != {"message": "Hello child", "pid": os.getpid()}:
        print("child: new service answered", r, file=sys.stderr)
        code = 1
    if micro._native.runtime_generation() != gen + 1:
        print("child: no fresh runtime", file=sys.stderr)
        code = 1
    os._exit(code)

_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
r = loop.run_until_complete(parent.client.call("forked", "Greeter.Hello", {"name": "after"}))
assert r == {"message": "Hello after", "pid": os.getpid()}, r
loop.run_until_complete(parent.stop())
print("fork ok")
