"""The side-by-side figures: each case's measure for both systems, which is faster and by how
much, the other load during each, and the tables they make on the terminal and in the docs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bench._load import percentile
from bench._machine import BUSY_PCT, Load

__all__ = [
    "CPU_HEADERS",
    "HEADERS",
    "Case",
    "Figure",
    "Kind",
    "Row",
    "cpu_markdown",
    "cpu_rows",
    "markdown",
    "rows",
    "terminal_rows",
]

SYSTEMS = ("MLflow", "Modelyard")


class Kind(Enum):
    """What a case measures, and so what its ratio compares."""

    LATENCY = "latency"  # calls one at a time: p50 (lower is better)
    CONCURRENT = "concurrent"  # calls from several threads: throughput (higher is better)
    TRANSFER = "transfer"  # MiB/s (higher is better)
    SECONDS = "seconds"  # one long operation, median seconds (lower is better)

    @property
    def higher_is_better(self) -> bool:
        return self in (Kind.CONCURRENT, Kind.TRANSFER)


@dataclass(frozen=True)
class Case:
    name: str
    kind: Kind


@dataclass
class Figure:
    """One system's figures for one case."""

    case: Case
    system: str
    load: Load
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    """Each call started in the measured window (latency cases)."""
    completed: int = 0
    """The calls that ended within the window (latency cases)."""
    seconds: float = 0.0
    """The window (latency cases)."""
    made: int = 0
    """Every call made in the case, warm-up included (latency cases): what its CPU went into."""
    samples_s: list[float] = field(default_factory=list)
    """Each repetition's seconds (transfer and one-long-operation cases)."""
    mib: float = 0.0
    """The size moved (transfer cases)."""
    registered_s: float | None = None
    """Median seconds until the version was registered with its artifact (first prediction)."""

    @property
    def value(self) -> float:
        """The measure the ratio compares: p50 ms, calls/s, MiB/s or median seconds."""
        if self.case.kind is Kind.LATENCY:
            return self.p(0.5)
        if self.case.kind is Kind.CONCURRENT:
            return self.per_second
        if self.case.kind is Kind.TRANSFER:
            return self.mib / statistics.median(self.samples_s)
        return statistics.median(self.samples_s)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def cpu_ms_per_call(self) -> dict[str, float]:
        """CPU per call (ms) of the system's server processes, of its client (the driver) and of
        the stores (Postgres, SeaweedFS, Redis), which only this system used meanwhile."""
        if not self.made:
            return {}
        parties = {"server": f"{self.system} server", "client": f"{self.system} client", "stores": "stores"}
        return {name: self.load.cpu_s.get(party, 0.0) * 1000 / self.made for name, party in parties.items()}

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def text(self) -> str:
        """The cell of the table."""
        kind = self.case.kind
        if kind in (Kind.LATENCY, Kind.CONCURRENT):
            return f"p50 {_ms(self.p(0.5))} / p95 {_ms(self.p(0.95))} ms, {self.per_second:,.0f}/s"
        if kind is Kind.TRANSFER:
            return f"{self.value:,.0f} MiB/s"
        registered = f", registered at {self.registered_s:.2f}" if self.registered_s is not None else ""
        return f"{self.value:.2f} s (max {max(self.samples_s):.2f}{registered})"

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "case": self.case.name,
            "system": self.system,
            "kind": self.case.kind.value,
            "value": self.value,
            "other_load_pct": round(self.load.other_pct, 1),
            "own_load_pct": round(self.load.ours_pct, 1),
        }
        if self.latencies_ms:
            document |= {"calls": len(self.latencies_ms), "p50_ms": self.p(0.5), "p95_ms": self.p(0.95)}
            document |= {"per_second": self.per_second, "cpu_ms_per_call": self.cpu_ms_per_call()}
        if self.samples_s:
            document["samples_s"] = self.samples_s
        if self.registered_s is not None:
            document["registered_s"] = self.registered_s
        return document


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


@dataclass(frozen=True)
class Row:
    """A case's line: both systems' cells, which is faster and by how much, the load."""

    case: str
    mlflow: str
    modelyard: str
    faster: str
    load: str
    busy: bool


def faster(mlflow: Figure, modelyard: Figure) -> str:
    """ "Modelyard 2.3x" or "MLflow 1.4x": the better one and its ratio on the case's measure."""
    a, b = mlflow.value, modelyard.value
    if not (a > 0 and b > 0):
        return "-"
    modelyard_wins = b > a if mlflow.case.kind.higher_is_better else b < a
    ratio = max(a, b) / min(a, b)
    return f"{'Modelyard' if modelyard_wins else 'MLflow'} {ratio:.1f}x"


def rows(figures: Sequence[Figure], threshold: float = BUSY_PCT) -> list[Row]:
    """One row per case, in the order the cases ran; a case is busy when either system's part
    of it was."""
    by_case: dict[Case, dict[str, Figure]] = {}
    for figure in figures:
        by_case.setdefault(figure.case, {})[figure.system] = figure
    found = []
    for case, pair in by_case.items():
        mlflow, modelyard = pair["MLflow"], pair["Modelyard"]
        busy = mlflow.load.busy(threshold) or modelyard.load.busy(threshold)
        load = f"{mlflow.load.other_pct:.0f} / {modelyard.load.other_pct:.0f}"
        found.append(Row(case.name, mlflow.text(), modelyard.text(), faster(mlflow, modelyard), load, busy))
    return found


HEADERS = ("operation", "MLflow", "Modelyard", "faster", "other load % (MLflow / Modelyard)")


def terminal_rows(found: Sequence[Row]) -> list[list[str]]:
    return [[r.case, r.mlflow, r.modelyard, r.faster, r.load + (" busy" if r.busy else "")] for r in found]


def markdown(found: Sequence[Row]) -> str:
    """The figures as a Markdown table; a busy case's name is marked with "(busy)"."""
    lines = ["| " + " | ".join(HEADERS) + " |", "| --- | ---: | ---: | --- | ---: |"]
    for r in found:
        name = f"{r.case} (busy)" if r.busy else r.case
        lines.append(f"| {name} | {r.mlflow} | {r.modelyard} | {r.faster} | {r.load} |")
    return "\n".join(lines) + "\n"


CPU_HEADERS = ("operation", "MLflow", "Modelyard", "less CPU")


def cpu_rows(figures: Sequence[Figure]) -> list[list[str]]:
    """CPU per call of the cases timed call by call: "server + client + stores" ms for each system,
    and which used less in all and by how much. Less sensitive to the other load than latency."""
    pairs: dict[Case, dict[str, Figure]] = {}
    for figure in figures:
        if figure.made:
            pairs.setdefault(figure.case, {})[figure.system] = figure
    found = []
    for case, pair in pairs.items():
        cells, totals = [], []
        for system in SYSTEMS:
            cpu = pair[system].cpu_ms_per_call()
            cells.append(" + ".join(_ms(cpu[k]) for k in ("server", "client", "stores")))
            totals.append(sum(cpu.values()))
        a, b = totals
        less = f"{'Modelyard' if b < a else 'MLflow'} {max(a, b) / min(a, b):.1f}x" if a > 0 and b > 0 else "-"
        found.append([case.name, *cells, less])
    return found


def cpu_markdown(found: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(CPU_HEADERS) + " |", "| --- | ---: | ---: | --- |"]
    lines += ["| " + " | ".join(row) + " |" for row in found]
    return "\n".join(lines) + "\n"
