"""Cache-aside of model and version rows, and of token identities, in Redis, never stale after a
write has returned, nor after a writer died at any point of its write.

Every model has a generation counter; cached rows live under keys that include it. A reader
fetches the generation and the row in one script; on a miss it reads Postgres and stores the row
only if the generation is still the one it saw (compare-and-set). A write, on the other hand:

1. runs its transaction;
2. just before COMMIT (``begin_write``): bumps the generation of each model it touched and marks
   the write in flight there, with a lease (``lease_seconds``, longer than a COMMIT may take);
3. COMMITs;
4. (``invalidate``) bumps the generations again and lifts its mark.

A reader that sees a write in flight on the model does not store what it reads. Why no stale row
is readable once a write has returned, whenever its writer died:

- before 2 (or in it, as Redis runs each script whole): nothing committed; the cache still
  holds what Postgres holds.
- between 2 and the end of 4: 2 moved the generation, so rows cached before the write are under
  a generation nobody reads; while the mark lives no reader stores a row (it saw the mark), and
  a reader that started before 2 cannot store either (the generation it saw has changed). So no
  row is cached until the mark is lifted or its lease ends, by which time the COMMIT is over
  (committed or not), and every row stored later was read after it.
- after 4: the write is done; as before.

A COMMIT that fails leaves its mark to the lease (its outcome may be unknown). A write that
outlives its lease between 2 and 3 is still covered by 4 while its process lives.

Token identities (principal, teams, roles) live under the pseudo-model ``AUTH``, whose generation
every change of principals, teams, tokens or roles bumps.

When Redis fails, reads go to Postgres and the models whose generation could not be bumped
are remembered; this process reads no cached row again until those bumps have been made.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from modelyard_metadata.metrics import CACHE_ERRORS, CACHE_LOOKUPS
from modelyard_metadata.storage.redis_pipe import RedisPipe

__all__ = ["AUTH", "Lookup", "VersionCache", "decode_row"]

logger = logging.getLogger(__name__)

# Part of every row key: bump it when the cached columns change (2: model_versions.serving, 3: a
# model's lifecycle indicator), so that replicas of a new release never read rows cached by an old one.
ROW_FORMAT = 3

# Milliseconds by Redis's clock, which every replica shares.
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)"
# KEYS: generation, writes in flight; ARGV: row key before and after the generation. Returns the
# generation, the row and whether a write is in flight (its lease not over).
_GET = f"""{_NOW}
local gen = redis.call('GET', KEYS[1]) or '0'
return {{gen, redis.call('GET', ARGV[1] .. gen .. ARGV[2]), redis.call('ZCOUNT', KEYS[2], now, '+inf')}}
"""
# KEYS: generation, row; ARGV: the generation the reader saw, row, TTL. Stores only if unchanged.
_PUT = """
if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
end
"""
# KEYS: (generation, writes in flight) per model; ARGV: write id, lease in ms.
_BEGIN = f"""{_NOW}
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
  redis.call('ZADD', KEYS[i + 1], now + ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[2])
end
"""
# KEYS: as _BEGIN; ARGV: write id ("" for none).
_END = """
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
end
"""
_HIT, _MISS, _BYPASS = (CACHE_LOOKUPS.labels(result) for result in ("hit", "miss", "bypass"))
_DATETIME_COLUMNS = ("created_at", "updated_at", "expires_at", "revoked_at", "last_used_at")
# Not a model name (those have no "~"): the generation of every cached token identity.
AUTH = "~auth"


def _encode(row: Mapping[str, Any]) -> bytes:
    return orjson.dumps(dict(row))  # datetimes become RFC 3339 strings


def decode_row(data: bytes) -> dict[str, Any]:
    row: dict[str, Any] = orjson.loads(data)
    for column in _DATETIME_COLUMNS:
        if row.get(column) is not None:
            row[column] = datetime.fromisoformat(row[column])
    return row


class VersionCache:
    """The cache on ``client``; its scripts run on ``pipe`` instead when one is given (see
    redis_pipe: a cached read is mostly its lookup)."""

    def __init__(
        self,
        client: aioredis.Redis,
        ttl_seconds: int,
        lease_seconds: float = 30.0,
        retry_seconds: float = 1.0,
        pipe: RedisPipe | None = None,
    ) -> None:
        self._redis = client
        self._pipe = pipe
        self._ttl = ttl_seconds
        self._lease_ms = int(lease_seconds * 1000)
        self._retry = retry_seconds
        self._get = client.register_script(_GET)
        self._put = client.register_script(_PUT)
        self._begin = client.register_script(_BEGIN)
        self._end = client.register_script(_END)
        self._down_until = 0.0
        self._pending: set[str] = set()

    @staticmethod
    def _generation_key(model: str) -> str:
        return f"my:gen:{model}"

    @staticmethod
    def _row_prefix(model: str) -> str:
        return f"my:row{ROW_FORMAT}:{model}:"

    @classmethod
    def _write_keys(cls, models: Iterable[str]) -> list[str]:
        """Generation and writes in flight of each model, for _BEGIN and _END."""
        return [key for model in sorted(models) for key in (cls._generation_key(model), f"my:writing:{model}")]

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
        """The cached row (or None) and the generation to store a loaded row under (None: don't,
        as a write of the model is in flight)."""
        data, generation = await self.get_bytes(model, key)
        return (None if data is None else decode_row(data)), generation

    async def put(self, model: str, key: str, generation: str, row: Mapping[str, Any]) -> None:
        """Stores a row read from Postgres, unless the model's generation moved since ``get``."""
        await self.put_bytes(model, key, generation, _encode(row))

    async def get_bytes(self, model: str, key: str) -> tuple[bytes | None, str | None]:
        """As ``get``, of bytes stored with ``put_bytes``."""
        if not await self._usable():
            _BYPASS.inc()
            return None, None
        keys, args = self._get_keys_args(model, key)
        try:
            reply = await self._run(self._get, keys, args)
        except (RedisError, OSError) as exc:
            return self._get_failed(exc)
        return self._found(reply)

    def _get_keys_args(self, model: str, key: str) -> tuple[list[str], list[str]]:
        """The keys and arguments of _GET for ``key`` of ``model``."""
        return self._write_keys([model]), [self._row_prefix(model), f":{key}"]

    def _get_failed(self, exc: Exception) -> tuple[None, None]:
        self._failed("get", exc)
        _BYPASS.inc()
        return None, None

    @staticmethod
    def _found(reply: list[Any]) -> tuple[bytes | None, str | None]:
        generation, data, writing = reply
        if data is None:
            _MISS.inc()
            return None, None if writing else generation.decode()
        _HIT.inc()
        return data, None

    def lookup_bytes(self, model: str, key: str) -> Lookup:
        """``get_bytes``, its command sent now with the others of this turn of the event loop
        (one round trip for them all), its answer read later by ``Lookup.result``."""
        reply = None
        if self._pipe is not None and not self._pending and time.monotonic() >= self._down_until:
            keys, args = self._get_keys_args(model, key)
            reply = self._pipe.send("EVALSHA", self._get.sha, len(keys), *keys, *args)
        return Lookup(self, model, key, reply)

    async def _run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        if self._pipe is None:
            return await script(keys=keys, args=args)
        try:
            return await self._pipe.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # EVAL also loads the script for the next EVALSHA.
            return await self._pipe.call("EVAL", cast(str, script.script), len(keys), *keys, *args)

    async def put_bytes(self, model: str, key: str, generation: str, data: bytes) -> None:
        """As ``put``, of bytes."""
        try:
            keys = [self._generation_key(model), f"{self._row_prefix(model)}{generation}:{key}"]
            await self._run(self._put, keys, [generation, data, self._ttl])
        except (RedisError, OSError) as exc:
            self._failed("put", exc)

    async def begin_write(self, models: Iterable[str]) -> str:
        """Just before a write's COMMIT: bumps each model's generation and marks the write in
        flight there until ``invalidate`` or the lease ends. Returns the write's id ("" when
        Redis failed: the models are then bumped once it answers again)."""
        models = set(models)
        write = uuid.uuid4().hex
        try:
            await self._run(self._begin, self._write_keys(models), [write, self._lease_ms])
        except (RedisError, OSError) as exc:
            self._pending |= models
            self._failed("begin", exc)
            return ""
        return write

    async def invalidate(self, models: Iterable[str], write: str = "") -> None:
        """Bumps the generation of each model (and of any left over from a Redis failure), and
        ends ``write``'s mark (from ``begin_write``)."""
        todo = self._pending | set(models)
        if not todo:
            return
        try:
            await self._run(self._end, self._write_keys(todo), [write])
        except (RedisError, OSError) as exc:
            self._pending = todo
            self._failed("invalidate", exc)
            return
        self._pending = set()


def _retrieved(reply: asyncio.Future[Any]) -> None:
    if not reply.cancelled():
        reply.exception()


class Lookup:
    """A lookup of ``VersionCache.get_bytes`` sent already (``lookup_bytes``)."""

    __slots__ = ("_cache", "_key", "_model", "_reply")

    def __init__(self, cache: VersionCache, model: str, key: str, reply: asyncio.Future[Any] | None) -> None:
        self._cache, self._model, self._key, self._reply = cache, model, key, reply

    async def result(self) -> tuple[bytes | None, str | None]:
        """As ``get_bytes`` answers; it is asked now when nothing could be sent then (no pipe, not
        connected yet, Redis failing) or Redis did not know the script yet."""
        if self._reply is None:
            return await self._cache.get_bytes(self._model, self._key)
        try:
            reply = await self._reply
        except (RedisError, OSError) as exc:
            return self._cache._get_failed(exc)
        if isinstance(reply, ResponseError):  # NOSCRIPT: get_bytes loads the script
            return await self._cache.get_bytes(self._model, self._key)
        return self._cache._found(reply)

    def discard(self) -> None:
        """It will not be read: a failure is not reported as an exception never retrieved."""
        if self._reply is not None:
            self._reply.add_done_callback(_retrieved)
