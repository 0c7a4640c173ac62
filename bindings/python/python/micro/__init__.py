"""micro: go-micro for Python, in-process.

A program that imports ``micro`` is a full member of a go-micro mesh: it serves endpoints,
calls services and streams, speaking go-micro's own wire protocol (mDNS discovery by
default), with no sidecar::

    import micro

    svc = micro.Service("greeter")

    @svc.handle("Greeter.Hello")
    async def hello(req, ctx):
        return {"msg": "Hello " + req["name"]}

    svc.run()

and ``await micro.Client().call("greeter", "Greeter.Hello", {"name": "John"})``.
"""

from __future__ import annotations

import os as _os

from . import _logs as _logs  # the library's log events on the `micro` logger
from . import _native
from .client import Call, Client, Registry, Reply, Stream, SyncClient
from .errors import (BadRequest, ClosedError, Conflict, Error, ForkError, Forbidden, InternalServerError,
                     MethodNotAllowed, NotFound, Timeout, Unauthorized, Unavailable)
from .service import Context, Message, Response, ServerStream, Service

__version__: str = _native.version()

# fork(): no runtime thread may be inside the interpreter while it is copied (see the
# README's "After fork()"); the child builds its own runtime on first use.
_os.register_at_fork(before=_native._before_fork, after_in_parent=_native._after_fork_in_parent)

__all__ = [
    "Service", "Message", "Call", "Client", "SyncClient", "Registry", "Reply", "Stream", "ServerStream", "Context", "Response",
    "Error", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed", "Timeout", "Conflict",
    "InternalServerError", "Unavailable", "ClosedError", "ForkError", "__version__",
]
