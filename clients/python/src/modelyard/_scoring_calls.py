"""The calls of ScoringService (served by the metadata service), written once for ``Client`` and
``AsyncClient`` (see ``_calls``), with their conversions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelyard._calls import Calls, Pages, R, Unary, iterating, nothing, unary
from modelyard._connection import SCORING
from modelyard._convert import STAGES, metric_from_pb, optional_time, read_enum, stage_from_pb
from modelyard._deploy_calls import _type_names
from modelyard._scoring_types import (
    ClaimedScoringRun,
    ScoreDefinition,
    ScoreInput,
    ScoreTask,
    ScoreThreshold,
    ScoringRun,
    ScoringRunPage,
    ScoringRunState,
    ScoringTest,
)
from modelyard._types import Stage
from modelyard._wire import ProtoEnum
from modelyard.v1 import scoring_pb2

__all__ = [
    "ScoringCalls",
    "claimed_from_pb",
    "run_from_pb",
    "threshold_of",
]

TASKS = ProtoEnum(ScoreTask, scoring_pb2.ScoreTask.Value, "SCORE_TASK_")
RUN_STATES = ProtoEnum(ScoringRunState, scoring_pb2.ScoringRunState.Value, "SCORING_RUN_STATE_")


def threshold_of(metric: str, bounds: tuple[float | None, float | None] | ScoreThreshold) -> ScoreThreshold:
    """A threshold from ``(min, max)`` (None: no bound), or the threshold given."""
    if isinstance(bounds, ScoreThreshold):
        return bounds
    low, high = bounds
    return ScoreThreshold(metric, low, high)


def _runs_request(
    test_id: str, model_version: str, state: ScoringRunState | str | None
) -> scoring_pb2.ListScoringRunsRequest:
    request = scoring_pb2.ListScoringRunsRequest(test_id=test_id, model_version=model_version)
    if state is not None:
        parsed = ScoringRunState.parse(state) if isinstance(state, str) else state
        request.state = scoring_pb2.ScoringRunState.ValueType(RUN_STATES.to_pb(parsed))
    return request


def _definition_to_pb(definition: ScoreDefinition) -> scoring_pb2.ScoreDefinition:
    return scoring_pb2.ScoreDefinition(
        model=definition.model,
        task=scoring_pb2.ScoreTask.ValueType(TASKS.to_pb(definition.task)),
        inputs=[scoring_pb2.ScoreInput(input=i.input, columns=i.columns) for i in definition.inputs],
        prediction_output=definition.prediction_output,
        probability_output=definition.probability_output,
        label_column=definition.label_column,
        metrics=definition.metrics,
        average=definition.average,
        positive_label=definition.positive_label,
        thresholds=[scoring_pb2.ScoreThreshold(metric=t.metric, min=t.min, max=t.max) for t in definition.thresholds],
    )


def definition_from_pb(message: scoring_pb2.ScoreDefinition) -> ScoreDefinition:
    return ScoreDefinition(
        model=message.model,
        task=read_enum(TASKS, message.task),
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
        updated_by=message.updated_by,
        updated_at=optional_time(message, "update_time"),
    )


def run_from_pb(message: scoring_pb2.ScoringRun) -> ScoringRun:
    return ScoringRun(
        id=message.id,
        test_id=message.test_id,
        test_name=message.test_name,
        model_version=message.model_version,
        dataset=message.dataset,
        state=read_enum(RUN_STATES, message.state),
        trigger=message.trigger,
        requested_by=message.requested_by,
        scheduled_for=optional_time(message, "scheduled_for"),
        created_at=optional_time(message, "create_time"),
        started_at=optional_time(message, "start_time"),
        finished_at=optional_time(message, "finish_time"),
        rows=message.rows,
        duration_seconds=message.duration_seconds,
        metrics=tuple(metric_from_pb(m) for m in message.metrics),
        message=message.message,
    )


def test_from_pb(message: scoring_pb2.ScoringTest) -> ScoringTest:
    target = message.WhichOneof("target")
    return ScoringTest(
        id=message.id,
        model=message.model,
        name=message.name,
        dataset=message.dataset,
        version=message.version if target == "version" else None,
        alias=message.alias if target == "alias" else None,
        every_new_version=target == "every_new_version",
        schedule=message.schedule,
        active=message.active,
        required_for=tuple(stage_from_pb(s) for s in message.required_for),
        description=message.description,
        created_by=message.created_by,
        created_at=optional_time(message, "create_time"),
        last_run=run_from_pb(message.last_run) if message.HasField("last_run") else None,
        next_run_at=optional_time(message, "next_run_time"),
        trusted_types=tuple(message.trusted_types),
    )


def claimed_from_pb(message: scoring_pb2.ClaimedScoringRun) -> ClaimedScoringRun:
    return ClaimedScoringRun(
        run_from_pb(message.run),
        definition_from_pb(message.definition),
        message.attempt,
        tuple(message.trusted_types),
    )


def _stages(stages: Iterable[Stage | str]) -> list[Any]:
    if isinstance(stages, str):
        raise TypeError(f"required_for: expected a list of stages, got the string {stages!r}")
    return [STAGES.to_pb(Stage.parse(s) if isinstance(s, str) else s) for s in stages]


def _test(response: Any) -> ScoringTest:
    return test_from_pb(response.test)


def _run(response: Any) -> ScoringRun:
    return run_from_pb(response.run)


class ScoringCalls(Calls[R]):
    """Every ScoringService method a user calls (viewers read; editors write; admins gate)."""

    @unary
    def set_score_definition(
        self,
        model: str,
        *,
        task: ScoreTask | str,
        inputs: Mapping[str, Sequence[str]],
        label_column: str,
        prediction_output: str = "",
        probability_output: str = "",
        metrics: Sequence[str] = (),
        thresholds: Mapping[str, tuple[float | None, float | None] | ScoreThreshold] | None = None,
        average: str = "",
        positive_label: str = "",
        reason: str = "",
    ) -> Unary[ScoreDefinition]:
        """Replaces the score definition of ``model`` (PROJECT/MODEL): ``inputs`` maps each
        input of the model's signature to the dataset columns stacked into it; ``thresholds``
        maps a metric to its ``(min, max)`` (None: no bound), all of which a run must meet to pass.

            client.set_score_definition("retail/churn", task="classification",
                                        inputs={"features": ["tenure", "monthly"]}, label_column="churned",
                                        metrics=["accuracy", "f1"], thresholds={"accuracy": (0.8, None)})
        """
        definition = ScoreDefinition(
            model=model,
            task=ScoreTask.parse(task) if isinstance(task, str) else task,
            inputs=tuple(ScoreInput(name, tuple(columns)) for name, columns in inputs.items()),
            label_column=label_column,
            prediction_output=prediction_output,
            probability_output=probability_output,
            metrics=tuple(metrics),
            average=average,
            positive_label=positive_label,
            thresholds=tuple(threshold_of(m, b) for m, b in (thresholds or {}).items()),
        )
        request = scoring_pb2.SetScoreDefinitionRequest(definition=_definition_to_pb(definition), reason=reason)
        return Unary("SetScoreDefinition", request, lambda r: definition_from_pb(r.definition), service=SCORING)

    @unary
    def get_score_definition(self, model: str) -> Unary[ScoreDefinition]:
        request = scoring_pb2.GetScoreDefinitionRequest(model=model)
        return Unary("GetScoreDefinition", request, lambda r: definition_from_pb(r.definition), service=SCORING)

    @unary
    def create_scoring_test(
        self,
        model: str,
        name: str,
        *,
        dataset: str,
        version: int | None = None,
        alias: str | None = None,
        every_new_version: bool = False,
        schedule: str = "",
        required_for: Iterable[Stage | str] = (),
        description: str = "",
        trusted_types: Iterable[str] = (),
    ) -> Unary[ScoringTest]:
        """A test of ``model`` scoring one target (``version``, ``alias`` or
        ``every_new_version``) on ``dataset`` (PROJECT/DATASET:N), on request, on events and on
        ``schedule`` (5-field cron, UTC). ``required_for`` (project ADMIN only): the stages a
        version enters only once the test passed on it. ``trusted_types``: types its skops
        files may hold beyond those skops trusts by default (as for ``create_job``)."""
        test = scoring_pb2.ScoringTest(
            model=model,
            name=name,
            dataset=dataset,
            schedule=schedule,
            required_for=_stages(required_for),
            description=description,
            trusted_types=_type_names(trusted_types),
        )
        if version is not None:
            test.version = version
        if alias is not None:
            test.alias = alias
        if every_new_version:
            test.every_new_version = True
        request = scoring_pb2.CreateScoringTestRequest(test=test)
        return Unary("CreateScoringTest", request, _test, service=SCORING)

    @unary
    def get_scoring_test(self, id: str) -> Unary[ScoringTest]:
        return Unary("GetScoringTest", scoring_pb2.GetScoringTestRequest(id=id), _test, service=SCORING)

    @unary
    def list_scoring_tests(self, parent: str) -> Unary[list[ScoringTest]]:
        """The tests of a model (PROJECT/MODEL) or of every model of a project (PROJECT)."""
        request = scoring_pb2.ListScoringTestsRequest(parent=parent)
        return Unary("ListScoringTests", request, lambda r: [test_from_pb(t) for t in r.tests], service=SCORING)

    @unary
    def update_scoring_test(
        self,
        id: str,
        *,
        schedule: str | None = None,
        active: bool | None = None,
        description: str | None = None,
        required_for: Iterable[Stage | str] | None = None,
        dataset: str | None = None,
        trusted_types: Iterable[str] | None = None,
        reason: str = "",
    ) -> Unary[ScoringTest]:
        """Changes what is given (None: kept); ``schedule=""`` removes the schedule,
        ``required_for=[]`` the gate, ``trusted_types=[]`` the types trusted."""
        request = scoring_pb2.UpdateScoringTestRequest(id=id, reason=reason)
        if schedule is not None:
            request.schedule = schedule
        if active is not None:
            request.active = active
        if description is not None:
            request.description = description
        if required_for is not None:
            request.required_for.SetInParent()
            request.required_for.stages.extend(_stages(required_for))
        if dataset is not None:
            request.dataset = dataset
        if trusted_types is not None:
            request.trusted_types.SetInParent()
            request.trusted_types.types.extend(_type_names(trusted_types))
        return Unary("UpdateScoringTest", request, _test, service=SCORING)

    @unary
    def delete_scoring_test(self, id: str, *, reason: str = "") -> Unary[None]:
        """Forgets the test; its runs and the metrics they logged stay."""
        request = scoring_pb2.DeleteScoringTestRequest(id=id, reason=reason)
        return Unary("DeleteScoringTest", request, nothing, service=SCORING)

    @unary
    def run_scoring_test(self, test_id: str, *, version: int = 0) -> Unary[ScoringRun]:
        """Queues a run of the test now, of version ``version`` of its model (0: its target)."""
        request = scoring_pb2.RunScoringTestRequest(test_id=test_id, version=version)
        return Unary("RunScoringTest", request, _run, service=SCORING)

    @unary
    def get_scoring_run(self, id: str) -> Unary[ScoringRun]:
        return Unary("GetScoringRun", scoring_pb2.GetScoringRunRequest(id=id), _run, service=SCORING)

    @iterating
    def list_scoring_runs(
        self,
        *,
        test_id: str = "",
        model_version: str = "",
        state: ScoringRunState | str | None = None,
        limit: int | None = None,
    ) -> Pages[ScoringRun]:
        """The runs of a test, those that scored a version (PROJECT/MODEL:N), or with both the
        test's runs on that version; newest first, only those in ``state`` when given
        (``list_scoring_runs(test_id=t, model_version=v, limit=1)``: its last run on it)."""
        request = _runs_request(test_id, model_version, state)
        return Pages("ListScoringRuns", request, lambda r: map(run_from_pb, r.runs), limit, service=SCORING)

    @unary
    def scoring_runs_page(
        self,
        *,
        test_id: str = "",
        model_version: str = "",
        state: ScoringRunState | str | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> Unary[ScoringRunPage]:
        """One page of ``list_scoring_runs`` and the token of the next, for callers that fetch
        pages on demand (a web page's "older" link); ``page_size`` 0 is the server's."""
        request = _runs_request(test_id, model_version, state)
        request.page_size, request.page_token = page_size, page_token

        def convert(response: scoring_pb2.ListScoringRunsResponse) -> ScoringRunPage:
            return ScoringRunPage(tuple(map(run_from_pb, response.runs)), response.next_page_token)

        return Unary("ListScoringRuns", request, convert, service=SCORING)
