"""The registry's tables (schema ``registry``) through an asyncpg pool."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg

from modelyard_common.errors import ConflictError
from modelyard_common.postgres import connection
from modelyard_registry.domain.entities import Session, StoredFile
from modelyard_registry.domain.validation import nested_path_error

__all__ = ["PgUploadStore"]

_SWEEPER_LOCK = 0x6D6F64656C7972  # "modelyr"
_PATHS_LOCK = 0x70617468  # "path": with a version's hash, the two-key advisory lock on its paths
_SESSION_COLUMNS = (
    "id, reference, path, size, expected_sha256, content_type, storage_key, upload_id, part_size, "
    "durable_offset, hash_state, "
    "(lease_owner IS NOT NULL AND lease_expires > now()) AS leased"
)
_FILE_COLUMNS = "f.path, f.size, f.sha256, b.storage_key, f.content_type"


def _session(row: asyncpg.Record) -> Session:
    return Session(**dict(row))


def _file(row: asyncpg.Record) -> StoredFile:
    return StoredFile(**dict(row))


class PgUploadStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def _conn(self) -> AbstractAsyncContextManager[Any]:
        return connection(self._pool)

    async def link_file(
        self, reference: str, path: str, sha256: str, size: int, content_type: str
    ) -> StoredFile | None:
        async with self._conn() as conn, conn.transaction():
            blob = await conn.fetchrow(
                "SELECT storage_key FROM registry.blobs WHERE sha256 = $1 AND size = $2 FOR SHARE", sha256, size
            )
            if blob is None:
                return None
            await self._upsert_file(conn, reference, path, sha256, size, content_type)
        return StoredFile(path, size, sha256, blob["storage_key"], content_type)

    @staticmethod
    async def _claim_path(conn: Any, reference: str, path: str) -> None:
        """Within the caller's transaction, until it ends: ``path`` is the version's to store, unless
        a file or an upload of it is a directory of ``path``, or ``path`` one of theirs. The lock
        orders claims of one version's paths, so that 'a' and 'a/b' racing cannot both pass."""
        await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _PATHS_LOCK, reference)
        parts = path.split("/")
        directories = ["/".join(parts[:end]) for end in range(1, len(parts))]
        other = await conn.fetchval(
            "SELECT path FROM (SELECT path FROM registry.files WHERE reference = $1 "
            "UNION ALL SELECT path FROM registry.sessions WHERE reference = $1) taken "
            "WHERE path = ANY($2::text[]) OR starts_with(path, $3) LIMIT 1",
            reference,
            directories,
            path + "/",
        )
        if other is not None:
            raise nested_path_error("header.path", path, other)

    @classmethod
    async def _upsert_file(
        cls, conn: Any, reference: str, path: str, sha256: str, size: int, content_type: str
    ) -> None:
        await cls._claim_path(conn, reference, path)
        await conn.execute(
            "INSERT INTO registry.files (reference, path, sha256, size, content_type) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (reference, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, "
            "content_type = excluded.content_type, created_at = now()",
            reference,
            path,
            sha256,
            size,
            content_type,
        )

    async def add_blob_and_file(self, session: Session, sha256: str, storage_key: str) -> tuple[StoredFile, bool]:
        async with self._conn() as conn, conn.transaction():
            created = await conn.fetchval(
                "INSERT INTO registry.blobs (sha256, size, storage_key) VALUES ($1, $2, $3) "
                "ON CONFLICT (sha256) DO NOTHING RETURNING true",
                sha256,
                session.size,
                storage_key,
            )
            key = storage_key
            if not created:
                key = await conn.fetchval("SELECT storage_key FROM registry.blobs WHERE sha256 = $1 FOR SHARE", sha256)
            await self._upsert_file(conn, session.reference, session.path, sha256, session.size, session.content_type)
            await conn.execute("DELETE FROM registry.sessions WHERE id = $1", session.id)
        return StoredFile(session.path, session.size, sha256, key, session.content_type), bool(created)

    async def get_session(self, reference: str, path: str) -> Session | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(
                f"SELECT {_SESSION_COLUMNS} FROM registry.sessions WHERE reference = $1 AND path = $2", reference, path
            )
        return _session(row) if row else None

    async def create_session(self, session: Session, owner: uuid.UUID, lease_seconds: float) -> None:
        try:
            async with self._conn() as conn, conn.transaction():
                await self._claim_path(conn, session.reference, session.path)
                await conn.execute(
                    "INSERT INTO registry.sessions (id, reference, path, size, expected_sha256, content_type, "
                    "storage_key, upload_id, part_size, hash_state, lease_owner, lease_expires) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now() + make_interval(secs => $12))",
                    session.id,
                    session.reference,
                    session.path,
                    session.size,
                    session.expected_sha256,
                    session.content_type,
                    session.storage_key,
                    session.upload_id,
                    session.part_size,
                    session.hash_state,
                    owner,
                    lease_seconds,
                )
        except asyncpg.UniqueViolationError as exc:
            raise ConflictError(
                f"{session.path!r} of {session.reference} is being uploaded by another stream right now"
            ) from exc

    async def take_lease(self, session_id: uuid.UUID, owner: uuid.UUID, lease_seconds: float) -> bool:
        async with self._conn() as conn:
            return bool(
                await conn.fetchval(
                    "UPDATE registry.sessions SET lease_owner = $2, updated_at = now(), "
                    "lease_expires = now() + make_interval(secs => $3) "
                    "WHERE id = $1 AND (lease_owner IS NULL OR lease_expires < now()) RETURNING true",
                    session_id,
                    owner,
                    lease_seconds,
                )
            )

    async def renew_leases(self, owners: Collection[uuid.UUID], lease_seconds: float) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE registry.sessions SET updated_at = now(), lease_expires = now() + make_interval(secs => $2) "
                "WHERE lease_owner = ANY($1::uuid[])",
                list(owners),
                lease_seconds,
            )

    async def release_lease(self, session_id: uuid.UUID, owner: uuid.UUID) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "UPDATE registry.sessions SET lease_owner = NULL, lease_expires = NULL "
                "WHERE id = $1 AND lease_owner = $2",
                session_id,
                owner,
            )

    async def save_progress(
        self, session_id: uuid.UUID, owner: uuid.UUID, durable_offset: int, hash_state: bytes, etags: dict[int, str]
    ) -> bool:
        async with self._conn() as conn, conn.transaction():
            saved = await conn.fetchval(
                "UPDATE registry.sessions SET durable_offset = $3, hash_state = $4, updated_at = now() "
                "WHERE id = $1 AND lease_owner = $2 RETURNING true",
                session_id,
                owner,
                durable_offset,
                hash_state,
            )
            if not saved:
                return False
            await conn.executemany(
                "INSERT INTO registry.parts (session_id, number, etag) VALUES ($1, $2, $3) "
                "ON CONFLICT (session_id, number) DO UPDATE SET etag = excluded.etag",
                [(session_id, number, etag) for number, etag in etags.items()],
            )
        return True

    async def etags(self, session_id: uuid.UUID) -> list[str]:
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT etag FROM registry.parts WHERE session_id = $1 ORDER BY number", session_id)
        return [row["etag"] for row in rows]

    async def delete_session(self, session_id: uuid.UUID, owner: uuid.UUID | None = None) -> bool:
        async with self._conn() as conn:
            return bool(
                await conn.fetchval(
                    "DELETE FROM registry.sessions WHERE id = $1 "
                    "AND (lease_owner IS NULL OR lease_expires < now() OR lease_owner = $2) RETURNING true",
                    session_id,
                    owner,
                )
            )

    async def files(self, reference: str) -> list[StoredFile]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {_FILE_COLUMNS} FROM registry.files f JOIN registry.blobs b USING (sha256) "
                "WHERE f.reference = $1 ORDER BY f.path",
                reference,
            )
        return [_file(row) for row in rows]

    async def sessions(self, reference: str) -> list[Session]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT {_SESSION_COLUMNS} FROM registry.sessions WHERE reference = $1 ORDER BY path", reference
            )
        return [_session(row) for row in rows]

    async def mark_ready(self, reference: str) -> None:
        async with self._conn() as conn:
            await conn.execute("UPDATE registry.files SET ready = true WHERE reference = $1 AND NOT ready", reference)

    async def delete_files(self, reference: str) -> None:
        async with self._conn() as conn:
            await conn.execute("DELETE FROM registry.files WHERE reference = $1 AND NOT ready", reference)

    async def stale_references(self, idle_seconds: float) -> list[str]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT reference FROM ("
                "  SELECT reference, created_at AS at FROM registry.files WHERE NOT ready"
                "  UNION ALL SELECT reference, updated_at FROM registry.sessions"
                ") activity GROUP BY reference "
                "HAVING max(at) < now() - make_interval(secs => $1) "
                "AND NOT EXISTS (SELECT 1 FROM registry.sessions s "
                "                WHERE s.reference = activity.reference AND s.lease_expires > now()) "
                "ORDER BY reference",
                idle_seconds,
            )
        return [row["reference"] for row in rows]

    async def started_references(self, references: Collection[str]) -> set[str]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT reference FROM registry.files WHERE reference = ANY($1::text[]) "
                "UNION SELECT reference FROM registry.sessions WHERE reference = ANY($1::text[])",
                list(references),
            )
        return {row["reference"] for row in rows}

    async def unreferenced_blobs(self, grace_seconds: float) -> list[tuple[str, str]]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT sha256, storage_key FROM registry.blobs b "
                "WHERE created_at < now() - make_interval(secs => $1) "
                "AND NOT EXISTS (SELECT 1 FROM registry.files f WHERE f.sha256 = b.sha256)",
                grace_seconds,
            )
        return [(row["sha256"], row["storage_key"]) for row in rows]

    async def delete_blob_if_unreferenced(self, sha256: str) -> bool:
        # The foreign key from files makes the delete fail when a file points at the blob, even
        # one linked after the NOT EXISTS was evaluated.
        try:
            async with self._conn() as conn:
                return bool(
                    await conn.fetchval(
                        "DELETE FROM registry.blobs b WHERE sha256 = $1 "
                        "AND NOT EXISTS (SELECT 1 FROM registry.files f WHERE f.sha256 = b.sha256) RETURNING true",
                        sha256,
                    )
                )
        except asyncpg.ForeignKeyViolationError:
            return False

    async def known_keys(self, keys: Collection[str]) -> set[str]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT storage_key FROM registry.blobs WHERE storage_key = ANY($1::text[]) "
                "UNION SELECT storage_key FROM registry.sessions WHERE storage_key = ANY($1::text[])",
                list(keys),
            )
        return {row["storage_key"] for row in rows}

    async def known_upload_ids(self, upload_ids: Collection[str]) -> set[str]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT upload_id FROM registry.sessions WHERE upload_id = ANY($1::text[])", list(upload_ids)
            )
        return {row["upload_id"] for row in rows}

    @asynccontextmanager
    async def sweeper_lock(self) -> AsyncIterator[bool]:
        async with self._conn() as conn:
            taken = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", _SWEEPER_LOCK))
            try:
                yield taken
            finally:
                if taken:
                    await conn.execute("SELECT pg_advisory_unlock($1)", _SWEEPER_LOCK)
