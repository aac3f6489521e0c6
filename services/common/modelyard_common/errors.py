"""Domain errors: raised by domain code, mapped to gRPC status codes by one interceptor.

They are the client's classes (``modelyard.errors``), so a client sees the very class the
domain raised, and an error a service receives from another service's client passes on with its
code. Messages are written for a person: they name the field at fault and say what is wrong.
"""

from __future__ import annotations

from modelyard import errors as _client
from modelyard.errors import (
    AlreadyExistsError,
    ConflictError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    ModelyardError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from modelyard.errors import UnavailableError as BackendUnavailableError

__all__ = [
    "AlreadyExistsError",
    "BackendUnavailableError",
    "ConflictError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "ModelyardError",
    "NotFoundError",
    "PermissionDeniedError",
    "UnauthenticatedError",
]


class InvalidArgumentError(_client.InvalidArgumentError):
    """Bad input in ``field``; the message reads "field: problem"."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
