"""What every benchmark prints and writes: aligned tables, its targets with a verdict each, and
its figures as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Check", "print_aligned", "print_targets", "write_json"]


@dataclass(frozen=True)
class Check:
    """One target: what it asks, what was measured, and whether that meets it."""

    target: str
    measured: str
    met: bool


def print_aligned(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> None:
    """A table in columns, those in ``numeric`` aligned right."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def print_targets(checks: Sequence[Check]) -> None:
    print("\nTargets")
    rows = [[c.target, c.measured, "MET" if c.met else "MISS"] for c in checks]
    print_aligned(["target", "measured", "verdict"], rows, numeric={1})


def write_json(path: Path | None, info: dict[str, Any], checks: Sequence[Check], **figures: Any) -> None:
    """The run's context, its figures and its targets into ``path``, when one was asked for."""
    if path is None:
        return
    document = {"info": info, **figures, "targets": [asdict(c) for c in checks]}
    path.write_text(json.dumps(document, indent=2))
    print(f"\nwrote {path}")
