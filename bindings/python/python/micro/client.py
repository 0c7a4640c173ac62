"""Calling services: :class:`Client` (asyncio), :class:`Stream`, :class:`SyncClient`."""

from __future__ import annotations

import contextvars
import json
import math
import warnings
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, AsyncIterator, Awaitable, Callable, Literal, Mapping, Sequence, TypeVar, Union

from . import _body, _native
from .errors import _PY_ID, BadRequest, NotFound, _convert

T = TypeVar("T")
W = TypeVar("W", bound=Callable[..., Any])

Selector = Literal["random", "roundrobin"]
"""A client's selector strategy (go-micro's ``MICRO_SELECTOR``)."""

Seconds = Union[float, timedelta]
"""A duration: seconds as a number (``0.5`` is half a second) or a ``datetime.timedelta``.
Node's options are milliseconds; Python's are always seconds."""

MAX_TIMEOUT = 3600.0
"""The longest call timeout accepted, in seconds (an hour): anything longer is a unit mistake."""

MAX_INTERVAL = 86400.0
"""The longest registration TTL or interval accepted, in seconds (a day)."""

_TRACEPARENT = "Traceparent"
_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar("micro_traceparent", default=None)
"""The W3C trace context of the request or message this task handles (go-micro's
``Traceparent`` metadata): a call made from the task carries it on, so the trace continues."""


def _with_trace(metadata: dict[str, str]) -> dict[str, str]:
    tp = _traceparent.get()
    if tp is None or any(k.lower() == "traceparent" for k in metadata):
        return metadata
    return {**metadata, _TRACEPARENT: tp}


def _seconds(v: Seconds | None, what: str, *, most: float = MAX_TIMEOUT, zero: bool = False) -> float | None:
    """``v`` as seconds, checked: a number or a timedelta, positive (or zero if ``zero``), at
    most ``most``; otherwise an error that names the unit."""
    if v is None:
        return None
    if isinstance(v, timedelta):
        s = v.total_seconds()
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        s = float(v)
    else:
        raise TypeError(f"{what} must be seconds (a number) or a datetime.timedelta, got {type(v).__name__}")
    if not math.isfinite(s) or s < 0 or (s == 0 and not zero):
        least = "non-negative" if zero else "positive"
        raise BadRequest(f"{what} must be a {least} number of seconds (or a datetime.timedelta), got {v!r}", id=_PY_ID)
    if s > most:
        raise BadRequest(f"{what}={v!r} is {s:g} seconds, more than the {most:g} s accepted: Python durations are "
                         f"seconds (0.5 = 500 ms) or a datetime.timedelta, not milliseconds", id=_PY_ID)
    return s


# Services this process created and has not started: a lookup that misses one says so.
_unstarted: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _missed(e: NotFound, service: str) -> NotFound:
    """``e`` (a lookup of ``service`` that found nothing) with a hint when this process
    created a service of that name and never started it."""
    if any(getattr(s, "name", None) == service for s in list(_unstarted)):
        e.detail += (f"; hint: this process created service {service!r} but never started it "
                     "(svc.run(), or await svc.start() before calling it)")
        e.args = (e.detail,)
    return e


async def _wait(f: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
    """Calls a native method returning an awaitable and awaits it, turning native errors
    (raised at once or later) into :class:`micro.Error`."""
    try:
        return await f(*args, **kw)
    except _native.NativeError as e:
        raise _convert(e) from None


def _call_failed(e: _native.NativeError, service: str) -> BaseException:
    """The error a failed call of ``service`` raises (a miss names what was looked up)."""
    err = _convert(e)
    return _missed(err, service) if isinstance(err, NotFound) else err


def _native_call(f: Any, *args: Any, **kw: Any) -> Any:
    try:
        return f(*args, **kw)
    except _native.NativeError as e:
        raise _convert(e) from None


def _addresses(address: str | Sequence[str] | None) -> list[str] | None:
    if address is None:
        return None
    if isinstance(address, str):
        return [address]
    out = list(address)
    if not all(isinstance(a, str) for a in out):
        raise TypeError("address must be a string or a sequence of strings")
    return out


@dataclass
class Reply:
    """A reply: the raw body, its content type, headers and the node that answered."""

    body: bytes
    """The body as the server sent it (see :meth:`decode`)."""
    content_type: str
    """The body's content type."""
    header: dict[str, str] = field(default_factory=dict)
    """The reply headers."""
    node: str = ""
    """The id of the node that answered."""

    def decode(self) -> Any:
        """The body decoded by content type (JSON → Python values, text → ``str``, else bytes);
        a JSON reply that does not parse raises :class:`micro.InternalServerError` (500)."""
        return _body.decode(self.body, self.content_type, "reply")


class Stream:
    """A bidirectional stream; ``async for msg in stream`` reads until the server ends it.

    ``async with await client.stream(...) as s:`` closes it on the way out. Once finished it
    raises :class:`micro.ClosedError`: ``send`` after :meth:`close_send`, after the server
    ended the stream, or after :meth:`close`; ``recv`` and ``close_send`` after
    :meth:`close` (a ``recv`` waiting when ``close`` is called too). ``recv`` after the
    server's end keeps returning ``None``.
    """

    def __init__(self, native: _native.ClientStream, content_type: str | None) -> None:
        self._s = native
        self._ct = content_type

    @property
    def node(self) -> str:
        """The id of the node serving the stream."""
        return self._s.node

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._s.closed

    async def send(self, msg: Any) -> None:
        """Sends one message (dict/list as JSON, bytes as they are)."""
        body, _ = _body.encode(msg, self._ct)
        await _wait(self._s.send, body)

    async def recv(self) -> Any:
        """The next message decoded by content type, or ``None`` once the server ended the stream."""
        b = await _wait(self._s.recv)
        if b is None:
            return None
        return _body.decode(b, self._ct or _body.JSON, "reply")

    async def close_send(self) -> None:
        """Tells the server no more messages come (go-micro's EOS); receiving continues."""
        await _wait(self._s.close_send)

    async def close(self) -> None:
        """Sends the EOS if the stream is still open and drops its connection, as go-micro's
        ``Close`` does (a go-micro server sends nothing after its handler returns, so close
        rather than wait for an end). Idempotent."""
        await _wait(self._s.close)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Any]:
        while True:
            m = await self.recv()
            if m is None:
                return
            yield m

    async def __aenter__(self) -> "Stream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@dataclass
class Call:
    """A call as a client wrapper sees it: what :meth:`Client.call` was given.

    A wrapper may change any field (``call.metadata["X-User"] = "u1"``) before
    ``await next(call)`` performs it, or answer with its own :class:`Reply` without calling
    ``next``.
    """

    service: str
    """The service called."""
    endpoint: str
    """``Handler.Method``."""
    body: Any = None
    """The request body as given (dict/list, bytes, a protobuf message); encoded by ``next``."""
    content_type: str | None = None
    """The request's content type (``None``: from the body)."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Request headers (go-micro metadata) the handler sees in ``ctx.header``."""
    timeout: Seconds | None = None
    """Per-attempt timeout."""
    request_timeout: Seconds | None = None
    """Whole-call timeout."""
    retries: int | None = None
    """Retries for this call."""
    address: str | Sequence[str] | None = None
    """Explicit node address(es), bypassing the registry."""
    retry_timeouts: bool = False
    """Re-send after a timed-out attempt too (only for endpoints safe to run twice)."""


CallNext = Callable[[Call], Awaitable[Reply]]
"""What a client wrapper calls to go on: the next wrapper, or the call itself."""

CallWrapper = Callable[[Call, CallNext], Awaitable[Reply]]
"""A client wrapper: ``async def wrapper(call, next) -> Reply``."""


def _check_async(fn: Any, what: str) -> None:
    """Raises :class:`TypeError` unless ``fn`` is an ``async def`` function (or callable object)."""
    import inspect
    if not callable(fn):
        raise TypeError(f"{what} must be callable, got {type(fn).__name__}")
    if not (inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))):
        raise TypeError(f"{what} must be an async def function taking (…, next) and returning "
                        f"`await next(…)` or its own answer; got {getattr(fn, '__name__', type(fn).__name__)!r}, "
                        f"which is not async")


class Client:
    """Calls services found through the registry (or at explicit addresses).

    ``Client(registry="memory", retries=1)``; defaults come from go-micro's environment
    variables (``MICRO_REGISTRY``, ``MICRO_CLIENT_RETRIES``, ``MICRO_CLIENT_REQUEST_TIMEOUT``,
    ``MICRO_SELECTOR`` …); a keyword wins over its variable. ``selector`` is how a node is
    picked among a service's nodes: ``"random"`` (go-micro's default) or ``"roundrobin"``.
    After :meth:`close` every method raises :class:`micro.ClosedError`.

    ``wrappers=[...]`` (or :meth:`wrap`) adds client wrappers, run by :meth:`call`,
    :meth:`call_raw` and :meth:`request` on the caller's event loop; the first added is the
    outermost.
    """

    def __init__(self, *, registry: str | None = None, content_type: str | None = None,
                 request_timeout: Seconds | None = None, retries: int | None = None,
                 pool_size: int | None = None, selector: Selector | None = None, broker: str | None = None,
                 wrappers: Sequence[CallWrapper] | None = None,
                 _native_client: _native.Client | None = None) -> None:
        self._wrappers: list[CallWrapper] = []
        for w in wrappers or ():
            self.wrap(w)
        if _native_client is not None:
            self._c = _native_client
        else:
            if selector is not None and not isinstance(selector, str):
                raise TypeError(f"selector must be 'random' or 'roundrobin', got {type(selector).__name__}")
            self._c = _native_call(_native.Client, registry=registry, content_type=content_type,
                                   request_timeout=_seconds(request_timeout, "request_timeout"), retries=retries, pool_size=pool_size,
                                   selector=selector, broker=broker)

    def wrap(self, fn: W) -> W:
        """Adds a client wrapper (usable as a decorator ``@client.wrap``); returns it unchanged.

        ``async def fn(call: micro.Call, next) -> micro.Reply``: it sees the :class:`Call`,
        may change it, returns ``await next(call)`` (the reply, which it may change) or its
        own :class:`Reply` without calling the service. Wrappers run in the order added, the
        first outermost. A function that is not ``async def`` is a :class:`TypeError`.
        """
        _check_async(fn, "a client wrapper")
        self._wrappers.append(fn)
        return fn

    def close(self) -> None:
        """Closes the client: later calls, streams and publishes raise
        :class:`micro.ClosedError`. Calls already in flight finish, and streams already open
        stay open. Idempotent."""
        _native_call(self._c.close)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._c.closed

    async def publish(self, topic: str, body: Any = None, *, content_type: str | None = None,
                      headers: Mapping[str, str] | None = None) -> None:
        """Publishes ``body`` on ``topic`` through the broker (go-micro's ``client.Publish``).

        ``body``: dict/list (JSON), bytes (as is; ``application/octet-stream`` unless
        ``content_type`` says otherwise), a protobuf message. ``headers`` travel exactly as
        given, next to ``Content-Type``, ``Micro-Topic`` and ``Micro-ID``. Returns once the
        broker took the message (the http broker delivers right after). Raises
        :class:`micro.Error`: a message over the size limit is a 413, the http broker with no
        subscriber registered anywhere a :class:`micro.NotFound` (the message stays queued
        for the next publish, as in go-micro: do not retry it, or it arrives twice).
        """
        if not isinstance(topic, str) or not topic:
            raise TypeError("topic must be a non-empty str")
        data, ct = _body.encode(body, content_type)
        metadata = _with_trace(dict(headers) if headers else {}) or None
        await _wait(self._c.publish, topic, data, content_type=ct, metadata=metadata)

    async def call_raw(self, service: str, endpoint: str, body: Any = None, *, content_type: str | None = None,
                       timeout: Seconds | None = None, request_timeout: Seconds | None = None,
                       retries: int | None = None, metadata: Mapping[str, str] | None = None,
                       address: str | Sequence[str] | None = None, retry_timeouts: bool = False) -> Reply:
        """Like :meth:`call`, returning the raw :class:`Reply` (Node: ``callRaw``)."""
        call = Call(service, endpoint, body, content_type, dict(metadata) if metadata else {}, timeout,
                    request_timeout, retries, address, retry_timeouts)
        if not self._wrappers:
            return await self._perform(call)
        return await self._chain(0, call)

    async def _chain(self, i: int, call: Call) -> Reply:
        if i == len(self._wrappers):
            return await self._perform(call)

        async def next(c: Call) -> Reply:
            if not isinstance(c, Call):
                raise TypeError(f"a client wrapper must pass a micro.Call to next(), got {type(c).__name__}")
            return await self._chain(i + 1, c)
        r = await self._wrappers[i](call, next)
        if not isinstance(r, Reply):
            raise TypeError(f"a client wrapper must return a micro.Reply, got {type(r).__name__}")
        return r

    async def _perform(self, call: Call) -> Reply:
        data, ct = _body.encode(call.body, call.content_type)
        try:
            b, rct, header, node = await _wait(
                self._c.call,
                call.service, call.endpoint, data, content_type=ct, timeout=_seconds(call.timeout, "timeout"),
                request_timeout=_seconds(call.request_timeout, "request_timeout"),
                retries=call.retries, retry_timeouts=call.retry_timeouts,
                metadata=_with_trace(dict(call.metadata)) or None, address=_addresses(call.address))
        except NotFound as e:
            raise _missed(e, call.service) from None
        return Reply(b, rct, header, node)

    async def request(self, service: str, endpoint: str, body: Any = None, *, content_type: str | None = None,
                      timeout: Seconds | None = None, request_timeout: Seconds | None = None,
                      retries: int | None = None, metadata: Mapping[str, str] | None = None,
                      address: str | Sequence[str] | None = None, retry_timeouts: bool = False) -> Reply:
        """Deprecated: :meth:`call_raw` (the name both Python and Node use)."""
        warnings.warn("micro.Client.request() is deprecated; use call_raw()", DeprecationWarning, stacklevel=2)
        return await self.call_raw(service, endpoint, body, content_type=content_type, timeout=timeout,
                                   request_timeout=request_timeout, retries=retries, metadata=metadata,
                                   address=address, retry_timeouts=retry_timeouts)

    async def call(self, service: str, endpoint: str, body: Any = None, *, content_type: str | None = None,
                   timeout: Seconds | None = None, request_timeout: Seconds | None = None,
                   retries: int | None = None, metadata: Mapping[str, str] | None = None,
                   address: str | Sequence[str] | None = None, retry_timeouts: bool = False) -> Any:
        """Calls ``service``'s ``endpoint`` and returns the reply decoded by content type.

        ``body``: dict/list (JSON), bytes (as is, with ``content_type``), a protobuf message.
        ``timeout`` is per attempt (sent as go-micro's ``Timeout`` header), ``request_timeout``
        the whole call; both in seconds (a number or a ``datetime.timedelta``, at most an hour). Raises :class:`micro.Error` (``NotFound``, ``Timeout`` …).
        A timed-out attempt is not re-sent unless ``retry_timeouts=True`` marks the endpoint
        safe to run twice (then up to ``retries`` more attempts, each with ``timeout``): go-micro
        servers now and then drop a request on a live connection, and this bounds the wait.
        """
        if self._wrappers:
            r = await self.call_raw(service, endpoint, body, content_type=content_type, timeout=timeout,
                                   request_timeout=request_timeout, retries=retries, metadata=metadata,
                                   address=address, retry_timeouts=retry_timeouts)
            return r.decode()
        try:
            if (content_type is None and timeout is None and request_timeout is None and retries is None
                    and metadata is None and retry_timeouts is False and (address is None or type(address) is str)):
                # No option but an address: the body is written and the call made natively, in
                # one crossing (None back when the body is not a plain dict or list).
                started = self._c.call_value(service, endpoint, body, address, _traceparent.get())
                if started is not None:
                    fut, canceller = started
                    try:
                        b, rct = await fut
                    except BaseException:
                        canceller.abort()  # cancelled (nothing when the call failed: it ended)
                        raise
                    return b if rct is None else _body.decode(b, rct, "reply")
        except _native.NativeError as e:
            raise _call_failed(e, service) from None
        # No wrappers: what call_raw and _perform do, in one frame (no Call, no Reply).
        data, ct = _body.encode(body, content_type)
        try:
            b, rct = await self._c.call(
                service, endpoint, data, content_type=ct, timeout=_seconds(timeout, "timeout"),
                request_timeout=_seconds(request_timeout, "request_timeout"), retries=retries,
                retry_timeouts=retry_timeouts,
                metadata=_with_trace(dict(metadata) if metadata else {}) or None, address=_addresses(address),
                whole=False)
        except _native.NativeError as e:
            raise _call_failed(e, service) from None
        # A plain JSON reply comes read already (rct None); anything else as its bytes.
        return b if rct is None else _body.decode(b, rct, "reply")

    async def stream(self, service: str, endpoint: str, *, content_type: str | None = None,
                     metadata: Mapping[str, str] | None = None,
                     address: str | Sequence[str] | None = None) -> Stream:
        """Opens a bidirectional stream to ``service``'s ``endpoint``."""
        try:
            s = await _wait(self._c.stream, service, endpoint, content_type=content_type,
                            metadata=dict(metadata) if metadata else None, address=_addresses(address))
        except NotFound as e:
            raise _missed(e, service) from None
        return Stream(s, content_type)


class SyncClient(Client):
    """The blocking facade: same options, calls return directly (GIL released, Ctrl-C works).

    Client wrappers are ``async`` and run on an event loop: they apply to the ``async``
    methods this class inherits, not to the blocking ``*_sync`` calls.
    """

    def call_sync(self, service: str, endpoint: str, body: Any = None, *, content_type: str | None = None,
                  timeout: Seconds | None = None, request_timeout: Seconds | None = None,
                  retries: int | None = None, metadata: Mapping[str, str] | None = None,
                  address: str | Sequence[str] | None = None, retry_timeouts: bool = False) -> Any:
        """Blocking :meth:`Client.call`."""
        try:
            if (content_type is None and timeout is None and request_timeout is None and retries is None
                    and metadata is None and retry_timeouts is False and (address is None or type(address) is str)):
                # As in Client.call: one native crossing for the common call.
                r = self._c.call_value_blocking(service, endpoint, body, address, _traceparent.get())
                if r is not None:
                    b, rct = r
                    return b if rct is None else _body.decode(b, rct, "reply")
        except _native.NativeError as e:
            raise _call_failed(e, service) from None
        # What call_raw_sync does, in one frame, with no Reply and no headers nobody reads.
        data, ct = _body.encode(body, content_type)
        try:
            b, rct = self._c.call_blocking(
                service, endpoint, data, content_type=ct, timeout=_seconds(timeout, "timeout"),
                request_timeout=_seconds(request_timeout, "request_timeout"), retries=retries,
                retry_timeouts=retry_timeouts,
                metadata=_with_trace(dict(metadata) if metadata else {}) or None, address=_addresses(address),
                whole=False)
        except _native.NativeError as e:
            raise _call_failed(e, service) from None
        # A plain JSON reply comes read already (rct None); anything else as its bytes.
        return b if rct is None else _body.decode(b, rct, "reply")

    def publish_sync(self, topic: str, body: Any = None, *, content_type: str | None = None,
                     headers: Mapping[str, str] | None = None) -> None:
        """Blocking :meth:`Client.publish`."""
        if not isinstance(topic, str) or not topic:
            raise TypeError("topic must be a non-empty str")
        data, ct = _body.encode(body, content_type)
        _native_call(self._c.publish_blocking, topic, data, content_type=ct,
                     metadata=_with_trace(dict(headers) if headers else {}) or None)

    def call_raw_sync(self, service: str, endpoint: str, body: Any = None, *, content_type: str | None = None,
                      timeout: Seconds | None = None, request_timeout: Seconds | None = None,
                      retries: int | None = None, metadata: Mapping[str, str] | None = None,
                      address: str | Sequence[str] | None = None, retry_timeouts: bool = False) -> Reply:
        """Blocking :meth:`Client.call_raw`."""
        data, ct = _body.encode(body, content_type)
        try:
            b, rct, header, node = _native_call(
                self._c.call_blocking, service, endpoint, data, content_type=ct, timeout=_seconds(timeout, "timeout"),
                request_timeout=_seconds(request_timeout, "request_timeout"), retries=retries,
                retry_timeouts=retry_timeouts,
                metadata=_with_trace(dict(metadata) if metadata else {}) or None, address=_addresses(address))
        except NotFound as e:
            raise _missed(e, service) from None
        return Reply(b, rct, header, node)

    def request_sync(self, service: str, endpoint: str, body: Any = None, *, content_type: str | None = None,
                     timeout: Seconds | None = None, request_timeout: Seconds | None = None,
                     retries: int | None = None, metadata: Mapping[str, str] | None = None,
                     address: str | Sequence[str] | None = None, retry_timeouts: bool = False) -> Reply:
        """Deprecated: :meth:`call_raw_sync`."""
        warnings.warn("micro.SyncClient.request_sync() is deprecated; use call_raw_sync()", DeprecationWarning,
                      stacklevel=2)
        return self.call_raw_sync(service, endpoint, body, content_type=content_type, timeout=timeout,
                                  request_timeout=request_timeout, retries=retries, metadata=metadata,
                                  address=address, retry_timeouts=retry_timeouts)


class Registry:
    """Registry access: ``await Registry("mdns").get_service("greeter")``.

    ``Registry(url)`` opens its own registry (``mdns``, ``memory``, ``etcd://host:port``;
    default ``MICRO_REGISTRY``, else mDNS); ``Service.registry`` is the one a service
    registers with. Both return go-micro's registry model as dicts: ``name``, ``version``,
    ``metadata``, ``endpoints`` and ``nodes`` (``id``, ``address``, ``metadata``).
    """

    def __init__(self, url: str | None = None, *, _native_registry: _native.Registry | None = None) -> None:
        if _native_registry is not None:
            self._r = _native_registry
            return
        if url is not None and not isinstance(url, str):
            raise TypeError(f"registry url must be a str, got {type(url).__name__}")
        self._r = _native_call(_native.Registry, url)

    async def get_service(self, name: str) -> list[dict[str, Any]]:
        """Every version of ``name`` with its nodes (``[]`` when nobody serves it)."""
        if not isinstance(name, str) or not name:
            raise TypeError("service name must be a non-empty str")
        services: list[dict[str, Any]] = json.loads(await _wait(self._r.get_service, name))
        return services

    async def list_services(self) -> list[dict[str, Any]]:
        """Every service known to the registry, without nodes (as go-micro's
        ``ListServices``: mDNS knows only the names; memory and etcd add versions and
        endpoints)."""
        services: list[dict[str, Any]] = json.loads(await _wait(self._r.list_services))
        return services
