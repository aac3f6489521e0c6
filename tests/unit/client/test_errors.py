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


_REFUSED = (
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7410: "
    "Failed to connect to remote host: Connection refused"
)


def test_a_call_that_found_no_server_names_the_service_its_address_and_what_to_do() -> None:
    reachable = errors.Reachable("metadata service", "localhost:7410", "is the platform running (`make run`)?")

    error = errors.from_rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE, _REFUSED), reachable=reachable)

    assert type(error) is errors.UnavailableError and error.code == "UNAVAILABLE"
    assert error.message == (
        "cannot reach the metadata service at localhost:7410 (Connection refused): "
        "is the platform running (`make run`)?"
    )
    assert error.unreachable == reachable


@pytest.mark.parametrize(
    ("details", "reason"),
    [
        (_REFUSED, "Connection refused"),
        (
            "errors resolving nosuch.invalid:7410: [field:hostname lookup error:address lookup failed for "
            "nosuch.invalid:7410: Domain name not found]",
            "Domain name not found",
        ),
        (
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:7410: Tls handshake failed "
            "(TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:100000f7:SSL routines:OPENSSL_internal:"
            "WRONG_VERSION_NUMBER: Invalid certificate verification context: OK",
            "Tls handshake failed (TSI_PROTOCOL_FAILURE)",
        ),
    ],
)
def test_the_reason_a_connection_failed_is_the_one_a_person_can_act_on(details: str, reason: str) -> None:
    assert errors.unreachable_reason(details) == reason


def test_without_a_service_named_the_address_grpc_dialled_is_named() -> None:
    error = errors.from_rpc_error(_rpc_error(grpc.StatusCode.UNAVAILABLE, _REFUSED))
    assert error.message == "cannot reach the server at 127.0.0.1:7410 (Connection refused)"
    assert isinstance(error, errors.UnavailableError) and error.unreachable is None


def test_an_unavailable_answered_by_a_server_keeps_its_words() -> None:
    reachable = errors.Reachable("metadata service", "127.0.0.1:7410", "is the platform running?")
    error = errors.from_rpc_error(
        _rpc_error(grpc.StatusCode.UNAVAILABLE, "Postgres is unreachable; try again"), reachable=reachable
    )
    assert (type(error), error.message) == (errors.UnavailableError, "Postgres is unreachable; try again")
    assert isinstance(error, errors.UnavailableError) and error.unreachable is None
