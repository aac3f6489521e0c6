"""Scoring's pure parts: the cron ticks the scheduler queues, thresholds deciding PASSED or FAILED,
and what a definition may hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.entities import MetricPoint, Stage
from modelyard_metadata.domain.scoring_checks import (
    check_definition,
    check_required_for,
    check_schedule,
    latest_tick,
    next_tick,
)
from modelyard_metadata.domain.scoring_entities import (
    ScoreDefinition,
    ScoreInput,
    ScoreTask,
    ScoreThreshold,
    failed_thresholds,
)

NOW = datetime(2026, 12, 5, 10, 17, 30, tzinfo=UTC)


def _point(name: str, value: float) -> MetricPoint:
    return MetricPoint(name, value, None, 0, NOW)


def test_ticks_missed_while_down_make_one_run_for_the_latest() -> None:
    assert latest_tick("0 * * * *", NOW) == datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert latest_tick("*/5 * * * *", NOW) == datetime(2026, 12, 5, 10, 15, tzinfo=UTC)
    on_a_tick = datetime(2026, 12, 5, 10, 15, tzinfo=UTC)
    assert latest_tick("*/5 * * * *", on_a_tick) == on_a_tick
    assert next_tick("0 3 * * *", NOW) == datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert next_tick("*/5 * * * *", on_a_tick) == datetime(2026, 12, 5, 10, 20, tzinfo=UTC)


@pytest.mark.parametrize("schedule", ["every day", "* * * *", "61 * * * *", "* * * * * *", "@daily"])
def test_a_schedule_is_five_cron_fields(schedule: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^test\.schedule: "):
        check_schedule(schedule)


def test_thresholds_name_each_bound_that_does_not_hold() -> None:
    thresholds = [ScoreThreshold("accuracy", min=0.8), ScoreThreshold("log_loss", max=0.5), ScoreThreshold("f1", 0.5)]
    assert failed_thresholds(thresholds, [_point("accuracy", 0.9), _point("log_loss", 0.2), _point("f1", 0.5)]) == []
    assert failed_thresholds(thresholds, [_point("accuracy", 0.71), _point("log_loss", 0.7)]) == [
        "accuracy 0.71 < min 0.8",
        "log_loss 0.7 > max 0.5",
        "f1 was not computed",
    ]


def test_a_definition_names_only_its_tasks_metrics_and_sane_bounds() -> None:
    base = ScoreDefinition("p/m", ScoreTask.REGRESSION, (ScoreInput("x", ("a",)),), "y")
    check_definition(base)
    with pytest.raises(InvalidArgumentError, match=r"^definition.metrics\[0\]: 'accuracy' is not a REGRESSION"):
        check_definition(ScoreDefinition("p/m", ScoreTask.REGRESSION, base.inputs, "y", metrics=("accuracy",)))
    with pytest.raises(InvalidArgumentError, match=r"^definition.thresholds\[0\]: needs a min, a max or both"):
        check_definition(
            ScoreDefinition("p/m", ScoreTask.REGRESSION, base.inputs, "y", thresholds=(ScoreThreshold("r2"),))
        )
    with pytest.raises(InvalidArgumentError, match=r"^definition.thresholds\[0\]: bounds must be finite"):
        check_definition(
            ScoreDefinition(
                "p/m", ScoreTask.REGRESSION, base.inputs, "y", thresholds=(ScoreThreshold("r2", float("nan")),)
            )
        )
    with pytest.raises(InvalidArgumentError, match=r"^definition.inputs\[1\].input: 'x' is named twice"):
        check_definition(ScoreDefinition("p/m", ScoreTask.REGRESSION, (*base.inputs, *base.inputs), "y"))
    with pytest.raises(InvalidArgumentError, match=r"^definition.inputs: name more than 1024 columns"):
        wide = tuple(ScoreInput(f"i{n}", tuple(f"c{k}" for k in range(40))) for n in range(30))
        check_definition(ScoreDefinition("p/m", ScoreTask.REGRESSION, wide, "y"))


def test_only_validation_and_production_are_gated() -> None:
    assert check_required_for([Stage.PRODUCTION, Stage.VALIDATION, Stage.PRODUCTION]) == (
        Stage.VALIDATION,
        Stage.PRODUCTION,
    )
    with pytest.raises(InvalidArgumentError, match=r"^test.required_for\[0\]: ARCHIVED is not gated"):
        check_required_for([Stage.ARCHIVED])
