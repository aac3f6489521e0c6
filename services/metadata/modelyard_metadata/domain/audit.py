"""The audit log: what an event records of an entity, and reading the log (a page at a time, or
watched as events commit)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from modelyard_common.errors import ConflictError, InvalidArgumentError
from modelyard_metadata.domain.access import AccessDenied
from modelyard_metadata.domain.entities import AuditEvent, Caller
from modelyard_metadata.domain.guard import may_read
from modelyard_metadata.domain.paging import decode_token, encode_token, page_of, page_size
from modelyard_metadata.domain.ports import AuditQuery, EventFeed, MetadataStore
from modelyard_metadata.domain.validation import check_audit_filter

__all__ = ["AuditLog", "snapshot"]

_IDS = frozenset({"id", "model_id"})
_REPLAY_PAGE = 500


def snapshot(entity: object) -> dict[str, Any]:
    """A JSON-ready dictionary of an entity, for audit events (without database ids)."""
    data = _plain(entity)
    assert isinstance(data, dict)
    return data


def _plain(value: Any) -> Any:
    # Not dataclasses.asdict: its deep copy made this the most expensive step of a write.
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _IDS}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class AuditLog:
    """Reading the audit log: one project's events, or every project's for who may read them all."""

    def __init__(self, store: MetadataStore, feed: EventFeed) -> None:
        self._store = store
        self._feed = feed

    async def list_events(
        self, caller: Caller, query: AuditQuery, size: int, token: str
    ) -> tuple[list[AuditEvent], str]:
        _check_query(caller, query, "ListAuditEvents")
        limit = page_size(size)
        before = decode_token("audit", token, int)
        events = await self._store.list_audit_events(query, int(before or 2**62), limit + 1)
        return page_of(events, limit, lambda e: encode_token("audit", e.id))

    async def watch(self, caller: Caller, query: AuditQuery, after_id: int) -> AsyncIterator[AuditEvent]:
        """Committed events matching ``query``: first those after ``after_id`` (if set), then live ones.

        Ends when the feed ends; raises ConflictError (ABORTED) when it ended on an error, naming
        the id to resume after.
        """
        _check_query(caller, query, "WatchEvents")
        if after_id < 0:
            raise InvalidArgumentError("after_id", f"must not be negative, got {after_id}")
        last = after_id
        async with self._feed.subscribe() as subscription:
            replayed: set[int] = set()
            while after_id:
                page = await self._store.audit_events_after(query, last, _REPLAY_PAGE)
                for event in page:
                    replayed.add(event.id)
                    last = event.id
                    yield event
                if len(page) < _REPLAY_PAGE:
                    break
            while (event_id := await subscription.next()) is not None:
                if event_id in replayed:
                    continue
                found = await self._store.find_audit_event(event_id, query)
                if found is not None:
                    last = max(last, found.id)
                    yield found
            if subscription.error:
                raise ConflictError(f"watch ended: {subscription.error}; watch again with after_id={last}")


def _check_query(caller: Caller, query: AuditQuery, action: str) -> None:
    """One project's log takes a VIEWER of it; every project's, who sees every project."""
    check_audit_filter(query.project, query.resource, query.actor)
    identity = caller.identity
    if query.project:
        may_read(caller, query.project, action)
    elif identity is not None and not identity.sees_everything:
        raise AccessDenied(
            f"{action}: {identity.principal} may read the audit log of one project at a time; set project", "", action
        )
