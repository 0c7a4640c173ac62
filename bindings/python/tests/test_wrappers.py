"""Wrappers (go-micro's "extend by wrapping"): handler, subscriber and client wrappers, on a real
service and client over the memory registry and broker and loopback."""
import threading

import pytest

import micro
from conftest import run


def local(name):
    svc = micro.Service(name, registry="memory", broker="memory", address="127.0.0.1:0")

    @svc.handle("Echo.Call")
    async def echo(req, ctx):
        return {"req": req, "user": ctx.header.get("X-User")}
    return svc


def test_handler_wrappers_see_change_short_circuit_and_nest_in_order():
    async def main():
        svc = local("py.wrap.server")
        trace, threads = [], []

        @svc.wrap
        async def outer(req, ctx, next):
            threads.append(threading.get_ident())
            trace.append(("outer", ctx.endpoint, dict(req)))
            if req.get("stop"):
                return {"short": True}  # the handler never runs
            rsp = await next(req, ctx)
            rsp["outer"] = True
            return rsp

        @svc.wrap
        async def inner(req, ctx, next):
            trace.append(("inner", dict(req)))
            return await next({**req, "added": "by inner"}, ctx)

        await svc.start()
        try:
            c = svc.client
            got = await c.call("py.wrap.server", "Echo.Call", {"n": 1})
            assert got == {"req": {"n": 1, "added": "by inner"}, "user": None, "outer": True}
            assert trace == [("outer", "Echo.Call", {"n": 1}), ("inner", {"n": 1})]
            trace.clear()
            assert await c.call("py.wrap.server", "Echo.Call", {"stop": True}) == {"short": True}
            assert trace == [("outer", "Echo.Call", {"stop": True})]
        finally:
            await svc.stop()
        assert threads and all(t == threading.get_ident() for t in threads)  # on the service's loop
    run(main())


def test_an_exception_in_a_wrapper_is_a_500_for_that_call_only():
    async def main():
        svc = local("py.wrap.boom")

        @svc.wrap
        async def boom(req, ctx, next):
            if req.get("boom"):
                raise KeyError("qty")
            if req.get("deny"):
                raise micro.Forbidden("no", id="py.wrap.boom")
            return await next(req, ctx)

        await svc.start()
        try:
            with pytest.raises(micro.Error) as e:
                await svc.client.call("py.wrap.boom", "Echo.Call", {"boom": True})
            assert e.value.code == 500 and "KeyError" in e.value.detail
            with pytest.raises(micro.Forbidden):
                await svc.client.call("py.wrap.boom", "Echo.Call", {"deny": True})
            assert await svc.client.call("py.wrap.boom", "Echo.Call", {"ok": 1}) == {"req": {"ok": 1}, "user": None}
        finally:
            await svc.stop()
    run(main())


def test_subscriber_wrapper_sees_and_drops_messages():
    async def main():
        svc = local("py.wrap.sub")
        got, seen = [], []

        @svc.subscribe("events")
        async def on(msg):
            got.append(msg.json())

        @svc.wrap_subscriber
        async def only_kept(msg, next):
            seen.append((msg.topic, msg.json()))
            if msg.json().get("drop"):
                return
            await next(msg)

        await svc.start()
        try:
            await svc.client.publish("events", {"n": 1})
            await svc.client.publish("events", {"n": 2, "drop": True})
            await svc.client.publish("events", {"n": 3})
        finally:
            await svc.stop()
        assert seen == [("events", {"n": 1}), ("events", {"n": 2, "drop": True}), ("events", {"n": 3})]
        assert got == [{"n": 1}, {"n": 3}]
    run(main())


def test_client_wrappers_add_metadata_and_short_circuit():
    async def main():
        svc = local("py.wrap.client")
        calls = []

        async def auth(call, next):
            assert isinstance(call, micro.Call)
            calls.append((call.service, call.endpoint, call.body))
            call.metadata["X-User"] = "u1"
            return await next(call)

        client = micro.Client(registry="memory", wrappers=[auth])

        @client.wrap
        async def cache(call, next):
            if call.endpoint == "Echo.Cached":
                return micro.Reply(b'{"cached":true}', "application/json")
            r = await next(call)
            assert r.node  # the real reply, from the node that answered
            return r

        await svc.start()
        try:
            address = svc.address  # the client's own memory registry does not know the service
            got = await client.call("py.wrap.client", "Echo.Call", {"n": 1}, address=address)
            assert got == {"req": {"n": 1}, "user": "u1"}
            assert await client.call("py.wrap.client", "Echo.Cached", {}) == {"cached": True}
            raw = await client.call_raw("py.wrap.client", "Echo.Call", {"n": 2}, metadata={"X-User": "mine"},
                                       address=address)
            assert raw.decode() == {"req": {"n": 2}, "user": "u1"}  # the wrapper overwrote it
            assert calls == [("py.wrap.client", "Echo.Call", {"n": 1}), ("py.wrap.client", "Echo.Cached", {}),
                             ("py.wrap.client", "Echo.Call", {"n": 2})]
        finally:
            client.close()
            await svc.stop()
    run(main())


def test_a_wrapper_that_is_not_async_is_a_type_error():
    svc = micro.Service("py.wrap.sync", registry="memory")

    def plain(req, ctx, next):
        return next(req, ctx)
    for add in (svc.wrap, svc.wrap_subscriber, micro.Client(registry="memory").wrap):
        with pytest.raises(TypeError, match="async def"):
            add(plain)
    with pytest.raises(TypeError, match="async def"):
        micro.Client(registry="memory", wrappers=[plain])


def test_the_shipped_rate_limit_is_on_by_environment(monkeypatch):
    monkeypatch.setenv("MICRO_RATE_LIMIT", "0.0001,1")  # one request, then none for hours

    async def main():
        svc = local("py.wrap.limited")
        await svc.start()
        try:
            c = svc.client
            assert (await c.call("py.wrap.limited", "Echo.Call", {"n": 1}))["req"] == {"n": 1}
            with pytest.raises(micro.Error) as e:
                await c.call("py.wrap.limited", "Echo.Call", {"n": 2}, retries=0)
            assert e.value.code == 429 and "too many requests" in e.value.detail
        finally:
            await svc.stop()
    run(main())
