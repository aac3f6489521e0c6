"""Typed errors raised by the client, one per gRPC status code the services answer with.

The class is picked from a fixed table keyed by the status code, never from anything the server
names, so a server cannot make the client raise an arbitrary type. Codes outside the table
(UNKNOWN, CANCELLED, RESOURCE_EXHAUSTED, ...) become :class:`InternalError` carrying the code's
name.

This module does not import grpc: the services' domain code raises these classes too, and the
status codes are their names (``"NOT_FOUND"``), turned into ``grpc.StatusCode`` only where a call
is answered or made.

A call that found no server (connection refused, unknown host, TLS handshake failed) is an
:class:`UnavailableError` like any other UNAVAILABLE, but its message is not grpc's text: it
names the service and the address that could not be reached and what to do about it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InternalError",
    "InvalidArgumentError",
    "ModelyardError",
    "NotFoundError",
    "PermissionDeniedError",
    "Reachable",
    "UnauthenticatedError",
    "UnavailableError",
    "from_rpc_error",
    "unreachable_reason",
]


class ModelyardError(Exception):
    """Base of every error the client raises for a failed call.

    Attributes:
        code: Name of the gRPC status code, e.g. ``"NOT_FOUND"``.
        message: What the server said, written for a person; names the field at fault.
        request_id: Id sent with the call; the server logs it, so quote it in a bug report.
    """

    code: str = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, request_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidArgumentError(ModelyardError):
    """Bad input: a malformed name, reference, filter or value (INVALID_ARGUMENT)."""

    code = "INVALID_ARGUMENT"


class NotFoundError(ModelyardError):
    """The project, model, version or alias does not exist (NOT_FOUND)."""

    code = "NOT_FOUND"


class AlreadyExistsError(ModelyardError):
    """Something by that name exists already (ALREADY_EXISTS)."""

    code = "ALREADY_EXISTS"


class FailedPreconditionError(ModelyardError):
    """The call is valid but not now: a version not READY, a forbidden stage transition."""

    code = "FAILED_PRECONDITION"


class ConflictError(ModelyardError):
    """A concurrent change won (ABORTED); re-read and try again."""

    code = "ABORTED"


class PermissionDeniedError(ModelyardError):
    code = "PERMISSION_DENIED"


class UnauthenticatedError(ModelyardError):
    code = "UNAUTHENTICATED"


class DataLossError(ModelyardError):
    """Stored bytes do not match their digest (DATA_LOSS)."""

    code = "DATA_LOSS"


class UnavailableError(ModelyardError):
    """The service or one of its backing stores cannot be reached (UNAVAILABLE).

    Attributes:
        unreachable: The service the call found no server for, when the caller named it (None
            when a server answered UNAVAILABLE itself, or the service was not named).
    """

    code = "UNAVAILABLE"
    unreachable: Reachable | None = None


class DeadlineExceededError(ModelyardError):
    """The call did not finish within its timeout (DEADLINE_EXCEEDED)."""

    code = "DEADLINE_EXCEEDED"


class InternalError(ModelyardError):
    """A server bug or any status code without a class of its own; ``code`` says which."""

    code = "INTERNAL"


_BY_CODE: dict[str, type[ModelyardError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        ConflictError,
        PermissionDeniedError,
        UnauthenticatedError,
        DataLossError,
        UnavailableError,
        DeadlineExceededError,
    )
}


@dataclass(frozen=True, slots=True)
class Reachable:
    """Where a client looks for a service, for the message of a call that could not reach it.

    Attributes:
        service: What to call it, e.g. ``"metadata service"``.
        address: The "host:port" the client dialled.
        hint: What the user can do, e.g. ``"is the platform running (`make run`)?"``.
    """

    service: str
    address: str
    hint: str = ""


# How grpc's own status text begins when no connection could be made: a server never sent it.
# (Once connected, a server's UNAVAILABLE, such as "Postgres is unreachable", is passed on as is.)
_NO_CONNECTION = (
    "failed to connect to all addresses",
    "connections to all backends failing",
    "errors resolving",
    "dns resolution failed",
)
# The address grpc names in that text, and what it says of it: "ipv4:127.0.0.1:7410: <what>".
_DIALLED = re.compile(r"\bipv[46]:(\S+?): (.*)$")


def unreachable_reason(details: str) -> str | None:
    """What the operating system, the resolver or TLS said (``"Connection refused"``), when
    ``details`` is grpc's text for a call that found no server; None for any other text."""
    if not details.lower().startswith(_NO_CONNECTION):
        return None
    dialled = _DIALLED.search(details)
    if dialled is None:  # a name that did not resolve: "errors resolving ...: Domain name not found]"
        return details.rstrip(" ]").rsplit(": ", 1)[-1].strip()
    said = dialled[2].removeprefix("Failed to connect to remote host: ")
    return said.split(": ", 1)[0].strip()  # the cause, without TLS's error stack


def from_rpc_error(exc: Any, *, request_id: str = "", reachable: Reachable | None = None) -> ModelyardError:
    """Returns the typed error for a failed call (``grpc.RpcError`` or ``grpc.aio.AioRpcError``:
    what has ``code()`` returning a ``grpc.StatusCode`` and ``details()``).

    Args:
        exc: The error grpc raised.
        request_id: The id the call was sent with.
        reachable: The service called; named (with its hint) when the call found no server.
    """
    # grpc.RpcError itself declares neither code() nor details(); the errors grpc raises do.
    code_of = getattr(exc, "code", None)
    details_of = getattr(exc, "details", None)
    name = getattr(code_of() if callable(code_of) else None, "name", None)  # a grpc.StatusCode's
    message = (details_of() if callable(details_of) else None) or ""
    if not isinstance(name, str) or name == "OK":
        return InternalError(message or str(exc), code="UNKNOWN", request_id=request_id)
    if name == "UNAVAILABLE" and (reason := unreachable_reason(message)) is not None:
        error = UnavailableError(_unreachable(message, reason, reachable), request_id=request_id)
        error.unreachable = reachable
        return error
    cls = _BY_CODE.get(name, InternalError)
    return cls(message or name.lower().replace("_", " "), code=name, request_id=request_id)


def _unreachable(details: str, reason: str, reachable: Reachable | None) -> str:
    """``cannot reach the metadata service at 127.0.0.1:7410 (Connection refused): <hint>``."""
    if reachable is None:
        dialled = _DIALLED.search(details)
        reachable = Reachable("server", dialled[1] if dialled else "the address given")
    text = f"cannot reach the {reachable.service} at {reachable.address}"
    if reason:
        text += f" ({reason})"
    return f"{text}: {reachable.hint}" if reachable.hint else text
