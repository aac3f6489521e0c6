"""Checks on names, references and sizes; each failure names the field and what is wrong."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.limits import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_ENTRIES,
    MAX_JSON_KEY,
    MAX_NAME,
    MAX_REFERENCE,
    MAX_SHOWN_JSON_DEPTH,
    MAX_TAG_KEY,
    MAX_TAG_VALUE,
    MAX_TAGS,
    MAX_TEXT,
    MAX_VERSION,
)

__all__ = [
    "DATATYPES",
    "TOO_DEEP",
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
    "shown_json",
]

logger = logging.getLogger(__name__)

DATATYPES = frozenset(
    ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]
)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_ALIAS = re.compile(r"[a-z][a-z0-9._-]*")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_NAME_RULE = "lowercase letters, digits, '-', '_' and '.', starting with a letter or digit"
_ALIAS_RULE = "lowercase letters, digits, '-', '_' and '.', starting with a letter"


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


def check_json_object(field: str, value: dict[str, Any]) -> int:
    """A free-form JSON object (hyperparameters, a structured metric): bounded so that every
    response showing it decodes (docs/limits.md), finite numbers, no NUL; its size as JSON."""
    _check_shape(field, value)
    try:
        encoded = json.dumps(value, allow_nan=False)
    except ValueError:
        raise InvalidArgumentError(field, "contains NaN or infinity, which JSON cannot hold") from None
    if len(encoded) > MAX_JSON_BYTES:
        raise InvalidArgumentError(field, f"is {len(encoded)} bytes as JSON; at most {MAX_JSON_BYTES} allowed")
    return len(encoded)


def _check_shape(field: str, value: Any) -> None:
    """Nesting, entries, keys and NUL characters, in one walk that stops at the first fault (so a
    deep value costs no recursion)."""
    entries = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: list[Any] = list(item.values())
            for key in item:
                if len(key) > MAX_JSON_KEY:
                    raise InvalidArgumentError(
                        field, f"has a key of {len(key)} characters; at most {MAX_JSON_KEY} allowed"
                    )
                _check_no_nul(field, key)
        elif isinstance(item, list):
            children = item
        else:
            if isinstance(item, str):
                _check_no_nul(field, item)
            continue
        if depth > MAX_JSON_DEPTH:
            raise InvalidArgumentError(
                field,
                f"nests objects and lists more than {MAX_JSON_DEPTH} levels deep; at most {MAX_JSON_DEPTH} allowed",
            )
        entries += len(children)
        if entries > MAX_JSON_ENTRIES:
            raise InvalidArgumentError(
                field, f"has more than {MAX_JSON_ENTRIES} entries (object members and list items) in all"
            )
        pending.extend((child, depth + 1) for child in children)


def _check_no_nul(field: str, text: str) -> None:
    if "\x00" in text:
        raise InvalidArgumentError(field, "contains a NUL character, which cannot be stored")


# What a response shows in place of a stored value nested too deep to decode.
TOO_DEEP = f"(not shown: nested more than {MAX_SHOWN_JSON_DEPTH} levels deep)"


def shown_json(value: Any, what: str) -> Any:
    """``value`` as a response may carry it: each object or list nested deeper than
    MAX_SHOWN_JSON_DEPTH replaced by TOO_DEEP (logged, naming ``what``). Only values stored before
    the depth bound can be that deep; shown whole, they would make the response undecodable and
    fail every read that includes them."""
    if _within(value, MAX_SHOWN_JSON_DEPTH):
        return value
    logger.warning("%s nests deeper than %d levels; shown as %r", what, MAX_SHOWN_JSON_DEPTH, TOO_DEEP)
    return _clipped(value, MAX_SHOWN_JSON_DEPTH)


def _within(value: Any, levels: int) -> bool:
    if isinstance(value, dict):
        return levels > 0 and all(_within(v, levels - 1) for v in value.values())
    if isinstance(value, list):
        return levels > 0 and all(_within(v, levels - 1) for v in value)
    return True


def _clipped(value: Any, levels: int) -> Any:
    if not isinstance(value, (dict, list)):
        return value
    if levels == 0:
        return TOO_DEEP
    if isinstance(value, dict):
        return {k: _clipped(v, levels - 1) for k, v in value.items()}
    return [_clipped(v, levels - 1) for v in value]


def check_number(field: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidArgumentError(field, f"must be a finite number, got {value}")
    return value


_MODEL_FORM = "use project/model"
_QUOTED = MAX_REFERENCE  # characters of a malformed name or reference quoted in its error
_QUOTED_BESIDE_A_LENGTH = 40  # ... when the error is that a part of it is too long
_REFERENCE_FORMS = "use project/model:VERSION, project/model@ALIAS or project/model (its latest READY version)"


def _quoted(text: str, limit: int = _QUOTED) -> str:
    """``text`` as an error quotes it: repr, cut after ``limit`` characters."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}..."


def parse_model_name(field: str, text: str) -> tuple[str, str]:
    """'project/model' -> (project, model); a failure says what is wrong with ``text``."""
    return _split_name(field, text, text, _MODEL_FORM)


def _split_name(field: str, name: str, text: str, forms: str) -> tuple[str, str]:
    """The project and model of ``name``, the part of ``text`` before any ':' or '@'; each
    failure quotes ``text`` and says what is wrong with it, then ``forms``."""
    project, slash, model = name.partition("/")
    if not text:
        raise InvalidArgumentError(field, f"is required: {forms}")
    if not name:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no project/model before {text[0]!r}: {forms}")
    if not slash:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no project: {forms}")
    if not project:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no project before '/': {forms}")
    if not model:
        raise InvalidArgumentError(field, f"{_quoted(text)} has no model after '/': {forms}")
    if "/" in model:
        raise InvalidArgumentError(field, f"{_quoted(text)} has more than one '/': {forms}")
    return _check_part(field, "project", project, text), _check_part(field, "model", model, text)


def _check_part(field: str, what: str, value: str, text: str) -> str:
    """The project, model or alias named in ``text``, checked as ``check_name`` and
    ``check_alias`` do."""
    if len(value) > MAX_NAME:
        raise InvalidArgumentError(
            field,
            f"the {what} in {_quoted(text, _QUOTED_BESIDE_A_LENGTH)} is {len(value)} characters long; "
            f"at most {MAX_NAME} allowed",
        )
    pattern, noun, rule = (_ALIAS, "alias", _ALIAS_RULE) if what == "alias" else (_NAME, "name", _NAME_RULE)
    if not pattern.fullmatch(value):
        raise InvalidArgumentError(field, f"{what} {value!r} in {_quoted(text)} is not a valid {noun}: use {rule}")
    return value


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
    """'p/m:3', 'p/m@alias' or 'p/m' (latest READY version); a failure says what is wrong with
    ``text``, e.g. "reference: '/scorer:1' has no project before '/': use project/model:VERSION,
    ..."."""
    if not text:
        raise InvalidArgumentError(field, f"is required: {_REFERENCE_FORMS}")
    if len(text) > MAX_REFERENCE:
        raise InvalidArgumentError(field, f"is {len(text)} characters long; at most {MAX_REFERENCE} allowed")
    if "@" in text and ":" in text:
        raise InvalidArgumentError(
            field, f"{_quoted(text)} has both a version (':') and an alias ('@'): {_REFERENCE_FORMS}"
        )
    if "@" in text:
        name, _, alias = text.partition("@")
        project, model = _split_name(field, name, text, _REFERENCE_FORMS)
        if not alias:
            raise InvalidArgumentError(field, f"{_quoted(text)} has no alias after '@': {_REFERENCE_FORMS}")
        if "@" in alias:
            raise InvalidArgumentError(field, f"{_quoted(text)} has more than one '@': {_REFERENCE_FORMS}")
        return VersionRef(project, model, alias=_check_part(field, "alias", alias, text))
    if ":" in text:
        name, _, number = text.partition(":")
        project, model = _split_name(field, name, text, _REFERENCE_FORMS)
        if not number:
            raise InvalidArgumentError(field, f"{_quoted(text)} has no version after ':': {_REFERENCE_FORMS}")
        if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_VERSION:
            raise InvalidArgumentError(
                field, f"version {number!r} in {_quoted(text)} is not a positive integer of at most {MAX_VERSION}"
            )
        return VersionRef(project, model, version=int(number))
    project, model = _split_name(field, text, text, _REFERENCE_FORMS)
    return VersionRef(project, model)
