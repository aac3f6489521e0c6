"""Standard gRPC tooling as the tests use it against any server: health Watch and client-side
health checking, server reflection v1 and v1alpha, and the RPC metrics they leave."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from prometheus_client.parser import text_string_to_metric_families
from replica_processes import until

from modelyard_common.embedded.service import ServiceProcess

# Client-side health checking as gRPC defines it (A17): round_robin watches each backend's health.
HEALTH_CHECKED = json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}})

V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` with ``labels`` on a /metrics page (0 when absent)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def watch_count(service: ServiceProcess, code: str) -> float:
    return metric(service.metrics_url, "modelyard_rpc_requests_total", service="Health", method="Watch", code=code)


def watching(service: ServiceProcess) -> float:
    return metric(service.metrics_url, "modelyard_rpc_in_flight", service="Health", method="Watch")


def reflect(
    target: str, method: str, requests: list[reflection_pb2.ServerReflectionRequest], **kwargs: Any
) -> list[Any]:
    """The answers of one reflection stream. v1 and v1alpha messages are the same on the wire
    (only the package differs), so the v1alpha classes encode a v1 client's bytes."""
    with grpc.insecure_channel(target) as channel:
        call = channel.stream_stream(
            method,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        return list(call(iter(requests), timeout=30, **kwargs))


def listed_and_resolved(target: str, method: str, **kwargs: Any) -> dict[str, str]:
    """Each service reflection lists -> the file its file_containing_symbol answer declares it in.
    As grpcurl does, each answer's files (and any dependency missing, asked for by name) are
    built into a descriptor pool of their own, in which the service and its messages must resolve."""
    (listing,) = reflect(target, method, [reflection_pb2.ServerReflectionRequest(list_services="")], **kwargs)
    names = [service.name for service in listing.list_services_response.service]
    asks = [reflection_pb2.ServerReflectionRequest(file_containing_symbol=name) for name in names]
    resolved = {}
    for name, answer in zip(names, reflect(target, method, asks, **kwargs), strict=True):
        files = _files(answer, name)
        resolved[name] = next(
            file_pb.name
            for file_pb in files.values()
            if any(f"{file_pb.package}.{service.name}" == name for service in file_pb.service)
        )
        while missing := {dep for file_pb in files.values() for dep in file_pb.dependency} - files.keys():
            by_name = [reflection_pb2.ServerReflectionRequest(file_by_filename=dep) for dep in sorted(missing)]
            for dep, dep_answer in zip(sorted(missing), reflect(target, method, by_name, **kwargs), strict=True):
                files |= _files(dep_answer, dep)
        pool = descriptor_pool.DescriptorPool()
        while files:  # dependencies first
            ready = [file_pb for file_pb in files.values() if not set(file_pb.dependency) & files.keys()]
            for file_pb in ready:
                pool.Add(file_pb)
                del files[file_pb.name]
        for rpc in pool.FindServiceByName(name).methods:
            assert rpc.input_type.full_name and rpc.output_type.full_name
    return resolved


def _files(answer: Any, asked: str) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    assert answer.WhichOneof("message_response") == "file_descriptor_response", (asked, answer)
    parsed = map(descriptor_pb2.FileDescriptorProto.FromString, answer.file_descriptor_response.file_descriptor_proto)
    return {file_pb.name: file_pb for file_pb in parsed}


def watch_serving_then_leave(service: ServiceProcess) -> None:
    """A Watch on ``service`` yields SERVING; left by its client, it counts CANCELLED, never INTERNAL."""
    cancelled, open_before = watch_count(service, "CANCELLED"), watching(service)
    with grpc.insecure_channel(service.target) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()
    until(lambda: watch_count(service, "CANCELLED") > cancelled, "the cancelled Watch counted CANCELLED", 30)
    assert watch_count(service, "INTERNAL") == 0
    assert watching(service) == open_before


def health_checked_channel(service: ServiceProcess) -> grpc.Channel:
    """A channel to ``service`` that checks its health client-side, as gRPC defines it (A17)."""
    return grpc.insecure_channel(service.target, options=[("grpc.service_config", HEALTH_CHECKED)])


def reflection_resolves(service: ServiceProcess, service_name: str) -> None:
    """Reflection v1 on ``service`` lists ``service_name``, health and both reflections, and
    resolves the file of each; v1alpha answers the same; none of it counts as an error."""
    resolved = listed_and_resolved(service.target, V1)
    assert resolved[service_name].startswith("modelyard/v1/"), resolved
    # grpcio's own files are named by its packages (grpc_health/v1/health.proto).
    assert resolved["grpc.health.v1.Health"].endswith("health/v1/health.proto")
    assert resolved["grpc.reflection.v1.ServerReflection"] == "grpc/reflection/v1/reflection.proto"
    assert resolved["grpc.reflection.v1alpha.ServerReflection"].endswith("reflection/v1alpha/reflection.proto")
    # Older tools still get v1alpha, with the same answers.
    assert listed_and_resolved(service.target, V1ALPHA) == resolved
    assert metric(service.metrics_url, "modelyard_rpc_requests_total", service="ServerReflection", code="INTERNAL") == 0
