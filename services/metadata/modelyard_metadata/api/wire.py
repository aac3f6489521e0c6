"""Versions on the wire as bytes: the messages storage keeps (``ProtoWire``, its WireFormat) and
the responses of SearchModelVersions and of the RPCs answering one version (Get, Create and
Update ModelVersion, LogMetrics, TransitionStage, CommitArtifact, FailUpload) assembled from
them, without building a message again (the interceptor sends bytes a handler returns as they
are).

A message written after another merges into it: scalars of the second win, its repeated fields
are appended. So a version's stored message, which has no aliases and no produced_by, followed by
a message holding only those, is the whole version; and a response is its fields' tags and
lengths around messages already serialized.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from modelyard.v1 import metadata_pb2, types_pb2
from modelyard_metadata.api.convert import version_to_pb
from modelyard_metadata.domain.entities import EncodedVersion, ModelVersion

__all__ = ["ProtoWire", "search_response", "version_response"]

_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    if value < 0x4000:  # most messages
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int) -> bytes:
    return _varint(number << 3 | _LENGTH_DELIMITED)


# The field of the responses holding one version (tests/unit/metadata/test_wire.py: the same number).
_VERSION_TAG = _tag(metadata_pb2.GetModelVersionResponse.VERSION_FIELD_NUMBER)
_VERSIONS_TAG = _tag(metadata_pb2.SearchModelVersionsResponse.VERSIONS_FIELD_NUMBER)


class ProtoWire:
    """WireFormat of the generated messages."""

    def version(self, version: ModelVersion) -> bytes:
        return version_to_pb(dataclasses.replace(version, aliases=(), produced_by=())).SerializeToString()

    def appended(self, aliases: Sequence[str], produced_by: Sequence[str]) -> bytes:
        if not aliases and not produced_by:
            return b""
        return types_pb2.ModelVersion(aliases=aliases, produced_by=produced_by).SerializeToString()


def version_response(version: EncodedVersion) -> bytes:
    """A serialized response of an RPC answering one version (its field ``version``)."""
    return _VERSION_TAG + _varint(len(version.message)) + version.message


def search_response(versions: Sequence[EncodedVersion], next_page_token: str) -> bytes:
    """A serialized SearchModelVersionsResponse."""
    parts: list[bytes] = []
    for version in versions:
        parts += (_VERSIONS_TAG, _varint(len(version.message)), version.message)
    parts.append(metadata_pb2.SearchModelVersionsResponse(next_page_token=next_page_token).SerializeToString())
    return b"".join(parts)
