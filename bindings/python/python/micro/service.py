"""Serving endpoints: :class:`Service`.

The native layer queues each incoming request; this module pulls them on the running event
loop and runs the handler there (``async def``) or in a worker thread (plain ``def``), so
Python code never runs on the library's own threads.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import inspect
import logging
import os
import re
import signal
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Mapping, TypeVar, overload

from . import _body, _eager, _native
from .client import (MAX_INTERVAL, Client, Registry, Seconds, _check_async, _native_call, _seconds, _traceparent,
                     _unstarted, _wait)
from .errors import _CLOSED_ID, Conflict, Error, InternalServerError, _describe

F = TypeVar("F", bound=Callable[..., Any])
"""A handler or subscriber: the decorators return it unchanged, with its own type."""

_log = logging.getLogger("micro")
_BATCH = 64  # requests taken from the native queue per wake-up of the event loop
_MISS = _body._MISS  # what Request.payload gives for a body Python decodes itself
# Worker threads answering plain `def` handlers: as many as asyncio's default executor has.
_WORKERS = min(32, (os.cpu_count() or 1) + 4)
_running: "weakref.WeakSet[Service]" = weakref.WeakSet()
_running_lock = threading.Lock()


@dataclass
class Response:
    """An explicit reply: ``body`` (bytes, or a JSON-able value) with its content type."""

    body: Any
    """The reply: bytes as they are, anything else encoded (JSON, or a protobuf message)."""
    content_type: str | None = None
    """Its content type; ``None``: ``application/octet-stream`` for bytes, ``application/protobuf``
    for a protobuf message, else ``application/json``."""


class Context:
    """What a handler knows about its request besides the decoded body."""

    def __init__(self, req: _native.Request) -> None:
        self._req = req

    @property
    def service(self) -> str:
        """The service the caller addressed."""
        return self._req.service

    @property
    def endpoint(self) -> str:
        """``Handler.Method``."""
        return self._req.endpoint

    @property
    def content_type(self) -> str:
        """The request's content type."""
        return self._req.content_type

    @property
    def header(self) -> dict[str, str]:
        """Request headers: go-micro's context metadata (pass them on with ``metadata=``)."""
        return self._req.header

    @property
    def body(self) -> bytes:
        """The raw request body."""
        return self._req.body


class Message:
    """A message delivered to a subscriber: ``topic``, ``header``, ``body`` (raw bytes)."""

    def __init__(self, msg: _native.Message) -> None:
        self._m = msg
        self.topic: str = msg.topic
        """The topic it was published on."""
        self.header: dict[str, str] = msg.header
        """Its headers, keys exactly as the publisher wrote them (``Content-Type``, ``Micro-Topic`` …)."""
        self.body: bytes = msg.body
        """The body as published (see :meth:`json`)."""

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header (``""`` if absent)."""
        return self.header.get("Content-Type", "")

    def json(self) -> Any:
        """The body parsed as JSON, whatever its content type (raises :class:`micro.BadRequest`
        if it is not JSON)."""
        try:
            return _body.json_decode(self.body)
        except ValueError as e:
            raise _body.invalid_json("request", self.content_type or _body.JSON, str(e)) from None

    def __repr__(self) -> str:
        return f"<micro.Message {self.topic} {len(self.body)} bytes>"


class ServerStream:
    """The server side of a bidirectional stream; ``async for msg in stream`` reads until EOS.

    Valid while its handler runs: once the handler returned (the stream finished) or the
    service stopped without waiting for it, ``send`` and ``recv`` raise
    :class:`micro.ClosedError`.
    """

    def __init__(self, req: _native.Request) -> None:
        self._req = req

    @property
    def content_type(self) -> str:
        """The stream's content type."""
        return self._req.content_type

    async def recv(self) -> Any:
        """The next message from the client (decoded), or ``None`` after its EOS."""
        b = await _wait(self._req.recv)
        if b is None:
            return None
        return _body.decode(b, self._req.content_type, "request", empty={})

    async def send(self, msg: Any) -> None:
        """Sends one message (dict/list as JSON, bytes as they are)."""
        data, _ = _body.encode(msg, self._req.content_type if not isinstance(msg, (bytes, bytearray, memoryview)) and _body.is_json(self._req.content_type) else None)
        await _wait(self._req.send, data)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Any]:
        while True:
            m = await self.recv()
            if m is None:
                return
            yield m


class _Handler:
    def __init__(self, fn: Callable[..., Any], stream: bool) -> None:
        if not callable(fn):
            raise TypeError(f"handler must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.stream = stream
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))
        # A plain function's calls are pulled and answered by worker threads, off the loop.
        self.threaded = not self.is_async and not stream
        self.nargs = _arity(fn)
        if stream and self.nargs == 0:
            raise TypeError("a stream handler takes the stream (and optionally the context) as arguments")

    async def __call__(self, first: Any, ctx: Context) -> Any:
        args = (first, ctx)[: self.nargs]
        if self.is_async:
            return await self.fn(*args)
        result = await asyncio.to_thread(self.fn, *args)
        if inspect.isawaitable(result):
            result = await result
        return result


class _Rest(_eager._Resume):
    """The rest of a handler's coroutine that suspended in a first step started natively,
    for its Task: answers the call with the outcome, as ``Service._answer`` does."""

    __slots__ = ("_req", "_svc")

    def __init__(self, coro: Any, waiting: Any, req: _native.Request, svc: "Service") -> None:
        super().__init__(coro, waiting)
        self._req = req
        self._svc = svc

    def send(self, value: Any) -> Any:
        try:
            return super().send(value)
        except BaseException as e:
            self._end(e)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        try:
            return super().throw(typ, val, tb)
        except BaseException as e:
            self._end(e)

    def _end(self, e: BaseException) -> None:
        """The Task's step ended: answers with the reply or with what was raised (as a first
        step's failure is answered), then ends the Task as ``_answer`` would have."""
        if isinstance(e, StopIteration):
            self._svc._respond(self._req, e.value)
        else:
            self._svc._step_failed(self._req, e)  # raises what is not an Exception
            if isinstance(e, asyncio.CancelledError):
                raise e
        raise StopIteration


_CONTEXT_NAMES = ("ctx", "context")


def _arity(fn: Callable[..., Any]) -> int:
    """How many of ``(req, ctx)`` a handler takes. The context goes to a second positional
    parameter without a default, or to one with a default that is named ``ctx`` or
    ``context`` or annotated as :class:`Context`; any other parameter with a default keeps
    it, so ``lambda req, v=v: ...`` (a loop variable bound) gets ``v``, not the context."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: give it both
        return 2
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 2
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < 2:
        return len(positional)
    second = positional[1]
    if second.default is second.empty or second.name in _CONTEXT_NAMES or _is_context(second.annotation):
        return 2
    return 1


def _is_context(annotation: Any) -> bool:
    if isinstance(annotation, str):  # ``from __future__ import annotations``: read, not evaluated
        return re.search(r"\bContext\b", annotation) is not None
    return annotation is Context or Context in getattr(annotation, "__args__", ())


def _encode_result(result: Any, request_ct: str) -> tuple[bytes, str | None]:
    if type(result) is dict:  # the usual reply, straight to JSON (what the general path does with it)
        return _body.json_line(result), request_ct if _body.is_json(request_ct) else _body.JSON
    if isinstance(result, Response):
        body, ct = _body.encode(result.body, result.content_type)
        return body, ct
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result), None
    if result is None and not _body.is_json(request_ct):
        return b"", None
    if hasattr(result, "SerializeToString"):
        return _body.encode(result, request_ct if not _body.is_json(request_ct) else None)
    ct = request_ct if _body.is_json(request_ct) else _body.JSON
    body, ct = _body.encode(result, ct)
    return body + b"\n", ct  # as go-micro's JSON codec writes it


class Service:
    """A micro service: register handlers, then ``run()`` (or ``await start()``).

    Options by keyword, defaults from go-micro's environment variables (``MICRO_REGISTRY``,
    ``MICRO_SERVER_ADDRESS``, ``MICRO_SERVER_VERSION``, ``MICRO_SERVER_METADATA``,
    ``MICRO_REGISTER_TTL`` …); a keyword wins, except that a set ``MICRO_SERVER_NAME``
    renames the service (as go-micro's ``Init`` does). ``max_concurrency=n`` lets at most
    ``n`` calls be in handlers at once; a call beyond it waits for a slot within its caller's
    timeout (``None``, the default, is go-micro's: no limit)::

        svc = micro.Service("greeter")

        @svc.handle("Greeter.Hello")
        async def hello(req, ctx):
            return {"msg": "Hello " + req["name"]}

        svc.run()
    """

    def __init__(self, name: str, *, version: str | None = None, address: str | None = None,
                 advertise: str | None = None, id: str | None = None, metadata: Mapping[str, str] | None = None,
                 registry: str | None = None, register_ttl: Seconds | None = None,
                 register_interval: Seconds | None = None, max_message_size: int | None = None,
                 broker: str | None = None, max_concurrency: int | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"service name must be a str, got {type(name).__name__}")
        self._n: _native.Service = _native_call(_native.Service, name, version=version, address=address, advertise=advertise,
                               id=id, metadata=dict(metadata) if metadata else None, registry=registry,
                               register_ttl=_seconds(register_ttl, "register_ttl", most=MAX_INTERVAL, zero=True),
                               register_interval=_seconds(register_interval, "register_interval", most=MAX_INTERVAL,
                                                          zero=True),
                               max_message_size=max_message_size, broker=broker,
                               max_concurrency=max_concurrency)
        self._handlers: dict[str, _Handler] = {}
        self._subscribers: dict[int, Callable[..., Any]] = {}
        self._subscriber_topics: list[str] = []
        self._wrappers: list[Callable[..., Any]] = []
        self._sub_wrappers: list[Callable[..., Any]] = []
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Python 3.10/3.11: the calls of these `async def` handlers start natively
        # (`_native.start_batch`): endpoint → (handler, nargs).
        self._native_start: dict[str, tuple[Callable[..., Any], int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_task: Callable[[Any], None] | None = None
        self._workers: list[threading.Thread] = []
        self._started = False
        self._client: Client | None = None
        _unstarted.add(self)

    @property
    def name(self) -> str:
        """The service name."""
        return self._n.name

    @property
    def id(self) -> str:
        """This node's id (``<name>-<uuid>``)."""
        return self._n.id

    @property
    def address(self) -> str | None:
        """The registered ``host:port`` once started."""
        return self._n.address

    @property
    def running(self) -> bool:
        """Whether the service is started."""
        return self._started

    @property
    def client(self) -> Client:
        """A client sharing this service's registry (a fresh one if the last was closed)."""
        if self._client is None or self._client.closed:
            self._client = Client(_native_client=_native_call(self._n.client))
        return self._client

    @property
    def registry(self) -> Registry:
        """The registry this service registers with: ``await svc.registry.get_service(name)``
        shows its nodes, version, metadata and endpoints as other members see them."""
        return Registry(_native_registry=_native_call(self._n.registry))

    def _add(self, endpoint: str, fn: Callable[..., Any], stream: bool, metadata: Mapping[str, str] | None) -> None:
        if not isinstance(endpoint, str) or not endpoint:
            raise TypeError("endpoint must be a non-empty str such as 'Greeter.Hello'")
        h = _Handler(fn, stream)
        _native_call(self._n.handle, endpoint, stream, dict(metadata) if metadata else None, threaded=h.threaded)
        self._handlers[endpoint] = h
        if _eager.NATIVE and h.is_async and not stream:
            self._native_start[endpoint] = (fn, h.nargs)
        else:
            self._native_start.pop(endpoint, None)

    @overload
    def handle(self, endpoint: str, fn: None = None, *, metadata: Mapping[str, str] | None = None) -> Callable[[F], F]: ...
    @overload
    def handle(self, endpoint: str, fn: F, *, metadata: Mapping[str, str] | None = None) -> F: ...

    def handle(self, endpoint: str, fn: F | None = None, *,
               metadata: Mapping[str, str] | None = None) -> F | Callable[[F], F]:
        """Adds a unary endpoint; as a decorator (``@svc.handle("Greeter.Hello")``) or directly.

        The handler takes ``(req)`` or ``(req, ctx)``: ``req`` is the body decoded by content
        type (JSON → dict, else bytes), ``ctx`` a :class:`Context` (given to a second
        parameter without a default, or to one named ``ctx``/``context`` or annotated as
        :class:`Context`: ``lambda req, v=v: ...`` keeps its ``v``). It returns a dict/list
        (sent as JSON), bytes, a :class:`Response`, or raises: a :class:`micro.Error` keeps
        its fields; anything else is logged with its traceback on the ``micro`` logger and
        answers a 500 whose detail names the type (``KeyError: 'qty'``). The decorator
        returns the function unchanged, with its own type.
        """
        if fn is not None:
            self._add(endpoint, fn, False, metadata)
            return fn

        def deco(f: F) -> F:
            self._add(endpoint, f, False, metadata)
            return f
        return deco

    @overload
    def stream(self, endpoint: str, fn: None = None) -> Callable[[F], F]: ...
    @overload
    def stream(self, endpoint: str, fn: F) -> F: ...

    def stream(self, endpoint: str, fn: F | None = None) -> F | Callable[[F], F]:
        """Adds a bidirectional stream endpoint. The handler is
        ``async def handler(stream: micro.ServerStream, ctx: micro.Context) -> None`` (``ctx``
        optional): ``async for msg in stream`` reads the client's messages until its end,
        ``await stream.send(msg)`` answers; the stream ends when the handler returns."""
        if fn is not None:
            self._add(endpoint, fn, True, None)
            return fn

        def deco(f: F) -> F:
            self._add(endpoint, f, True, None)
            return f
        return deco

    @overload
    def subscribe(self, topic: str, fn: None = None, *, queue: str | None = None) -> Callable[[F], F]: ...
    @overload
    def subscribe(self, topic: str, fn: F, *, queue: str | None = None) -> F: ...

    def subscribe(self, topic: str, fn: F | None = None, *, queue: str | None = None) -> F | Callable[[F], F]:
        """Subscribes a handler to ``topic`` through the service's broker; as a decorator
        (``@svc.subscribe("events")``) or directly. Add subscribers before ``start``.

        ``queue`` names a queue group: each message goes to one subscriber of the group
        (across processes and languages); without it every subscriber gets every message.
        The handler takes one :class:`Message` and may be ``async def`` or plain ``def``;
        both run on the service's event loop (never on the library's threads), so a plain
        function should be quick. If it raises, the message is dropped: the error is logged
        on the ``micro`` logger and reported to the broker as a go-micro error — there is no
        redelivery, as in go-micro — and later messages are delivered as usual.
        """
        def add(f: Callable[..., Any]) -> None:
            if not isinstance(topic, str) or not topic:
                raise TypeError("topic must be a non-empty str")
            if not callable(f):
                raise TypeError(f"subscriber must be callable, got {type(f).__name__}")
            if self._started:
                raise Conflict("subscribe before start()", id=self.name)
            i = _native_call(self._n.subscribe, topic, queue)
            self._subscribers[i] = f
            self._subscriber_topics.append(topic)

        if fn is not None:
            add(fn)
            return fn

        def deco(f: F) -> F:
            add(f)
            return f
        return deco

    def wrap(self, fn: F) -> F:
        """Adds a handler wrapper (go-micro's server wrapper); as a decorator (``@svc.wrap``)
        or directly; returns it unchanged.

        ``async def fn(req, ctx, next)``: ``req`` is the decoded request the handler would
        get, ``ctx`` its :class:`Context`. The wrapper may change ``req``, return
        ``await next(req, ctx)`` (the handler's answer, which it may change) or answer
        itself without calling ``next``; raising a :class:`micro.Error` answers with it,
        any other exception is a 500 for that call only. Wrappers run on the service's event
        loop in the order added, the first outermost, around unary handlers (not streams).
        A function that is not ``async def`` is a :class:`TypeError`.
        """
        _check_async(fn, "a handler wrapper")
        self._wrappers.append(fn)
        return fn

    def wrap_subscriber(self, fn: F) -> F:
        """Adds a subscriber wrapper; as a decorator (``@svc.wrap_subscriber``) or directly.

        ``async def fn(msg: micro.Message, next)``: ``await next(msg)`` delivers the message
        to the subscriber; not calling it drops the message (acknowledged, as handled). An
        exception is a failed delivery, like a raising subscriber. First added is outermost;
        a function that is not ``async def`` is a :class:`TypeError`.
        """
        _check_async(fn, "a subscriber wrapper")
        self._sub_wrappers.append(fn)
        return fn

    async def _wrapped(self, i: int, h: _Handler, req: Any, ctx: Context) -> Any:
        if i == len(self._wrappers):
            return await h(req, ctx)

        async def next(r: Any, c: Context | None = None) -> Any:
            return await self._wrapped(i + 1, h, r, ctx if c is None else c)
        return await self._wrappers[i](req, ctx, next)

    async def _deliver_wrapped(self, i: int, h: Callable[..., Any], msg: Message) -> None:
        if i == len(self._sub_wrappers):
            result = h(msg)
            if inspect.isawaitable(result):
                await result
            return

        async def next(m: Message) -> None:
            await self._deliver_wrapped(i + 1, h, m)
        await self._sub_wrappers[i](msg, next)

    async def start(self) -> None:
        """Listens, registers, and serves on the running event loop."""
        if self._started:
            raise Conflict("service is already started", id=self.name)
        await _wait(self._n.start)
        self._started = True
        _unstarted.discard(self)
        with _running_lock:
            _running.add(self)
        self._loop = asyncio.get_running_loop()
        self._dispatcher = self._loop.create_task(self._dispatch())
        if any(h.threaded for h in self._handlers.values()):
            self._workers = [threading.Thread(target=self._serve_threaded, name=f"micro-{self.name}-{i}", daemon=True)
                             for i in range(_WORKERS)]
            for t in self._workers:
                t.start()

    async def stop(self) -> None:
        """Deregisters, stops accepting, and waits for calls in flight."""
        if not self._started:
            return
        self._started = False
        with _running_lock:
            _running.discard(self)
        try:
            await _wait(self._n.stop)
        finally:
            d, self._dispatcher = self._dispatcher, None
            # A dispatcher of another (closed) loop ended with it: nothing to wait for.
            if d is not None and not d.done() and d.get_loop() is asyncio.get_running_loop():
                try:
                    await asyncio.wait_for(asyncio.shield(d), 5)
                except (asyncio.TimeoutError, asyncio.CancelledError):
                    d.cancel()
            # The worker threads see the closed inbox and end; wait for them (off the loop),
            # so none is still waking when the caller goes on to exit.
            workers, self._workers = self._workers, []
            me = threading.current_thread()
            workers = [t for t in workers if t is not me]
            if workers:
                await asyncio.get_running_loop().run_in_executor(None, _join, workers, 5.0)

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        """Starts, serves until Ctrl-C/SIGTERM (or ``stop`` is set), then stops."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        await self.start()
        try:
            await stop.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()

    def run(self) -> None:
        """Blocking: starts, serves until Ctrl-C or SIGTERM, deregisters and drains."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.serve())
            return
        raise RuntimeError("Service.run() blocks; inside a running event loop use `await svc.serve()`")

    def _close_blocking(self, timeout: float = 2.0) -> None:
        """Interpreter exit: gives up on unanswered requests, deregisters, stops."""
        self._started = False
        try:
            self._n.stop_blocking(timeout)
        except Exception:
            pass

    async def _dispatch(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            spare: list[_eager._Pending] = []
            start = self._start_task = _eager.starter(loop, self._tasks, spare)
            answer, deliver, is_message = self._answer, self._deliver, _native.Message

            def slow(req: Any) -> None:
                start(deliver(req) if isinstance(req, is_message) else answer(req))
            def suspended(req: _native.Request, coro: Any, waiting: Any, ctx: contextvars.Context,
                          stand_in: _eager._Pending) -> None:
                _eager.go_on(loop, self._tasks, ctx, stand_in, _Rest(coro, waiting, req, self))
            native, start_batch = self._native_start, _native.start_batch
            hooks = (Context, contextvars.copy_context, _traceparent, _eager.current_tasks(), loop, spare,
                     _eager._Pending, slow, self._respond, self._step_failed, suspended, _native._step)
            queued = self._n.try_next_requests
            while True:
                # What is queued already is taken at once; only an empty queue is waited for,
                # one wake-up of the loop per batch. Each request starts at once; a Task is
                # made only for one whose handler suspends.
                batch = queued(_BATCH)
                taken = bool(batch)
                if not taken:
                    batch = await _wait(self._n.next_requests, _BATCH)
                    if not batch:
                        return
                if _eager.NATIVE and not self._wrappers:
                    start_batch(batch, native, hooks)
                else:
                    for req in batch:
                        slow(req)
                if taken:
                    # Taken without a wait: the loop's other callbacks (handlers that
                    # suspended, timers) run before the next batch.
                    await asyncio.sleep(0)
        except BaseException:
            # The loop is going away without stop(): nobody will answer queued requests.
            self._n.abandon()
            raise

    def _serve_threaded(self) -> None:
        """A worker thread: pulls plain ``def`` handlers' calls (GIL released while it waits)
        and answers them here, so such a call never passes through the event loop."""
        pull = self._n.next_threaded_requests
        while True:
            try:
                batch = pull(1)  # one at a time: a handler that blocks holds up no other call
            except Exception:  # the service is gone (stopped and dropped, or a forked child)
                return
            if not batch:
                return
            for req in batch:
                self._answer_threaded(req)

    def _answer_threaded(self, req: _native.Request) -> None:
        if self._wrappers:
            # Wrappers are async: the call goes through them on the event loop, as any other.
            loop, start = self._loop, self._start_task
            if loop is not None and start is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(start, self._answer(req))
                    return
                except RuntimeError:
                    pass  # the loop closed meanwhile
            _safe_fail(req, self.name, 503, "service is shutting down", "Service Unavailable")
            return
        h = self._handlers.get(req.endpoint)
        token = _traceparent.set(req.traceparent)  # for the calls the handler makes
        try:
            if h is None:
                raise Error(f"rpc: can't find method {req.endpoint}", 500, id=self.name)
            payload = req.payload(_MISS)  # a plain JSON body, read natively
            if payload is _MISS:
                payload = _body.decode(req.body, req.content_type, "request", empty={})
            result = h.fn(payload, Context(req)) if h.nargs == 2 else h.fn(payload) if h.nargs == 1 else h.fn()
            if inspect.isawaitable(result):  # a plain function that returned an awaitable: the loop awaits it
                result = self._await_on_loop(result)
            if not req.respond_json(result):  # a plain reply is written and sent natively
                self._reply(req, result, req.content_type)
        except Exception as e:
            self._failed(req, e)
        finally:
            _traceparent.reset(token)

    def _await_on_loop(self, aw: Any) -> Any:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise Error("service is shutting down", 503, id=self.name)

        async def wait() -> Any:
            return await aw
        return asyncio.run_coroutine_threadsafe(wait(), loop).result()

    async def _deliver(self, m: _native.Message) -> None:
        msg = Message(m)
        _traceparent.set(m.traceparent)  # this message's own context
        try:
            h = self._subscribers[m.subscriber]
            await self._deliver_wrapped(0, h, msg)
        except asyncio.CancelledError:
            _safe_fail_msg(m, self.name, 503, self._cancelled(f"subscriber of {m.topic}"))
            raise
        except Exception as e:
            self._message_failed(m, e)
        else:
            try:
                m.ack()
            except _native.NativeError:
                pass  # nobody waits for the acknowledgement any more (service stopped)

    async def _answer(self, req: _native.Request) -> None:
        h = self._handlers.get(req.endpoint)
        _traceparent.set(req.traceparent)  # this request's own context
        try:
            if h is None:
                raise Error(f"rpc: can't find method {req.endpoint}", 500, id=self.name)
            if h.stream:
                await h(ServerStream(req), Context(req))
                req.respond(b"")
                return
            payload = req.payload(_MISS)  # a plain JSON body, read natively
            if payload is _MISS:
                payload = _body.decode(req.body, req.content_type, "request", empty={})
            if self._wrappers:
                result = await self._wrapped(0, h, payload, Context(req))
            elif h.is_async:  # the handler's own coroutine, awaited here: no frame between
                result = await (h.fn(payload, Context(req)) if h.nargs == 2 else
                                h.fn(payload) if h.nargs == 1 else h.fn())
            else:
                result = await h(payload, Context(req))
            if not req.respond_json(result):  # a plain reply is written and sent natively
                self._reply(req, result, req.content_type)
        except asyncio.CancelledError:
            _safe_fail(req, self.name, 503, self._cancelled(req.endpoint), "Service Unavailable")
            raise
        except Exception as e:
            self._failed(req, e)

    def _respond(self, req: _native.Request, result: Any) -> None:
        """Answers ``req`` with a handler's reply, as ``_answer`` does after the handler
        returned (for calls started natively)."""
        try:
            if not req.respond_json(result):
                self._reply(req, result, req.content_type)
        except Exception as e:
            self._failed(req, e)

    def _step_failed(self, req: _native.Request, e: BaseException) -> None:
        """Answers ``req`` with what its handler raised in a first step run natively, as
        ``_answer`` and the starter do: a cancellation is a 503, an ``Exception`` its error;
        anything else ends the dispatcher. Raised again here so that the log has its traceback."""
        try:
            raise e
        except asyncio.CancelledError:
            _safe_fail(req, self.name, 503, self._cancelled(req.endpoint), "Service Unavailable")
        except Exception as err:
            self._failed(req, err)

    def _cancelled(self, what: str) -> str:
        """The detail of the 503 for a handler that ended cancelled: the service stopping or
        its loop ending (which cancels the dispatcher too), or else the handler's own doing,
        such as awaiting a future cancelled already."""
        d = self._dispatcher
        cancelling = getattr(d, "cancelling", None)  # Python 3.11+
        if not self._started or d is None or d.done() or (cancelling is not None and cancelling() > 0):
            return "service is shutting down"
        return f"{what}: the handler was cancelled"

    def _reply(self, req: _native.Request, result: Any, request_ct: str) -> None:
        """Answers ``req`` with a handler's reply, encoded by its type and the request's
        content type; a reply that cannot be sent is a 500 naming why (and logged)."""
        try:
            body, ct = _encode_result(result, request_ct)
        except TypeError as e:
            _log.error("handler of %s returned a reply that cannot be sent: %s", req.endpoint, e)
            raise InternalServerError(f"{req.endpoint}: the handler's reply cannot be sent: {e}",
                                      id=self.name) from None
        req.respond(body, ct)

    def _failed(self, req: _native.Request, e: Exception) -> None:
        """Answers ``req`` with what its handler raised (see :meth:`_answer_error`); a
        :class:`micro.Error` is an answer like any other, so only the rest is logged. A
        reply that found nobody waiting (the caller gave up, as after its timeout) is no
        failure of the handler: it is logged at debug level only."""
        if isinstance(e, _native.NativeError) and e.args[:1] == (_CLOSED_ID,):
            _log.debug("handler of %s: its answer was not sent: %s", req.endpoint, e.args[2] if len(e.args) > 2 else e)
            return
        self._answer_error(e, f"handler of {req.endpoint}", lambda id, code, detail, status:
                           _safe_fail(req, id, code, detail, status), log_errors=False)

    def _message_failed(self, m: _native.Message, e: Exception) -> None:
        """:meth:`_failed` for a subscriber: the message fails with what it raised (the
        memory broker hands that back to the publisher), logged whatever it was."""
        self._answer_error(e, f"subscriber of {m.topic}", lambda id, code, detail, status:
                           _safe_fail_msg(m, id, code, detail), log_errors=True)

    def _answer_error(self, e: Exception, what: str, fail: Callable[[str, int, str, str], None],
                      log_errors: bool) -> None:
        """Fails with what a handler or subscriber raised: a :class:`micro.Error` as it is,
        anything else as a 500 naming its type, logged with its traceback. An error that
        cannot be sent as it is (a subclass that skipped ``Error.__init__``, a code changed
        to a str) is a 500 saying so: nothing a handler raises stops the dispatcher or a
        worker thread."""
        try:
            if isinstance(e, Error):
                if log_errors:
                    _log.error("%s failed: %s", what, _describe(e), exc_info=True)
                fail(e.id or self.name, e.code, e.detail, e.status)
                return
            detail = _describe(e)
            _log.error("%s failed: %s", what, detail, exc_info=True)
            fail(self.name, 500, detail, "Internal Server Error")
        except Exception as bad:
            detail = _unsendable(what, e, bad)
            _log.error("%s", detail, exc_info=True)
            fail(self.name, 500, detail, "Internal Server Error")

    def __repr__(self) -> str:
        return f"<micro.Service {self.name} id={self.id} running={self._started}>"


def _unsendable(what: str, e: Exception, bad: Exception) -> str:
    """The detail of the 500 for a handler's error that could not be sent as it is."""
    return f"{what} raised {type(e).__name__}, which cannot be sent as an error ({_describe(bad)})"


def _safe_fail(req: _native.Request, id: str, code: int, detail: str, status: str) -> None:
    try:
        req.fail(id, code, detail, status)
    except _native.NativeError:
        pass  # already answered, or nobody waits for the answer any more


def _join(threads: list[threading.Thread], timeout: float) -> None:
    """Joins `threads` within `timeout` seconds in all (one still in a handler is left)."""
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))


def _safe_fail_msg(m: _native.Message, id: str, code: int, detail: str) -> None:
    try:
        m.fail(id, code, detail)
    except _native.NativeError:
        pass  # already answered


@atexit.register
def _close_all() -> None:
    for s in list(_unstarted):
        if isinstance(s, Service) and (s._handlers or s._subscribers):
            what = ", ".join([*s._handlers, *(f"subscriber of {t}" for t in s._subscriber_topics)])
            _log.warning("service %r was never started, so nobody could call it (%s): "
                         "call svc.run(), or await svc.start() in your async main", s.name, what)
    with _running_lock:
        services = list(_running)
        _running.clear()
    for s in services:
        s._close_blocking()
    _native._set_exiting()


__all__ = ["Service", "Context", "Response", "ServerStream", "Message"]
