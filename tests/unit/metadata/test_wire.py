"""Responses assembled from stored messages (api/wire.py) decode as the messages built whole."""

from __future__ import annotations

from datetime import UTC, datetime

from modelyard.v1 import metadata_pb2
from modelyard_metadata.api import wire
from modelyard_metadata.api.convert import version_to_pb
from modelyard_metadata.domain.entities import (
    Dependency,
    DependencyScope,
    EncodedVersion,
    MetricPoint,
    ModelVersion,
    SourceLocation,
    Stage,
    TensorSpec,
    VersionStatus,
)

MOMENT = datetime(2026, 12, 5, 9, 30, 1, 123456, tzinfo=UTC)


def _version(
    number: int, aliases: tuple[str, ...], produced_by: tuple[str, ...], description: str = "a description " * 20
) -> ModelVersion:
    return ModelVersion(
        id=number,
        model_id=7,
        project="p",
        model="m",
        version=number,
        stage=Stage.PRODUCTION,
        status=VersionStatus.READY,
        status_message="",
        framework="sklearn",
        payload_format="skops",
        author="ann",
        description=description,
        inputs=(TensorSpec("x", "FP32", (-1, 3)),),
        outputs=(TensorSpec("y", "FP32", (-1,)),),
        hyperparameters={"depth": 4, "nested": {"rate": 0.5, "list": [1, "a", None, True]}},
        dependencies=(Dependency("numpy", "2.1.0", DependencyScope.RUN),),
        produced_by=produced_by,
        code_location=SourceLocation("git://x", "abc", "src"),
        data_location=SourceLocation(),
        tags={"team": "risk", "env": "prod"},
        aliases=aliases,
        metrics=(
            MetricPoint("accuracy", 0.93, None, 2, MOMENT),
            MetricPoint("importance", None, {"age": 1.0}, 0, MOMENT),
        ),
        artifact={"files": [{"path": "m", "size": 3, "sha256": "3" * 64, "storage_key": "k", "content_type": ""}]},
        created_at=MOMENT,
        updated_at=MOMENT,
    )


ONE_VERSION = (
    metadata_pb2.CreateModelVersionResponse,
    metadata_pb2.UpdateModelVersionResponse,
    metadata_pb2.LogMetricsResponse,
    metadata_pb2.TransitionStageResponse,
    metadata_pb2.CommitArtifactResponse,
    metadata_pb2.FailUploadResponse,
)


def _encoded(version: ModelVersion) -> EncodedVersion:
    proto = wire.ProtoWire()
    return EncodedVersion(
        version.reference, proto.version(version) + proto.appended(version.aliases, version.produced_by)
    )


def test_a_stored_message_with_its_aliases_and_lineage_appended_is_the_whole_version_in_either_response() -> None:
    for aliases, produced_by in (((), ()), (("best", "champion"), ()), ((), ("p/a:1", "p/b:2")), (("x",), ("p/a:1",))):
        version = _version(3, aliases, produced_by)
        answered = wire.version_response(_encoded(version))
        response = metadata_pb2.GetModelVersionResponse.FromString(answered)
        assert response == metadata_pb2.GetModelVersionResponse(version=version_to_pb(version))
        for kind in ONE_VERSION:  # the same bytes answer each RPC that answers one version
            assert kind.FromString(answered) == kind(version=version_to_pb(version))


def test_a_search_page_assembled_from_messages_decodes_as_built_whole() -> None:
    # Messages of one-, two- and three-byte lengths.
    versions = [_version(n, ("champion",) if n == 2 else (), (), "d" * (10**n // 10)) for n in range(1, 7)]
    versions += [_version(n, ("champion",) if n == 8 else (), ()) for n in range(7, 40)]
    for token in ("", "next-page-token"):
        page = metadata_pb2.SearchModelVersionsResponse.FromString(
            wire.search_response([_encoded(v) for v in versions], token)
        )
        assert page == metadata_pb2.SearchModelVersionsResponse(
            versions=[version_to_pb(v) for v in versions], next_page_token=token
        )
    assert wire.search_response([], "") == b""
