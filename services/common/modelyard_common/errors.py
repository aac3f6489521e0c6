"""Domain errors: raised by domain code, mapped to gRPC status codes by one interceptor.

Each class names what went wrong; ``code`` is the gRPC status name it maps to. Messages are
written for a person: they name the field at fault and say what is wrong with it.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExistsError",
    "BackendUnavailableError",
    "ConflictError",
    "DataLossError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "ModelyardError",
    "NotFoundError",
    "PermissionDeniedError",
    "UnauthenticatedError",
]


class ModelyardError(Exception):
    """Base of every error a client may see; ``code`` is a grpc.StatusCode name."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(ModelyardError):
    code = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


class NotFoundError(ModelyardError):
    code = "NOT_FOUND"


class AlreadyExistsError(ModelyardError):
    code = "ALREADY_EXISTS"


class FailedPreconditionError(ModelyardError):
    code = "FAILED_PRECONDITION"


class ConflictError(ModelyardError):
    code = "ABORTED"


class PermissionDeniedError(ModelyardError):
    code = "PERMISSION_DENIED"


class UnauthenticatedError(ModelyardError):
    code = "UNAUTHENTICATED"


class DataLossError(ModelyardError):
    code = "DATA_LOSS"


class BackendUnavailableError(ModelyardError):
    code = "UNAVAILABLE"
