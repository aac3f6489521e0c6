"""Metrics of a version: logging values (history is kept) and reading one metric's history."""

from __future__ import annotations

from collections.abc import Sequence

from modelyard_metadata.domain.access import Role
from modelyard_metadata.domain.entities import Caller, EncodedVersion, MetricPoint, NewAuditEvent
from modelyard_metadata.domain.guard import Guard
from modelyard_metadata.domain.lookups import lock_version
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.validation import (
    check_key,
    check_metric_points,
    check_structured_total,
    parse_reference,
)
from modelyard_metadata.domain.versions import Versions

__all__ = ["Metrics"]


class Metrics:
    def __init__(self, store: MetadataStore, guard: Guard, versions: Versions) -> None:
        self._store = store
        self._guard = guard
        self._versions = versions

    async def log(self, caller: Caller, reference: str, points: Sequence[MetricPoint]) -> EncodedVersion:
        """LogMetrics: the version after them, as the wire carries it (the message stored with it)."""
        ref = parse_reference(reference)
        check_metric_points(points)
        caller = await self._guard.allow(caller, ref.project, Role.EDITOR, "LogMetrics", reference)
        async with self._store.transaction() as tx:
            version = await lock_version(self._store, tx, ref)
            check_structured_total(version, points)
            updated = await tx.add_metrics(version, points)
            logged = {p.name: p.number if p.number is not None else p.structured for p in points}
            await tx.append_audit(
                NewAuditEvent(caller, "version.metrics", version.project, version.reference, after={"metrics": logged})
            )
            return tx.encoded(updated)

    async def history(self, caller: Caller, reference: str, name: str) -> list[MetricPoint]:
        check_key("name", name)
        version = await self._versions.get(caller, reference, "GetMetricHistory")
        return await self._store.metric_history(version, name)
