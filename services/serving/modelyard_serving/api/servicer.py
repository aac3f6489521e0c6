"""inference.GRPCInferenceService: the Open Inference Protocol v2 over the served model."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from modelyard.v1 import inference_pb2, inference_pb2_grpc
from modelyard_serving.api import convert
from modelyard_serving.served import ServedModel

__all__ = ["InferenceServicer"]

Context = grpc.aio.ServicerContext[Any, Any]


class InferenceServicer(inference_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, served: ServedModel, server_version: str) -> None:
        self._served = served
        self._version = server_version

    async def ServerLive(
        self, request: inference_pb2.ServerLiveRequest, context: Context
    ) -> inference_pb2.ServerLiveResponse:
        return inference_pb2.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: inference_pb2.ServerReadyRequest, context: Context
    ) -> inference_pb2.ServerReadyResponse:
        return inference_pb2.ServerReadyResponse(ready=self._served.predictor is not None)

    async def ModelReady(
        self, request: inference_pb2.ModelReadyRequest, context: Context
    ) -> inference_pb2.ModelReadyResponse:
        return inference_pb2.ModelReadyResponse(ready=self._served.is_ready(request.name, request.version))

    async def ServerMetadata(
        self, request: inference_pb2.ServerMetadataRequest, context: Context
    ) -> inference_pb2.ServerMetadataResponse:
        return inference_pb2.ServerMetadataResponse(name="modelyard", version=self._version)

    async def ModelMetadata(
        self, request: inference_pb2.ModelMetadataRequest, context: Context
    ) -> inference_pb2.ModelMetadataResponse:
        predictor = self._served.require(request.name, request.version)
        return convert.metadata_to_pb(self._served.name, predictor)

    async def ModelInfer(
        self, request: inference_pb2.ModelInferRequest, context: Context
    ) -> inference_pb2.ModelInferResponse:
        predictor = self._served.require(request.model_name, request.model_version)
        inputs = convert.inputs_from_pb(request)
        requested = [output.name for output in request.outputs]
        # Off the event loop: models compute with the GIL released (numpy, scikit-learn, onnxruntime).
        outputs = await asyncio.to_thread(self._served.infer, predictor, inputs, requested)
        return convert.response_to_pb(request, self._served.name, predictor, outputs)
