"""Score definitions, scoring tests and their runs: validation, runs queued on request and by
events, leased and recorded by the deploy service (its real token), thresholds deciding PASSED or
FAILED, the metrics joining the version's history with their source, leases running out, and
the lifecycle gate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from scoring_platform import Churn, claim, runs_of

import modelyard
from modelyard import ScoringRunState, Stage


def test_a_definition_is_checked_field_by_field_and_read_back(client: modelyard.Client, churn: Churn) -> None:
    definition = client.get_score_definition(churn.model)
    assert definition.task.value == "CLASSIFICATION"
    assert [(i.input, i.columns) for i in definition.inputs] == [("features", ("tenure", "monthly"))]
    assert definition.thresholds[0].metric == "accuracy" and definition.thresholds[0].min == 0.8
    assert definition.updated_by == "admin"

    def refused(**changes: Any) -> str:
        fields: dict[str, Any] = {
            "task": "classification",
            "inputs": {"features": ["tenure"]},
            "label_column": "churned",
        } | changes
        with pytest.raises(modelyard.InvalidArgumentError) as exc:
            client.set_score_definition(churn.model, **fields)
        return exc.value.message

    assert refused(metrics=["rmse"]).startswith("definition.metrics[0]: 'rmse' is not a CLASSIFICATION metric")
    assert refused(thresholds={"r2": (0.1, None)}).startswith("definition.thresholds[0].metric: 'r2' is not")
    assert refused(thresholds={"accuracy": (0.9, 0.5)}) == "definition.thresholds[0]: min 0.9 is above max 0.5"
    assert refused(metrics=["f1"], thresholds={"accuracy": (0.5, None)}) == (
        "definition.thresholds[0].metric: 'accuracy' is not among definition.metrics"
    )
    assert refused(label_column="") == "definition.label_column: is required"
    assert refused(inputs={}).startswith("definition.inputs: is required")
    too_many = {f"i{n}": ["c"] for n in range(65)}
    assert refused(inputs=too_many) == "definition.inputs: has 65 entries; at most 64 allowed"
    assert refused(task="regression", probability_output="p") == (
        "definition.probability_output: applies to CLASSIFICATION only"
    )
    events = [e for e in client.audit_events(project=churn.project) if e.action == "scoring_definition.set"]
    assert [(e.resource, e.reason) for e in events] == [(churn.model, "first definition")]


def test_a_test_is_checked_before_it_is_created(client: modelyard.Client, churn: Churn, tmp_path: Path) -> None:
    def refused(error: type[modelyard.ModelyardError], **changes: Any) -> str:
        fields: dict[str, Any] = {"dataset": churn.dataset, "version": 1} | changes
        with pytest.raises(error) as exc:
            client.create_scoring_test(churn.model, changes.pop("name", "holdout"), **fields)
        return exc.value.message

    bad = modelyard.InvalidArgumentError
    assert refused(bad, schedule="every day").startswith("test.schedule: 'every day' is not a 5-field cron expression")
    assert refused(bad, schedule="61 * * * *").startswith("test.schedule: '61 * * * *' is not")
    assert refused(bad, dataset=f"{churn.project}/nothing:1") == (
        f"test.dataset: '{churn.project}/nothing:1' is not a dataset version you may read"
    )
    assert refused(bad, version=None) == "test.target: is required: one of version, alias or every_new_version"
    assert refused(bad, alias="Champion").startswith("test.alias: 'Champion' is not a valid")
    assert refused(bad, required_for=["development"]) == (
        "test.required_for[0]: DEVELOPMENT is not gated; only VALIDATION and PRODUCTION are"
    )
    assert refused(modelyard.NotFoundError, version=7) == f"model '{churn.model}' has no version 7"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    client.create_dataset(f"{churn.project}/other")
    wrong = client.push_dataset(f"{churn.project}/other", other)
    assert refused(bad, dataset=wrong.reference) == (
        f"test.dataset: {wrong.reference} has no column 'churned', 'tenure', 'monthly', which the score "
        f"definition of {churn.model} reads"
    )
    client.create_model(f"{churn.project}/undefined")
    with pytest.raises(modelyard.FailedPreconditionError, match="has no score definition"):
        client.create_scoring_test(f"{churn.project}/undefined", "t", dataset=churn.dataset, every_new_version=True)

    assert refused(bad, trusted_types=["not a type"]) == (
        "test.trusted_types[0]: 'not a type' is not a dotted type name such as 'sklearn.pipeline.Pipeline'"
    )
    test = client.create_scoring_test(churn.model, "holdout", dataset=churn.dataset, version=1, schedule="0 3 * * *")
    assert (test.version, test.schedule, test.active, test.last_run) == (1, "0 3 * * *", True, None)
    assert test.next_run_at is not None and (test.next_run_at.hour, test.next_run_at.minute) == (3, 0)
    assert refused(modelyard.AlreadyExistsError) == f"model '{churn.model}' has a scoring test named 'holdout' already"
    assert [t.name for t in client.list_scoring_tests(churn.project)] == ["holdout"]
    assert [t.id for t in client.list_scoring_tests(churn.model)] == [test.id]


def test_a_run_is_leased_then_passes_or_fails_on_its_thresholds(
    client: modelyard.Client, runner: Any, churn: Churn
) -> None:
    test = client.create_scoring_test(churn.model, "holdout", dataset=churn.dataset, version=1)
    queued = client.run_scoring_test(test.id)
    assert (queued.state, queued.trigger, queued.model_version) == (
        ScoringRunState.QUEUED,
        "manual",
        f"{churn.model}:1",
    )

    leased = claim(runner, queued.id)
    assert (leased.run.state, leased.attempt, leased.definition.label_column, leased.trusted_types) == (
        ScoringRunState.RUNNING,
        1,
        "churned",
        (),
    )
    confusion = {"labels": [0, 1], "matrix": [[2, 0], [0, 1]]}
    passed = runner.record_scoring_result(
        queued.id, "deploy-a", 1, metrics={"accuracy": 0.93, "f1": 0.9, "confusion_matrix": confusion}, rows=3
    )
    assert (passed.state, passed.message, passed.rows) == (ScoringRunState.PASSED, "", 3)

    second = client.run_scoring_test(test.id)
    claim(runner, second.id)
    failed = runner.record_scoring_result(second.id, "deploy-a", 1, metrics={"accuracy": 0.71, "f1": 0.5})
    assert (failed.state, failed.message) == (ScoringRunState.FAILED, "accuracy 0.71 < min 0.8")
    assert client.wait_scoring_run(second.id, timeout=5).state is ScoringRunState.FAILED

    history = client.metric_history(f"{churn.model}:1", "accuracy")
    assert [(p.value, p.source.scoring_run if p.source else None) for p in history] == [
        (0.93, queued.id),
        (0.71, second.id),
    ]
    assert history[0].source is not None
    assert (history[0].source.scoring_test, history[0].source.dataset) == ("holdout", churn.dataset)
    version = client.get_version(f"{churn.model}:1")
    assert version.metrics == {"accuracy": 0.71, "f1": 0.5}
    assert version.custom_metrics == {"confusion_matrix": confusion}
    assert [r.id for r in client.list_scoring_runs(test_id=test.id)] == [second.id, queued.id]
    assert [r.id for r in client.list_scoring_runs(model_version=f"{churn.model}:1")] == [second.id, queued.id]
    on_one = {"test_id": test.id, "model_version": f"{churn.model}:1"}
    assert [r.id for r in client.list_scoring_runs(**on_one, state="passed")] == [queued.id]
    assert [r.id for r in client.list_scoring_runs(**on_one, limit=1)] == [second.id]
    assert list(client.list_scoring_runs(**on_one, state=ScoringRunState.ERROR)) == []
    with pytest.raises(modelyard.InvalidArgumentError, match="test_id: name test_id, model_version"):
        list(client.list_scoring_runs())
    assert client.get_scoring_test(test.id).last_run.id == second.id  # type: ignore[union-attr]

    outcomes = [e for e in client.audit_events(project=churn.project) if e.action.startswith("scoring_test.")]
    by_action = {e.action: e for e in outcomes}
    assert by_action["scoring_test.failed"].after["message"] == "accuracy 0.71 < min 0.8"  # type: ignore[index]
    assert by_action["scoring_test.passed"].resource == f"{churn.model}:1"
    assert by_action["scoring_test.passed"].actor == "modelyard-deploy"
    assert sum(e.action == "scoring_test.requested" for e in outcomes) == 2


def test_a_tests_trusted_types_are_kept_sorted_and_reach_its_leased_runs(
    client: modelyard.Client, runner: Any, churn: Churn
) -> None:
    trusting = ["sklearn.tree._tree.Tree", "numpy.dtype", "numpy.dtype"]
    test = client.create_scoring_test(churn.model, "forest", dataset=churn.dataset, version=1, trusted_types=trusting)
    assert test.trusted_types == ("numpy.dtype", "sklearn.tree._tree.Tree")
    assert claim(runner, client.run_scoring_test(test.id).id).trusted_types == test.trusted_types

    with pytest.raises(modelyard.InvalidArgumentError, match=r"^trusted_types\[0\]: '1x' is not a dotted type name"):
        client.update_scoring_test(test.id, trusted_types=["1x"])
    cleared = client.update_scoring_test(test.id, trusted_types=[], reason="no forest any more")
    assert cleared.trusted_types == ()
    assert claim(runner, client.run_scoring_test(test.id).id).trusted_types == ()
    [updated] = [e for e in client.audit_events(project=churn.project) if e.action == "scoring_test.updated"]
    assert (updated.before["trusted_types"], updated.after["trusted_types"]) == (  # type: ignore[index]
        ["numpy.dtype", "sklearn.tree._tree.Tree"],
        [],
    )


def test_a_run_is_queued_when_a_version_becomes_ready_and_when_an_alias_moves(
    client: modelyard.Client, runner: Any, churn: Churn, tmp_path: Path
) -> None:
    every = client.create_scoring_test(churn.model, "each-new", dataset=churn.dataset, every_new_version=True)
    champion = client.create_scoring_test(churn.model, "champion", dataset=churn.dataset, alias="champion")
    artifact = tmp_path / "model.json"
    artifact.write_text('{"weights": [3]}')
    client.push(churn.model, artifact)
    [ready] = runs_of(client, every.id, "version.ready")
    assert (ready.state, ready.model_version) == (ScoringRunState.QUEUED, f"{churn.model}:2")

    client.set_alias(churn.model, "champion", 1, reason="first champion")
    [moved] = runs_of(client, champion.id, "alias.moved")
    assert (moved.model_version, moved.requested_by) == (f"{churn.model}:1", "admin")
    assert list(client.list_scoring_runs(test_id=every.id)) == [ready]

    leased = claim(runner, moved.id)
    assert leased.run.model_version == f"{churn.model}:1"
    client.update_scoring_test(champion.id, active=False, reason="paused")
    client.set_alias(churn.model, "champion", 2)
    assert [r.trigger for r in client.list_scoring_runs(test_id=champion.id)] == ["alias.moved"]


def test_an_unresolvable_target_ends_the_run_in_error(client: modelyard.Client, runner: Any, churn: Churn) -> None:
    test = client.create_scoring_test(churn.model, "by-alias", dataset=churn.dataset, alias="staging")
    run = client.run_scoring_test(test.id)
    assert run.model_version == ""
    deadline = time.monotonic() + 30
    while client.get_scoring_run(run.id).state is ScoringRunState.QUEUED and time.monotonic() < deadline:
        runner.claim_scoring_runs("deploy-a", 100, 60)
    errored = client.get_scoring_run(run.id)
    assert (errored.state, errored.message) == (ScoringRunState.ERROR, f"model '{churn.model}' has no alias 'staging'")
    assert any(e.action == "scoring_test.error" for e in client.audit_events(project=churn.project))


def test_a_lease_that_runs_out_is_leased_again_and_the_stale_result_refused(
    client: modelyard.Client, runner: Any, churn: Churn
) -> None:
    test = client.create_scoring_test(churn.model, "holdout", dataset=churn.dataset, version=1)
    run = client.run_scoring_test(test.id)
    first = claim(runner, run.id, "deploy-a", lease_seconds=0.5)
    again = claim(runner, run.id, "deploy-b")
    assert (first.attempt, again.attempt) == (1, 2)
    with pytest.raises(modelyard.FailedPreconditionError) as stale:
        runner.record_scoring_result(run.id, "deploy-a", 1, metrics={"accuracy": 0.1})
    assert stale.value.message == (
        f"scoring run {run.id} is leased to 'deploy-b' (attempt 2); the result of 'deploy-a' (attempt 1) is ignored"
    )
    done = runner.record_scoring_result(run.id, "deploy-b", 2, error="column 'tenure' is not numeric")
    assert (done.state, done.message) == (ScoringRunState.ERROR, "column 'tenure' is not numeric")
    with pytest.raises(modelyard.FailedPreconditionError, match="is ERROR already"):
        runner.record_scoring_result(run.id, "deploy-b", 2, metrics={"accuracy": 0.9})
    assert client.metric_history(f"{churn.model}:1", "accuracy") == []


def test_the_deploy_service_alone_claims_and_records(client: modelyard.Client, churn: Churn) -> None:
    from modelyard.internal import InternalCalls

    with pytest.raises(modelyard.PermissionDeniedError, match="only the platform's services"):
        InternalCalls(client).claim_scoring_runs("me", 1, 10)
    with pytest.raises(modelyard.InvalidArgumentError, match="max_runs: must be 1 to 100"):
        InternalCalls(client).claim_scoring_runs("me", 0, 10)


def test_a_stage_gated_by_a_test_opens_once_it_passed(client: modelyard.Client, runner: Any, churn: Churn) -> None:
    test = client.create_scoring_test(
        churn.model, "holdout", dataset=churn.dataset, version=1, required_for=["validation"]
    )
    assert test.required_for == (Stage.VALIDATION,)
    reference = f"{churn.model}:1"

    def refusal() -> str:
        with pytest.raises(modelyard.FailedPreconditionError) as exc:
            client.transition_stage(reference, "validation", reason="ready?")
        return exc.value.message

    gate = f"stage: {reference} may enter VALIDATION once scoring test 'holdout' has passed on it"
    assert refusal() == f"{gate} (last run: none yet)"
    run = client.run_scoring_test(test.id)
    claim(runner, run.id)
    runner.record_scoring_result(run.id, "deploy-a", 1, metrics={"accuracy": 0.5, "f1": 0.5})
    assert refusal() == f"{gate} (last run: FAILED)"
    run = client.run_scoring_test(test.id)
    claim(runner, run.id)
    runner.record_scoring_result(run.id, "deploy-a", 1, metrics={"accuracy": 0.85, "f1": 0.8})
    assert client.transition_stage(reference, "validation", reason="passed holdout").stage is Stage.VALIDATION
    client.transition_stage(reference, "production", reason="PRODUCTION is not gated")
    late = client.create_scoring_test(
        churn.model, "late", dataset=churn.dataset, version=1, required_for=["validation"]
    )
    # Never run on it, yet a step back out of PRODUCTION is not held up.
    assert client.transition_stage(reference, "validation", reason="a step back").stage is Stage.VALIDATION
    client.transition_stage(reference, "archived", reason="retired")
    client.transition_stage(reference, "development", reason="again")
    assert (
        refusal()
        == f"stage: {reference} may enter VALIDATION once scoring test 'late' has passed on it (last run: none yet)"
    )
    client.update_scoring_test(late.id, active=False, reason="paused")
    assert client.transition_stage(reference, "validation", reason="inactive gates nothing").stage is Stage.VALIDATION


def test_a_schedule_runs_a_test_once_per_tick_whoever_claims(
    client: modelyard.Client, runner: Any, scoring_metadata: Any, scoring_tokens: Any, churn: Churn
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from modelyard.internal import InternalCalls

    test = client.create_scoring_test(churn.model, "minutely", dataset=churn.dataset, version=1, schedule="* * * * *")
    tick = test.next_run_at
    assert tick is not None
    while time.time() < tick.timestamp() + 0.5:  # the tick is in the past from here on
        time.sleep(0.2)

    def claims(name: str) -> list[Any]:
        with modelyard.connect(scoring_metadata.target, token=scoring_tokens.deploy) as deploy:
            return [c for _ in range(5) for c in InternalCalls(deploy).claim_scoring_runs(name, 100, 60)]

    with ThreadPoolExecutor(2) as pool:
        leased = [c for found in pool.map(claims, ["deploy-a", "deploy-b"]) for c in found]
    runs = [r for r in client.list_scoring_runs(test_id=test.id) if r.trigger == "schedule"]
    assert [r.scheduled_for for r in runs] == [tick]
    assert [c.run.id for c in leased if c.run.test_id == test.id] == [runs[0].id]
    after = client.get_scoring_test(test.id)
    assert after.next_run_at is not None and after.next_run_at > tick
    client.update_scoring_test(test.id, schedule="", reason="done")
    assert client.get_scoring_test(test.id).next_run_at is None


async def test_the_async_client_waits_for_a_run_until_its_deadline(
    scoring_metadata: Any, scoring_tokens: Any, runner: Any, churn: Churn
) -> None:
    import asyncio

    import modelyard.aio

    async with modelyard.aio.connect(scoring_metadata.target, token=scoring_tokens.admin) as client:
        test = await client.create_scoring_test(churn.model, "holdout", dataset=churn.dataset, version=1)
        waiting = await client.run_scoring_test(test.id)
        with pytest.raises(modelyard.DeadlineExceededError) as late:
            await client.wait_scoring_run(waiting.id, 0.3, poll=0.1)
        assert late.value.message == f"scoring run {waiting.id} is QUEUED after 0.3 s, not finished"

        def score() -> None:
            claim(runner, waiting.id)
            runner.record_scoring_result(waiting.id, "deploy-a", 1, metrics={"accuracy": 0.9, "f1": 0.9})

        scoring = asyncio.get_running_loop().run_in_executor(None, score)
        finished = await client.wait_scoring_run(waiting.id, 30, poll=0.1)
        await scoring
        assert finished.state is ScoringRunState.PASSED
        assert [(m.name, m.source.scoring_run if m.source else "") for m in finished.metrics] == [
            ("accuracy", waiting.id),
            ("f1", waiting.id),
        ]
