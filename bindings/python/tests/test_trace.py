"""Trace context (go-micro's ``Traceparent`` metadata, W3C Trace Context) through a Python
service: a handler's calls carry its request's trace on with nothing passed by hand, and with
tracing on (``OTEL_EXPORTER_OTLP_ENDPOINT``) the service's spans go to an OTLP/HTTP endpoint.
The full chain (go-micro → Python → Node → Rust, spans decoded) is tests/interop/trace.sh."""
import asyncio
import http.server
import threading

import micro
from conftest import run

REMOTE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def pair(prefix):
    """``front`` (its handler calls ``back`` by address) and ``back`` (returns the Traceparent it got)."""
    back = micro.Service(f"{prefix}.back", registry="memory", broker="memory", address="127.0.0.1:0")

    @back.handle("Back.Seen")
    async def seen(req, ctx):
        return {"traceparent": ctx.header.get("Traceparent")}

    front = micro.Service(f"{prefix}.front", registry="memory", broker="memory", address="127.0.0.1:0")

    @front.handle("Front.Hop")
    async def hop(req, ctx):
        got = await front.client.call(f"{prefix}.back", "Back.Seen", {}, address=back.address)
        return {"mine": ctx.header.get("Traceparent"), "back": got["traceparent"]}
    return front, back


def parse(tp):
    version, trace, span, flags = tp.split("-")
    assert version == "00" and len(trace) == 32 and len(span) == 16
    return trace, span, flags


def test_a_handlers_calls_carry_its_trace_on():
    async def main():
        front, back = pair("py.trace.off")
        await back.start()
        await front.start()
        try:
            c = micro.Client(registry="memory")
            got = await c.call("py.trace.off.front", "Front.Hop", {}, address=front.address,
                               metadata={"traceparent": REMOTE})
            # Tracing off here: the context passes through unchanged, so the trace goes on.
            assert got == {"mine": REMOTE, "back": REMOTE}
            # A call made outside any handler carries none.
            alone = await c.call("py.trace.off.back", "Back.Seen", {}, address=back.address)
            assert alone == {"traceparent": None}
            c.close()
        finally:
            await front.stop()
            await back.stop()
    run(main())


def test_a_plain_handlers_blocking_calls_carry_its_trace_on():
    """A plain ``def`` handler runs in a worker thread; the blocking client's calls it makes
    there carry the request's trace on, as the asyncio client's do."""
    async def main():
        front, back = pair("py.trace.sync")
        sync = micro.SyncClient(registry="memory")

        @front.handle("Front.Blocking")
        def blocking(req, ctx):
            got = sync.call_sync("py.trace.sync.back", "Back.Seen", {}, address=back.address)
            raw = sync.call_raw_sync("py.trace.sync.back", "Back.Seen", {}, address=back.address).decode()
            return {"mine": ctx.header.get("Traceparent"), "back": got["traceparent"], "raw": raw["traceparent"]}

        await back.start()
        await front.start()
        try:
            c = micro.Client(registry="memory")
            got = await c.call("py.trace.sync.front", "Front.Blocking", {}, address=front.address,
                               metadata={"traceparent": REMOTE})
            assert got == {"mine": REMOTE, "back": REMOTE, "raw": REMOTE}
            # Outside any handler, a blocking call carries none.
            alone = await asyncio.to_thread(sync.call_sync, "py.trace.sync.back", "Back.Seen", {}, address=back.address)
            assert alone == {"traceparent": None}
            c.close()
            sync.close()
        finally:
            await front.stop()
            await back.stop()
    run(main())


class _Receiver(http.server.BaseHTTPRequestHandler):
    posts: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).posts.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_with_tracing_on_each_hop_is_a_span_of_the_same_trace(monkeypatch):
    _Receiver.posts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")

    async def main():
        front, back = pair("py.trace.on")
        await back.start()
        await front.start()
        try:
            c = micro.Client(registry="memory")
            got = await c.call("py.trace.on.front", "Front.Hop", {}, address=front.address,
                               metadata={"Traceparent": REMOTE})
        finally:
            await front.stop()  # flushes its spans
            await back.stop()
        c.close()
        return got

    try:
        got = run(main())
    finally:
        server.shutdown()
    remote_trace, remote_span, _ = parse(REMOTE)
    mine, back = parse(got["mine"]), parse(got["back"])
    # front's handler runs in a server span of the caller's trace; back gets front's client span.
    assert mine[0] == remote_trace and mine[1] != remote_span
    assert back[0] == remote_trace and back[1] not in (remote_span, mine[1])
    assert mine[2] == back[2] == "01"
    paths = {(p, ct) for p, ct, _ in _Receiver.posts}
    assert paths == {("/v1/traces", "application/x-protobuf")}, paths
    # The protobuf carries the spans' names and the trace id's bytes.
    sent = b"".join(b for _, _, b in _Receiver.posts)
    for name in (b"py.trace.on.front.Front.Hop", b"py.trace.on.back.Back.Seen"):
        assert name in sent
    assert bytes.fromhex(remote_trace) in sent
