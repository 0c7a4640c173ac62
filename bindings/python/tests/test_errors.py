"""What a newcomer sees when something goes wrong (issue #23): a failing handler's log and
detail, the one way to build an error, durations in seconds, a service that was never
started, a publish nobody receives, and wrapping a downstream error. Each test asserts the
message the user reads, not only the code."""
import asyncio
import logging
import subprocess
import threading
import sys
from datetime import timedelta

import pytest

import micro
from conftest import run


def orders(name="py.orders"):
    svc = micro.Service(name, registry="memory", broker="memory", address="127.0.0.1:0")

    @svc.handle("Orders.Place")
    def place(req):
        return {"qty": req["qty"]}  # a KeyError when the caller forgets "qty"

    @svc.handle("Orders.PlaceAsync")
    async def place_async(req):
        return {"qty": req["qty"]}

    @svc.handle("Orders.Slow")
    async def slow(req):
        await asyncio.sleep(req["s"])
        return {}

    @svc.handle("Orders.CheckStock")
    async def check_stock(req):
        try:
            return await svc.client.call("py.inventory", "Inventory.Reserve", {})
        except micro.Error as e:
            if req.get("wrap"):
                raise micro.Error.wrap(e, 502)
            raise  # passed through unchanged, as go-micro does

    return svc


def test_a_raising_handler_is_logged_with_its_traceback_and_its_type_reaches_the_caller(caplog):
    caplog.set_level(logging.ERROR, logger="micro")

    async def main():
        svc = orders()
        await svc.start()
        try:
            for ep in ("Orders.Place", "Orders.PlaceAsync"):
                with pytest.raises(micro.InternalServerError) as e:
                    await svc.client.call(svc.name, ep, {"item": "apple"})
                assert (e.value.id, e.value.code, e.value.detail) == (svc.name, 500, "KeyError: 'qty'")
        finally:
            await svc.stop()
    run(main())
    recs = [r for r in caplog.records if r.name == "micro" and r.levelno == logging.ERROR]
    assert [r.getMessage() for r in recs] == ["handler of Orders.Place failed: KeyError: 'qty'",
                                              "handler of Orders.PlaceAsync failed: KeyError: 'qty'"]
    trace = caplog.text
    assert "Traceback (most recent call last)" in trace and 'return {"qty": req["qty"]}' in trace, trace


def test_errors_are_built_one_way_and_misuse_says_how():
    e = micro.Error("out of stock", code=409, id="py.orders")
    assert (e.id, e.code, e.detail, e.status) == ("py.orders", 409, "out of stock", "Conflict")
    assert (micro.NotFound("no such order", id="py.orders").code, micro.Error("boom", 418).code) == (404, 418)
    form = 'micro.Error("what went wrong", code=409, id="my.service")'
    with pytest.raises(TypeError) as t:
        micro.Error(409, "out of stock")  # type: ignore[arg-type]
    assert str(t.value) == f"micro.Error: the detail (first argument) must be a str, got int 409; write {form}"
    with pytest.raises(TypeError) as t:
        micro.Error("py.orders", "409")  # type: ignore[arg-type]
    assert str(t.value) == f"micro.Error: code must be an int, got str '409'; write {form}"
    with pytest.raises(TypeError) as t:
        micro.Error("py.orders", 409, "out of stock")  # type: ignore[misc]
    assert str(t.value) == ("micro.Error takes the detail and at most the code by position, got 3 values "
                            f"('py.orders', 409, 'out of stock'); write {form}")
    with pytest.raises(TypeError, match="micro.NotFound: id must be a str"):
        micro.NotFound("x", id=7)  # type: ignore[arg-type]


def test_durations_are_seconds_or_timedelta_and_wrong_units_are_named():
    async def main():
        svc = orders()
        await svc.start()
        c = svc.client
        try:
            with pytest.raises(micro.Timeout):
                await c.call(svc.name, "Orders.Slow", {"s": 5}, timeout=timedelta(milliseconds=200))
            with pytest.raises(micro.Timeout):
                await c.call(svc.name, "Orders.Slow", {"s": 5}, timeout=0.2)
            with pytest.raises(micro.BadRequest) as e:
                await c.call(svc.name, "Orders.Slow", {"s": 0}, timeout=-1)
            assert e.value.detail == "timeout must be a positive number of seconds (or a datetime.timedelta), got -1"
            with pytest.raises(micro.BadRequest) as e:
                await c.call(svc.name, "Orders.Slow", {"s": 0}, request_timeout=5000)
            assert e.value.detail == ("request_timeout=5000 is 5000 seconds, more than the 3600 s accepted: Python "
                                      "durations are seconds (0.5 = 500 ms) or a datetime.timedelta, not milliseconds")
            with pytest.raises(TypeError, match="timeout must be seconds"):
                await c.call(svc.name, "Orders.Slow", {"s": 0}, timeout="1s")  # type: ignore[arg-type]
        finally:
            await svc.stop()
    run(main())
    with pytest.raises(micro.BadRequest, match="request_timeout=86400 is 86400 seconds"):
        micro.Client(registry="memory", request_timeout=86400)
    with pytest.raises(micro.BadRequest, match="register_ttl must be a non-negative number of seconds"):
        micro.Service("x", registry="memory", register_ttl=timedelta(seconds=-1))


def test_calling_a_service_this_process_never_started_hints_at_start():
    async def main():
        svc = orders("py.never.started")
        with pytest.raises(micro.NotFound) as e:
            await micro.Client(registry="memory").call("py.never.started", "Orders.Place", {"qty": 1})
        assert e.value.detail == ("service py.never.started: not found in the memory registry; hint: this process "
                                  "created service 'py.never.started' but never started it (svc.run(), or await "
                                  "svc.start() before calling it)")
        with pytest.raises(micro.NotFound) as other:
            await micro.Client(registry="memory").call("py.someone.else", "X.Y", {})
        assert "hint" not in other.value.detail
        await svc.start()
        await svc.stop()
    run(main())


def test_a_service_with_handlers_never_started_warns_at_exit():
    code = ("import micro\n"
            "svc = micro.Service('py.forgotten', registry='memory')\n"
            "@svc.handle('Orders.Place')\n"
            "def place(req): return {}\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ("service 'py.forgotten' was never started, so nobody could call it (Orders.Place): call svc.run(), "
            "or await svc.start() in your async main") in out.stderr, out.stderr
    started = ("import asyncio, micro\n"
               "svc = micro.Service('py.remembered', registry='memory', address='127.0.0.1:0')\n"
               "@svc.handle('Orders.Place')\n"
               "def place(req): return {}\n"
               "async def main():\n"
               "    await svc.start(); await svc.stop()\n"
               "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", started], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "never started" not in out.stderr, out.stderr


def test_publish_with_no_subscriber_is_not_found():
    async def main():
        c = micro.Client(registry="memory", broker="http")
        with pytest.raises(micro.NotFound) as e:
            await c.publish("py.nobody", {"n": 1})
        assert (e.value.id, e.value.code, e.value.status) == ("go.micro.broker", 404, "Not Found")
        assert e.value.detail == ('service micro.http.broker: not found (no subscriber for "py.nobody"; '
                                  "the message stays queued for the next publish)")
    run(main())


def test_a_downstream_error_passes_through_or_is_wrapped_as_502_keeping_its_cause():
    async def main():
        svc = orders()
        await svc.start()
        try:
            with pytest.raises(micro.NotFound) as passed:
                await svc.client.call(svc.name, "Orders.CheckStock", {})
            assert passed.value.id == "go.micro.client"  # inventory's 404 as it was: go-micro's default
            with pytest.raises(micro.Error) as wrapped:
                await svc.client.call(svc.name, "Orders.CheckStock", {"wrap": True})
            w = wrapped.value
            assert (type(w), w.id, w.code, w.status) == (micro.Error, svc.name, 502, "Bad Gateway")
            assert w.detail == ('downstream call failed: {"id": "go.micro.client", "code": 404, "detail": '
                                '"service py.inventory: not found in the memory registry", "status": "Not Found"}')
        finally:
            await svc.stop()
    run(main())
    cause = micro.NotFound("gone", id="x")
    e = micro.Error.wrap(cause, 503)
    assert (type(e), e.code, e.__cause__) == (micro.Unavailable, 503, cause)
    assert micro.Error.wrap(KeyError("qty")).detail == "downstream call failed: KeyError: 'qty'"


def test_the_typed_example_runs():
    """tests/typed/orders.py: what 40-python.sh checks with mypy --strict and pyright, run."""
    from conftest import HERE
    out = subprocess.run([sys.executable, str(HERE / "typed" / "orders.py")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        '503 downstream call failed: {"id": "go.micro.client", "code": 404, "detail": "service typed.inventory: '
        'not found in the memory registry", "status": "Not Found"}',
        "{'n': 0}",
    ], out.stdout


def test_a_timeout_is_final_unless_the_call_is_marked_safe_to_repeat():
    """go-micro servers now and then read a request and never answer it (docs/library.md,
    "Lost requests"). By default a timed-out attempt is final, as go-micro's handlers may not
    be safe to run twice; ``retry_timeouts=True`` re-sends it, so an idempotent call waits one
    short ``timeout`` instead of failing. Here the first request of each key is never answered."""
    async def main():
        svc = micro.Service("py.flaky", registry="memory", broker="memory", address="127.0.0.1:0")
        release = asyncio.Event()
        seen: list[str] = []

        @svc.handle("Flaky.Get")
        async def get(req):
            seen.append(req["k"])
            if seen.count(req["k"]) == 1:
                await release.wait()
            return {"k": req["k"], "n": seen.count(req["k"])}

        await svc.start()
        address = svc.address  # by address: a client's memory registry is its own
        c = micro.Client(registry="memory")
        try:
            with pytest.raises(micro.Timeout):
                await c.call(svc.name, "Flaky.Get", {"k": "a"}, address=address, timeout=1, retries=2)
            # The next call is sent after the 408 came back: had the first been re-sent, its
            # second copy would be in `seen` already.
            assert await c.call(svc.name, "Flaky.Get", {"k": "a"}, address=address) == {"k": "a", "n": 2}
            assert seen == ["a", "a"]

            got = await c.call(svc.name, "Flaky.Get", {"k": "b"}, address=address, timeout=1, retries=2, retry_timeouts=True)
            assert got == {"k": "b", "n": 2}
            r = await c.call_raw(svc.name, "Flaky.Get", {"k": "c"}, address=address, timeout=1, retries=1, retry_timeouts=True)
            assert r.decode() == {"k": "c", "n": 2}

            sc = micro.SyncClient(registry="memory")
            got = await asyncio.to_thread(sc.call_sync, svc.name, "Flaky.Get", {"k": "d"}, address=address, timeout=1, retries=1,
                                          retry_timeouts=True)
            assert got == {"k": "d", "n": 2}

            # A client wrapper may mark a call safe to repeat.
            async def idempotent(call, next):
                call.retry_timeouts = True
                return await next(call)
            wc = micro.Client(registry="memory", wrappers=[idempotent])
            assert await wc.call(svc.name, "Flaky.Get", {"k": "e"}, address=address, timeout=1, retries=1) == {"k": "e", "n": 2}
            assert seen.count("e") == 2

            with pytest.raises(TypeError, match="retry_timeouts"):
                await c.call(svc.name, "Flaky.Get", {"k": "f"}, address=address, retry_timeouts=1)  # type: ignore[arg-type]
        finally:
            release.set()
            await svc.stop()
    run(main())


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("str boom")


class _UnprintableConflict(micro.Conflict):
    def __str__(self):
        raise RuntimeError("str boom")


class _Skipped(micro.Error):
    """A subclass whose __init__ never calls Error.__init__: no id, code or detail."""

    def __init__(self, what):
        self.what = what


def test_an_error_that_cannot_be_sent_as_it_is_still_answers_and_the_service_goes_on(caplog):
    """Whatever a handler raises, its caller gets an answer naming the handler and the
    exception's type, it is logged, and the service keeps answering: async handlers (the
    dispatcher), plain ones (worker threads) and subscribers alike. Before, such an error
    escaped the handler's guard and stopped the dispatcher (every later call: 503) or killed
    a worker thread."""
    async def main():
        svc = micro.Service("py.unsendable", registry="memory", broker="memory", address="127.0.0.1:0")

        def bad_code():
            e = micro.Conflict("taken")
            e.code = "409"  # changed to a str after it was built
            return e

        def handlers(make):
            async def on_async(req):
                raise make()

            def on_plain(req):
                raise make()
            return on_async, on_plain

        raising = {"Unprintable": _Unprintable, "Skipped": lambda: _Skipped("x"), "BadCode": bad_code}
        for name, make in raising.items():
            on_async, on_plain = handlers(make)
            svc.handle(f"U.{name}Async")(on_async)
            svc.handle(f"U.{name}")(on_plain)

        @svc.handle("U.Ok")
        async def ok(req):
            return {"ok": True}

        @svc.handle("U.OkPlain")
        def ok_plain(req):
            return {"ok": True}

        @svc.subscribe("unsendable")
        async def on_message(msg):
            if msg.json().get("bad") == "error":
                raise _UnprintableConflict("taken")
            if msg.json().get("bad"):
                raise _Unprintable()

        await svc.start()
        try:
            c = svc.client
            for name in raising:
                for ep in (f"U.{name}Async", f"U.{name}"):
                    # More calls than worker threads: a killed worker would leave one hanging.
                    for _ in range(6):
                        with pytest.raises(micro.Error) as e:
                            await asyncio.wait_for(c.call(svc.name, ep, {}, address=svc.address), 30)
                        assert e.value.code == 500, (ep, e.value)
                        assert ep in e.value.detail or name == "Unprintable", (ep, e.value.detail)
                    assert await c.call(svc.name, "U.Ok", {}, address=svc.address) == {"ok": True}
                    assert await c.call(svc.name, "U.OkPlain", {}, address=svc.address) == {"ok": True}
            with pytest.raises(micro.Error) as e:
                await c.publish("unsendable", {"bad": True})
            assert e.value.code == 500 and "_Unprintable (its message cannot be read" in e.value.detail, e.value.detail
            # A micro.Error whose str() raises is logged by its description, and fails as itself.
            with pytest.raises(micro.Conflict) as e:
                await c.publish("unsendable", {"bad": "error"})
            assert e.value.detail == "taken"
            await c.publish("unsendable", {"bad": False})
        finally:
            await svc.stop()
    with caplog.at_level(logging.ERROR, logger="micro"):
        run(main())
    text = "\n".join(r.getMessage() for r in caplog.records)  # every record formats
    assert "subscriber of unsendable failed: _UnprintableConflict (its message cannot be read: RuntimeError)" in text
    assert "_Unprintable (its message cannot be read: RuntimeError)" in text
    assert "handler of U.SkippedAsync raised _Skipped, which cannot be sent as an error" in text
    assert "handler of U.BadCode raised Conflict, which cannot be sent as an error" in text


def test_counts_out_of_range_are_a_bad_request_naming_them():
    """A negative `retries` or `pool_size` is a 400 naming it, as Node's client says it,
    not pyo3's bare OverflowError."""
    for kw, name in (({"retries": -1}, "retries"), ({"pool_size": -1}, "pool_size")):
        with pytest.raises(micro.BadRequest, match=f"^400 Bad Request: {name} must be a non-negative integer, got -1"):
            micro.Client(registry="memory", **kw)
    with pytest.raises(micro.BadRequest, match="retries must be at most 4294967295, got 4294967296"):
        micro.Client(registry="memory", retries=2**32)

    async def main():
        svc = micro.Service("py.counts", registry="memory", address="127.0.0.1:0")

        @svc.handle("C.Ok")
        async def ok(req):
            return {}
        await svc.start()
        try:
            with pytest.raises(micro.BadRequest, match="retries must be a non-negative integer, got -2"):
                await svc.client.call(svc.name, "C.Ok", {}, retries=-2)
            s = micro.SyncClient(registry="memory")
            with pytest.raises(micro.BadRequest, match="retries must be a non-negative integer, got -3"):
                await asyncio.to_thread(s.call_sync, svc.name, "C.Ok", {}, retries=-3, address=svc.address)
            assert await svc.client.call(svc.name, "C.Ok", {}, retries=0, address=svc.address) == {}
        finally:
            await svc.stop()
    run(main())


def test_an_answer_nobody_waits_for_is_no_handler_failure(caplog):
    """A handler that returns after its caller gave up (its timeout) has nobody to answer:
    that is logged at debug level, not as the handler failing with a traceback (which it
    used to be, once for every late answer), and the service goes on. Async (started
    natively on 3.10/3.11, then suspended) and plain handlers alike."""
    async def main():
        svc = micro.Service("py.late", registry="memory", address="127.0.0.1:0")
        release = threading.Event()
        entered = {"Late.Async": threading.Event(), "Late.Plain": threading.Event()}
        returned: list[str] = []

        @svc.handle("Late.Async")
        async def late_async(req):
            entered["Late.Async"].set()
            while not release.is_set():
                await asyncio.sleep(0.01)
            returned.append("async")
            return {"late": True}

        @svc.handle("Late.Plain")
        def late_plain(req):
            entered["Late.Plain"].set()
            release.wait()
            returned.append("plain")
            return {"late": True}

        await svc.start()
        try:
            timed_out = 0
            for ep in ("Late.Async", "Late.Plain"):
                # A call that times out before a handler takes it is never handed out (a
                # busy machine): call again until one reached its handler and then timed out.
                for _ in range(100):
                    with pytest.raises(micro.Timeout):
                        await svc.client.call(svc.name, ep, {}, timeout=0.2)
                    timed_out += 1
                    if entered[ep].is_set():
                        break
                assert entered[ep].is_set(), ep

            # The caller's timer fires a little before the server's: a handler released in
            # between would still find the server waiting. The server counts a call that it
            # gave up on among its errors (Debug.Stats) once it no longer waits for it.
            async def server_gave_up():
                while int((await svc.client.call(svc.name, "Debug.Stats", {}))["errors"]) < timed_out:
                    await asyncio.sleep(0.01)
            await asyncio.wait_for(server_gave_up(), 60)
            release.set()

            def late() -> set[str]:
                return {r.getMessage().split(":")[0] for r in caplog.records if "was not sent" in r.getMessage()}

            async def both_answered():  # bounded only so that a failure cannot hang the suite
                while len(set(returned)) < 2 or len(late()) < 2:
                    await asyncio.sleep(0.01)
            await asyncio.wait_for(both_answered(), 60)
            assert await svc.client.call(svc.name, "Late.Async", {}) == {"late": True}
        finally:
            await svc.stop()
    with caplog.at_level(logging.DEBUG, logger="micro"):
        run(main())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    late = sorted({r.getMessage().split(":")[0] for r in caplog.records if "was not sent" in r.getMessage()})
    assert late == ["handler of Late.Async", "handler of Late.Plain"], late
