"""Python ↔ Python over the memory registry and loopback: bodies, errors, streams, types,
lifecycle (stop, exit, fork) and load."""
import asyncio
import gc
import os
import subprocess
import sys
import time

import pytest

import micro
from conftest import HERE, run


def greeter(name="pytest.greeter", **kw):
    svc = micro.Service(name, registry="memory", address="127.0.0.1:0", **kw)

    @svc.handle("Greeter.Hello")
    async def hello(req, ctx):
        return {"message": "Hello " + req["name"]}

    @svc.handle("Greeter.Plain")
    def plain(req):  # a plain function: runs in a worker thread
        return {"echo": req}

    @svc.handle("Greeter.Bytes")
    async def raw(req, ctx):
        assert isinstance(req, bytes)
        return micro.Response(req[::-1], ctx.content_type)

    @svc.handle("Greeter.Meta")
    async def meta(req, ctx):
        return {"who": ctx.header.get("X-User", "")}

    @svc.handle("Greeter.Fail")
    async def fail(req):
        raise micro.Error(req["detail"], req["code"], id="py.greeter")

    @svc.handle("Greeter.Crash")
    def crash(req):
        raise ValueError("handler exploded")

    @svc.handle("Greeter.Slow")
    async def slow(req):
        await asyncio.sleep(req["s"])
        return {}

    @svc.stream("Greeter.Stream")
    async def stream(s, ctx):
        async for m in s:
            await s.send({"message": "Hello " + m["name"]})

    return svc


def test_json_round_trip_and_sync_handler():
    async def main():
        svc = greeter()
        await svc.start()
        try:
            c = svc.client
            assert await c.call(svc.name, "Greeter.Hello", {"name": "John"}) == {"message": "Hello John"}
            assert await c.call(svc.name, "Greeter.Plain", [1, "x", None]) == {"echo": [1, "x", None]}
            r = await c.request(svc.name, "Greeter.Hello", {"name": "Raw"})
            assert r.body == b'{"message":"Hello Raw"}\n' and r.content_type == "application/json"
            assert await c.call(svc.name, "Greeter.Meta", {}, metadata={"X-User": "ann"}) == {"who": "ann"}
            assert await c.call(svc.name, "Greeter.Hello", {"name": "A"}, address=svc.address) == {"message": "Hello A"}
        finally:
            await svc.stop()
    run(main())


def test_bytes_go_as_is_with_their_content_type():
    async def main():
        svc = greeter()
        await svc.start()
        try:
            r = await svc.client.request(svc.name, "Greeter.Bytes", b"\x00\x01\xffabc", content_type="application/protobuf")
            assert r.body == b"cba\xff\x01\x00" and r.content_type == "application/protobuf"
            assert await svc.client.call(svc.name, "Greeter.Bytes", bytearray(b"xy")) == b"yx"
        finally:
            await svc.stop()
    run(main())


def test_errors_keep_id_code_detail_status():
    async def main():
        svc = greeter()
        await svc.start()
        c = svc.client
        try:
            with pytest.raises(micro.Error) as e:
                await c.call(svc.name, "Greeter.Fail", {"code": 418, "detail": "teapot %s"})
            assert (e.value.id, e.value.code, e.value.detail, e.value.status) == ("py.greeter", 418, "teapot %s", "")
            with pytest.raises(micro.NotFound) as nf:
                await c.call(svc.name, "Greeter.Fail", {"code": 404, "detail": "gone"})
            assert nf.value.status == "Not Found" and isinstance(nf.value, LookupError)
            with pytest.raises(micro.InternalServerError) as ie:
                await c.call(svc.name, "Greeter.Crash", {})
            assert ie.value.detail == "handler exploded" and ie.value.id == svc.name
            with pytest.raises(micro.Timeout) as te:
                await c.call(svc.name, "Greeter.Slow", {"s": 2}, timeout=0.2)
            assert isinstance(te.value, TimeoutError) and te.value.code == 408
            with pytest.raises(micro.Error) as ue:
                await c.call(svc.name, "Greeter.Nope", {})
            assert "can't find method Nope" in ue.value.detail
            with pytest.raises(micro.BadRequest):
                await c.call(svc.name, "Greeter.Hello", b"{not json", content_type="application/json")
            with pytest.raises(micro.NotFound):
                await c.call("no.such.service", "X.Y", {})
        finally:
            await svc.stop()
    run(main())


def test_stream_both_directions():
    async def main():
        svc = greeter()
        await svc.start()
        try:
            s = await svc.client.stream(svc.name, "Greeter.Stream")
            got = []
            for n in ["a", "b", "c"]:
                await s.send({"name": n})
                got.append(await s.recv())
            await s.close_send()
            assert [m async for m in s] == []
            assert got == [{"message": "Hello " + n} for n in "abc"]
        finally:
            await svc.stop()
    run(main())


def test_wrong_types_are_clear_python_errors():
    with pytest.raises(TypeError):
        micro.Service(123)  # type: ignore[arg-type]
    svc = greeter()
    with pytest.raises(TypeError, match="callable"):
        svc.handle("X.Y", 42)
    with pytest.raises(TypeError):
        svc.handle("", lambda r: r)
    with pytest.raises(micro.BadRequest):
        micro.Service("")

    async def main():
        await svc.start()
        try:
            with pytest.raises(TypeError, match="JSON-serialisable"):
                await svc.client.call(svc.name, "Greeter.Hello", {"s": {1, 2}})
            with pytest.raises(TypeError, match="pass bytes"):
                await svc.client.call(svc.name, "Greeter.Hello", {"a": 1}, content_type="application/protobuf")
            with pytest.raises(TypeError):
                await svc.client.call(svc.name, "Greeter.Hello", {}, address=[1, 2])
            with pytest.raises(micro.BadRequest):
                await svc.client.call(svc.name, "Greeter.Hello", {}, timeout=-1)
            with pytest.raises(micro.Conflict):
                await svc.start()
        finally:
            await svc.stop()
    run(main())
    with pytest.raises(micro.BadRequest, match="MICRO_CLIENT_RETRIES"):
        env = dict(os.environ, MICRO_CLIENT_RETRIES="lots")
        out = subprocess.run([sys.executable, "-c", "import micro; micro.Client(registry='memory')"],
                             env=env, capture_output=True, text=True)
        assert out.returncode != 0
        raise micro.BadRequest(out.stderr)


def test_stopped_service_refuses_calls_and_restarts():
    async def main():
        svc = greeter()
        await svc.start()
        addr = svc.address
        await svc.stop()
        assert not svc.running
        with pytest.raises(micro.Error):
            await svc.client.call(svc.name, "Greeter.Hello", {"name": "x"}, address=addr, retries=0)
        with pytest.raises(micro.NotFound):
            await svc.client.call(svc.name, "Greeter.Hello", {"name": "x"})
        await svc.start()
        assert await svc.client.call(svc.name, "Greeter.Hello", {"name": "again"}) == {"message": "Hello again"}
        await svc.stop()
    run(main())


def test_stop_waits_for_calls_in_flight():
    async def main():
        svc = greeter()
        await svc.start()
        call = asyncio.create_task(svc.client.call(svc.name, "Greeter.Slow", {"s": 0.5}))
        await asyncio.sleep(0.1)
        await svc.stop()
        assert await call == {}
    run(main())


def test_env_options_by_go_micro_names():
    env = dict(os.environ, MICRO_REGISTRY="memory", MICRO_SERVER_ADDRESS="127.0.0.1:0",
               MICRO_SERVER_VERSION="1.2.3", MICRO_SERVER_METADATA="team=py")
    code = ("import asyncio, micro\n"
            "async def m():\n"
            "  s = micro.Service('envsvc'); await s.start()\n"
            "  r = await micro.Registry.__new__(micro.Registry) if False else None\n"
            "  assert s.address.startswith('127.0.0.1:'), s.address\n"
            "  import json; eps = json.loads(s._n.endpoints_json())\n"
            "  await s.stop()\n"
            "asyncio.run(m()); print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_sync_client_releases_the_gil():
    import threading
    svc = greeter()
    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    asyncio.run_coroutine_threadsafe(svc.start(), loop).result(10)
    try:
        c = micro.SyncClient(registry="memory")
        ticks = []
        ticker = threading.Thread(target=lambda: [ticks.append(time.sleep(0.01)) for _ in range(30)])
        ticker.start()
        assert c.call_sync(svc.name, "Greeter.Slow", {"s": 0.5}, address=svc.address) == {}
        ticker.join()
        assert len(ticks) == 30  # the other thread ran while we were blocked
        assert c.call_sync(svc.name, "Greeter.Hello", {"name": "s"}, address=svc.address) == {"message": "Hello s"}
    finally:
        asyncio.run_coroutine_threadsafe(svc.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)


def test_interpreter_exits_cleanly_with_service_open():
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, str(HERE / "scripts" / "exit_open.py")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "main done" in out.stdout and "Fatal" not in out.stderr
    assert time.monotonic() - t0 < 10


def test_fork_child_gets_fresh_runtime_and_old_objects_refuse():
    out = subprocess.run([sys.executable, str(HERE / "scripts" / "fork_child.py")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fork ok" in out.stdout


def test_fork_while_serving_and_calling_from_threads():
    # The fork hooks keep runtime threads out of the interpreter while it is copied: a
    # child forked at any moment of the parent's traffic builds a working service.
    out = subprocess.run([sys.executable, str(HERE / "scripts" / "fork_busy.py"), "25"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "children ok 25" in out.stdout, out.stdout + out.stderr


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_load_10k_calls_100_in_flight_rss_stable():
    async def round_(client, name, n=10_000, inflight=100):
        sem = asyncio.Semaphore(inflight)
        errors = 0

        async def one(i):
            nonlocal errors
            async with sem:
                try:
                    r = await client.call(name, "Greeter.Hello", {"name": str(i)})
                    if r != {"message": f"Hello {i}"}:
                        errors += 1
                except micro.Error:
                    errors += 1
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return errors, time.perf_counter() - t0

    async def main():
        svc = greeter("load.greeter")
        await svc.start()
        try:
            e1, t1 = await round_(svc.client, svc.name)
            gc.collect()
            r1 = rss_kib()
            e2, t2 = await round_(svc.client, svc.name)
            gc.collect()
            r2 = rss_kib()
        finally:
            await svc.stop()
        print(f"\nload: round1 {10000 / t1:.0f} calls/s rss {r1} KiB; round2 {10000 / t2:.0f} calls/s rss {r2} KiB "
              f"({(r2 - r1) * 100 / r1:+.1f}%)")
        assert e1 == 0 and e2 == 0
        assert abs(r2 - r1) <= r1 * 0.10, (r1, r2)
    run(main())
