"""The leader forwards the outbox (deployment changes, job ends, written with their changes) to
the metadata service's audit log, where the audit page shows them and webhooks send them.

In order and at least once: the oldest events go first, and are deleted only once the metadata
service recorded them (it records each source id once, so a forward repeated after a crash adds
nothing)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["EventForwarder", "EventSink", "Outbox", "OutboxEvent"]

logger = logging.getLogger(__name__)

BATCH = 100


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A change's event, numbered by the outbox (``source_id``) in the order of the changes."""

    source_id: int
    action: str
    project: str
    resource: str
    actor: str
    reason: str
    details: Mapping[str, Any]


class Outbox(Protocol):
    async def origin(self) -> str:
        """The outbox's own name (a UUID made with it), unique among the deploy databases."""
        ...

    async def oldest(self, limit: int) -> list[OutboxEvent]: ...
    async def remove_through(self, source_id: int) -> None:
        """Deletes the events up to ``source_id``, once recorded."""
        ...


class EventSink(Protocol):
    async def record(self, origin: str, events: Sequence[OutboxEvent]) -> None: ...


class EventForwarder:
    def __init__(self, outbox: Outbox, sink: EventSink, interval: float) -> None:
        self._outbox, self._sink, self._interval = outbox, sink, interval

    async def run_forever(self) -> None:
        """Forwards what is there every ``interval`` seconds; a failure is logged and tried again."""
        while True:
            try:
                while await self.forward() == BATCH:
                    pass
            except Exception as exc:  # the metadata service down, a lost connection: next round
                logger.warning("forwarding deploy events to the audit log failed; retrying: %s", exc)
            await asyncio.sleep(self._interval)

    async def forward(self) -> int:
        """Forwards up to BATCH of the oldest events; how many."""
        events = await self._outbox.oldest(BATCH)
        if events:
            await self._sink.record(await self._outbox.origin(), events)
            await self._outbox.remove_through(events[-1].source_id)
        return len(events)
