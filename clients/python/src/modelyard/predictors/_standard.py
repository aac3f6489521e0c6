"""STANDARD models: scikit-learn through skops (or pickle/joblib, when allowed) and ONNX.

The model file is the artifact's one file with the payload format's suffix. Each runtime is
imported only when a model of its format is loaded, so that a server for an ONNX model never
pays for importing scikit-learn.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelyard._types import ModelVersion, TensorSpec
from modelyard.errors import FailedPreconditionError
from modelyard.predictors._codec import datatype_of
from modelyard.predictors._predictor import Arrays, Predictor, import_extra

__all__ = ["LoadOptions", "load_standard"]

# Suffixes of the model file of each payload format.
_SUFFIXES = {"skops": (".skops",), "onnx": (".onnx",), "pkl": (".pkl", ".pickle"), "joblib": (".joblib",)}

# onnxruntime's element types and the OIP datatypes.
_ONNX_DATATYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What the caller lets a model file do when it is loaded.

    Attributes:
        allow_pickle: Load pickle and joblib files, which run arbitrary code when loaded.
        trusted_types: Types a skops file may hold beyond those skops trusts by default
            (e.g. "sklearn.tree._tree.Tree"), as ``skops.io.get_untrusted_types`` names them.
    """

    allow_pickle: bool = False
    trusted_types: frozenset[str] = frozenset()


def load_standard(directory: Path, version: ModelVersion, options: LoadOptions) -> Predictor:
    """The predictor of a STANDARD version whose artifact is in ``directory``."""
    payload_format, path = _model_file(directory, version)
    if payload_format == "onnx":
        return _load_onnx(path, version)
    if payload_format == "skops":
        estimator = _load_skops(path, version, options.trusted_types)
    else:
        estimator = _load_pickle(path, version, payload_format, options.allow_pickle)
    return _estimator_predictor(estimator, version, f"sklearn_{payload_format}")


def _model_file(directory: Path, version: ModelVersion) -> tuple[str, Path]:
    """The payload format and the model file: the one file with that format's suffix (the format
    is guessed from the suffixes when the version does not say)."""
    formats = [version.payload_format.lower()] if version.payload_format else list(_SUFFIXES)
    unknown = [f for f in formats if f not in _SUFFIXES]
    if unknown:
        raise FailedPreconditionError(
            f"{version.reference}: payload_format {unknown[0]!r} cannot be served; "
            f"STANDARD models are {', '.join(_SUFFIXES)} (or make the model CUSTOM)"
        )
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    found = [(f, p) for f in formats for p in files if p.suffix.lower() in _SUFFIXES[f]]
    if len(found) != 1:
        names = ", ".join(p.relative_to(directory).as_posix() for p in files)
        wanted = " or ".join(s for f in formats for s in _SUFFIXES[f])
        raise FailedPreconditionError(
            f"{version.reference}: the artifact must hold exactly one {wanted} file to serve, it holds: {names}"
        )
    return found[0]


# --- scikit-learn ---------------------------------------------------------------------------


def _load_skops(path: Path, version: ModelVersion, trusted: frozenset[str]) -> Any:
    sio = import_extra("skops.io", "sklearn")
    with _unreadable(path, version):
        untrusted = sio.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - trusted)
    if refused:
        options = " ".join(f"--trust-type {name}" for name in refused)
        raise FailedPreconditionError(
            f"{version.reference}: {path.name} holds types skops does not trust: {', '.join(refused)}; "
            "if you trust the file's author, trust them where it is loaded: "
            f"modelyard deploy NAME {version.reference} {options} (SDK: deploy(..., trusted_types={refused!r})); "
            f"locally, modelyard serve {version.reference} {options} or load(..., trusted_types={refused!r})"
        )
    with _unreadable(path, version):
        return sio.load(path, trusted=untrusted)


def _load_pickle(path: Path, version: ModelVersion, payload_format: str, allowed: bool) -> Any:
    if not allowed:
        raise FailedPreconditionError(
            f"{version.reference}: {path.name} is a {payload_format} file, which runs arbitrary code when "
            "loaded; load it only if you trust its author, with allow_pickle=True "
            "(modelyard serve --allow-pickle, MLREG_SERVING_ALLOW_PICKLE=true), or ship it as skops"
        )
    if payload_format == "joblib":
        joblib = import_extra("joblib", "sklearn")
        with _unreadable(path, version):
            return joblib.load(path)
    with _unreadable(path, version), path.open("rb") as stream:
        return pickle.load(stream)


@contextlib.contextmanager
def _unreadable(path: Path, version: ModelVersion) -> Iterator[None]:
    """Turns whatever a model library raises on a file it cannot read into a refusal saying so."""
    try:
        yield
    except Exception as exc:
        raise FailedPreconditionError(f"{version.reference}: {path.name} cannot be loaded: {exc!r}") from exc


class _Estimator:
    """A scikit-learn estimator: its one input is the feature matrix; its outputs are
    ``predict`` and, when declared, ``predict_proba``."""

    def __init__(self, estimator: Any, input_name: str, methods: Mapping[str, Callable[[Any], Any]]) -> None:
        self._estimator = estimator
        self._input = input_name
        self._methods = methods

    def predict(self, inputs: Mapping[str, np.ndarray[Any, Any]]) -> Arrays:
        features = inputs[self._input]
        return {name: method(features) for name, method in self._methods.items()}


def _estimator_predictor(estimator: Any, version: ModelVersion, platform: str) -> Predictor:
    """Tensors from the version's signature (one input; outputs in order predict, predict_proba),
    else inferred: input "input" FP64 [-1, n_features_in_], outputs "predict" and "predict_proba"."""
    available = [getattr(estimator, m) for m in ("predict", "predict_proba") if hasattr(estimator, m)]
    if not available:
        raise FailedPreconditionError(f"{version.reference}: the loaded {type(estimator).__name__} has no predict")
    signature = version.signature
    if signature.inputs or signature.outputs:
        inputs, outputs = signature.inputs, signature.outputs
        if len(inputs) != 1 or not 1 <= len(outputs) <= len(available):
            raise FailedPreconditionError(
                f"{version.reference}: signature of a scikit-learn model: one input (the features) and "
                f"outputs for {', '.join(m.__name__ for m in available)}, in that order"
            )
    else:
        inputs, outputs = _inferred_specs(estimator, len(available))
    methods = {spec.name: method for spec, method in zip(outputs, available, strict=False)}
    return Predictor(_Estimator(estimator, inputs[0].name, methods), version, platform, inputs, outputs)


def _inferred_specs(estimator: Any, methods: int) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    features = getattr(estimator, "n_features_in_", -1)
    classes = getattr(estimator, "classes_", None)
    labels = "FP64" if classes is None else datatype_of(np.asarray(classes), "predict")
    outputs = [TensorSpec("predict", labels, (-1,))]
    if methods > 1:
        outputs.append(TensorSpec("predict_proba", "FP64", (-1, -1 if classes is None else len(classes))))
    return (TensorSpec("input", "FP64", (-1, features)),), tuple(outputs)


# --- ONNX -----------------------------------------------------------------------------------


class _OnnxSession:
    def __init__(self, session: Any, outputs: Sequence[str], text_inputs: Sequence[str]) -> None:
        self._session = session
        self._outputs = list(outputs)
        self._text_inputs = text_inputs

    def predict(self, inputs: Mapping[str, np.ndarray[Any, Any]]) -> Arrays:
        feed = dict(inputs)
        for name in self._text_inputs:  # onnxruntime wants str elements; BYTES arrive as bytes
            texts = [v.decode() if isinstance(v, bytes) else str(v) for v in feed[name].ravel()]
            feed[name] = np.array(texts, dtype=object).reshape(feed[name].shape)
        return dict(zip(self._outputs, self._session.run(self._outputs, feed), strict=True))


def _load_onnx(path: Path, version: ModelVersion) -> Predictor:
    """An onnxruntime CPU session; tensors from the graph (symbolic dimensions are -1). Outputs
    that are not tensors (sequences, maps) are not served."""
    ort = import_extra("onnxruntime", "onnx")
    with _unreadable(path, version):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = tuple(_onnx_spec(arg, version.reference) for arg in session.get_inputs())
    outputs = tuple(_onnx_spec(arg, version.reference) for arg in session.get_outputs() if arg.type in _ONNX_DATATYPES)
    text_inputs = [spec.name for spec in inputs if spec.datatype == "BYTES"]
    model = _OnnxSession(session, [spec.name for spec in outputs], text_inputs)
    return Predictor(model, version, "onnxruntime_onnx", inputs, outputs)


def _onnx_spec(arg: Any, reference: str) -> TensorSpec:
    datatype = _ONNX_DATATYPES.get(arg.type)
    if datatype is None:
        raise FailedPreconditionError(f"{reference}: ONNX input {arg.name} is a {arg.type}, not a tensor")
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in arg.shape)
    return TensorSpec(arg.name, datatype, shape)
