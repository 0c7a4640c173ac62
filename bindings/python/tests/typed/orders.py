"""A fully annotated service, as a user writes one: scripts/test.d/40-python.sh checks it with
``mypy --strict`` and ``pyright`` (the decorators keep each handler's own type), and
test_errors.py runs it. It serves unary, stream and subscriber handlers, raises and wraps
errors, and uses durations in seconds and as a ``timedelta``."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Callable

import micro

svc = micro.Service("typed.orders", registry="memory", broker="memory", address="127.0.0.1:0")
seen: list[str] = []


@svc.handle("Orders.Place")
async def place(req: dict[str, Any], ctx: micro.Context) -> dict[str, int]:
    if "qty" not in req:
        raise micro.BadRequest("qty is required", id=svc.name)
    return {"qty": int(req["qty"])}


@svc.handle("Orders.Count")
def count(req: dict[str, Any]) -> dict[str, int]:
    return {"n": len(seen)}


@svc.stream("Orders.Track")
async def track(stream: micro.ServerStream, ctx: micro.Context) -> None:
    async for msg in stream:
        await stream.send({"status": "shipped", "order": msg["order"]})


@svc.subscribe("orders.placed")
async def placed(msg: micro.Message) -> None:
    seen.append(msg.topic)


async def check_stock(client: micro.Client) -> dict[str, Any]:
    try:
        reply: dict[str, Any] = await client.call("typed.inventory", "Inventory.Reserve", {},
                                                  timeout=timedelta(milliseconds=300), request_timeout=1.0)
        return reply
    except micro.NotFound as e:
        raise micro.Error.wrap(e, 503, id=svc.name) from e


async def main() -> None:
    await svc.start()
    try:
        c = svc.client
        assert await c.call(svc.name, "Orders.Place", {"qty": 2}) == {"qty": 2}
        s = await c.stream(svc.name, "Orders.Track")
        await s.send({"order": 1})
        assert await s.recv() == {"status": "shipped", "order": 1}
        await s.close()
        try:
            await check_stock(c)
        except micro.Unavailable as e:
            print(e.code, e.detail)
        # the decorators returned the functions themselves, with their own types
        counter: Callable[[dict[str, Any]], dict[str, int]] = count
        print(counter({}))
    finally:
        await svc.stop()


if __name__ == "__main__":
    asyncio.run(main())
