"""OIP messages <-> numpy arrays and tensor specs, over the client's tensor codec."""

from __future__ import annotations

from collections.abc import Iterable

from modelyard import TensorSpec
from modelyard.predictors import Arrays, Predictor, datatype_of, from_contents, from_raw, to_contents, to_raw
from modelyard.v1 import inference_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_serving.limits import MAX_DIMENSIONS, MAX_TENSORS

__all__ = ["inputs_from_pb", "metadata_to_pb", "response_to_pb"]


def inputs_from_pb(request: inference_pb2.ModelInferRequest) -> Arrays:
    """The request's input tensors by name, from raw_input_contents when it is used; the codec
    checks that each tensor's elements fill exactly the bytes or contents sent."""
    if len(request.inputs) > MAX_TENSORS:
        raise InvalidArgumentError("inputs", f"has {len(request.inputs)} tensors; at most {MAX_TENSORS} allowed")
    if len(request.outputs) > MAX_TENSORS:
        raise InvalidArgumentError("outputs", f"has {len(request.outputs)} tensors; at most {MAX_TENSORS} allowed")
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgumentError(
            "raw_input_contents", f"{len(raw)} entries for {len(request.inputs)} inputs: it needs one per input"
        )
    arrays: Arrays = {}
    for index, tensor in enumerate(request.inputs):
        if tensor.name in arrays:
            raise InvalidArgumentError(tensor.name, "given twice in inputs")
        if len(tensor.shape) > MAX_DIMENSIONS:
            raise InvalidArgumentError(
                tensor.name, f"shape has {len(tensor.shape)} dimensions; at most {MAX_DIMENSIONS} allowed"
            )
        if raw:
            arrays[tensor.name] = from_raw(tensor.name, tensor.datatype, tensor.shape, raw[index])
        else:
            arrays[tensor.name] = from_contents(tensor.name, tensor.datatype, tensor.shape, tensor.contents)
    return arrays


def response_to_pb(
    request: inference_pb2.ModelInferRequest, served_name: str, predictor: Predictor, outputs: Arrays
) -> inference_pb2.ModelInferResponse:
    """The response: raw contents when the request used them (as Triton answers) or when an
    output is FP16, which has no typed field; typed contents otherwise."""
    declared = {spec.name: spec.datatype for spec in predictor.outputs}
    datatypes = {name: declared.get(name) or datatype_of(array, name) for name, array in outputs.items()}
    raw = bool(request.raw_input_contents) or "FP16" in datatypes.values()
    response = inference_pb2.ModelInferResponse(
        model_name=served_name, model_version=str(predictor.version.version), id=request.id
    )
    for name, array in outputs.items():
        tensor = response.outputs.add(name=name, datatype=datatypes[name], shape=array.shape)
        if raw:
            response.raw_output_contents.append(to_raw(array, datatypes[name]))
        else:
            to_contents(array, datatypes[name], tensor.contents)
    return response


def metadata_to_pb(served_name: str, predictor: Predictor) -> inference_pb2.ModelMetadataResponse:
    return inference_pb2.ModelMetadataResponse(
        name=served_name,
        versions=[str(predictor.version.version)],
        platform=predictor.platform,
        inputs=_tensors_to_pb(predictor.inputs),
        outputs=_tensors_to_pb(predictor.outputs),
    )


def _tensors_to_pb(specs: Iterable[TensorSpec]) -> list[inference_pb2.ModelMetadataResponse.TensorMetadata]:
    return [
        inference_pb2.ModelMetadataResponse.TensorMetadata(name=spec.name, datatype=spec.datatype, shape=spec.shape)
        for spec in specs
    ]
