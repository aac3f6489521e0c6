"""The two small models the serving benchmark deploys (a scikit-learn LogisticRegression saved
with skops, an ONNX Gemm and sigmoid), pushed through the registry, and the ways to get their
predictions: in-process, ModelInfer through the generated stub, the SDK, and a bare ServerLive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import onnx
import skops.io
from onnx import TensorProto, helper
from sklearn.linear_model import LogisticRegression

import modelyard
from modelyard.predictors import Arrays, Predictor, from_raw, to_raw
from modelyard.v1 import inference_pb2, inference_pb2_grpc

__all__ = ["Calls", "Model", "infer_request", "push_models"]

FEATURES = 8


@dataclass
class Model:
    """A pushed version, the inputs every call sends, and what deployment serves it."""

    key: str
    reference: str
    inputs: Arrays
    deployment: str = ""
    endpoint: str = ""


def push_models(client: modelyard.Client, folder: Path, rows: int) -> list[Model]:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(200, FEATURES))
    y = (x[:, 0] - x[:, 3] > 0).astype(np.int64)
    client.create_project("bench")

    sklearn_dir = folder / "sklearn"
    sklearn_dir.mkdir(parents=True)
    skops.io.dump(LogisticRegression().fit(x, y), sklearn_dir / "model.skops")
    sklearn_ref = client.push("bench/logreg", sklearn_dir, framework="sklearn", payload_format="skops").reference

    onnx_dir = folder / "onnx"
    onnx_dir.mkdir()
    weights = rng.normal(size=(FEATURES, 2)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "b"], ["z"]), helper.make_node("Sigmoid", ["z"], ["score"])],
        "gemm_sigmoid",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 2])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [FEATURES, 2], weights.ravel().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, [2], [0.1, -0.1]),
        ],
    )
    graph_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    graph_model.ir_version = 8
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(onnx_dir / "model.onnx"))
    onnx_ref = client.push("bench/gemm", onnx_dir, framework="onnx", payload_format="onnx").reference

    sample = rng.normal(size=(rows, FEATURES))
    return [
        Model("sklearn (skops)", sklearn_ref, {"input": sample}),
        Model("onnx", onnx_ref, {"x": sample.astype(np.float32)}),
    ]


def infer_request(name: str, inputs: Arrays, datatypes: dict[str, str]) -> inference_pb2.ModelInferRequest:
    request = inference_pb2.ModelInferRequest(model_name=name)
    for tensor_name, array in inputs.items():
        request.inputs.add(name=tensor_name, datatype=datatypes[tensor_name], shape=array.shape)
        request.raw_input_contents.append(to_raw(array, datatypes[tensor_name]))
    return request


def decode(response: inference_pb2.ModelInferResponse) -> Arrays:
    return {
        tensor.name: from_raw(tensor.name, tensor.datatype, tensor.shape, data)
        for tensor, data in zip(response.outputs, response.raw_output_contents, strict=True)
    }


class Calls:
    """The ways to get one model's predictions, each a no-argument callable returning arrays."""

    def __init__(self, model: Model, predictor: Predictor, client: modelyard.Client) -> None:
        self.channel = grpc.insecure_channel(model.endpoint)
        self.stub = inference_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        self.model = model
        self.predictor = predictor
        self.client = client
        self.datatypes = {spec.name: spec.datatype for spec in predictor.inputs}

    def in_process(self) -> Arrays:
        return self.predictor.predict(self.model.inputs)

    def model_infer(self) -> Arrays:
        request = infer_request(self.model.deployment, self.model.inputs, self.datatypes)
        return decode(self.stub.ModelInfer(request, timeout=10))

    def sdk_predict(self) -> Arrays:
        predict: Callable[..., Arrays] = self.client.predict  # type: ignore[attr-defined]
        return predict(self.model.deployment, self.model.inputs)

    def server_live(self) -> Arrays:
        self.stub.ServerLive(inference_pb2.ServerLiveRequest(), timeout=10)
        return {}

    def cases(self) -> list[tuple[str, Callable[[], Arrays]]]:
        cases: list[tuple[str, Callable[[], Arrays]]] = [
            ("in-process predict", self.in_process),
            ("ModelInfer (stub)", self.model_infer),
        ]
        if hasattr(self.client, "predict"):
            cases.append(("Client.predict", self.sdk_predict))
        cases.append(("ServerLive (stub)", self.server_live))
        return cases

    def close(self) -> None:
        self.channel.close()
