"""Limits every service shares (modelyard_common): the message cap, each method's request size,
requests protobuf cannot decode, and the deadline ceiling."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message

from modelyard.v1 import deploy_pb2, metadata_pb2, metadata_pb2_grpc, registry_pb2, types_pb2
from modelyard_common.embedded.service import ServiceProcess
from modelyard_common.server import MAX_MESSAGE_BYTES


def test_a_message_over_the_cap_is_resource_exhausted_and_the_service_stays_up(
    metadata_service: ServiceProcess,
) -> None:
    with grpc.insecure_channel(metadata_service.target) as channel:
        stub = metadata_pb2_grpc.MetadataServiceStub(channel)
        huge = metadata_pb2.CreateProjectRequest(name="huge", description="a" * MAX_MESSAGE_BYTES)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CreateProject(huge, timeout=30)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetProject(metadata_pb2.GetProjectRequest(name="huge"), timeout=30)
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND


def test_unary_calls_without_a_deadline_end_at_the_servers_ceiling_and_streams_do_not(
    start_service: Callable[[str, dict[str, str]], ServiceProcess], fresh_database: str
) -> None:
    # A ceiling shorter than any database round trip: every unary call without a deadline hits it.
    service = start_service("metadata", {"db_dsn": fresh_database, "rpc_timeout_seconds": "0.000001"})
    with grpc.insecure_channel(service.target) as channel:
        stub = metadata_pb2_grpc.MetadataServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetProject(metadata_pb2.GetProjectRequest(name="absent"))
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert caught.value.details() == (
            "the call took longer than the server's 1e-06 s limit for calls without a deadline"
        )
        # The client's own deadline wins over the ceiling.
        for name in ("first", "second"):
            stub.CreateProject(metadata_pb2.CreateProjectRequest(name=name), timeout=30)
        # A stream is not cut: it replays the second project's event.
        events = stub.WatchEvents(metadata_pb2.WatchEventsRequest(after_id=1))
        try:
            assert next(events).event.resource == "second"
        finally:
            events.cancel()


# Stands in for a string's bytes until the wire bytes are swapped for invalid UTF-8 of the same length.
_PLACEHOLDER = "\u2603bad"
_INVALID_UTF8 = b"\xff\xfe\xfd\xfc\xfb\xfa"


def with_invalid_utf8(message: Message) -> bytes:
    """``message`` on the wire, with each string holding _PLACEHOLDER made invalid UTF-8."""
    data = message.SerializeToString()
    assert _PLACEHOLDER.encode() in data
    return data.replace(_PLACEHOLDER.encode(), _INVALID_UTF8)


def raw_call(target: str, method: str, request: bytes, *, client_stream: bool = False) -> grpc.RpcError:
    """The error ``method`` answers to ``request``, sent as it is (no serializer in the way)."""
    with grpc.insecure_channel(target) as channel, pytest.raises(grpc.RpcError) as caught:
        if client_stream:
            channel.stream_unary(method)(iter([request]), timeout=30)
        else:
            channel.unary_unary(method)(request, timeout=30)
    return caught.value


def nested(depth: int) -> dict[str, object]:
    """A JSON object ``depth`` objects deep."""
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_strings_that_are_not_utf8_are_invalid_argument_naming_the_field_in_every_service(
    metadata_service: ServiceProcess, registry_service: ServiceProcess, deploy_service: ServiceProcess
) -> None:
    header = registry_pb2.UploadFileHeader(reference="p/m:1", path=_PLACEHOLDER)
    calls = [
        (metadata_service, "/modelyard.v1.MetadataService/CreateProject",
         metadata_pb2.CreateProjectRequest(name=_PLACEHOLDER), False, "name"),
        (metadata_service, "/modelyard.v1.MetadataService/CreateModel",
         metadata_pb2.CreateModelRequest(model=types_pb2.Model(tags={"team": _PLACEHOLDER})), False,
         "model.tags[0].value"),
        (registry_service, "/modelyard.v1.RegistryService/StatArtifact",
         registry_pb2.StatArtifactRequest(reference=_PLACEHOLDER), False, "reference"),
        (registry_service, "/modelyard.v1.RegistryService/UploadFile",
         registry_pb2.UploadFileRequest(header=header), True, "header.path"),
        (deploy_service, "/modelyard.v1.DeployService/GetDeployment",
         deploy_pb2.GetDeploymentRequest(name=_PLACEHOLDER), False, "name"),
    ]  # fmt: skip
    for service, method, request, client_stream, field in calls:
        error = raw_call(service.target, method, with_invalid_utf8(request), client_stream=client_stream)
        assert (error.code(), error.details()) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{field}: is not valid UTF-8",
        ), method
    with pytest.raises(grpc.RpcError) as missing:
        metadata_pb2_grpc.MetadataServiceStub(grpc.insecure_channel(metadata_service.target)).GetProject(
            metadata_pb2.GetProjectRequest(name="\ufffd"), timeout=30
        )
    assert missing.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_request_nested_past_protobufs_decode_limit_is_invalid_argument(metadata_service: ServiceProcess) -> None:
    request = metadata_pb2.LogMetricsRequest(reference="p/m:1")
    request.metrics.add(name="deep").structured.update(nested(40))
    error = raw_call(metadata_service.target, "/modelyard.v1.MetadataService/LogMetrics", request.SerializeToString())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "metrics[0].structured.fields[0]...: nests messages more than 100 levels deep"


def test_a_request_over_its_methods_bound_is_refused_before_it_is_decoded(metadata_service: ServiceProcess) -> None:
    # Under the server's cap (LogMetrics may take 8 MiB), over CreateProject's 1 MiB.
    request = metadata_pb2.CreateProjectRequest(name="big", description="a" * (2 * 1024 * 1024))
    error = raw_call(
        metadata_service.target, "/modelyard.v1.MetadataService/CreateProject", request.SerializeToString()
    )
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == f"request: is {request.ByteSize()} bytes; CreateProject takes at most 1048576"


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_refused_oversized_requests_leave_the_servers_memory_flat(
    start_service: Callable[[str, dict[str, str]], ServiceProcess], fresh_database: str
) -> None:
    # 15 MiB, under the former cap of every method: a call that needs a few KiB buffered and decoded
    # it whole, and 96 of them, 16 at once, grew the server by 2.4 GiB (240: by more still).
    service = start_service("metadata", {"db_dsn": fresh_database})
    huge = metadata_pb2.CreateProjectRequest(name="huge", description="a" * (15 * 1024 * 1024))
    with grpc.insecure_channel(service.target) as channel:
        stub = metadata_pb2_grpc.MetadataServiceStub(channel)
        stub.CreateProject(metadata_pb2.CreateProjectRequest(name="warm"), timeout=30)

        def refused(_: int) -> grpc.StatusCode:
            with pytest.raises(grpc.RpcError) as caught:
                stub.CreateProject(huge, timeout=60)
            return caught.value.code()

        def grown_by(calls: int) -> float:
            before = _rss_mib(service.pid)
            with ThreadPoolExecutor(16) as pool:
                assert set(pool.map(refused, range(calls))) == {grpc.StatusCode.RESOURCE_EXHAUSTED}
            return _rss_mib(service.pid) - before

        first, then = grown_by(96), grown_by(144)
    print(f"metadata RSS +{first:.0f} MiB after 96 refused 15 MiB requests, 16 at once; +{then:.0f} MiB after 144 more")
    # What is read of a refused request before grpc drops it is bounded (the server's largest
    # message, 8 MiB, and what HTTP/2 flow control let in: +3 to +202 MiB seen for the first
    # batch, +0 to +108 MiB for the next, by machine load, as allocator arenas settle) and freed:
    # never the 16 requests in flight whole, and not growing with the number of calls. Buffering
    # them would cost ~25 MiB a call: 2.4 GiB for the first batch, 3.6 GiB more for the next.
    assert first < 320, f"RSS grew by {first:.0f} MiB"
    assert then < 320, f"RSS grew by {then:.0f} MiB more after 144 more calls"
