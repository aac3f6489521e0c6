"""What the domain needs from storage; storage/ implements these, main.py picks them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from modelyard_common.values import ConsumptionKind
from modelyard_metadata.domain.access import Identity, Principal, PrincipalKind, Role, RoleBinding, Token
from modelyard_metadata.domain.dataset_entities import (
    Dataset,
    DatasetColumn,
    DatasetLink,
    DatasetUse,
    DatasetVersion,
    NewDatasetVersion,
)
from modelyard_metadata.domain.entities import (
    AuditEvent,
    Consumer,
    EncodedVersion,
    LineageEdge,
    LineageNode,
    MetricPoint,
    Model,
    ModelVersion,
    NewAuditEvent,
    NewModel,
    NewVersion,
    Project,
    Stage,
)
from modelyard_metadata.domain.search import Expr, OrderKey
from modelyard_metadata.domain.validation import VersionRef

__all__ = [
    "AccessStore",
    "AccessTransaction",
    "AuditQuery",
    "ConsumerStore",
    "DatasetStore",
    "DatasetTransaction",
    "EventFeed",
    "MetadataStore",
    "MetadataTransaction",
    "ProjectStats",
    "SearchQuery",
    "Subscription",
    "VersionRead",
    "WireFormat",
]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    expr: Expr | None
    order: tuple[OrderKey, ...]
    project: str | None
    page_size: int
    page_token: str
    visible: frozenset[str] | None = None
    """The projects the caller may read (None: every project)."""


@dataclass(frozen=True, slots=True)
class AuditQuery:
    project: str = ""
    resource: str = ""
    actor: str = ""
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ProjectStats:
    model_count: int
    archived_model_count: int
    version_count: int
    versions_by_stage: dict[str, int]
    owners: list[tuple[str, str, int]]
    # (min, max, min_reference, max_reference, count) of the asked-for metric, if any version has it.
    metric: tuple[float, float, str, str, int] | None


class WireFormat(Protocol):
    """How the api layer serializes a version, so that storage keeps each version's message and
    reads answer with it: a message, then what appending to it adds (the wire format merges two
    messages written one after the other)."""

    def version(self, version: ModelVersion) -> bytes:
        """The message of ``version`` without its aliases and produced_by, which change apart from it."""
        ...

    def appended(self, aliases: Sequence[str], produced_by: Sequence[str]) -> bytes:
        """What makes such a message carry ``aliases`` and ``produced_by``, appended to it."""
        ...


class MetadataTransaction(Protocol):
    """Writes inside one database transaction. The store invalidates the cache of every model the
    transaction touched once it commits, before the request returns."""

    async def insert_project(self, name: str, description: str, owner: str) -> Project: ...
    async def first_service_event(self, service: str, origin: str, source_id: int) -> bool:
        """Records that event ``source_id`` of ``service``'s outbox ``origin`` is being recorded;
        False when it was before."""
        ...

    async def insert_model(self, model: NewModel) -> Model: ...
    async def lock_model(self, project: str, name: str) -> Model | None: ...
    async def update_model(self, model: Model, changes: dict[str, Any]) -> Model: ...
    async def reserve_version_number(self, project: str, name: str) -> tuple[Model, int] | None:
        """Locks the model and hands out its next version number (None: no such model)."""
        ...

    def encoded(self, version: ModelVersion) -> EncodedVersion:
        """``version``, written in this transaction, as the wire carries it."""
        ...

    async def insert_version(self, version: NewVersion) -> ModelVersion: ...
    async def lock_version(self, ref: VersionRef) -> ModelVersion | None: ...
    async def find_versions(self, refs: Sequence[VersionRef]) -> list[ModelVersion | None]:
        """The version each of ``refs`` names (None: none), in their order, read in one query."""
        ...

    async def update_version(
        self, version: ModelVersion, changes: dict[str, Any], parent_ids: Sequence[int] | None = None
    ) -> ModelVersion: ...
    async def add_metrics(self, version: ModelVersion, points: Sequence[MetricPoint]) -> ModelVersion: ...
    async def unpassed_gates(self, version: ModelVersion, stage: Stage) -> list[tuple[str, str | None]]:
        """The active scoring tests of the version's model gating ``stage`` that have not passed on
        it, by name, each with the state of its last run on it (None: none yet)."""
        ...

    async def set_alias(self, model: Model, alias: str, version: ModelVersion) -> int | None: ...
    async def delete_alias(self, model: Model, alias: str) -> int | None: ...
    async def append_audit(self, event: NewAuditEvent) -> int: ...
    async def append_audits(self, events: Sequence[NewAuditEvent]) -> list[int]:
        """The events appended in one statement; their ids, in the order given."""
        ...

    async def grant_role(self, project: str, principal: str, role: Role, granted_by: str) -> RoleBinding: ...


class VersionRead(Protocol):
    """A read of one version started already (``MetadataStore.start_encoded_version``)."""

    async def result(self) -> EncodedVersion | None:
        """The version, None when there is none."""
        ...

    def discard(self) -> None:
        """It will not be read after all."""
        ...


class MetadataStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[MetadataTransaction]: ...
    async def principal_identity(self, name: str) -> Identity | None:
        """Principal ``name`` with its powers now (teams, effective roles), as its own token
        would carry them; None when there is no such principal."""
        ...

    async def get_project(self, name: str) -> Project | None: ...
    async def list_projects(self, after: str, limit: int, visible: frozenset[str] | None) -> list[Project]: ...
    async def project_stats(self, project: str, metric: str) -> ProjectStats: ...
    async def get_model(self, project: str, name: str) -> Model | None: ...
    async def list_models(self, project: str, include_archived: bool, after: str, limit: int) -> list[Model]: ...
    async def get_version(self, ref: VersionRef) -> ModelVersion | None: ...
    def start_encoded_version(self, ref: VersionRef) -> VersionRead:
        """Starts reading the version ``ref`` names, as the wire carries it: what can be asked
        at once (a cache lookup) leaves now, with whatever else this turn of the loop sends."""
        ...

    async def find_versions(self, refs: Sequence[VersionRef]) -> list[ModelVersion | None]:
        """As ``MetadataTransaction.find_versions``, outside a transaction."""
        ...

    async def list_versions(self, project: str, model: str, below: int, limit: int) -> list[ModelVersion]: ...
    async def search_versions(self, query: SearchQuery) -> tuple[list[EncodedVersion], str]: ...
    async def metric_history(self, version: ModelVersion, name: str) -> list[MetricPoint]: ...
    async def lineage(
        self, version: ModelVersion, upstream: bool, downstream: bool, depth: int
    ) -> tuple[list[LineageNode], list[LineageEdge]]: ...
    async def list_audit_events(self, query: AuditQuery, before_id: int, limit: int) -> list[AuditEvent]: ...
    async def audit_events_after(self, query: AuditQuery, after_id: int, limit: int) -> list[AuditEvent]: ...
    async def find_audit_event(self, event_id: int, query: AuditQuery) -> AuditEvent | None: ...


class Subscription(Protocol):
    error: str

    async def next(self) -> int | None: ...


class EventFeed(Protocol):
    """Ids of audit events as their transactions commit, on any replica."""

    def subscribe(self) -> AbstractAsyncContextManager[Subscription]: ...


class AccessTransaction(MetadataTransaction, Protocol):
    """Changes to principals, tokens and roles, with their audit events, in one transaction."""

    async def insert_principal(self, name: str, kind: PrincipalKind, admin: bool, created_by: str) -> Principal:
        """ALREADY_EXISTS when the name is taken."""
        ...

    async def ensure_principal(self, name: str, kind: PrincipalKind, admin: bool, created_by: str) -> None:
        """Creates it unless it exists; serializes bootstraps of several replicas."""
        ...

    async def set_member(self, team: str, member: str, present: bool) -> bool:
        """Adds or removes ``member``; whether anything changed."""
        ...

    async def insert_token(
        self, token: Token, secret_sha256: bytes, bootstrap: bool = False, scope: Sequence[str] | None = None
    ) -> None:
        """``scope``: a serving credential reading only these versions."""
        ...

    async def delete_expired_scoped_tokens(self) -> None:
        """Forgets serving credentials that expired (an hour ago or more)."""
        ...

    async def revoke_token(self, token_id: str) -> tuple[Token, bool] | None:
        """Revokes it now unless revoked already: the token as it is then and whether this call
        revoked it (None: no such id)."""
        ...

    async def lock_role(self, project: str, principal: str) -> Role | None:
        """The role ``principal`` holds on ``project`` now, role changes of the project waiting
        for this transaction (so that each one's audit event names the role it replaced)."""
        ...

    async def delete_role(self, project: str, principal: str) -> RoleBinding | None: ...
    async def replace_bootstrap_token(self, token: Token, secret_sha256: bytes) -> bool:
        """Makes ``token`` the principal's one bootstrap token, revoking the others; whether it is new."""
        ...


class AccessStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[AccessTransaction]: ...
    async def identity(self, secret_sha256: bytes) -> tuple[Identity, Token] | None:
        """The principal holding the token with this secret, its teams and effective roles."""
        ...

    async def touch_token(self, token_id: str) -> None: ...
    async def get_principal(self, name: str) -> Principal | None: ...
    async def list_principals(self) -> list[Principal]: ...
    async def get_token(self, token_id: str) -> Token | None: ...
    async def list_tokens(self, principal: str, include_revoked: bool) -> list[Token]: ...
    async def list_roles(self, project: str) -> list[RoleBinding]: ...
    async def effective_roles(self, identity: Identity) -> list[RoleBinding]: ...
    async def project_exists(self, name: str) -> bool: ...


class ConsumerStore(Protocol):
    """Who consumes each version (migration 0005_consumers)."""

    async def record(
        self, version_id: int, principal: str, kind: ConsumptionKind, detail: str, every: timedelta
    ) -> None:
        """Adds the consumer, or moves its last time to now when it was ``every`` ago or more."""
        ...

    async def of_version(self, version_id: int) -> list[Consumer]:
        """The version's consumers, most recent first, each with its principal's teams now."""
        ...


class DatasetTransaction(MetadataTransaction, Protocol):
    """Changes to datasets (migration 0006_datasets), with their audit events, in one transaction."""

    async def insert_dataset(self, project: str, name: str, description: str, created_by: str) -> Dataset:
        """NOT_FOUND without the project, ALREADY_EXISTS when the name is taken."""
        ...

    async def reserve_dataset_version(self, project: str, name: str) -> tuple[Dataset, int] | None:
        """Locks the dataset and hands out its next version number (None: no such dataset)."""
        ...

    async def insert_dataset_version(self, version: NewDatasetVersion) -> DatasetVersion: ...
    async def lock_dataset_version(self, ref: VersionRef) -> DatasetVersion | None: ...
    async def finish_dataset_version(
        self,
        version: DatasetVersion,
        artifact: dict[str, Any],
        columns: Sequence[DatasetColumn],
        row_count: int,
    ) -> DatasetVersion:
        """The version READY with its artifact, schema (searchable from now on) and row count."""
        ...

    async def fail_dataset_version(self, version: DatasetVersion, reason: str) -> DatasetVersion: ...
    async def insert_link(
        self, model_version: ModelVersion, dataset_version: DatasetVersion, use: DatasetUse, created_by: str
    ) -> tuple[DatasetLink, bool]:
        """The link (as first recorded when it existed already) and whether this call made it."""
        ...


class DatasetStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[DatasetTransaction]: ...
    async def get_dataset(self, project: str, name: str) -> Dataset | None: ...
    async def list_datasets(self, project: str, after: str, limit: int) -> list[Dataset]: ...
    async def get_dataset_version(self, ref: VersionRef) -> DatasetVersion | None:
        """The version with its links."""
        ...

    async def list_dataset_versions(self, project: str, name: str, below: int, limit: int) -> list[DatasetVersion]: ...
    async def search_datasets(
        self, column: str, type: str, project: str, visible: frozenset[str] | None, below_id: int, limit: int
    ) -> list[DatasetVersion]:
        """READY versions with such a column, in ``visible`` projects (None: all), by id descending."""
        ...

    async def pending_dataset_versions(
        self, updated_before: datetime, visible: frozenset[str] | None, after_id: int, limit: int
    ) -> list[DatasetVersion]:
        """PENDING_UPLOAD versions not updated since ``updated_before``, in ``visible`` projects
        (None: all), by id ascending."""
        ...

    async def links_of(self, model_version: ModelVersion) -> list[DatasetLink]: ...
