"""CPU accounting from /proc: the CPU time of each process of a benchmark over a measured window,
and how much of the machine processes outside the benchmark took meanwhile.

The machine is shared (other people's test runs may use CPU during a case), so every case
reports that "other load": a noisy case can then be told from a slow one.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CpuMeter",
    "CpuWindow",
    "background_load",
    "cpu_seconds",
    "machine_ticks",
    "main_thread_cpu_seconds",
    "shares",
    "tree_cpu_seconds",
]

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(stat: Path) -> list[int]:
    # The command name may hold spaces and parentheses; fields start after the last ')'.
    # From there: [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime, in ticks.
    return [int(x) for x in stat.read_text().rsplit(")", 1)[1].split()[1:15]]


def cpu_seconds(pid: int, with_children: bool = False) -> float:
    """User + system CPU of a process; with its children, live and exited (Postgres backends and
    the parallel query workers the postmaster forks and reaps, the deploy service's replicas)."""
    own = _stat_fields(Path(f"/proc/{pid}/stat"))
    total = own[10] + own[11]
    if with_children:
        total += own[12] + own[13]
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == pid:
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = _stat_fields(Path(f"/proc/{entry}/stat"))
                if fields[0] == pid:
                    total += fields[10] + fields[11]
    return total / TICK


def tree_cpu_seconds(roots: Iterable[int]) -> dict[int, float]:
    """User + system CPU of each of ``roots`` and every process below it, however deep (a
    server's workers, a driver's children), live or exited: a live process counts its own time
    and that of the children it reaped, which is where an exited one's time goes. One read of
    /proc for all of them."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = _stat_fields(Path(f"/proc/{entry}/stat"))
                children.setdefault(fields[0], []).append(int(entry))
                ticks[int(entry)] = sum(fields[10:14])
    seconds = {}
    for root in roots:
        total, pending = 0, [root]
        while pending:
            pid = pending.pop()
            total += ticks.get(pid, 0)
            pending += children.get(pid, [])
        seconds[root] = total / TICK
    return seconds


def main_thread_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process's main thread: a Python service's event loop."""
    fields = _stat_fields(Path(f"/proc/{pid}/task/{pid}/stat"))
    return (fields[10] + fields[11]) / TICK


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - fields[3] - fields[4], total


def shares(ours_seconds: float, before: tuple[int, int], after: tuple[int, int]) -> tuple[float, float]:
    """(ours %, other %): the shares of all cores that ``ours_seconds`` of CPU and every other
    process took between two readings of ``machine_ticks``."""
    ticks = max(after[1] - before[1], 1)
    ours = ours_seconds * TICK
    return ours / ticks * 100, max(0.0, (after[0] - before[0] - ours) / ticks * 100)


def background_load(seconds: float) -> float:
    """Share of all cores busy (in %) while the benchmark does nothing: other people's work."""
    busy0, total0 = machine_ticks()
    time.sleep(seconds)
    busy1, total1 = machine_ticks()
    return (busy1 - busy0) / max(total1 - total0, 1) * 100


@dataclass
class CpuWindow:
    """What a measured window cost, filled in when it closes."""

    seconds: dict[str, float] = field(default_factory=dict)
    """CPU seconds by party (and by event-loop thread, named "<party> loop")."""
    ours_pct: float = 0.0
    """Share of all cores (%) the benchmark's process tree used."""
    other_pct: float = 0.0
    """Share of all cores (%) used by processes outside the benchmark."""


class CpuMeter:
    """CPU of the benchmark's processes, each named for the tables: ``parties`` maps a name to
    (pid, with its children). ``loops`` names parties whose main thread (their event loop) is also
    reported, as "<name> loop": part of that party's figure, not in addition to it."""

    def __init__(self, parties: dict[str, tuple[int, bool]], loops: tuple[str, ...] = ()) -> None:
        self.parties = parties
        self.loops = loops

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far by party; 0 for a process that is gone."""
        cpu = {}
        for name, (pid, children) in self.parties.items():
            try:
                cpu[name] = cpu_seconds(pid, children)
            except OSError:
                cpu[name] = 0.0
        for name in self.loops:
            cpu[f"{name} loop"] = main_thread_cpu_seconds(self.parties[name][0])
        return cpu

    @contextlib.contextmanager
    def window(self) -> Iterator[CpuWindow]:
        """Measures the block: the window it yields is filled in when the block ends."""
        measured = CpuWindow()
        root = os.getpid()
        before, tree0 = self.snapshot(), tree_cpu_seconds([root])[root]
        machine0 = machine_ticks()
        yield measured
        machine1 = machine_ticks()
        after, tree1 = self.snapshot(), tree_cpu_seconds([root])[root]
        measured.seconds = {name: after[name] - before[name] for name in before}
        # Ours is this process's whole tree (as bench._machine counts it): the parties, and the
        # processes below them none names (a service's copies, a Postgres backend forked meanwhile).
        measured.ours_pct, measured.other_pct = shares(tree1 - tree0, machine0, machine1)
