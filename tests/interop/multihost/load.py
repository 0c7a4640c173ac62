"""Calls SERVICE's Greeter.Hello over and over until the file STOP exists, one call at a time,
and prints one JSON line per second: {"t": seconds since start, "ok": n, "fail": n, "last":
the last error}. Used by tests/interop/multihost.sh (the registry, retries and timeouts come
from the environment)."""
import asyncio
import json
import os
import sys
import time

import micro


async def main(service: str, stop: str) -> None:
    client = micro.Client()
    start = time.monotonic()
    second, ok, fail, last = 0, 0, 0, ""
    while not os.path.exists(stop):
        try:
            await client.call(service, "Greeter.Hello", {"name": "load"})
            ok += 1
        except micro.Error as e:
            fail += 1
            last = f"{e.code} {e.detail}"
        now = int(time.monotonic() - start)
        if now != second:
            print(json.dumps({"t": second, "ok": ok, "fail": fail, "last": last}), flush=True)
            second, ok, fail, last = now, 0, 0, ""
    print(json.dumps({"t": second, "ok": ok, "fail": fail, "last": last}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
