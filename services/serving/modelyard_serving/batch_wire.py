"""The pipe between a batch scoring driver (the deploy service) and its predictor workers
(``python -m modelyard_serving.batch``): frames of raw numpy buffers, never pickle.

A frame is a 4-byte little-endian header length, a JSON header, then the payload: the arrays
the header lists, one after the other, C-ordered. The header is ``{"arrays": [{"name", "dtype",
"shape"}]}`` for tensors, ``{"ready": true}`` once a worker loaded its model, or ``{"error":
"..."}``. Only fixed-size numeric and boolean dtypes travel; the reader checks every size it is
told against its limits before it reads a byte of payload, since a worker runs untrusted code.
Where the frames cross a network (a remote worker's gRPC stream), they travel in ``pieces`` of
at most ``PIECE_BYTES``, which each side reassembles into the same byte stream. This module
loads no model runtime, so the driver may import it.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DTYPES",
    "MAX_HEADER_BYTES",
    "PIECE_BYTES",
    "PREFIX_BYTES",
    "Frame",
    "WireError",
    "decode_arrays",
    "decode_header",
    "encode",
    "encode_message",
    "header_length",
    "pieces",
]

MAX_HEADER_BYTES = 1 << 20
_LENGTH = struct.Struct("<I")
PREFIX_BYTES = _LENGTH.size
DTYPES = frozenset(np.dtype(t).str for t in ("?", "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2", "f4", "f8"))
"""What may travel: fixed-size, little-endian (as ``dtype.str`` spells them)."""
PIECE_BYTES = 1 << 20
"""The most a piece of the stream holds: gRPC's default message limits (4 MiB) hold with room."""
_MAX_ARRAYS = 256
_MAX_DIMENSIONS = 2


class WireError(Exception):
    """A frame that breaks the protocol or its limits: what the other side sent is not trusted."""


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded header: the message (ready, error), or the arrays' specs and payload size."""

    message: Mapping[str, Any]
    specs: tuple[tuple[str, np.dtype[Any], tuple[int, ...]], ...] = ()
    payload_bytes: int = 0


def encode_message(**message: Any) -> bytes:
    header = json.dumps(message).encode()
    return _LENGTH.pack(len(header)) + header


def encode(arrays: Mapping[str, np.ndarray[Any, Any]]) -> list[bytes | memoryview]:
    """The frame of ``arrays``, as buffers to write in order (the arrays' own memory, no copy
    when they are C-contiguous little-endian)."""
    parts: list[bytes | memoryview] = []
    specs = []
    for name, value in arrays.items():
        array = np.ascontiguousarray(value)
        if array.dtype.str not in DTYPES:
            array = array.astype(array.dtype.newbyteorder("<"))
        if array.dtype.str not in DTYPES:
            raise WireError(f"{name}: dtype {value.dtype} cannot travel; only numbers and booleans")
        specs.append({"name": name, "dtype": array.dtype.str, "shape": list(array.shape)})
        parts.append(array.data.cast("B"))
    header = json.dumps({"arrays": specs}).encode()
    return [_LENGTH.pack(len(header)) + header, *parts]


def pieces(parts: Iterable[bytes | memoryview], size: int = PIECE_BYTES) -> Iterator[bytes]:
    """The bytes of ``parts``, in order, regrouped into pieces of ``size`` (the last one shorter)."""
    held = bytearray()
    for part in parts:
        view = memoryview(part).cast("B")
        while view:
            taken = view[: size - len(held)]
            held += taken
            view = view[len(taken) :]
            if len(held) == size:
                yield bytes(held)
                held.clear()
    if held:
        yield bytes(held)


def header_length(prefix: bytes) -> int:
    (length,) = _LENGTH.unpack(prefix)
    if length > MAX_HEADER_BYTES:
        raise WireError(f"a header of {length} bytes; at most {MAX_HEADER_BYTES}")
    return int(length)


def decode_header(raw: bytes, max_payload: int) -> Frame:
    """The frame ``raw`` (a header) announces, checked: known dtypes, at most 2 dimensions,
    a payload of at most ``max_payload`` bytes."""
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise WireError(f"a header that is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise WireError("a header that is not a JSON object")
    arrays = message.get("arrays")
    if arrays is None:
        return Frame(message)
    if not isinstance(arrays, list) or len(arrays) > _MAX_ARRAYS:
        raise WireError(f"arrays: a list of at most {_MAX_ARRAYS} expected")
    specs, total = [], 0
    for spec in arrays:
        if not isinstance(spec, dict):
            raise WireError("arrays: each one must be an object")
        name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
        if not isinstance(name, str) or not name or len(name) > 256:
            raise WireError(f"arrays: a name of 1 to 256 characters expected, got {name!r}")
        if dtype not in DTYPES:
            raise WireError(f"{name}: dtype {dtype!r} is not one of {sorted(DTYPES)}")
        if (
            not isinstance(shape, list)
            or not 1 <= len(shape) <= _MAX_DIMENSIONS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
        ):
            raise WireError(f"{name}: shape {shape!r} is not 1 or 2 sizes")
        dt = np.dtype(dtype)
        total += math.prod(shape) * dt.itemsize
        if total > max_payload:
            raise WireError(f"arrays of more than {max_payload} bytes")
        specs.append((name, dt, tuple(shape)))
    if len({name for name, _, _ in specs}) != len(specs):
        raise WireError("arrays: a name repeated")
    return Frame(message, tuple(specs), total)


def decode_arrays(frame: Frame, payload: bytes) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays of ``frame`` over its ``payload`` (exactly ``frame.payload_bytes`` long)."""
    if len(payload) != frame.payload_bytes:
        raise WireError(f"a payload of {len(payload)} bytes; its header said {frame.payload_bytes}")
    arrays, offset = {}, 0
    for name, dtype, shape in frame.specs:
        size = math.prod(shape) * dtype.itemsize
        arrays[name] = np.frombuffer(payload, dtype, math.prod(shape), offset).reshape(shape)
        offset += size
    return arrays
