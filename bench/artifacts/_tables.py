"""The artifacts benchmark's report: each case's repetitions as one row (median speed, ratio to
the direct path, peak RSS, CPU seconds per GiB by process) and the registry's targets."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench._machine import other_load_cell
from bench._report import Check, print_aligned
from bench.artifacts._files import GiB, MiB, size_label
from bench.artifacts._transfers import Sample

__all__ = ["Row", "cases_json", "print_report", "rows_of", "targets"]

TARGETS = {
    "upload_ratio": 0.9,
    "download_ratio": 0.75,  # issue 17 (0.6 before)
    "rss_growth": 1.5,
    "rss_share_of_file": 0.5,
}


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
                other_load_cell(r.other_load),
            ]
        )
    print_aligned(headers, table, numeric=set(range(1, len(headers))))
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


def cases_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [
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
    ]


def targets(rows: Sequence[Row], sizes: Sequence[int]) -> list[Check]:
    checks = []
    for kind, key in (("upload", "upload_ratio"), ("download", "download_ratio")):
        for size in sizes:
            row = next((r for r in rows if (r.kind, r.path, r.size) == (kind, "registry", size)), None)
            rate = ratio(rows, row) if row else None
            if row is None or rate is None:
                continue
            floor = TARGETS[key]
            checks.append(
                Check(
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
            Check(
                f"registry RSS flat: peak at {size_label(large)} <= {TARGETS['rss_growth']:g}x peak at "
                f"{size_label(small)}",
                f"{peaks[large]:.0f} vs {peaks[small]:.0f} MiB ({growth:.2f}x)",
                growth <= TARGETS["rss_growth"],
            )
        )
        share = peaks[large] * MiB / large
        checks.append(
            Check(
                f"registry RSS well below the file: peak at {size_label(large)} < "
                f"{TARGETS['rss_share_of_file']:.0%} of it",
                f"{share:.0%}",
                share < TARGETS["rss_share_of_file"],
            )
        )
    return checks
