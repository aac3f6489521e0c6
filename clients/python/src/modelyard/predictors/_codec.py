"""Open Inference Protocol v2 tensors <-> numpy arrays.

Numeric data never goes through a Python loop: raw contents are read with ``numpy.frombuffer``
(little-endian, row-major) and written with ``tobytes``; typed contents are converted by numpy
from, or to, the repeated fields in C. BYTES elements are ``bytes`` in an object array; raw,
each is preceded by its length as a 4-byte little-endian integer.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from modelyard._types import TensorSpec
from modelyard.errors import InvalidArgumentError
from modelyard.v1 import inference_pb2

__all__ = [
    "DATATYPES",
    "as_array",
    "check_inputs",
    "datatype_of",
    "from_contents",
    "from_raw",
    "to_contents",
    "to_raw",
]

# The numpy dtype of each OIP datatype (BYTES: object arrays of bytes).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}

# Which field of InferTensorContents holds each datatype; FP16 has none (raw only).
_TYPED_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

# Integer datatypes narrower than their typed field: their values are range-checked.
_NARROW = frozenset({"INT8", "INT16", "UINT8", "UINT16"})

_LENGTH = struct.Struct("<I")


def as_array(name: str, value: Any, datatype: str | None = None, shape: Sequence[int] = ()) -> np.ndarray[Any, Any]:
    """Input ``name`` (an array, or nested lists of numbers or text) as a numpy array, in
    ``datatype`` when given (else numpy's guess). Nested lists must be rectangular: a ragged one
    is refused naming the first row that differs and the shape expected (``shape``, the model's,
    when given), not in numpy's words."""
    if isinstance(value, np.ndarray) and datatype is None:
        return value
    try:
        if datatype == "BYTES":  # an object array would take ragged lists as elements
            _refuse_ragged(name, value, datatype, shape)
        return np.asarray(value, dtype=DATATYPES[datatype] if datatype else None)
    except (TypeError, ValueError) as exc:
        _refuse_ragged(name, value, datatype, shape)  # only now: it walks the lists in Python
        wanted = f"{datatype} {list(shape)}" if datatype else "an array"
        raise InvalidArgumentError(f"{name}: cannot be read as {wanted}: {exc}") from None


def _refuse_ragged(name: str, value: Any, datatype: str | None, shape: Sequence[int]) -> None:
    """InvalidArgumentError when ``value`` is nested lists that are not rectangular, e.g.
    "input: row input[1] has 1 value where input[0] has 2: expected FP64 [-1, 2]"."""
    ragged = _ragged(value)
    if ragged is None:
        return
    row, item, first, first_item, implied = ragged
    expected = (
        list(shape) if shape else [*implied, *([len(first_item)] if isinstance(first_item, list | tuple) else [])]
    )
    of = f"{datatype} {expected}" if datatype else f"shape {expected}"
    raise InvalidArgumentError(
        f"{name}: row {name}{row} {_holds(item)} where {name}{first} {_holds(first_item)}: expected {of}"
    )


def _ragged(value: Any) -> tuple[str, Any, str, Any, list[int]] | None:
    """Where nested lists stop being rectangular: the index of the first row that differs from
    the first one at its depth (as "[1]" or "[0][2]"), that row, the first one's index, the first
    one, and the shape of the levels above; None when the lists are rectangular."""
    level: list[tuple[str, Any]] = [("", value)]
    shape: list[int] = []
    while level:
        kinds = [len(item) if isinstance(item, list | tuple) else None for _, item in level]
        for (index, item), kind in zip(level, kinds, strict=True):
            if kind != kinds[0]:
                return index, item, level[0][0], level[0][1], shape
        if kinds[0] is None:
            return None
        shape.append(kinds[0])
        level = [(f"{index}[{i}]", child) for index, item in level for i, child in enumerate(item)]
    return None


def _holds(item: Any) -> str:
    if not isinstance(item, list | tuple):
        return "is a single value"
    return f"has {len(item)} value{'' if len(item) == 1 else 's'}"


def datatype_of(array: np.ndarray[Any, Any], name: str) -> str:
    """The OIP datatype of ``array``; text and object arrays are BYTES."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind in "iu" and size in (1, 2, 4, 8):
        return f"{'U' if kind == 'u' else ''}INT{size * 8}"
    if kind == "f" and size in (2, 4, 8):
        return f"FP{size * 8}"
    if kind in "USO":
        return "BYTES"
    raise InvalidArgumentError(f"{name}: numpy dtype {array.dtype} has no Open Inference Protocol datatype")


def _dtype(name: str, datatype: str) -> np.dtype[Any]:
    dtype = DATATYPES.get(datatype)
    if dtype is None:
        raise InvalidArgumentError(f"{name}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    return dtype


def _element_count(name: str, shape: Sequence[int]) -> int:
    if any(dim < 0 for dim in shape):
        raise InvalidArgumentError(f"{name}: shape {list(shape)} has a negative dimension")
    return math.prod(shape)


def from_raw(name: str, datatype: str, shape: Sequence[int], data: bytes) -> np.ndarray[Any, Any]:
    """The tensor ``name`` from its raw bytes (read-only for numeric datatypes: no copy)."""
    dtype, count = _dtype(name, datatype), _element_count(name, shape)
    if datatype == "BYTES":
        return _bytes_from_raw(name, data, count).reshape(shape)
    if len(data) != count * dtype.itemsize:
        raise InvalidArgumentError(
            f"{name}: shape {list(shape)} of {datatype} needs {count * dtype.itemsize} bytes, "
            f"raw_input_contents has {len(data)}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _bytes_from_raw(name: str, data: bytes, count: int) -> np.ndarray[Any, Any]:
    # Read before allocating: a shape may claim more elements than memory holds, the bytes cannot.
    read: list[bytes] = []
    offset = 0
    for index in range(count):
        if offset + 4 > len(data):
            raise InvalidArgumentError(f"{name}: raw BYTES contents end before element {index} of {count}")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += 4
        if offset + length > len(data):
            raise InvalidArgumentError(f"{name}: raw BYTES element {index} claims {length} bytes past the end")
        read.append(data[offset : offset + length])
        offset += length
    if offset != len(data):
        raise InvalidArgumentError(f"{name}: raw BYTES contents hold more than the {count} elements of its shape")
    elements = np.empty(count, dtype=object)
    elements[:] = read
    return elements


def from_contents(
    name: str, datatype: str, shape: Sequence[int], contents: inference_pb2.InferTensorContents
) -> np.ndarray[Any, Any]:
    """The tensor ``name`` from its typed contents, which must be in the datatype's field only."""
    dtype, count = _dtype(name, datatype), _element_count(name, shape)
    field = _TYPED_FIELD.get(datatype)
    if field is None:
        raise InvalidArgumentError(f"{name}: {datatype} has no typed contents; send it in raw_input_contents")
    others = [f.name for f, _ in contents.ListFields() if f.name != field]
    if others:
        raise InvalidArgumentError(f"{name}: datatype {datatype} goes in contents.{field}, not {', '.join(others)}")
    values = getattr(contents, field)
    if len(values) != count:
        raise InvalidArgumentError(
            f"{name}: shape {list(shape)} has {count} elements, contents.{field} has {len(values)}"
        )
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    if datatype not in _NARROW:
        return np.array(values, dtype=dtype).reshape(shape)
    wide = np.array(values)  # int32 or uint32, the field's type
    limits = np.iinfo(dtype)
    if wide.size and (wide.min() < limits.min or wide.max() > limits.max):
        raise InvalidArgumentError(f"{name}: contents.{field} holds values out of the range of {datatype}")
    return wide.astype(dtype).reshape(shape)


def _bytes_elements(array: np.ndarray[Any, Any]) -> Iterable[bytes]:
    """Each element as bytes: bytes as they are, text (and anything else) as UTF-8 text."""
    for item in array.ravel():
        yield bytes(item) if isinstance(item, bytes | bytearray) else str(item).encode()


def to_raw(array: np.ndarray[Any, Any], datatype: str) -> bytes:
    """The raw bytes of ``array`` as ``datatype`` (little-endian, row-major)."""
    if datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(item)) + item for item in _bytes_elements(array))
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()


def to_contents(array: np.ndarray[Any, Any], datatype: str, contents: inference_pb2.InferTensorContents) -> None:
    """Writes ``array`` as ``datatype`` into the typed field of ``contents`` (not FP16)."""
    values = getattr(contents, _TYPED_FIELD[datatype])
    if datatype == "BYTES":
        values.extend(_bytes_elements(array))
    else:
        values.extend(np.asarray(array, dtype=DATATYPES[datatype]).ravel().tolist())


def check_inputs(inputs: Mapping[str, np.ndarray[Any, Any]], specs: Sequence[TensorSpec]) -> None:
    """Refuses ``inputs`` that do not match ``specs`` (names, datatypes, shapes with -1 for any
    size); no specs means the model declares none and takes what it is given."""
    if not specs:
        return
    expected = {spec.name for spec in specs}
    unknown = sorted(set(inputs) - expected)
    if unknown:
        raise InvalidArgumentError(f"{unknown[0]}: not an input of the model (inputs: {', '.join(sorted(expected))})")
    for spec in specs:
        array = inputs.get(spec.name)
        if array is None:
            raise InvalidArgumentError(f"{spec.name}: missing input ({spec.datatype} {list(spec.shape)})")
        datatype = datatype_of(array, spec.name)
        if datatype != spec.datatype:
            raise InvalidArgumentError(f"{spec.name}: datatype {datatype}, the model takes {spec.datatype}")
        if spec.shape and not _fits(array.shape, spec.shape):
            raise InvalidArgumentError(f"{spec.name}: shape {list(array.shape)}, the model takes {list(spec.shape)}")


def _fits(shape: Sequence[int], pattern: Sequence[int]) -> bool:
    return len(shape) == len(pattern) and all(want in (-1, got) for got, want in zip(shape, pattern, strict=True))
