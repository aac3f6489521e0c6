"""What the scoring pages show, worked out from what the scoring service answers: the paths of a
test and a run, a run's metrics held against the thresholds, its confusion matrix as a shaded
grid, and the scoring panels of the model and version pages (the catalog's pages, which import
this module; the scoring pages import the catalog's paths, so these live apart from both)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import modelyard.aio
from modelyard import MetricPoint, ScoreDefinition, ScoreThreshold, ScoringRun, ScoringRunState, ScoringTest, Stage
from modelyard.errors import ModelyardError, NotFoundError

__all__ = [
    "HEAT_SHADES",
    "RECENT_RUNS",
    "Gate",
    "HeatGrid",
    "MetricRow",
    "ModelScoring",
    "VersionScoring",
    "heat_grid",
    "key_metrics",
    "metric_rows",
    "model_scoring",
    "run_path",
    "scalars",
    "score_definition",
    "scoring_links",
    "scoring_path",
    "test_path",
    "version_scoring",
]

HEAT_SHADES = 6  # classes heat-0 .. heat-5 of console.css, lightest to darkest (no inline style: CSP)
RECENT_RUNS = 20  # the newest runs of a version its page lists (``modelyard score runs --version``: all)


def scoring_path(project: str) -> str:
    """The project's scoring section: its tests."""
    return f"/projects/{quote(project, safe='')}/scoring"


def test_path(test: ScoringTest) -> str:
    return f"{scoring_path(test.model.partition('/')[0])}/tests/{quote(test.id, safe='')}"


def run_path(project: str, run: ScoringRun) -> str:
    return f"{scoring_path(project)}/runs/{quote(run.id, safe='')}"


def scoring_links(project: str) -> dict[str, Any]:
    """What a template showing tests and runs of ``project`` uses to link and badge them."""
    return {
        "test_path": test_path,
        "run_path": lambda run: run_path(project, run),
        "run_scalars": scalars,
    }


@dataclass(frozen=True, slots=True)
class MetricRow:
    """A scalar metric of a run beside the definition's threshold on it (None: no threshold) and
    whether it held (None without a threshold)."""

    name: str
    value: float | None
    threshold: ScoreThreshold | None
    held: bool | None


def metric_rows(run: ScoringRun, thresholds: Sequence[ScoreThreshold]) -> list[MetricRow]:
    """Each scalar the run computed, then each threshold on a metric it did not compute (which
    fails, as the service counts it)."""
    values = scalars(run)
    bounds = {t.metric: t for t in thresholds}
    rows = [MetricRow(name, value, bounds.get(name), _held(value, bounds.get(name))) for name, value in values.items()]
    rows += [MetricRow(t.metric, None, t, False) for t in thresholds if t.metric not in values]
    return rows


def _held(value: float, threshold: ScoreThreshold | None) -> bool | None:
    if threshold is None:
        return None
    return (threshold.min is None or value >= threshold.min) and (threshold.max is None or value <= threshold.max)


@dataclass(frozen=True, slots=True)
class HeatGrid:
    """A confusion matrix: ``rows`` (true label, then each cell's count and shade 0..5)."""

    labels: tuple[str, ...]
    rows: tuple[tuple[str, tuple[tuple[int, int], ...]], ...]
    total: int


def heat_grid(metrics: Sequence[MetricPoint]) -> HeatGrid | None:
    """The run's ``confusion_matrix`` ({"labels": [...], "matrix": [[...]]}, rows the true label),
    each cell shaded by its count against the largest; None when the run has none."""
    found = next((m.value for m in metrics if m.name == "confusion_matrix" and isinstance(m.value, dict)), None)
    if not found:
        return None
    labels = tuple(str(label) for label in found.get("labels", ()))
    matrix = [[int(count) for count in row] for row in found.get("matrix", ())]
    largest = max((count for row in matrix for count in row), default=0) or 1
    rows = tuple(
        (label, tuple((count, round((HEAT_SHADES - 1) * count / largest)) for count in row))
        for label, row in zip(labels, matrix, strict=False)
    )
    return HeatGrid(labels, rows, sum(count for row in matrix for count in row))


@dataclass(frozen=True, slots=True)
class ModelScoring:
    """A model's score definition (None: none set) and tests, or why they could not be read."""

    definition: ScoreDefinition | None
    tests: list[ScoringTest]
    refusal: str = ""


async def model_scoring(client: modelyard.aio.AsyncClient, model: str) -> ModelScoring:
    """The model page's panel: what it needs, or the service's refusal instead of failing the page."""
    try:
        definition, tests = await asyncio.gather(_definition(client, model), client.list_scoring_tests(model))
    except ModelyardError as exc:
        return ModelScoring(None, [], exc.message)
    return ModelScoring(definition, tests)


async def _definition(client: modelyard.aio.AsyncClient, model: str) -> ScoreDefinition | None:
    try:
        return await client.get_score_definition(model)
    except NotFoundError:
        return None


async def score_definition(client: modelyard.aio.AsyncClient, model: str) -> tuple[ScoreDefinition | None, str]:
    """A model's score definition (None: none set), or why it could not be read."""
    try:
        return await _definition(client, model), ""
    except ModelyardError as exc:
        return None, exc.message


@dataclass(frozen=True, slots=True)
class Gate:
    """A stage a test gates, and whether it has passed on the version (any run PASSED, as the
    service decides); ``last``: its latest run on the version, if any."""

    stage: Stage
    test: ScoringTest
    passed: bool
    last: ScoringRun | None


@dataclass(frozen=True, slots=True)
class VersionScoring:
    """The newest runs of a version (``more``: it has older ones) and the gates on its stages."""

    runs: list[ScoringRun]
    gates: list[Gate]
    refusal: str = ""
    more: bool = False


async def version_scoring(client: modelyard.aio.AsyncClient, model: str, reference: str) -> VersionScoring:
    """The version page's newest runs and the gates on its stages (active tests with
    ``required_for``), each from its test's last run on the version and its last PASSED one:
    a page of one each, whatever the number of runs."""
    try:
        runs, tests = await asyncio.gather(
            _runs(client, RECENT_RUNS + 1, model_version=reference), client.list_scoring_tests(model)
        )
        gating = [test for test in tests if test.active and test.required_for]
        outcomes = await asyncio.gather(*(_gate_runs(client, test, reference) for test in gating))
    except ModelyardError as exc:
        return VersionScoring([], [], exc.message)
    gates = [
        Gate(stage, test, passed is not None, last)
        for test, (last, passed) in zip(gating, outcomes, strict=True)
        for stage in test.required_for
    ]
    gates.sort(key=lambda gate: (list(Stage).index(gate.stage), gate.test.name))
    return VersionScoring(runs[:RECENT_RUNS], gates, more=len(runs) > RECENT_RUNS)


async def _gate_runs(
    client: modelyard.aio.AsyncClient, test: ScoringTest, reference: str
) -> tuple[ScoringRun | None, ScoringRun | None]:
    """The test's last run on the version, and its last PASSED one (None: none)."""
    last, passed = await asyncio.gather(
        _runs(client, 1, test_id=test.id, model_version=reference),
        _runs(client, 1, test_id=test.id, model_version=reference, state=ScoringRunState.PASSED),
    )
    return (last[0] if last else None), (passed[0] if passed else None)


async def _runs(client: modelyard.aio.AsyncClient, limit: int, **filters: Any) -> list[ScoringRun]:
    return [run async for run in client.list_scoring_runs(limit=limit, **filters)]


def key_metrics(runs: Sequence[ScoringRun], most: int = 4) -> list[str]:
    """The scalar metrics the runs computed (the first ``most``, by name): a runs table's columns."""
    return sorted({m.name for run in runs for m in run.metrics if isinstance(m.value, int | float)})[:most]


def scalars(run: ScoringRun) -> dict[str, float]:
    return {m.name: float(m.value) for m in run.metrics if isinstance(m.value, int | float)}
