"""Who is calling and under which request id: set per RPC by the server interceptor.

With authentication on, the bearer token is the identity; the services resolve it (the metadata
service from its tables, the others through its Authorize RPC), and the actor header counts
only when a service principal sends it on behalf of its own caller.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ACTOR_HEADER", "AUTHORIZATION_HEADER", "REQUEST_ID_HEADER", "Call", "current_call", "start_call"]

ACTOR_HEADER = "modelyard-actor"
REQUEST_ID_HEADER = "modelyard-request-id"
AUTHORIZATION_HEADER = "authorization"
_BEARER = "bearer "
_MAX_HEADER = 256
_MAX_TOKEN = 512


@dataclass(frozen=True, slots=True)
class Call:
    """The claimed actor, request id and bearer token ("" when none) of the RPC being served,
    and its method ("GetModelVersion")."""

    actor: str
    request_id: str
    token: str = ""
    method: str = ""


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("modelyard_call", default=None)


def current_call() -> Call | None:
    return _current.get()


def start_call(metadata: Iterable[tuple[str, str | bytes]] | None, method: str = "") -> Call:
    """Reads the caller's headers into the context of this RPC, and returns them."""
    actor, request_id, token = "anonymous", "", ""
    for key, value in metadata or ():
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if key == ACTOR_HEADER and text:
            actor = text[:_MAX_HEADER]
        elif key == REQUEST_ID_HEADER and text:
            request_id = text[:_MAX_HEADER]
        elif key == AUTHORIZATION_HEADER and text[: len(_BEARER)].lower() == _BEARER:
            token = text[len(_BEARER) :].strip()[:_MAX_TOKEN]
    call = Call(actor=actor, request_id=request_id or uuid.uuid4().hex[:16], token=token, method=method)
    _current.set(call)
    return call
