"""The library's own log events (registry, transport, broker, exporters) on Python's
``logging``, under the ``micro`` logger, with their levels mapped (ERROR, WARNING, INFO,
DEBUG; trace as level 5). Which events are produced is set once, when ``micro`` is imported:
``MICRO_LOG_LEVEL`` (go-micro's names: trace, debug, info, warn, error, fatal), else
``RUST_LOG``'s directives, else warnings and errors. The records then go through
``logging`` as any other: the logger's level and handlers decide what is shown (with no
logging set up, Python prints warnings and errors on stderr).

A daemon thread, ``micro-log``, pulls the events from the library and logs them; the
record's ``micro_target`` attribute names the Rust module that logged it."""

from __future__ import annotations

import atexit
import logging
import os
import threading

from . import _native

_log = logging.getLogger("micro")
_stop = threading.Event()
_thread: "threading.Thread | None" = None


def _pump() -> None:
    while True:
        got = _native._log_next(0.5)
        if got is None:
            if _stop.is_set():  # the close word did not fit in a full queue
                break
            continue
        level, target, message = got
        if level == 0:
            break
        if _log.isEnabledFor(level):
            _log.log(level, "%s", message, extra={"micro_target": target})


def _start() -> None:
    global _thread
    _stop.clear()
    _thread = threading.Thread(target=_pump, name="micro-log", daemon=True)
    _thread.start()


def _close() -> None:
    """At interpreter exit: the last events are logged, then the thread ends."""
    _stop.set()
    _native._log_close()
    if _thread is not None:
        _thread.join(2.0)


def _after_fork_in_child() -> None:
    _native._log_after_fork_in_child()
    _start()


_note = _native._log_start()
if _note:
    _log.warning("%s", _note)
_start()
atexit.register(_close)
os.register_at_fork(after_in_child=_after_fork_in_child)
