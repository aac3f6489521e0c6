"""How every service decodes a request: bounded by its method's size, answered INVALID_ARGUMENT
naming the field when it cannot be decoded.

grpc.aio answers UNKNOWN when a request deserializer raises, and its receive cap is one number
per server. So the interceptor gives each method a deserializer from ``decoder``, which refuses a
request over the method's bound before parsing a byte of it, and returns a ``Refusal`` instead of
raising; the interceptor raises it inside the call, where it becomes a status like any error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from modelyard_common.errors import InvalidArgumentError, ModelyardError

__all__ = ["MAX_DECODE_DEPTH", "Refusal", "decoder"]

# Nested messages protobuf decodes (upb's, the C++ and the Java runtimes' default recursion limit).
MAX_DECODE_DEPTH = 100


@dataclass(frozen=True, slots=True)
class Refusal:
    """Stands in for a request that was not decoded; ``error`` says why."""

    error: ModelyardError


def decoder(method: str, deserialize: Callable[[bytes], Any], max_bytes: int) -> Callable[[bytes], Any]:
    """``deserialize`` for ``method``, refusing requests over ``max_bytes`` before decoding them."""

    def decode(data: bytes) -> Any:
        if len(data) > max_bytes:
            return Refusal(
                ModelyardError(
                    f"request: is {len(data)} bytes; {method} takes at most {max_bytes}", code="RESOURCE_EXHAUSTED"
                )
            )
        try:
            return deserialize(data)
        except Exception as exc:  # protobuf's DecodeError, or whatever a deserializer raises
            return Refusal(InvalidArgumentError(*_undecodable(deserialize, data, exc)))

    return decode


def _undecodable(deserialize: Callable[[bytes], Any], data: bytes, exc: Exception) -> tuple[str, str]:
    """(field, problem) for a request that failed to decode: the field found by walking the wire
    format, or the decoder's own words when the walk finds nothing wrong."""
    message_class = getattr(deserialize, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)
    if isinstance(descriptor, Descriptor):
        found = _fault(descriptor, data, [], 1)
        if found is not None:
            return found
        return "request", f"cannot be decoded as {descriptor.full_name}: {exc}"
    return "request", f"cannot be decoded: {exc}"


def _fault(descriptor: Descriptor, data: bytes, path: list[str], depth: int) -> tuple[str, str] | None:
    """The first field of ``data`` (a ``descriptor`` message at ``depth``) protobuf refuses."""
    if depth > MAX_DECODE_DEPTH:
        return _field(path), f"nests messages more than {MAX_DECODE_DEPTH} levels deep"
    seen: dict[int, int] = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        if key is None:
            return _field(path), "is cut short"
        number, wire_type = key >> 3, key & 7
        field = descriptor.fields_by_number.get(number)
        index = seen[number] = seen.get(number, -1) + 1
        if wire_type == 0:
            _, position = _varint(data, position)
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            size, position = _varint(data, position)
            if size is None or position + size > len(data):
                return _field(path), "is cut short"
            chunk, position = data[position : position + size], position + size
            if field is not None:
                found = _field_fault(field, chunk, [*path, _name(field, index)], depth)
                if found is not None:
                    return found
        else:
            return _field(path), f"holds a field of wire type {wire_type}, which proto3 does not use"
    return (_field(path), "is cut short") if position > len(data) else None


def _field_fault(field: FieldDescriptor, chunk: bytes, path: list[str], depth: int) -> tuple[str, str] | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            chunk.decode()
        except UnicodeDecodeError:
            return _field(path), "is not valid UTF-8"
    elif field.message_type is not None:
        return _fault(field.message_type, chunk, path, depth + 1)
    return None


def _varint(data: bytes, position: int) -> tuple[int | None, int]:
    value = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    return None, position


def _name(field: FieldDescriptor, index: int) -> str:
    return f"{field.name}[{index}]" if field.is_repeated else field.name


def _field(path: list[str]) -> str:
    """A field path as messages name it; a deep one by where it starts (e.g. a Struct's field)."""
    if not path:
        return "request"
    return ".".join(path) if len(path) <= 3 else ".".join(path[:3]) + "..."
