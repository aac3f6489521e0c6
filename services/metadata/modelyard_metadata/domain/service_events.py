"""Events of what the deploy service keeps in its own tables (deployments, jobs), recorded in
the audit log so that the audit page shows them and webhooks deliver them. The deploy service
forwards its outbox in order and again after a crash; each source id is recorded once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.access import Duty
from modelyard_metadata.domain.entities import Caller, NewAuditEvent
from modelyard_metadata.domain.guard import Guard
from modelyard_metadata.domain.json_bounds import check_json_object
from modelyard_metadata.domain.limits import MAX_NAME, MAX_REFERENCE
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.validation import check_name, check_text

__all__ = ["SERVICE_ACTIONS", "ServiceEvent", "ServiceEvents"]

# The audit actions a service may record for what it keeps.
SERVICE_ACTIONS = frozenset({"deployment.changed", "job.created", "job.cancelled", "job.finished"})
MAX_EVENTS = 500  # one request, one transaction


@dataclass(frozen=True, slots=True)
class ServiceEvent:
    source_id: int
    action: str
    project: str
    resource: str
    actor: str
    reason: str
    details: dict[str, Any]
    origin: str


class ServiceEvents:
    def __init__(self, store: MetadataStore, guard: Guard) -> None:
        self._store, self._guard = store, guard

    async def record(self, caller: Caller, events: Sequence[ServiceEvent]) -> int:
        """Appends the events not recorded before, in order, in one transaction; how many were new."""
        if len(events) > MAX_EVENTS:
            raise InvalidArgumentError("events", f"has {len(events)} events; at most {MAX_EVENTS} per call")
        for i, event in enumerate(events):
            _check(f"events[{i}]", event)
        caller = await self._guard.as_service(caller, Duty.REPORT_EVENTS, "RecordServiceEvents", "service-events")
        recorded = 0
        async with self._store.transaction() as tx:
            for event in events:
                if await tx.first_service_event(caller.actor, event.origin, event.source_id):
                    on_behalf = dataclasses.replace(caller, actor=event.actor)
                    details = {**event.details, "source_id": event.source_id}
                    await tx.append_audit(
                        NewAuditEvent(
                            on_behalf, event.action, event.project, event.resource, after=details, reason=event.reason
                        )
                    )
                    recorded += 1
        return recorded


def _check(field: str, event: ServiceEvent) -> None:
    if event.source_id <= 0:
        raise InvalidArgumentError(f"{field}.source_id", "must be a positive number")
    if not event.origin or len(event.origin) > MAX_NAME:
        raise InvalidArgumentError(f"{field}.origin", f"must have 1 to {MAX_NAME} characters")
    if event.action not in SERVICE_ACTIONS:
        raise InvalidArgumentError(f"{field}.action", f"must be one of {', '.join(sorted(SERVICE_ACTIONS))}")
    check_name(f"{field}.project", event.project)
    if not event.resource or len(event.resource) > MAX_REFERENCE:
        raise InvalidArgumentError(f"{field}.resource", f"must have 1 to {MAX_REFERENCE} characters")
    if not event.actor or len(event.actor) > MAX_NAME:
        raise InvalidArgumentError(f"{field}.actor", f"must have 1 to {MAX_NAME} characters")
    check_text(f"{field}.reason", event.reason)
    check_json_object(f"{field}.details", event.details)
