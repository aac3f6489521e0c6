"""Checks on names, references and sizes; each failure names the field and what is wrong."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.limits import (
    MAX_JSON_BYTES,
    MAX_NAME,
    MAX_REFERENCE,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_TEXT,
    MAX_VERSION,
)

__all__ = [
    "DATATYPES",
    "VersionRef",
    "check_alias",
    "check_json_object",
    "check_key",
    "check_name",
    "check_number",
    "check_tags",
    "check_text",
    "parse_model_name",
    "parse_reference",
]

DATATYPES = frozenset(
    ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]
)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_ALIAS = re.compile(r"[a-z][a-z0-9._-]*")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_NAME_RULE = "lowercase letters, digits, '-', '_' and '.', starting with a letter or digit"


def check_name(field: str, value: str) -> str:
    """A project or model name (also alias names, which must start with a letter)."""
    if not value:
        raise InvalidArgumentError(field, "is required")
    if len(value) > MAX_NAME:
        raise InvalidArgumentError(field, f"is {len(value)} characters long; at most {MAX_NAME} allowed")
    if not _NAME.fullmatch(value):
        raise InvalidArgumentError(field, f"{value!r} is not a valid name: use {_NAME_RULE}")
    return value


def check_alias(field: str, value: str) -> str:
    check_name(field, value)
    if not _ALIAS.fullmatch(value):
        raise InvalidArgumentError(field, f"{value!r} is not a valid alias: it must start with a letter")
    return value


def check_key(field: str, value: str) -> str:
    """A tag, metric or parameter key."""
    if not value or len(value) > MAX_TAG_KEY or not _KEY.fullmatch(value):
        raise InvalidArgumentError(
            field,
            f"{value!r} is not a valid key: 1 to {MAX_TAG_KEY} letters, digits, '.', '_', '-' or '/', "
            "starting with a letter or digit",
        )
    return value


def check_text(field: str, value: str, limit: int = MAX_TEXT) -> str:
    """Free text of at most ``limit`` characters, without NUL (which Postgres text cannot hold)."""
    if len(value) > limit:
        raise InvalidArgumentError(field, f"is {len(value)} characters long; at most {limit} allowed")
    if "\x00" in value:
        raise InvalidArgumentError(field, "contains a NUL character, which cannot be stored")
    return value


def check_tags(field: str, tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidArgumentError(field, f"has {len(tags)} entries; at most {MAX_TAGS} allowed")
    for key, value in tags.items():
        check_key(f"{field}[{key!r}]", key)
        check_text(f"{field}[{key!r}]", value, MAX_TAG_VALUE)
    return dict(tags)


def check_json_object(field: str, value: dict[str, Any]) -> dict[str, Any]:
    """A free-form JSON object (hyperparameters, structured metrics): bounded, finite numbers."""
    try:
        encoded = json.dumps(value, allow_nan=False)
    except ValueError:
        raise InvalidArgumentError(field, "contains NaN or infinity, which JSON cannot hold") from None
    if len(encoded) > MAX_JSON_BYTES:
        raise InvalidArgumentError(field, f"is {len(encoded)} bytes as JSON; at most {MAX_JSON_BYTES} allowed")
    if _has_nul(value):
        raise InvalidArgumentError(field, "contains a NUL character, which cannot be stored")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_has_nul(v) for v in value)


def check_number(field: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidArgumentError(field, f"must be a finite number, got {value}")
    return value


def parse_model_name(field: str, text: str) -> tuple[str, str]:
    """'project/model' -> (project, model)."""
    project, sep, model = text.partition("/")
    if not sep:
        raise InvalidArgumentError(field, f"{text!r} is not a model name: expected 'project/model'")
    return check_name(field, project), check_name(field, model)


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A parsed textual reference: exactly one of version and alias, or neither (latest READY)."""

    project: str
    model: str
    version: int | None = None
    alias: str | None = None

    @property
    def model_name(self) -> str:
        return f"{self.project}/{self.model}"

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model_name}:{self.version}"
        if self.alias is not None:
            return f"{self.model_name}@{self.alias}"
        return self.model_name


def parse_reference(text: str, field: str = "reference") -> VersionRef:
    """'p/m:3', 'p/m@alias' or 'p/m' (latest READY version)."""
    if not text:
        raise InvalidArgumentError(
            field, "is required: use 'project/model:VERSION', 'project/model@ALIAS' or 'project/model'"
        )
    if len(text) > MAX_REFERENCE:
        raise InvalidArgumentError(field, f"is {len(text)} characters long; at most {MAX_REFERENCE} allowed")
    if "@" in text:
        name, _, alias = text.partition("@")
        project, model = parse_model_name(field, name)
        return VersionRef(project, model, alias=check_alias(field, alias))
    if ":" in text:
        name, _, number = text.partition(":")
        project, model = parse_model_name(field, name)
        if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_VERSION:
            raise InvalidArgumentError(
                field, f"version {number!r} in {text!r} is not a positive integer of at most {MAX_VERSION}"
            )
        return VersionRef(project, model, version=int(number))
    project, model = parse_model_name(field, text)
    return VersionRef(project, model)
