"""Calls owned by the event loop's thread (issue 18): an ``await client.call`` with nothing
else in flight runs on the loop thread's own runtime, the loop watching its sockets. These
tests check that it is that path, and everything a call must still do on it: answer, time
out, be cancelled, survive its server going away, and work again on a new loop."""
import asyncio
import threading
import time

import pytest

import micro
from micro import _native
from conftest import SCRIPTS, Proc


def pump_readers(loop) -> list[int]:
    """The descriptors `loop` watches with one of micro's pumps."""
    out = []
    for key in loop._selector.get_map().values():
        reader = key.data[0]
        if reader is not None and isinstance(reader._callback, _native.Pump):
            out.append(key.fd)
    return out


def test_a_call_with_nothing_else_in_flight_is_watched_by_the_loop(slow_server):
    async def main():
        c = micro.Client(registry="memory", retries=0)
        before = _native._here_pumps()
        r = await c.call("slow", "Slow.Sleep", {"s": 0}, address=slow_server.address)
        assert r == {"slept": 0}
        loop = asyncio.get_running_loop()
        # The connection the call dialled, watched by this loop; its reply came through it.
        assert len(pump_readers(loop)) == 1, loop._selector.get_map()
        assert _native._here_pumps() > before
        # Sequential calls reuse that connection: no other socket.
        for _ in range(50):
            assert await c.call("slow", "Slow.Sleep", {"s": 0}, address=slow_server.address) == {"slept": 0}
        assert len(pump_readers(loop)) == 1
        # Concurrent calls: the first on this thread, the others on the shared runtime.
        got = await asyncio.gather(*(c.call("slow", "Slow.Sleep", {"s": 0.01 * i}, address=slow_server.address)
                                     for i in range(10)))
        assert got == [{"slept": 0.01 * i} for i in range(10)]
    asyncio.run(main())


def test_a_call_here_times_out(slow_server):
    async def main():
        c = micro.Client(registry="memory", retries=0)
        t0 = time.monotonic()
        task = asyncio.create_task(c.call("slow", "Slow.Sleep", {"s": 30}, address=slow_server.address,
                                          request_timeout=0.5))
        ev = await asyncio.get_running_loop().run_in_executor(None, slow_server.event)
        assert ev == {"event": "call", "s": 30}
        assert pump_readers(asyncio.get_running_loop()), "the call did not run on the loop's thread"
        with pytest.raises(micro.Error) as e:
            await task
        assert e.value.code == 408, e.value
        assert time.monotonic() - t0 < 25, "the timeout fired long after the server would have answered"
        # The next call is answered.
        assert await c.call("slow", "Slow.Sleep", {"s": 0}, address=slow_server.address) == {"slept": 0}
    asyncio.run(main())


def test_a_call_here_is_cancelled(slow_server):
    async def main():
        c = micro.Client(registry="memory", retries=0)
        task = asyncio.create_task(c.call("slow", "Slow.Sleep", {"s": 30}, address=slow_server.address,
                                          request_timeout=60))
        ev = await asyncio.get_running_loop().run_in_executor(None, slow_server.event)
        assert ev == {"event": "call", "s": 30}
        assert pump_readers(asyncio.get_running_loop()), "the call did not run on the loop's thread"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The aborted call let go of its connection; a new call gets an answer at once.
        assert await c.call("slow", "Slow.Sleep", {"s": 0}, address=slow_server.address) == {"slept": 0}
    asyncio.run(main())


def test_a_server_closing_an_idle_connection_does_not_spin_the_loop():
    p = Proc(SCRIPTS / "slow_server.py")
    try:
        ready = p.event()
        address = ready["address"]

        async def main():
            c = micro.Client(registry="memory", retries=0)
            assert await c.call("slow", "Slow.Sleep", {"s": 0}, address=address) == {"slept": 0}
            loop = asyncio.get_running_loop()
            assert len(pump_readers(loop)) == 1
            # The server goes: the pooled connection reads as closed, and nobody reads it.
            await loop.run_in_executor(None, p.stop)
            before = _native._here_pumps()
            # A loop that reported the socket on every pass would pump thousands of times in
            # this while; a muted one pumps once or twice. (On a machine so busy that the loop
            # barely runs meanwhile this cannot fail, only pass.)
            for _ in range(200):
                await asyncio.sleep(0.001)
            pumped = _native._here_pumps() - before
            assert pumped < 20, f"{pumped} pumps with no call in flight"
            with pytest.raises(micro.Error):
                await c.call("slow", "Slow.Sleep", {"s": 0}, address=address, request_timeout=5)
        asyncio.run(main())
    finally:
        p.stop()


def test_a_new_loop_on_the_same_thread_watches_again(slow_server):
    async def one():
        c = micro.Client(registry="memory", retries=0)
        assert await c.call("slow", "Slow.Sleep", {"s": 0}, address=slow_server.address) == {"slept": 0}
        return len(pump_readers(asyncio.get_running_loop()))

    # The pooled connection outlives the first loop; the second loop watches it itself.
    assert asyncio.run(one()) == 1
    assert asyncio.run(one()) == 1

    # Other threads have their own runtime and loop.
    out = []
    t = threading.Thread(target=lambda: out.append(asyncio.run(one())))
    t.start()
    t.join()
    assert out == [1]
