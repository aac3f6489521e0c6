"""Opaque page tokens and page sizes for list RPCs."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PAGE_TOKEN

__all__ = ["decode_token", "encode_token", "page_of", "page_size"]

T = TypeVar("T")


def page_size(requested: int) -> int:
    if requested < 0 or requested > MAX_PAGE_SIZE:
        raise InvalidArgumentError("page_size", f"must be between 0 and {MAX_PAGE_SIZE}, got {requested}")
    return requested or DEFAULT_PAGE_SIZE


def encode_token(kind: str, position: Any) -> str:
    raw = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(kind: str, token: str, position: type[str] | type[int]) -> Any:
    """The position stored in ``token`` (a name or a positive id), or None for an empty token."""
    if not token:
        return None
    if len(token) > MAX_PAGE_TOKEN:
        raise InvalidArgumentError("page_token", f"is {len(token)} characters long; at most {MAX_PAGE_TOKEN} allowed")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidArgumentError("page_token", "is not a token this service issued") from None
    if not isinstance(data, dict) or data.get("k") != kind or not _fits(data.get("p"), position):
        raise InvalidArgumentError("page_token", f"was not issued for this {kind} listing")
    return data["p"]


def _fits(value: Any, position: type[str] | type[int]) -> bool:
    # Checked here, as a forged token could carry anything: a name Postgres can store, an id it can.
    if type(value) is not position:
        return False
    return "\x00" not in value if isinstance(value, str) else 0 < value < 2**63


def page_of(items: list[T], limit: int, token_of: Callable[[T], str]) -> tuple[list[T], str]:
    """A page of ``items`` (up to ``limit + 1`` read) and the token of the next page ("" on the last)."""
    if len(items) > limit:
        return items[:limit], token_of(items[limit - 1])
    return items, ""
