"""The native JSON path (``_native.json_bytes`` / ``json_value``, used by ``micro._body``)
writes and reads exactly what the standard library does, and hands everything else back to
it: the bodies a Python client sends and a Python service answers are the bytes ``json``
would have written, and what they read are the values ``json.loads`` would have made."""

from __future__ import annotations

import enum
import json
import random
from collections import OrderedDict
from typing import Any

import pytest

import micro
from micro import _body, _native

MISS = object()


def stdlib(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0, -0.0 is not 0.0)."""
    return repr(a) == repr(b) and type(a) is type(b)


PLAIN = [
    {}, [], (), "", "a", "héllo", "日本語", "😀 past the BMP", "\x00\x01\x1f\x7f\x80\xff", '"\\/\n\r\t\b\f',
    "\u2028\u2029\ufeff", 0, 1, -1, 2**63 - 1, -(2**63), 2**63, 2**64 + 1, -(10**40), 0.0, -0.0, 1.5, 1e16, 1e-7,
    1.7976931348623157e308, 5e-324, 0.1, 123456789.123456789, True, False, None,
    {"a": [1, 2.5, {"b": None}], "c": (True, "x"), "": ""}, [[[]]], {"é": {"😀": []}}, [{"a": 1}] * 3,
]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_a_plain_value_is_written_as_the_standard_library_writes_it(value: Any) -> None:
    assert _native.json_bytes(value) == stdlib(value)
    assert _native.json_bytes(value, True) == stdlib(value) + b"\n"
    assert _body.encode(value, None) == (stdlib(value) if value is not None else b"{}", "application/json")


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


def nested(depth: int) -> list[Any]:
    v: list[Any] = []
    for _ in range(depth):
        v = [v]
    return v


circular: list[Any] = []
circular.append(circular)

# What the native writer hands back, each with what the standard library then makes of it.
NOT_PLAIN: list[tuple[Any, bytes | type[Exception]]] = [
    (OrderedDict(a=1), b'{"a":1}'),
    ({"c": Colour.RED}, b'{"c":1}'),
    ([Name("x")], b'["x"]'),
    ({1: "an int key"}, b'{"1":"an int key"}'),
    ({None: 1, True: 2}, b'{"null":1,"true":2}'),
    (nested(300), stdlib(nested(300))),
    (float("nan"), TypeError),
    ([float("inf")], TypeError),
    ("\ud800", b'"\\ud800"'),
    ({"k": {1, 2}}, TypeError),
    (10**5000, TypeError),  # past the interpreter's int digit limit
    ([object()], TypeError),
    (circular, TypeError),
]


@pytest.mark.parametrize("value,then", NOT_PLAIN, ids=lambda v: type(v).__name__)
def test_anything_else_is_left_to_the_standard_library(value: Any, then: bytes | type[Exception]) -> None:
    assert _native.json_bytes(value) is None
    if isinstance(then, bytes):
        assert _body.encode(value, None) == (then, "application/json")
        assert _body.json_line(value) == then + b"\n"
    else:
        with pytest.raises(then, match="not JSON-serialisable"):
            _body.encode(value, None)


READ_HERE = [
    b"{}", b"[]", b'""', b' \t\r\n{"a":1} \n', b'{"a":1,"a":2}', b"-0", b"-0.0", b"0", b"1e400", b"-1e400",
    b"123456789012345678901234567890", b"-9223372036854775809", b"1.5E+3", b"2e-3", b"0.1", b"4.9e-324",
    b"2.2250738585072014e-308", b"9007199254740993", b"9007199254740993.0", b'"\\u00e9\\ud83d\\ude00\\/\\"\\\\"',
    b'"\xc3\xa9\xf0\x9f\x98\x80"', b'"\\u0000\\b\\f\\n\\r\\t"', b"[1,[2,[3,[]]]]", b'{"a":{"b":[true,false,null]}}',
    b'{"message":"Hello bench"}\n', b"[ 1 , 2 ]", b'{ "a" : 1 , "b" : [ ] }',
]


@pytest.mark.parametrize("body", READ_HERE, ids=repr)
def test_a_json_body_is_read_as_json_loads_reads_it(body: bytes) -> None:
    value = _native.json_value(body, MISS)
    assert value is not MISS, "read by the standard library instead"
    assert same(value, json.loads(body))
    assert same(_body.decode(body, "application/json", "reply"), json.loads(body))


# Valid for json.loads, but read by it: the native reader hands them back.
LEFT_VALID = [b"NaN", b"[Infinity]", b"-Infinity", b'"\\ud800"', b'"\\udc00x"', b'"\\ud83d\\u0041"',
              b"\xef\xbb\xbf{}", b"[" * 300 + b"]" * 300, b'"\x7f"']


@pytest.mark.parametrize("body", LEFT_VALID, ids=repr)
def test_what_only_the_standard_library_reads_is_left_to_it(body: bytes) -> None:
    value = _native.json_value(body, MISS)
    if body == b'"\x7f"':  # DEL is not a control character to JSON: read here
        assert same(value, json.loads(body))
        return
    assert value is MISS
    assert same(_body.decode(body, "application/json", "reply"), json.loads(body))


INVALID = [b"{", b"[1,]", b'{"a":1,}', b"01", b"1.", b".5", b"+1", b"-", b"1e", b"1e+", b'"\x01"', b'"\\x"',
           b'"\\u12"', b"\xff", b'"\xff"', b"tru", b"nul", b"1 2", b'"abc', b'{"a" 1}', b"[1 2]", b"{1:2}",
           b'{"a":1}x', b"[]]", b"\x00"]


@pytest.mark.parametrize("body", INVALID, ids=repr)
def test_a_body_that_is_not_json_is_refused_as_before(body: bytes) -> None:
    assert _native.json_value(body, MISS) is MISS
    with pytest.raises(ValueError):
        json.loads(body)
    with pytest.raises(micro.BadRequest):
        _body.decode(body, "application/json", "request")
    with pytest.raises(micro.InternalServerError):
        _body.decode(body, "application/json", "reply")


def random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 4 else 6)
    if pick == 0:
        return rng.choice([None, True, False])
    if pick == 1:
        return rng.choice([0, -1, rng.randrange(-(2**70), 2**70), rng.randrange(-1000, 1000)])
    if pick == 2:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randrange(-300, 300), -0.0])
    if pick in (3, 4, 5):
        alphabet = "ab \"\\/\n\t\x00\x1f\x7fé€😀\u2028"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
    if pick == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 7:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {rng.choice(["", "k", "é", "\n", str(rng.randrange(20))]): random_value(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def test_random_plain_values_round_trip_as_with_the_standard_library() -> None:
    rng = random.Random(18)
    for _ in range(2000):
        value = random_value(rng)
        written = _native.json_bytes(value)
        assert written == stdlib(value), value
        assert same(_native.json_value(written, MISS), json.loads(written)), written
        # Pretty-printed (spaces, newlines, escapes json writes only when asked) reads the same.
        pretty = json.dumps(value, indent=2, ensure_ascii=False).encode()
        assert same(_native.json_value(pretty, MISS), json.loads(pretty)), pretty


REPLIES: list[Any] = [
    {"a": 1, "é": ["😀", None]}, [1, 2.5], "s", 5, 2**70, True, None, {}, OrderedDict(a=1),
    micro.Response(b"raw", "text/plain"), b"bytes", ("t",),
]


def test_a_service_reads_and_answers_plain_json_natively_and_everything_else_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from micro import service as service_mod

    slow_paths: list[str] = []
    decode, encode_result = _body.decode, service_mod._encode_result

    def counted_decode(*a: Any, **k: Any) -> Any:
        slow_paths.append("decode")
        return decode(*a, **k)

    def counted_encode(*a: Any, **k: Any) -> Any:
        slow_paths.append("encode")
        return encode_result(*a, **k)

    monkeypatch.setattr(_body, "decode", counted_decode)
    monkeypatch.setattr(service_mod, "_encode_result", counted_encode)

    async def main() -> None:
        svc = micro.Service("py.jsonfast", registry="memory", address="127.0.0.1:0")

        @svc.handle("J.Echo")
        async def echo(req: Any, ctx: Any) -> Any:
            return {"got": req, "ct": ctx.content_type}

        @svc.handle("J.Reply")
        async def reply(req: Any) -> Any:
            return REPLIES[req["i"]]

        @svc.handle("J.Sync")
        def sync(req: Any) -> Any:
            return REPLIES[req["i"]]

        @svc.handle("J.Bytes")
        async def raw(req: Any) -> Any:
            return {"n": len(req)}

        @svc.handle("J.BytesSync")
        def raw_sync(req: Any) -> Any:
            return {"n": len(req)}

        await svc.start()
        c = svc.client
        try:
            # Plain JSON requests: read natively, whatever whitespace or JSON content type.
            for body, ct, got in [(b'{"a":1}\n', "application/json", {"a": 1}), (b"", "application/json", {}),
                                  (b" \x0b\r\n", "application/json", {}), (b'[1,"\\u00e9"]', "application/grpc+json", [1, "é"])]:
                del slow_paths[:]
                r = await c.call_raw(svc.name, "J.Echo", body, content_type=ct)
                assert json.loads(r.body) == {"got": got, "ct": ct}
                assert slow_paths == [], (body, slow_paths)
            # What only json reads (a lone surrogate), and what is not JSON: decoded in Python
            # as before; the reply holding that surrogate is written by Python too.
            del slow_paths[:]
            r = await c.call_raw(svc.name, "J.Echo", b'"\\ud83d\\u0041"', content_type="application/json")
            assert r.body == b'{"got":"\\ud83dA","ct":"application/json"}\n', r.body
            assert slow_paths == ["decode", "encode"], slow_paths
            with pytest.raises(micro.InternalServerError, match="not JSON-serialisable"):
                await c.call_raw(svc.name, "J.Echo", b"[NaN]", content_type="application/json")
            with pytest.raises(micro.BadRequest):
                await c.call_raw(svc.name, "J.Echo", b"[1,]", content_type="application/json")

            # Every reply, from an async and a plain handler: the bytes and content type the
            # Python path makes of it; only plain values skip it.
            for endpoint in ("J.Reply", "J.Sync"):
                for i, value in enumerate(REPLIES):
                    del slow_paths[:]
                    r = await c.call_raw(svc.name, endpoint, {"i": i}, content_type="application/grpc+json")
                    want_body, want_ct = encode_result(value, "application/grpc+json")
                    assert (r.body, r.content_type) == (want_body, want_ct or "application/grpc+json"), (endpoint, value)
                    plain = value is not None and _native.json_bytes(value) is not None
                    assert ("encode" in slow_paths) != plain, (endpoint, value, slow_paths)
                    # The client's value (a plain JSON reply comes read natively): what
                    # decoding the raw reply gives.
                    try:
                        want: Any = decode(r.body, r.content_type, "reply")
                    except micro.Error as e:  # bytes labelled JSON: a 500, both ways
                        with pytest.raises(type(e)):
                            await c.call(svc.name, endpoint, {"i": i}, content_type="application/grpc+json")
                        continue
                    got = await c.call(svc.name, endpoint, {"i": i}, content_type="application/grpc+json")
                    assert same(got, want), (endpoint, value, got)
            # A reply to a request that is not JSON is JSON, in application/json.
            for endpoint in ("J.Bytes", "J.BytesSync"):
                del slow_paths[:]
                r = await c.call_raw(svc.name, endpoint, b"\x00\x01", content_type="application/octet-stream")
                assert (r.body, r.content_type) == (b'{"n":2}\n', "application/json")
                assert slow_paths == ["decode"], slow_paths  # the bytes body is Python's to pass on
        finally:
            await svc.stop()

    asyncio.run(main())
