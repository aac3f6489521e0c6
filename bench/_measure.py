"""Measuring helpers both benchmarks share: CPU time from /proc, machine load, py-spy profiles
summarized by layer, aligned tables."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "background_load",
    "cpu_model",
    "cpu_seconds",
    "find_py_spy",
    "machine_ticks",
    "print_aligned",
    "py_spy_record",
    "summarize_profile",
]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_seconds(pid: int, with_children: bool = False) -> float:
    """User + system CPU of a process; with its children, live and exited (Postgres backends and
    the parallel query workers the postmaster forks and reaps)."""
    tick = os.sysconf("SC_CLK_TCK")

    def read(p: int) -> list[int]:
        # The command name may hold spaces and parentheses; fields start after the last ')'.
        # From there: [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime, in ticks.
        return [int(x) for x in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1:15]]

    own = read(pid)
    total = own[10] + own[11]
    if with_children:
        total += own[12] + own[13]
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == pid:
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = read(int(entry))
                if fields[0] == pid:
                    total += fields[10] + fields[11]
    return total / tick


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - fields[3] - fields[4], total


def background_load(seconds: float) -> float:
    """Share of all cores busy (in %) while the benchmark does nothing: other people's work."""
    busy0, total0 = machine_ticks()
    time.sleep(seconds)
    busy1, total1 = machine_ticks()
    return (busy1 - busy0) / max(total1 - total0, 1) * 100


def find_py_spy() -> str | None:
    beside_python = str(Path(sys.executable).parent)
    return os.environ.get("PY_SPY") or shutil.which("py-spy") or shutil.which("py-spy", path=beside_python)


@contextlib.contextmanager
def py_spy_record(py_spy: str, pid: int, out: Path, native: bool) -> Iterator[None]:
    """py-spy records ``pid`` in ``--format raw`` into ``out`` while the block runs."""
    command = [py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--output", str(out)]
    # --native needs to pause the process for each sample; without it py-spy need not.
    command += ["--native"] if native else ["--nonblocking"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # let it attach before the transfer starts
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        if process.returncode not in (0, -signal.SIGINT) and not out.exists():
            print(f"py-spy failed ({process.returncode}): {err.decode(errors='replace')[-500:]}")


def summarize_profile(raw: Path, layers_of: Sequence[tuple[str, Sequence[str]]], top: int = 12) -> list[str]:
    """Where a py-spy ``--format raw`` profile spent its samples, by layer and by function.

    ``layers_of`` names each layer and the substrings of frames that belong to it. Each sample goes
    to the layer of the innermost frame that belongs to one, so a library call made from another
    library's code counts as the caller's layer, and C code run from an event-loop callback (grpc
    core, asyncpg's protocol) counts as the event loop.
    """
    layers: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in reversed(frames):
            layer = next((name for name, keys in layers_of if any(k in frame for k in keys)), None)
            if layer:
                layers[layer] += n
                break
        else:
            layers["other"] += n
    if not samples:
        return ["    no samples"]
    lines = [f"    {samples} samples of busy threads; by layer:"]
    lines += [f"    {n / samples * 100:5.1f}%  {name}" for name, n in layers.most_common()]
    lines.append("    hottest functions (self):")
    lines += [f"    {n / samples * 100:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return lines


def print_aligned(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
