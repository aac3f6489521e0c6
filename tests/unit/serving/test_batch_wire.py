"""The pipe between a batch scoring driver and its workers: arrays survive the trip, and a frame
that breaks the protocol or its limits is refused before its payload is read."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from modelyard_serving.batch_wire import (
    PIECE_BYTES,
    PREFIX_BYTES,
    WireError,
    decode_arrays,
    decode_header,
    encode,
    encode_message,
    header_length,
    pieces,
)


def _header(**message: object) -> bytes:
    return json.dumps(message).encode()


def test_arrays_come_back_as_they_went() -> None:
    sent = {"x": np.arange(12, dtype=np.float32).reshape(4, 3), "flag": np.array([True, False, True, True])}
    [prefix_and_header, *payload] = encode(sent)
    header = prefix_and_header[PREFIX_BYTES:]
    assert header_length(prefix_and_header[:PREFIX_BYTES]) == len(header)

    frame = decode_header(header, max_payload=1024)
    received = decode_arrays(frame, b"".join(bytes(p) for p in payload))

    assert received.keys() == sent.keys()
    for name, array in sent.items():
        np.testing.assert_array_equal(received[name], array)
        assert received[name].dtype == array.dtype


def test_big_endian_arrays_travel_little_endian_and_objects_do_not_travel() -> None:
    [prefix_and_header, payload] = encode({"x": np.array([1, 2], dtype=">i4")})
    frame = decode_header(prefix_and_header[PREFIX_BYTES:], 64)
    assert decode_arrays(frame, bytes(payload))["x"].tolist() == [1, 2]
    with pytest.raises(WireError, match="labels: dtype object cannot travel"):
        encode({"labels": np.array(["a", "b"], dtype=object)})


def test_messages_carry_no_arrays() -> None:
    raw = encode_message(error="boom")
    frame = decode_header(raw[PREFIX_BYTES:], 0)
    assert (frame.message, frame.specs, frame.payload_bytes) == ({"error": "boom"}, (), 0)


@pytest.mark.parametrize(
    ("header", "refusal"),
    [
        (b"not json", "a header that is not JSON"),
        (_header(arrays=[{"name": "x", "dtype": "|O", "shape": [2]}]), "x: dtype '|O' is not one of"),
        (_header(arrays=[{"name": "x", "dtype": "<f8", "shape": [2, 2, 2]}]), r"x: shape \[2, 2, 2\] is not 1 or 2"),
        (_header(arrays=[{"name": "x", "dtype": "<f8", "shape": [-1]}]), r"x: shape \[-1\] is not 1 or 2"),
        (_header(arrays=[{"name": "x", "dtype": "<f8", "shape": [True]}]), r"x: shape \[True\] is not 1 or 2"),
        (_header(arrays=[{"name": "x", "dtype": "<f8", "shape": [1000]}]), "arrays of more than 100 bytes"),
        (_header(arrays=[{"name": "", "dtype": "<f8", "shape": [1]}]), "a name of 1 to 256 characters"),
        (
            _header(arrays=[{"name": "x", "dtype": "<f8", "shape": [1]}, {"name": "x", "dtype": "<f8", "shape": [1]}]),
            "a name repeated",
        ),
    ],
)
def test_a_header_breaking_the_protocol_or_its_limits_is_refused(header: bytes, refusal: str) -> None:
    with pytest.raises(WireError, match=refusal):
        decode_header(header, max_payload=100)


def test_an_oversized_header_or_a_short_payload_is_refused() -> None:
    with pytest.raises(WireError, match="a header of 2000000 bytes"):
        header_length(struct.pack("<I", 2_000_000))
    frame = decode_header(_header(arrays=[{"name": "x", "dtype": "<f8", "shape": [2]}]), 100)
    with pytest.raises(WireError, match="a payload of 8 bytes; its header said 16"):
        decode_arrays(frame, b"\0" * 8)


def test_a_frame_crosses_a_network_in_pieces_that_add_up_to_its_bytes() -> None:
    """A remote worker's stream: at most PIECE_BYTES a message, the same bytes in the same order."""
    frame = encode({"x": np.arange(300_000, dtype=np.float64), "y": np.ones(3, dtype=np.int8)})
    sent = list(pieces(frame))
    assert b"".join(sent) == b"".join(bytes(p) for p in frame)
    assert [len(p) for p in sent[:-1]] == [PIECE_BYTES] * (len(sent) - 1)
    assert 0 < len(sent[-1]) <= PIECE_BYTES
    assert list(pieces([b"ab", b"", memoryview(b"cde")], size=2)) == [b"ab", b"cd", b"e"]
    assert list(pieces([])) == []
