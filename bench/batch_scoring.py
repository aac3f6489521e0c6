"""Benchmark of batch scoring jobs: throughput beside the model called directly in one process,
and the memory of the job's driver and workers as the input grows.

Usage::

    .venv/bin/python bench/batch_scoring.py                      # 1 M rows, then 100 k and 10 M for memory
    .venv/bin/python bench/batch_scoring.py --quick              # 200 k rows; memory at 100 k and 1 M
    ... --rows N --small-rows N --large-rows N --features N --chunk-rows N --workers N --json out.json

Starts everything in a temporary folder and removes it at the end: Postgres (not durable),
SeaweedFS, the metadata, registry and deploy services. The model is a scikit-learn
HistGradientBoostingClassifier (``--features`` features, 100 trees of 31 leaves) saved with
skops; each input is a Parquet file of an int64 key and float64 features, pushed as a dataset.

- throughput: a job over ``--rows`` rows (``--workers`` predictor processes, ``--chunk-rows``),
  from CreateJob to SUCCEEDED: reading the input, the pipes, the part files, merging them and
  registering the output (uploaded through the registry) are all counted. The baseline is the
  same estimator's ``predict`` and ``predict_proba`` (the two outputs the job writes) on the
  same rows already in memory, in this process, at once: the model alone, best case. The ratio
  is baseline time / job time (>= 0.8 targeted). Workers run in parallel, the baseline on
  whatever threads scikit-learn's OpenMP gives it (every core).
- memory: peak RSS (VmHWM) of the deploy service (the driver, since its start) after a job of
  ``--small-rows`` rows, after the throughput job and after one of ``--large-rows`` rows, and
  the highest peak RSS of a worker process seen in each job (sampled every 50 ms). The driver
  holds up to ``2 * workers + 1`` chunks at once (one at each worker, ``workers`` queued, one
  being read), so a job of a single chunk (100 k rows) needs less than one that fills that
  pipeline; from then on memory follows the chunk size, not the input's: the targets compare
  the large job with the throughput job.

"other load" is CPU used on the machine by processes outside the benchmark while a case ran.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import pyarrow.parquet
import skops.io
from sklearn.ensemble import HistGradientBoostingClassifier

import modelyard
from modelyard import JobState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._cpu import CpuMeter
from bench._machine import other_load_cell
from bench._report import Check, print_aligned, print_targets, write_json
from bench._run import arguments, measure_background_load, print_header, run_info, scratch
from bench._stack import platform_stack

TARGETS = {"throughput_ratio": 0.8, "memory_growth": 1.25}
_BLOCK = 250_000
_WORKER = b"modelyard_serving.batch"
# What a HistGradientBoostingClassifier's skops file holds beyond skops' defaults.
TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def _features(rows: int, features: int, seed: int) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).normal(size=(rows, features))


def _write_input(path: Path, rows: int, features: int) -> None:
    """``rows`` rows written block by block (the benchmark's own memory stays flat too)."""
    writer: pyarrow.parquet.ParquetWriter | None = None
    try:
        for start in range(0, rows, _BLOCK):
            count = min(_BLOCK, rows - start)
            x = _features(count, features, seed=start)
            table = pyarrow.table(
                {"id": np.arange(start, start + count, dtype=np.int64), **{f"f{i}": x[:, i] for i in range(features)}}
            )
            if writer is None:
                writer = pyarrow.parquet.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _status_kib(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class WorkerPeaks:
    """The highest VmHWM of any predictor worker process, sampled every 50 ms meanwhile."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                with contextlib.suppress(OSError):
                    if _WORKER in (entry / "cmdline").read_bytes():
                        self.peak_kib = max(self.peak_kib, _status_kib(int(entry.name), "VmHWM"))

    def __enter__(self) -> WorkerPeaks:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Run:
    rows: int
    seconds: float
    driver_peak_mib: float
    worker_peak_mib: float
    other_load: float


def _job(client: modelyard.Client, model: str, dataset: str, args: Any, deploy_pid: int, meter: CpuMeter) -> Run:
    with meter.window() as window, WorkerPeaks() as workers:
        started = time.perf_counter()
        job = client.create_job(
            model,
            dataset=dataset,
            key="id",
            output=f"{dataset.partition(':')[0]}-scores",
            chunk_rows=args.chunk_rows,
            workers=args.workers,
            trusted_types=TRUSTED,
        )
        done = client.wait_job(job.id, timeout=3600)
        seconds = time.perf_counter() - started
    if done.state is not JobState.SUCCEEDED:
        raise SystemExit(f"job {done.id} is {done.state}: {done.error}")
    return Run(
        done.rows_done,
        seconds,
        _status_kib(deploy_pid, "VmHWM") / 1024,
        workers.peak_kib / 1024,
        window.other_pct,
    )


def main() -> None:
    parser = arguments(__doc__ or "", "200 k rows; memory at 100 k and 1 M rows", None)
    parser.add_argument("--rows", type=int, help="rows of the throughput job  [default: 1000000]")
    parser.add_argument("--small-rows", type=int, default=100_000, help="rows of the small memory job")
    parser.add_argument("--large-rows", type=int, help="rows of the large memory job  [default: 10000000]")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = args.rows or (200_000 if args.quick else 1_000_000)
    large = args.large_rows or (1_000_000 if args.quick else 10_000_000)
    info = run_info(
        "bench/batch_scoring.py", ["scikit-learn", "pyarrow", "numpy"], rows=rows, small_rows=args.small_rows,
        large_rows=large, features=args.features, chunk_rows=args.chunk_rows, workers=args.workers,
    )  # fmt: skip
    print_header(info, f"{rows} rows, {args.features} features, chunks of {args.chunk_rows}, "
                 f"{args.workers} workers", "the services, the workers and this process")  # fmt: skip
    measure_background_load(info)
    with scratch("modelyard-bench-jobs-", args.keep) as root:
        x = _features(50_000, args.features, seed=2**31)
        estimator = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(x, x[:, 0] + x[:, 1] > 0)
        (root / "model").mkdir()
        skops.io.dump(estimator, root / "model" / "model.skops")
        with platform_stack(root, {}, {"jobs_poll_seconds": "0.2"}) as stack:
            assert stack.deploy is not None
            meter = CpuMeter(stack.parties())
            with modelyard.connect(
                stack.metadata.target, registry=stack.registry.target, deploy=stack.deploy.target, actor="bench"
            ) as client:
                client.create_project("bench")
                model = client.push("bench/hgb", root / "model", framework="sklearn", payload_format="skops").reference
                datasets = {}
                for n in dict.fromkeys([args.small_rows, rows, large]):
                    path = root / f"input-{n}.parquet"
                    _write_input(path, n, args.features)
                    client.create_dataset(f"bench/input-{n}")
                    datasets[n] = client.push_dataset(f"bench/input-{n}", path).reference
                    path.unlink()
                print("scoring", flush=True)
                small = _job(client, model, datasets[args.small_rows], args, stack.deploy.pid, meter)
                throughput = _job(client, model, datasets[rows], args, stack.deploy.pid, meter)
                big = _job(client, model, datasets[large], args, stack.deploy.pid, meter)
        baseline_x = np.concatenate(
            [_features(min(_BLOCK, rows - start), args.features, seed=start) for start in range(0, rows, _BLOCK)]
        )
        started = time.perf_counter()
        estimator.predict(baseline_x)
        estimator.predict_proba(baseline_x)
        baseline = time.perf_counter() - started

    ratio = baseline / throughput.seconds
    print("\nThroughput")
    print_aligned(
        ["case", "rows", "seconds", "rows/s", "other load %"],
        [
            ["in-process predict + predict_proba", str(rows), f"{baseline:.2f}", f"{rows / baseline:,.0f}", "-"],
            [
                "job (create to SUCCEEDED)",
                str(rows),
                f"{throughput.seconds:.2f}",
                f"{rows / throughput.seconds:,.0f}",
                other_load_cell(throughput.other_load),
            ],
        ],
        numeric={1, 2, 3, 4},
    )
    print("\nMemory (peak RSS, MiB)")
    print_aligned(
        ["job rows", "seconds", "driver (deploy service)", "worker (highest)", "other load %"],
        [
            [
                str(r.rows),
                f"{r.seconds:.1f}",
                f"{r.driver_peak_mib:.0f}",
                f"{r.worker_peak_mib:.0f}",
                other_load_cell(r.other_load),
            ]
            for r in (small, big)
        ],
        numeric={0, 1, 2, 3},
    )
    driver_growth = big.driver_peak_mib / throughput.driver_peak_mib
    worker_growth = big.worker_peak_mib / throughput.worker_peak_mib
    checks = [
        Check(f"job / in-process throughput >= {TARGETS['throughput_ratio']}", f"{ratio:.2f}", ratio >= 0.8),
        Check(f"driver peak RSS {large} / {rows} rows <= {TARGETS['memory_growth']}",
              f"{driver_growth:.2f}", driver_growth <= TARGETS["memory_growth"]),
        Check(f"worker peak RSS {large} / {rows} rows <= {TARGETS['memory_growth']}",
              f"{worker_growth:.2f}", worker_growth <= TARGETS["memory_growth"]),
    ]  # fmt: skip
    print_targets(checks)
    write_json(args.json, info, checks, baseline_seconds=baseline, runs=[r.__dict__ for r in (small, throughput, big)])


if __name__ == "__main__":
    main()
