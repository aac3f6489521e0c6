"""gRPC status -> typed client error, by a fixed table (modelyard.errors)."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from modelyard import errors


def _rpc_error(code: grpc.StatusCode, details: str = "", **trailing: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing.items()), details=details)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgumentError),
        (grpc.StatusCode.NOT_FOUND, errors.NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExistsError),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPreconditionError),
        (grpc.StatusCode.ABORTED, errors.ConflictError),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDeniedError),
        (grpc.StatusCode.UNAUTHENTICATED, errors.UnauthenticatedError),
        (grpc.StatusCode.DATA_LOSS, errors.DataLossError),
        (grpc.StatusCode.UNAVAILABLE, errors.UnavailableError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceededError),
        (grpc.StatusCode.INTERNAL, errors.InternalError),
    ],
)
def test_each_status_code_maps_to_its_class(code: grpc.StatusCode, cls: type[errors.ModelyardError]) -> None:
    error = errors.from_rpc_error(_rpc_error(code, "model 'fraud/scorer' has no version 9"))
    assert type(error) is cls
    assert error.code == code.name == cls.code
    assert error.message == str(error) == "model 'fraud/scorer' has no version 9"


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED]
)
def test_codes_without_a_class_are_internal_errors_carrying_the_code(code: grpc.StatusCode) -> None:
    error = errors.from_rpc_error(_rpc_error(code, "quota"))
    assert type(error) is errors.InternalError
    assert (error.code, error.message) == (code.name, "quota")


def test_the_class_comes_from_the_code_never_from_what_the_server_names() -> None:
    error = errors.from_rpc_error(
        _rpc_error(grpc.StatusCode.NOT_FOUND, "AlreadyExistsError: nope", **{"error-class": "AlreadyExistsError"})
    )
    assert type(error) is errors.NotFoundError


def test_empty_details_fall_back_to_the_code_in_words() -> None:
    assert errors.from_rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE)).message == "unavailable"


def test_an_rpc_error_without_a_status_is_unknown() -> None:
    error = errors.from_rpc_error(grpc.RpcError("channel closed"))
    assert (type(error), error.code, error.message) == (errors.InternalError, "UNKNOWN", "channel closed")


def test_request_id_is_kept_for_bug_reports() -> None:
    error = errors.from_rpc_error(_rpc_error(grpc.StatusCode.INTERNAL, "internal error"), request_id="abc123")
    assert error.request_id == "abc123"
    assert repr(error) == "InternalError(code='INTERNAL', message='internal error')"


def test_every_error_is_a_modelyard_error_and_catchable_as_such() -> None:
    with pytest.raises(errors.ModelyardError) as caught:
        raise errors.from_rpc_error(_rpc_error(grpc.StatusCode.DATA_LOSS, "sha256 mismatch"))
    assert isinstance(caught.value, errors.DataLossError)
    assert all(
        issubclass(getattr(errors, name), errors.ModelyardError) for name in errors.__all__ if name.endswith("Error")
    )
