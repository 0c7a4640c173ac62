"""Handlers start at once, without a Task, and a Task goes on only for one that suspends
(micro/_eager.py): what a handler can see of asyncio must be what it sees in a Task."""

import asyncio
import contextvars
import logging
import subprocess
import sys
import traceback

import pytest

import micro
from conftest import run

SEEN = contextvars.ContextVar("SEEN", default=None)


def service(name):
    return micro.Service(name, registry="memory", address="127.0.0.1:0")


def test_current_task_is_there_before_and_after_the_first_await():
    async def main():
        svc = service("pytest.eager.task")
        seen = []

        @svc.handle("E.Task")
        async def task(req):
            before = asyncio.current_task()
            if req["wait"]:
                await asyncio.sleep(0.01)
            after = asyncio.current_task()
            seen.append((before is not None, after is not None, before is dispatcher))
            return {"done": after.done() is False if after is not None else None}

        await svc.start()
        dispatcher = svc._dispatcher
        try:
            for wait in (False, True):
                assert await svc.client.call(svc.name, "E.Task", {"wait": wait}) == {"done": True}
            assert seen == [(True, True, False), (True, True, False)], seen
        finally:
            await svc.stop()
    run(main())


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout and TaskGroup are Python 3.11+")
def test_timeout_and_task_group_in_a_handler_act_on_the_request_alone():
    async def main():
        svc = service("pytest.eager.timeout")

        @svc.handle("E.Timeout")
        async def timeout(req):
            try:
                async with asyncio.timeout(req["t"]):
                    await asyncio.sleep(req["s"])
            except TimeoutError:
                return {"timed_out": True}
            return {"timed_out": False}

        @svc.handle("E.Group")
        async def group(req):
            async def fail():
                await asyncio.sleep(0.01)
                raise ValueError("child failed")
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(fail())
                    tg.create_task(asyncio.sleep(30))
            except Exception as e:  # an ExceptionGroup holding the child's ValueError
                return {"group": [type(x).__name__ for x in getattr(e, "exceptions", [e])]}
            return {"group": "finished"}

        await svc.start()
        try:
            c = svc.client
            assert await c.call(svc.name, "E.Timeout", {"t": 0.02, "s": 30}) == {"timed_out": True}
            assert await c.call(svc.name, "E.Timeout", {"t": 30, "s": 0}) == {"timed_out": False}
            assert await c.call(svc.name, "E.Group", {}) == {"group": ["ValueError"]}
            # The service's own dispatch was not cancelled by any of them: it still answers.
            assert await c.call(svc.name, "E.Timeout", {"t": 30, "s": 0.01}) == {"timed_out": False}
            assert not svc._dispatcher.done()
        finally:
            await svc.stop()
    run(main())


def test_a_task_a_handler_keeps_or_cancels_is_never_another_requests_task():
    # The stand-in task of a handler that never waits is reused for the next request only when
    # nothing holds it and nobody cancelled it.
    async def main():
        svc = service("pytest.eager.reuse")
        kept = []

        @svc.handle("E.Keep")
        async def keep(req):
            t = asyncio.current_task()
            if req.get("keep"):
                kept.append(t)
            if req.get("cancel"):
                t.cancel()  # asked before any await: the request's own next await is cancelled
            if req.get("wait"):
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    return {"cancelled": True, "id": id(t)}
            return {"cancelled": False, "id": id(t)}

        await svc.start()
        try:
            c = svc.client
            first = await c.call(svc.name, "E.Keep", {"keep": True})
            for _ in range(3):
                r = await c.call(svc.name, "E.Keep", {})
                assert r["id"] != first["id"], "a kept task was handed to another request"
            assert kept[0].cancelling() == 0
            # A cancel() asked of a task whose handler then waits cancels that wait.
            assert (await c.call(svc.name, "E.Keep", {"cancel": True, "wait": True}))["cancelled"] is True
            # One asked by a handler that never waits is not passed on to the next request.
            assert (await c.call(svc.name, "E.Keep", {"cancel": True}))["cancelled"] is False
            for _ in range(3):
                assert (await c.call(svc.name, "E.Keep", {"wait": True}))["cancelled"] is False
        finally:
            await svc.stop()
    run(main())


def test_context_variables_stay_with_their_request():
    async def main():
        svc = service("pytest.eager.context")

        @svc.handle("E.Ctx")
        async def ctx(req):
            assert SEEN.get() is None, "a variable set by another request leaked in"
            SEEN.set(req["n"])
            if req["n"] % 2:
                await asyncio.sleep(0.005)
            return {"n": SEEN.get()}

        await svc.start()
        try:
            got = await asyncio.gather(*(svc.client.call(svc.name, "E.Ctx", {"n": i}) for i in range(40)))
            assert got == [{"n": i} for i in range(40)]
            assert SEEN.get() is None
        finally:
            await svc.stop()
    run(main())


def test_a_suspended_handler_cancelled_by_stop_answers_503():
    async def main():
        svc = service("pytest.eager.stop")
        entered, cancelled = asyncio.Event(), []

        @svc.handle("E.Forever")
        async def forever(req):
            entered.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            return {}

        await svc.start()
        call = asyncio.create_task(svc.client.call(svc.name, "E.Forever", {}, timeout=60))
        await entered.wait()
        (task,) = svc._tasks
        task.cancel()  # what the loop's end does to a request left running
        with pytest.raises(micro.Error) as e:
            await call
        assert e.value.code == 503 and cancelled == [True]
        await svc.stop()
    run(main())


def test_a_handler_that_catches_a_cancellation_and_awaits_again_goes_on():
    async def main():
        svc = service("pytest.eager.recancel")
        entered = asyncio.Event()

        @svc.handle("E.Stubborn")
        async def stubborn(req):
            entered.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await asyncio.sleep(0.01)  # cleans up, then answers anyway
                return {"after": "cancel"}
            return {}

        await svc.start()
        try:
            call = asyncio.create_task(svc.client.call(svc.name, "E.Stubborn", {}))
            await entered.wait()
            (task,) = svc._tasks
            task.cancel()
            assert await call == {"after": "cancel"}
        finally:
            await svc.stop()
    run(main())


def test_many_handlers_that_never_wait_make_no_task():
    async def main():
        svc = service("pytest.eager.notask")
        tasks = []

        @svc.handle("E.Quick")
        async def quick(req):
            tasks.append(asyncio.current_task())
            return {"n": req["n"]}

        await svc.start()
        try:
            made = []
            loop = asyncio.get_running_loop()
            orig = loop.create_task

            def counting(coro, **kw):
                made.append(getattr(coro, "__qualname__", type(coro).__name__))
                return orig(coro, **kw)
            loop.create_task = counting
            try:
                got = await asyncio.gather(*(svc.client.call(svc.name, "E.Quick", {"n": i}) for i in range(20)))
            finally:
                del loop.create_task
            assert got == [{"n": i} for i in range(20)]
            assert not any("_Resume" in m or "_answer" in m for m in made), made
            assert all(t is not None for t in tasks)
        finally:
            await svc.stop()
    run(main())


def test_plain_def_handlers_run_on_worker_threads_concurrently():
    """Plain functions are answered by worker threads that pull their calls themselves
    (micro/service.py `_serve_threaded`): never on the loop, several at once, each call
    with its own trace context, and an awaitable they return is awaited on the loop."""
    import threading

    from micro.client import _traceparent

    async def main():
        svc = service("pytest.eager.threaded")
        loop_thread = threading.get_ident()
        barrier = threading.Barrier(4, timeout=20)

        @svc.handle("T.Where")
        def where(req):
            return {"on_loop": threading.get_ident() == loop_thread, "name": threading.current_thread().name}

        @svc.handle("T.Together")
        def together(req):
            barrier.wait()  # passes only when four calls are in their handlers at once
            return {"n": req["n"]}

        @svc.handle("T.Trace")
        def trace(req):
            return {"tp": _traceparent.get()}

        @svc.handle("T.Later")
        def later(req):
            async def answer():
                await asyncio.sleep(0)
                return {"later": req["x"] * 2}
            return answer()

        await svc.start()
        try:
            c = svc.client
            w = await c.call(svc.name, "T.Where", {})
            assert w["on_loop"] is False and w["name"].startswith("micro-pytest.eager.threaded-"), w
            got = await asyncio.gather(*(c.call(svc.name, "T.Together", {"n": i}) for i in range(4)))
            assert got == [{"n": i} for i in range(4)]
            tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            for _ in range(3):  # the same worker threads, one call with a trace context, one without
                assert await c.call(svc.name, "T.Trace", {}, metadata={"Traceparent": tp}) == {"tp": tp}
                assert await c.call(svc.name, "T.Trace", {}) == {"tp": None}
            assert await c.call(svc.name, "T.Later", {"x": 21}) == {"later": 42}
        finally:
            await svc.stop()
    run(main())


@pytest.mark.parametrize("stop", [True, False], ids=["stopped", "left-running"])
def test_worker_threads_never_wake_into_a_finalizing_interpreter(stop):
    # The workers wake when the service stops (by `stop()` or at exit). One handed the GIL
    # after finalization began would be ended by CPython with pthread_exit through Rust
    # frames: "FATAL: exception not rethrown" and SIGABRT (one run in ten, before the gate).
    code = ("import asyncio, micro\n"
            "svc = micro.Service('py.exit', registry='memory', address='127.0.0.1:0')\n"
            "@svc.handle('Orders.Place')\n"
            "def place(req): return {}\n"
            "async def main():\n"
            "    await svc.start()\n"
            f"    {'await svc.stop()' if stop else 'pass'}\n"
            "asyncio.run(main())\n")
    for i in range(25):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stderr == "", f"run {i}: {out.returncode} {out.stderr}"


class _AlwaysQueued:
    """A native service whose queue is never empty while `flooding()`: its
    `try_next_requests` waits (GIL released) for the next flooded request rather than give
    back an empty batch, so the dispatcher never waits on the loop by itself."""

    def __init__(self, native, flooding):
        self._native, self._flooding = native, flooding

    def __getattr__(self, name):
        return getattr(self._native, name)

    def try_next_requests(self, max):
        import time
        while True:
            batch = self._native.try_next_requests(max)
            if batch or not self._flooding():
                return batch
            time.sleep(0.0005)


def test_a_suspended_handler_finishes_while_the_queue_stays_full():
    """The dispatcher takes what is queued without a wait, and yields to the loop after each
    such batch: a handler that suspended finishes while others keep the queue full, rather
    than only once the flood is over (it fails so when the yield is taken out)."""
    import threading

    async def main():
        svc = service("pytest.eager.full")
        flooders, cap = 2, 300
        started, resumed = threading.Event(), threading.Event()
        sent = []  # one entry per flooded call answered
        flooded_at_resume = []

        @svc.handle("E.Suspend")
        async def suspend(req):
            started.set()
            await asyncio.sleep(0)
            flooded_at_resume.append(len(sent))
            resumed.set()
            return {"ok": True}

        @svc.handle("E.Fast")
        async def fast(req):
            return {}

        done = []
        svc._n = _AlwaysQueued(svc._n, lambda: started.is_set() and len(done) < flooders)
        await svc.start()
        try:
            def flood():
                c = micro.SyncClient(registry="memory")
                started.wait()
                try:
                    n = 0
                    while not resumed.is_set() and n < cap:
                        c.call_sync(svc.name, "E.Fast", {}, address=svc.address)
                        sent.append(1)
                        n += 1
                finally:
                    done.append(1)

            threads = [threading.Thread(target=flood) for _ in range(flooders)]
            for t in threads:
                t.start()
            assert await svc.client.call(svc.name, "E.Suspend", {}, address=svc.address) == {"ok": True}
            for t in threads:
                await asyncio.get_running_loop().run_in_executor(None, t.join)
            # Without the yield it resumes only after both flooders gave up (600 calls).
            assert flooded_at_resume and flooded_at_resume[0] < flooders * cap, (flooded_at_resume, len(sent))
        finally:
            await svc.stop()
    run(main())


def test_every_way_of_pulling_a_batch_refuses_a_batch_of_none():
    """`next_requests`, `try_next_requests` and `next_threaded_requests` all refuse
    `max=0` with a 400 naming it, before they look at the queue."""
    from micro import _native

    svc = service("pytest.eager.max")
    n = svc._n
    for pull in (n.next_requests, n.try_next_requests, n.next_threaded_requests):
        with pytest.raises(_native.NativeError) as e:
            pull(0)
        _id, code, detail, _status = e.value.args
        assert (code, detail) == (400, "max must be at least 1"), (pull, e.value.args)
    # A batch of one is taken as asked: nothing is queued, so nothing comes back at once.
    assert n.try_next_requests(1) == []


def test_a_handler_cancelled_in_its_first_step_fails_its_call_and_the_service_goes_on():
    """A handler that awaits a future cancelled already raises CancelledError without ever
    suspending. Its call fails with a 503 naming it, as a Task's would, and the service
    keeps answering: the dispatcher that started it never sees the cancellation (before,
    on Python 3.10/3.11, it stopped there and every later call got "shutting down")."""
    async def main():
        svc = micro.Service("pytest.eager.firstcancel", registry="memory", broker="memory",
                            address="127.0.0.1:0")
        seen = []

        @svc.handle("E.Cancel")
        async def cancel(req):
            f = asyncio.get_running_loop().create_future()
            f.cancel()
            await f

        @svc.handle("E.Later")
        async def later(req):
            f = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(f.cancel)
            await f  # suspends, then is cancelled: the Task path

        @svc.handle("E.Ok")
        async def ok(req):
            return {"ok": True}

        @svc.subscribe("first.cancel")
        async def on_message(msg):
            seen.append(msg.json())
            if msg.json().get("cancel"):
                f = asyncio.get_running_loop().create_future()
                f.cancel()
                await f

        await svc.start()
        try:
            for ep in ("E.Cancel", "E.Later"):
                with pytest.raises(micro.Unavailable) as e:
                    await svc.client.call(svc.name, ep, {}, address=svc.address)
                assert e.value.detail == f"{ep}: the handler was cancelled", e.value.detail
                assert await svc.client.call(svc.name, "E.Ok", {}, address=svc.address) == {"ok": True}
            # A subscriber alike: the memory broker hands its 503 back to the publisher.
            with pytest.raises(micro.Unavailable) as e:
                await svc.client.publish("first.cancel", {"cancel": True})
            assert e.value.detail == "subscriber of first.cancel: the handler was cancelled"
            await svc.client.publish("first.cancel", {"cancel": False})
            assert seen == [{"cancel": True}, {"cancel": False}]
            assert not svc._dispatcher.done()
        finally:
            await svc.stop()
    run(main())


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the native starter serves Python 3.10 and 3.11")
def test_the_native_starter_answers_each_outcome_as_the_python_path_does(caplog):
    """`async def` handlers' calls start natively (`_native.start_batch`, issue 18); every way a
    handler can end answers as `Service._answer` answers it: a plain reply written natively,
    bytes and None through Python, errors and unsendable replies as 500s naming them, a
    micro.Error as itself, a handler that suspends answered from its Task (with a reply or an
    error), the Context, context variables kept per request, and a handler added after start.
    A body that is not JSON still goes through Python. Each handler's caller frame tells
    which path started it."""
    async def main():
        svc = service("pytest.eager.native")

        @svc.handle("N.Dict")
        async def plain(req):
            # Started natively, the handler's first step is called from the dispatcher's own
            # frame (through `_native.Starter.start_batch`); through Python, from `_answer`.
            return {"hello": req["name"], "task": type(asyncio.current_task()).__name__,
                    "caller": sys._getframe(1).f_code.co_name}

        @svc.handle("N.Bytes")
        async def raw(req):
            return b"raw"

        @svc.handle("N.None")
        async def nothing(req):
            return None

        @svc.handle("N.Raise")
        async def boom(req):
            raise KeyError("qty")

        @svc.handle("N.Error")
        async def gone(req):
            raise micro.NotFound("gone")

        @svc.handle("N.Unsendable")
        async def unsendable(req):
            return {"x": object()}

        @svc.handle("N.Suspend")
        async def suspend(req):
            await asyncio.sleep(0.001)
            return {"after": True, "task": type(asyncio.current_task()).__name__}

        @svc.handle("N.SuspendRaise")
        async def suspend_raise(req):
            await asyncio.sleep(0.001)
            raise micro.Conflict("late")

        @svc.handle("N.Ctx")
        async def with_ctx(req, ctx):
            return {"endpoint": ctx.endpoint}

        @svc.handle("N.Var")
        async def var(req):
            before = SEEN.get()
            SEEN.set(req["v"])
            return {"before": before}

        @svc.handle("N.Len")
        async def length(req):
            return {"len": len(req), "caller": sys._getframe(1).f_code.co_name}

        await svc.start()
        try:
            c = svc.client

            @svc.handle("N.Late")
            async def late(req):
                return {"late": True}

            got = await asyncio.gather(*[c.call(svc.name, "N.Dict", {"name": str(i)}) for i in range(20)])
            assert got == [{"hello": str(i), "task": "_Pending", "caller": "_dispatch"} for i in range(20)]
            assert (await c.call_raw(svc.name, "N.Bytes", {})).body == b"raw"
            assert (await c.call_raw(svc.name, "N.None", {})).body == b"{}\n"  # as go-micro answers nil
            with pytest.raises(micro.InternalServerError) as e:
                await c.call(svc.name, "N.Raise", {})
            assert e.value.detail == "KeyError: 'qty'"
            with pytest.raises(micro.NotFound) as e:
                await c.call(svc.name, "N.Error", {})
            assert e.value.detail == "gone"
            with pytest.raises(micro.InternalServerError) as e:
                await c.call(svc.name, "N.Unsendable", {})
            assert "N.Unsendable" in e.value.detail and "cannot be sent" in e.value.detail
            assert await c.call(svc.name, "N.Suspend", {}) == {"after": True, "task": "Task"}
            with pytest.raises(micro.Conflict) as e:
                await c.call(svc.name, "N.SuspendRaise", {})
            assert e.value.detail == "late"
            assert await c.call(svc.name, "N.Ctx", {}) == {"endpoint": "N.Ctx"}
            assert [await c.call(svc.name, "N.Var", {"v": v}) for v in "ab"] == [{"before": None}] * 2
            assert await c.call(svc.name, "N.Late", {}) == {"late": True}
            # A body Python decodes: the call goes through `_answer`, and answers the same.
            assert await c.call(svc.name, "N.Len", b"12345", content_type="application/octet-stream") == \
                {"len": 5, "caller": "_answer"}
            assert await c.call(svc.name, "N.Len", {"a": 1}) == {"len": 1, "caller": "_dispatch"}
        finally:
            await svc.stop()
    with caplog.at_level(logging.ERROR, logger="micro"):
        run(main())
    # What a handler raised is logged with its traceback, down to the handler's own line.
    [rec] = [r for r in caplog.records if r.getMessage() == "handler of N.Raise failed: KeyError: 'qty'"]
    assert rec.exc_info and "raise KeyError(\"qty\")" in "".join(traceback.format_exception(*rec.exc_info))
