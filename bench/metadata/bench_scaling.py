"""How the metadata service's throughput scales with its processes (MLREG_METADATA_PROCESSES).

Usage::

    .venv/bin/python bench/metadata/bench_scaling.py                   # 1 to the cores, ~1 min
    ... --processes 1,2,4 --inflight 16 --duration 5 --json out.json

Starts a durable Postgres and Redis in a temporary folder, then for each process count a
metadata service with the cache on and that many processes on one port, and drives cached
get-by-alias at --inflight calls in flight from this process: one channel (and TCP connection)
per caller, since the kernel hands each new connection to one process and a shared channel
would reach only one. Each count gets a warm-up, then a measured window, within which the
machine's other load is read (machine busy time less this benchmark's process tree): a count
whose other load passed --busy-pct is marked busy. Client, services, Postgres and Redis share
the machine, so the curve shows how its cores are shared as much as what the service can do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench._load import drive, percentile
from bench._machine import BUSY_PCT, Load, LoadMeter
from bench._report import print_aligned, write_json
from bench._run import arguments, measure_background_load, print_header, run_info, scratch
from bench._stack import processes, service
from bench.metadata._seed import ACTOR, prepare_through_service
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis
from modelyard_common.embedded.service import ServiceProcess

GET = metadata_pb2.GetModelVersionRequest(reference="proj/model@champion")
CALLS = re.compile(r'^modelyard_rpc_requests_total{[^}]*method="GetModelVersion"[^}]*} (\S+)$', re.M)


@dataclass
class Point:
    """One process count's figures."""

    processes: int
    calls: int
    """Calls made in the measured window (the last ones ending a little after it): what its CPU
    went into."""
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    load: Load
    calls_by_process: list[float]

    def cpu_ms_per_call(self) -> dict[str, float]:
        return {name: seconds * 1000 / max(self.calls, 1) for name, seconds in self.load.cpu_s.items()}


def _calls_by_process(svc: ServiceProcess, count: int) -> list[float]:
    """GetModelVersion calls each process counted on its own metrics page (warm-up included)."""
    ports = [json.loads(svc.ready_file.read_text())["metrics_port"]]
    ready = svc.ready_file
    ports += [
        json.loads(ready.with_name(f"{ready.stem}.{i}{ready.suffix}").read_text())["metrics_port"]
        for i in range(1, count)
    ]
    counts = []
    for port in ports:
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        counts.append(sum(float(value) for value in CALLS.findall(page)))
    return counts


async def measure(svc: ServiceProcess, meter: LoadMeter, args: argparse.Namespace, count: int) -> Point:
    options = [("grpc.use_local_subchannel_pool", 1)]  # each channel its own TCP connection
    channels = [grpc.aio.insecure_channel(svc.target, options=options) for _ in range(args.inflight)]
    stubs = [metadata_pb2_grpc.MetadataServiceStub(channel) for channel in channels]
    try:
        reply = await stubs[0].GetModelVersion(GET, metadata=ACTOR)
        assert reply.version.version == 2, reply

        async def get(w: int, i: int) -> None:
            await stubs[w].GetModelVersion(GET, metadata=ACTOR)

        await drive(get, args.inflight, args.warmup, None)
        done: list[tuple[float, float]] = []
        with meter.window() as load:
            window_end = time.perf_counter() + args.duration
            await drive(get, args.inflight, args.duration, done)
    finally:
        for channel in channels:
            await channel.close()
    latencies = [latency for _, latency in done]
    point = Point(
        count,
        len(done),
        sum(1 for ended, _ in done if ended <= window_end) / args.duration,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        load,
        _calls_by_process(svc, count),
    )
    # What is left of our tree once the named parties are taken out is this process: the client.
    load.cpu_s["client"] = load.cpu_s.pop("all") - sum(load.cpu_s.values())
    return point


async def prepare(target: str) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        await prepare_through_service(metadata_pb2_grpc.MetadataServiceStub(channel))


def print_curve(points: list[Point], inflight: int, threshold: float) -> None:
    base = points[0].ops_per_s or 1.0
    headers = ["processes", "get/s", "x of 1", "p50 ms", "p99 ms", "calls per process %"]
    parties = ["client", "metadata", "redis", "postgres"]
    headers += [f"CPU ms/call {p}" for p in parties] + ["ours %", "other %"]
    rows = []
    for p in points:
        total = sum(p.calls_by_process) or 1.0
        cpu = p.cpu_ms_per_call()
        rows.append(
            [
                str(p.processes),
                f"{p.ops_per_s:,.0f}",
                f"{p.ops_per_s / base:.2f}",
                f"{p.p50_ms:.2f}",
                f"{p.p99_ms:.2f}",
                "/".join(f"{c / total * 100:.0f}" for c in p.calls_by_process),
                *(f"{cpu[name]:.3f}" for name in parties),
                f"{p.load.ours_pct:.0f}",
                f"{p.load.other_pct:.0f}" + (" (busy)" if p.load.busy(threshold) else ""),
            ]
        )
    print(f"\ncached get-by-alias, {inflight} in flight (one channel each), by metadata processes")
    print_aligned(headers, rows, numeric=set(range(1, len(headers))))


def main() -> int:
    parser = arguments(__doc__, "1 s per count after 0.3 s warm-up", None)
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--processes",
        default=",".join(str(n) for n in range(1, cores + 1)),
        help=f"process counts to measure, comma-separated (default 1 to the {cores} cores)",
    )
    parser.add_argument("--inflight", type=int, default=16, help="calls in flight (default 16)")
    parser.add_argument("--duration", type=float, help="seconds per measured count (default 3, --quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per count (default 1, --quick 0.3)")
    parser.add_argument("--busy-pct", type=float, default=BUSY_PCT, help="other load that makes a count busy")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    args.duration = args.duration or (1.0 if args.quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)

    info = run_info("bench/metadata/bench_scaling.py", ("grpcio",), processes=counts, inflight=args.inflight)
    print_header(info, f"{args.duration:g} s per count after {args.warmup:g} s warm-up", "client, services, stores")
    points: list[Point] = []
    with scratch("modelyard-scaling-", args.keep) as root, processes() as stack:
        pg = stack.enter_context(EmbeddedPostgres(root / "pg", durable=True))
        rds = stack.enter_context(EmbeddedRedis(root / "redis"))
        settings = {"db_dsn": pg.create_database("bench"), "redis_url": rds.url}
        with service("metadata", root / "seed", settings) as seeder:
            asyncio.run(prepare(seeder.target))
        measure_background_load(info)
        for count in counts:
            with service("metadata", root / f"svc-{count}", {**settings, "processes": str(count)}) as svc:
                meter = LoadMeter(
                    {"all": [os.getpid()], "metadata": [svc.pid], "redis": [rds.pid], "postgres": [pg.pid]}
                )
                point = asyncio.run(measure(svc, meter, args, count))
            points.append(point)
            print(
                f"  {count} process(es): {point.ops_per_s:,.0f}/s, other load {point.load.other_pct:.0f}%",
                flush=True,
            )
    print_curve(points, args.inflight, args.busy_pct)
    write_json(
        args.json,
        info,
        [],
        points=[
            {
                "processes": p.processes,
                "ops_per_s": round(p.ops_per_s, 1),
                "p50_ms": round(p.p50_ms, 3),
                "p99_ms": round(p.p99_ms, 3),
                "calls_by_process": p.calls_by_process,
                "cpu_s": {k: round(v, 3) for k, v in p.load.cpu_s.items()},
                "ours_pct": round(p.load.ours_pct, 1),
                "other_pct": round(p.load.other_pct, 1),
                "busy": p.load.busy(args.busy_pct),
            }
            for p in points
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
