"""The machine's other load during each case of a benchmark, and what it means for the figures.

The machine is shared: other people's test runs may take CPU in the middle of a case. Each case
is measured in a window that reads how much of all cores was busy, less what the benchmark's own
process tree used (the script, the servers and stores it started, their workers and children).
A case whose other load passed the threshold is "busy": its figures say as much about the
neighbours as about the systems measured, so they are not written into the docs unmarked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from bench._cpu import machine_ticks, shares, tree_cpu_seconds

__all__ = ["BUSY_PCT", "Load", "LoadMeter", "busy_cases", "other_load_cell"]

BUSY_PCT = 10.0
"""Other load (% of all cores) above which a case counts as taken on a busy machine."""


@dataclass
class Load:
    """Shares of all cores (%) during a window, and CPU seconds by party, filled in when it
    closes."""

    ours_pct: float = 0.0
    """Used by the benchmark's process tree."""
    other_pct: float = 0.0
    """Used by every other process of the machine."""
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each of the meter's parties (each the trees of its processes)."""

    def busy(self, threshold: float = BUSY_PCT) -> bool:
        return self.other_pct > threshold


class LoadMeter:
    """Windows of load: this process and everything below it count as the benchmark's own, and
    ``parties`` names groups of processes (each with everything below it) whose CPU is reported
    apart, such as a server and its workers."""

    def __init__(self, parties: Mapping[str, Sequence[int]] | None = None) -> None:
        self.root = os.getpid()
        self.parties = dict(parties or {})

    def _snapshot(self) -> dict[int, float]:
        return tree_cpu_seconds({self.root, *(pid for pids in self.parties.values() for pid in pids)})

    @contextlib.contextmanager
    def window(self) -> Iterator[Load]:
        """Measures the block: the load it yields is filled in when the block ends."""
        load = Load()
        before = self._snapshot()
        machine0 = machine_ticks()
        yield load
        machine1 = machine_ticks()
        after = self._snapshot()
        load.ours_pct, load.other_pct = shares(after[self.root] - before[self.root], machine0, machine1)
        load.cpu_s = {name: sum(after[p] - before[p] for p in pids) for name, pids in self.parties.items()}


def busy_cases(loads: Mapping[str, Load], threshold: float = BUSY_PCT) -> list[str]:
    """The cases, of ``loads`` by name, taken while the machine was busy."""
    return [name for name, load in loads.items() if load.busy(threshold)]


def other_load_cell(other_pct: float, threshold: float = BUSY_PCT) -> str:
    """A case's other load (% of all cores) for a table or a line, marked "(busy)" past ``threshold``."""
    return f"{other_pct:.0f}" + (" (busy)" if other_pct > threshold else "")
