"""Input that used to reach Postgres unchecked, now INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import timestamp_pb2

import modelyard
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, types_pb2


def _refused(call: object, field: str) -> str:
    assert callable(call)
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    details = str(caught.value.details())
    assert details.startswith(f"{field}: "), details
    return details


def test_text_with_a_nul_character_is_refused_not_a_server_error(
    stub: metadata_pb2_grpc.MetadataServiceStub, project: str
) -> None:
    details = _refused(
        lambda: stub.CreateProject(metadata_pb2.CreateProjectRequest(name=f"{project}-x", description="a\x00b")),
        "description",
    )
    assert details == "description: contains a NUL character, which cannot be stored"
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetProject(metadata_pb2.GetProjectRequest(name=f"{project}-x"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND  # nothing was written
    model = types_pb2.Model(project=project, name="m", tags={"team": "r\x00"})
    _refused(lambda: stub.CreateModel(metadata_pb2.CreateModelRequest(model=model)), "model.tags['team']")


def test_hyperparameters_with_a_nul_character_are_refused(
    stub: metadata_pb2_grpc.MetadataServiceStub, client: modelyard.Client, project: str
) -> None:
    client.create_model(f"{project}/m")
    request = metadata_pb2.CreateModelVersionRequest(model=f"{project}/m")
    request.hyperparameters.update({"nested": {"k\x00": 1}})
    _refused(lambda: stub.CreateModelVersion(request), "hyperparameters")


def test_metric_times_out_of_range_are_refused(
    stub: metadata_pb2_grpc.MetadataServiceStub, client: modelyard.Client, project: str
) -> None:
    client.create_model(f"{project}/m")
    reference = client.create_version(f"{project}/m").reference
    far = timestamp_pb2.Timestamp(seconds=2**62)
    metric = types_pb2.Metric(name="accuracy", number=0.9, time=far)
    request = metadata_pb2.LogMetricsRequest(reference=reference, metrics=[metric])
    details = _refused(lambda: stub.LogMetrics(request), "metrics[0].time")
    assert details.endswith("is not a time between years 1 and 9999")
    assert client.get_version(reference).metrics == {}
    since = metadata_pb2.ListAuditEventsRequest(since=timestamp_pb2.Timestamp(seconds=0, nanos=-1))
    _refused(lambda: stub.ListAuditEvents(since), "since")


def test_forged_page_tokens_are_refused(stub: metadata_pb2_grpc.MetadataServiceStub, project: str) -> None:
    # {"k":"audit","p":"x"}: the right listing, a position that is not an id.
    token = "eyJrIjoiYXVkaXQiLCJwIjoieCJ9"
    details = _refused(
        lambda: stub.ListAuditEvents(metadata_pb2.ListAuditEventsRequest(page_token=token)), "page_token"
    )
    assert details == "page_token: was not issued for this audit listing"


def test_artifact_files_with_unstorable_text_are_refused(
    stub: metadata_pb2_grpc.MetadataServiceStub, client: modelyard.Client, project: str
) -> None:
    client.create_model(f"{project}/m")
    reference = client.create_version(f"{project}/m").reference
    file = types_pb2.ArtifactFile(path="m.bin", size=1, sha256="1" * 64, storage_key="k\x00")
    request = metadata_pb2.CommitArtifactRequest(reference=reference, artifact=types_pb2.Artifact(files=[file]))
    _refused(lambda: stub.CommitArtifact(request), "artifact.files[0].storage_key")
    assert client.get_version(reference).status is modelyard.VersionStatus.PENDING_UPLOAD
