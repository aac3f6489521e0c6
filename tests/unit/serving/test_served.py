"""Which predictions the inference server runs on its event loop rather than on a thread."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import modelyard
from modelyard.predictors import Arrays, Predictor
from modelyard_serving.served import INLINE_MAX_ELEMENTS, ServedModel

VERSION = modelyard.ModelVersion(
    project="p", model="m", version=1, reference="p/m:1", status=modelyard.VersionStatus.READY
)


class Doubler:
    def predict(self, inputs: Arrays) -> dict[str, Any]:
        return {"y": inputs["x"] * 2}


def predictor(platform: str) -> Predictor:
    return Predictor(Doubler(), VERSION, platform, (), ())


@pytest.mark.parametrize("platform", ["sklearn_skops", "onnxruntime_onnx", "sklearn_pkl"])
def test_small_inputs_of_a_library_model_run_inline_and_large_ones_on_a_thread(platform: str) -> None:
    served = ServedModel("m")
    assert served.runs_inline(predictor(platform), {"x": np.zeros((1, 30))})
    assert served.runs_inline(predictor(platform), {"x": np.zeros(INLINE_MAX_ELEMENTS)})
    # The limit counts the elements of every input together.
    halves = {"a": np.zeros(INLINE_MAX_ELEMENTS // 2), "b": np.zeros(INLINE_MAX_ELEMENTS // 2 + 1)}
    assert not served.runs_inline(predictor(platform), halves)


@pytest.mark.parametrize("platform", ["modelyard_custom", "modelyard_ensemble"])
def test_user_code_always_runs_on_a_thread(platform: str) -> None:
    assert not ServedModel("m").runs_inline(predictor(platform), {"x": np.zeros(1)})
