"""Live pages' feeds: a service's watch stream relayed to the browser as Server-Sent Events.

A stream is opened only after a page call checked the user may read it, so a refusal is an
HTTP status (EventSource stops on one) rather than a message inside the stream. The stream then
runs on a client of its own, made with the session's token on the server (the browser's
EventSource sends only the session cookie), and ends with the HTTP response: when the browser
disconnects, Starlette cancels the body, which cancels the gRPC call. A comment line every
``HEARTBEAT`` seconds keeps idle connections open through proxies and notices a peer that is
gone without saying so.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

import modelyard.aio
from modelyard.errors import ModelyardError
from modelyard_console.pages._common import console_of

__all__ = ["HEARTBEAT", "Source", "event_stream", "message"]

HEARTBEAT = 15.0
_QUIET = ": still here\n\n"

Source = Callable[[modelyard.aio.AsyncClient], AsyncIterator[str]]
"""Makes the stream's messages (``message(...)``) from a client acting as the session's user."""


def message(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    """One SSE message: a named event whose data is one line of JSON (``json.dumps`` escapes
    every newline), with an id the browser sends back as Last-Event-ID when it reconnects."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return f"{head}data: {json.dumps(data)}\n\n"


def event_stream(request: Request, source: Source) -> StreamingResponse:
    """The response relaying ``source``; a service error met on the way is sent as an
    ``error`` event before the stream ends (the browser then reconnects, and a refusal stops it)."""
    console, token = console_of(request), request.scope["session_record"].token

    async def body() -> AsyncIterator[str]:
        async with console.client(token) as client:
            try:
                async for line in _with_heartbeats(source(client)):
                    yield line
            except ModelyardError as exc:
                yield message("error", {"code": exc.code, "message": exc.message})

    headers = {"X-Accel-Buffering": "no"}  # nginx: pass each message on as it comes
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def _with_heartbeats(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """``lines``, with ``_QUIET`` whenever none came for ``HEARTBEAT`` seconds. The pending read
    is a task of its own, kept across heartbeats (cancelling it would end ``lines``)."""
    pending: asyncio.Task[str | None] | None = None
    try:
        while True:
            pending = pending or asyncio.create_task(_next(lines))
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT)
            if not done:
                yield _QUIET
                continue
            line, pending = pending.result(), None
            if line is None:
                return
            yield line
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait({pending})


async def _next(lines: AsyncIterator[str]) -> str | None:
    return await anext(lines, None)
