"""The frame of a benchmark run: the options every script takes, the scratch folder it works in,
and the context its figures are read in (machine, versions, command, the load before it)."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from bench._cpu import background_load

__all__ = ["arguments", "measure_background_load", "print_header", "run_info", "scratch"]


def arguments(doc: str, quick: str, profile: str | None) -> argparse.ArgumentParser:
    """A parser with the options every benchmark takes: ``quick`` and ``profile`` say what its
    --quick and --profile do (no --profile when ``profile`` is None). The script adds its own."""
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    if profile is not None:
        parser.add_argument("--profile", metavar="DIR", help=f"{profile}, with py-spy, into DIR")
        parser.add_argument("--native", action="store_true", help="with --profile: include native frames")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    return parser


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def run_info(script: str, packages: Sequence[str], **details: Any) -> dict[str, Any]:
    """The machine, the versions of ``packages`` and the command line; then ``details``."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        **{name: importlib_metadata.version(name) for name in packages},
        "command": " ".join([".venv/bin/python", script, *sys.argv[1:]]),
        **details,
    }


def print_header(info: dict[str, Any], run: str, sharing: str) -> None:
    """What the run is on: the machine, ``run`` (its date and settings), who shares the cores."""
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
        f"Python {info['python']}, kernel {info['kernel']}"
    )
    print(f"date: {info['date']}; {run}")
    print(f"note: {sharing} share this machine; figures are conservative\n")


def measure_background_load(info: dict[str, Any]) -> None:
    """How busy other people's processes keep the machine before the run starts, into ``info``."""
    info["background_load_pct"] = round(background_load(3.0), 1)
    print(f"background load before starting (other people's processes): {info['background_load_pct']}% of all cores")
    print(flush=True)


@contextlib.contextmanager
def scratch(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary folder for the run's data, removed at the end unless ``keep``. SIGTERM ends
    the run as Ctrl-C does: through the finally blocks that stop every process."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
