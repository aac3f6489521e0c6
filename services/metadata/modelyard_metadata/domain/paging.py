"""Opaque page tokens and page sizes for list RPCs."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from modelyard_common.errors import InvalidArgumentError

__all__ = ["decode_token", "encode_token", "page_size"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    if requested < 0 or requested > MAX_PAGE_SIZE:
        raise InvalidArgumentError("page_size", f"must be between 0 and {MAX_PAGE_SIZE}, got {requested}")
    return requested or DEFAULT_PAGE_SIZE


def encode_token(kind: str, position: Any) -> str:
    raw = json.dumps({"k": kind, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(kind: str, token: str) -> Any:
    """The position stored in ``token``, or None for an empty token (the first page)."""
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidArgumentError("page_token", "is not a token this service issued") from None
    if not isinstance(data, dict) or data.get("k") != kind or "p" not in data:
        raise InvalidArgumentError("page_token", f"was not issued for this {kind} listing")
    return data["p"]
