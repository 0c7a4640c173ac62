"""Starting a request's coroutine without a Task when it never waits.

Most handlers answer without awaiting anything that suspends (decode, compute, return). A
Task per request costs a scheduling round trip of the event loop and several microseconds;
running the coroutine's first step at once, and making a Task only for a coroutine that
suspends, is what Python 3.12's eager tasks do (``asyncio.Task(..., eager_start=True)``),
and what :func:`starter` uses there.

Python 3.10 and 3.11 have no eager tasks, so :func:`starter` does the same by hand: the
first step runs in the coroutine's own context (a copy, as a Task's), with a stand-in task
current (:class:`_Pending`), so ``asyncio.current_task()``, ``asyncio.timeout()`` and
``asyncio.TaskGroup`` see a task as they would in a Task; a coroutine that suspends goes on
in a real Task, and the stand-in forwards to it from then on.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import sys
from typing import Any, Callable, Coroutine, Generator

Coro = Coroutine[Any, Any, None]


#: Whether a service starts its ``async def`` handlers' calls natively (``_native.start_batch``):
#: on the Pythons where :func:`starter` works by hand, whose stand-in and Task it shares.
NATIVE = sys.version_info < (3, 12)


def current_tasks() -> dict[asyncio.AbstractEventLoop, Any]:
    """asyncio's record of each loop's current task (see :func:`starter`)."""
    return asyncio.tasks._current_tasks  # type: ignore[attr-defined,no-any-return]


def go_on(loop: asyncio.AbstractEventLoop, keep: set[asyncio.Task[None]], ctx: contextvars.Context,
          stand_in: _Pending, rest: Coro) -> None:
    """Runs ``rest`` (a coroutine's steps after its first, which suspended with ``stand_in``
    current) in a Task of ``loop`` in ``ctx``, kept in ``keep`` until done; ``stand_in``
    forwards to it from then on."""
    t = ctx.run(loop.create_task, rest)
    stand_in._became(t)
    keep.add(t)
    t.add_done_callback(keep.discard)


def starter(loop: asyncio.AbstractEventLoop, keep: set[asyncio.Task[None]],
            spare: list[_Pending] | None = None) -> Callable[[Coro], None]:
    """A function that starts a coroutine on ``loop`` (the running loop, called from a task
    of it): its first step at once, the rest in a Task kept in ``keep`` until done.
    ``spare`` holds the stand-ins kept for reuse (shared with ``_native.start_batch``).

    The coroutine must handle its own exceptions: one it raises in its first step is
    re-raised by the call, like a Task's would be logged by the loop. A ``CancelledError``
    is not: the coroutine then ends as a cancelled Task would, quietly.
    """
    if sys.version_info >= (3, 12):
        def start_eager(coro: Coro) -> None:
            t = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
            if not t.done():
                keep.add(t)
                t.add_done_callback(keep.discard)
        return start_eager

    # asyncio's own record of each loop's current task: in 3.10 and 3.11 alike a plain dict
    # (private), which `current_task`, `_enter_task` and `_leave_task` only look up, check
    # and set. It is set here directly, without those calls' checks.
    current = current_tasks()

    # The stand-in of a coroutine that finished in its first step, kept for the next one when
    # nothing else holds it. With the dict set directly, this takes 0.2-0.3 us off the 1.6 us
    # a start cost (a loop of starts of a handler that never waits; neither helps alone).
    spares: list[_Pending] = [] if spare is None else spare

    def start(coro: Coro) -> None:
        ctx = contextvars.copy_context()
        caller = current.get(loop)
        stand_in = spares.pop() if spares else _Pending(loop)
        current[loop] = stand_in
        try:
            waiting = ctx.run(coro.send, None)
        except StopIteration:
            waiting = _GONE
        except asyncio.CancelledError:
            # A Task whose coroutine raises CancelledError ends cancelled, and nobody hears
            # of it; a first step that does (it awaited a future cancelled already) ends
            # the same way, not in the caller (a service's dispatcher, which would stop).
            return
        finally:
            if caller is None:
                current.pop(loop, None)
            else:
                current[loop] = caller
        if waiting is _GONE:
            # Reused only when untouched: no cancel() asked of it, and no reference to it left
            # anywhere (ours and getrefcount's argument are the two counted).
            if stand_in._cancels == 0 and sys.getrefcount(stand_in) == 2:
                spares.append(stand_in)
            return
        # It suspended on `waiting`: a Task (in the same context) waits for it and goes on.
        go_on(loop, keep, ctx, stand_in, _Resume(coro, waiting))
    return start


class _Resume(collections.abc.Coroutine[Any, Any, None]):
    """The rest of ``coro``, which suspended on ``waiting`` in a step run outside a Task,
    as a coroutine for the Task that runs it.

    The Task's first step gets ``waiting``, as if ``coro`` had just yielded it; every later
    step goes to ``coro``. A cancellation that comes before that first step (the Task is
    cancelled as soon as it exists) is thrown into ``coro`` where it waits, as it would be
    in a Task that had run ``coro`` from the start.
    """

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coro, waiting: Any) -> None:
        self._coro = coro
        self._waiting: Any = waiting

    def send(self, value: Any) -> Any:
        w = self._waiting
        if w is not _GONE:
            self._waiting = _GONE
            return w
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._waiting = _GONE
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # pragma: no cover - the old three-argument form

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, None]:
        raise TypeError("a resumed request runs only in its own Task")

    def __repr__(self) -> str:
        return f"<resumed {self._coro!r}>"


_GONE = object()


class _Pending:
    """The current task while a coroutine's first step runs outside a Task.

    Whatever holds it (``asyncio.timeout``, ``asyncio.TaskGroup``, a handler's own
    reference) reaches the Task that runs the rest once there is one; a cancellation
    asked for before that is passed on to it.
    """

    __slots__ = ("_loop", "_task", "_cancels", "_msg")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task: asyncio.Task[None] | None = None
        self._cancels = 0
        self._msg: Any = None

    def _became(self, task: asyncio.Task[None]) -> None:
        self._task = task
        for _ in range(self._cancels):
            task.cancel(self._msg)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def cancel(self, msg: Any = None) -> bool:
        if self._task is not None:
            return self._task.cancel(msg)
        self._cancels += 1
        self._msg = msg
        return True

    def cancelling(self) -> int:
        if self._task is not None:
            return self._task.cancelling()
        return self._cancels

    def uncancel(self) -> int:
        if self._task is not None:
            return self._task.uncancel()
        if self._cancels > 0:
            self._cancels -= 1
        return self._cancels

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def cancelled(self) -> bool:
        return self._task is not None and self._task.cancelled()

    def __getattr__(self, name: str) -> Any:
        if self._task is None:
            raise AttributeError(f"{name!r} of a request's task is not available before its first await")
        return getattr(self._task, name)

    def __repr__(self) -> str:
        return f"<micro request task {self._task!r}>"
