"""The leader forwards the outbox (deployment changes, job ends, written with their changes) to
the metadata service's audit log, where the audit page shows them and webhooks send them.

At least once, oldest first: the events are forwarded in id order and deleted, by id, only once
the metadata service recorded them (it records each source id once, so a forward repeated after
a crash adds nothing). One deployment's or job's events are in the order of its changes (their
transactions hold its row lock); a change committed late with a lower id than one already
forwarded is forwarded in the next round."""

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
    async def remove(self, source_ids: Sequence[int]) -> None:
        """Deletes these events, once recorded (not "every id up to": a transaction that took a
        lower id may commit after a higher one was read)."""
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
            await self._outbox.remove([e.source_id for e in events])
        return len(events)
