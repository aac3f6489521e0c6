"""Checks on what clients send, with messages naming the field and what is wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence

from modelyard_common.errors import InvalidArgumentError
from modelyard_common.values import dataset_of_registry_reference, nested_pair, path_problem
from modelyard_registry.domain.entities import FileHeader
from modelyard_registry.domain.limits import MAX_CHUNK_BYTES, MAX_CONTENT_TYPE, MAX_FILE_SIZE, MAX_FILES

__all__ = [
    "check_chunk",
    "check_header",
    "check_path",
    "check_paths",
    "check_sha256",
    "nested_path_error",
    "reference_project",
]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def reference_project(field: str, reference: str) -> str:
    """The project of a version reference ("fraud/scorer:3", or a dataset version's
    "dataset:fraud/history:2": "fraud"), on which access is decided; the metadata service checks
    the rest of it."""
    project, slash, _ = (dataset_of_registry_reference(reference) or reference).partition("/")
    if not slash or not project:
        raise InvalidArgumentError(field, f"{reference[:200]!r} is not a reference: use PROJECT/MODEL:VERSION")
    return project


def check_path(field: str, path: str) -> str:
    """A path that pull can write on a POSIX file system (modelyard.paths says what that is)."""
    if not path:
        raise InvalidArgumentError(field, "is required: the file's relative path, e.g. 'model.onnx'")
    if problem := path_problem(path):
        raise InvalidArgumentError(field, f"{path[:200]!r} {problem}")
    return path


def nested_path_error(field: str, path: str, other: str) -> InvalidArgumentError:
    """``path`` and ``other`` cannot both be files of one version: one is a directory of the other."""
    directory, file = sorted((path, other), key=len)
    return InvalidArgumentError(
        field,
        f"{path[:200]!r} cannot be stored beside {other[:200]!r} in one version: {directory[:200]!r} "
        f"would have to be both a file and the directory of {file[:200]!r}",
    )


def check_sha256(field: str, digest: str) -> str:
    if digest and not _SHA256.fullmatch(digest):
        raise InvalidArgumentError(field, f"{digest[:80]!r} is not 64 lowercase hex digits (what sha256sum prints)")
    return digest


def check_header(header: FileHeader) -> None:
    if not header.reference:
        raise InvalidArgumentError("header.reference", "is required: the version, e.g. 'project/model:3'")
    check_path("header.path", header.path)
    if not 0 <= header.size <= MAX_FILE_SIZE:
        raise InvalidArgumentError("header.size", f"is {header.size}; it must be between 0 and {MAX_FILE_SIZE} bytes")
    check_sha256("header.sha256", header.sha256)
    if len(header.content_type) > MAX_CONTENT_TYPE or not header.content_type.isprintable():
        raise InvalidArgumentError(
            "header.content_type", f"must be printable and at most {MAX_CONTENT_TYPE} characters"
        )
    if not 0 <= header.offset <= header.size:
        raise InvalidArgumentError("header.offset", f"is {header.offset}; it must be between 0 and header.size")


def check_paths(paths: Sequence[str]) -> None:
    if len(paths) > MAX_FILES:
        raise InvalidArgumentError("paths", f"has {len(paths)} entries; at most {MAX_FILES} allowed")
    for i, path in enumerate(paths):
        check_path(f"paths[{i}]", path)
    if pair := nested_pair(paths):
        raise nested_path_error("paths", *pair)


def check_chunk(chunk: bytes) -> bytes:
    if len(chunk) > MAX_CHUNK_BYTES:
        raise InvalidArgumentError("chunk", f"is {len(chunk)} bytes; at most {MAX_CHUNK_BYTES} allowed per message")
    return chunk
