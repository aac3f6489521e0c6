"""Projects and models through the SDK against the real service."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

import modelyard
from modelyard import errors
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, types_pb2


def test_create_project_then_get_returns_it(client: modelyard.Client, project: str) -> None:
    got = client.get_project(project)
    assert (got.name, got.owner, got.description) == (project, "tester", "test project")


def test_create_project_twice_is_already_exists(client: modelyard.Client, project: str) -> None:
    with pytest.raises(errors.AlreadyExistsError, match=f"project '{project}' already exists"):
        client.create_project(project)


def test_invalid_project_name_names_the_field(client: modelyard.Client) -> None:
    with pytest.raises(errors.InvalidArgumentError) as caught:
        client.create_project("Bad Name")
    assert caught.value.message.startswith("name: 'Bad Name' is not a valid name")


def test_create_model_keeps_every_field(client: modelyard.Client, project: str) -> None:
    code = modelyard.SourceLocation(uri="git+https://git.internal/churn.git", revision="abc123", path="train.py")
    created = client.create_model(
        f"{project}/churn",
        description="churn scorer",
        owner="alice",
        team="growth",
        kind="CUSTOM",
        tags={"domain": "retention"},
        code_location=code,
    )
    got = client.get_model(f"{project}/churn")
    assert got == created
    assert (got.owner, got.team, got.kind, got.tags) == (
        "alice",
        "growth",
        modelyard.ModelKind.CUSTOM,
        {"domain": "retention"},
    )
    assert got.code_location == code
    assert got.latest_version == 0 and not got.archived


def test_create_model_in_missing_project_is_not_found(client: modelyard.Client) -> None:
    with pytest.raises(errors.NotFoundError, match="project 'no-such-project' does not exist"):
        client.create_model("no-such-project/m")


def test_create_model_twice_is_already_exists(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m")
    with pytest.raises(errors.AlreadyExistsError, match=f"model '{project}/m' already exists"):
        client.create_model(f"{project}/m")


def test_update_model_changes_only_masked_fields(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m", description="first", team="a")
    updated = client.update_model(f"{project}/m", team="b")
    assert (updated.team, updated.description) == ("b", "first")
    assert client.get_model(f"{project}/m").team == "b"


def test_update_model_rejects_unknown_field_in_mask(
    client: modelyard.Client, project: str, stub: metadata_pb2_grpc.MetadataServiceStub
) -> None:
    client.create_model(f"{project}/m")
    with pytest.raises(grpc.RpcError) as caught:
        stub.UpdateModel(
            metadata_pb2.UpdateModelRequest(
                model=types_pb2.Model(project=project, name="m"),
                update_mask=field_mask_pb2.FieldMask(paths=["latest_version"]),
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("update_mask: 'latest_version' cannot be updated")


def test_archived_model_is_hidden_and_takes_no_versions(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/old")
    client.create_model(f"{project}/new")
    archived = client.archive_model(f"{project}/old", reason="superseded")
    assert archived.archived
    assert [m.name for m in client.list_models(project)] == ["new"]
    assert [m.name for m in client.list_models(project, include_archived=True)] == ["new", "old"]
    with pytest.raises(errors.FailedPreconditionError, match="is archived"):
        client.create_version(f"{project}/old")


def test_list_models_pages_through_all_in_name_order(
    client: modelyard.Client, project: str, stub: metadata_pb2_grpc.MetadataServiceStub
) -> None:
    names = [f"m{i:02d}" for i in range(7)]
    for name in reversed(names):
        client.create_model(f"{project}/{name}")
    seen: list[str] = []
    token = ""
    while True:
        page = stub.ListModels(metadata_pb2.ListModelsRequest(project=project, page_size=3, page_token=token))
        assert len(page.models) <= 3
        seen += [m.name for m in page.models]
        token = page.next_page_token
        if not token:
            break
    assert seen == names
