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
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import grpc
from boto3.s3.transfer import TransferConfig

import modelyard
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded import EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess
from modelyard_registry.settings import RegistrySettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _measure import (
    background_load,
    cpu_model,
    cpu_seconds,
    find_py_spy,
    machine_ticks,
    print_aligned,
    py_spy_record,
    summarize_profile,
)
from _stack import BUCKET, Stack, platform_stack

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = 1 * MiB
ACTOR = (("modelyard-actor", "bench"),)
MODEL = "bench/artifacts"
FILE_PATH = "model.bin"
DIRECT_PART = 8 * MiB
DIRECT_THREADS = 8
RSS_INTERVAL = 0.05
WARMUP_SIZE = 8 * MiB

TARGETS = {
    "upload_ratio": 0.9,
    "download_ratio": 0.6,
    "rss_growth": 1.5,
    "rss_share_of_file": 0.5,
}


# --- machine ---------------------------------------------------------------------------------


def main_thread_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process's main thread: a Python service's event loop."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM), in KiB; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class RssSampler:
    """Samples VmRSS of some processes every ``interval`` seconds in a thread; keeps each maximum."""

    def __init__(self, pids: dict[str, int], interval: float = RSS_INTERVAL) -> None:
        self._pids = pids
        self._interval = interval
        self.peak_kib = dict.fromkeys(pids, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        for name, pid in self._pids.items():
            self.peak_kib[name] = max(self.peak_kib[name], status_kib(pid, "VmRSS"))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


# --- files -------------------------------------------------------------------------------------


def make_file(path: Path, size: int, seed: int) -> float:
    """Writes ``size`` bytes of random-looking content: one os.urandom MiB, each MiB with its own
    16-byte prefix (seed, index), so no two MiB of any file are alike. Returns the seconds taken."""
    started = time.perf_counter()
    block = memoryview(os.urandom(CHUNK))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        index = 0
        while written < size:
            n = min(CHUNK, size - written)
            piece = [struct.pack("<QQ", seed, index), block[16:]] if n == CHUNK else [bytes(block[:n])]
            os.writev(fd, piece)
            written += n
            index += 1
    finally:
        os.close(fd)
    return time.perf_counter() - started


def mark(path: Path, seed: int, repetition: int) -> None:
    """Rewrites the file's first 16 bytes, so each repetition uploads content never seen before."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, struct.pack("<QQ", seed, (1 << 63) | repetition), 0)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> tuple[str, float]:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as f:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest(), time.perf_counter() - started


def parse_size(text: str) -> int:
    """'64M', '64MiB', '1G', '1GiB' or a bare number of MiB."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = MiB
    if value.endswith("G"):
        value, scale = value[:-1], GiB
    elif value.endswith("M"):
        value = value[:-1]
    size = int(float(value) * scale)
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive size")
    return size


def size_label(size: int) -> str:
    if size % GiB == 0:
        return f"{size // GiB} GiB"
    return f"{size / MiB:g} MiB"


# --- the two paths -----------------------------------------------------------------------------


class Direct:
    """Plain boto3 managed transfers, to the bucket the registry writes to (prefix ``direct/``)."""

    def __init__(self, seaweedfs: EmbeddedSeaweedFS, bucket: str) -> None:
        self.bucket = bucket
        self.s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=seaweedfs.endpoint,
            aws_access_key_id=seaweedfs.access_key,
            aws_secret_access_key=seaweedfs.secret_key,
            region_name=seaweedfs.region,
            config=botocore.config.Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=DIRECT_THREADS + 2,
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=DIRECT_PART,
            multipart_chunksize=DIRECT_PART,
            max_concurrency=DIRECT_THREADS,
            use_threads=True,
        )

    def upload(self, source: Path, key: str) -> dict[str, float]:
        self.s3.upload_file(str(source), self.bucket, key, Config=self.transfer)
        return {}

    def download(self, key: str, target: Path, size: int) -> dict[str, float]:
        self.s3.download_file(self.bucket, key, str(target), Config=self.transfer)
        if target.stat().st_size != size:
            raise RuntimeError(f"direct download of {key}: {target.stat().st_size} bytes, expected {size}")
        return {}


def upload_requests(
    reference: str, source: Path, size: int, sha256: str, sent: list[int]
) -> Iterator[registry_pb2.UploadFileRequest]:
    header = registry_pb2.UploadFileHeader(reference=reference, path=FILE_PATH, size=size, sha256=sha256)
    yield registry_pb2.UploadFileRequest(header=header)
    with source.open("rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            sent[0] += len(chunk)
            yield registry_pb2.UploadFileRequest(chunk=chunk)


class ThroughRegistry:
    """The registry's RegistryService through its generated stubs, as an SDK would call it."""

    def __init__(self, registry: ServiceProcess, metadata: ServiceProcess) -> None:
        self.channel = grpc.insecure_channel(registry.target)
        self.stub = registry_pb2_grpc.RegistryServiceStub(self.channel)
        self.client = modelyard.connect(metadata.target, registry=registry.target, actor="bench")

    def close(self) -> None:
        self.channel.close()
        self.client.close()

    def new_version(self) -> str:
        return self.client.create_version(MODEL).reference

    def upload(self, reference: str, source: Path, size: int, sha256: str, *, dedup: bool = False) -> dict[str, float]:
        sent = [0]
        started = time.perf_counter()
        response = self.stub.UploadFile(upload_requests(reference, source, size, sha256, sent), timeout=1800)
        uploaded = time.perf_counter()
        self.stub.CommitUpload(registry_pb2.CommitUploadRequest(reference=reference), metadata=ACTOR, timeout=60)
        committed = time.perf_counter()
        if response.deduplicated != dedup or response.file.sha256 != sha256 or response.file.size != size:
            raise RuntimeError(f"unexpected UploadFile answer for {reference}: {response}")
        return {
            "upload_s": uploaded - started,
            "commit_ms": (committed - uploaded) * 1000,
            "chunks_read_mib": sent[0] / MiB,
        }

    def receive(self, reference: str, size: int) -> dict[str, float]:
        """DownloadFile with the chunks dropped as they come: what the registry serves when the
        client does nothing with them (not a target; separates server from client work)."""
        responses = self.stub.DownloadFile(registry_pb2.DownloadFileRequest(reference=reference), timeout=1800)
        received = 0
        for response in responses:
            received += len(response.chunk)
        if received != size:
            raise RuntimeError(f"DownloadFile of {reference}: {received} bytes, expected {size}")
        return {}

    def download(self, reference: str, target: Path, size: int, sha256: str) -> dict[str, float]:
        """``Client.pull``, as users download: StatArtifact, DownloadFile written to a ``.part``
        file and hashed on a second thread, digest check, rename. The file then moves to
        ``target`` (a rename)."""
        into = target.with_name("pulled")
        self.client.pull(reference, into)
        pulled = into / FILE_PATH
        if pulled.stat().st_size != size:  # the digest was checked by pull against the registry's
            raise RuntimeError(f"pull of {reference}: {pulled.stat().st_size} bytes, expected {size}")
        pulled.replace(target)
        into.rmdir()
        return {}


# --- measurement -------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    """upload, download, receive only or dedup re-upload."""
    path: str
    """direct or registry."""
    size: int
    repetition: int
    seconds: float
    cpu: dict[str, float]
    """CPU seconds used during the transfer, by process."""
    rss_peak_mib: dict[str, float]
    other_load: float
    """Share of all cores (%) used by processes outside the benchmark meanwhile."""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def mib_s(self) -> float:
        return self.size / MiB / self.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "size": self.size,
            "repetition": self.repetition,
            "seconds": round(self.seconds, 4),
            "mib_s": round(self.mib_s, 1),
            "cpu_s": {k: round(v, 3) for k, v in self.cpu.items()},
            "rss_peak_mib": {k: round(v, 1) for k, v in self.rss_peak_mib.items()},
            "other_load_pct": round(self.other_load, 1),
            **{k: round(v, 4) for k, v in self.extra.items()},
        }


class Meter:
    """Times one transfer, with the CPU of every process, their peak RSS and the machine's load."""

    def __init__(self, cpu_pids: dict[str, tuple[int, bool]], rss_pids: dict[str, int], loop_of: str) -> None:
        self.cpu_pids = cpu_pids
        self.rss_pids = rss_pids
        self.loop_of = loop_of
        self.samples: list[Sample] = []

    def _cpu(self) -> dict[str, float]:
        cpu = {name: cpu_seconds(pid, children) for name, (pid, children) in self.cpu_pids.items()}
        # Part of the process's figure, not in addition to it.
        cpu[f"{self.loop_of} loop"] = main_thread_cpu_seconds(self.cpu_pids[self.loop_of][0])
        return cpu

    def run(self, kind: str, path: str, size: int, repetition: int, transfer: Callable[[], dict[str, float]]) -> Sample:
        os.sync()  # earlier cases' dirty pages (SeaweedFS volumes, downloads) are written out first
        time.sleep(0.2)
        before = self._cpu()
        busy0, total0 = machine_ticks()
        with RssSampler(self.rss_pids) as rss:
            started = time.perf_counter()
            extra = transfer()
            elapsed = time.perf_counter() - started
        busy1, total1 = machine_ticks()
        after = self._cpu()
        cpu = {name: after[name] - before[name] for name in before}
        cores = os.cpu_count() or 1
        ours = sum(cpu[name] for name in self.cpu_pids) / elapsed / cores * 100
        machine = (busy1 - busy0) / max(total1 - total0, 1) * 100
        sample = Sample(
            kind,
            path,
            size,
            repetition,
            elapsed,
            cpu,
            {name: kib / 1024 for name, kib in rss.peak_kib.items()},
            max(0.0, machine - ours),
            extra,
        )
        self.samples.append(sample)
        notes = ", ".join(f"{k} {v:.3g}" for k, v in extra.items())
        print(
            f"  {path:<8} {kind:<16} {size_label(size):>8} #{repetition}: {elapsed:7.3f} s "
            f"{sample.mib_s:8.1f} MiB/s  RSS peak registry {sample.rss_peak_mib['registry']:6.1f} MiB, "
            f"client {sample.rss_peak_mib['client']:6.1f} MiB  other load {sample.other_load:3.0f}%"
            + (f"  ({notes})" if notes else ""),
            flush=True,
        )
        return sample


# --- profiling ---------------------------------------------------------------------------------


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


# --- report ------------------------------------------------------------------------------------


@dataclass
class Row:
    """One case: every repetition of one kind, path and size."""

    kind: str
    path: str
    size: int
    samples: list[Sample]

    @property
    def mib_s(self) -> float:
        return statistics.median(s.mib_s for s in self.samples)

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    def cpu_per_gib(self, party: str) -> float:
        return sum(s.cpu[party] for s in self.samples) / (sum(s.size for s in self.samples) / GiB)

    @property
    def cpu_total_per_gib(self) -> float:
        """Every process of the benchmark: on a CPU-bound machine, what sets the speed."""
        return sum(self.cpu_per_gib(p) for p in PARTIES if p != "registry loop")

    def rss_peak(self, party: str) -> float:
        return max(s.rss_peak_mib[party] for s in self.samples)

    def extra(self, key: str) -> float:
        return statistics.median(s.extra[key] for s in self.samples)

    @property
    def other_load(self) -> float:
        return max(s.other_load for s in self.samples)


def rows_of(samples: Sequence[Sample]) -> list[Row]:
    rows: dict[tuple[str, str, int], Row] = {}
    for s in samples:
        rows.setdefault((s.kind, s.path, s.size), Row(s.kind, s.path, s.size, [])).samples.append(s)
    order = {"upload": 0, "download": 1, "receive only": 2, "dedup re-upload": 3}
    return sorted(rows.values(), key=lambda r: (r.size, order[r.kind], r.path))


def ratio(rows: Sequence[Row], row: Row) -> float | None:
    """Of a registry case to the direct case of the same size ("receive only" to direct download)."""
    if row.path != "registry" or row.kind not in ("upload", "download", "receive only"):
        return None
    kind = "download" if row.kind == "receive only" else row.kind
    base = next((r for r in rows if (r.kind, r.path, r.size) == (kind, "direct", row.size)), None)
    return row.mib_s / base.mib_s if base else None


PARTIES = ("client", "registry", "registry loop", "seaweedfs", "postgres", "metadata")
"""CPU columns; "registry loop" is the registry's event-loop thread, part of "registry"."""


def print_report(rows: Sequence[Row]) -> None:
    headers = ["case", "size", "n", "MiB/s (median)", "min-max", "vs direct", "registry RSS peak MiB"]
    headers += ["client RSS peak MiB", *(f"CPU s/GiB {p}" for p in PARTIES), "CPU s/GiB all", "other load %"]
    table = []
    for r in rows:
        rate = ratio(rows, r)
        speeds = [s.mib_s for s in r.samples]
        is_dedup = r.kind == "dedup re-upload"
        table.append(
            [
                f"{r.path} {r.kind}",
                size_label(r.size),
                str(len(r.samples)),
                f"{r.seconds * 1000:.0f} ms" if is_dedup else f"{r.mib_s:,.1f}",
                "" if is_dedup else f"{min(speeds):,.0f}-{max(speeds):,.0f}",
                f"{rate:.2f}x" if rate is not None else "",
                f"{r.rss_peak('registry'):.0f}" if r.path == "registry" else "-",
                f"{r.rss_peak('client'):.0f}",
                *("" if is_dedup else f"{r.cpu_per_gib(p):.2f}" for p in PARTIES),
                "" if is_dedup else f"{r.cpu_total_per_gib:.2f}",
                f"{r.other_load:.0f}",
            ]
        )
    print_aligned(headers, table, numeric=set(range(1, len(headers))))


def targets(rows: Sequence[Row], sizes: Sequence[int]) -> list[tuple[str, str, bool]]:
    checks = []
    for kind, key in (("upload", "upload_ratio"), ("download", "download_ratio")):
        for size in sizes:
            row = next((r for r in rows if (r.kind, r.path, r.size) == (kind, "registry", size)), None)
            rate = ratio(rows, row) if row else None
            if row is None or rate is None:
                continue
            floor = TARGETS[key]
            checks.append(
                (
                    f"{kind} {size_label(size)} through the registry >= {floor:g}x direct",
                    f"{rate:.2f}x ({row.mib_s:,.0f} MiB/s)",
                    rate >= floor,
                )
            )
    small, large = min(sizes), max(sizes)
    if small != large:
        peaks = {}
        for size in (small, large):
            peaks[size] = max(r.rss_peak("registry") for r in rows if r.path == "registry" and r.size == size)
        growth = peaks[large] / peaks[small]
        checks.append(
            (
                f"registry RSS flat: peak at {size_label(large)} <= {TARGETS['rss_growth']:g}x peak at "
                f"{size_label(small)}",
                f"{peaks[large]:.0f} vs {peaks[small]:.0f} MiB ({growth:.2f}x)",
                growth <= TARGETS["rss_growth"],
            )
        )
        share = peaks[large] * MiB / large
        checks.append(
            (
                f"registry RSS well below the file: peak at {size_label(large)} < "
                f"{TARGETS['rss_share_of_file']:.0%} of it",
                f"{share:.0%}",
                share < TARGETS["rss_share_of_file"],
            )
        )
    return checks


# --- the run -----------------------------------------------------------------------------------


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
    meter = Meter(
        {
            "client": (os.getpid(), False),
            "registry": (stack.registry.pid, False),
            "seaweedfs": (stack.seaweedfs.pid, False),
            "postgres": (stack.postgres.pid, True),
            "metadata": (stack.metadata.pid, False),
        },
        {"registry": stack.registry.pid, "client": os.getpid(), "seaweedfs": stack.seaweedfs.pid},
        loop_of="registry",
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
    py_spy = find_py_spy()
    if py_spy is None:
        print("profile: py-spy not found (install it or set PY_SPY=/path/to/py-spy); skipped")
        return {}
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    mark(source, index, 1000)
    sha, _ = sha256_file(source)
    reference = registry.new_version()
    target = stack.root / "files" / "profiled"
    summaries = {}
    for name, transfer in (
        ("upload", lambda: registry.upload(reference, source, size, sha)),
        ("download", lambda: registry.download(reference, target, size, sha)),
    ):
        os.sync()
        raw = out_dir / f"registry-{name}-{size_label(size).replace(' ', '')}.txt"
        with py_spy_record(py_spy, stack.registry.pid, raw, args.native):
            started = time.perf_counter()
            transfer()
            took = time.perf_counter() - started
        if raw.exists():
            summaries[name] = summarize_profile(raw, LAYERS)
            print(f"\nprofile of the registry, {name} of {size_label(size)} ({took:.2f} s under py-spy; {raw}):")
            print("\n".join(summaries[name]))
    target.unlink(missing_ok=True)
    return summaries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", help="comma-separated file sizes, e.g. 64M,1G (default 64M,1G)")
    parser.add_argument("--quick", action="store_true", help="sizes 64M,256M")
    parser.add_argument("--repeat", type=int, help="repetitions per size (default 3 below 512 MiB, else 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--profile", metavar="DIR", help="profile one more registry upload and download with py-spy")
    parser.add_argument("--native", action="store_true", help="with --profile: include native frames")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a registry setting, e.g. part_size_mib=16"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = parser.parse_args()
    args.sizes = [parse_size(s) for s in (args.sizes or ("64M,256M" if args.quick else "64M,1G")).split(",")]
    overrides = dict(item.split("=", 1) for item in args.set)

    started = datetime.now(UTC)
    info: dict[str, Any] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "grpcio": importlib_metadata.version("grpcio"),
        "protobuf": importlib_metadata.version("protobuf"),
        "boto3": importlib_metadata.version("boto3"),
        "botocore": importlib_metadata.version("botocore"),
        "sizes": [size_label(s) for s in args.sizes],
        "direct": {"part_mib": DIRECT_PART // MiB, "threads": DIRECT_THREADS},
        "registry_settings": registry_settings_in_effect(overrides),
        "grpc_chunk_mib": CHUNK // MiB,
        "command": " ".join([".venv/bin/python", "bench/artifacts/bench_artifacts.py", *sys.argv[1:]]),
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        weed = subprocess.run(
            [str(Path(sys.executable).with_name("weed")), "version"], capture_output=True, text=True, timeout=10
        )
        info["seaweedfs"] = weed.stdout.split("\n", 1)[0].strip()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, Python {info['python']}")
    print(f"date: {info['date']}; sizes {', '.join(info['sizes'])}; registry settings {info['registry_settings']}")
    print("note: client, registry, metadata, SeaweedFS and Postgres share this machine\n")

    # SIGTERM ends the run like Ctrl-C does: through the finally blocks that stop every process.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix="modelyard-bench-artifacts-"))
    samples: list[Sample] = []
    try:
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
            info["background_load_pct"] = round(background_load(3.0), 1)
            print(f"background load before starting: {info['background_load_pct']}% of all cores", flush=True)
            samples = run_bench(args, stack, info)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    rows = rows_of(samples)
    print(
        f"\nregistry RSS: {info['registry_rss_idle_mib']} MiB idle, {info['registry_rss_after_warmup_mib']} MiB "
        f"after the warm-up, VmHWM {info['registry_vmhwm_mib']} MiB at the end; "
        f"SeaweedFS VmHWM {info['seaweedfs_vmhwm_mib']} MiB\n"
    )
    print_report(rows)
    for r in rows:
        if r.path == "registry" and r.kind == "upload":
            print(
                f"  registry upload {size_label(r.size)}: UploadFile {r.extra('upload_s'):.3f} s + "
                f"CommitUpload {r.extra('commit_ms'):.1f} ms (median)"
            )
        if r.kind == "dedup re-upload":
            print(
                f"  dedup re-upload {size_label(r.size)}: {r.seconds * 1000:.1f} ms in all, "
                f"{r.extra('chunks_read_mib'):.0f} MiB of chunks read by the client before the answer"
            )
    print("\nTargets")
    checks = targets(rows, args.sizes)
    print_aligned(
        ["target", "measured", "verdict"], [[t, m, "MET" if ok else "MISS"] for t, m, ok in checks], numeric={1}
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "info": info,
                    "cases": [
                        {
                            "kind": r.kind,
                            "path": r.path,
                            "size": r.size,
                            "repetitions": len(r.samples),
                            "median_seconds": round(r.seconds, 4),
                            "median_mib_s": round(r.mib_s, 1),
                            "vs_direct": None if (x := ratio(rows, r)) is None else round(x, 3),
                            "rss_peak_mib": {p: round(r.rss_peak(p), 1) for p in ("registry", "client", "seaweedfs")},
                            "cpu_s_per_gib": {
                                **{p: round(r.cpu_per_gib(p), 3) for p in PARTIES},
                                "all": round(r.cpu_total_per_gib, 3),
                            },
                        }
                        for r in rows
                    ],
                    "samples": [s.as_json() for s in samples],
                    "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in checks],
                },
                indent=2,
            )
        )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
