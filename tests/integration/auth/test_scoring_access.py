"""Who may do what with score definitions and scoring tests, with authentication on: viewers read,
editors define, create and run, only project admins gate a stage on a test, only the deploy
service claims and records runs, and a caller without a role learns nothing of a test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from auth_sessions import AuthTokens, Platform, Team

import modelyard
from modelyard.internal import InternalCalls


@pytest.fixture()
def editor(team: Team, platform: Platform, auth_tokens: AuthTokens) -> Iterator[modelyard.Client]:
    name = f"editor-{uuid.uuid4().hex[:8]}"
    with platform.client(auth_tokens.admin) as admin:
        admin.create_principal(name)
        secret = admin.create_token(name, description="tests").secret
    team.owner.set_project_role(team.project, name, "editor")
    with platform.client(secret) as client:
        yield client


def test_viewers_read_editors_write_admins_gate(team: Team, editor: modelyard.Client, tmp_path: Path) -> None:
    model = f"{team.project}/churn"
    team.owner.create_model(model)
    artifact = tmp_path / "model.json"
    artifact.write_text("{}")
    team.owner.push(model, artifact)
    table = tmp_path / "t.csv"
    table.write_text("x,y\n1,0\n2,1\n")
    team.owner.create_dataset(f"{team.project}/t")
    dataset = team.owner.push_dataset(f"{team.project}/t", table).reference
    fields = {"task": "classification", "inputs": {"features": ["x"]}, "label_column": "y"}

    with pytest.raises(modelyard.PermissionDeniedError, match="SetScoreDefinition"):
        team.viewer.set_score_definition(model, **fields)  # type: ignore[arg-type]
    editor.set_score_definition(model, **fields)  # type: ignore[arg-type]
    assert team.viewer.get_score_definition(model).label_column == "y"
    with pytest.raises(modelyard.PermissionDeniedError, match="CreateScoringTest"):
        team.viewer.create_scoring_test(model, "holdout", dataset=dataset, version=1)
    with pytest.raises(modelyard.PermissionDeniedError, match=r"CreateScoringTest \(required_for\)"):
        editor.create_scoring_test(model, "gated", dataset=dataset, version=1, required_for=["production"])
    test = editor.create_scoring_test(model, "holdout", dataset=dataset, version=1)
    with pytest.raises(modelyard.PermissionDeniedError, match=r"UpdateScoringTest \(required_for\)"):
        editor.update_scoring_test(test.id, required_for=["validation"])
    gated = team.owner.update_scoring_test(test.id, required_for=["validation"], reason="gate it")
    assert [s.value for s in gated.required_for] == ["VALIDATION"]
    with pytest.raises(modelyard.PermissionDeniedError, match=r"DeleteScoringTest \(required_for\)"):
        editor.delete_scoring_test(test.id)

    with pytest.raises(modelyard.PermissionDeniedError, match="RunScoringTest"):
        team.viewer.run_scoring_test(test.id)
    run = editor.run_scoring_test(test.id)
    assert [t.id for t in team.viewer.list_scoring_tests(team.project)] == [test.id]
    assert team.viewer.get_scoring_run(run.id).state.value == "QUEUED"
    assert [r.id for r in team.viewer.list_scoring_runs(test_id=test.id)] == [run.id]
    for client in (team.owner, editor):
        with pytest.raises(modelyard.PermissionDeniedError, match="only the platform's services"):
            InternalCalls(client).claim_scoring_runs("me", 1, 10)
        with pytest.raises(modelyard.PermissionDeniedError, match="only the platform's services"):
            InternalCalls(client).record_scoring_result(run.id, "me", 1, metrics={"accuracy": 1.0})

    actions = [(e.action, e.reason) for e in team.owner.audit_events(project=team.project)]
    assert ("scoring_test.updated", "gate it") in actions
    assert {a for a, _ in actions} >= {"scoring_definition.set", "scoring_test.created", "scoring_test.requested"}


def test_a_stranger_is_told_a_test_or_run_does_not_exist(team: Team, tmp_path: Path) -> None:
    model = f"{team.project}/m"
    team.owner.create_model(model)
    table = tmp_path / "t.csv"
    table.write_text("x,y\n1,0\n")
    team.owner.create_dataset(f"{team.project}/t")
    dataset = team.owner.push_dataset(f"{team.project}/t", table).reference
    team.owner.set_score_definition(model, task="regression", inputs={"i": ["x"]}, label_column="y")
    test = team.owner.create_scoring_test(model, "t", dataset=dataset, every_new_version=True)
    absent = str(uuid.uuid4())

    def refusal(test_id: str) -> str:
        with pytest.raises(modelyard.NotFoundError) as exc:
            team.stranger.get_scoring_test(test_id)
        return exc.value.message.replace(test_id, "ID")

    assert refusal(test.id) == refusal(absent) == "scoring test 'ID' does not exist"
    with pytest.raises(modelyard.NotFoundError):
        team.stranger.run_scoring_test(test.id)
    with pytest.raises(modelyard.PermissionDeniedError):
        team.stranger.list_scoring_tests(team.project)
    own = f"own-{uuid.uuid4().hex[:8]}"
    team.stranger.create_project(own)
    team.stranger.create_model(f"{own}/m")
    team.stranger.set_score_definition(f"{own}/m", task="regression", inputs={"i": ["x"]}, label_column="y")
    with pytest.raises(modelyard.InvalidArgumentError) as unreadable:
        team.stranger.create_scoring_test(f"{own}/m", "t", dataset=dataset, every_new_version=True)
    assert unreadable.value.message == f"test.dataset: '{dataset}' is not a dataset version you may read"
