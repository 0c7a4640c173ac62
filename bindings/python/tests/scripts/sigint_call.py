"""Blocks the main thread in ``SyncClient.call_sync`` on a 60 s call to the slow server at
``argv[1]``; Ctrl-C (SIGINT) must interrupt it. Prints "calling", then "interrupted <s>" with
the seconds the call lasted, or "returned" if the call came back by itself."""
import sys
import time

import micro

c = micro.SyncClient(registry="memory")
print("calling", flush=True)
t0 = time.monotonic()
try:
    c.call_sync("slow", "Slow.Sleep", {"s": 60}, address=sys.argv[1], timeout=120, request_timeout=120)
    print("returned", flush=True)
except KeyboardInterrupt:
    print(f"interrupted {time.monotonic() - t0:.3f}", flush=True)
