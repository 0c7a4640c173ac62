"""Python ↔ Python over the memory registry and loopback: bodies (JSON, bytes, protobuf),
errors, streams, types, registry, closed objects, threads and the GIL, lifecycle (stop,
Ctrl-C, exit, fork) and load."""
import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import micro
from micro import _native
from conftest import HERE, SCRIPTS, Proc, protobuf_greeter, run

KEPT = []  # (ServerStream, Context) of finished Greeter.Keep streams
SLOW_STARTED = []  # one entry per Greeter.Slow call that entered its handler


async def until(cond, timeout=10.0, what="condition"):
    """Polls cond() on the event loop until truthy, failing after `timeout` seconds."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.01)


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

    @svc.handle("Greeter.Remote")
    def remote(req, ctx):  # which connection carried the call (the server's Remote header)
        return {"remote": ctx.header.get("Remote", "")}

    @svc.handle("Greeter.Crash")
    def crash(req):
        raise ValueError("handler exploded")

    @svc.handle("Greeter.Slow")
    async def slow(req):
        SLOW_STARTED.append(req["s"])
        await asyncio.sleep(req["s"])
        return {}

    @svc.stream("Greeter.Stream")
    async def stream(s, ctx):
        async for m in s:
            await s.send({"message": "Hello " + m["name"]})

    @svc.stream("Greeter.Keep")
    async def keep(s, ctx):  # answers one message, ends the stream, and leaves its objects behind
        KEPT.append((s, ctx))
        await s.send(await s.recv())

    @svc.handle("Greeter.BadReply")
    async def bad_reply(req):
        return {"ids": {1, 2}}  # a set: not JSON-serialisable

    @svc.handle("Greeter.ObjectReply")
    def object_reply(req):
        return object()

    return svc


def test_json_round_trip_and_sync_handler():
    async def main():
        svc = greeter()
        await svc.start()
        try:
            c = svc.client
            assert await c.call(svc.name, "Greeter.Hello", {"name": "John"}) == {"message": "Hello John"}
            assert await c.call(svc.name, "Greeter.Plain", [1, "x", None]) == {"echo": [1, "x", None]}
            r = await c.call_raw(svc.name, "Greeter.Hello", {"name": "Raw"})
            assert r.body == b'{"message":"Hello Raw"}\n' and r.content_type == "application/json"
            assert await c.call(svc.name, "Greeter.Meta", {}, metadata={"X-User": "ann"}) == {"who": "ann"}
            assert await c.call(svc.name, "Greeter.Hello", {"name": "A"}, address=svc.address) == {"message": "Hello A"}
        finally:
            await svc.stop()
    run(main())


def test_the_context_goes_to_a_second_parameter_only_when_it_asks_for_one():
    """A second parameter with a default keeps it (``lambda req, v=v``, a loop variable
    bound), unless it is named ctx/context or annotated as Context; without a default it
    gets the Context. Before, any second parameter got the Context, so the bound value was
    lost. Async, plain and lambda handlers alike."""
    async def main():
        svc = micro.Service("py.arity", registry="memory", address="127.0.0.1:0")
        for v in ("a", "b"):
            svc.handle(f"Bound.{v}", lambda req, v=v: {"v": v})

        async def async_bound(req, tag="kept"):
            return {"v": tag}

        def ctx_default(req, ctx=None):
            return {"v": type(ctx).__name__}

        async def context_default(req, context=None):
            return {"v": type(context).__name__}

        def annotated(req, c: "micro.Context | None" = None):
            return {"v": type(c).__name__}

        async def required(req, anything):
            return {"v": type(anything).__name__}

        def none():
            return {"v": "none"}

        for name, fn in [("AsyncBound", async_bound), ("CtxDefault", ctx_default),
                         ("ContextDefault", context_default), ("Annotated", annotated),
                         ("Required", required), ("None", none)]:
            svc.handle(f"Arity.{name}", fn)
        await svc.start()
        try:
            c = svc.client
            got = {ep: (await c.call(svc.name, ep, {}))["v"]
                   for ep in ["Bound.a", "Bound.b", "Arity.AsyncBound", "Arity.CtxDefault", "Arity.ContextDefault",
                              "Arity.Annotated", "Arity.Required", "Arity.None"]}
            assert got == {"Bound.a": "a", "Bound.b": "b", "Arity.AsyncBound": "kept", "Arity.CtxDefault": "Context",
                           "Arity.ContextDefault": "Context", "Arity.Annotated": "Context",
                           "Arity.Required": "Context", "Arity.None": "none"}, got
        finally:
            await svc.stop()
    run(main())


def test_a_batch_of_mixed_answers_each_reaches_its_own_call():
    """Replies that did not suspend, ones that did, bytes and errors, all in flight at once,
    each reach their own caller."""
    async def main():
        svc = micro.Service("pytest.batch", registry="memory", address="127.0.0.1:0")

        @svc.handle("B.Mixed")
        async def mixed(req):
            k = req["k"]
            if k % 4 == 1:
                await asyncio.sleep(0)  # suspends: answered from its Task
                return {"k": k, "slept": True}
            if k % 4 == 2:
                return micro.Response(f"bytes {k}".encode(), "application/octet-stream")
            if k % 4 == 3:
                raise micro.Error(f"no {k}", 409)
            return {"k": k}

        await svc.start()
        try:
            c = svc.client
            got = await asyncio.gather(*(c.call_raw(svc.name, "B.Mixed", {"k": k}) for k in range(40)),
                                       return_exceptions=True)
            for k, r in enumerate(got):
                if k % 4 == 3:
                    assert isinstance(r, micro.Error) and r.code == 409 and r.detail == f"no {k}"
                elif k % 4 == 2:
                    assert (r.body, r.content_type) == (f"bytes {k}".encode(), "application/octet-stream")
                elif k % 4 == 1:
                    assert r.body == json.dumps({"k": k, "slept": True}, separators=(",", ":")).encode() + b"\n"
                else:
                    assert r.body == b'{"k":%d}\n' % k
        finally:
            await svc.stop()
    run(main())


def test_bytes_go_as_is_with_their_content_type():
    async def main():
        svc = greeter()
        await svc.start()
        try:
            r = await svc.client.call_raw(svc.name, "Greeter.Bytes", b"\x00\x01\xffabc", content_type="application/protobuf")
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
            # status: what go-micro's errors.New derives for 418 (Go's http.StatusText)
            teapot = micro._native.status_text(418)
            assert (e.value.id, e.value.code, e.value.detail, e.value.status) == ("py.greeter", 418, "teapot %s", teapot)
            with pytest.raises(micro.NotFound) as nf:
                await c.call(svc.name, "Greeter.Fail", {"code": 404, "detail": "gone"})
            assert nf.value.status == "Not Found" and isinstance(nf.value, LookupError)
            with pytest.raises(micro.InternalServerError) as ie:
                await c.call(svc.name, "Greeter.Crash", {})
            assert ie.value.detail == "ValueError: handler exploded" and ie.value.id == svc.name
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


def test_an_address_that_cannot_be_listened_on_says_why_by_its_code():
    """A malformed address (no port, a port over 65535) is a 400 and one another socket
    holds a 409, each naming the address. Before, all were a 500."""
    async def main():
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = "127.0.0.1:%d" % held.getsockname()[1]
        try:
            for address, kind in [("127.0.0.1:99999", micro.BadRequest), ("127.0.0.1", micro.BadRequest),
                                  (taken, micro.Conflict)]:
                svc = micro.Service("py.listen", registry="memory", address=address)
                with pytest.raises(kind) as e:
                    await svc.start()
                assert address in e.value.detail, e.value.detail
        finally:
            held.close()
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
        # The client just cached "not found" (for up to 500 ms, go-micro: 5 s) and learns of
        # the registration through the registry watch: poll, with a deadline.
        end = time.monotonic() + 5
        while True:
            try:
                assert await svc.client.call(svc.name, "Greeter.Hello", {"name": "again"}) == {"message": "Hello again"}
                break
            except micro.NotFound:
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.02)
        await svc.stop()
    run(main())


def test_stop_waits_for_calls_in_flight():
    async def main():
        svc = greeter()
        await svc.start()
        before = len(SLOW_STARTED)
        call = asyncio.create_task(svc.client.call(svc.name, "Greeter.Slow", {"s": 0.5}))
        await until(lambda: len(SLOW_STARTED) > before, what="the slow call reached its handler")
        await svc.stop()
        assert await call == {}
    run(main())


def test_max_concurrency_bounds_handlers_in_flight():
    async def main():
        svc = micro.Service("pytest.bounded", registry="memory", address="127.0.0.1:0", max_concurrency=2)
        running, peak = [0], [0]

        @svc.handle("Bounded.Work")
        async def work(req):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            await asyncio.sleep(0.05)
            running[0] -= 1
            return {"n": req["n"]}

        await svc.start()
        try:
            got = await asyncio.gather(*(svc.client.call(svc.name, "Bounded.Work", {"n": i}) for i in range(8)))
            assert got == [{"n": i} for i in range(8)]
            assert peak[0] == 2, f"{peak[0]} handlers ran at once"
        finally:
            await svc.stop()
        with pytest.raises(micro.Error) as e:
            micro.Service("pytest.bounded", registry="memory", max_concurrency=0)
        assert e.value.code == 400
    run(main())


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_env_options_by_go_micro_names():
    port = free_port()
    # The keyword service's own port, told apart from the environment's: with `:0` the kernel
    # may hand out the port the first service just let go of.
    kwport = free_port()
    while kwport == port:
        kwport = free_port()
    env = dict(os.environ, MICRO_REGISTRY="memory", MICRO_SERVER_ADDRESS=f"127.0.0.1:{port}",
               MICRO_SERVER_VERSION="1.2.3", MICRO_SERVER_METADATA="team=py, zone=a",
               MICRO_SERVER_ID="envsvc-fixed-id")
    code = ("import asyncio, json, micro\n"
            "async def m():\n"
            "  s = micro.Service('envsvc'); await s.start()\n"
            "  try:\n"
            "    got = await s.registry.get_service('envsvc')\n"
            "    names = [x['name'] for x in await s.registry.list_services()]\n"
            "    print(json.dumps({'address': s.address, 'id': s.id, 'services': got, 'names': names}))\n"
            "  finally:\n"
            "    await s.stop()\n"
            f"  k = micro.Service('envkw', version='9.9.9', address='127.0.0.1:{kwport}', id='envkw-1'); await k.start()\n"
            "  try:\n"
            "    print(json.dumps(await k.registry.get_service('envkw')))\n"
            "  finally:\n"
            "    await k.stop()\n"
            "asyncio.run(m())\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    r = json.loads(first)
    assert r["address"] == f"127.0.0.1:{port}" and r["id"] == "envsvc-fixed-id", r
    assert r["names"] == ["envsvc"]
    [svc] = r["services"]
    assert svc["name"] == "envsvc" and svc["version"] == "1.2.3", svc
    [node] = svc["nodes"]
    assert node["id"] == "envsvc-fixed-id" and node["address"] == r["address"]
    assert node["metadata"]["team"] == "py" and node["metadata"]["zone"] == "a", node
    assert node["metadata"]["registry"] == "memory", node  # MICRO_REGISTRY chose the plugin
    assert not svc["endpoints"]  # envsvc serves none
    # Keyword arguments win over the environment.
    [kw] = json.loads(second)
    assert kw["version"] == "9.9.9" and kw["nodes"][0]["id"] == "envkw-1", kw
    assert kw["nodes"][0]["address"] == f"127.0.0.1:{kwport}" and kw["nodes"][0]["metadata"]["team"] == "py", kw


def gil_probe(fn):
    """Runs fn() on this thread while a pure-Python thread spins (it needs the GIL for every
    step). Returns (seconds fn took, spinner steps seen during it, longest gap between them):
    a GIL held by fn starves the spinner for all of fn's time."""
    stop = threading.Event()
    stamps = []

    def spin():
        n = 0
        while not stop.is_set():
            n += 1
            if n % 100 == 0:
                stamps.append(time.monotonic())
    t = threading.Thread(target=spin, daemon=True)
    t.start()
    end = time.monotonic() + 10
    while not stamps and time.monotonic() < end:  # the spinner is running
        time.sleep(0.001)
    t0 = time.monotonic()
    fn()
    t1 = time.monotonic()
    stop.set()
    t.join()
    inside = [x for x in stamps if t0 <= x <= t1]
    points = [t0, *inside, t1]
    return t1 - t0, len(inside), max(b - a for a, b in zip(points, points[1:]))


def test_sync_client_releases_the_gil(slow_server):
    # The handler sleeps in another process, so nothing here needs the GIL but the spinner.
    c = micro.SyncClient(registry="memory")
    out = []
    took, steps, gap = gil_probe(lambda: out.append(
        c.call_sync("slow", "Slow.Sleep", {"s": 2.0}, address=slow_server.address, request_timeout=30)))
    assert out == [{"slept": 2.0}]
    assert took >= 1.9, took
    # The spinner ran throughout (generous: 2 busy cores may deschedule it for a while).
    assert steps >= 100 and gap < 0.7, (took, steps, gap)
    # The probe can tell: a call that keeps the GIL (sum over a range, all in C) starves it.
    took, steps, gap = gil_probe(lambda: sum(range(3 * 10**7)))
    assert gap >= 0.5 * took, (took, steps, gap)


def test_a_blocked_call_sync_takes_the_gil_only_to_return(slow_server):
    """A thread blocked in call_sync checks for signals every 100 ms, the first check after
    100 ms: calls that take a few ms (past the timer's 1 ms resolution) do not attach to
    Python while they wait. One check at once was an extra GIL handoff per call with many
    threads calling."""
    c = micro.SyncClient(registry="memory")
    assert c.call_sync("slow", "Slow.Sleep", {"s": 0.0}, address=slow_server.address) == {"slept": 0.0}

    def calls(n=10):
        for _ in range(n):
            assert c.call_sync("slow", "Slow.Sleep", {"s": 0.02}, address=slow_server.address) == {"slept": 0.02}

    before = _native._gate_attaches()
    calls()
    t = threading.Thread(target=calls)
    t.start()
    t.join()
    assert _native._gate_attaches() - before == 0


def _sigint_as_at_a_terminal():
    """In the child, before Python starts: SIGINT back to its default. A shell without job
    control starts background commands with SIGINT ignored (`cmd &` in a script, as
    `nohup bash .ci/run &` did here), the ignore is inherited, and Python then installs no
    KeyboardInterrupt handler at all; a user at a terminal always has one."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_blocking_calls_from_threads_each_drive_their_own_connection():
    """call_sync drives the call on the calling thread's own runtime (the thread that waits
    reads the reply): a thread keeps one connection for its calls and no later thread, nor
    the asyncio client on the shared runtime, is handed it (the threads run one after the
    other: past one blocked caller per CPU, calls wait on the shared runtime instead). Many
    threads at once, mixing both ways, all get their answers."""
    async def main():
        svc = greeter()
        await svc.start()
        try:
            sc = micro.SyncClient(registry="memory")
            seen = {}

            def caller(i, n=20):
                seen[i] = [sc.call_sync(svc.name, "Greeter.Remote", {}, address=svc.address)["remote"]
                           for _ in range(n)]

            for i in range(4):
                t = threading.Thread(target=caller, args=(i,))
                t.start()
                await asyncio.to_thread(t.join)
            for i, remotes in seen.items():
                assert len(set(remotes)) == 1 and remotes[0], (i, remotes)
            firsts = [seen[i][0] for i in range(4)]
            assert len(set(firsts)) == 4, f"a later thread was handed an exited thread's connection: {firsts}"
            shared = await svc.client.call(svc.name, "Greeter.Remote", {}, address=svc.address)
            assert shared["remote"] not in firsts, (shared, firsts)

            threads = [threading.Thread(target=caller, args=(10 + i, 50)) for i in range(8)]
            for t in threads:
                t.start()
            await asyncio.to_thread(lambda: [t.join() for t in threads])
            assert all(len(seen[10 + i]) == 50 for i in range(8)), {k: len(v) for k, v in seen.items()}
        finally:
            await svc.stop()
    run(main())


def test_ctrl_c_interrupts_a_blocking_call_sync_promptly(slow_server):
    p = Proc(SCRIPTS / "sigint_call.py", slow_server.address, preexec_fn=_sigint_as_at_a_terminal)
    try:
        assert p.line() == "calling"
        assert slow_server.event() == {"event": "call", "s": 60}  # the call is in flight
        # Deadline for a loaded 2-core machine; what is asserted is that the 60 s call was
        # interrupted, not left to run out (signals are checked every 100 ms).
        p.p.send_signal(signal.SIGINT)
        line = p.line(timeout=30)
        print(f"answered SIGINT: {line}")
        assert line.startswith("interrupted "), line
        assert float(line.split()[1]) < 55, line
        assert p.wait(30) == 0, p.stderr()
    finally:
        p.stop()


def test_interpreter_exits_cleanly_with_service_open_and_calls_in_flight(slow_server):
    threads = 8
    p = Proc(SCRIPTS / "exit_open.py", "memory", slow_server.address, threads, stdin=subprocess.PIPE)
    try:
        assert p.line() == "{'message': 'hi'}"
        for _ in range(threads):  # every thread's call reached the slow server
            assert slow_server.event()["event"] == "call"
        t0 = time.monotonic()
        p.p.stdin.write("\n")
        p.p.stdin.flush()
        assert p.line() == "calls in flight"
        assert p.line() == "main done"
        assert p.wait(15) == 0, p.stderr()
        assert p.stderr() == ""  # no fatal error, traceback or panic
        assert time.monotonic() - t0 < 10
    finally:
        p.stop()


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


def test_protobuf_messages_go_as_serialized_bytes():
    proto = protobuf_greeter()

    async def main():
        svc = micro.Service("pytest.proto", registry="memory", address="127.0.0.1:0")

        @svc.handle("Greeter.Proto")
        async def hello(req, ctx):
            assert isinstance(req, bytes) and ctx.content_type == "application/protobuf"
            return proto.answer(req)  # a message: goes out as SerializeToString bytes
        await svc.start()
        try:
            msg = proto.HelloRequest(name="Ann", times=2, blob=b"\x00\xff")
            r = await svc.client.call_raw(svc.name, "Greeter.Proto", msg)  # content type from the message
            assert r.content_type == "application/protobuf"
            reply = proto.HelloReply.FromString(r.body)
            assert reply.message == "Hello Ann (2 bytes)" and list(reply.echoes) == ["Ann", "Ann"]
            # The same bytes by hand, as any other protobuf client would send them.
            raw = await svc.client.call(svc.name, "Greeter.Proto", msg.SerializeToString(),
                                        content_type="application/protobuf")
            assert proto.HelloReply.FromString(raw) == reply
        finally:
            await svc.stop()
    run(main())


def test_unserialisable_replies_are_clear_errors_for_the_caller():
    async def main():
        svc = greeter("pytest.badreply")
        await svc.start()
        try:
            for ep, what in (("Greeter.BadReply", "set"), ("Greeter.ObjectReply", "object")):
                with pytest.raises(micro.InternalServerError) as e:
                    await svc.client.call(svc.name, ep, {})
                assert e.value.id == svc.name and e.value.code == 500, e.value
                assert e.value.detail.startswith(f"{ep}: the handler's reply cannot be sent"), e.value.detail
                assert "not JSON-serialisable" in e.value.detail and what in e.value.detail, e.value.detail
            # The service is fine afterwards.
            assert await svc.client.call(svc.name, "Greeter.Hello", {"name": "ok"}) == {"message": "Hello ok"}
        finally:
            await svc.stop()
    run(main())


def test_registry_shows_real_services():
    async def main():
        svc = greeter("pytest.reg", version="2.0.1", metadata={"zone": "z1"})
        await svc.start()
        try:
            [got] = await svc.registry.get_service("pytest.reg")
            assert got["name"] == "pytest.reg" and got["version"] == "2.0.1"
            [node] = got["nodes"]
            assert node["id"] == svc.id and node["address"] == svc.address
            assert node["metadata"]["zone"] == "z1" and node["metadata"]["protocol"] == "mucp"
            eps = {e["name"]: e for e in got["endpoints"]}
            assert {"Greeter.Hello", "Greeter.Stream", "Greeter.Keep"} <= set(eps)
            assert eps["Greeter.Stream"]["metadata"] == {"stream": "true"}
            assert [s["name"] for s in await svc.registry.list_services()] == ["pytest.reg"]
            assert await svc.registry.get_service("no.such.service") == []
            # A memory registry is one per instance: a new one knows nobody.
            other = micro.Registry("memory")
            assert await other.get_service("pytest.reg") == [] and await other.list_services() == []
        finally:
            await svc.stop()
        assert await svc.registry.get_service("pytest.reg") == []  # deregistered
        with pytest.raises(TypeError):
            await svc.registry.get_service("")
    run(main())
    with pytest.raises(TypeError):
        micro.Registry(5)  # type: ignore[arg-type]
    with pytest.raises(micro.Error, match="unknown registry"):
        micro.Registry("zookeeper")


def native_thread_name():
    with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
        return f.read().strip()


def runtime_thread_count():
    n = 0
    for t in Path("/proc/self/task").iterdir():
        try:
            n += (t / "comm").read_text().strip() == "micro-rt"
        except OSError:
            pass
    return n


def test_handlers_and_subscribers_never_run_on_runtime_threads():
    async def main():
        svc = micro.Service("pytest.threads", registry="memory", broker="memory", address="127.0.0.1:0")
        seen = {}

        def note(kind):
            seen.setdefault(kind, []).append((threading.get_ident(), native_thread_name()))

        @svc.handle("T.Async")
        async def a(req):
            note("async")
            return {}

        @svc.handle("T.Plain")
        def p(req):
            note("plain")
            return {}

        @svc.stream("T.Stream")
        async def st(s):
            async for m in s:
                note("stream")
                await s.send(m)

        @svc.subscribe("t.events")
        async def sub_async(msg):
            note("sub-async")

        @svc.subscribe("t.events")
        def sub_plain(msg):
            note("sub-plain")
        await svc.start()
        try:
            c = svc.client
            await asyncio.gather(*(c.call(svc.name, ep, {}) for ep in ["T.Async", "T.Plain"] * 20))
            s = await c.stream(svc.name, "T.Stream")
            for i in range(5):
                await s.send({"i": i})
                assert await s.recv() == {"i": i}
            await s.close()
            for _ in range(5):
                await c.publish("t.events", {})
        finally:
            await svc.stop()
        return threading.get_ident(), seen
    loop_thread, seen = run(main())
    assert runtime_thread_count() >= 1  # the runtime's threads exist, named micro-rt
    assert set(seen) == {"async", "plain", "stream", "sub-async", "sub-plain"}, set(seen)
    for kind, where in seen.items():
        assert all(name != "micro-rt" for _, name in where), (kind, where)
        if kind != "plain":  # async handlers, streams and subscribers run on the loop itself
            assert {ident for ident, _ in where} == {loop_thread}, (kind, where)
        else:  # plain handlers run in asyncio's worker threads
            assert loop_thread not in {ident for ident, _ in where}, where


def usable_cpus():
    """The CPUs this process may use: its affinity, bounded by a cgroup v2 quota."""
    n = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return n


RUNTIME_THREADS = """
import os, sys
if sys.argv[1] == "one":
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
import asyncio, micro

async def main():
    svc = micro.Service("pytest.cpus", registry="memory", broker="memory", address="127.0.0.1:0")
    await svc.start()
    try:
        print(sum(open(f"/proc/self/task/{t}/comm").read().strip() == "micro-rt" for t in os.listdir("/proc/self/task")))
    finally:
        await svc.stop()

asyncio.run(main())
"""


def test_runtime_threads_follow_the_cpus_the_process_may_use():
    # Two runtime threads on one CPU wake and steal from each other (issue 18): a process that
    # may use one CPU runs one.
    def count(cpus):
        out = subprocess.run([sys.executable, "-c", RUNTIME_THREADS, cpus], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return int(out.stdout)

    assert count("one") == 1
    assert count("all") == min(2, usable_cpus())


def test_closed_client_and_finished_streams_raise_closed_error():
    async def main():
        svc = greeter("pytest.closed")
        await svc.start()
        try:
            c = micro.Client(registry="memory")
            assert not c.closed
            c.close()
            c.close()  # idempotent
            assert c.closed
            for use in (lambda: c.call(svc.name, "Greeter.Hello", {"name": "x"}, address=svc.address),
                        lambda: c.stream(svc.name, "Greeter.Stream", address=svc.address),
                        lambda: c.publish("t", {})):
                with pytest.raises(micro.ClosedError) as e:
                    await use()
                assert (e.value.id, e.value.code) == ("micro.python.closed", 503)
                assert isinstance(e.value, micro.Unavailable) and "client is closed" in e.value.detail
            sc = micro.SyncClient(registry="memory")
            sc.close()
            with pytest.raises(micro.ClosedError):
                sc.call_sync(svc.name, "Greeter.Hello", {"name": "x"}, address=svc.address)
            with pytest.raises(micro.ClosedError):
                sc.publish_sync("t", {})
            # The service's client: closing it gives the next use a fresh one.
            svc.client.close()
            assert await svc.client.call(svc.name, "Greeter.Hello", {"name": "y"}) == {"message": "Hello y"}

            # A client stream: send after close_send, the server's end, close.
            s = await svc.client.stream(svc.name, "Greeter.Stream")
            await s.send({"name": "a"})
            assert await s.recv() == {"message": "Hello a"}
            await s.close_send()
            with pytest.raises(micro.ClosedError, match="send after close_send"):
                await s.send({"name": "b"})
            assert await s.recv() is None  # the handler returned after our EOS
            assert await s.recv() is None  # and the end stays the end
            assert not s.closed
            await s.close()
            await s.close()  # idempotent
            assert s.closed
            for use in (lambda: s.send({"name": "c"}), s.recv, s.close_send):
                with pytest.raises(micro.ClosedError, match="is closed"):
                    await use()
            # The server ended it (Greeter.Keep answers once and returns): send is refused.
            k = await svc.client.stream(svc.name, "Greeter.Keep")
            await k.send({"n": 1})
            assert await k.recv() == {"n": 1}
            assert await k.recv() is None
            with pytest.raises(micro.ClosedError, match="server ended"):
                await k.send({"n": 2})
            await k.close()
            # close() wakes a recv that is waiting.
            w = await svc.client.stream(svc.name, "Greeter.Stream")
            pending = asyncio.create_task(w.recv())
            await asyncio.sleep(0)  # let the task start its recv
            await w.close()
            with pytest.raises(micro.ClosedError):
                await asyncio.wait_for(pending, 10)
            # The server side of a finished stream.
            kept, ctx = KEPT[-1]
            for use in (lambda: kept.send({"late": 1}), kept.recv):
                with pytest.raises(micro.ClosedError, match="has finished"):
                    await use()
            with pytest.raises(micro.client._native.NativeError):
                ctx._req.respond(b"")  # answered already: a Conflict
        finally:
            await svc.stop()
        kept, _ = KEPT[-1]
        with pytest.raises(micro.ClosedError):
            await kept.send({"after": "stop"})
    run(main())


def test_objects_of_a_stopped_service_raise_closed_error():
    # The exit path (Service._close_blocking, what atexit runs) gives up on requests whose
    # handlers are still running: their callers get a 503 at once, and the handlers' objects
    # are closed from then on.
    async def main():
        svc = micro.Service("pytest.abandon", registry="memory", address="127.0.0.1:0")
        held, release = {}, asyncio.Event()

        @svc.handle("Hold.Call")
        async def hold_call(req, ctx):
            held["req"] = ctx._req
            await release.wait()
            return {"late": True}

        @svc.stream("Hold.Stream")
        async def hold_stream(s, ctx):
            held["stream"] = s
            await release.wait()
            await s.send({"late": True})
        await svc.start()
        c = micro.Client(registry="memory")
        call = asyncio.create_task(c.call(svc.name, "Hold.Call", {}, address=svc.address))
        st = await c.stream(svc.name, "Hold.Stream", address=svc.address)
        await until(lambda: len(held) == 2, what="both handlers running")
        svc._close_blocking(5.0)
        with pytest.raises(micro.Unavailable) as e:
            await asyncio.wait_for(call, 10)
        assert e.value.id == svc.name and not isinstance(e.value, micro.ClosedError)  # a remote 503
        with pytest.raises(micro.Error):
            await asyncio.wait_for(st.recv(), 10)  # the stream ended with the same 503
        with pytest.raises(micro.ClosedError, match="nobody is waiting"):
            micro.client._native_call(held["req"].respond, b"{}")
        for use in (lambda: held["stream"].send({}), held["stream"].recv):
            with pytest.raises(micro.ClosedError, match="nobody is waiting"):
                await use()
        release.set()  # the handlers finish into closed objects: nothing breaks
        await st.close()
        await svc.stop()
    run(main())


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


def test_debug_stats_is_served_and_counts_calls():
    """Every service answers go-micro's Debug.Stats (from the library, not advertised):
    protojson strings, requests and errors growing by exactly the calls made."""
    async def main():
        svc = greeter("pytest.stats")
        await svc.start()
        c = svc.client
        try:
            num = lambda s, k: int(s.get(k, "0"))  # noqa: E731 (zero fields are left out)
            before = await c.call(svc.name, "Debug.Stats", {})
            assert all(isinstance(v, str) for v in before.values()), before
            assert num(before, "started") > 0 and num(before, "memory") > 0 and num(before, "threads") > 0, before
            await c.call(svc.name, "Greeter.Hello", {"name": "S"})
            with pytest.raises(micro.Error):
                await c.call(svc.name, "Greeter.Fail", {"code": 418, "detail": "teapot"})
            after = await c.call(svc.name, "Debug.Stats", {})
            assert num(after, "requests") - num(before, "requests") == 3, (before, after)
            assert num(after, "errors") - num(before, "errors") == 1, (before, after)
            assert after["started"] == before["started"]
        finally:
            await svc.stop()
    run(main())
