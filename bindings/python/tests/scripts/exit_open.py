"""Exits with a started service, calls in flight in other threads (argv[3] daemon threads,
default 8, each blocked in call_sync on the slow server at argv[2] when the interpreter
finalizes) and no stop(). Prints "calls in flight" once the test saw the slow server take
every call, then "main done"; the exit must be clean."""
import asyncio
import sys
import threading

import micro

registry, slow = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
svc = micro.Service("exiting", registry=registry, address="127.0.0.1:0")


@svc.handle("Greeter.Hello")
async def hello(req):
    return {"message": "hi"}


outcome = []


def call_in_flight():
    c = micro.SyncClient(registry="memory")
    try:  # the slow server sleeps 60 s: this call is still waiting when the interpreter exits
        outcome.append(c.call_sync("slow", "Slow.Sleep", {"s": 60}, address=slow, timeout=120, request_timeout=120))
    except BaseException as e:
        outcome.append(e)


async def main():
    await svc.start()
    print(await svc.client.call("exiting", "Greeter.Hello", {}), flush=True)
    for _ in range(threads):
        threading.Thread(target=call_in_flight, daemon=True).start()
    # The test reads the slow server's "call" events, then writes a line to our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    assert not outcome, outcome
    print("calls in flight", flush=True)
    # returns without stop(): asyncio.run closes the loop, atexit deregisters

asyncio.run(main())
print("main done", flush=True)
