"""Scoring entities <-> their proto messages."""

from __future__ import annotations

from datetime import UTC, datetime

from modelyard._wire import time_to_pb
from modelyard.v1 import scoring_pb2, types_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.api.convert import metric_from_pb, metric_to_pb, stage_from_pb
from modelyard_metadata.domain.entities import MetricPoint, Stage
from modelyard_metadata.domain.scoring_entities import (
    ClaimedRun,
    RunState,
    ScoreDefinition,
    ScoreInput,
    ScoreTask,
    ScoreThreshold,
    ScoringRun,
    ScoringTest,
    Target,
)

__all__ = [
    "claimed_to_pb",
    "definition_from_pb",
    "definition_to_pb",
    "metrics_from_pb",
    "run_state_from_pb",
    "run_to_pb",
    "stages_from_pb",
    "target_from_pb",
    "test_to_pb",
]

_TASKS = {
    scoring_pb2.SCORE_TASK_CLASSIFICATION: ScoreTask.CLASSIFICATION,
    scoring_pb2.SCORE_TASK_REGRESSION: ScoreTask.REGRESSION,
}


def _stage_pb(stage: Stage) -> types_pb2.Stage.ValueType:
    return types_pb2.Stage.Value(f"STAGE_{stage.value}")


def definition_from_pb(message: scoring_pb2.ScoreDefinition) -> ScoreDefinition:
    task = _TASKS.get(message.task)
    if task is None:
        raise InvalidArgumentError("definition.task", "is required: CLASSIFICATION or REGRESSION")
    return ScoreDefinition(
        model=message.model,
        task=task,
        inputs=tuple(ScoreInput(i.input, tuple(i.columns)) for i in message.inputs),
        label_column=message.label_column,
        prediction_output=message.prediction_output,
        probability_output=message.probability_output,
        metrics=tuple(message.metrics),
        average=message.average,
        positive_label=message.positive_label,
        thresholds=tuple(
            ScoreThreshold(t.metric, t.min if t.HasField("min") else None, t.max if t.HasField("max") else None)
            for t in message.thresholds
        ),
    )


def definition_to_pb(definition: ScoreDefinition) -> scoring_pb2.ScoreDefinition:
    message = scoring_pb2.ScoreDefinition(
        model=definition.model,
        task=scoring_pb2.ScoreTask.Value(f"SCORE_TASK_{definition.task.value}"),
        inputs=[scoring_pb2.ScoreInput(input=i.input, columns=i.columns) for i in definition.inputs],
        prediction_output=definition.prediction_output,
        probability_output=definition.probability_output,
        label_column=definition.label_column,
        metrics=definition.metrics,
        average=definition.average,
        positive_label=definition.positive_label,
        thresholds=[scoring_pb2.ScoreThreshold(metric=t.metric, min=t.min, max=t.max) for t in definition.thresholds],
        updated_by=definition.updated_by,
    )
    if definition.updated_at is not None:
        message.update_time.CopyFrom(time_to_pb(definition.updated_at))
    return message


def target_from_pb(message: scoring_pb2.ScoringTest) -> Target:
    which = message.WhichOneof("target")
    if which == "version":
        return Target(version=message.version)
    if which == "alias":
        return Target(alias=message.alias)
    return Target(every_new_version=which == "every_new_version" and message.every_new_version)


def stages_from_pb(field: str, stages: list[int]) -> list[Stage]:
    return [stage_from_pb(f"{field}[{i}]", value) for i, value in enumerate(stages)]


def run_state_from_pb(value: scoring_pb2.ScoringRunState.ValueType) -> RunState | None:
    """A runs listing's ``state`` filter: None (any state) when unspecified."""
    if value == scoring_pb2.SCORING_RUN_STATE_UNSPECIFIED:
        return None
    try:
        return RunState(scoring_pb2.ScoringRunState.Name(value).removeprefix("SCORING_RUN_STATE_"))
    except ValueError:
        raise InvalidArgumentError("state", f"must be one of {', '.join(RunState)} (got {value})") from None


def run_to_pb(run: ScoringRun) -> scoring_pb2.ScoringRun:
    message = scoring_pb2.ScoringRun(
        id=run.id,
        test_id=run.test_id,
        test_name=run.test_name,
        model_version=run.model_version,
        dataset=run.dataset,
        state=scoring_pb2.ScoringRunState.Value(f"SCORING_RUN_STATE_{run.state.value}"),
        trigger=run.trigger.value,
        requested_by=run.requested_by,
        create_time=time_to_pb(run.created_at),
        rows=run.rows,
        duration_seconds=run.duration_seconds,
        metrics=[metric_to_pb(m, f"of scoring run {run.id}") for m in run.metrics],
        message=run.message,
    )
    for field, value in (
        ("scheduled_for", run.scheduled_for),
        ("start_time", run.started_at),
        ("finish_time", run.finished_at),
    ):
        if value is not None:
            getattr(message, field).CopyFrom(time_to_pb(value))
    return message


def test_to_pb(test: ScoringTest) -> scoring_pb2.ScoringTest:
    message = scoring_pb2.ScoringTest(
        id=test.id,
        model=test.model_name,
        name=test.name,
        dataset=test.dataset,
        schedule=test.schedule,
        active=test.active,
        required_for=[_stage_pb(s) for s in test.required_for],
        description=test.description,
        created_by=test.created_by,
        create_time=time_to_pb(test.created_at),
        trusted_types=test.trusted_types,
    )
    if test.target.version is not None:
        message.version = test.target.version
    elif test.target.alias is not None:
        message.alias = test.target.alias
    else:
        message.every_new_version = True
    if test.last_run is not None:
        message.last_run.CopyFrom(run_to_pb(test.last_run))
    if test.next_run_at is not None and test.active:
        message.next_run_time.CopyFrom(time_to_pb(test.next_run_at))
    return message


def claimed_to_pb(claimed: ClaimedRun) -> scoring_pb2.ClaimedScoringRun:
    return scoring_pb2.ClaimedScoringRun(
        run=run_to_pb(claimed.run),
        definition=definition_to_pb(claimed.definition),
        attempt=claimed.attempt,
        trusted_types=claimed.trusted_types,
    )


def metrics_from_pb(metrics: list[types_pb2.Metric]) -> list[MetricPoint]:
    now = datetime.now(UTC)
    return [metric_from_pb(i, metric, now) for i, metric in enumerate(metrics)]
