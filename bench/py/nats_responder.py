"""The same JSON greeter as a NATS request-reply responder on nats-py, for the Python-served
rows (issue 18): on the machine of host-peers-measured.md the fastest Python option by far.

    python nats_responder.py --nats nats://127.0.0.1:4222 [--subject greeter.hello]

Subscribes to the subject, answers {"name": ...} with {"message": "Hello NAME"}; prints
`{"event":"ready","address":...}` (the NATS URL) once subscribed, then runs until SIGTERM.
"""
import argparse
import asyncio
import json
import signal

import nats


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--nats", default="nats://127.0.0.1:4222")
    p.add_argument("--subject", default="greeter.hello")
    a = p.parse_args()
    nc = await nats.connect(a.nats)

    async def hello(msg) -> None:
        req = json.loads(msg.data)
        await msg.respond(json.dumps({"message": "Hello " + req["name"]}).encode())

    await nc.subscribe(a.subject, cb=hello)
    await nc.flush()
    print(json.dumps({"event": "ready", "address": a.nats}, separators=(",", ":")), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(main())
