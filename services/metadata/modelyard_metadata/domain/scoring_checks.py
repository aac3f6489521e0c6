"""Checks of what a score definition and a scoring test may hold, and the cron schedule's ticks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from croniter import CroniterError, croniter

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.entities import Stage
from modelyard_metadata.domain.limits import MAX_NAME, MAX_SCHEDULE, MAX_SCORE_COLUMNS, MAX_SCORE_INPUTS
from modelyard_metadata.domain.scoring_entities import (
    STRUCTURED_METRICS,
    TASK_METRICS,
    ScoreDefinition,
    ScoreTask,
    Target,
)
from modelyard_metadata.domain.validation import check_alias, check_text

__all__ = [
    "GATED_STAGES",
    "check_definition",
    "check_required_for",
    "check_schedule",
    "check_target",
    "latest_tick",
    "next_tick",
]

AVERAGES = ("macro", "micro", "weighted", "binary")
GATED_STAGES = (Stage.VALIDATION, Stage.PRODUCTION)


def _check_column(field: str, value: str) -> str:
    if not value:
        raise InvalidArgumentError(field, "is required")
    return check_text(field, value, MAX_NAME)


def check_definition(definition: ScoreDefinition) -> None:
    """INVALID_ARGUMENT naming the first field at fault (``definition.<field>``)."""
    known = TASK_METRICS.get(definition.task)
    if known is None:
        raise InvalidArgumentError("definition.task", "is required: CLASSIFICATION or REGRESSION")
    if not definition.inputs:
        raise InvalidArgumentError("definition.inputs", "is required: which dataset columns feed which model input")
    if len(definition.inputs) > MAX_SCORE_INPUTS:
        raise InvalidArgumentError(
            "definition.inputs", f"has {len(definition.inputs)} entries; at most {MAX_SCORE_INPUTS} allowed"
        )
    names: set[str] = set()
    columns = 0
    for i, score_input in enumerate(definition.inputs):
        name = _check_column(f"definition.inputs[{i}].input", score_input.input)
        if name in names:
            raise InvalidArgumentError(f"definition.inputs[{i}].input", f"{name!r} is named twice")
        names.add(name)
        if not score_input.columns:
            raise InvalidArgumentError(f"definition.inputs[{i}].columns", "is required: at least one dataset column")
        columns += len(score_input.columns)
        if columns > MAX_SCORE_COLUMNS:
            raise InvalidArgumentError("definition.inputs", f"name more than {MAX_SCORE_COLUMNS} columns in all")
        for j, column in enumerate(score_input.columns):
            _check_column(f"definition.inputs[{i}].columns[{j}]", column)
    _check_column("definition.label_column", definition.label_column)
    check_text("definition.prediction_output", definition.prediction_output, MAX_NAME)
    check_text("definition.probability_output", definition.probability_output, MAX_NAME)
    check_text("definition.positive_label", definition.positive_label, MAX_NAME)
    if definition.task is ScoreTask.REGRESSION:
        for field in ("probability_output", "average", "positive_label"):
            if getattr(definition, field):
                raise InvalidArgumentError(f"definition.{field}", "applies to CLASSIFICATION only")
    if definition.average and definition.average not in AVERAGES:
        raise InvalidArgumentError("definition.average", f"{definition.average!r} is not one of {', '.join(AVERAGES)}")
    for i, metric in enumerate(definition.metrics):
        if metric not in known:
            raise InvalidArgumentError(
                f"definition.metrics[{i}]",
                f"{metric!r} is not a {definition.task} metric; one of {', '.join(known)}",
            )
    if len(set(definition.metrics)) != len(definition.metrics):
        raise InvalidArgumentError("definition.metrics", "names a metric twice")
    computed = set(definition.metrics or known)
    for i, threshold in enumerate(definition.thresholds):
        field = f"definition.thresholds[{i}]"
        if threshold.metric in STRUCTURED_METRICS or threshold.metric not in known:
            scalars = ", ".join(m for m in known if m not in STRUCTURED_METRICS)
            raise InvalidArgumentError(
                f"{field}.metric",
                f"{threshold.metric!r} is not a {definition.task} metric a threshold takes; one of {scalars}",
            )
        if threshold.metric not in computed:
            raise InvalidArgumentError(f"{field}.metric", f"{threshold.metric!r} is not among definition.metrics")
        if threshold.min is None and threshold.max is None:
            raise InvalidArgumentError(field, "needs a min, a max or both")
        for bound in (threshold.min, threshold.max):
            if bound is not None and not math.isfinite(bound):
                raise InvalidArgumentError(field, f"bounds must be finite numbers, got {bound}")
        if threshold.min is not None and threshold.max is not None and threshold.min > threshold.max:
            raise InvalidArgumentError(field, f"min {threshold.min:g} is above max {threshold.max:g}")


def check_target(target: Target) -> Target:
    chosen = (target.version is not None) + (target.alias is not None) + target.every_new_version
    if chosen != 1:
        raise InvalidArgumentError("test.target", "is required: one of version, alias or every_new_version")
    if target.version is not None and target.version < 1:
        raise InvalidArgumentError("test.version", f"must be a positive version number, got {target.version}")
    if target.alias is not None:
        check_alias("test.alias", target.alias)
    return target


def check_required_for(stages: Sequence[Stage]) -> tuple[Stage, ...]:
    for i, stage in enumerate(stages):
        if stage not in GATED_STAGES:
            raise InvalidArgumentError(
                f"test.required_for[{i}]", f"{stage} is not gated; only VALIDATION and PRODUCTION are"
            )
    return tuple(sorted(set(stages), key=GATED_STAGES.index))


def check_schedule(schedule: str) -> str:
    """A standard 5-field cron expression (UTC), or empty (no schedule)."""
    if not schedule:
        return schedule
    check_text("test.schedule", schedule, MAX_SCHEDULE)
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise InvalidArgumentError(
            "test.schedule",
            f"{schedule!r} is not a 5-field cron expression (minute hour day month weekday), e.g. '0 3 * * *'",
        )
    return schedule


def next_tick(schedule: str, after: datetime) -> datetime:
    """The first tick of ``schedule`` strictly after ``after``."""
    try:
        tick: datetime = croniter(schedule, after.astimezone(UTC)).get_next(datetime)
    except CroniterError as exc:  # an expression with no future tick ("0 0 31 2 *")
        raise InvalidArgumentError("test.schedule", f"{schedule!r} never runs: {exc}") from None
    return tick


def latest_tick(schedule: str, now: datetime) -> datetime:
    """The last tick of ``schedule`` at or before ``now``."""
    tick: datetime = croniter(schedule, now.astimezone(UTC)).get_prev(datetime)
    following = next_tick(schedule, tick)
    return following if following <= now else tick
