"""The bounds on free-form JSON leave every response that shows a stored value decodable, with
room: measured on the messages themselves, not assumed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from modelyard.v1 import auth_pb2, deploy_pb2, inference_pb2, metadata_pb2, registry_pb2
from modelyard_common.decoding import MAX_DECODE_DEPTH
from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.json_bounds import TOO_DEEP, check_json_object, shown_json
from modelyard_metadata.domain.limits import MAX_JSON_DEPTH, MAX_SHOWN_JSON_DEPTH

JSON_TYPES = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
MODULES = (auth_pb2, deploy_pb2, inference_pb2, metadata_pb2, registry_pb2)


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def _json_level(descriptor: Descriptor, level: int, path: frozenset[str]) -> int:
    """The deepest message level at which a JSON message (Struct, Value) sits in ``descriptor``."""
    if descriptor.full_name in JSON_TYPES:
        return level
    found = 0
    for field in descriptor.fields:
        inner = field.message_type
        if inner is not None and inner.full_name not in path:
            found = max(found, _json_level(inner, level + 1, path | {descriptor.full_name}))
    return found


def _message_depth(message: Message, level: int = 1) -> int:
    """Nested messages as a decoder counts them (a map entry is a message of its own)."""
    deepest = level
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            inner = [value[key] for key in value]
            deepest = max(deepest, level + 1)
            deepest = max([deepest, *(_message_depth(v, level + 2) for v in inner if isinstance(v, Message))])
        else:
            for item in value if field.is_repeated else [value]:
                deepest = max(deepest, _message_depth(item, level + 1))
    return deepest


def test_a_versions_metric_is_the_deepest_place_a_response_shows_json() -> None:
    responses = [
        message
        for module in MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
        for message in (method.output_type for method in service.methods)
    ]
    levels = {message.full_name: _json_level(message, 1, frozenset()) for message in responses}
    # GetModelVersionResponse.version.metrics[i].structured; WatchEventsResponse.event.after is at 3.
    assert max(levels.values()) == levels["modelyard.v1.GetModelVersionResponse"] == 4


def test_the_deepest_value_a_response_shows_decodes_with_a_third_of_the_limit_to_spare() -> None:
    # Stored values are at most MAX_JSON_DEPTH deep, audit snapshots 3 more; a response shows no
    # more than MAX_SHOWN_JSON_DEPTH of anything, at the deepest place, every level an object.
    response = metadata_pb2.GetModelVersionResponse()
    response.version.metrics.add(name="m").structured.update(nested(MAX_SHOWN_JSON_DEPTH))
    assert _message_depth(response) == 4 + 3 * MAX_SHOWN_JSON_DEPTH - 1 == 60
    assert _message_depth(response) <= MAX_DECODE_DEPTH * 2 // 3
    assert metadata_pb2.GetModelVersionResponse.FromString(response.SerializeToString()) == response
    watched = metadata_pb2.WatchEventsResponse()
    watched.event.after.update(nested(MAX_SHOWN_JSON_DEPTH))
    assert _message_depth(watched) == 3 + 3 * MAX_SHOWN_JSON_DEPTH - 1


def test_json_objects_are_bounded_in_depth_entries_and_keys() -> None:
    assert check_json_object("h", nested(MAX_JSON_DEPTH)) == len(json.dumps(nested(MAX_JSON_DEPTH)))
    too_deep = "h: nests objects and lists more than 16 levels deep; at most 16 allowed"
    lists_too_deep: Any = 1
    for _ in range(MAX_JSON_DEPTH):
        lists_too_deep = [lists_too_deep]
    refusals = [
        (nested(MAX_JSON_DEPTH + 1), too_deep),
        ({"l": lists_too_deep}, too_deep),
        ({"x": {"k" * 257: 1}}, "h: has a key of 257 characters; at most 256 allowed"),
        ({"a": [1] * 2048, "b": [2] * 2048}, "h: has more than 4096 entries (object members and list items) in all"),
        ({"a": ["\x00"]}, "h: contains a NUL character, which cannot be stored"),
    ]
    for value, message in refusals:
        with pytest.raises(InvalidArgumentError) as refused:
            check_json_object("h", value)
        assert str(refused.value) == message


def test_values_deeper_than_a_response_can_show_are_cut_with_a_marker_and_others_kept() -> None:
    fits = nested(MAX_SHOWN_JSON_DEPTH)
    assert shown_json(fits, "fits") is fits
    shown = shown_json({"list": [nested(40)]}, "legacy")
    for _ in range(MAX_SHOWN_JSON_DEPTH - 1):  # down to the deepest object shown
        shown = next(iter(shown.values())) if isinstance(shown, dict) else shown[0]
    assert shown == {"a": TOO_DEEP}
