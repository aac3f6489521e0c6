"""Typed errors raised by the client, one per gRPC status code the services answer with.

The class is picked from a fixed table keyed by the status code, never from anything the server
names, so a server cannot make the client raise an arbitrary type. Codes outside the table
(UNKNOWN, CANCELLED, RESOURCE_EXHAUSTED, ...) become :class:`InternalError` carrying the code's
name.
"""

from __future__ import annotations

import grpc

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
    "UnauthenticatedError",
    "UnavailableError",
    "from_rpc_error",
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
    """The service or one of its backing stores cannot be reached (UNAVAILABLE)."""

    code = "UNAVAILABLE"


class DeadlineExceededError(ModelyardError):
    """The call did not finish within its timeout (DEADLINE_EXCEEDED)."""

    code = "DEADLINE_EXCEEDED"


class InternalError(ModelyardError):
    """A server bug or any status code without a class of its own; ``code`` says which."""

    code = "INTERNAL"


_BY_CODE: dict[grpc.StatusCode, type[ModelyardError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: ConflictError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def from_rpc_error(exc: grpc.RpcError, *, request_id: str = "") -> ModelyardError:
    """Returns the typed error for a failed call (``grpc.RpcError`` or ``grpc.aio.AioRpcError``)."""
    # grpc.RpcError itself declares neither code() nor details(); the errors grpc raises do.
    code_of = getattr(exc, "code", None)
    details_of = getattr(exc, "details", None)
    code = code_of() if callable(code_of) else None
    message = (details_of() if callable(details_of) else None) or ""
    if not isinstance(code, grpc.StatusCode):
        return InternalError(message or str(exc), code="UNKNOWN", request_id=request_id)
    cls = _BY_CODE.get(code, InternalError)
    return cls(message or code.name.lower().replace("_", " "), code=code.name, request_id=request_id)
