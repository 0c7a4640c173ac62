"""go-micro's errors as Python exceptions.

Every failure from the library is a :class:`Error` with go-micro's four fields — ``id``,
``code``, ``detail``, ``status`` — and the subclass matching its code (``NotFound`` for 404,
``Timeout`` for 408, …). Raise one from a handler and the caller, in any language, receives
exactly those fields.

One way to build one: the detail, then keywords —
``micro.Error("out of stock", code=409, id="orders")``; a subclass fixes the code
(``micro.NotFound("no such order", id="orders")``). The code may also come second by position
(``Error("boom", 418)``: a ``str`` then an ``int`` cannot be misread); anything else — Node's
or Go's orders (``Error("orders", 409, "out of stock")``, ``Error(409, "out of stock")``) —
raises a ``TypeError`` that shows the right form.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from . import _native

__all__ = [
    "Error", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed",
    "Timeout", "Conflict", "InternalServerError", "Unavailable", "ClosedError", "ForkError",
]

# The id of errors raised by this package's own argument checks (as the native layer's, src/lib.rs).
_PY_ID = "micro.python"
# The ids the native layer gives its own errors for these two cases (see src/lib.rs).
_FORK_ID = "micro.python.fork"
_CLOSED_ID = "micro.python.closed"

_E = TypeVar("_E", bound="Error")


class Error(Exception):
    """A go-micro error: ``{id, code, detail, status}``.

    ``Error("boom", 418, id="go.greeter")`` — when not given, the status is derived from
    the code as go-micro's ``errors.New`` does (Go's ``http.StatusText``: ``"Not Found"``,
    ``"I'm a teapot"``, ``""`` for codes Go does not name). Subclasses fix the code:
    ``NotFound("no such user")``.
    """

    default_code: ClassVar[int] = 500
    """The code when none is given: 500 here, the subclass's code in each subclass."""

    def __new__(cls: type[_E], *args: Any, **kw: Any) -> _E:
        # Node's and Go's orders put three values first: say which form Python takes.
        if len(args) > 2:
            raise TypeError(f"micro.{cls.__name__} takes the detail and at most the code by position, got "
                            f"{len(args)} values {args!r}; write micro.{cls.__name__}(\"what went wrong\", "
                            f"code=409, id=\"my.service\")")
        return super().__new__(cls, *args)

    def __init__(self, detail: str = "", code: int | None = None, *, id: str = "", status: str | None = None) -> None:
        form = f"write micro.{type(self).__name__}(\"what went wrong\", code=409, id=\"my.service\")"
        if not isinstance(detail, str):
            raise TypeError(f"micro.{type(self).__name__}: the detail (first argument) must be a str, "
                            f"got {type(detail).__name__} {detail!r}; {form}")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise TypeError(f"micro.{type(self).__name__}: code must be an int, got {type(code).__name__} {code!r}; {form}")
        if not isinstance(id, str):
            raise TypeError(f"micro.{type(self).__name__}: id must be a str, got {type(id).__name__}; {form}")
        if status is not None and not isinstance(status, str):
            raise TypeError(f"micro.{type(self).__name__}: status must be a str, got {type(status).__name__}")
        self.id: str = id
        """Who raised it: a service name, ``go.micro.client``, ``micro.python`` … (may be empty)."""
        self.code: int = self.default_code if code is None else int(code)
        """The HTTP-like code: 400 bad request, 404 not found, 408 timeout, 500, 503 …"""
        self.detail: str = detail
        """What went wrong (also ``e.args[0]``)."""
        if status is None:
            status = _native.status_text(self.code) if -2**31 <= self.code < 2**31 else ""
        self.status: str = status
        """The code's reason phrase (``"Not Found"``), or the one given."""
        super().__init__(detail)

    def __str__(self) -> str:
        where = f" [{self.id}]" if self.id else ""
        return f"{self.code} {self.status}: {self.detail}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, code={self.code}, detail={self.detail!r}, status={self.status!r})"

    def to_dict(self) -> dict[str, Any]:
        """The error as go-micro's JSON object."""
        return {"id": self.id, "code": self.code, "detail": self.detail, "status": self.status}

    def to_json(self) -> str:
        """The error as go-micro sends it in ``Micro-Error``."""
        return json.dumps(self.to_dict())

    @staticmethod
    def wrap(cause: BaseException, code: int = 502, *, id: str = "", detail: str = "downstream call failed") -> "Error":
        """A new error for a downstream failure, keeping ``cause`` in its detail (as
        go-micro's JSON for a :class:`micro.Error`) and as ``__cause__``::

            except micro.Error as e:
                raise micro.Error.wrap(e, 502)   # or 503; the caller sees 502, not inventory's 404

        Without it a handler passes the downstream error through unchanged, as go-micro does.
        """
        if not isinstance(cause, BaseException):
            raise TypeError(f"micro.Error.wrap: cause must be an exception, got {type(cause).__name__}")
        what = cause.to_json() if isinstance(cause, Error) else _describe(cause)
        kind: type[Error] = _BY_CODE.get(code, Error) if isinstance(code, int) else Error
        e = kind(f"{detail}: {what}", code, id=id)
        e.__cause__ = cause
        return e

    @staticmethod
    def from_parts(id: str, code: int, detail: str, status: str) -> "Error":
        """The :class:`Error` subclass for ``code``, with these fields."""
        if id == _FORK_ID:
            cls: type[Error] = ForkError
        elif id == _CLOSED_ID:
            cls = ClosedError
        else:
            cls = _BY_CODE.get(code, Error)
        return cls(detail, code, id=id, status=status)


class BadRequest(Error, ValueError):
    """400: the request (or an argument) is not valid."""
    default_code = 400


class Unauthorized(Error):
    """401."""
    default_code = 401


class Forbidden(Error):
    """403."""
    default_code = 403


class NotFound(Error, LookupError):
    """404: no such service, endpoint or node."""
    default_code = 404


class MethodNotAllowed(Error):
    """405."""
    default_code = 405


class Timeout(Error, TimeoutError):
    """408: the call ran out of time (also a builtin ``TimeoutError``)."""
    default_code = 408


class Conflict(Error):
    """409 (e.g. answering a request twice, starting a started service)."""
    default_code = 409


class InternalServerError(Error):
    """500."""
    default_code = 500


class Unavailable(Error):
    """503: the service is shutting down."""
    default_code = 503


class ClosedError(Unavailable):
    """A closed or finished object was used (code 503, id ``micro.python.closed``).

    Raised by a :class:`micro.Client` after ``close()``; by a client :class:`micro.Stream`
    after ``close()`` (and ``send`` after ``close_send()`` or after the server ended it); by
    a :class:`micro.ServerStream` once its handler returned or its service stopped; and
    when answering a request nobody waits for any more. A remote service that is shutting
    down answers with a plain :class:`Unavailable` instead (its id is the service's).
    """

    def __init__(self, detail: str = "", code: int | None = None, *, id: str = _CLOSED_ID,
                 status: str | None = None) -> None:
        super().__init__(detail, code, id=id, status=status)


class ForkError(Error):
    """An object created before ``fork()`` was used in the child: create a new one there
    (id ``micro.python.fork``)."""

    def __init__(self, detail: str = "", code: int | None = None, *, id: str = _FORK_ID,
                 status: str | None = None) -> None:
        super().__init__(detail, code, id=id, status=status)


_BY_CODE: dict[int, type[Error]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    408: Timeout, 409: Conflict, 500: InternalServerError, 503: Unavailable,
}


def _describe(e: BaseException) -> str:
    """An exception as a handler's caller sees it: ``KeyError: 'qty'`` (the type, then its
    message; the type alone when it has none)."""
    try:
        text = str(e)
    except Exception as bad:  # a __str__ that raises: the type still says what it was
        return f"{type(e).__name__} (its message cannot be read: {type(bad).__name__})"
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _convert(e: BaseException) -> BaseException:
    """A native error as a :class:`Error`; anything else unchanged."""
    if isinstance(e, _native.NativeError) and len(e.args) == 4:
        id, code, detail, status = e.args
        return Error.from_parts(id, code, detail, status)
    return e
