"""fork() while the parent serves and calls from several threads: every child builds its own
service and answers itself; the parent keeps serving throughout. Prints "children ok N"."""
import asyncio
import os
import sys
import threading
import time

import micro
from forked import greeter, serve_once

FORKS = int(sys.argv[1]) if len(sys.argv) > 1 else 25


loop = asyncio.new_event_loop()
parent = greeter("busy")
loop.run_until_complete(parent.start())
threading.Thread(target=loop.run_forever, daemon=True).start()

stop = threading.Event()
calls = [0]
errors = []


def caller():
    c = micro.SyncClient(registry="memory")
    while not stop.is_set():
        try:
            r = c.call_sync("busy", "Greeter.Hello", {"name": "x"}, address=parent.address)
            assert r["pid"] == os.getpid(), r
            calls[0] += 1
        except Exception as e:  # reported below: the parent must never fail a call
            errors.append(repr(e))
            return


threads = [threading.Thread(target=caller, daemon=True) for _ in range(3)]
for t in threads:
    t.start()
time.sleep(0.2)


bad = []
for i in range(FORKS):
    pid = os.fork()
    if pid == 0:
        try:
            r = asyncio.run(asyncio.wait_for(serve_once("child"), 10))
            os._exit(0 if r == {"message": "Hello child", "pid": os.getpid()} else 3)
        except BaseException as e:
            print("child", i, "failed:", repr(e), file=sys.stderr)
            os._exit(4)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            status = -9
            break
        time.sleep(0.01)
    if status != 0:
        bad.append((i, status))

stop.set()
for t in threads:
    t.join(10)
before = calls[0]
assert not errors, errors
assert not bad, f"children that failed or hung (index, wait status): {bad}"
assert before > 0, "the parent served no calls while forking"
print("children ok", FORKS, "parent calls", before, flush=True)  # os._exit does not flush
os._exit(0)
