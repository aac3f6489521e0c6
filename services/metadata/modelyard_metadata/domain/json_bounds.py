"""Bounds on free-form JSON (hyperparameters, structured metrics): what a request may store, and
how a response shows a value stored before the bounds (docs/limits.md)."""

from __future__ import annotations

import json
import logging
from typing import Any

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.limits import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_ENTRIES,
    MAX_JSON_KEY,
    MAX_SHOWN_JSON_DEPTH,
)

__all__ = ["TOO_DEEP", "check_json_object", "shown_json"]

logger = logging.getLogger(__name__)


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
