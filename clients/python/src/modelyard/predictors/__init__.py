"""The model runtime shared by ``modelyard.load`` and ``modelyard serve``: loaders by model kind
and format, the local artifact cache, and the Open Inference Protocol tensor codec.

Heavy runtimes are imported when a model needs them: scikit-learn and skops
(``modelyard[sklearn]``), onnxruntime (``modelyard[onnx]``).
"""

from __future__ import annotations

from modelyard.predictors._cache import CACHE_ENV, ArtifactCache
from modelyard.predictors._codec import (
    DATATYPES,
    as_array,
    check_inputs,
    datatype_of,
    from_contents,
    from_raw,
    to_contents,
    to_raw,
)
from modelyard.predictors._loading import fetch_version, load_version
from modelyard.predictors._predictor import Arrays, Model, Predictor
from modelyard.predictors._standard import LoadOptions

__all__ = [
    "CACHE_ENV",
    "DATATYPES",
    "Arrays",
    "ArtifactCache",
    "LoadOptions",
    "Model",
    "Predictor",
    "as_array",
    "check_inputs",
    "datatype_of",
    "fetch_version",
    "from_contents",
    "from_raw",
    "load_version",
    "to_contents",
    "to_raw",
]
