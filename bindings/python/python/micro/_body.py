"""Bodies: Python values to bytes and back, by content type."""

from __future__ import annotations

import json
from typing import Any

from .errors import BadRequest

JSON = "application/json"
OCTET = "application/octet-stream"
PROTOBUF = "application/protobuf"


def is_json(content_type: str) -> bool:
    """Whether the content type carries JSON."""
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct == JSON or ct.endswith("+json") or ct == "text/json"


def encode(value: Any, content_type: str | None) -> tuple[bytes, str]:
    """``value`` as ``(bytes, content_type)``.

    bytes-like values go as they are (default ``application/octet-stream``); objects with
    ``SerializeToString`` (protobuf messages) as their bytes (default
    ``application/protobuf``); anything else as JSON (``None`` as ``{}``).
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), content_type or OCTET
    ser = getattr(value, "SerializeToString", None)
    if callable(ser):
        data = ser()
        if not isinstance(data, bytes):
            raise TypeError(f"{type(value).__name__}.SerializeToString() returned {type(data).__name__}, not bytes")
        return data, content_type or PROTOBUF
    ct = content_type or JSON
    if not is_json(ct):
        raise TypeError(f"cannot send a {type(value).__name__} as {ct}: pass bytes for non-JSON content types")
    if value is None:
        return b"{}", ct
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode(), ct
    except (TypeError, ValueError) as e:
        raise TypeError(f"body of type {type(value).__name__} is not JSON-serialisable: {e}") from None


def decode(body: bytes, content_type: str, *, empty: Any = None) -> Any:
    """JSON content types decode to Python values (an empty body to ``empty``); others stay bytes."""
    if not is_json(content_type):
        return body
    if not body.strip():
        return empty
    try:
        return json.loads(body)
    except ValueError as e:
        raise BadRequest(f"body is not valid JSON: {e}", id="micro.python") from None
