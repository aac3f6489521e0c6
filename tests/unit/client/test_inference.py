"""OIP requests and responses of ``Client.predict`` / ``InferenceClient``, and how the CLI prints
predictions: encoding and decoding only, no server."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

import modelyard
from modelyard._inference import infer_request, outputs_from_response
from modelyard.cli import _render
from modelyard.v1 import inference_pb2


def test_inputs_travel_as_raw_little_endian_contents_typed_by_their_dtype() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    words = np.array(["hi", "café"])

    request = infer_request("scorer", {"x": x, "text": words, "n": [[1, 2]]}, ["predict"])

    assert request.model_name == "scorer"
    assert [(t.name, t.datatype, list(t.shape)) for t in request.inputs] == [
        ("x", "FP32", [2, 3]),
        ("text", "BYTES", [2]),
        ("n", "INT64", [1, 2]),
    ]
    assert request.raw_input_contents[0] == x.astype("<f4").tobytes()
    assert request.raw_input_contents[1] == b"\x02\x00\x00\x00hi\x05\x00\x00\x00caf\xc3\xa9"
    assert request.raw_input_contents[2] == np.array([1, 2], dtype="<i8").tobytes()
    assert [o.name for o in request.outputs] == ["predict"]
    assert not infer_request("scorer", {"x": x}, None).outputs


def test_outputs_are_read_from_raw_or_typed_contents() -> None:
    proba = np.array([[0.25, 0.75]])
    raw = inference_pb2.ModelInferResponse(raw_output_contents=[proba.tobytes(), np.array([1]).tobytes()])
    raw.outputs.add(name="predict_proba", datatype="FP64", shape=[1, 2])
    raw.outputs.add(name="predict", datatype="INT64", shape=[1])
    typed = inference_pb2.ModelInferResponse()
    typed.outputs.add(name="upper", datatype="BYTES", shape=[2]).contents.bytes_contents.extend([b"A", b"B"])

    from_raw, from_typed = outputs_from_response(raw), outputs_from_response(typed)

    np.testing.assert_array_equal(from_raw["predict_proba"], proba)
    assert from_raw["predict"].dtype == np.int64 and from_raw["predict"].tolist() == [1]
    assert from_typed["upper"].tolist() == [b"A", b"B"]


def _text(renderable: object) -> list[str]:
    console = Console(width=100, record=True)
    console.print(renderable)
    return [line.strip() for line in console.export_text().splitlines() if line.strip()]


def test_predictions_print_one_row_per_example_when_the_outputs_line_up() -> None:
    proba = [[0.1, 0.9], [0.8123456789, 0.1876543211]]
    lines = _text(_render.predictions({"predict": [1, 0], "predict_proba": proba}))
    assert lines == [
        "#   predict   predict_proba",
        "──────────────────────────────────",
        "0   1         [0.1, 0.9]",
        "1   0         [0.812346, 0.187654]",
    ]
    ragged = _text(_render.predictions({"a": [1, 2, 3], "b": 7}))
    assert [line.split() for line in ragged if "─" not in line] == [["#", "a", "b"], ["[1,", "2,", "3]", "7"]]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1, 2], [3]], "input: row input[1] has 1 value where input[0] has 2 values: expected shape [2, 2]"),
        ([[1, 2], 3], "input: row input[1] is a single value where input[0] has 2 values: expected shape [2, 2]"),
        (
            [[[1, 2], [3, 4]], [[5, 6], [7]]],
            "input: row input[1][1] has 1 value where input[0][0] has 2 values: expected shape [2, 2, 2]",
        ),
    ],
)
def test_a_ragged_input_names_the_input_the_row_and_the_shape_expected(rows: list[object], message: str) -> None:
    with pytest.raises(modelyard.InvalidArgumentError) as caught:
        infer_request("scorer", {"input": rows}, None)
    assert caught.value.message == message


def test_the_sdk_refuses_a_ragged_input_before_calling_anything() -> None:
    with (
        modelyard.connect("127.0.0.1:1", deploy="127.0.0.1:1") as client,
        pytest.raises(modelyard.InvalidArgumentError) as caught,
    ):
        client.predict("scorer", {"features": [[0.5, 1.5, 2.5], [3.5, 4.5]]})
    assert caught.value.message == (
        "features: row features[1] has 2 values where features[0] has 3 values: expected shape [2, 3]"
    )
