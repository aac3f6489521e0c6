"""Cache-aside of model and version rows, and of token identities, in Redis, never stale after a
write has returned.

Every model has a generation counter; cached rows live under keys that include it. A write
bumps the generation after its transaction commits and before the request returns, so every
later read, on any replica, looks under new keys. A reader that loaded an old row concurrently
stores it under the old generation, where nobody looks any more; entries expire by TTL.

Token identities (principal, teams, roles) live under the pseudo-model ``AUTH``, whose generation
every change of principals, teams, tokens or roles bumps.

When Redis fails, reads go to Postgres and the models whose generation could not be bumped
are remembered; this process reads no cached row again until those bumps have been made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from prometheus_client import Counter
from redis.exceptions import RedisError

__all__ = ["AUTH", "VersionCache"]

logger = logging.getLogger(__name__)

# Part of every row key: bump it when the cached columns change (2: model_versions.serving), so
# that replicas of a new release never read rows cached by an old one.
ROW_FORMAT = 2

CACHE_LOOKUPS = Counter(
    "modelyard_metadata_cache_lookups_total",
    "Cache lookups by result (hit, miss, bypass when Redis is down)",
    ["result"],
)
CACHE_ERRORS = Counter("modelyard_metadata_cache_errors_total", "Redis operations that failed", ["operation"])

_GET = """
local gen = redis.call('GET', KEYS[1]) or '0'
return {gen, redis.call('GET', ARGV[1] .. gen .. ARGV[2])}
"""
_DATETIME_COLUMNS = ("created_at", "updated_at", "expires_at", "revoked_at", "last_used_at")
# Not a model name (those have no "~"): the generation of every cached token identity.
AUTH = "~auth"


def _encode(row: Mapping[str, Any]) -> bytes:
    return orjson.dumps(dict(row))  # datetimes become RFC 3339 strings


def _decode(data: bytes) -> dict[str, Any]:
    row: dict[str, Any] = orjson.loads(data)
    for column in _DATETIME_COLUMNS:
        if row.get(column) is not None:
            row[column] = datetime.fromisoformat(row[column])
    return row


class VersionCache:
    def __init__(self, client: aioredis.Redis, ttl_seconds: int, retry_seconds: float = 1.0) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._retry = retry_seconds
        self._get = client.register_script(_GET)
        self._down_until = 0.0
        self._pending: set[str] = set()

    @staticmethod
    def _generation_key(model: str) -> str:
        return f"my:gen:{model}"

    @staticmethod
    def _row_prefix(model: str) -> str:
        return f"my:row{ROW_FORMAT}:{model}:"

    @classmethod
    def _row_key(cls, model: str, generation: str, key: str) -> str:
        return f"{cls._row_prefix(model)}{generation}:{key}"

    def _failed(self, operation: str, exc: Exception) -> None:
        CACHE_ERRORS.labels(operation).inc()
        if time.monotonic() >= self._down_until:
            logger.warning(
                "redis unavailable, reading from Postgres", extra={"operation": operation, "error": str(exc)}
            )
        self._down_until = time.monotonic() + self._retry

    async def _usable(self) -> bool:
        if time.monotonic() < self._down_until:
            return False
        if self._pending:
            await self.invalidate(())
        return not self._pending

    async def get(self, model: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """The cached row (or None) and the generation to store a loaded row under (None: don't)."""
        if not await self._usable():
            CACHE_LOOKUPS.labels("bypass").inc()
            return None, None
        try:
            generation, data = await self._get(
                keys=[self._generation_key(model)], args=[self._row_prefix(model), f":{key}"]
            )
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            CACHE_LOOKUPS.labels("bypass").inc()
            return None, None
        if data is None:
            CACHE_LOOKUPS.labels("miss").inc()
            return None, generation.decode()
        CACHE_LOOKUPS.labels("hit").inc()
        return _decode(data), None

    async def put(self, model: str, key: str, generation: str, row: Mapping[str, Any]) -> None:
        try:
            await self._redis.set(self._row_key(model, generation, key), _encode(row), ex=self._ttl)
        except (RedisError, OSError) as exc:
            self._failed("put", exc)

    async def invalidate(self, models: Iterable[str]) -> None:
        """Bumps the generation of each model (and of any left over from a Redis failure)."""
        todo = self._pending | set(models)
        if not todo:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for model in sorted(todo):
                    pipe.incr(self._generation_key(model))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._pending = todo
            self._failed("invalidate", exc)
            return
        self._pending = set()
