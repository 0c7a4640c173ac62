import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent.parent
SCRIPTS = HERE / "scripts"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def py():
    """The interpreter running the suite (the venv's)."""
    return sys.executable


def interop_required() -> bool:
    return os.environ.get("MICRO_PY_INTEROP") == "1"


def protobuf_greeter():
    """The proto_greeter module (real google.protobuf classes). Outside the suite a missing
    protobuf skips the test; inside it (MICRO_PY_INTEROP=1, which installs protobuf) it fails."""
    if interop_required():
        import proto_greeter
        return proto_greeter
    return pytest.importorskip("proto_greeter", reason="needs protobuf (pip install protobuf)")


class Proc:
    """A helper script in its own process, its stdout read line by line with deadlines."""

    def __init__(self, *args, stdin=None, **kw):
        self.p = subprocess.Popen([sys.executable, *map(str, args)], stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, **kw)
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._pump, args=(self.p.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.p.stderr, self.err.append), daemon=True).start()

    @staticmethod
    def _pump(f, put):
        for line in f:
            put(line)
        put(None)

    def line(self, timeout=30.0) -> str:
        """The next stdout line; fails after `timeout` seconds or at EOF."""
        try:
            got = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from {self.p.args} within {timeout} s; stderr: {self.stderr()}") from None
        if got is None:
            raise AssertionError(f"{self.p.args} ended (rc={self.p.wait()}); stderr: {self.stderr()}")
        return got.rstrip("\n")

    def event(self, timeout=30.0) -> dict:
        return json.loads(self.line(timeout))

    def stderr(self) -> str:
        return "".join(x for x in self.err if x)

    def wait(self, timeout=30.0) -> int:
        return self.p.wait(timeout)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def slow_server():
    """The slow server (scripts/slow_server.py) in its own process; yields the Proc with
    `.address` set."""
    p = Proc(SCRIPTS / "slow_server.py")
    try:
        ready = p.event()
        assert ready["event"] == "ready", ready
        p.address = ready["address"]
        yield p
    finally:
        p.stop()


def deadline_poll(cond, timeout=10.0, every=0.02, what="condition"):
    """Polls `cond()` until it is truthy (returns its value) or fails after `timeout` s."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(every)
