"""Benchmark of the metadata service: creates, get-by-alias (cached and uncached) and search.

Usage::

    .venv/bin/python bench/metadata/bench_metadata.py            # ~2.5 minutes on 2 cores
    .venv/bin/python bench/metadata/bench_metadata.py --quick    # ~1 minute, 1 s per case
    ... --explain --json out.json --profile DIR                   # plans, figures as JSON, py-spy

Starts its own durable Postgres (fsync on, as in production) and Redis in a temporary folder, and
three metadata services on the same database: one with the Redis cache, one without, and one with
the cache and authentication on (each call's bearer token checked), whose get-by-alias is
compared with the first's to show what authentication costs. Seeds 100k versions straight into
Postgres with COPY, stores their messages as a service does at start (version_wire), then
drives the services with grpc.aio stubs from
this process: for N in flight, N coroutines each issue calls back-to-back (on one shared channel
unless the case says "per-worker", where each coroutine has its own channel and TCP connection).
Each case is a warm-up followed by a fixed duration; every call is timed with perf_counter.

Baselines run in the same process against the same database with asyncpg: primary-key reads,
and the very SQL the service issues for a search and for a create, so the ratios show what the
service adds on top of Postgres. A bare grpc.aio server (health service only) and the service's
own health check give the floor any RPC costs before a handler does anything.

Everything (client, services, Postgres, Redis) shares one machine, so figures are conservative:
the client's own CPU is taken from the servers. The CPU table says who used how much per call,
and how much CPU processes outside the benchmark took meanwhile (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import redis.asyncio as aioredis
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench._cases import Cases, Result
from bench._cpu import CpuMeter
from bench._load import AsyncOp, drive
from bench._profile import Profiler
from bench._report import print_targets, write_json
from bench._run import arguments, measure_background_load, print_header, run_info, scratch
from bench._stack import processes, service
from bench.metadata._cases import print_tables, targets
from bench.metadata._direct import SEARCH_FILTER, SEARCH_ORDERED, SEARCH_PAGE, direct_create, explain, search_sql
from bench.metadata._floor import BareGrpcServer
from bench.metadata._seed import ACTOR, CREATE_WORKERS, prepare_through_service, seed, version_request
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess
from modelyard_metadata.api.wire import ProtoWire
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage import queries as service_sql
from modelyard_metadata.storage.postgres import PgStore, init_connection

ADMIN_TOKEN = "myd_bench-admin-token-0123456789abcdefghijklmnopqrstuv"
BEARER = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
ALIAS_REF = "proj/model@champion"


LAYERS = (
    ("proto conversion (api/convert.py)", ("modelyard_metadata/api/convert.py",)),
    ("row -> entity (storage/rows.py)", ("modelyard_metadata/storage/rows.py",)),
    ("json encode/decode", ("json/",)),
    ("protobuf runtime", ("google/protobuf/",)),
    ("redis-py client", ("redis/",)),
    ("asyncpg (Python part)", ("asyncpg/",)),
    ("interceptor, request context, metrics", ("modelyard_common/", "prometheus_client/", "uuid.py", "contextvars")),
    ("cache layer (storage/cache.py)", ("modelyard_metadata/storage/cache.py",)),
    ("service code (servicer, catalog, store, search)", ("modelyard_metadata/",)),
    ("stdlib dataclasses/copy/enum (audit snapshot, enums)", ("dataclasses.py", "copy.py", "enum.py")),
    ("grpc Python layer", ("grpc/",)),
    ("grpc poller thread (C)", ("threading.py",)),
    ("event loop + C callbacks (grpc core, asyncpg protocol, sockets)", ("asyncio/", "selectors.py")),
)


async def _no_reset(conn: asyncpg.Connection) -> None:
    return None


async def run_bench(
    args: argparse.Namespace,
    pg: EmbeddedPostgres,
    rds: EmbeddedRedis,
    dsn: str,
    cached: ServiceProcess,
    uncached: ServiceProcess,
    authenticated: ServiceProcess,
    bare: BareGrpcServer,
    info: dict[str, Any],
) -> dict[str, Any]:
    meter = CpuMeter(
        {
            "client": (os.getpid(), False),
            "svc": (cached.pid, False),
            "svc-nocache": (uncached.pid, False),
            "svc-auth": (authenticated.pid, False),
            "postgres": (pg.pid, True),
            "redis": (rds.pid, False),
            "bare-grpc": (bare.pid, False),
        }
    )
    cases = Cases(args.duration, args.warmup, meter)
    found: dict[str, Result] = {}

    print(f"seeding {args.versions:,} versions over {args.models:,} models ...", flush=True)
    seeded = await seed(dsn, args.versions, args.models)
    ids = seeded.pop("ids")
    info["seed"] = seeded
    print(
        f"  seeded in {seeded['total_s']} s (generate {seeded['generate_s']} s, COPY {seeded['copy_s']} s, "
        f"then VACUUM ANALYZE + CHECKPOINT); stages {seeded['stages']}",
        flush=True,
    )

    # The service's own jsonb codec, so rows decode to the same Python objects; and, as its pool,
    # no reset query when a connection is released.
    pool = await asyncpg.create_pool(dsn, min_size=16, max_size=16, init=init_connection, reset=_no_reset)
    # The seeded versions have no stored message yet: stored as a service does at start.
    started = time.perf_counter()
    encoded = await PgStore(pool, ProtoWire()).encode_missing(500)
    async with pool.acquire() as conn:
        await conn.execute("VACUUM (ANALYZE) version_wire")
        await conn.execute("CHECKPOINT")
    print(f"  stored {encoded:,} versions' messages in {time.perf_counter() - started:.1f} s", flush=True)
    shared = {t: grpc.aio.insecure_channel(t) for t in (cached.target, uncached.target, authenticated.target)}
    opened: list[grpc.aio.Channel] = []

    def own_channel(target: str) -> grpc.aio.Channel:
        # A local subchannel pool gives the channel its own TCP connection; without it grpc would
        # share one connection between channels that have the same target and options.
        channel = grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        opened.append(channel)
        return channel

    own = {t: [own_channel(t) for _ in range(16)] for t in (cached.target, uncached.target)}
    try:
        stub = metadata_pb2_grpc.MetadataServiceStub(shared[cached.target])
        await prepare_through_service(stub)
        async with pool.acquire() as conn:
            info["postgres"] = await conn.fetchval("SHOW server_version")
            info["postgres_settings"] = {
                name: await conn.fetchval(f"SHOW {name}")
                for name in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers")
            }
        redis_client = aioredis.Redis.from_url(rds.url)
        info["redis"] = (await redis_client.info("server"))["redis_version"]
        await redis_client.aclose()

        # -- baselines: direct asyncpg ---------------------------------------------------------
        print("direct asyncpg baselines", flush=True)
        rng = random.Random(7)

        async def pk_read(w: int, i: int) -> None:
            async with pool.acquire() as conn:
                await conn.fetchrow("SELECT * FROM model_versions WHERE id = $1", rng.choice(ids))

        alias_sql, alias_args = service_sql.ref_query(VersionRef("proj", "model", alias="champion"), lock=False)

        async def alias_read(w: int, i: int) -> None:
            async with pool.acquire() as conn:
                await conn.fetchrow(alias_sql, *alias_args)

        for n in (1, 16):
            found[f"pk-{n}"] = await cases.run("direct PK read", "asyncpg", n, pk_read, channel="-")
        for n in (1, 16):
            found[f"alias-sql-{n}"] = await cases.run(
                "direct alias SQL (service's)", "asyncpg", n, alias_read, channel="-"
            )
        searches = {"search": search_sql(""), "search-ordered": search_sql(SEARCH_ORDERED)}
        info["explain"] = {}
        for key, (sql, sql_args) in searches.items():
            took, plan = await explain(pool, sql, sql_args)
            info["explain"][key] = {"execution_ms": took, "plan": plan}

            async def direct_search(w: int, i: int, sql: str = sql, sql_args: Sequence[object] = sql_args) -> None:
                async with pool.acquire() as conn:
                    rows = await conn.fetch(sql, *sql_args)
                assert len(rows) == SEARCH_PAGE + 1, len(rows)

            label = "direct search SQL" + (" (ordered)" if key == "search-ordered" else "")
            for n in (1, 16):
                found[f"direct-{key}-{n}"] = await cases.run(label, "asyncpg", n, direct_search, channel="-")

        # -- gRPC floor: what any RPC costs before the handler does anything ----------------------
        print("gRPC floor (health Check)", flush=True)
        health_request = health_pb2.HealthCheckRequest()
        for target, server in ((bare.target, "bare grpc"), (cached.target, "cached")):
            health_stub = health_pb2_grpc.HealthStub(shared.get(target) or own_channel(target))

            async def check(w: int, i: int, health_stub: Any = health_stub) -> None:
                await health_stub.Check(health_request, metadata=ACTOR)

            label = "health Check, no interceptor" if server == "bare grpc" else "health Check (with interceptor)"
            for n in (1, 16):
                found[f"floor-{server}-{n}"] = await cases.run(label, server, n, check)

        # -- get by alias ----------------------------------------------------------------------
        print("GetModelVersion by alias", flush=True)
        get_request = metadata_pb2.GetModelVersionRequest(reference=ALIAS_REF)
        for svc, server in ((cached, "cached"), (uncached, "uncached")):
            reply = await metadata_pb2_grpc.MetadataServiceStub(shared[svc.target]).GetModelVersion(
                get_request, metadata=ACTOR
            )
            assert reply.version.version == 2 and "champion" in reply.version.aliases, reply
            for n in (1, 16):
                for channel in ("shared", "per-worker") if n == 16 else ("shared",):
                    stubs = (
                        [metadata_pb2_grpc.MetadataServiceStub(shared[svc.target])] * n
                        if channel == "shared"
                        else [metadata_pb2_grpc.MetadataServiceStub(c) for c in own[svc.target][:n]]
                    )

                    async def get(w: int, i: int, stubs: list[Any] = stubs) -> None:
                        await stubs[w].GetModelVersion(get_request, metadata=ACTOR)

                    key = f"alias-{server}-{n}" + ("-pw" if channel == "per-worker" else "")
                    found[key] = await cases.run(
                        f"get {ALIAS_REF}", server, n, get, channel=channel, baseline=found[f"pk-{n}"]
                    )

        auth_stub = metadata_pb2_grpc.MetadataServiceStub(shared[authenticated.target])
        reply = await auth_stub.GetModelVersion(get_request, metadata=BEARER)
        assert reply.version.version == 2, reply

        async def get_authenticated(w: int, i: int) -> None:
            await auth_stub.GetModelVersion(get_request, metadata=BEARER)

        for n in (1, 16):
            found[f"alias-auth-{n}"] = await cases.run(
                f"get {ALIAS_REF}, token checked", "cached+auth", n, get_authenticated,
                baseline=found[f"alias-cached-{n}"],
            )  # fmt: skip

        # The targets' CPU ratios, from short windows taken in turn (health, get, get with a
        # token), so that a change of the machine's load between two cases does not decide them.
        cached_stub = metadata_pb2_grpc.MetadataServiceStub(shared[cached.target])
        cached_health = health_pb2_grpc.HealthStub(shared[cached.target])

        async def health_check(w: int, i: int) -> None:
            await cached_health.Check(health_request, metadata=ACTOR)

        async def get_cached(w: int, i: int) -> None:
            await cached_stub.GetModelVersion(get_request, metadata=ACTOR)

        info["paired"] = {
            n: await paired_cpu(
                meter,
                {"health": (health_check, "svc"), "get": (get_cached, "svc"), "token": (get_authenticated, "svc-auth")},
                n,
                rounds=3 if args.quick else 7,
                seconds=0.5,
            )
            for n in (1, 16)
        }

        # -- search ----------------------------------------------------------------------------
        print("SearchModelVersions", flush=True)
        for key, order in (("search", ""), ("search-ordered", SEARCH_ORDERED)):
            request = metadata_pb2.SearchModelVersionsRequest(
                filter=SEARCH_FILTER, order_by=order, page_size=SEARCH_PAGE
            )
            page = await stub.SearchModelVersions(request, metadata=ACTOR)
            assert len(page.versions) == SEARCH_PAGE and page.next_page_token, len(page.versions)

            async def search(w: int, i: int, request: Any = request) -> None:
                await stub.SearchModelVersions(request, metadata=ACTOR)

            label = "search 100 rows" + (", by accuracy" if order else ", created desc")
            for n in (1, 16):
                found[f"{key}-{n}"] = await cases.run(label, "cached", n, search, baseline=found[f"direct-{key}-{n}"])

        # -- create ----------------------------------------------------------------------------
        print("CreateModelVersion", flush=True)
        spread = [version_request(f"bench/create-{w:02d}") for w in range(CREATE_WORKERS)]
        hot = version_request("bench/create-hot")

        async def direct(w: int, i: int) -> None:
            async with pool.acquire() as conn:
                await direct_create(conn, "bench", f"create-{w:02d}")

        async def create(w: int, i: int) -> None:
            await stub.CreateModelVersion(spread[w], metadata=ACTOR)

        async def create_hot(w: int, i: int) -> None:
            await stub.CreateModelVersion(hot, metadata=ACTOR)

        for n in (1, 16):
            found[f"direct-create-{n}"] = await cases.run(
                "direct create txn (service's SQL)", "asyncpg", n, direct, channel="-"
            )
        for n in (1, 16):
            found[f"create-{n}"] = await cases.run(
                "create version, 1 model/worker", "cached", n, create, baseline=found[f"direct-create-{n}"]
            )
        uncached_stub = metadata_pb2_grpc.MetadataServiceStub(shared[uncached.target])

        async def create_uncached(w: int, i: int) -> None:
            await uncached_stub.CreateModelVersion(spread[w], metadata=ACTOR)

        found["create-uncached-1"] = await cases.run(
            "create version, 1 model/worker", "uncached", 1, create_uncached, baseline=found["direct-create-1"]
        )
        found["create-hot-16"] = await cases.run(
            "create version, all on 1 model", "cached", 16, create_hot, baseline=found["direct-create-16"]
        )

        # -- optional profile ------------------------------------------------------------------
        if args.profile:
            info["profile"] = await profile(args, cached.pid, stub, get_request, spread)
    finally:
        for open_channel in [*shared.values(), *opened]:
            await open_channel.close()
        await pool.close()

    return {"found": found, "results": cases.results}


async def paired_cpu(
    meter: CpuMeter, ops: dict[str, tuple[AsyncOp, str]], inflight: int, rounds: int, seconds: float
) -> dict[str, list[float]]:
    """ms of CPU per call of each op's server (its party in ``meter``), in ``rounds`` rounds that
    each run every op for ``seconds`` in turn."""
    per_call: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(rounds):
        for name, (op, party) in ops.items():
            await drive(op, inflight, 0.1, None)
            with meter.window() as cpu:
                calls = await drive(op, inflight, seconds, None)
            per_call[name].append(cpu.seconds[party] * 1000 / max(calls, 1))
    return per_call


async def profile(
    args: argparse.Namespace, pid: int, stub: Any, get_request: Any, spread: Sequence[Any]
) -> dict[str, list[str]]:
    """Re-runs three 16-in-flight cases under py-spy (not counted in the table: py-spy costs CPU)."""
    profiler = Profiler.create(args.profile, LAYERS, args.native)
    if profiler is None:
        return {}
    search_request = metadata_pb2.SearchModelVersionsRequest(filter=SEARCH_FILTER, page_size=SEARCH_PAGE)

    async def get(w: int, i: int) -> None:
        await stub.GetModelVersion(get_request, metadata=ACTOR)

    async def search(w: int, i: int) -> None:
        await stub.SearchModelVersions(search_request, metadata=ACTOR)

    async def create(w: int, i: int) -> None:
        await stub.CreateModelVersion(spread[w], metadata=ACTOR)

    summaries = {}
    for name, op in (("get-alias-cached", get), ("search", search), ("create", create)):
        with profiler.record(pid, name, f"the service, {name}, 16 in flight") as summaries[name]:
            await drive(op, 16, max(3.0, args.duration), None)
    return summaries


def main() -> int:
    parser = arguments(__doc__, "shorter cases (1 s each)", "after the run, profile the service at 16 in flight")
    parser.add_argument("--duration", type=float, help="seconds per measured case (default 3, --quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per case (default 1, --quick 0.3)")
    parser.add_argument("--versions", type=int, default=100_000, help="versions to seed (default 100000)")
    parser.add_argument("--models", type=int, default=1_000, help="models to spread them over (default 1000)")
    parser.add_argument("--explain", action="store_true", help="print the search query plans")
    args = parser.parse_args()
    args.duration = args.duration or (1.0 if args.quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)

    info = run_info(
        "bench/metadata/bench_metadata.py",
        ("grpcio", "asyncpg", "protobuf"),
        duration_s=args.duration,
        warmup_s=args.warmup,
    )
    print_header(
        info,
        f"{args.duration:g} s per case after {args.warmup:g} s warm-up",
        "client, the services, Postgres and Redis",
    )
    with scratch("modelyard-bench-", args.keep) as root, processes() as stack:
        pg = stack.enter_context(EmbeddedPostgres(root / "pg", durable=True))
        rds = stack.enter_context(EmbeddedRedis(root / "redis"))
        dsn = pg.create_database("bench")
        bare = stack.enter_context(BareGrpcServer())
        auth = {"auth_enabled": "true", "admin_token": ADMIN_TOKEN}
        # The first one applies the migrations; seeding waits for that.
        services = [
            stack.enter_context(service("metadata", root / f"svc-{name}", {"db_dsn": dsn, "redis_url": url, **extra}))
            for name, url, extra in (("cached", rds.url, {}), ("uncached", "", {}), ("auth", rds.url, auth))
        ]
        print(
            f"postgres (durable: fsync on) pid {pg.pid}, redis pid {rds.pid}, "
            f"services: cached {services[0].target}, uncached {services[1].target}, "
            f"authenticated {services[2].target}\n",
            flush=True,
        )
        measure_background_load(info)
        cached, uncached, authenticated = services
        outcome = asyncio.run(run_bench(args, pg, rds, dsn, cached, uncached, authenticated, bare, info))

    results: list[Result] = outcome["results"]
    print(
        f"\nPostgres {info['postgres']} ({info['postgres_settings']}), Redis {info['redis']}, "
        f"grpcio {info['grpcio']}, asyncpg {info['asyncpg']}"
    )
    for key, data in info["explain"].items():
        print(f"EXPLAIN ANALYZE {key}: {data['execution_ms']:.2f} ms in Postgres")
        if args.explain:
            print("\n".join("    " + line for line in data["plan"]))
    print()
    print_tables(results)
    checks = targets(outcome["found"], info.get("paired", {}))
    print_targets(checks)
    write_json(args.json, info, checks, results=[r.as_json() for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
