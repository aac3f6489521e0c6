"""Postgres as every service uses it: a pool with deadlines, lost connections as UNAVAILABLE,
and the pool's use as metrics (connections by state, time waiting for one)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from prometheus_client import REGISTRY, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelyard_common.errors import BackendUnavailableError
from modelyard_common.settings import DatabaseSettings

__all__ = ["UNAVAILABLE", "connection", "create_pool"]

ACQUIRE_SECONDS = Histogram(
    "modelyard_postgres_pool_acquire_seconds",
    "Time waiting for a pooled Postgres connection",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
)


class _PoolCollector(Collector):
    """Reads the service's pools when scraped: nothing to keep in step as connections come and go."""

    def __init__(self) -> None:
        self.pools: list[asyncpg.Pool] = []  # closed ones are dropped at the next scrape

    def collect(self) -> Iterator[Metric]:
        connections = GaugeMetricFamily(
            "modelyard_postgres_pool_connections", "Open connections of the Postgres pool, by state", labels=["state"]
        )
        limit = GaugeMetricFamily("modelyard_postgres_pool_max_connections", "Connections the Postgres pool may open")
        in_use = idle = most = 0
        self.pools = [pool for pool in self.pools if not pool.is_closing()]
        for pool in self.pools:
            size, free = pool.get_size(), pool.get_idle_size()
            in_use, idle, most = in_use + size - free, idle + free, most + pool.get_max_size()
        connections.add_metric(["in_use"], in_use)
        connections.add_metric(["idle"], idle)
        limit.add_metric([], most)
        yield connections
        yield limit


_POOLS = _PoolCollector()
REGISTRY.register(_POOLS)

# What a lost or refused connection raises; anything else from asyncpg is a bug or bad SQL.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


async def create_pool(
    settings: DatabaseSettings,
    init: Callable[[asyncpg.Connection], Coroutine[Any, Any, None]] | None = None,
    *,
    stateless: bool = False,
) -> asyncpg.Pool:
    """The service's pool; ``init`` runs on each new connection (type codecs). ``stateless``: the
    service leaves no session state on the connections it returns (no SET, LISTEN, cursor or
    session-level advisory lock outlives its use), so a connection goes back to the pool without
    the reset query asyncpg sends otherwise, a round trip to Postgres per request."""
    try:
        pool = await asyncpg.create_pool(
            settings.db_dsn,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            command_timeout=settings.db_timeout_seconds,
            timeout=settings.db_timeout_seconds,
            init=init,
            # asyncpg still rolls back a transaction left open and drops listeners first.
            reset=_nothing_to_reset if stateless else None,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise BackendUnavailableError(f"cannot connect to Postgres: {exc}") from exc
    _POOLS.pools.append(pool)
    return pool


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    return None


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """A pooled connection; losing Postgres while it is used raises BackendUnavailableError."""
    started = time.perf_counter()
    try:
        async with pool.acquire() as conn:
            ACQUIRE_SECONDS.observe(time.perf_counter() - started)
            yield conn
    except UNAVAILABLE as exc:
        raise BackendUnavailableError(f"Postgres is unavailable: {exc}") from exc
