"""Standard gRPC tooling against every server: health Watch and client-side health checking,
server reflection v1 (and v1alpha), and every streaming handler shape the interceptor wraps.
(The inference server's turn is in tests/integration/serving/test_serving_grpc_standards.py.)"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_standards import (
    V1,
    V1ALPHA,
    health_checked_channel,
    listed_and_resolved,
    reflection_resolves,
    watch_count,
    watch_serving_then_leave,
    watching,
)
from prometheus_client import REGISTRY
from replica_processes import until

from modelyard.v1 import deploy_pb2, deploy_pb2_grpc, metadata_pb2, metadata_pb2_grpc, registry_pb2, registry_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess
from modelyard_common.interceptor import DEFAULT_MAX_REQUEST_BYTES, ServiceInterceptor

SERVICES = {
    "metadata": "modelyard.v1.MetadataService",
    "registry": "modelyard.v1.RegistryService",
    "deploy": "modelyard.v1.DeployService",
}


def a_call(kind: str, channel: grpc.Channel) -> None:
    """One call of the service's own, which any caller may make (a missing name: NOT_FOUND)."""
    with pytest.raises(grpc.RpcError) as caught:
        if kind == "metadata":
            metadata_pb2_grpc.MetadataServiceStub(channel).GetProject(
                metadata_pb2.GetProjectRequest(name="absent"), timeout=10
            )
        elif kind == "registry":
            registry_pb2_grpc.RegistryServiceStub(channel).StatArtifact(
                registry_pb2.StatArtifactRequest(reference="absent/m:1"), timeout=10
            )
        else:
            deploy_pb2_grpc.DeployServiceStub(channel).GetDeployment(
                deploy_pb2.GetDeploymentRequest(name="absent"), timeout=10
            )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND, caught.value


@pytest.mark.parametrize("kind", SERVICES)
def test_health_watch_streams_serving_and_a_cancelled_watch_counts_cancelled_not_error(
    kind: str, request: pytest.FixtureRequest
) -> None:
    watch_serving_then_leave(request.getfixturevalue(f"{kind}_service"))


@pytest.mark.parametrize("kind", SERVICES)
def test_a_channel_with_client_side_health_checking_makes_rpcs(kind: str, request: pytest.FixtureRequest) -> None:
    service: ServiceProcess = request.getfixturevalue(f"{kind}_service")
    cancelled = watch_count(service, "CANCELLED")
    with health_checked_channel(service) as channel:
        # Every call on this channel waits for the backend's Watch to say SERVING.
        a_call(kind, channel)
        # The channel really checks health: its Watch is open on the server.
        assert watching(service) >= 1
    until(lambda: watch_count(service, "CANCELLED") > cancelled, "the channel's Watch ended CANCELLED", 30)
    assert watch_count(service, "INTERNAL") == 0


@pytest.mark.parametrize("kind", SERVICES)
def test_reflection_v1_lists_the_services_and_resolves_their_files(kind: str, request: pytest.FixtureRequest) -> None:
    reflection_resolves(request.getfixturevalue(f"{kind}_service"), SERVICES[kind])


def test_reflection_and_health_stay_open_without_a_token_when_authentication_is_on(
    start_service: Callable[[str, dict[str, str]], ServiceProcess], fresh_database: str
) -> None:
    token = "myd_" + secrets.token_urlsafe(32)
    service = start_service("metadata", {"db_dsn": fresh_database, "auth_enabled": "true", "admin_token": token})
    for method in (V1, V1ALPHA):
        assert "modelyard.v1.MetadataService" in listed_and_resolved(service.target, method)
    with health_checked_channel(service) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
        with pytest.raises(grpc.RpcError) as refused:
            metadata_pb2_grpc.MetadataServiceStub(channel).ListProjects(metadata_pb2.ListProjectsRequest(), timeout=10)
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


# Every streaming shape grpc.aio accepts, as the interceptor wraps it, served in this process over
# a real socket: an async generator, or a coroutine function that sends with context.write, for
# server streams and bidirectional streams alike. Each echoes its requests doubled, then fails
# when asked to, so that the error mapping is seen through each shape too.


def _reply(text: str) -> bytes:
    if text == "boom":
        raise RuntimeError("a bug")
    return (text * 2).encode()


async def _server_generator(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
    for part in request.decode().split(","):
        yield _reply(part)


async def _server_writer(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    for part in request.decode().split(","):
        await context.write(_reply(part))


async def _bidi_generator(
    requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
) -> AsyncIterator[bytes]:
    async for request in requests:
        yield _reply(request.decode())


async def _bidi_writer(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> None:
    async for request in requests:
        await context.write(_reply(request.decode()))


async def _bidi_reader(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> None:
    while (request := await context.read()) is not grpc.aio.EOF:
        await context.write(_reply(request.decode()))


async def _upload_reader(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    received = b""
    while (request := await context.read()) is not grpc.aio.EOF:
        received += request
    return received


_SHAPES = grpc.method_handlers_generic_handler(
    "test.Shapes",
    {
        "ServerGenerator": grpc.unary_stream_rpc_method_handler(_server_generator),
        "ServerWriter": grpc.unary_stream_rpc_method_handler(_server_writer),
        "BidiGenerator": grpc.stream_stream_rpc_method_handler(_bidi_generator),
        "BidiWriter": grpc.stream_stream_rpc_method_handler(_bidi_writer),
        "BidiReader": grpc.stream_stream_rpc_method_handler(_bidi_reader),
        "UploadReader": grpc.stream_unary_rpc_method_handler(_upload_reader),
    },
)


@pytest.fixture
async def shapes_target() -> AsyncIterator[str]:
    server = grpc.aio.server(interceptors=[ServiceInterceptor()])
    server.add_generic_rpc_handlers((_SHAPES,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.mark.parametrize("method", ["ServerGenerator", "ServerWriter", "BidiGenerator", "BidiWriter", "BidiReader"])
async def test_every_streaming_handler_shape_streams_and_maps_its_errors(shapes_target: str, method: str) -> None:
    def codes() -> dict[str, float]:
        return {
            code: metric_value("modelyard_rpc_requests_total", service="Shapes", method=method, code=code)
            for code in ("OK", "INTERNAL")
        }

    before = codes()
    async with grpc.aio.insecure_channel(shapes_target) as channel:
        if method.startswith("Server"):
            call = channel.unary_stream(f"/test.Shapes/{method}")
            ok = [reply async for reply in call(b"a,b", timeout=10)]
            failing = call(b"a,boom", timeout=10)
        else:
            call = channel.stream_stream(f"/test.Shapes/{method}")
            ok = [reply async for reply in call(iter([b"a", b"b"]), timeout=10)]
            failing = call(iter([b"a", b"boom"]), timeout=10)
        assert ok == [b"aa", b"bb"]
        assert await failing.read() == b"aa"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await failing.read()
        assert caught.value.code() is grpc.StatusCode.INTERNAL
        assert caught.value.details().startswith("internal error (request id ")
    after = codes()
    assert (after["OK"] - before["OK"], after["INTERNAL"] - before["INTERNAL"]) == (1, 1)


@pytest.mark.parametrize("method", ["BidiGenerator", "BidiWriter", "BidiReader", "UploadReader"])
async def test_a_refused_request_in_a_client_stream_ends_it_whether_read_by_iteration_or_by_read(
    shapes_target: str, method: str
) -> None:
    oversized = b"x" * (DEFAULT_MAX_REQUEST_BYTES + 1)
    async with grpc.aio.insecure_channel(shapes_target) as channel:
        if method.startswith("Bidi"):
            call: Any = channel.stream_stream(f"/test.Shapes/{method}")(iter([b"a", oversized]), timeout=10)
            assert await call.read() == b"aa"
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call.read()
        else:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.stream_unary(f"/test.Shapes/{method}")(iter([b"a", oversized]), timeout=10)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details() == (
        f"request: is {len(oversized)} bytes; {method} takes at most {DEFAULT_MAX_REQUEST_BYTES}"
    )


def metric_value(name: str, **labels: str) -> float:
    """A sample of this process's own registry (the in-process server's interceptor records there)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
