"""Bodies: Python values to bytes and back, by content type.

Which content types are JSON, text or bytes is core's one table (``micro::host::body``,
the README's "Bodies"), asked of the native module once per content type and remembered
here; Node's ``lib/body.js`` does the same.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from . import _native
from .errors import Error

JSON = "application/json"
OCTET = "application/octet-stream"
PROTOBUF = "application/protobuf"
_PY_ID = "micro.python"  # the id of errors this layer raises itself

Kind = Literal["json", "text", "bytes"]
"""How a body of a content type is decoded."""

Side = Literal["request", "reply"]
"""Which side of a call a body came from: a request (or stream message, or event) a handler
received, or a reply a client received. Decides the status of a body that does not decode."""

# Content type -> kind. A service sees a handful of content types, so this stays tiny; a
# peer sending endless distinct ones only makes it start over.
_kinds: dict[str, Kind] = {}
_KINDS_MAX = 256


def _unserialisable(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


# JSON, written and read with the standard library's C encoder and scanner directly: a
# JSONEncoder's `encode` builds a new C encoder per call and `json.loads` of bytes guesses
# their encoding in Python first; made once and called directly they cost 0.34 µs instead of
# 0.96 µs to encode a small object and 0.24 µs instead of 1.28 µs to decode one (CPython 3.11,
# issue 18). Compact separators, ASCII output, no NaN, as before; no circular-reference
# markers (a circular value ends in RecursionError, reported as not serialisable).
try:
    from _json import make_encoder as _make_encoder
    _c_encode: Any = _make_encoder(None, _unserialisable, json.encoder.encode_basestring_ascii, None,
                                   ":", ",", False, False, False)
except ImportError:  # an interpreter without the C accelerator
    _c_encode = None
_py_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_raw_decode = json.JSONDecoder().raw_decode

# Plain values (dict, list, str, int, float, bool, None; no subclasses) are written and read
# by the native module, byte for byte as the standard library does, without a Python frame
# around the C encoder and scanner: where every call runs on a cold cache (a pinned client,
# issue 18) the Python layer's CPU a call over the native call went from 6-12 µs to 3.3 µs. Anything else it hands back (`None` from
# json_bytes, _MISS from json_value), and the standard library writes or reads it as before.
_json_bytes = _native.json_bytes
_json_value = _native.json_value
_MISS = object()


def _json_encode(value: Any) -> str:
    """``value`` as compact JSON text (TypeError/ValueError/RecursionError when it is not JSON)."""
    if _c_encode is None:
        return _py_encode(value)
    return "".join(_c_encode(value, 0))


def json_decode(body: bytes) -> Any:
    """``body`` parsed as JSON: a plain value by the native reader, anything else as
    :func:`_stdlib_decode` reads it."""
    if type(body) is bytes:
        value = _json_value(body, _MISS)
        if value is not _MISS:
            return value
    return _stdlib_decode(body)


def _stdlib_decode(body: bytes) -> Any:
    """``body`` parsed by the standard library. UTF-8 text holding one value, then at most
    JSON whitespace (what peers send: go-micro's codec ends a body with a newline) is parsed
    by the C scanner straight away; anything else (leading whitespace, a byte order mark,
    UTF-16, invalid JSON, more after the value) goes through ``json.loads``, which decides,
    and words the error."""
    try:
        text = body.decode("utf-8")
        value, end = _raw_decode(text)
    except ValueError:
        return json.loads(body)
    if end == len(text) or not text[end:].strip(_JSON_SPACE):
        return value
    return json.loads(body)


_JSON_SPACE = " \t\n\r"  # what JSON allows between tokens (RFC 8259 §2); str.isspace allows more


def kind(content_type: str) -> Kind:
    """The kind of body ``content_type`` carries: ``"json"``, ``"text"`` or ``"bytes"``."""
    k = _kinds.get(content_type)
    if k is None:
        k = _native.body_kind(content_type)
        if len(_kinds) >= _KINDS_MAX:
            _kinds.clear()
        _kinds[content_type] = k
    return k


def is_json(content_type: str) -> bool:
    """Whether the content type carries JSON."""
    return kind(content_type) == "json"


def invalid_json(side: Side, content_type: str, why: str) -> Error:
    """The error for a JSON body that does not parse: :class:`micro.BadRequest` on the
    request side, :class:`micro.InternalServerError` on the reply side (core's wording)."""
    return Error.from_parts(*_native.invalid_json(side, content_type, why))


def encode(value: Any, content_type: str | None) -> tuple[bytes, str]:
    """``value`` as ``(bytes, content_type)``.

    bytes-like values go as they are (default ``application/octet-stream``); objects with
    ``SerializeToString`` (protobuf messages) as their bytes (default
    ``application/protobuf``); anything else as JSON (``None`` as ``{}``).
    """
    t = type(value)
    # A plain dict or list (the common body) is JSON: it is neither bytes nor a message with
    # SerializeToString, so those checks are skipped (0.2-0.3 µs of a 1.2 µs encode).
    if t is not dict and t is not list:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value), content_type or OCTET
        ser = getattr(value, "SerializeToString", None)
        if callable(ser):
            data = ser()
            if not isinstance(data, bytes):
                raise TypeError(f"{t.__name__}.SerializeToString() returned {type(data).__name__}, not bytes")
            return data, content_type or PROTOBUF
    ct = content_type or JSON
    if ct is not JSON and not is_json(ct):
        raise TypeError(f"cannot send a {type(value).__name__} as {ct}: pass bytes for non-JSON content types")
    if value is None:
        return b"{}", ct
    data = _json_bytes(value)
    return (data if data is not None else _json_text(value).encode()), ct


def json_line(value: Any) -> bytes:
    """``value`` as one line of JSON, ending in a newline as go-micro's JSON codec writes it;
    a TypeError naming why when it is not JSON (as :func:`encode`)."""
    data = _json_bytes(value, True)
    return data if data is not None else (_json_text(value) + "\n").encode()


def _json_text(value: Any) -> str:
    """``value`` as compact JSON text; a TypeError naming why when it is not JSON."""
    try:
        return _json_encode(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"body of type {type(value).__name__} is not JSON-serialisable: {e}") from None
    except RecursionError:
        raise TypeError(f"body of type {type(value).__name__} is not JSON-serialisable: "
                        "it refers to itself, or nests too deep") from None


def decode(body: bytes, content_type: str, side: Side, *, empty: Any = None) -> Any:
    """``body`` decoded by content type: JSON to Python values (an empty body to ``empty``),
    text to ``str``, anything else stays bytes.

    A JSON body that does not parse, or a text body that is not UTF-8, raises
    :class:`micro.BadRequest` (400) on the request side and
    :class:`micro.InternalServerError` (500) on the reply side.
    """
    k = kind(content_type)
    if k == "json":
        if not body or body.isspace():
            return empty
        if type(body) is bytes:
            value = _json_value(body, _MISS)
            if value is not _MISS:
                return value
        try:
            return _stdlib_decode(body)  # the native reader handed it back (or it is not bytes)
        except ValueError as e:  # UnicodeDecodeError included
            raise invalid_json(side, content_type, str(e)) from None
    if k == "text":
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as e:
            code = 400 if side == "request" else 500
            raise Error.from_parts(_PY_ID, code, f"{side} body is not valid UTF-8 ({content_type}): {e}",
                                   _native.status_text(code)) from None
    return body
