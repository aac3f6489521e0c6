"""Checks on what clients send, with messages naming the field and what is wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence

from modelyard_common.errors import InvalidArgumentError
from modelyard_registry.domain.entities import FileHeader
from modelyard_registry.domain.limits import MAX_CHUNK_BYTES, MAX_CONTENT_TYPE, MAX_FILE_SIZE, MAX_FILES, MAX_PATH

__all__ = ["check_chunk", "check_header", "check_path", "check_paths", "check_sha256"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_path(field: str, path: str) -> str:
    """A relative POSIX path inside the model directory: no '..', '.', empty or absolute parts."""
    if not path:
        raise InvalidArgumentError(field, "is required: the file's relative path, e.g. 'model.onnx'")
    if len(path) > MAX_PATH:
        raise InvalidArgumentError(field, f"is {len(path)} characters long; at most {MAX_PATH} allowed")
    if not path.isprintable() or "\\" in path:
        raise InvalidArgumentError(field, f"{path!r} has control characters or backslashes; use '/' between parts")
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        raise InvalidArgumentError(field, f"{path!r} must be relative, without empty, '.' or '..' parts")
    return path


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


def check_chunk(chunk: bytes) -> bytes:
    if len(chunk) > MAX_CHUNK_BYTES:
        raise InvalidArgumentError("chunk", f"is {len(chunk)} bytes; at most {MAX_CHUNK_BYTES} allowed per message")
    return chunk
