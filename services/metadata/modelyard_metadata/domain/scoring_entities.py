"""What scoring is made of: a model's score definition, its scoring tests and their runs, and the
rule that turns a run's metrics into PASSED or FAILED."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from modelyard_common.values import TASK_METRICS, ScoreDefinition, ScoreInput, ScoreTask, ScoreThreshold
from modelyard_metadata.domain.entities import MetricPoint, Stage

__all__ = [
    "STRUCTURED_METRICS",
    "TASK_METRICS",
    "ClaimedRun",
    "OpenRun",
    "RunEnding",
    "RunState",
    "ScoreDefinition",
    "ScoreInput",
    "ScoreTask",
    "ScoreThreshold",
    "ScoringRun",
    "ScoringTest",
    "Target",
    "Tick",
    "Trigger",
    "failed_thresholds",
]


# Structured values: no threshold applies to them.
STRUCTURED_METRICS = frozenset({"confusion_matrix"})


class RunState(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    ERROR = "ERROR"


class Trigger(enum.StrEnum):
    MANUAL = "manual"
    SCHEDULE = "schedule"
    VERSION_READY = "version.ready"
    ALIAS_MOVED = "alias.moved"


@dataclass(frozen=True, slots=True)
class Target:
    """Exactly one of: a version number, an alias, every new version."""

    version: int | None = None
    alias: str | None = None
    every_new_version: bool = False


@dataclass(frozen=True, slots=True)
class ScoringRun:
    id: str
    test_id: str
    test_name: str
    project: str
    model: str
    version: int | None
    dataset: str
    state: RunState
    trigger: Trigger
    requested_by: str
    created_at: datetime
    scheduled_for: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows: int = 0
    duration_seconds: float = 0.0
    metrics: tuple[MetricPoint, ...] = ()
    message: str = ""
    runner: str = ""
    attempt: int = 0
    lease_until: datetime | None = None

    @property
    def model_version(self) -> str:
        """PROJECT/MODEL:N once resolved; empty before."""
        return f"{self.project}/{self.model}:{self.version}" if self.version is not None else ""


@dataclass(frozen=True, slots=True)
class ScoringTest:
    id: str
    model_id: int
    project: str
    model: str
    name: str
    target: Target
    dataset: str
    schedule: str
    active: bool
    required_for: tuple[Stage, ...]
    description: str
    created_by: str
    created_at: datetime
    next_run_at: datetime | None = None
    last_run: ScoringRun | None = None
    trusted_types: tuple[str, ...] = ()
    """Types its runs' workers trust in skops files beyond skops' defaults."""

    @property
    def model_name(self) -> str:
        return f"{self.project}/{self.model}"


@dataclass(frozen=True, slots=True)
class Tick:
    """A scheduled test came due: its run is for ``tick`` (the latest one passed), and its
    schedule comes due next at ``next_tick``."""

    test_id: str
    tick: datetime
    next_tick: datetime


@dataclass(frozen=True, slots=True)
class RunEnding:
    """How a run ends: its final state and what it computed."""

    run_id: str
    state: RunState
    message: str
    metrics: Sequence[MetricPoint] = ()
    rows: int = 0
    duration_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class OpenRun:
    """A run to lease: its model's id, the alias to resolve (None: its version, or the latest
    READY one), and its test's trusted types (none once the test is deleted)."""

    run: ScoringRun
    model_id: int
    alias: str | None
    trusted_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    run: ScoringRun
    definition: ScoreDefinition
    attempt: int
    trusted_types: tuple[str, ...] = ()


def _shown(value: float) -> str:
    return f"{value:g}"


def failed_thresholds(thresholds: Sequence[ScoreThreshold], metrics: Sequence[MetricPoint]) -> list[str]:
    """Each threshold that does not hold, said as "accuracy 0.71 < min 0.8"; a threshold on a
    metric the run did not compute does not hold."""
    values = {m.name: m.number for m in metrics if m.number is not None}
    failed = []
    for threshold in thresholds:
        value = values.get(threshold.metric)
        if value is None:
            failed.append(f"{threshold.metric} was not computed")
            continue
        if threshold.min is not None and not value >= threshold.min:
            failed.append(f"{threshold.metric} {_shown(value)} < min {_shown(threshold.min)}")
        if threshold.max is not None and not value <= threshold.max:
            failed.append(f"{threshold.metric} {_shown(value)} > max {_shown(threshold.max)}")
    return failed
