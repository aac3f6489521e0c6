"""Who consumes a version, recorded by the platform where it checks access: a user's pull through
the registry, a deployment through the deploy service (its replicas' serving credentials are not
consumers of their own), read back with ListVersionConsumers, the SDK and the CLI."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from auth_sessions import AuthTokens, Platform, Team
from classifiers import push_classifier
from click.testing import CliRunner

from modelyard import (
    Consumption,
    ConsumptionKind,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProjectRole,
)
from modelyard.cli import cli
from modelyard.internal import InternalCalls


def _teams(platform: Platform, auth_tokens: AuthTokens, memberships: dict[str, list[str]]) -> None:
    """Creates each team (named with a fresh suffix by the caller) and adds its members."""
    with platform.client(auth_tokens.admin) as admin:
        for team_name, members in memberships.items():
            admin.create_principal(team_name, kind="team")
            for member in members:
                admin.add_team_member(team_name, member)


def test_pulls_record_each_user_with_their_teams_at_most_once_a_minute(
    team: Team, platform: Platform, auth_tokens: AuthTokens, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    risk, core = f"risk-{suffix}", f"core-{suffix}"
    _teams(platform, auth_tokens, {risk: [team.names["viewer"]], core: [team.names["viewer"], team.names["owner"]]})
    reference = push_classifier(team.owner, f"{team.project}/scorer", tmp_path / "model")
    # Pushing is not consuming: no bytes came out.
    assert team.owner.version_consumers(reference).consumers == ()

    team.viewer.pull(f"{team.project}/scorer", tmp_path / "first")  # the latest READY: version 1
    (viewer,) = team.viewer.version_consumers(reference).consumers
    assert (viewer.principal, viewer.kind, viewer.detail) == (team.names["viewer"], ConsumptionKind.DOWNLOAD, "")
    assert viewer.teams == tuple(sorted((risk, core)))
    assert viewer.first_time is not None and viewer.first_time == viewer.last_time

    # Within the minute another pull (fresh files, so bytes do move) leaves the row as it was.
    team.viewer.pull(reference, tmp_path / "second")
    assert team.viewer.version_consumers(reference).consumers == (viewer,)

    team.owner.pull(reference, tmp_path / "owner")
    consumers = team.viewer.version_consumers(f"{team.project}/scorer:1")
    assert consumers.reference == reference
    assert [(c.principal, c.teams) for c in consumers.consumers] == [
        (team.names["owner"], (core,)),
        (team.names["viewer"], tuple(sorted((risk, core)))),
    ]
    assert consumers.team_count == 2  # core counted once

    with pytest.raises(PermissionDeniedError) as denied:
        team.stranger.version_consumers(reference)
    assert f"needs VIEWER on project {team.project!r}" in denied.value.message
    with pytest.raises(NotFoundError, match="has no version 99"):
        team.viewer.version_consumers(f"{team.project}/scorer:99")
    with pytest.raises(InvalidArgumentError, match=r"^reference: "):
        team.viewer.version_consumers("scorer")

    secret = team.viewer.create_token(description="cli").secret
    args = ["--target", platform.metadata.target, "--token", secret, "version", "consumers", reference]
    shown = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    lines = [line.strip() for line in shown.stdout.splitlines() if line.strip()]
    assert lines[0].split() == ["PRINCIPAL", "TEAMS", "KIND", "DETAIL", "FIRST", "LAST"]
    assert team.names["owner"] in shown.stdout and f"{core}, {risk}" in shown.stdout
    assert lines[-1] == "2 teams use it"
    as_json = CliRunner().invoke(cli, ["--json", *args])
    assert json.loads(as_json.stdout)["team_count"] == 2


def test_authorize_refuses_a_consumption_it_cannot_record(
    team: Team, platform: Platform, auth_tokens: AuthTokens, tmp_path: Path
) -> None:
    """A service's malformed consumption is refused naming the field, and nothing is recorded."""
    reference = push_classifier(team.owner, f"{team.project}/scorer", tmp_path / "model")
    token = team.viewer.create_token(description="asked about").secret
    bad = {
        "consumption.reference": Consumption(ConsumptionKind.DOWNLOAD, "elsewhere/scorer:1"),
        "consumption.deployment": Consumption(ConsumptionKind.DEPLOYMENT, reference),
        "consumption.kind": Consumption(ConsumptionKind.UNSPECIFIED, reference),
    }
    with platform.client(auth_tokens.registry) as registry:
        calls = InternalCalls(registry)
        for field, consumption in bad.items():
            with pytest.raises(InvalidArgumentError, match=f"^{field}: "):
                calls.authorize(token, team.project, ProjectRole.VIEWER, "test", reference, False, consumption)
    assert team.owner.version_consumers(reference).consumers == ()


def test_a_deployment_is_the_consumer_not_its_replicas_downloads(team: Team, tmp_path: Path) -> None:
    reference = push_classifier(team.owner, f"{team.project}/scorer", tmp_path / "model")
    name = f"consumed-{team.project.rsplit('-', 1)[1]}"
    team.owner.deploy(name, f"{team.project}/scorer")
    try:
        # Ready: its replica has downloaded the version with its serving credential.
        assert team.owner.wait_deployment(name, timeout=120).ready_replicas == 1
        consumers = team.viewer.version_consumers(reference)
    finally:
        team.owner.delete_deployment(name)
    assert [(c.principal, c.kind, c.detail) for c in consumers.consumers] == [
        (team.names["owner"], ConsumptionKind.DEPLOYMENT, name)
    ]
    assert consumers.team_count == 0
