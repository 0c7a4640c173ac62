"""The greeter, in Python: `python server.py [NAME]` serves Greeter.Hello and Greeter.Stream
over mDNS (go-micro's default registry) until Ctrl-C, then deregisters."""
import sys

import micro

svc = micro.Service(sys.argv[1] if len(sys.argv) > 1 else "greeter")


@svc.handle("Greeter.Hello")
async def hello(req, ctx):
    return {"message": "Hello " + req["name"]}


@svc.handle("Greeter.Fail")
async def fail(req):
    raise micro.Error(req.get("detail", "failed"), req.get("code", 500), id=svc.name)


@svc.stream("Greeter.Stream")
async def stream(s, ctx):
    async for msg in s:
        await s.send({"message": "Hello " + msg["name"]})


if __name__ == "__main__":
    print(f"serving {svc.name} as {svc.id}", file=sys.stderr, flush=True)
    svc.run()
