"""Benchmark of the metadata service: creates, get-by-alias (cached and uncached) and search.

Usage::

    .venv/bin/python bench/metadata/bench_metadata.py            # ~2.5 minutes on 2 cores
    .venv/bin/python bench/metadata/bench_metadata.py --quick    # ~1 minute, 1 s per case
    ... --explain --json out.json --profile DIR                   # plans, figures as JSON, py-spy

Starts its own durable Postgres (fsync on, as in production) and Redis in a temporary folder, and
three metadata services on the same database: one with the Redis cache, one without, and one with
the cache and authentication on (each call's bearer token checked against Postgres), whose
get-by-alias is compared with the first's to show what authentication costs. Seeds 100k
versions straight into Postgres with COPY, then drives the services with grpc.aio stubs from
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
import contextlib
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import redis.asyncio as aioredis
from google.protobuf import struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, types_pb2
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

# The bench reuses the service's own SQL so that the direct baselines run exactly what it runs.
from modelyard_metadata.domain.search import parse_filter, parse_order_by
from modelyard_metadata.domain.validation import VersionRef
from modelyard_metadata.storage import postgres as service_sql
from modelyard_metadata.storage.search_sql import compile_search

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _measure import (
    background_load,
    cpu_model,
    cpu_seconds,
    find_py_spy,
    machine_ticks,
    print_aligned,
    summarize_profile,
)

ACTOR = (("modelyard-actor", "bench"),)
ADMIN_TOKEN = "myd_bench-admin-token-0123456789abcdefghijklmnopqrstuv"
BEARER = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
PROJECTS = ("vision", "nlp", "fraud", "ranking")
TEAMS = ("risk", "growth", "search", "ads", "platform")
DATASETS = ("2025-q3", "2025-q4", "2026-q1", "2026-q2")
FRAMEWORKS = (("sklearn", "skops"), ("onnx", "onnx"), ("pytorch", "pt"), ("xgboost", "json"))
STAGES = (("DEVELOPMENT", 40), ("VALIDATION", 25), ("PRODUCTION", 20), ("ARCHIVED", 15))
STATUSES = (("READY", 85), ("PENDING_UPLOAD", 10), ("FAILED", 5))
SEARCH_FILTER = 'stage = "PRODUCTION" AND metrics.accuracy >= 0.5'
SEARCH_ORDERED = "metrics.accuracy DESC"
SEARCH_PAGE = 100
ALIAS_REF = "proj/model@champion"
CREATE_WORKERS = 16

TARGETS = {
    "alias_p50_ms": 1.0,
    "alias_ops_16": 3000.0,
    "create_ops_1": 400.0,
    "search_p50_ms": 10.0,
}


# --- machine ---------------------------------------------------------------------------------


@dataclass
class CpuMeter:
    """Snapshots CPU of every party, so a case can be split into CPU ms per call per party.

    The machine is shared: other processes (other people's test runs) may use CPU during a case.
    ``other`` is the share of all cores they used, so a noisy case can be told from a slow one.
    """

    pids: dict[str, tuple[int, bool]]

    def snapshot(self) -> dict[str, float]:
        return {name: cpu_seconds(pid, children) for name, (pid, children) in self.pids.items()}


# --- measurement ------------------------------------------------------------------------------

Op = Callable[[int, int], Awaitable[Any]]
"""One call: (worker index, call index within that worker) -> anything."""


@dataclass
class Result:
    case: str
    server: str
    inflight: int
    channel: str
    ops: int
    elapsed: float
    latencies: list[float] = field(repr=False)
    cpu: dict[str, float] = field(default_factory=dict)
    baseline: Result | None = None
    rounds: list[float] = field(default_factory=list)
    """ops/s of each round, to show how steady the case was."""
    other_load: float = 0.0
    """Share of all cores (%) used by processes outside the benchmark during the case."""

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000

    @property
    def p50(self) -> float:
        return self.percentile_ms(0.50)

    @property
    def p99(self) -> float:
        return self.percentile_ms(0.99)

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "server": self.server,
            "inflight": self.inflight,
            "channel": self.channel,
            "ops": self.ops,
            "seconds": round(self.elapsed, 3),
            "ops_per_s": round(self.ops_per_s, 1),
            "p50_ms": round(self.p50, 3),
            "p99_ms": round(self.p99, 3),
            "round_ops_per_s": [round(x, 1) for x in self.rounds],
            "other_load_pct": round(self.other_load, 1),
            "cpu_ms_per_op": {k: round(v, 3) for k, v in self.cpu.items()},
            "baseline": f"{self.baseline.case} ({self.baseline.server})" if self.baseline else None,
        }


async def drive(op: Op, inflight: int, seconds: float, done: list[tuple[float, float]] | None) -> int:
    """Runs ``inflight`` workers calling ``op`` back-to-back until ``seconds`` have passed.

    Appends (completion time, latency) of every call to ``done``; calls still running at the
    deadline are let finish, so the last ones complete a little after it.
    """
    clock = time.perf_counter
    deadline = clock() + seconds

    async def worker(w: int) -> int:
        i = 0
        while clock() < deadline:
            started = clock()
            await op(w, i)
            ended = clock()
            if done is not None:
                done.append((ended, ended - started))
            i += 1
        return i

    return sum(await asyncio.gather(*(worker(w) for w in range(inflight))))


class Bench:
    """Runs cases: a warm-up, then one measured window of ``duration`` seconds.

    The window is also reported in ``rounds`` equal slices, to show how steady the case was.
    """

    def __init__(self, duration: float, warmup: float, meter: CpuMeter, rounds: int = 3) -> None:
        self.duration = duration
        self.warmup = warmup
        self.meter = meter
        self.rounds = rounds
        self.results: list[Result] = []

    async def run(
        self,
        case: str,
        server: str,
        inflight: int,
        op: Op,
        *,
        channel: str = "shared",
        baseline: Result | None = None,
    ) -> Result:
        await drive(op, inflight, self.warmup, None)
        done: list[tuple[float, float]] = []
        before = self.meter.snapshot()
        busy0, total0 = machine_ticks()
        started = time.perf_counter()
        await drive(op, inflight, self.duration, done)
        elapsed = time.perf_counter() - started
        busy1, total1 = machine_ticks()
        after = self.meter.snapshot()
        # Throughput counts the calls completed within the measured window; the calls that
        # straddle its end count for latency only. Rounds are thirds of the window.
        step = self.duration / self.rounds
        rounds = [
            sum(1 for t, _ in done if started + k * step <= t < started + (k + 1) * step) / step
            for k in range(self.rounds)
        ]
        ops = sum(1 for t, _ in done if t < started + self.duration)
        latencies = [latency for _, latency in done]
        ours = sum(after[n] - before[n] for n in before)
        cores = os.cpu_count() or 1
        cpu = {name: (after[name] - before[name]) * 1000 / max(len(done), 1) for name in before}
        cpu["util_%"] = ours / elapsed / cores * 100
        machine = (busy1 - busy0) / max(total1 - total0, 1) * 100
        result = Result(
            case,
            server,
            inflight,
            channel,
            ops,
            self.duration,
            latencies,
            cpu,
            baseline,
            rounds,
            other_load=max(0.0, machine - cpu["util_%"]),
        )
        self.results.append(result)
        print(
            f"  {case:<36} {server:<9} x{inflight:<3} {channel:<10} {result.ops_per_s:>7.0f}/s "
            f"p50 {result.p50:8.2f} ms  p99 {result.p99:8.2f} ms  (rounds {'/'.join(f'{r:.0f}' for r in rounds)}, "
            f"other load {result.other_load:.0f}%)",
            flush=True,
        )
        return result


# --- seeding ----------------------------------------------------------------------------------


def _weighted(rng: random.Random, choices: Sequence[tuple[str, int]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


SIGNATURE = {
    "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 32]}],
    "outputs": [{"name": "score", "datatype": "FP32", "shape": [-1, 1]}],
}
DEPENDENCIES = [
    {"library": "numpy", "version": "2.1.0", "scope": "RUN"},
    {"library": "scikit-learn", "version": "1.5.2", "scope": "RUN"},
]
VERSION_PARAMS = {"learning_rate": 0.05, "max_depth": 6, "n_estimators": 300}
VERSION_TAGS = {"team": "risk", "dataset": "2026-q1"}


async def copy_rows(conn: asyncpg.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """COPY dicts with the same keys into ``table``; jsonb values go as JSON text."""
    columns = list(rows[0])
    await conn.copy_records_to_table(table, records=[tuple(r.values()) for r in rows], columns=columns)


async def seed(dsn: str, versions: int, models: int, seed_value: int = 42) -> dict[str, Any]:
    """Inserts projects, models and versions straight into the service's tables with COPY.

    Versions are spread evenly over ``models`` models in the PROJECTS, with random stage, status,
    tags, hyperparameters and metrics; created_at grows by one second per version. Each model's
    latest_version is set, so versions created later through the service are numbered after them.
    """
    rng = random.Random(seed_value)
    per_model = max(1, versions // models)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        project_ids = {}
        for name in PROJECTS:
            project_ids[name] = await conn.fetchval(
                "INSERT INTO projects (name, description, owner) VALUES ($1, $2, 'bench') RETURNING id",
                name,
                f"{name} models",
            )
        await copy_rows(
            conn,
            "models",
            [
                {
                    "project_id": project_ids[PROJECTS[i % len(PROJECTS)]],
                    "project": PROJECTS[i % len(PROJECTS)],
                    "name": f"model-{i:04d}",
                    "owner": "bench",
                    "team": TEAMS[i % len(TEAMS)],
                    "kind": "STANDARD",
                    "tags": json.dumps({"team": TEAMS[i % len(TEAMS)]}),
                    "latest_version": per_model,
                    "created_at": now - timedelta(days=30),
                    "updated_at": now - timedelta(days=30),
                }
                for i in range(models)
            ],
        )
        model_ids = {
            (r["project"], r["name"]): r["id"]
            for r in await conn.fetch("SELECT id, project, name FROM models WHERE owner = 'bench'")
        }
        signature, dependencies = json.dumps(SIGNATURE), json.dumps(DEPENDENCIES)
        start = now - timedelta(seconds=versions)
        rows: list[dict[str, Any]] = []
        stages: Counter[str] = Counter()
        for number in range(1, per_model + 1):
            for i in range(models):
                project, name = PROJECTS[i % len(PROJECTS)], f"model-{i:04d}"
                stage, status = _weighted(rng, STAGES), _weighted(rng, STATUSES)
                stages[stage] += 1
                framework, payload = FRAMEWORKS[i % len(FRAMEWORKS)]
                moment = start + timedelta(seconds=len(rows))
                stamp = moment.isoformat()
                artifact: dict[str, Any] = {}
                if status == "READY":
                    size = rng.randrange(10_000, 50_000_000)
                    path = f"model.{payload}"
                    artifact = {
                        "files": [
                            {
                                "path": path,
                                "size": size,
                                "sha256": f"{len(rows):064x}",
                                "storage_key": f"{project}/{name}/{number}/{path}",
                                "content_type": "",
                            }
                        ],
                        "total_size": size,
                    }
                metrics = {
                    "accuracy": {"number": round(rng.uniform(0.3, 0.99), 4), "step": 0, "time": stamp},
                    "loss": {"number": round(rng.uniform(0.01, 1.5), 4), "step": 0, "time": stamp},
                }
                params = {"learning_rate": round(rng.uniform(0.001, 0.3), 4), "max_depth": rng.randrange(2, 12)}
                rows.append(
                    {
                        "model_id": model_ids[(project, name)],
                        "project": project,
                        "model": name,
                        "version": number,
                        "stage": stage,
                        "status": status,
                        "framework": framework,
                        "payload_format": payload,
                        "author": "bench",
                        "description": f"{name} version {number}",
                        "signature": signature,
                        "params": json.dumps(params),
                        "dependencies": dependencies,
                        "tags": json.dumps({"team": TEAMS[i % len(TEAMS)], "dataset": rng.choice(DATASETS)}),
                        "metrics": json.dumps(metrics),
                        "artifact": json.dumps(artifact),
                        "created_at": moment,
                        "updated_at": moment,
                    }
                )
        generated = time.perf_counter() - t0
        await copy_rows(conn, "model_versions", rows)
        copied = time.perf_counter() - t0
        # VACUUM sets hint bits and the visibility map, so the first measured reads do not write;
        # CHECKPOINT keeps the seed's WAL from being flushed in the middle of a measured case.
        for table in ("projects", "models", "model_versions"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("CHECKPOINT")
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM model_versions")]
        return {
            "versions": len(rows),
            "models": models,
            "projects": len(PROJECTS),
            "stages": dict(stages),
            "generate_s": round(generated, 2),
            "copy_s": round(copied - generated, 2),
            "total_s": round(time.perf_counter() - t0, 2),
            "ids": ids,
        }
    finally:
        await conn.close()


# --- setup through the service ----------------------------------------------------------------


def version_request(model: str) -> metadata_pb2.CreateModelVersionRequest:
    params = struct_pb2.Struct()
    params.update(VERSION_PARAMS)
    return metadata_pb2.CreateModelVersionRequest(
        model=model,
        framework="sklearn",
        payload_format="skops",
        description="benchmark version",
        signature=types_pb2.Signature(
            inputs=[types_pb2.TensorSpec(**t) for t in SIGNATURE["inputs"]],
            outputs=[types_pb2.TensorSpec(**t) for t in SIGNATURE["outputs"]],
        ),
        hyperparameters=params,
        dependencies=[
            types_pb2.Dependency(library=d["library"], version=d["version"], scope=types_pb2.DEPENDENCY_SCOPE_RUN)
            for d in DEPENDENCIES
        ],
        tags=VERSION_TAGS,
    )


async def prepare_through_service(stub: metadata_pb2_grpc.MetadataServiceStub) -> None:
    """proj/model with versions 1 and 2 (READY, alias champion -> 2) and the models creates go to."""
    await stub.CreateProject(metadata_pb2.CreateProjectRequest(name="proj", owner="bench"), metadata=ACTOR)
    await stub.CreateProject(metadata_pb2.CreateProjectRequest(name="bench", owner="bench"), metadata=ACTOR)
    await stub.CreateModel(
        metadata_pb2.CreateModelRequest(model=types_pb2.Model(project="proj", name="model", team="risk")),
        metadata=ACTOR,
    )
    for number in (1, 2):
        await stub.CreateModelVersion(version_request("proj/model"), metadata=ACTOR)
        await stub.CommitArtifact(
            metadata_pb2.CommitArtifactRequest(
                reference=f"proj/model:{number}",
                artifact=types_pb2.Artifact(
                    files=[types_pb2.ArtifactFile(path="model.skops", size=1234, sha256="ab" * 32, storage_key="k")]
                ),
            ),
            metadata=ACTOR,
        )
    await stub.SetAlias(metadata_pb2.SetAliasRequest(model="proj/model", alias="champion", version=2), metadata=ACTOR)
    for name in [f"create-{w:02d}" for w in range(CREATE_WORKERS)] + ["create-hot"]:
        await stub.CreateModel(
            metadata_pb2.CreateModelRequest(model=types_pb2.Model(project="bench", name=name)), metadata=ACTOR
        )


# --- direct SQL baselines ---------------------------------------------------------------------


def search_sql(order_by: str) -> tuple[str, tuple[object, ...]]:
    """The exact statement SearchModelVersions runs for SEARCH_FILTER and ``order_by``."""
    compiled = compile_search(
        parse_filter(SEARCH_FILTER), parse_order_by(order_by), project=None, page_token="", page_size=SEARCH_PAGE
    )
    return compiled.query(columns=service_sql._VERSION_COLUMNS), compiled.args


async def direct_create(conn: asyncpg.Connection, project: str, name: str) -> None:
    """The statements CreateModelVersion runs in its transaction (storage/postgres.py), same values."""
    async with conn.transaction():
        model = await conn.fetchrow(
            service_sql._MODEL + " WHERE m.project = $1 AND m.name = $2 FOR UPDATE OF m", project, name
        )
        number = await conn.fetchval(
            "UPDATE models SET latest_version = latest_version + 1, updated_at = now() WHERE id = $1 "
            "RETURNING latest_version",
            model["id"],
        )
        location = {"uri": "", "revision": "", "path": ""}
        columns = {
            "stage": "DEVELOPMENT",
            "status": "PENDING_UPLOAD",
            "framework": "sklearn",
            "payload_format": "skops",
            "author": "bench",
            "description": "benchmark version",
            "params": VERSION_PARAMS,
            "dependencies": DEPENDENCIES,
            "code_location": location,
            "data_location": location,
            "tags": VERSION_TAGS,
            "signature": SIGNATURE,
            "model_id": model["id"],
            "project": project,
            "model": name,
            "version": number,
        }
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        version_id = await conn.fetchval(
            f"INSERT INTO model_versions ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",
            *columns.values(),
        )
        await conn.execute("DELETE FROM version_lineage WHERE version_id = $1", version_id)
        await conn.execute(
            "INSERT INTO version_lineage (version_id, parent_id) SELECT $1, unnest($2::bigint[])", version_id, []
        )
        row = await conn.fetchrow(service_sql._BY_ID, version_id)
        snapshot = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(row).items()}
        await conn.fetchval(
            f"""WITH e AS (
                  INSERT INTO audit_events (actor, action, project, resource, before, after, reason, request_id)
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id)
                SELECT id FROM e, pg_notify('{service_sql.AUDIT_CHANNEL}', e.id::text) AS n""",
            *("bench", "version.create", project, f"{project}/{name}:{number}", None, snapshot, "", "direct"),
        )


async def explain(pool: asyncpg.Pool, sql: str, args: Sequence[object]) -> tuple[float, list[str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
    lines = [r[0] for r in rows]
    took = next((float(x.split(":")[1].split()[0]) for x in lines if x.startswith("Execution Time")), math.nan)
    return took, lines


# --- profiling --------------------------------------------------------------------------------


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


@contextlib.contextmanager
def py_spy_record(py_spy: str, pid: int, seconds: float, out: Path) -> Iterator[None]:
    options = ["--rate", "250", "--format", "raw", "--nonblocking", "--output", str(out)]
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(math.ceil(seconds)), *options]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.3)  # let it attach before the load starts
        yield
    finally:
        try:
            process.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- gRPC floor -------------------------------------------------------------------------------

_BARE_SERVER = """
import asyncio, grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

async def main():
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(port, flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


class BareGrpcServer:
    """A grpc.aio server with only the health service and no interceptor: the floor of any RPC."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.target = ""

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> BareGrpcServer:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BARE_SERVER], stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.__exit__()
            raise RuntimeError("the bare grpc server did not start")
        self.target = f"127.0.0.1:{int(line)}"
        return self

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the run ----------------------------------------------------------------------------------


def fmt_ratio(result: Result) -> tuple[str, str, str]:
    base = result.baseline
    if base is None:
        return "", "", ""
    return (
        f"{base.case} x{base.inflight}",
        f"{result.p50 / base.p50:.1f}x" if base.p50 else "",
        f"{result.ops_per_s / base.ops_per_s * 100:.0f}%" if base.ops_per_s else "",
    )


def print_tables(results: Sequence[Result]) -> None:
    headers = [
        "case",
        "server",
        "in flight",
        "channel",
        "ops",
        "ops/s",
        "rounds min-max",
        "p50 ms",
        "p99 ms",
        "baseline",
        "p50 vs base",
        "ops/s vs base",
    ]
    rows = []
    for r in results:
        base, p50_ratio, ops_ratio = fmt_ratio(r)
        spread = f"{min(r.rounds):,.0f}-{max(r.rounds):,.0f}" if r.rounds else ""
        rows.append(
            [
                r.case,
                r.server,
                str(r.inflight),
                r.channel,
                str(r.ops),
                f"{r.ops_per_s:,.0f}",
                spread,
                f"{r.p50:.2f}",
                f"{r.p99:.2f}",
                base,
                p50_ratio,
                ops_ratio,
            ]
        )
    print_aligned(headers, rows, numeric={2, 4, 5, 6, 7, 8, 10, 11})
    print("\nCPU per call: ms of CPU time per completed call, by process (postgres: all its backends);")
    print("ours = share of all cores our processes used; other = share used by processes outside the benchmark")
    parties = [k for k in results[0].cpu if k != "util_%"] if results else []
    headers = ["case", "server", "in flight", "channel", *parties, "ours %", "other %"]
    rows = [
        [
            r.case,
            r.server,
            str(r.inflight),
            r.channel,
            *(f"{r.cpu[p]:.3f}" for p in parties),
            f"{r.cpu['util_%']:.0f}",
            f"{r.other_load:.0f}",
        ]
        for r in results
    ]
    print_aligned(headers, rows, numeric={2, *range(4, len(headers))})


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def targets(found: dict[str, Result]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target whose case ran; "(info)" lines are not targets."""
    checks = []

    def p50_at_most(key: str, label: str, limit_ms: float) -> None:
        if key in found:
            r = found[key]
            checks.append((f"{label}: p50 <= {limit_ms:g} ms", f"{r.p50:.2f} ms", r.p50 <= limit_ms))

    def ops_at_least(key: str, label: str, floor: float) -> None:
        if key in found:
            r = found[key]
            checks.append((f"{label}: >= {floor:,.0f}/s", f"{r.ops_per_s:,.0f}/s", r.ops_per_s >= floor))

    p50_at_most("alias-cached-1", "get-by-alias cached, 1 in flight", TARGETS["alias_p50_ms"])
    ops_at_least("alias-cached-16", "get-by-alias cached, 16 in flight (shared channel)", TARGETS["alias_ops_16"])
    ops_at_least(
        "alias-cached-16-pw", "get-by-alias cached, 16 in flight (channel per worker)", TARGETS["alias_ops_16"]
    )
    p50_at_most("alias-auth-1", "(info) get-by-alias cached, token checked, 1 in flight", TARGETS["alias_p50_ms"])
    ops_at_least("alias-auth-16", "(info) get-by-alias cached, token checked, 16 in flight", TARGETS["alias_ops_16"])
    ops_at_least("create-1", "create, 1 in flight", TARGETS["create_ops_1"])
    p50_at_most("search-1", "search 100-row page, filtered, 1 in flight", TARGETS["search_p50_ms"])
    p50_at_most("search-16", "(info) search 100-row page, filtered, 16 in flight", TARGETS["search_p50_ms"])
    p50_at_most("search-ordered-1", "(info) search 100-row page, by accuracy, 1 in flight", TARGETS["search_p50_ms"])
    return checks


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
    bench = Bench(args.duration, args.warmup, meter)
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

    # The service's own jsonb codec, so rows decode to the same Python objects.
    pool = await asyncpg.create_pool(dsn, min_size=16, max_size=16, init=service_sql.init_connection)
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

        alias_sql, alias_args = service_sql._ref_query(VersionRef("proj", "model", alias="champion"), lock=False)

        async def alias_read(w: int, i: int) -> None:
            async with pool.acquire() as conn:
                await conn.fetchrow(alias_sql, *alias_args)

        for n in (1, 16):
            found[f"pk-{n}"] = await bench.run("direct PK read", "asyncpg", n, pk_read, channel="-")
        for n in (1, 16):
            found[f"alias-sql-{n}"] = await bench.run(
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
                found[f"direct-{key}-{n}"] = await bench.run(label, "asyncpg", n, direct_search, channel="-")

        # -- gRPC floor: what any RPC costs before the handler does anything ----------------------
        print("gRPC floor (health Check)", flush=True)
        health_request = health_pb2.HealthCheckRequest()
        for target, server in ((bare.target, "bare grpc"), (cached.target, "cached")):
            health_stub = health_pb2_grpc.HealthStub(shared.get(target) or own_channel(target))

            async def check(w: int, i: int, health_stub: Any = health_stub) -> None:
                await health_stub.Check(health_request, metadata=ACTOR)

            label = "health Check, no interceptor" if server == "bare grpc" else "health Check (with interceptor)"
            for n in (1, 16):
                found[f"floor-{server}-{n}"] = await bench.run(label, server, n, check)

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
                    found[key] = await bench.run(
                        f"get {ALIAS_REF}", server, n, get, channel=channel, baseline=found[f"pk-{n}"]
                    )

        auth_stub = metadata_pb2_grpc.MetadataServiceStub(shared[authenticated.target])
        reply = await auth_stub.GetModelVersion(get_request, metadata=BEARER)
        assert reply.version.version == 2, reply

        async def get_authenticated(w: int, i: int) -> None:
            await auth_stub.GetModelVersion(get_request, metadata=BEARER)

        for n in (1, 16):
            found[f"alias-auth-{n}"] = await bench.run(
                f"get {ALIAS_REF}, token checked", "cached+auth", n, get_authenticated,
                baseline=found[f"alias-cached-{n}"],
            )  # fmt: skip

        # -- search ----------------------------------------------------------------------------
        print("SearchModelVersions", flush=True)
        for key, order in (("search", ""), ("search-ordered", SEARCH_ORDERED)):
            request = metadata_pb2.SearchModelVersionsRequest(
                filter=SEARCH_FILTER, order_by=order, page_size=SEARCH_PAGE
            )
            reply = await stub.SearchModelVersions(request, metadata=ACTOR)
            assert len(reply.versions) == SEARCH_PAGE and reply.next_page_token, len(reply.versions)

            async def search(w: int, i: int, request: Any = request) -> None:
                await stub.SearchModelVersions(request, metadata=ACTOR)

            label = "search 100 rows" + (", by accuracy" if order else ", created desc")
            for n in (1, 16):
                found[f"{key}-{n}"] = await bench.run(label, "cached", n, search, baseline=found[f"direct-{key}-{n}"])

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
            found[f"direct-create-{n}"] = await bench.run(
                "direct create txn (service's SQL)", "asyncpg", n, direct, channel="-"
            )
        for n in (1, 16):
            found[f"create-{n}"] = await bench.run(
                "create version, 1 model/worker", "cached", n, create, baseline=found[f"direct-create-{n}"]
            )
        uncached_stub = metadata_pb2_grpc.MetadataServiceStub(shared[uncached.target])

        async def create_uncached(w: int, i: int) -> None:
            await uncached_stub.CreateModelVersion(spread[w], metadata=ACTOR)

        found["create-uncached-1"] = await bench.run(
            "create version, 1 model/worker", "uncached", 1, create_uncached, baseline=found["direct-create-1"]
        )
        found["create-hot-16"] = await bench.run(
            "create version, all on 1 model", "cached", 16, create_hot, baseline=found["direct-create-16"]
        )

        # -- optional profile ------------------------------------------------------------------
        if args.profile:
            info["profile"] = await profile(args, cached.pid, stub, get_request, spread)
    finally:
        for channel in [*shared.values(), *opened]:
            await channel.close()
        await pool.close()

    return {"found": found, "results": bench.results}


async def profile(
    args: argparse.Namespace, pid: int, stub: Any, get_request: Any, spread: Sequence[Any]
) -> dict[str, list[str]]:
    """Re-runs three 16-in-flight cases under py-spy (not counted in the table: py-spy costs CPU)."""
    py_spy = find_py_spy()
    if py_spy is None:
        print("profile: py-spy not found (install it or set PY_SPY=/path/to/py-spy); skipped")
        return {}
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    search_request = metadata_pb2.SearchModelVersionsRequest(filter=SEARCH_FILTER, page_size=SEARCH_PAGE)

    async def get(w: int, i: int) -> None:
        await stub.GetModelVersion(get_request, metadata=ACTOR)

    async def search(w: int, i: int) -> None:
        await stub.SearchModelVersions(search_request, metadata=ACTOR)

    async def create(w: int, i: int) -> None:
        await stub.CreateModelVersion(spread[w], metadata=ACTOR)

    summaries = {}
    seconds = max(3.0, args.duration)
    for name, op in (("get-alias-cached", get), ("search", search), ("create", create)):
        raw = out_dir / f"{name}.txt"
        with py_spy_record(py_spy, pid, seconds, raw):
            await drive(op, 16, seconds, None)
        await asyncio.sleep(0.5)
        if raw.exists():
            summaries[name] = summarize_profile(raw, LAYERS)
            print(f"\nprofile of the service, {name}, 16 in flight ({raw}):")
            print("\n".join(summaries[name]))
    return summaries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="shorter cases (1 s each)")
    parser.add_argument("--duration", type=float, help="seconds per measured case (default 3, --quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per case (default 1, --quick 0.3)")
    parser.add_argument("--versions", type=int, default=100_000, help="versions to seed (default 100000)")
    parser.add_argument("--models", type=int, default=1_000, help="models to spread them over (default 1000)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--explain", action="store_true", help="print the search query plans")
    parser.add_argument("--profile", metavar="DIR", help="after the run, profile the service with py-spy into DIR")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    args.duration = args.duration or (1.0 if args.quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)

    started = datetime.now(UTC)
    info: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "grpcio": importlib_metadata.version("grpcio"),
        "asyncpg": importlib_metadata.version("asyncpg"),
        "protobuf": importlib_metadata.version("protobuf"),
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "command": " ".join([".venv/bin/python", "bench/metadata/bench_metadata.py", *sys.argv[1:]]),
    }
    print(f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, kernel {info['kernel']}")
    print(f"date: {info['date']}; {args.duration:g} s per case after {args.warmup:g} s warm-up")
    print("note: client, both services, Postgres and Redis share this machine; figures are conservative\n")

    root = Path(tempfile.mkdtemp(prefix="modelyard-bench-"))
    outcome: dict[str, Any] = {}
    try:
        with contextlib.ExitStack() as stack:
            pg = stack.enter_context(EmbeddedPostgres(root / "pg", durable=True))
            rds = stack.enter_context(EmbeddedRedis(root / "redis"))
            dsn = pg.create_database("bench")
            bare = stack.enter_context(BareGrpcServer())
            services = []
            auth = {"auth_enabled": "true", "admin_token": ADMIN_TOKEN}
            for name, url, extra in (("cached", rds.url, {}), ("uncached", "", {}), ("auth", rds.url, auth)):
                svc = ServiceProcess(
                    "metadata",
                    "modelyard_metadata",
                    root / f"svc-{name}",
                    {"db_dsn": dsn, "redis_url": url, "shutdown_grace_seconds": "1", **extra},
                )
                svc.start()  # the first one applies the migrations; seeding waits for that
                stack.callback(svc.stop)
                services.append(svc)
            print(
                f"postgres (durable: fsync on) pid {pg.pid}, redis pid {rds.pid}, "
                f"services: cached {services[0].target}, uncached {services[1].target}, "
                f"authenticated {services[2].target}\n",
                flush=True,
            )
            info["background_load_pct"] = round(background_load(3.0), 1)
            print(
                f"background load before starting (other people's processes): {info['background_load_pct']}% "
                "of all cores\n",
                flush=True,
            )
            outcome = asyncio.run(run_bench(args, pg, rds, dsn, *services, bare, info))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    results: list[Result] = outcome["results"]
    found: dict[str, Result] = outcome["found"]
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
    print("\nTargets")
    checks = targets(found)
    print_aligned(["target", "measured", "verdict"], [[t, m, verdict(ok)] for t, m, ok in checks], numeric={1})
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "info": info,
                    "results": [r.as_json() for r in results],
                    "targets": [{"target": t, "measured": m, "pass": ok} for t, m, ok in checks],
                },
                indent=2,
            )
        )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
