"""The inference server speaks standard gRPC tooling like the platform's services: health Watch,
client-side health checking and reflection v1 (see tests/integration/common/test_grpc_standards.py)."""

from __future__ import annotations

from grpc_standards import health_checked_channel, reflection_resolves, watch_count, watch_serving_then_leave

from modelyard.v1 import inference_pb2, inference_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess


def test_the_inference_server_answers_watch_health_checked_channels_and_reflection_v1(
    onnx_server: ServiceProcess,
) -> None:
    watch_serving_then_leave(onnx_server)
    with health_checked_channel(onnx_server) as channel:
        stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
        assert stub.ServerReady(inference_pb2.ServerReadyRequest(), timeout=10).ready
    reflection_resolves(onnx_server, "inference.GRPCInferenceService")
    assert watch_count(onnx_server, "INTERNAL") == 0
