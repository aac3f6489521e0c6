"""Who is calling and under which request id: set per RPC by the server interceptor."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ACTOR_HEADER", "REQUEST_ID_HEADER", "Call", "current_call", "start_call"]

ACTOR_HEADER = "modelyard-actor"
REQUEST_ID_HEADER = "modelyard-request-id"
_MAX_HEADER = 256


@dataclass(frozen=True, slots=True)
class Call:
    """The identity and request id of the RPC being served; recorded in audit events."""

    actor: str
    request_id: str


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("modelyard_call", default=None)


def current_call() -> Call | None:
    return _current.get()


def start_call(metadata: Iterable[tuple[str, str | bytes]] | None) -> contextvars.Token[Call | None]:
    """Reads the caller's headers into the context of this RPC (until authentication lands,
    the actor is what the client says it is)."""
    actor, request_id = "anonymous", ""
    for key, value in metadata or ():
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if key == ACTOR_HEADER and text:
            actor = text[:_MAX_HEADER]
        elif key == REQUEST_ID_HEADER and text:
            request_id = text[:_MAX_HEADER]
    return _current.set(Call(actor=actor, request_id=request_id or uuid.uuid4().hex[:16]))
