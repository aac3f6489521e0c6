"""ModelInfer requests over the inference server's limits are refused before any decoding."""

from __future__ import annotations

import pytest

from modelyard.v1 import inference_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_serving.api.convert import inputs_from_pb
from modelyard_serving.limits import MAX_DIMENSIONS, MAX_TENSORS


def test_more_input_tensors_than_allowed_are_refused() -> None:
    request = inference_pb2.ModelInferRequest(
        inputs=[inference_pb2.ModelInferRequest.InferInputTensor(name=f"x{i}") for i in range(MAX_TENSORS + 1)]
    )
    with pytest.raises(InvalidArgumentError, match=rf"^inputs: has {MAX_TENSORS + 1} tensors; at most {MAX_TENSORS}"):
        inputs_from_pb(request)


def test_more_requested_outputs_than_allowed_are_refused() -> None:
    request = inference_pb2.ModelInferRequest(
        outputs=[inference_pb2.ModelInferRequest.InferRequestedOutputTensor(name="y")] * (MAX_TENSORS + 1)
    )
    with pytest.raises(InvalidArgumentError, match=r"^outputs: has 257 tensors; at most 256 allowed"):
        inputs_from_pb(request)


def test_a_shape_with_too_many_dimensions_is_refused() -> None:
    tensor = inference_pb2.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1] * 17)
    with pytest.raises(InvalidArgumentError, match=rf"^x: shape has 17 dimensions; at most {MAX_DIMENSIONS} allowed"):
        inputs_from_pb(inference_pb2.ModelInferRequest(inputs=[tensor]))
