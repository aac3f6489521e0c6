"""Modelyard side by side with MLflow 3: the same operations, the same data, the same threads,
through each system's own SDK, both in one run, on one machine.

Usage::

    .venv/bin/python bench/peers/bench_peers.py            # or: make bench-peers
    .venv/bin/python bench/peers/bench_peers.py --quick    # 1,000 versions, 32 MiB, 2 s per case
    ... --versions N --artifact-mib N --seconds S --json out.json --write-docs [--allow-busy]

Starts, in a temporary folder, and stops by pid at the end: Postgres (durable) and SeaweedFS,
shared by both systems; Redis and Modelyard's metadata, registry and deploy services (process
runtime); ``mlflow server`` with its 4 workers on a database and a bucket prefix of its own. MLflow runs
from a virtual environment of its own (``.bench/mlflow-venv``, made from PyPI on the first run).

Each system is driven by a driver process of its own: bench/peers/_mlflow_driver.py run by the
MLflow environment's Python through MLflow's client, bench/peers/_modelyard_driver.py run by
ours through ``modelyard``. Each case runs on both, one after the other (which goes first
alternates from case to case), each with its warm-up. The other load of the machine (CPU used by
processes that are not the benchmark's) is read during each system's part of each case; a case
with more than --busy-pct of it is busy, and --write-docs refuses to write busy figures unless
--allow-busy, which marks them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench._machine import BUSY_PCT, LoadMeter
from bench._report import print_aligned, write_json
from bench._run import arguments, print_header, run_info, scratch
from bench._stack import BUCKET, Stack, platform_stack, processes
from bench.artifacts._files import MiB, make_file
from bench.peers._docs import BusyRunError, generated, refuse_busy, replace_generated
from bench.peers._driver import DriverProcess
from bench.peers._figures import CPU_HEADERS, HEADERS, SYSTEMS, Case, Figure, Kind, cpu_rows, rows, terminal_rows
from bench.peers._mlflow import WORKERS, MlflowServer, mlflow_python

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DOCS = ROOT / "docs" / "benchmarks.md"
SEARCH_SIZES = (1_000, 10_000)
CREATE_THREADS = 8
ALIAS_THREADS = (1, 8, 16)
SEED_THREADS = 8
ANSWERS = ("rows", "first", "labels")
"""What a driver returns that both systems must agree on."""


class Run:
    """The cases of a run: each on both systems, the order alternating, under a load window."""

    def __init__(self, drivers: dict[str, DriverProcess], meter: LoadMeter) -> None:
        self.drivers = drivers
        self.meter = meter
        self.figures: list[Figure] = []
        self.answers: dict[str, dict[str, Any]] = {}
        """What each system answered where both must agree (the best accuracy, the predicted
        label), by case then system."""
        self.cases = 0

    def order(self) -> tuple[str, ...]:
        self.cases += 1
        return SYSTEMS if self.cases % 2 else SYSTEMS[::-1]

    def calls(self, case: Case, op: str, **args: Any) -> None:
        """A case timed call by call (the driver returns each call's latency)."""
        for system in self.order():
            with self.meter.window() as load:
                result = self.drivers[system].call(op, **args)
            figure = Figure(
                case, system, load, result["latencies_ms"], result["completed"], args["seconds"], made=result["made"]
            )
            self.add(figure, result)

    def repeated(self, cases: dict[str, Case], op: str, mib: float = 0.0, **args: Any) -> None:
        """Cases timed as whole repetitions: ``cases`` maps each list of seconds in the driver's
        result to its case (an upload and a download come from the same repetitions)."""
        for system in self.order():
            with self.meter.window() as load:
                result = self.drivers[system].call(op, **args)
            for key, case in cases.items():
                self.add(Figure(case, system, load, samples_s=result[key], mib=mib), result)

    def add(self, figure: Figure, result: dict[str, Any]) -> None:
        self.figures.append(figure)
        answer = {k: v for k, v in result.items() if k in ANSWERS}
        if answer:
            self.answers.setdefault(figure.case.name, {})[figure.system] = answer
        if "registered_s" in result:
            figure.registered_s = statistics.median(result["registered_s"])
        print(
            f"  {figure.case.name:<44} {figure.system:<9} {figure.text():<44} other load "
            f"{figure.load.other_pct:3.0f} %  {answer or ''}",
            flush=True,
        )

    def disagreements(self) -> list[str]:
        """The cases where the two systems did not answer alike: both must find as many rows and
        the same best accuracy, and predict the same labels."""
        return [
            f"{case}: MLflow {pair['MLflow']}, Modelyard {pair['Modelyard']}"
            for case, pair in self.answers.items()
            if pair["MLflow"] != pair["Modelyard"]
        ]


def run_cases(
    args: argparse.Namespace, drivers: dict[str, DriverProcess], meter: LoadMeter, root: Path
) -> tuple[Run, list[Any]]:
    run = Run(drivers, meter)
    timing = {"seconds": args.seconds, "warmup": args.warmup}

    seeding = []
    for size in [s for s in SEARCH_SIZES if s < args.versions] + [args.versions]:
        took = {}
        for system in run.order():
            took[system] = drivers[system].call("seed", total=size, threads=SEED_THREADS)["seconds"]
            print(f"  seeded {size:,} versions in {system} in {took[system]:.1f} s (not counted)", flush=True)
        seeding.append((size, took))
        run.calls(Case(f"search, filter, {size:,} versions", Kind.LATENCY), "search", ordered=False, **timing)
        run.calls(Case(f"search, order by a metric, {size:,} versions", Kind.LATENCY), "search", ordered=True, **timing)

    for threads in ALIAS_THREADS:
        kind = Kind.LATENCY if threads == 1 else Kind.CONCURRENT
        label = "get by alias, 1 thread" if threads == 1 else f"get by alias, {threads} threads"
        run.calls(Case(label, kind), "get_alias", threads=threads, **timing)
    run.calls(Case("create version, sequential", Kind.LATENCY), "create", threads=1, **timing)
    run.calls(
        Case(f"create version, {CREATE_THREADS} threads", Kind.CONCURRENT), "create", threads=CREATE_THREADS, **timing
    )
    run.calls(Case("log 100 metrics in one call", Kind.LATENCY), "log_metrics", one_call=True, **timing)
    run.calls(Case("log one metric a call", Kind.LATENCY), "log_metrics", one_call=False, **timing)

    blob = root / f"blob-{args.artifact_mib}MiB.bin"
    make_file(blob, args.artifact_mib * MiB, 0)
    transfers = {
        "upload_s": Case(f"upload {args.artifact_mib} MiB", Kind.TRANSFER),
        "download_s": Case(f"download {args.artifact_mib} MiB", Kind.TRANSFER),
    }
    run.repeated(transfers, "transfer", mib=args.artifact_mib, path=str(blob), repeat=args.transfers)
    first = {"seconds": Case("register, upload, serve, first prediction", Kind.SECONDS)}
    run.repeated(first, "first_prediction", repeat=args.deploys)
    return run, seeding


def commit() -> str:
    """The code's commit, "+" when the work tree has changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return head.stdout.strip() + ("+" if dirty else "")


def parties(stack: Stack, server: MlflowServer, drivers: dict[str, DriverProcess]) -> dict[str, list[int]]:
    """Whose CPU each case reports: each system's server processes and client, and the stores."""
    assert stack.deploy is not None and stack.redis is not None
    return {
        "MLflow server": [server.pid],
        "MLflow client": [drivers["MLflow"].process.pid],
        "Modelyard server": [stack.metadata.pid, stack.registry.pid, stack.deploy.pid],
        "Modelyard client": [drivers["Modelyard"].process.pid],
        "stores": [stack.postgres.pid, stack.seaweedfs.pid, stack.redis.pid],
    }


def start_drivers(own: Any, stack: Stack, server: MlflowServer, python: Path, root: Path) -> dict[str, DriverProcess]:
    for system in SYSTEMS:
        (root / system).mkdir()
    # As in MLflow's activated environment (``mlflow models serve`` runs ``uvicorn`` from PATH),
    # with a connection pool as large as the most threads a case runs (MLflow's default is 10).
    env = {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_HTTP_POOL_MAXSIZE": str(max(ALIAS_THREADS)),
    }
    mlflow = DriverProcess(
        "MLflow", python, HERE / "_mlflow_driver.py", {"folder": str(root / "MLflow")}, env, root / "MLflow.log"
    )
    assert stack.deploy is not None
    config = {
        "metadata": stack.metadata.target,
        "registry": stack.registry.target,
        "deploy": stack.deploy.target,
        "folder": str(root / "Modelyard"),
    }
    modelyard = DriverProcess(
        "Modelyard",
        Path(sys.executable),
        HERE / "_modelyard_driver.py",
        config,
        dict(os.environ),
        root / "Modelyard.log",
    )
    return {"MLflow": own.enter_context(mlflow), "Modelyard": own.enter_context(modelyard)}


def main() -> int:
    parser = arguments(__doc__, "1,000 versions, 32 MiB, 2 s per case, one repetition", None)
    parser.add_argument("--versions", type=int, help="versions searched at the end (default 10000; 1000 first)")
    parser.add_argument("--artifact-mib", type=int, help="size of the file uploaded and downloaded (default 256)")
    parser.add_argument("--seconds", type=float, help="measured seconds per case and system (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each (default 1)")
    parser.add_argument("--transfers", type=int, help="uploads and downloads per system (default 3)")
    parser.add_argument("--deploys", type=int, help="register-to-prediction rounds per system (default 3)")
    parser.add_argument("--mlflow-venv", type=Path, default=ROOT / ".bench" / "mlflow-venv", help="MLflow's venv")
    parser.add_argument("--busy-pct", type=float, default=BUSY_PCT, help="other load that makes a case busy")
    parser.add_argument("--write-docs", action="store_true", help=f"write the figures into {DOCS.relative_to(ROOT)}")
    parser.add_argument("--allow-busy", action="store_true", help="with --write-docs: write busy figures, marked")
    args = parser.parse_args()
    args.versions = args.versions or (1_000 if args.quick else 10_000)
    args.artifact_mib = args.artifact_mib or (32 if args.quick else 256)
    args.seconds = args.seconds or (2.0 if args.quick else 5.0)
    args.transfers = args.transfers or (1 if args.quick else 3)
    args.deploys = args.deploys or (1 if args.quick else 3)

    python, version = mlflow_python(args.mlflow_venv)
    began = time.monotonic()
    info = run_info("bench/peers/bench_peers.py", ("grpcio", "scikit-learn"), mlflow=version)
    info |= {"mlflow_workers": WORKERS, "commit": commit()}
    print_header(
        info,
        f"{args.versions:,} versions, {args.artifact_mib} MiB, {args.seconds:g} s per case and system",
        "both systems' servers, their drivers, Postgres, SeaweedFS and Redis",
    )
    deploy_settings = {"ready_timeout_seconds": "60", "replica_stop_grace_seconds": "5"}
    with (
        scratch("modelyard-bench-peers-", args.keep) as root,
        platform_stack(root, {}, deploy_settings, durable=True, cache=True) as stack,
        processes("MLflow and the drivers") as own,
    ):
        dsn = stack.postgres.create_database("mlflow")
        server = own.enter_context(MlflowServer(root / "mlflow", python, dsn, stack.seaweedfs, BUCKET))
        print(f"mlflow server {server.url} pid {server.pid}", flush=True)
        drivers = start_drivers(own, stack, server, python, root)
        for driver in drivers.values():
            driver.call("prepare", threads=CREATE_THREADS)
        meter = LoadMeter(parties(stack, server, drivers))
        with meter.window() as load:
            time.sleep(3)
        info["background_load_pct"] = round(load.other_pct, 1)
        print(f"other load before the cases: {load.other_pct:.1f} % of the machine\n", flush=True)
        run, seeding = run_cases(args, drivers, meter, root)
    info["seeding_s"] = seeding
    info["run_minutes"] = round((time.monotonic() - began) / 60, 1)
    print(f"\nthe run took {info['run_minutes']} min, seeding included")

    found = rows(run.figures, args.busy_pct)
    print("\nSide by side (faster: the better system and its ratio on p50 for one thread, calls/s for several,")
    print("MiB/s for transfers, median seconds for the first prediction)")
    print_aligned(HEADERS, terminal_rows(found), numeric={1, 2, 4})
    print("\nCPU per call, ms: server + client + stores (Postgres, SeaweedFS, Redis), warm-up included")
    print_aligned(CPU_HEADERS, cpu_rows(run.figures), numeric={1, 2})
    write_json(args.json, info, [], figures=[f.as_json() for f in run.figures])
    if disagreements := run.disagreements():
        print("\nThe systems did not answer alike, so these figures compare different work:")
        print("\n".join(f"  {d}" for d in disagreements))
        return 1
    if args.write_docs:
        try:
            refuse_busy(found, args.busy_pct, args.allow_busy)
        except BusyRunError as exc:
            print(f"\n{exc}")
            return 1
        DOCS.write_text(
            replace_generated(DOCS.read_text(), generated(info, found, cpu_rows(run.figures), args.busy_pct))
        )
        print(f"\nwrote the figures into {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
