"""Limits every service shares (modelyard_common): the message cap and the deadline ceiling."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from modelyard.v1 import metadata_pb2, metadata_pb2_grpc
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
