"""Profiles of a benchmark's server processes: py-spy records one while a block runs, and the
samples are summarized by layer (which code of the service, which library) and by function."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["Layers", "Profiler"]

Layers = Sequence[tuple[str, Sequence[str]]]
"""Each layer's name and the substrings of the frames that belong to it, innermost layer first."""


class Profiler:
    """py-spy profiles of server processes into ``folder``, one raw file a profile, each
    summarized by ``layers`` and printed."""

    def __init__(self, py_spy: str, folder: Path, layers: Layers, native: bool) -> None:
        self.py_spy = py_spy
        self.folder = folder
        self.layers = layers
        self.native = native

    @classmethod
    def create(cls, folder: str, layers: Layers, native: bool = False) -> Profiler | None:
        """A profiler, or None (and says so) when py-spy is not installed."""
        py_spy = (
            os.environ.get("PY_SPY")
            or shutil.which("py-spy")
            or shutil.which("py-spy", path=str(Path(sys.executable).parent))
        )
        if py_spy is None:
            print("profile: py-spy not found (install it or set PY_SPY=/path/to/py-spy); skipped")
            return None
        Path(folder).mkdir(parents=True, exist_ok=True)
        return cls(py_spy, Path(folder), layers, native)

    @contextlib.contextmanager
    def record(self, pid: int, name: str, what: str) -> Iterator[list[str]]:
        """Profiles ``pid`` while the block runs into ``<name>.txt``; the list it yields holds the
        summary once the block has ended (empty when py-spy wrote nothing)."""
        raw = self.folder / f"{name}.txt"
        summary: list[str] = []
        with _py_spy_record(self.py_spy, pid, raw, self.native):
            yield summary
        if raw.exists():
            summary += _summarize(raw, self.layers)
            print(f"\nprofile of {what} ({raw}):")
            print("\n".join(summary))


@contextlib.contextmanager
def _py_spy_record(py_spy: str, pid: int, out: Path, native: bool) -> Iterator[None]:
    """py-spy records ``pid`` in ``--format raw`` into ``out`` while the block runs."""
    command = [py_spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--output", str(out)]
    # --native needs to pause the process for each sample; without it py-spy need not.
    command += ["--native"] if native else ["--nonblocking"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # let it attach before the load starts
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


def _summarize(raw: Path, layers_of: Layers, top: int = 12) -> list[str]:
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
