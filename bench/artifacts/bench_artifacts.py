"""Benchmark of artifact bytes: upload and download through the registry beside boto3 direct to S3.

Usage::

    .venv/bin/python bench/artifacts/bench_artifacts.py             # 64 MiB x3 and 1 GiB x2, ~1.5 minutes
    .venv/bin/python bench/artifacts/bench_artifacts.py --quick     # 64 MiB and 256 MiB
    ... --sizes 64M,1G --repeat N --json out.json --profile DIR --set part_size_mib=16

Starts everything in a temporary folder and removes it at the end: Postgres (not durable: the
bytes go to S3, Postgres only records a few rows per 8 MiB part), SeaweedFS (one ``weed server`` with
its S3 gateway), a metadata service (no Redis) and a registry service with its default settings.

Each file is written to the temporary folder first (random content: a 1 MiB block from
os.urandom, each MiB with its own 16-byte prefix), so both paths read it from the page cache.
For each repetition the first bytes change, so that the registry never deduplicates a measured
upload; the file's SHA-256 is computed beforehand (its time is reported, not counted).

- direct: boto3 ``upload_file`` / ``download_file`` with a TransferConfig of 8 MiB parts and 8
  threads, to and from the same SeaweedFS bucket the registry uses.
- registry: the generated stubs on one gRPC channel. Upload: a header with the SHA-256, then
  1 MiB chunks read lazily from the file, then CommitUpload (counted: the version is READY only
  then), each to a fresh version. Download: the SDK's ``Client.pull`` (StatArtifact,
  DownloadFile written to a ``.part`` file and hashed on a second thread, digest check,
  rename): what a user runs.
- receive only (not a target): DownloadFile with the chunks dropped, no file and no hash, to
  tell what the registry serves from what the client does with the bytes.
- dedup re-upload: the last content once more, to a fresh version: the server answers from the
  header's SHA-256 without reading the chunks.

Direct and registry alternate which goes first, and the disks are synced before each
transfer (outside the timing), so the page cache write-back of one case does not land in the
next. During each transfer a thread samples VmRSS of the registry, the client (this process) and
SeaweedFS every 50 ms; CPU seconds of every process come from /proc/<pid>/stat.

Client, registry, metadata, SeaweedFS and Postgres share one machine: whatever CPU the client
or SeaweedFS uses is taken from the registry and the other way round.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench._cpu import CpuMeter
from bench._profile import Profiler
from bench._report import print_targets, write_json
from bench._run import arguments, measure_background_load, print_header, run_info, scratch
from bench._stack import BUCKET, Stack, platform_stack
from bench.artifacts._files import CHUNK, GiB, MiB, make_file, mark, parse_size, sha256_file, size_label
from bench.artifacts._paths import DIRECT_PART, DIRECT_THREADS, MODEL, Direct, ThroughRegistry
from bench.artifacts._tables import cases_json, print_report, rows_of, targets
from bench.artifacts._transfers import Sample, Transfers, status_kib
from modelyard_registry.settings import RegistrySettings

WARMUP_SIZE = 8 * MiB


LAYERS = (
    ("sha256 of the content (libcrypto via ctypes, domain/digest.py)", ("modelyard_registry/domain/digest.py",)),
    ("part writer (domain/multipart.py)", ("modelyard_registry/domain/multipart.py",)),
    ("download read-ahead and slicing (domain/downloads.py)", ("modelyard_registry/domain/downloads.py",)),
    ("servicer (api/)", ("modelyard_registry/api/",)),
    ("asyncpg + storage/postgres.py", ("asyncpg/", "modelyard_registry/storage/postgres.py")),
    ("botocore/urllib3/http.client (signing sha256, crc32, HTTP)", ("botocore/", "boto3/", "urllib3/", "http/client")),
    ("storage/s3.py", ("modelyard_registry/storage/s3.py",)),
    ("other registry code", ("modelyard_registry/",)),
    ("protobuf runtime", ("google/protobuf/",)),
    ("interceptor, metrics", ("modelyard_common/", "prometheus_client/")),
    ("grpc Python layer", ("grpc/",)),
    ("thread pool plumbing", ("concurrent/futures/", "threading.py", "queue.py")),
    ("event loop + C callbacks (grpc core, sockets)", ("asyncio/", "selectors.py")),
)


def registry_settings_in_effect(overrides: dict[str, str]) -> dict[str, Any]:
    names = (
        "part_size_mib",
        "parts_in_flight",
        "s3_threads",
        "download_read_size_mib",
        "download_read_ahead",
        "db_pool_max",
    )
    fields = RegistrySettings.model_fields
    return {name: overrides.get(name, fields[name].default) for name in names}


def run_bench(args: argparse.Namespace, stack: Stack, info: dict[str, Any]) -> list[Sample]:
    direct = Direct(stack.seaweedfs, BUCKET)
    registry = ThroughRegistry(stack.registry, stack.metadata)
    meter = Transfers(
        CpuMeter(stack.parties(), loops=("registry",)),
        {"registry": stack.registry.pid, "client": os.getpid(), "seaweedfs": stack.seaweedfs.pid},
    )
    files = stack.root / "files"
    files.mkdir()
    downloaded = files / "downloaded"
    info["registry_rss_idle_mib"] = round(status_kib(stack.registry.pid, "VmRSS") / 1024, 1)
    try:
        registry.client.create_project("bench")
        registry.client.create_model(MODEL)

        # Warm-up, not recorded: connections, thread pools, imports on both paths.
        source = files / "warmup.bin"
        make_file(source, WARMUP_SIZE, seed=0)
        sha, _ = sha256_file(source)
        reference = registry.new_version()
        direct.upload(source, "direct/warmup")
        registry.upload(reference, source, WARMUP_SIZE, sha)
        direct.download("direct/warmup", downloaded, WARMUP_SIZE)
        registry.download(reference, downloaded, WARMUP_SIZE, sha)
        downloaded.unlink()
        source.unlink()
        info["registry_rss_after_warmup_mib"] = round(status_kib(stack.registry.pid, "VmRSS") / 1024, 1)

        info["hash_beforehand"] = {}
        for index, size in enumerate(args.sizes, start=1):
            source = files / f"source-{index}.bin"
            took = make_file(source, size, seed=index)
            repeat = args.repeat or (3 if size < 512 * MiB else 2)
            print(f"\n{size_label(size)}: file written in {took:.2f} s; {repeat} repetitions", flush=True)
            hashes = []
            for rep in range(1, repeat + 1):
                mark(source, index, rep)
                sha, hash_s = sha256_file(source)
                hashes.append(hash_s)
                key = f"direct/{index}-{rep}"
                reference = registry.new_version()
                uploads: list[tuple[str, Callable[[], dict[str, float]]]] = [
                    ("direct", partial(direct.upload, source, key)),
                    ("registry", partial(registry.upload, reference, source, size, sha)),
                ]
                downloads: list[tuple[str, Callable[[], dict[str, float]]]] = [
                    ("direct", partial(direct.download, key, downloaded, size)),
                    ("registry", partial(registry.download, reference, downloaded, size, sha)),
                ]
                if rep % 2 == 0:  # alternate who goes first
                    uploads.reverse()
                    downloads.reverse()
                for path, transfer in uploads:
                    meter.run("upload", path, size, rep, transfer)
                for path, transfer in downloads:
                    meter.run("download", path, size, rep, transfer)
                    downloaded.unlink()
                meter.run("receive only", "registry", size, rep, partial(registry.receive, reference, size))
            info["hash_beforehand"][size_label(size)] = {
                "seconds": round(statistics.median(hashes), 3),
                "mib_s": round(size / MiB / statistics.median(hashes), 1),
            }
            print(
                f"  sha256 beforehand (client, not counted): {statistics.median(hashes):.3f} s "
                f"({size / MiB / statistics.median(hashes):,.0f} MiB/s)",
                flush=True,
            )
            # The last repetition's content once more, to a fresh version: known, so not sent.
            reference = registry.new_version()
            meter.run(
                "dedup re-upload",
                "registry",
                size,
                1,
                partial(registry.upload, reference, source, size, sha, dedup=True),
            )
            if index == len(args.sizes):  # the measured transfers are over
                info["registry_vmhwm_mib"] = round(status_kib(stack.registry.pid, "VmHWM") / 1024, 1)
                info["seaweedfs_vmhwm_mib"] = round(status_kib(stack.seaweedfs.pid, "VmHWM") / 1024, 1)
                if args.profile:
                    info["profile"] = profile(args, stack, registry, source, size, index)
            source.unlink()
    finally:
        registry.close()
    return meter.samples


def profile(
    args: argparse.Namespace, stack: Stack, registry: ThroughRegistry, source: Path, size: int, index: int
) -> dict[str, list[str]]:
    """One more upload and download of ``source`` under py-spy (not counted: py-spy costs CPU).

    Without --native, py-spy cannot tell a thread blocked in C (a lock, a socket) from a busy
    one; the per-thread CPU figures of the table are the firmer measure."""
    profiler = Profiler.create(args.profile, LAYERS, args.native)
    if profiler is None:
        return {}
    mark(source, index, 1000)
    sha, _ = sha256_file(source)
    reference = registry.new_version()
    target = stack.root / "files" / "profiled"
    summaries = {}
    transfers: list[tuple[str, Callable[[], dict[str, float]]]] = [
        ("upload", partial(registry.upload, reference, source, size, sha)),
        ("download", partial(registry.download, reference, target, size, sha)),
    ]
    for name, transfer in transfers:
        os.sync()
        label = size_label(size)
        raw_name = f"registry-{name}-{label.replace(' ', '')}"
        with profiler.record(stack.registry.pid, raw_name, f"the registry, {name} of {label}") as summaries[name]:
            transfer()
    target.unlink(missing_ok=True)
    return summaries


def main() -> int:
    parser = arguments(__doc__, "sizes 64M,256M", "one more registry upload and download of the largest size")
    parser.add_argument("--sizes", help="comma-separated file sizes, e.g. 64M,1G (default 64M,1G)")
    parser.add_argument("--repeat", type=int, help="repetitions per size (default 3 below 512 MiB, else 2)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a registry setting, e.g. part_size_mib=16"
    )
    args = parser.parse_args()
    args.sizes = [parse_size(s) for s in (args.sizes or ("64M,256M" if args.quick else "64M,1G")).split(",")]
    overrides = dict(item.split("=", 1) for item in args.set)

    info = run_info(
        "bench/artifacts/bench_artifacts.py",
        ("grpcio", "protobuf", "boto3", "botocore"),
        sizes=[size_label(s) for s in args.sizes],
        direct={"part_mib": DIRECT_PART // MiB, "threads": DIRECT_THREADS},
        registry_settings=registry_settings_in_effect(overrides),
        grpc_chunk_mib=CHUNK // MiB,
    )
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        weed = subprocess.run(
            [str(Path(sys.executable).with_name("weed")), "version"], capture_output=True, text=True, timeout=10
        )
        info["seaweedfs"] = weed.stdout.split("\n", 1)[0].strip()
    print_header(
        info,
        f"sizes {', '.join(info['sizes'])}; registry settings {info['registry_settings']}",
        "client, registry, metadata, SeaweedFS and Postgres",
    )
    with scratch("modelyard-bench-artifacts-", args.keep) as root:
        free = shutil.disk_usage(root).free
        # Per size: the file, a download, and in SeaweedFS two objects per repetition; plus slack.
        needed = sum(s * (3 + 2 * (args.repeat or 3)) for s in args.sizes) + GiB
        if free < needed:
            raise SystemExit(f"{root} has {free / GiB:.1f} GiB free; this run needs about {needed / GiB:.1f} GiB")
        with platform_stack(root, overrides) as stack:
            print(
                f"postgres (not durable) pid {stack.postgres.pid}, seaweedfs pid {stack.seaweedfs.pid} "
                f"({stack.seaweedfs.endpoint}), metadata {stack.metadata.target} pid {stack.metadata.pid}, "
                f"registry {stack.registry.target} pid {stack.registry.pid}",
                flush=True,
            )
            measure_background_load(info)
            samples = run_bench(args, stack, info)

    rows = rows_of(samples)
    print(
        f"\nregistry RSS: {info['registry_rss_idle_mib']} MiB idle, {info['registry_rss_after_warmup_mib']} MiB "
        f"after the warm-up, VmHWM {info['registry_vmhwm_mib']} MiB at the end; "
        f"SeaweedFS VmHWM {info['seaweedfs_vmhwm_mib']} MiB\n"
    )
    print_report(rows)
    checks = targets(rows, args.sizes)
    print_targets(checks)
    write_json(args.json, info, checks, cases=cases_json(rows), samples=[s.as_json() for s in samples])
    return 0


if __name__ == "__main__":
    sys.exit(main())
