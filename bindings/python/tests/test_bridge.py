"""How results cross from the library's threads to an asyncio loop: a bell the loop watches
(no runtime thread takes the GIL to hand a result over), the fallback for a loop that cannot
watch a file descriptor, and loops that end."""
import asyncio
import gc
import weakref

import pytest

import micro
from micro import _native


def greeter(name):
    svc = micro.Service(name, registry="memory", address="127.0.0.1:0")

    @svc.handle("Greeter.Hello")
    async def hello(req):
        return {"message": "Hello " + req["name"]}

    return svc


async def calls(name, n):
    """Serves a greeter on the running loop and calls it `n` times (in flight 10 at a
    time) through the asyncio client; returns the replies' messages."""
    svc = greeter(name)
    await svc.start()
    try:
        client = micro.Client(registry="memory", retries=0)
        out = []
        for i in range(0, n, 10):
            replies = await asyncio.gather(*(client.call(name, "Greeter.Hello", {"name": str(j)}, address=svc.address)
                                             for j in range(i, min(n, i + 10))))
            out += [r["message"] for r in replies]
        return out
    finally:
        await svc.stop()


class Watching(asyncio.SelectorEventLoop):
    """A loop that records the callbacks of the descriptors it is asked to watch."""

    def __init__(self):
        super().__init__()
        self.readers = []

    def add_reader(self, fd, callback, *args):
        self.readers.append(callback)
        return super().add_reader(fd, callback, *args)


class Blind(asyncio.SelectorEventLoop):
    """A loop that cannot watch a file descriptor (as Windows' proactor loop)."""

    def add_reader(self, fd, callback, *args):
        raise NotImplementedError


def run_on(loop, coro):
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def test_results_reach_a_watching_loop_without_a_runtime_thread_taking_the_gil():
    loop = Watching()
    before = _native._gate_attaches()
    got = run_on(loop, calls("bridge.watched", 200))
    assert got == [f"Hello {j}" for j in range(200)]
    # 200 replies to the client and every batch of served requests came through the bell:
    # not one runtime thread entered Python to hand them over.
    assert _native._gate_attaches() - before == 0
    # One bell for the loop, not one per call.
    drainers = [cb for cb in loop.readers if isinstance(cb, _native.Drainer)]
    assert len(drainers) == 1, loop.readers


def test_a_loop_that_cannot_watch_a_descriptor_is_woken_the_old_way():
    loop = Blind()
    gone = weakref.ref(loop)
    before = _native._gate_attaches()
    got = run_on(loop, calls("bridge.blind", 50))
    assert got == [f"Hello {j}" for j in range(50)]
    # Handed over by runtime threads with the GIL (call_soon_threadsafe).
    assert _native._gate_attaches() - before > 0
    del loop
    gc.collect()
    assert gone() is None, "a blind loop is kept alive by its queue"


def test_a_finished_loop_is_not_kept_alive_by_its_queue():
    loops = []

    async def main(i):
        loops.append(weakref.ref(asyncio.get_running_loop()))
        return await calls(f"bridge.runs{i}", 5)

    for i in range(3):  # a queue per loop; each loop's own results
        assert asyncio.run(main(i)) == [f"Hello {j}" for j in range(5)]
    gc.collect()
    assert [r() for r in loops] == [None, None, None]


class Silent:
    """A TCP server that reads what it is sent and never answers; `closed` is set when the
    client side closes its connection."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.got = threading.Event()
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    self.closed.set()
                    return
                self.got.set()


def test_a_call_started_on_the_loops_thread_and_cancelled_lets_go_of_its_connection():
    # With nothing else in flight a call is started on the loop's thread (its request written
    # before `call` returns) and parked until its reply wakes it; cancelled there, it is
    # dropped, and its connection with it. Then calls go on as before.
    silent = Silent()

    async def main():
        # Budgets longer than the waits below: only the abort can close the connection.
        client = micro.Client(registry="memory", retries=0, request_timeout=120)
        task = asyncio.ensure_future(client.call("silent", "S.X", {}, address=silent.address, timeout=60))
        await asyncio.sleep(0)
        assert await asyncio.to_thread(silent.got.wait, 30), "the request never arrived"
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert await asyncio.to_thread(silent.closed.wait, 20), "the cancelled call kept its connection"
        return await calls("bridge.after-cancel", 20)

    assert asyncio.run(main()) == [f"Hello {j}" for j in range(20)]


def test_calls_abandoned_by_a_timeout_let_go_of_their_connections_started_here_or_spawned():
    # A call whose caller stops waiting is aborted, whichever way it was started: the first
    # call below is started on the loop's thread, the second spawned (one is already in
    # flight); `wait_for` gives up on the second and the first is cancelled, and both
    # connections are closed long before any timeout of the calls' own could close them.
    first, second = Silent(), Silent()

    async def main():
        # Budgets longer than the waits below: only the abort can close a connection.
        client = micro.Client(registry="memory", retries=0, request_timeout=120)
        a = asyncio.ensure_future(asyncio.wait_for(client.call("silent", "S.X", {}, address=first.address, timeout=60), 30))
        b = asyncio.ensure_future(asyncio.wait_for(client.call("silent", "S.X", {}, address=second.address, timeout=60), 0.2))
        assert await asyncio.to_thread(first.got.wait, 30), "the first request never arrived"
        assert await asyncio.to_thread(second.got.wait, 30), "the second request never arrived"
        with pytest.raises(asyncio.TimeoutError):
            await b
        assert await asyncio.to_thread(second.closed.wait, 20), "the timed-out call kept its connection"
        a.cancel()
        with pytest.raises(asyncio.CancelledError):
            await a
        assert await asyncio.to_thread(first.closed.wait, 20), "the cancelled call kept its connection"
        return await calls("bridge.after-abandon", 20)

    assert asyncio.run(main()) == [f"Hello {j}" for j in range(20)]
