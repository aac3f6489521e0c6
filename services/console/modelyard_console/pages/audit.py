"""The audit page: the log newest first, filtered, and its live tail (Server-Sent Events fed by
WatchEvents, see ``live``). The services filter by project, resource and actor (the watch by
project and resource only); the console filters the rest: the action, and the watch's actor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import modelyard.aio
from modelyard import AuditEvent
from modelyard.errors import ModelyardError
from modelyard_console.pages import live
from modelyard_console.pages._common import console_of, page, status_of

__all__ = ["routes"]

SHOWN = 100  # events listed
SCANNED = 2000  # events read at most to find SHOWN of one action, which the API cannot filter


def routes() -> list[Route]:
    return [Route("/audit", page(_audit)), Route("/audit/stream", page(_stream))]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    project: str = ""
    resource: str = ""  # a name or reference prefix, as the API takes it
    actor: str = ""
    action: str = ""  # a prefix: "version" takes version.create, version.stage...

    @classmethod
    def of(cls, request: Request) -> AuditFilter:
        values = request.query_params
        return cls(*(values.get(name, "").strip() for name in ("project", "resource", "actor", "action")))

    def query(self) -> dict[str, str]:
        """The filters given, for a URL's query."""
        return {name: value for name, value in asdict(self).items() if value}

    def admits(self, event: AuditEvent) -> bool:
        """What the service did not filter already."""
        return event.action.startswith(self.action) and self.actor in ("", event.actor)


async def _audit(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    wanted = AuditFilter.of(request)
    try:
        rows, newest = await _newest(client, wanted)
    except ModelyardError as exc:  # shown above the filters, which are how to ask again
        return console_of(request).render(
            request, "audit.html", status_of(exc), wanted=wanted, rows=[], refused=exc.message
        )
    stream = "/audit/stream?" + urlencode({**wanted.query(), "after": newest})
    return console_of(request).render(request, "audit.html", wanted=wanted, rows=rows, stream=stream)


async def _newest(client: modelyard.aio.AsyncClient, wanted: AuditFilter) -> tuple[list[dict[str, Any]], int]:
    """The rows of the newest events ``wanted`` admits, and the id of the newest event read
    (the tail starts after it, shown or not)."""
    rows: list[dict[str, Any]] = []
    newest = 0
    listing = client.audit_events(
        project=wanted.project, resource=wanted.resource, actor=wanted.actor, limit=SCANNED if wanted.action else SHOWN
    )
    async for event in listing:
        newest = max(newest, event.id)
        if wanted.admits(event):
            rows.append(event_fields(event))
            if len(rows) == SHOWN:
                break
    return rows, newest


async def _stream(request: Request, client: modelyard.aio.AsyncClient) -> Response:
    wanted = AuditFilter.of(request)
    # The page's call: a refusal becomes this response's status, before anything is streamed.
    await anext(
        client.audit_events(project=wanted.project, resource=wanted.resource, actor=wanted.actor, limit=1), None
    )
    after = _int(request.headers.get("last-event-id")) or _int(request.query_params.get("after"))

    async def tail(client: modelyard.aio.AsyncClient) -> AsyncIterator[str]:
        async for event in client.watch_events(project=wanted.project, resource=wanted.resource, after_id=after):
            if wanted.admits(event):
                yield live.message("audit", event_fields(event), event.id)

    return live.event_stream(request, tail)


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """What a row of the page shows: rendered by the template, or sent for live.js to add."""
    return {
        "id": event.id,
        "time": event.time.isoformat() if event.time else "",
        "shown_time": event.time.strftime("%Y-%m-%d %H:%M:%SZ") if event.time else "",
        "actor": event.actor,
        "action": event.action,
        "project": event.project,
        "resource": event.resource,
        "reason": event.reason,
        "access": event.access,
    }


def _int(value: str | None) -> int:
    """A non-negative id from a header or the query; 0 (live events only) for anything else."""
    return int(value) if value and value.isdigit() and len(value) < 19 else 0
