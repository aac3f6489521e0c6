"""One measured transfer of the artifacts benchmark: its time, the CPU of every process and the
peak RSS of the registry, the client and SeaweedFS (sampled every 50 ms in a thread), and the load
of the machine outside the benchmark meanwhile."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._cpu import CpuMeter
from bench._machine import other_load_cell
from bench.artifacts._files import MiB, size_label

__all__ = ["Sample", "Transfers", "status_kib"]

RSS_INTERVAL = 0.05


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


class Transfers:
    """Measures transfers one at a time, keeping a sample of each."""

    def __init__(self, cpu: CpuMeter, rss_pids: dict[str, int]) -> None:
        self.cpu = cpu
        self.rss_pids = rss_pids
        self.samples: list[Sample] = []

    def run(self, kind: str, path: str, size: int, repetition: int, transfer: Callable[[], dict[str, float]]) -> Sample:
        os.sync()  # earlier cases' dirty pages (SeaweedFS volumes, downloads) are written out first
        time.sleep(0.2)
        with self.cpu.window() as cpu, RssSampler(self.rss_pids) as rss:
            started = time.perf_counter()
            extra = transfer()
            elapsed = time.perf_counter() - started
        sample = Sample(
            kind,
            path,
            size,
            repetition,
            elapsed,
            cpu.seconds,
            {name: kib / 1024 for name, kib in rss.peak_kib.items()},
            cpu.other_pct,
            extra,
        )
        self.samples.append(sample)
        notes = ", ".join(f"{k} {v:.3g}" for k, v in extra.items())
        print(
            f"  {path:<8} {kind:<16} {size_label(size):>8} #{repetition}: {elapsed:7.3f} s "
            f"{sample.mib_s:8.1f} MiB/s  RSS peak registry {sample.rss_peak_mib['registry']:6.1f} MiB, "
            f"client {sample.rss_peak_mib['client']:6.1f} MiB  other load {other_load_cell(sample.other_load)}%"
            + (f"  ({notes})" if notes else ""),
            flush=True,
        )
        return sample
