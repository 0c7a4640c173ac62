"""Bodies follow core's one table (``micro::host::body``; ``tests/hosts/body_kinds.json``,
shared with the Node suite): the kind of every content type there, through the package's
decode; the kind is asked of the native module once per content type; a JSON body that does
not parse, or a text body that is not UTF-8, is a 400 on the request side (handler, stream
message) and a 500 on the reply side (client); and the deprecated ``request()`` /
``request_sync()`` still work and warn."""
import asyncio
import json

import pytest

import micro
from micro import _body, _native
from conftest import ROOT, run

TABLE = json.loads((ROOT / "tests" / "hosts" / "body_kinds.json").read_text())


def test_every_content_type_decodes_as_cores_table_says():
    raw = TABLE["body"].encode()
    for ct, kind in TABLE["kinds"]:
        assert _native.body_kind(ct) == kind, ct
        assert _body.kind(ct) == kind, ct
        for side in ("request", "reply"):
            v = _body.decode(raw, ct, side)
            if kind == "json":
                assert v == json.loads(TABLE["body"]), ct
            elif kind == "text":
                assert v == TABLE["body"] and isinstance(v, str), ct
            else:
                assert v == raw and isinstance(v, bytes), ct
    assert _body.is_json("application/problem+json") and not _body.is_json("application/jsonx")


def test_the_kind_is_asked_once_per_content_type_in_a_bounded_memo(monkeypatch):
    asked = []
    real = _native.body_kind
    monkeypatch.setattr(_native, "body_kind", lambda ct: asked.append(ct) or real(ct))
    for _ in range(3):
        assert _body.kind("application/x-memo+json") == "json"
    assert asked == ["application/x-memo+json"]
    for i in range(1000):
        _body.kind(f"application/x-{i}")
    assert len(asked) == 1001 and len(_body._kinds) <= _body._KINDS_MAX
    assert _body.kind("application/x-999") == "bytes" and len(asked) == 1001


@pytest.mark.parametrize("raw,ct,what", [
    (b'{"a":', "application/json", "not valid JSON"),
    (b"{oops", "application/problem+json", "not valid JSON"),
    (b'{"\xff"}', "application/json", "not valid JSON"),
    (b"h\xffi", "text/plain", "not valid UTF-8"),
])
def test_a_body_that_does_not_decode_is_400_request_side_500_reply_side(raw, ct, what):
    for side, code, cls in (("request", 400, micro.BadRequest), ("reply", 500, micro.InternalServerError)):
        with pytest.raises(cls) as e:
            _body.decode(raw, ct, side)
        assert (e.value.code, e.value.id) == (code, "micro.python")
        assert e.value.detail.startswith(f"{side} body is {what} ({ct})"), e.value.detail


def bodies_service():
    svc = micro.Service("py.bodies", registry="memory", address="127.0.0.1:0")
    seen = {}

    @svc.handle("Body.Echo")
    async def echo(req, ctx):
        return {"got": req, "content_type": ctx.content_type}

    @svc.handle("Body.Reply")
    async def reply(req):
        return micro.Response(bytes.fromhex(req["hex"]), req["ct"])

    @svc.stream("Body.Stream")
    async def stream(s):
        try:
            await s.recv()
        except micro.Error as e:
            seen["stream"] = e

    return svc, seen


def test_over_the_wire_invalid_json_is_400_for_requests_500_for_replies_and_text_is_str():
    async def main():
        svc, seen = bodies_service()
        await svc.start()
        c = svc.client
        try:
            with pytest.raises(micro.BadRequest) as e:
                await c.call(svc.name, "Body.Echo", b'{"a":', content_type="application/json")
            assert e.value.id == "micro.python"
            assert e.value.detail.startswith("request body is not valid JSON (application/json)"), e.value.detail
            # +json is JSON (and goes over the wire: go-micro's grpc+json codec).
            assert await c.call(svc.name, "Body.Echo", {"a": 1}, content_type="application/grpc+json") == \
                {"got": {"a": 1}, "content_type": "application/grpc+json"}
            with pytest.raises(TypeError):
                await c.call(svc.name, "Body.Echo", {"a": 1}, content_type="application/jsonx")

            with pytest.raises(micro.InternalServerError) as e:
                await c.call(svc.name, "Body.Reply", {"hex": b"{oops".hex(), "ct": "application/json"})
            assert e.value.detail.startswith("reply body is not valid JSON (application/json)"), e.value.detail
            r = await c.call_raw(svc.name, "Body.Reply", {"hex": b"{oops".hex(), "ct": "application/json"})
            assert r.body == b"{oops"
            with pytest.raises(micro.InternalServerError):
                r.decode()

            text = await c.call(svc.name, "Body.Reply", {"hex": "héllo".encode().hex(), "ct": "text/plain; charset=utf-8"})
            assert text == "héllo"
            with pytest.raises(micro.InternalServerError) as e:
                await c.call(svc.name, "Body.Reply", {"hex": "ff", "ct": "text/plain"})
            assert e.value.detail.startswith("reply body is not valid UTF-8 (text/plain)"), e.value.detail

            s = await c.stream(svc.name, "Body.Stream", content_type="application/json")
            await s.send(b'{"a":')
            await s.close()
            for _ in range(500):
                if "stream" in seen:
                    break
                await asyncio.sleep(0.01)
            assert isinstance(seen.get("stream"), micro.BadRequest), seen
        finally:
            await svc.stop()
    run(main())


def test_request_and_request_sync_are_deprecated_call_raw():
    async def main():
        svc, _ = bodies_service()
        await svc.start()
        try:
            with pytest.warns(DeprecationWarning, match=r"request\(\) is deprecated; use call_raw\(\)"):
                r = await svc.client.request(svc.name, "Body.Echo", {"n": 1})
            assert isinstance(r, micro.Reply) and r.decode() == {"got": {"n": 1}, "content_type": "application/json"}

            def blocking():
                sc = micro.SyncClient(registry="memory")
                with pytest.warns(DeprecationWarning, match=r"request_sync\(\) is deprecated; use call_raw_sync\(\)"):
                    return sc.request_sync(svc.name, "Body.Echo", {"n": 2}, address=svc.address)
            r = await asyncio.to_thread(blocking)
            assert r.decode() == {"got": {"n": 2}, "content_type": "application/json"}
            r = await asyncio.to_thread(micro.SyncClient(registry="memory").call_raw_sync, svc.name, "Body.Echo",
                                        {"n": 3}, address=svc.address)
            assert r.decode() == {"got": {"n": 3}, "content_type": "application/json"}
        finally:
            await svc.stop()
    run(main())


@pytest.mark.parametrize("raw", [
    b'{"message":"Hello bench"}', b' {"a":1} ', '{"é":"ü\\n"}'.encode(), '\ufeff{"a":1}'.encode(),
    '{"a":1}'.encode("utf-16"), b"[1,2.5,null,true]", b'"x"', b"5", b'{"a":1}\n', b'{"a":{"b":[{}]}}',
    b'{"a":1}\r\n\t ',
])
def test_json_bodies_decode_as_json_loads_does(raw):
    # The C scanner is called directly for plain UTF-8 bodies; anything else goes through
    # json.loads: the values must be the same either way.
    assert _body.decode(raw, "application/json", "reply") == json.loads(raw)


def test_a_body_ending_in_json_whitespace_is_read_by_the_scanner_alone(monkeypatch):
    # go-micro's codec ends every JSON body with a newline: such a body must not fall back
    # to json.loads (which guesses the encoding and scans the whitespace again).
    def refuse(_raw):
        raise AssertionError("json.loads was called")
    monkeypatch.setattr(_body.json, "loads", refuse)
    for raw in [b'{"name":"bench"}\n', b'[1]\r\n', b'"x" \t']:
        assert _body.decode(raw, "application/json", "request") == json.JSONDecoder().decode(raw.decode())


@pytest.mark.parametrize("raw", [b'{"a":', b'{"a":1}x', b'{"\xff"}', b"[1,]", b"\xef\xbb\xbf", b'{"a":1}\n x',
                                 b'{"a":1}\n\x0c', '{"a":1}\u00a0'.encode()])
def test_bad_json_is_worded_as_json_loads_words_it(raw):
    with pytest.raises(ValueError) as want:
        json.loads(raw)
    with pytest.raises(micro.InternalServerError) as got:
        _body.decode(raw, "application/json", "reply")
    assert got.value.detail.endswith(str(want.value)), (got.value.detail, str(want.value))


def test_json_bodies_encode_as_compact_json_dumps_does():
    for v in [{"name": "bench"}, [1, 2.5, None, True, 'é\n"'], "x", 5, None, {"a": {"b": [{}]}}, {1: "k"}]:
        want = b"{}" if v is None else json.dumps(v, separators=(",", ":")).encode()
        assert _body.encode(v, None) == (want, "application/json"), v
    loop: list = []
    loop.append(loop)
    for bad, why in [(float("nan"), "Out of range float"), ({1, 2}, "set is not JSON serializable"),
                     (loop, "refers to itself")]:
        with pytest.raises(TypeError, match=why):
            _body.encode(bad, None)


def test_a_dict_reply_takes_the_short_path_to_the_same_bytes_and_errors():
    from micro.service import _encode_result
    for ct in ["application/json", "application/json-rpc", "", "application/octet-stream", "text/plain"]:
        for v in [{"name": "bench"}, {"a": {"b": [{}]}, "é": '"\n'}, {1: "k"}, {}]:
            body, rct = _encode_result(v, ct)
            # What the general path makes of the same value: JSON with go-micro's newline.
            want, want_ct = _body.encode(v, ct if _body.is_json(ct) else None)
            assert (body, rct) == (want + b"\n", want_ct), (v, ct)
    loop: dict = {}
    loop["self"] = loop
    for bad, why in [({"x": float("nan")}, "Out of range float"), ({"s": {1, 2}}, "set is not JSON serializable"),
                     (loop, "refers to itself")]:
        with pytest.raises(TypeError, match=why):
            _encode_result(bad, "application/json")
