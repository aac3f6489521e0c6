"""Who may do what with datasets, with authentication on: viewers read, editors write, and a
caller without a role learns nothing of what a project holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from auth_sessions import Team

import modelyard
from modelyard.internal import InternalCalls


def test_viewers_read_datasets_but_cannot_create_or_push(team: Team, tmp_path: Path) -> None:
    source = tmp_path / "t.parquet"
    pyarrow.parquet.write_table(pyarrow.table({"x": [1, 2]}), source)
    team.owner.create_dataset(f"{team.project}/t")
    version = team.owner.push_dataset(f"{team.project}/t", source)
    team.owner.create_model(f"{team.project}/m")
    model = team.owner.create_version(f"{team.project}/m")

    assert team.viewer.get_dataset_version(version.reference).row_count == 2
    assert [d.name for d in team.viewer.list_datasets(team.project)] == ["t"]
    assert [v.reference for v in team.viewer.search_datasets("x")] == [version.reference]
    assert team.viewer.load_dataset(version.reference)["x"].tolist() == [1, 2]
    with pytest.raises(modelyard.PermissionDeniedError, match="CreateDataset"):
        team.viewer.create_dataset(f"{team.project}/mine")
    with pytest.raises(modelyard.PermissionDeniedError, match="CreateDatasetVersion"):
        team.viewer.push_dataset(f"{team.project}/t", source)
    with pytest.raises(modelyard.PermissionDeniedError, match="LinkDataset"):
        team.viewer.link_dataset(model.reference, version.reference, "trained_on")
    with pytest.raises(modelyard.PermissionDeniedError, match="only the platform's services"):
        InternalCalls(team.owner).fail_dataset_version(version.reference, "no")
    denied = [e for e in team.owner.audit_events(project=team.project) if e.action == "access.denied"]
    assert {e.resource for e in denied} >= {f"dataset:{team.project}/mine", f"dataset:{team.project}/t"}


def test_a_stranger_is_refused_alike_whether_the_dataset_exists_or_not(team: Team, tmp_path: Path) -> None:
    team.owner.create_dataset(f"{team.project}/real")

    def refusal(name: str) -> str:
        with pytest.raises(modelyard.PermissionDeniedError) as refused:
            team.stranger.get_dataset(f"{team.project}/{name}")
        return refused.value.message.replace(name, "NAME")

    assert refusal("real") == refusal("imaginary")
    with pytest.raises(modelyard.PermissionDeniedError):
        team.stranger.get_dataset_version(f"{team.project}/real:1")
    assert list(team.stranger.search_datasets("x")) == []
    pending = team.owner.create_dataset_version(f"{team.project}/real", "CSV")
    later = datetime.now(UTC) + timedelta(minutes=1)
    seen = [v.reference for v in InternalCalls(team.viewer).pending_dataset_versions(later)]
    assert seen == [pending.reference]
    assert list(InternalCalls(team.stranger).pending_dataset_versions(later)) == []
