"""Tiny but real models for the serving tests: scikit-learn estimators saved with skops (and
pickle), an ONNX graph built with onnx's helper API, a CUSTOM directory with its predictor.py;
pushed through the registry with the SDK."""

from __future__ import annotations

import pickle
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import skops.io
from onnx import TensorProto, helper
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

import modelyard
from modelyard import ModelKind, Serving, Signature, TensorSpec

FEATURES = np.random.default_rng(7).normal(size=(40, 4))
LABELS = (FEATURES[:, 0] + FEATURES[:, 1] > 0).astype(np.int64)
ONNX_WEIGHTS = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
ONNX_BIAS = np.array([0.5, -0.5, 1.0], dtype=np.float32)

CUSTOM_CODE = '''
import json
from pathlib import Path


class Scaler:
    """Multiplies its input by the factor in config.json, beside this file."""

    def __init__(self, directory):
        self.factor = json.loads((Path(directory) / "config.json").read_text())["factor"]

    def predict(self, inputs):
        return {"scaled": inputs["x"] * self.factor}


class Shout:
    """Upper-cases text (BYTES in, BYTES out)."""

    def __init__(self, directory):
        pass

    def predict(self, inputs):
        return {"upper": [text.upper() for text in inputs["text"]]}
'''
SCALER_SIGNATURE = Signature(inputs=(TensorSpec("x", "FP64", (-1,)),), outputs=(TensorSpec("scaled", "FP64", (-1,)),))
SHOUT_SIGNATURE = Signature(
    inputs=(TensorSpec("text", "BYTES", (-1,)),), outputs=(TensorSpec("upper", "BYTES", (-1,)),)
)


def logistic_regression() -> LogisticRegression:
    return LogisticRegression().fit(FEATURES, LABELS)


def push_skops(client: modelyard.Client, model: str, estimator: Any, directory: Path, **fields: Any) -> str:
    skops.io.dump(estimator, directory / "model.skops")
    return client.push(model, directory, framework="sklearn", payload_format="skops", **fields).reference


def push_pickle(client: modelyard.Client, model: str, estimator: Any, directory: Path) -> str:
    (directory / "model.pkl").write_bytes(pickle.dumps(estimator))
    return client.push(model, directory, framework="sklearn", payload_format="pkl").reference


def onnx_affine(path: Path) -> None:
    """y = x @ W + b, x FP32 [batch, 4] -> y FP32 [batch, 3]."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [4, 3], ONNX_WEIGHTS.ravel().tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, [3], ONNX_BIAS.tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def push_onnx(client: modelyard.Client, model: str, directory: Path) -> str:
    onnx_affine(directory / "affine.onnx")
    return client.push(model, directory, framework="onnx", payload_format="onnx").reference


def push_custom(
    client: modelyard.Client,
    model: str,
    directory: Path,
    factor: float,
    entry_point: str,
    signature: Signature = SCALER_SIGNATURE,
) -> str:
    """A CUSTOM version: CUSTOM_CODE as predictor.py, and the factor of a Scaler in config.json."""
    client.create_model(model, kind=ModelKind.CUSTOM)
    (directory / "predictor.py").write_text(CUSTOM_CODE)
    (directory / "config.json").write_text(f'{{"factor": {factor}}}')
    serving = Serving(entry_point=entry_point)
    return client.push(model, directory, framework="python", signature=signature, serving=serving).reference


def metric(url: str, name: str, **labels: str) -> float:
    """The value of one sample on a /metrics page (0 when absent)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
