"""GetModelVersion and SearchModelVersions answer with each version's stored message (and the
cache's copy of it): every change of a version shows in them at once, as the version's rows give
it (ListModelVersions still builds its messages from the rows), and a version whose message is
missing is encoded when read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
from google.protobuf import field_mask_pb2, struct_pb2
from replica_processes import until

import modelyard
from modelyard.internal import InternalCalls
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, types_pb2
from modelyard_common.embedded.service import ServiceProcess

FILE = modelyard.ArtifactFile(path="m.skops", size=3, sha256="3" * 64, storage_key="k/3", content_type="")

Stub = metadata_pb2_grpc.MetadataServiceStub


def _read(stub: Stub, project: str, reference: str) -> types_pb2.ModelVersion:
    """The version as get (twice: the second from the cache), list and search give it; all equal."""
    model = reference.rsplit(":", 1)[0]
    first, second = (stub.GetModelVersion(metadata_pb2.GetModelVersionRequest(reference=reference)) for _ in "12")
    listed = stub.ListModelVersions(metadata_pb2.ListModelVersionsRequest(model=model, page_size=100))
    found = stub.SearchModelVersions(metadata_pb2.SearchModelVersionsRequest(project=project, page_size=100))
    [in_list] = [v for v in listed.versions if v.reference == reference]
    [in_search] = [v for v in found.versions if v.reference == reference]
    assert first.version == second.version == in_list == in_search
    return first.version


def _update(stub: Stub, reference: str, version: types_pb2.ModelVersion, *paths: str) -> None:
    stub.UpdateModelVersion(
        metadata_pb2.UpdateModelVersionRequest(
            reference=reference, version=version, update_mask=field_mask_pb2.FieldMask(paths=paths)
        )
    )


def test_every_change_of_a_version_shows_in_get_and_search(client: modelyard.Client, project: str, stub: Stub) -> None:
    model = f"{project}/m"
    client.create_model(model)
    parent = client.create_version(model).reference
    ref = client.create_version(model, description="first", tags={"team": "a"}).reference
    read = _read(stub, project, ref)
    assert (read.description, dict(read.tags), read.status) == (
        "first",
        {"team": "a"},
        types_pb2.VERSION_STATUS_PENDING_UPLOAD,
    )

    params = struct_pb2.Struct()
    params.update({"depth": 4, "nested": {"rate": 0.5}})
    changes: list[tuple[types_pb2.ModelVersion, str, Callable[[types_pb2.ModelVersion], object], object]] = [
        (types_pb2.ModelVersion(description="second"), "description", lambda v: v.description, "second"),
        (types_pb2.ModelVersion(author="ann"), "author", lambda v: v.author, "ann"),
        (types_pb2.ModelVersion(framework="onnx"), "framework", lambda v: v.framework, "onnx"),
        (types_pb2.ModelVersion(payload_format="onnx"), "payload_format", lambda v: v.payload_format, "onnx"),
        (
            types_pb2.ModelVersion(
                signature=types_pb2.Signature(inputs=[types_pb2.TensorSpec(name="x", datatype="FP32", shape=[-1, 3])])
            ),
            "signature",
            lambda v: [(t.name, list(t.shape)) for t in v.signature.inputs],
            [("x", [-1, 3])],
        ),
        (
            types_pb2.ModelVersion(hyperparameters=params),
            "hyperparameters",
            lambda v: v.hyperparameters,
            params,
        ),
        (
            types_pb2.ModelVersion(dependencies=[types_pb2.Dependency(library="numpy", version="2.1.0")]),
            "dependencies",
            lambda v: [d.library for d in v.dependencies],
            ["numpy"],
        ),
        (
            types_pb2.ModelVersion(code_location=types_pb2.SourceLocation(uri="git://x", revision="abc")),
            "code_location",
            lambda v: (v.code_location.uri, v.code_location.revision),
            ("git://x", "abc"),
        ),
        (
            types_pb2.ModelVersion(data_location=types_pb2.SourceLocation(uri="s3://d")),
            "data_location",
            lambda v: v.data_location.uri,
            "s3://d",
        ),
        (
            types_pb2.ModelVersion(tags={"team": "b", "env": "prod"}),
            "tags",
            lambda v: dict(v.tags),
            {"team": "b", "env": "prod"},
        ),
        (types_pb2.ModelVersion(produced_by=[parent]), "produced_by", lambda v: list(v.produced_by), [parent]),
    ]
    for change, path, shown, expected in changes:
        before = _read(stub, project, ref).update_time
        _update(stub, ref, change, path)
        read = _read(stub, project, ref)
        assert shown(read) == expected, path
        assert read.update_time.ToDatetime() >= before.ToDatetime()

    client.log_metrics(ref, {"accuracy": 0.9})
    assert [(m.name, m.number) for m in _read(stub, project, ref).metrics] == [("accuracy", 0.9)]
    client.log_metrics(ref, {"accuracy": 0.95, "importance": {"age": 1.0}})
    accuracy, importance = _read(stub, project, ref).metrics
    assert (accuracy.name, accuracy.number, importance.name, dict(importance.structured)) == (
        "accuracy",
        0.95,
        "importance",
        {"age": 1.0},
    )

    InternalCalls(client).commit_artifact(ref, modelyard.Artifact(files=(FILE,), total_size=3))
    read = _read(stub, project, ref)
    assert (read.status, [f.sha256 for f in read.artifact.files]) == (types_pb2.VERSION_STATUS_READY, ["3" * 64])
    client.transition_stage(ref, "VALIDATION")
    assert _read(stub, project, ref).stage == types_pb2.STAGE_VALIDATION

    client.set_alias(model, "champion", 2)
    client.set_alias(model, "best", 2)
    assert list(_read(stub, project, ref).aliases) == ["best", "champion"]
    by_alias = stub.GetModelVersion(metadata_pb2.GetModelVersionRequest(reference=f"{model}@champion"))
    assert by_alias.version == _read(stub, project, ref)
    InternalCalls(client).commit_artifact(parent, modelyard.Artifact(files=(FILE,), total_size=3))
    client.set_alias(model, "champion", 1)
    assert list(_read(stub, project, ref).aliases) == ["best"]
    assert list(_read(stub, project, parent).aliases) == ["champion"]
    client.delete_alias(model, "best")
    assert list(_read(stub, project, ref).aliases) == []

    failing = client.create_version(model).reference
    InternalCalls(client).fail_upload(failing, "digest mismatch")
    read = _read(stub, project, failing)
    assert (read.status, read.status_message) == (types_pb2.VERSION_STATUS_FAILED, "digest mismatch")


def _on_postgres(dsn: str, sql: str, *args: object) -> object:
    """What one statement gives, run straight on Postgres (behind the service)."""

    async def run() -> object:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def _messages_stored(dsn: str, project: str) -> object:
    return _on_postgres(
        dsn,
        "SELECT count(*) FROM version_wire w JOIN model_versions v ON v.id = w.version_id WHERE v.project = $1",
        project,
    )


def test_a_version_without_a_stored_message_is_encoded_when_read(
    client: modelyard.Client, project: str, stub: Stub, metadata_dsn: str
) -> None:
    """As versions written before messages were stored, or changed by something else than the service."""
    model = f"{project}/m"
    client.create_model(model)
    ref = client.create_version(model, description="kept", tags={"k": "v"}).reference
    assert _messages_stored(metadata_dsn, project) == 1
    # Any change of the row outdates the message: the trigger removes it. (Before any read, so
    # that nothing is cached: the service cannot know of a change made behind it.)
    _on_postgres(metadata_dsn, "UPDATE model_versions SET description = 'changed' WHERE project = $1", project)
    assert _messages_stored(metadata_dsn, project) == 0
    read = _read(stub, project, ref)
    assert (read.description, dict(read.tags)) == ("changed", {"k": "v"})


def test_missing_messages_are_stored_when_a_replica_starts(
    client: modelyard.Client,
    project: str,
    metadata_dsn: str,
    start_service: Callable[..., ServiceProcess],
) -> None:
    model = f"{project}/m"
    client.create_model(model)
    ref = client.create_version(model, description="old").reference
    assert _messages_stored(metadata_dsn, project) == 1
    _on_postgres(
        metadata_dsn,
        "DELETE FROM version_wire w USING model_versions v WHERE v.id = w.version_id AND v.project = $1",
        project,
    )
    replica = start_service(metadata_dsn)
    with modelyard.connect(replica.target) as other:
        assert other.get_version(ref).description == "old"
    until(lambda: _messages_stored(metadata_dsn, project) == 1, f"the replica storing the message of {ref}")
