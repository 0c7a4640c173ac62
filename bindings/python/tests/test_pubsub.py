"""Pub/sub: local tests on the memory broker, and Python ↔ go-micro (gm5, gm4, gm6) over go-micro's
http broker inside the private namespace (mDNS), as the other interop tests."""
import asyncio
import base64
import json
import logging
import os
import subprocess
import threading

import pytest

import micro
from conftest import ROOT, interop_required, run

GO_BIN = ROOT / "tests" / "interop" / "go" / "bin"
# The go-micro peers each interop test runs against (tests/interop/go/README.md).
PEERS = ["gm5", "gm4", "gm6"]
in_netns = os.environ.get("MICRO_NETNS") == "1" and all((GO_BIN / gm).exists() for gm in PEERS)
needs_netns = pytest.mark.skipif(not in_netns and not interop_required(), reason="needs scripts/netns.sh and gm5, gm4, gm6")


def local(name, **kw):
    return micro.Service(name, registry="memory", broker="memory", address="127.0.0.1:0", **kw)


def test_subscribe_async_and_plain_handlers_run_on_the_loop():
    async def main():
        svc = local("py.ps.local")
        got, threads = [], []

        @svc.subscribe("events")
        async def on_async(msg):
            threads.append(threading.get_ident())
            body = msg.json() if msg.content_type == "application/json" else msg.body
            got.append(("async", msg.topic, body, msg.header.get("X-K"), msg.content_type))

        def on_plain(msg):
            threads.append(threading.get_ident())
            got.append(("plain", msg.topic, msg.body, msg.header.get("Micro-Topic"), msg.content_type))
        svc.subscribe("events", on_plain)

        await svc.start()
        try:
            await svc.client.publish("events", {"a": 1}, headers={"X-K": "v"})
            await svc.client.publish("events", b"\x00\xff", content_type="application/octet-stream")
        finally:
            await svc.stop()
        loop_thread = threading.get_ident()
        assert threads and all(t == loop_thread for t in threads)
        assert ("async", "events", {"a": 1}, "v", "application/json") in got
        assert ("plain", "events", b'{"a":1}', "events", "application/json") in got
        assert ("plain", "events", b"\x00\xff", "events", "application/octet-stream") in got
        assert len(got) == 4
    run(main())


def test_a_raising_handler_is_logged_reported_and_later_messages_flow(caplog):
    async def main():
        svc = local("py.ps.raise")
        seen = []

        @svc.subscribe("jobs")
        async def job(msg):
            seen.append(msg.json())
            if msg.json().get("boom"):
                raise ValueError("bad job")

        await svc.start()
        try:
            # the memory broker hands the subscriber's error back to the publisher
            with pytest.raises(micro.Error) as e:
                await svc.client.publish("jobs", {"boom": True})
            assert e.value.code == 500 and "bad job" in e.value.detail
            await svc.client.publish("jobs", {"boom": False})
        finally:
            await svc.stop()
        assert seen == [{"boom": True}, {"boom": False}]
    with caplog.at_level(logging.ERROR, logger="micro"):
        run(main())
    assert any("bad job" in r.getMessage() for r in caplog.records)


def test_queue_group_gets_each_message_once():
    async def main():
        svc = local("py.ps.queue")
        group, everyone = [], []
        svc.subscribe("work", lambda m: group.append(("a", m.body)), queue="workers")
        svc.subscribe("work", lambda m: group.append(("b", m.body)), queue="workers")
        svc.subscribe("work", lambda m: everyone.append(m.body))
        await svc.start()
        try:
            for i in range(40):
                await svc.client.publish("work", str(i).encode())
        finally:
            await svc.stop()
        assert sorted(int(b) for _, b in group) == list(range(40))
        assert len(everyone) == 40
        assert {w for w, _ in group} == {"a", "b"}  # random member per message: both are used
    run(main())


def test_publish_errors():
    async def main():
        svc = local("py.ps.errors", max_message_size=1024)
        svc.subscribe("t", lambda m: None)
        await svc.start()
        try:
            with pytest.raises(TypeError):
                await svc.client.publish("", {})
            with pytest.raises(micro.Error) as e:
                await svc.client.publish("t", b"x" * 2048)
            assert e.value.code == 413 and "limit" in e.value.detail
            with pytest.raises(micro.Conflict):
                svc.subscribe("late", lambda m: None)
        finally:
            await svc.stop()
    run(main())


def test_sync_client_publishes_and_unknown_broker_is_an_error():
    c = micro.SyncClient(registry="memory", broker="memory")
    assert c.publish_sync("s", b"x") is None  # nobody subscribes on its private memory broker
    with pytest.raises(TypeError):
        c.publish_sync("", b"x")
    with pytest.raises(micro.Error) as e:
        micro.Client(registry="memory", broker="kafka://x")
    assert "unknown broker" in e.value.detail


# ---- interop with go-micro v4, v5 and v6 over the http broker (mDNS, private namespace) ----

def go_lines(gm, *args, timeout=30):
    out = subprocess.run([str(GO_BIN / gm), *args], capture_output=True, text=True, timeout=timeout)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def until(pred, timeout=10.0):
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            return False
        await asyncio.sleep(0.05)
    return True


@needs_netns
@pytest.mark.parametrize("gm", PEERS)
def test_go_publish_reaches_a_python_subscriber(gm):
    topic = f"py.in.{gm}"

    async def main():
        svc = micro.Service(f"py.ps.sub.{gm}")
        got = []
        svc.subscribe(topic, lambda m: got.append(m))
        await svc.start()
        loop = asyncio.get_running_loop()
        raw = b"\x00\x01binary\xff\n"
        try:
            for _ in range(20):
                lines = await loop.run_in_executor(None, lambda: go_lines(
                    gm, "publish", "--topic", topic, "--body", "{}", "--body-b64", base64.b64encode(raw).decode(),
                    "--content-type", "application/octet-stream", "--metadata", "X-From=go"))
                if lines and lines[-1].get("ok"):
                    break
                await asyncio.sleep(0.2)
            assert await until(lambda: got)
        finally:
            await svc.stop()
        m = got[0]
        assert m.topic == topic and m.body == raw
        assert m.content_type == "application/octet-stream"
        assert {k.lower(): v for k, v in m.header.items()}["x-from"] == "go"
        assert m.header["Micro-Topic"] == topic
    run(main())


@needs_netns
@pytest.mark.parametrize("gm", PEERS)
def test_python_publish_reaches_a_go_subscriber(gm):
    topic = f"py.out.{gm}"
    p = subprocess.Popen([str(GO_BIN / gm), "subscribe", "--topic", topic], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert json.loads(p.stdout.readline())["event"] == "ready"
        raw = b"\x00\xffpy-bytes\n"

        async def main():
            c = micro.Client()
            for _ in range(50):
                try:
                    await c.publish(topic, raw, content_type="application/octet-stream", headers={"X-From": "py"})
                    break
                except micro.Error as e:
                    if "not found" not in e.detail:
                        raise
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # the http broker delivers after publish returns
        run(main())
        line = json.loads(p.stdout.readline())
        assert line["event"] == "message" and line["topic"] == topic
        assert base64.b64decode(line["body"]) == raw
        assert line["header"]["X-From"] == "py"
        assert line["header"]["Content-Type"] == "application/octet-stream"
    finally:
        p.terminate()
        p.wait(10)


@needs_netns
@pytest.mark.parametrize("gm", PEERS)
def test_queue_group_across_python_and_go(gm):
    topic = f"py.q.{gm}"
    p = subprocess.Popen([str(GO_BIN / gm), "subscribe", "--topic", topic, "--queue", "workers"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert json.loads(p.stdout.readline())["event"] == "ready"

        async def main():
            svc = micro.Service(f"py.ps.q.{gm}")
            got = []
            svc.subscribe(topic, lambda m: got.append(m.json()), queue="workers")
            await svc.start()
            try:
                c = svc.client
                for _ in range(50):  # until the publisher's registry view has subscribers
                    try:
                        await c.publish("py.warmup", {})
                        break
                    except micro.Error:
                        await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # both group members visible
                for i in range(20):
                    await c.publish(topic, {"n": i})
                await asyncio.sleep(2.0)
            finally:
                await svc.stop()
            return got
        got = run(main())
        p.terminate()
        out, _ = p.communicate(timeout=10)
        go = [json.loads(base64.b64decode(json.loads(l)["body"])) for l in out.splitlines() if '"message"' in l]
        ns = sorted([m["n"] for m in got] + [m["n"] for m in go])
        assert ns == list(range(20)), (got, go)
    finally:
        if p.poll() is None:
            p.terminate()
            p.wait(10)
