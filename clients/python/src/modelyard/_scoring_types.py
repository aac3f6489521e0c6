"""What the SDK returns about scoring (grpc-free): score definitions, scoring tests, their runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from modelyard._types import MetricPoint, Stage, _NamedEnum

__all__ = [
    "TASK_METRICS",
    "ClaimedScoringRun",
    "ScoreDefinition",
    "ScoreInput",
    "ScoreTask",
    "ScoreThreshold",
    "ScoringRun",
    "ScoringRunPage",
    "ScoringRunState",
    "ScoringTest",
]


class ScoreTask(_NamedEnum):
    UNSPECIFIED = "UNSPECIFIED"
    CLASSIFICATION = "CLASSIFICATION"
    REGRESSION = "REGRESSION"


# The metrics a score definition may name, by task (its metrics when it names none).
TASK_METRICS: Mapping[ScoreTask, tuple[str, ...]] = {
    ScoreTask.CLASSIFICATION: ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "confusion_matrix"),
    ScoreTask.REGRESSION: ("rmse", "mae", "r2"),
}


class ScoringRunState(_NamedEnum):
    """QUEUED -> RUNNING -> PASSED (every threshold held), FAILED (one did not) or ERROR (the
    run could not score)."""

    UNSPECIFIED = "UNSPECIFIED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PASSED = "PASSED"
    FAILED = "FAILED"
    ERROR = "ERROR"

    @property
    def finished(self) -> bool:
        return self in (ScoringRunState.PASSED, ScoringRunState.FAILED, ScoringRunState.ERROR)


@dataclass(frozen=True, slots=True)
class ScoreInput:
    """The dataset ``columns`` stacked, in this order, into the model's input ``input``."""

    input: str
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoreThreshold:
    """A run passes when ``metric`` is at least ``min`` and at most ``max`` (None: no bound)."""

    metric: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class ScoreDefinition:
    """How a model (PROJECT/MODEL) is scored: see ``Client.set_score_definition``."""

    model: str
    task: ScoreTask
    inputs: tuple[ScoreInput, ...]
    label_column: str
    prediction_output: str = ""
    probability_output: str = ""
    metrics: tuple[str, ...] = ()
    average: str = ""
    positive_label: str = ""
    thresholds: tuple[ScoreThreshold, ...] = ()
    updated_by: str = ""
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScoringRun:
    """One run of a scoring test: ``model_version`` (PROJECT/MODEL:N) is empty until resolved;
    ``message`` says which thresholds failed, or why it ERRORed."""

    id: str
    test_id: str
    test_name: str
    model_version: str
    dataset: str
    state: ScoringRunState
    trigger: str
    requested_by: str = ""
    scheduled_for: datetime | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows: int = 0
    duration_seconds: float = 0.0
    metrics: tuple[MetricPoint, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class ScoringRunPage:
    """One page of runs, newest first; ``next_page_token`` ("" after the last page) asks for the
    next."""

    runs: tuple[ScoringRun, ...]
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class ScoringTest:
    """A model's scoring test: its target is one of ``version``, ``alias`` or
    ``every_new_version``; ``required_for``: the stages a version enters only once it passed."""

    id: str
    model: str
    name: str
    dataset: str
    version: int | None = None
    alias: str | None = None
    every_new_version: bool = False
    schedule: str = ""
    active: bool = True
    required_for: tuple[Stage, ...] = ()
    description: str = ""
    created_by: str = ""
    created_at: datetime | None = None
    last_run: ScoringRun | None = None
    next_run_at: datetime | None = None
    trusted_types: tuple[str, ...] = ()
    """Types its runs' workers trust in skops files beyond skops' defaults."""

    @property
    def target(self) -> str:
        """What it scores, in words: "version 3", "@champion" or "every new version"."""
        if self.version is not None:
            return f"version {self.version}"
        return f"@{self.alias}" if self.alias is not None else "every new version"


@dataclass(frozen=True, slots=True)
class ClaimedScoringRun:
    """A run leased to a runner (the deploy service), with the definition to score it by, the
    lease's ``attempt``, which its result must name, and the types its test trusts."""

    run: ScoringRun
    definition: ScoreDefinition
    attempt: int
    trusted_types: tuple[str, ...] = ()
    """The test's, as the run was leased: what its workers trust in skops files."""
