"""Python ↔ real go-micro (gm5, v5.30.0) and ↔ the Rust greeter client, over mDNS.

Runs only inside the private network namespace (scripts/netns.sh sets MICRO_NETNS=1);
scripts/test.d/40-python.sh sets MICRO_PY_INTEROP=1 so that missing pieces fail instead of
skipping."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import micro
from conftest import ROOT, interop_required, run

GM5 = ROOT / "tests" / "interop" / "go" / "bin" / "gm5"
RUST_CLIENT = ROOT / "target" / "debug" / "client"
EXAMPLE = ROOT / "examples" / "python" / "greeter"

ready = os.environ.get("MICRO_NETNS") == "1" and GM5.exists()
if not ready:
    if interop_required():
        raise RuntimeError(f"interop needs MICRO_NETNS=1 and {GM5}")
    pytestmark = pytest.mark.skip("needs scripts/netns.sh and tests/interop/go/bin/gm5")


def gm5(*args, timeout=30):
    out = subprocess.run([str(GM5), *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


class GoServer:
    def __init__(self, name):
        self.p = subprocess.Popen([str(GM5), "serve", "--name", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.ready = json.loads(self.p.stdout.readline())
        assert self.ready["event"] == "ready"

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(10)


def py_greeter(name):
    svc = micro.Service(name)

    @svc.handle("Greeter.Hello")
    async def hello(req, ctx):
        return {"message": "Hello " + req["name"]}

    @svc.handle("Greeter.Fail")
    def fail(req):
        raise micro.Error(req["detail"], req["code"], id=name)

    @svc.stream("Greeter.Stream")
    async def stream(s, ctx):
        async for m in s:
            await s.send({"message": "Hello " + m["name"]})
    return svc


def test_go_and_rust_clients_call_a_python_service():
    async def main():
        svc = py_greeter("py.interop")
        await svc.start()
        try:
            loop = asyncio.get_running_loop()
            lines = await loop.run_in_executor(None, gm5, "call", "--service", "py.interop", "--endpoint", "Greeter.Hello", "--body", '{"name":"Go"}')
            assert lines == [{"ok": True, "body": '{"message":"Hello Go"}\n', "body_b64": lines[0]["body_b64"]}]
            lines = await loop.run_in_executor(None, gm5, "call", "--service", "py.interop", "--endpoint", "Greeter.Fail", "--body", '{"code":418,"detail":"teapot"}')
            assert lines[0]["error"] == {"id": "py.interop", "code": 418, "detail": "teapot", "status": ""}
            lines = await loop.run_in_executor(None, gm5, "stream", "--service", "py.interop", "--endpoint", "Greeter.Stream", "--names", "a,b,c")
            assert [json.loads(l["body"]) for l in lines] == [{"message": "Hello " + n} for n in "abc"]
            rust = await loop.run_in_executor(None, lambda: subprocess.run([str(RUST_CLIENT), "Rusty", "py.interop"], capture_output=True, text=True, timeout=30))
            assert rust.returncode == 0, rust.stderr
            assert rust.stdout.strip() == "Hello Rusty"
            got = await loop.run_in_executor(None, gm5, "get", "--service", "py.interop")
            assert {e["name"] for e in got[0][0]["endpoints"]} >= {"Greeter.Hello", "Greeter.Fail", "Greeter.Stream"}
            assert got[0][0]["nodes"][0]["metadata"]["protocol"] == "mucp"
        finally:
            await svc.stop()
        gone = gm5("get", "--service", "py.interop")
        assert gone == [[]]
    run(main())


def test_python_client_calls_a_go_service_and_streams():
    go = GoServer("go.for.py")
    try:
        async def main():
            c = micro.Client()
            r = await c.request("go.for.py", "Greeter.Hello", {"name": "Py"})
            assert r.body == b'{"message":"Hello Py"}\n' and r.decode() == {"message": "Hello Py"}
            assert await c.call("go.for.py", "Greeter.Whoami", {}) == {"message": go.ready["id"]}
            with pytest.raises(micro.Error) as e:
                await c.call("go.for.py", "Greeter.Fail", {"code": 418, "detail": "go teapot"})
            assert (e.value.id, e.value.code, e.value.detail) == ("go.greeter", 418, "go teapot")
            with pytest.raises(micro.NotFound):
                await c.call("go.for.py", "Greeter.Fail", {"code": 404, "detail": "x"})
            s = await c.stream("go.for.py", "Greeter.Stream")
            out = []
            for n in ["x", "y"]:
                await s.send({"name": n})
                out.append(await s.recv())
            await s.close()
            assert out == [{"message": "Hello x"}, {"message": "Hello y"}]
            reg = micro.Registry()
            assert "go.for.py" in {s["name"] for s in await reg.list_services()}
        run(main())
    finally:
        go.stop()


def test_ctrl_c_stops_the_example_promptly_and_deregisters():
    p = subprocess.Popen([sys.executable, str(EXAMPLE / "server.py"), "py.sigint"], stderr=subprocess.PIPE, text=True)
    try:
        assert "serving py.sigint" in p.stderr.readline()
        found = gm5("get", "--service", "py.sigint", "--wait-ms", "5000")
        assert found != [[]]
        out = subprocess.run([sys.executable, str(EXAMPLE / "client.py"), "Ex", "py.sigint"], capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == "Hello Ex", out.stderr
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        assert p.wait(5) == 0
        assert time.monotonic() - t0 < 3
        assert gm5("get", "--service", "py.sigint") == [[]]
    finally:
        if p.poll() is None:
            p.kill()
