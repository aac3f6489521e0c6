"""The metadata use cases over one store, composed once: the servicer's single entry point.

Each use case validates its input, checks the caller's access, changes state in one transaction
with its audit event, and returns the result; the store invalidates caches as the transaction
commits. A caller without an identity (authentication off) may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelyard_metadata.domain.artifacts import Artifacts
from modelyard_metadata.domain.audit import AuditLog
from modelyard_metadata.domain.guard import Guard
from modelyard_metadata.domain.lifecycle import Lifecycle
from modelyard_metadata.domain.lineage import Lineage
from modelyard_metadata.domain.metrics import Metrics
from modelyard_metadata.domain.models import Models
from modelyard_metadata.domain.ports import EventFeed, MetadataStore
from modelyard_metadata.domain.projects import Projects
from modelyard_metadata.domain.service_events import ServiceEvents
from modelyard_metadata.domain.versions import Versions

__all__ = ["Catalog"]


@dataclass(frozen=True, slots=True)
class Catalog:
    guard: Guard
    projects: Projects
    models: Models
    versions: Versions
    metrics: Metrics
    lifecycle: Lifecycle
    lineage: Lineage
    audit: AuditLog
    artifacts: Artifacts
    service_events: ServiceEvents

    @classmethod
    def over(cls, store: MetadataStore, feed: EventFeed, protected_aliases: frozenset[str] = frozenset()) -> Catalog:
        guard = Guard(store)
        projects = Projects(store)
        models = Models(store, guard, projects)
        versions = Versions(store, guard, models)
        return cls(
            guard=guard,
            projects=projects,
            models=models,
            versions=versions,
            metrics=Metrics(store, guard, versions),
            lifecycle=Lifecycle(store, guard, protected_aliases),
            lineage=Lineage(store, versions),
            audit=AuditLog(store, feed),
            artifacts=Artifacts(store, guard),
            service_events=ServiceEvents(store, guard),
        )
