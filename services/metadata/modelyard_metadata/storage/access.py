"""Principals, team membership, tokens and project roles in Postgres (migration 0003_auth).

A token's identity (principal, teams, effective roles) is read on every call, so it goes through
the Redis cache when there is one; every change here bumps its generation before returning.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from modelyard_common.errors import AlreadyExistsError
from modelyard_common.postgres import connection
from modelyard_metadata.domain.access import Identity, Principal, PrincipalKind, Role, RoleBinding, Token
from modelyard_metadata.storage.cache import AUTH, VersionCache, decode_row
from modelyard_metadata.storage.rows import binding_from_row
from modelyard_metadata.storage.transaction import PgTransaction, committed

__all__ = ["PRINCIPAL_IDENTITY", "PgAccessStore", "identity_from_row"]

_PRINCIPALS = """
    SELECT p.*,
           ARRAY(SELECT m.team FROM team_members m WHERE m.member = p.name ORDER BY m.team) AS teams,
           ARRAY(SELECT m.member FROM team_members m WHERE m.team = p.name ORDER BY m.member) AS members
    FROM principals p"""

# Roles held directly or through a team: the highest per project, a direct one before a team's.
_EFFECTIVE_ROLES = """
    SELECT DISTINCT ON (r.project) r.*
    FROM project_roles r
    WHERE r.principal = $1 OR r.principal IN (SELECT m.team FROM team_members m WHERE m.member = $1)
    ORDER BY r.project, CASE r.role WHEN 'ADMIN' THEN 3 WHEN 'EDITOR' THEN 2 ELSE 1 END DESC, r.principal = $1 DESC"""

# What principal p may do: its kind, whether it is a platform admin, its teams and effective roles.
_POWERS = f"""p.kind, p.admin,
           ARRAY(SELECT m.team FROM team_members m WHERE m.member = p.name ORDER BY m.team) AS teams,
           ARRAY(SELECT e.project || ' ' || e.role || ' ' || e.principal
                 FROM ({_EFFECTIVE_ROLES.replace("$1", "p.name")}) e) AS roles"""

_IDENTITY = f"""
    WITH t AS (SELECT id, principal, description, created_at, created_by, expires_at, revoked_at, last_used_at,
                      scope
               FROM tokens WHERE secret_sha256 = $1)
    SELECT t.*, {_POWERS}
    FROM t JOIN principals p ON p.name = t.principal"""

# A principal's identity without a token (its own powers: no scope).
PRINCIPAL_IDENTITY = f"SELECT p.name AS principal, NULL::text[] AS scope, {_POWERS} FROM principals p WHERE p.name = $1"


def _principal(row: Any) -> Principal:
    return Principal(
        name=row["name"],
        kind=PrincipalKind(row["kind"]),
        admin=row["admin"],
        created_at=row["created_at"],
        teams=tuple(row["teams"]),
        members=tuple(row["members"]),
    )


def _token(row: Any) -> Token:
    return Token(
        id=row["id"],
        principal=row["principal"],
        description=row["description"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


# Most decoded identities kept (each a cached row's bytes and what they decode to).
_DECODED_IDENTITIES = 10_000


def identity_from_row(row: Any) -> Identity:
    roles = {}
    for entry in row["roles"]:
        project, role, via = entry.split(" ")
        roles[project] = (Role[role], via)
    return Identity(
        principal=row["principal"],
        kind=PrincipalKind(row["kind"]),
        admin=row["admin"],
        teams=tuple(row["teams"]),
        roles=roles,
        scope=frozenset(row["scope"]) if row["scope"] is not None else None,
    )


class PgAccessTransaction(PgTransaction):
    """Implements AccessTransaction: the metadata transaction plus access changes."""

    async def insert_principal(self, name: str, kind: PrincipalKind, admin: bool, created_by: str) -> Principal:
        self.touched.add(AUTH)
        try:
            await self._conn.execute(
                "INSERT INTO principals (name, kind, admin, created_by) VALUES ($1, $2, $3, $4)",
                name,
                kind.value,
                admin,
                created_by,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExistsError(f"principal {name!r} already exists") from None
        row = await self._conn.fetchrow(f"{_PRINCIPALS} WHERE p.name = $1", name)
        return _principal(row)

    async def ensure_principal(self, name: str, kind: PrincipalKind, admin: bool, created_by: str) -> None:
        self.touched.add(AUTH)
        # Replicas starting together bootstrap one after the other.
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('modelyard-metadata-bootstrap'))")
        await self._conn.execute(
            "INSERT INTO principals (name, kind, admin, created_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            name,
            kind.value,
            admin,
            created_by,
        )

    async def set_member(self, team: str, member: str, present: bool) -> bool:
        self.touched.add(AUTH)
        if present:
            status = await self._conn.execute(
                "INSERT INTO team_members (team, member) VALUES ($1, $2) ON CONFLICT DO NOTHING", team, member
            )
        else:
            status = await self._conn.execute("DELETE FROM team_members WHERE team = $1 AND member = $2", team, member)
        return bool(status.endswith(" 1"))

    async def insert_token(
        self, token: Token, secret_sha256: bytes, bootstrap: bool = False, scope: Sequence[str] | None = None
    ) -> None:
        self.touched.add(AUTH)
        await self._conn.execute(
            """INSERT INTO tokens (id, principal, secret_sha256, description, created_at, created_by, expires_at,
                                   bootstrap, scope)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            token.id,
            token.principal,
            secret_sha256,
            token.description,
            token.created_at,
            token.created_by,
            token.expires_at,
            bootstrap,
            list(scope) if scope is not None else None,
        )

    async def delete_expired_scoped_tokens(self) -> None:
        # Not touched: an expired token is refused whatever the cache holds.
        await self._conn.execute(
            "DELETE FROM tokens WHERE scope IS NOT NULL AND expires_at < now() - interval '1 hour'"
        )

    async def revoke_token(self, token_id: str) -> tuple[Token, bool] | None:
        self.touched.add(AUTH)
        row = await self._conn.fetchrow(
            "UPDATE tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING *", token_id
        )
        if row is not None:
            return _token(row), True
        # Revoked already (maybe by a racing call, committed while this one waited): read it anew.
        row = await self._conn.fetchrow("SELECT * FROM tokens WHERE id = $1", token_id)
        return (_token(row), False) if row is not None else None

    async def lock_role(self, project: str, principal: str) -> Role | None:
        # The project's row serializes its role changes, also of a binding that does not exist
        # yet; the read is a statement of its own, so it sees what the lock waited for.
        await self._conn.execute("SELECT 1 FROM projects WHERE name = $1 FOR NO KEY UPDATE", project)
        held = await self._conn.fetchval(
            "SELECT role FROM project_roles WHERE project = $1 AND principal = $2", project, principal
        )
        return Role[held] if held is not None else None

    async def delete_role(self, project: str, principal: str) -> RoleBinding | None:
        self.touched.add(AUTH)
        row = await self._conn.fetchrow(
            "DELETE FROM project_roles WHERE project = $1 AND principal = $2 RETURNING *", project, principal
        )
        return binding_from_row(row) if row is not None else None

    async def replace_bootstrap_token(self, token: Token, secret_sha256: bytes) -> bool:
        current = await self._conn.fetchrow(
            "SELECT principal, revoked_at FROM tokens WHERE secret_sha256 = $1", secret_sha256
        )
        if current is not None and current["principal"] == token.principal and current["revoked_at"] is None:
            return False
        self.touched.add(AUTH)
        if current is not None:
            raise AlreadyExistsError(f"the bootstrap token of {token.principal!r} was used before; choose a new one")
        await self._conn.execute(
            "UPDATE tokens SET revoked_at = now() WHERE principal = $1 AND bootstrap AND revoked_at IS NULL",
            token.principal,
        )
        await self.insert_token(token, secret_sha256, bootstrap=True)
        return True


class PgAccessStore:
    """Implements AccessStore over the metadata service's pool."""

    def __init__(self, pool: asyncpg.Pool, cache: VersionCache | None = None) -> None:
        self._pool = pool
        self._cache = cache
        # Identities decoded from the cached rows they came from: the same bytes, the same answer.
        self._decoded: dict[bytes, tuple[Identity, Token]] = {}

    def _connection(self) -> AbstractAsyncContextManager[Any]:
        return connection(self._pool)

    def transaction(self) -> AbstractAsyncContextManager[PgAccessTransaction]:
        return committed(self._pool, self._cache, PgAccessTransaction)

    async def _fetch(self, query: str, *args: Any) -> Sequence[Any]:
        async with self._connection() as conn:
            return await conn.fetch(query, *args)  # type: ignore[no-any-return]

    async def identity(self, secret_sha256: bytes) -> tuple[Identity, Token] | None:
        key = secret_sha256.hex()
        data, generation = await self._cache.get_bytes(AUTH, key) if self._cache else (None, None)
        if data is not None:
            found = self._decoded.get(data)
            if found is None:
                if len(self._decoded) >= _DECODED_IDENTITIES:
                    self._decoded.clear()
                row = decode_row(data)
                found = self._decoded[data] = (identity_from_row(row), _token(row))
            return found
        rows = await self._fetch(_IDENTITY, secret_sha256)
        if not rows:
            return None
        row = dict(rows[0])
        if self._cache is not None and generation is not None:
            await self._cache.put(AUTH, key, generation, row)
        return identity_from_row(row), _token(row)

    async def touch_token(self, token_id: str) -> None:
        async with self._connection() as conn:
            await conn.execute("UPDATE tokens SET last_used_at = now() WHERE id = $1", token_id)

    async def get_principal(self, name: str) -> Principal | None:
        rows = await self._fetch(f"{_PRINCIPALS} WHERE p.name = $1", name)
        return _principal(rows[0]) if rows else None

    async def list_principals(self) -> list[Principal]:
        return [_principal(r) for r in await self._fetch(f"{_PRINCIPALS} ORDER BY p.name")]

    async def get_token(self, token_id: str) -> Token | None:
        rows = await self._fetch("SELECT * FROM tokens WHERE id = $1", token_id)
        return _token(rows[0]) if rows else None

    async def list_tokens(self, principal: str, include_revoked: bool) -> list[Token]:
        rows = await self._fetch(
            "SELECT * FROM tokens WHERE principal = $1 AND ($2 OR revoked_at IS NULL) ORDER BY created_at, id",
            principal,
            include_revoked,
        )
        return [_token(r) for r in rows]

    async def list_roles(self, project: str) -> list[RoleBinding]:
        rows = await self._fetch("SELECT * FROM project_roles WHERE project = $1 ORDER BY principal", project)
        return [binding_from_row(r) for r in rows]

    async def effective_roles(self, identity: Identity) -> list[RoleBinding]:
        return [binding_from_row(r) for r in await self._fetch(_EFFECTIVE_ROLES, identity.principal)]

    async def project_exists(self, name: str) -> bool:
        rows = await self._fetch("SELECT 1 FROM projects WHERE name = $1", name)
        return bool(rows)
