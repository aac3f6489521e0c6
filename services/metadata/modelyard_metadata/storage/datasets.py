"""Datasets, their versions, columns and links in Postgres (migration 0006_datasets). Not cached:
datasets are read far less often than the model versions that inference servers resolve."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import asyncpg

from modelyard_common.errors import AlreadyExistsError, NotFoundError
from modelyard_common.postgres import connection
from modelyard_metadata.domain.dataset_entities import (
    Dataset,
    DatasetColumn,
    DatasetFormat,
    DatasetLink,
    DatasetUse,
    DatasetVersion,
    NewDatasetVersion,
)
from modelyard_metadata.domain.entities import ModelVersion, VersionStatus
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage.queries import Connection, one_row
from modelyard_metadata.storage.rows import Row
from modelyard_metadata.storage.transaction import PgTransaction, committed

__all__ = ["PgDatasetStore", "PgDatasetTransaction"]

_VERSION = "SELECT * FROM dataset_versions v"
_BY_NUMBER = _VERSION + " WHERE v.project = $1 AND v.dataset = $2 AND v.version = $3"
_LATEST_READY = (
    _VERSION + " WHERE v.project = $1 AND v.dataset = $2 AND v.status = 'READY' ORDER BY v.version DESC LIMIT 1"
)
_LINKS = """
    SELECT m.project || '/' || m.model || ':' || m.version AS model_version,
           d.project || '/' || d.dataset || ':' || d.version AS dataset_version,
           l.use, l.created_by, l.created_at
    FROM dataset_links l
    JOIN model_versions m ON m.id = l.model_version_id
    JOIN dataset_versions d ON d.id = l.dataset_version_id"""


def _ref_query(ref: VersionRef, lock: bool) -> tuple[str, list[Any]]:
    suffix = " FOR UPDATE OF v" if lock else ""
    if ref.version is not None:
        return _BY_NUMBER + suffix, [ref.project, ref.model, ref.version]
    return _LATEST_READY + suffix, [ref.project, ref.model]


def _dataset(row: Row) -> Dataset:
    return Dataset(
        id=row["id"],
        project=row["project"],
        name=row["name"],
        description=row["description"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        latest_version=row["latest_version"],
    )


def _version(row: Row, links: Sequence[DatasetLink] = ()) -> DatasetVersion:
    return DatasetVersion(
        id=row["id"],
        dataset_id=row["dataset_id"],
        project=row["project"],
        dataset=row["dataset"],
        version=row["version"],
        format=DatasetFormat(row["format"]),
        description=row["description"],
        tags=row["tags"],
        author=row["author"],
        status=VersionStatus(row["status"]),
        status_message=row["status_message"],
        artifact=row["artifact"],
        columns=tuple(DatasetColumn(c["name"], c["type"]) for c in row["columns"]),
        row_count=row["row_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        links=tuple(links),
    )


def _link(row: Row) -> DatasetLink:
    return DatasetLink(
        model_version=row["model_version"],
        dataset_version=row["dataset_version"],
        use=DatasetUse(row["use"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


class PgDatasetTransaction(PgTransaction):
    """Implements DatasetTransaction: PgTransaction's writes (the audit log) and the datasets'."""

    async def insert_dataset(self, project: str, name: str, description: str, created_by: str) -> Dataset:
        project_id = await self._conn.fetchval("SELECT id FROM projects WHERE name = $1", project)
        if project_id is None:
            raise NotFoundError(f"project {project!r} does not exist")
        try:
            row = await self._conn.fetchrow(
                """INSERT INTO datasets (project_id, project, name, description, created_by)
                   VALUES ($1, $2, $3, $4, $5) RETURNING *""",
                project_id,
                project,
                name,
                description,
                created_by,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExistsError(f"dataset '{project}/{name}' already exists") from None
        return _dataset(one_row(row))

    async def reserve_dataset_version(self, project: str, name: str) -> tuple[Dataset, int] | None:
        row = await self._conn.fetchrow(
            """UPDATE datasets SET latest_version = latest_version + 1
               WHERE project = $1 AND name = $2 RETURNING *""",
            project,
            name,
        )
        return None if row is None else (_dataset(row), row["latest_version"])

    async def insert_dataset_version(self, version: NewDatasetVersion) -> DatasetVersion:
        row = await self._conn.fetchrow(
            """INSERT INTO dataset_versions (dataset_id, project, dataset, version, format, description, tags,
                                             author, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'PENDING_UPLOAD') RETURNING *""",
            version.dataset_id,
            version.project,
            version.dataset,
            version.version,
            version.format.value,
            version.description,
            version.tags,
            version.author,
        )
        return _version(one_row(row))

    async def lock_dataset_version(self, ref: VersionRef) -> DatasetVersion | None:
        query, args = _ref_query(ref, lock=True)
        row = await self._conn.fetchrow(query, *args)
        return None if row is None else _version(row)

    async def finish_dataset_version(
        self,
        version: DatasetVersion,
        artifact: dict[str, Any],
        columns: Sequence[DatasetColumn],
        row_count: int,
    ) -> DatasetVersion:
        row = await self._conn.fetchrow(
            """UPDATE dataset_versions SET status = 'READY', status_message = '', artifact = $2, columns = $3,
                                           row_count = $4, updated_at = now()
               WHERE id = $1 RETURNING *""",
            version.id,
            artifact,
            [{"name": c.name, "type": c.type} for c in columns],
            row_count,
        )
        await self._conn.executemany(
            "INSERT INTO dataset_columns (version_id, position, name, type) VALUES ($1, $2, $3, $4)",
            [(version.id, i, c.name, c.type) for i, c in enumerate(columns)],
        )
        return _version(one_row(row))

    async def fail_dataset_version(self, version: DatasetVersion, reason: str) -> DatasetVersion:
        row = await self._conn.fetchrow(
            """UPDATE dataset_versions SET status = 'FAILED', status_message = $2, updated_at = now()
               WHERE id = $1 RETURNING *""",
            version.id,
            reason,
        )
        return _version(one_row(row))

    async def insert_link(
        self, model_version: ModelVersion, dataset_version: DatasetVersion, use: DatasetUse, created_by: str
    ) -> tuple[DatasetLink, bool]:
        status = await self._conn.execute(
            """INSERT INTO dataset_links (model_version_id, dataset_version_id, use, created_by)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            model_version.id,
            dataset_version.id,
            use.value,
            created_by,
        )
        row = await self._conn.fetchrow(
            _LINKS + " WHERE l.model_version_id = $1 AND l.dataset_version_id = $2 AND l.use = $3",
            model_version.id,
            dataset_version.id,
            use.value,
        )
        return _link(one_row(row)), status == "INSERT 0 1"


class PgDatasetStore:
    """Implements DatasetStore over the metadata service's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def _connection(self) -> AbstractAsyncContextManager[Connection]:
        return connection(self._pool)

    def transaction(self) -> AbstractAsyncContextManager[PgDatasetTransaction]:
        return committed(self._pool, None, PgDatasetTransaction)

    async def get_dataset(self, project: str, name: str) -> Dataset | None:
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT * FROM datasets WHERE project = $1 AND name = $2", project, name)
        return None if row is None else _dataset(row)

    async def list_datasets(self, project: str, after: str, limit: int) -> list[Dataset]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT * FROM datasets WHERE project = $1 AND name > $2 ORDER BY name LIMIT $3", project, after, limit
            )
        return [_dataset(row) for row in rows]

    async def get_dataset_version(self, ref: VersionRef) -> DatasetVersion | None:
        query, args = _ref_query(ref, lock=False)
        async with self._connection() as conn:
            row = await conn.fetchrow(query, *args)
            if row is None:
                return None
            links = await conn.fetch(_LINKS + " WHERE l.dataset_version_id = $1 ORDER BY l.created_at", row["id"])
        return _version(row, [_link(link) for link in links])

    async def list_dataset_versions(self, project: str, name: str, below: int, limit: int) -> list[DatasetVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                _VERSION
                + " WHERE v.project = $1 AND v.dataset = $2 AND v.version < $3 ORDER BY v.version DESC LIMIT $4",
                project,
                name,
                below,
                limit,
            )
        return [_version(row) for row in rows]

    async def search_datasets(
        self, column: str, type: str, project: str, visible: frozenset[str] | None, below_id: int, limit: int
    ) -> list[DatasetVersion]:
        # dataset_columns_name serves (name, type) and (name) alike, newest versions first.
        async with self._connection() as conn:
            rows = await conn.fetch(
                _VERSION
                + """ WHERE v.id IN (SELECT c.version_id FROM dataset_columns c
                                     WHERE c.name = $1 AND ($2 = '' OR c.type = $2) AND c.version_id < $3)
                      AND ($4 = '' OR v.project = $4) AND ($5::text[] IS NULL OR v.project = ANY($5::text[]))
                    ORDER BY v.id DESC LIMIT $6""",
                column,
                type,
                below_id,
                project,
                None if visible is None else sorted(visible),
                limit,
            )
        return [_version(row) for row in rows]

    async def pending_dataset_versions(
        self, updated_before: datetime, visible: frozenset[str] | None, after_id: int, limit: int
    ) -> list[DatasetVersion]:
        async with self._connection() as conn:
            rows = await conn.fetch(
                _VERSION
                + """ WHERE v.status = 'PENDING_UPLOAD' AND v.updated_at < $1 AND v.id > $2
                      AND ($3::text[] IS NULL OR v.project = ANY($3::text[]))
                    ORDER BY v.id LIMIT $4""",
                updated_before,
                after_id,
                None if visible is None else sorted(visible),
                limit,
            )
        return [_version(row) for row in rows]

    async def links_of(self, model_version: ModelVersion) -> list[DatasetLink]:
        async with self._connection() as conn:
            rows = await conn.fetch(_LINKS + " WHERE l.model_version_id = $1 ORDER BY l.created_at", model_version.id)
        return [_link(row) for row in rows]
