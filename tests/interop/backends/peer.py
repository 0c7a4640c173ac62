"""A Python peer for tests/interop/backends.sh, on whatever registry and broker the
environment names (MICRO_REGISTRY, MICRO_BROKER, MICRO_BROKER_ADDRESS):
  peer.py serve NAME TOPIC     Greeter.Hello, a subscriber to TOPIC printing one JSON line
                               per message ({"event":"message","body":…}), after a ready line
  peer.py call SERVICE         prints SERVICE's Greeter.Hello answer to {"name":"Py"}
  peer.py publish TOPIC TEXT   publishes {"text": TEXT} once"""
import asyncio
import json
import sys

import micro


async def serve(name: str, topic: str) -> None:
    svc = micro.Service(name)

    @svc.handle("Greeter.Hello")
    async def hello(req, ctx):
        return {"message": "Hello " + req["name"]}

    @svc.subscribe(topic)
    async def on_message(msg):
        print(json.dumps({"event": "message", "body": msg.body.decode()}), flush=True)

    await svc.start()
    print(json.dumps({"event": "ready"}), flush=True)
    await asyncio.Event().wait()


async def call(service: str) -> None:
    rsp = await micro.Client().call(service, "Greeter.Hello", {"name": "Py"})
    print(rsp["message"])


async def publish(topic: str, text: str) -> None:
    await micro.Client().publish(topic, {"text": text})


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    asyncio.run({"serve": serve, "call": call, "publish": publish}[cmd](*args))
