"""After fork(): objects from the parent raise ForkError in the child — clients, services,
registries, open client streams and the server side of a stream (its Request) included;
new ones work; the parent is unaffected (its stream keeps flowing)."""
import asyncio
import os
import sys

import micro
from forked import STREAMS, greeter, serve_once


async def start(svc):
    await svc.start()
    return await svc.client.call(svc.name, "Greeter.Hello", {"name": "before"})


async def open_stream(svc):
    s = await svc.client.stream(svc.name, "Greeter.Stream")
    await s.send({"name": "s1"})
    return s, await s.recv()


parent = greeter("forked")
loop = asyncio.new_event_loop()
assert loop.run_until_complete(start(parent))["message"] == "Hello before"
old_client = micro.SyncClient(registry="memory")
# A blocking call drives itself on this thread's own runtime (micro::transport::local): the
# child inherits that runtime's epoll instance, and must build its own without touching it.
# (A plain `def` handler: served by worker threads, not by the loop, which is not running
# while this thread blocks.)
sync_svc = micro.Service("forked-sync", registry="memory", address="127.0.0.1:0")


@sync_svc.handle("Sync.Hello")
def sync_hello(req):
    return {"message": "Hello " + req["name"], "pid": os.getpid()}


loop.run_until_complete(sync_svc.start())
r = old_client.call_sync("forked-sync", "Sync.Hello", {"name": "sync"}, address=sync_svc.address)
assert r == {"message": "Hello sync", "pid": os.getpid()}, r
old_registry = parent.registry
stream, first = loop.run_until_complete(open_stream(parent))
assert first == {"message": "Hello s1", "pid": os.getpid()}, first
server_stream = STREAMS[0]
gen = micro._native.runtime_generation()


def refuses(what, f):
    """f() must raise ForkError; returns 0 if it does."""
    try:
        r = f()
        if asyncio.iscoroutine(r):
            asyncio.run(r)
    except micro.ForkError as e:
        assert "fork" in e.detail and e.id == "micro.python.fork", e
        return 0
    except BaseException as e:
        print(f"child: {what} raised {e!r}, not ForkError", file=sys.stderr)
        return 1
    print(f"child: {what} worked after fork", file=sys.stderr)
    return 1

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
    req = server_stream._req
    checks = [
        ("client stream send", lambda: stream.send({"name": "x"})),
        ("client stream recv", lambda: stream.recv()),
        ("client stream close_send", lambda: stream.close_send()),
        ("client stream close", lambda: stream.close()),
        ("server stream send", lambda: server_stream.send({"message": "x"})),
        ("server stream recv", lambda: server_stream.recv()),
        ("request respond", lambda: micro.client._native_call(req.respond, b"")),
        ("request fail", lambda: micro.client._native_call(req.fail, "", 500, "x")),
        ("registry get_service", lambda: old_registry.get_service("forked")),
        ("client close", lambda: old_client.close()),
        ("service stop", lambda: parent.stop()),
    ]
    for what, f in checks:
        code |= refuses(what, f)

    r = asyncio.run(serve_once("child"))
    if r != {"message": "Hello child", "pid": os.getpid()}:
        print("child: new service answered", r, file=sys.stderr)
        code = 1
    fresh = micro.SyncClient(registry="memory")
    r = fresh.call_sync("forked-sync", "Sync.Hello", {"name": "child-sync"}, address=sync_svc.address)
    if r != {"message": "Hello child-sync", "pid": os.getppid()}:
        print("child: a new client's blocking call answered", r, file=sys.stderr)
        code = 1
    if micro._native.runtime_generation() != gen + 1:
        print("child: no fresh runtime", file=sys.stderr)
        code = 1
    os._exit(code)

_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
# The parent's own blocking calls still work on its thread's runtime after the child's.
r = old_client.call_sync("forked-sync", "Sync.Hello", {"name": "sync-after"}, address=sync_svc.address)
assert r == {"message": "Hello sync-after", "pid": os.getpid()}, r
r = loop.run_until_complete(parent.client.call("forked", "Greeter.Hello", {"name": "after"}))
assert r == {"message": "Hello after", "pid": os.getpid()}, r


async def stream_after():
    await stream.send({"name": "s2"})
    got = await stream.recv()
    await stream.close()
    return got

assert loop.run_until_complete(stream_after()) == {"message": "Hello s2", "pid": os.getpid()}
loop.run_until_complete(parent.stop())
loop.run_until_complete(sync_svc.stop())
print("fork ok")
