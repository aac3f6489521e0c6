"""Datasets: creating and reading them and their versions, searching them by column, and what
the registry reports about a version's bytes (committed with the schema and row count it read
from them, or failed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_common.limits import MAX_COLUMN_NAME, MAX_COLUMNS
from modelyard_metadata.domain.access import Role
from modelyard_metadata.domain.artifacts import already_committed
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.dataset_entities import (
    Dataset,
    DatasetColumn,
    DatasetFormat,
    DatasetVersion,
    NewDatasetVersion,
    audited,
)
from modelyard_metadata.domain.entities import Caller, NewAuditEvent, VersionStatus
from modelyard_metadata.domain.guard import Guard, may_read, visible_projects
from modelyard_metadata.domain.limits import MAX_NAME
from modelyard_metadata.domain.paging import decode_token, encode_token, page_of, page_size
from modelyard_metadata.domain.ports import DatasetStore, DatasetTransaction
from modelyard_metadata.domain.validation import (
    VersionRef,
    check_artifact_files,
    check_name,
    check_tags,
    check_text,
    parse_dataset_name,
    parse_dataset_reference,
)

__all__ = ["Datasets", "why_dataset_missing"]


async def why_dataset_missing(store: DatasetStore, ref: VersionRef) -> str:
    name = ref.model_name
    if await store.get_dataset(ref.project, ref.model) is None:
        return f"dataset {name!r} does not exist"
    if ref.version is not None:
        return f"dataset {name!r} has no version {ref.version}"
    return f"dataset {name!r} has no READY version yet"


def _check_columns(columns: Sequence[DatasetColumn], row_count: int) -> None:
    if len(columns) > MAX_COLUMNS:
        raise InvalidArgumentError("columns", f"{len(columns)} columns; at most {MAX_COLUMNS} allowed")
    for i, column in enumerate(columns):
        check_text(f"columns[{i}].name", column.name, MAX_COLUMN_NAME)
        check_text(f"columns[{i}].type", column.type, MAX_COLUMN_NAME)
    if row_count < 0:
        raise InvalidArgumentError("row_count", f"must not be negative, got {row_count}")


class Datasets:
    def __init__(self, store: DatasetStore, guard: Guard) -> None:
        self._store = store
        self._guard = guard

    async def create(self, caller: Caller, name: str, description: str) -> Dataset:
        project, dataset = parse_dataset_name("name", name)
        check_text("description", description)
        caller = await self._guard.allow_job_output(caller, project, Role.EDITOR, "CreateDataset", audited(name))
        async with self._store.transaction() as tx:
            created = await tx.insert_dataset(project, dataset, description, caller.actor)
            await tx.append_audit(
                NewAuditEvent(caller, "dataset.create", project, audited(name), after=snapshot(created))
            )
        return created

    async def get(self, caller: Caller, name: str) -> Dataset:
        project, dataset = parse_dataset_name("name", name)
        may_read(caller, project, "GetDataset")
        found = await self._store.get_dataset(project, dataset)
        if found is None:
            raise NotFoundError(f"dataset {name!r} does not exist")
        return found

    async def list_datasets(self, caller: Caller, project: str, size: int, token: str) -> tuple[list[Dataset], str]:
        check_name("project", project)
        may_read(caller, project, "ListDatasets")
        limit = page_size(size)
        after = decode_token("datasets", token, str) or ""
        found = await self._store.list_datasets(project, str(after), limit + 1)
        return page_of(found, limit, lambda d: encode_token("datasets", d.name))

    async def create_version(
        self,
        caller: Caller,
        name: str,
        format: DatasetFormat | None,
        description: str,
        tags: Mapping[str, str],
    ) -> DatasetVersion:
        project, dataset = parse_dataset_name("dataset", name)
        if format is None:
            raise InvalidArgumentError("format", "is required: PARQUET or CSV")
        check_text("description", description)
        checked_tags = check_tags("tags", dict(tags))
        caller = await self._guard.allow_job_output(caller, project, Role.EDITOR, "CreateDatasetVersion", audited(name))
        async with self._store.transaction() as tx:
            reserved = await tx.reserve_dataset_version(project, dataset)
            if reserved is None:
                raise NotFoundError(f"dataset {name!r} does not exist")
            found, number = reserved
            new = NewDatasetVersion(found.id, project, dataset, number, format, description, checked_tags, caller.actor)
            version = await tx.insert_dataset_version(new)
            await tx.append_audit(
                NewAuditEvent(
                    caller, "dataset_version.create", project, audited(version.reference), after=snapshot(version)
                )
            )
        return version

    async def get_version(self, caller: Caller, reference: str) -> DatasetVersion:
        ref = parse_dataset_reference(reference)
        may_read(caller, ref.project, "GetDatasetVersion")
        version = await self._store.get_dataset_version(ref)
        if version is None:
            raise NotFoundError(await why_dataset_missing(self._store, ref))
        visible = visible_projects(caller.identity)
        if visible is None:
            return version
        links = tuple(link for link in version.links if link.model_project in visible)
        return dataclasses.replace(version, links=links)

    async def list_versions(self, caller: Caller, name: str, size: int, token: str) -> tuple[list[DatasetVersion], str]:
        project, dataset = parse_dataset_name("dataset", name)
        may_read(caller, project, "ListDatasetVersions")
        if await self._store.get_dataset(project, dataset) is None:
            raise NotFoundError(f"dataset {name!r} does not exist")
        limit = page_size(size)
        below = decode_token("dataset versions", token, int) or 2**63 - 1
        found = await self._store.list_dataset_versions(project, dataset, below, limit + 1)
        return page_of(found, limit, lambda v: encode_token("dataset versions", v.version))

    async def search(
        self, caller: Caller, column: str, type: str, project: str, size: int, token: str
    ) -> tuple[list[DatasetVersion], str]:
        if not column:
            raise InvalidArgumentError("column", "is required: the exact name of a column")
        check_text("column", column)
        check_text("type", type, MAX_NAME)
        if project:
            check_name("project", project)
            may_read(caller, project, "SearchDatasets")
        limit = page_size(size)
        below = decode_token("dataset search", token, int) or 2**63 - 1
        visible = visible_projects(caller.identity)
        found = await self._store.search_datasets(column, type, project, visible, below, limit + 1)
        return page_of(found, limit, lambda v: encode_token("dataset search", v.id))

    # Called by the registry

    async def commit(
        self,
        caller: Caller,
        reference: str,
        artifact: dict[str, Any],
        columns: Sequence[DatasetColumn],
        row_count: int,
    ) -> DatasetVersion:
        ref = parse_dataset_reference(reference)
        files = artifact.get("files", [])
        check_artifact_files(files)
        _check_columns(columns, row_count)
        caller = await self._guard.as_registry(caller, "CommitDatasetVersion", ref.project, audited(reference))
        async with self._store.transaction() as tx:
            version = await self._lock(tx, ref)
            if already_committed(version, files):
                return version
            updated = await tx.finish_dataset_version(version, artifact, columns, row_count)
            after = {"artifact": artifact, "columns": len(columns), "row_count": row_count}
            await tx.append_audit(
                NewAuditEvent(
                    caller, "dataset_version.commit", version.project, audited(version.reference), after=after
                )
            )
        return updated

    async def fail(self, caller: Caller, reference: str, reason: str) -> DatasetVersion:
        ref = parse_dataset_reference(reference)
        check_text("reason", reason)
        reason = reason or "upload failed"
        caller = await self._guard.as_registry(caller, "FailDatasetVersion", ref.project, audited(reference))
        async with self._store.transaction() as tx:
            version = await self._lock(tx, ref)
            if version.status is not VersionStatus.PENDING_UPLOAD:
                raise FailedPreconditionError(f"{version.reference} is {version.status}, not PENDING_UPLOAD")
            updated = await tx.fail_dataset_version(version, reason)
            await tx.append_audit(
                NewAuditEvent(
                    caller, "dataset_version.fail", version.project, audited(version.reference), reason=reason
                )
            )
        return updated

    async def list_pending(
        self, caller: Caller, updated_before: datetime, size: int, token: str
    ) -> tuple[list[DatasetVersion], str]:
        """PENDING_UPLOAD versions unchanged since ``updated_before`` in the projects the caller
        may read, oldest first: the registry's sweeper fails those whose upload was abandoned."""
        limit = page_size(size)
        after = decode_token("pending dataset versions", token, int) or 0
        visible = visible_projects(caller.identity)
        found = await self._store.pending_dataset_versions(updated_before, visible, after, limit + 1)
        return page_of(found, limit, lambda v: encode_token("pending dataset versions", v.id))

    async def _lock(self, tx: DatasetTransaction, ref: VersionRef) -> DatasetVersion:
        version = await tx.lock_dataset_version(ref)
        if version is None:
            raise NotFoundError(await why_dataset_missing(self._store, ref))
        return version
