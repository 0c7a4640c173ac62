"""The common call in one native crossing (``Client.call`` / ``SyncClient.call_sync`` with no
option but an address): it sends what the full path sends, and anything it does not take
(another body, any option) still goes the full path."""
import asyncio
import collections
import threading

import pytest

import micro
from conftest import run

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# (body, whether the one-crossing call takes it)
BODIES = [
    ({"name": "x"}, True),
    ({}, True),
    (None, True),
    ([1, "é", None, 2.5, {"k": [True]}], True),
    ({"s": "\u2028\x00\"\\", "big": 2**70}, True),
    (collections.OrderedDict(a=1), False),  # a subclass: the standard library writes it
    ({1: "x"}, False),  # an int key: json writes it as "1"
    (("t", 1), False),  # a tuple body is JSON too, through the full path
    (b"raw", False),
    (float("nan"), False),  # not a dict or list, and not JSON: a TypeError either way
    ({"n": float("nan")}, False),
]


class Counted:
    """Stands in for the native client and counts which calls were made."""

    def __init__(self, native):
        self._native = native
        self.made = collections.Counter()

    def __getattr__(self, name):
        f = getattr(self._native, name)

        def counted(*a, **k):
            r = f(*a, **k)
            self.made[name if r is not None else name + ":declined"] += 1
            if name == "call_value" and r is not None:
                fut, canceller = r
                return fut, CountedCanceller(canceller, self.made)
            return r
        return counted


class CountedCanceller:
    def __init__(self, canceller, made):
        self._canceller = canceller
        self._made = made

    def abort(self):
        self._made["abort"] += 1
        self._canceller.abort()


def echo_service():
    svc = micro.Service("py.callvalue", registry="memory", address="127.0.0.1:0")

    @svc.handle("V.Echo")
    async def echo(req, ctx):
        return {"body": ctx.body.decode("latin-1"), "ct": ctx.content_type,
                "tp": ctx.header.get("Traceparent")}
    return svc


def test_the_one_crossing_call_sends_what_the_full_path_sends():
    async def main():
        svc = echo_service()
        await svc.start()
        c = micro.Client(registry="memory")
        c._c = counted = Counted(c._c)
        try:
            for body, takes in BODIES:
                counted.made.clear()
                try:
                    want = (await c.call_raw(svc.name, "V.Echo", body, address=svc.address)).decode()
                except (micro.Error, TypeError) as e:
                    with pytest.raises(type(e)):
                        await c.call(svc.name, "V.Echo", body, address=svc.address)
                    continue
                got = await c.call(svc.name, "V.Echo", body, address=svc.address)
                assert got == want, (body, got, want)
                assert counted.made["call_value"] == (1 if takes else 0), (body, counted.made)
                assert counted.made["call_value:declined"] == (0 if takes else 1), (body, counted.made)
            # An option sends the call the full path; the body is the same.
            counted.made.clear()
            got = await c.call(svc.name, "V.Echo", {"a": 1}, address=svc.address, timeout=5)
            assert got["body"] == '{"a":1}' and counted.made == {"call": 1}, counted.made
            got = await c.call(svc.name, "V.Echo", {"a": 1}, address=[svc.address])
            assert got["body"] == '{"a":1}' and counted.made["call"] == 2, counted.made
            # A trace in context goes with it as go-micro's Traceparent header.
            token = micro.client._traceparent.set(TRACE)
            try:
                got = await c.call(svc.name, "V.Echo", {}, address=svc.address)
            finally:
                micro.client._traceparent.reset(token)
            assert got["tp"] == TRACE and counted.made["call_value"] == 1, (got, counted.made)
        finally:
            c.close()
            await svc.stop()
    run(main())


def test_the_blocking_one_crossing_call_sends_what_the_full_path_sends():
    async def main():
        svc = echo_service()
        await svc.start()
        c = micro.SyncClient(registry="memory")
        c._c = counted = Counted(c._c)
        problems = []

        def calls():
            try:
                for body, takes in BODIES:
                    counted.made.clear()
                    try:
                        want = c.call_raw_sync(svc.name, "V.Echo", body, address=svc.address).decode()
                    except (micro.Error, TypeError) as e:
                        try:
                            c.call_sync(svc.name, "V.Echo", body, address=svc.address)
                            problems.append((body, "no error"))
                        except (micro.Error, TypeError) as e2:
                            if type(e2) is not type(e):
                                problems.append((body, e, e2))
                        continue
                    got = c.call_sync(svc.name, "V.Echo", body, address=svc.address)
                    if got != want:
                        problems.append((body, got, want))
                    if counted.made["call_value_blocking"] != (1 if takes else 0):
                        problems.append((body, dict(counted.made)))
            except Exception as e:  # surfaced by the assertion below
                problems.append(repr(e))

        # A thread of its own (the service answers on this loop), joined from the executor.
        t = threading.Thread(target=calls)
        t.start()
        await asyncio.get_running_loop().run_in_executor(None, t.join)
        try:
            assert problems == []
        finally:
            c.close()
            await svc.stop()
    run(main())


def test_the_one_crossing_call_fails_as_the_full_path_fails():
    async def main():
        c = micro.Client(registry="memory")
        s = micro.SyncClient(registry="memory")
        try:
            # Nobody serves it: the same NotFound, naming what was looked up.
            with pytest.raises(micro.NotFound) as fast:
                await c.call("py.callvalue.nobody", "V.Echo", {})
            with pytest.raises(micro.NotFound) as full:
                await c.call("py.callvalue.nobody", "V.Echo", {}, timeout=5)
            assert str(fast.value) == str(full.value)
            with pytest.raises(micro.NotFound):
                s.call_sync("py.callvalue.nobody", "V.Echo", {})
            # Wrong types: the same TypeError either way.
            for bad in (lambda cl: cl.call(1, "V.Echo", {}), lambda cl: cl.call("x", None, {})):
                with pytest.raises(TypeError):
                    await bad(c)
            with pytest.raises(TypeError):
                s.call_sync(1, "V.Echo", {})
            with pytest.raises(TypeError):
                await c.call("x", "V.Echo", {}, address=7)
            with pytest.raises(micro.BadRequest):
                await c.call("x", "", {}, address="127.0.0.1:1")
        finally:
            c.close()
            s.close()
    run(main())


def test_a_cancelled_one_crossing_call_lets_go_of_its_connection():
    # A server that reads a request and never answers; it notes when the caller hangs up.
    async def main():
        hung_up = asyncio.Event()
        requests = asyncio.Queue()

        async def conn(reader, writer):
            head = await reader.readuntil(b"\r\n\r\n")
            await requests.put(head)
            await reader.read()  # until the caller closes it
            hung_up.set()
            writer.close()

        server = await asyncio.start_server(conn, "127.0.0.1", 0)
        address = "127.0.0.1:%d" % server.sockets[0].getsockname()[1]
        c = micro.Client(registry="memory", retries=0, request_timeout=600)
        c._c = counted = Counted(c._c)
        try:
            task = asyncio.create_task(c.call("py.callvalue.mute", "V.Echo", {"a": 1}, address=address))
            head = await requests.get()
            assert b"V.Echo" in head, head
            assert counted.made["call_value"] == 1, counted.made
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert counted.made["abort"] == 1, counted.made
            # The next call turns this thread's runtime, which drops the aborted one.
            svc = echo_service()
            await svc.start()
            try:
                assert (await c.call(svc.name, "V.Echo", {}, address=svc.address))["body"] == "{}"
            finally:
                await svc.stop()
            # Its connection is let go (an attempt's own timeout, 5 s, would also end it: the
            # abort itself is what is counted above).
            await asyncio.wait_for(hung_up.wait(), 60)
            assert counted.made["abort"] == 1, "a call that succeeded or failed is not aborted"
        finally:
            c.close()
            server.close()
    run(main())
