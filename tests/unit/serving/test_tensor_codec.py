"""The OIP tensor codec: every datatype through typed and raw contents, and what it refuses."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from modelyard import TensorSpec
from modelyard.errors import InvalidArgumentError
from modelyard.predictors import DATATYPES, check_inputs, datatype_of, from_contents, from_raw, to_contents, to_raw
from modelyard.v1 import inference_pb2

SAMPLES: dict[str, np.ndarray[Any, Any]] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": np.array([[0, 7, 255], [1, 2, 3]], dtype=np.uint8),
    "UINT16": np.array([[0, 65535, 9], [1, 2, 3]], dtype=np.uint16),
    "UINT32": np.array([[0, 2**32 - 1, 9], [1, 2, 3]], dtype=np.uint32),
    "UINT64": np.array([[0, 2**64 - 1, 9], [1, 2, 3]], dtype=np.uint64),
    "INT8": np.array([[-128, 127, 0], [1, -2, 3]], dtype=np.int8),
    "INT16": np.array([[-32768, 32767, 0], [1, -2, 3]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 2**31 - 1, 0], [1, -2, 3]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 2**63 - 1, 0], [1, -2, 3]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.25, 65504], [1, 2, 3]], dtype=np.float16),
    "FP32": np.array([[0.1, -1e30, np.inf], [1, 2, 3]], dtype=np.float32),
    "FP64": np.array([[0.1, -1e300, np.nan], [1, 2, 3]], dtype=np.float64),
    "BYTES": np.array([[b"", b"caf\xc3\xa9", b"\x00\xff"], [b"a", b"bb", b"ccc"]], dtype=object),
}
TYPED = [datatype for datatype in SAMPLES if datatype != "FP16"]


def test_every_datatype_has_a_sample_and_is_recognised_from_its_array() -> None:
    assert set(SAMPLES) == set(DATATYPES)
    for datatype, array in SAMPLES.items():
        assert datatype_of(array, "x") == datatype


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_raw_round_trip(datatype: str) -> None:
    array = SAMPLES[datatype]
    decoded = from_raw("x", datatype, [2, 3], to_raw(array, datatype))
    assert decoded.dtype == DATATYPES[datatype] and decoded.shape == (2, 3)
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize("datatype", TYPED)
def test_typed_round_trip(datatype: str) -> None:
    array = SAMPLES[datatype]
    contents = inference_pb2.InferTensorContents()
    to_contents(array, datatype, contents)
    wire = inference_pb2.InferTensorContents.FromString(contents.SerializeToString())
    decoded = from_contents("x", datatype, [2, 3], wire)
    assert decoded.dtype == DATATYPES[datatype] and decoded.shape == (2, 3)
    np.testing.assert_array_equal(decoded, array)


def test_raw_is_little_endian_row_major_and_bytes_are_length_prefixed() -> None:
    assert to_raw(np.array([[1, 2], [3, 4]], dtype=np.int32), "INT32") == struct.pack("<4i", 1, 2, 3, 4)
    assert to_raw(np.array(["hé", b"x"], dtype=object), "BYTES") == b"\x03\x00\x00\x00h\xc3\xa9\x01\x00\x00\x00x"
    big_endian = np.array([1.5, 2.5], dtype=">f8")
    assert to_raw(big_endian, "FP64") == struct.pack("<2d", 1.5, 2.5)


def test_text_outputs_travel_as_utf8_bytes() -> None:
    contents = inference_pb2.InferTensorContents()
    to_contents(np.array(["yes", "naïve"]), "BYTES", contents)
    assert list(contents.bytes_contents) == [b"yes", "naïve".encode()]


def test_raw_size_must_match_the_shape() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"^x: shape \[2, 3\] of FP32 needs 24 bytes, raw_input_contents has 20$"
    ):
        from_raw("x", "FP32", [2, 3], bytes(20))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x05\x00\x00\x00abc", r"element 0 claims 5 bytes past the end"),
        (b"\x01\x00\x00\x00a\x01\x00", r"contents end before element 1 of 2"),
        (b"\x01\x00\x00\x00a\x01\x00\x00\x00bzz", r"contents hold more than the 2 elements"),
    ],
)
def test_raw_bytes_must_hold_exactly_the_elements(data: bytes, problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=rf"^words: raw BYTES {problem}"):
        from_raw("words", "BYTES", [2], data)


def test_a_raw_bytes_shape_claiming_more_elements_than_memory_holds_is_refused_before_allocating() -> None:
    with pytest.raises(InvalidArgumentError, match=rf"^words: raw BYTES contents end before element 1 of {2**62}$"):
        from_raw("words", "BYTES", [2**31, 2**31], b"\x01\x00\x00\x00a")


def test_typed_contents_must_be_in_the_datatypes_field_with_the_shapes_count() -> None:
    contents = inference_pb2.InferTensorContents(fp64_contents=[1.0, 2.0])
    with pytest.raises(InvalidArgumentError, match=r"^x: datatype FP32 goes in contents.fp32_contents, not fp64"):
        from_contents("x", "FP32", [2], contents)
    with pytest.raises(InvalidArgumentError, match=r"^x: shape \[3\] has 3 elements, contents.fp64_contents has 2$"):
        from_contents("x", "FP64", [3], contents)
    with pytest.raises(InvalidArgumentError, match=r"^x: FP16 has no typed contents; send it in raw_input_contents"):
        from_contents("x", "FP16", [2], inference_pb2.InferTensorContents())
    with pytest.raises(InvalidArgumentError, match=r"^x: contents.int_contents holds values out of the range of INT8"):
        from_contents("x", "INT8", [1], inference_pb2.InferTensorContents(int_contents=[300]))


def test_unknown_datatypes_and_negative_shapes_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^x: datatype 'FP8' is not one of BOOL, UINT8"):
        from_raw("x", "FP8", [1], b"\x00")
    with pytest.raises(InvalidArgumentError, match=r"^x: shape \[-1, 2\] has a negative dimension"):
        from_raw("x", "FP32", [-1, 2], b"")


def test_inputs_are_checked_against_the_declared_tensors() -> None:
    specs = (TensorSpec("features", "FP32", (-1, 4)), TensorSpec("mask", "BOOL", ()))
    good = {"features": np.zeros((5, 4), np.float32), "mask": np.array(True)}
    check_inputs(good, specs)
    with pytest.raises(InvalidArgumentError, match=r"^features: datatype FP64, the model takes FP32$"):
        check_inputs({**good, "features": np.zeros((5, 4))}, specs)
    with pytest.raises(InvalidArgumentError, match=r"^features: shape \[5, 3\], the model takes \[-1, 4\]$"):
        check_inputs({**good, "features": np.zeros((5, 3), np.float32)}, specs)
    with pytest.raises(InvalidArgumentError, match=r"^mask: missing input \(BOOL \[\]\)$"):
        check_inputs({"features": good["features"]}, specs)
    with pytest.raises(InvalidArgumentError, match=r"^extra: not an input of the model \(inputs: features, mask\)$"):
        check_inputs({**good, "extra": np.zeros(1)}, specs)
    check_inputs({"anything": np.zeros(1)}, ())  # a model declaring no inputs takes what it gets
