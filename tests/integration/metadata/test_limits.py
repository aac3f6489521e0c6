"""Input that used to reach Postgres unchecked, now INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import timestamp_pb2
from stored_json import depth, nested, store_too_deep

import modelyard
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, types_pb2
from modelyard_common.embedded.service import ServiceProcess
from modelyard_metadata.domain.json_bounds import TOO_DEEP
from modelyard_metadata.domain.limits import MAX_SHOWN_JSON_DEPTH


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


def test_json_values_past_their_bounds_are_refused_naming_the_field_and_nothing_is_written(
    stub: metadata_pb2_grpc.MetadataServiceStub, client: modelyard.Client, project: str
) -> None:
    client.create_model(f"{project}/m")
    reference = client.create_version(f"{project}/m").reference

    def log(structured: dict[str, object], name: str = "importance") -> Callable[[], object]:
        request = metadata_pb2.LogMetricsRequest(reference=reference)
        request.metrics.add(name=name).structured.update(structured)
        return lambda: stub.LogMetrics(request)

    too_deep = "nests objects and lists more than 16 levels deep; at most 16 allowed"
    # 32 levels below the top (the reported metric) used to be stored, then broke every read of the project.
    for levels in (17, 33):
        assert _refused(log(nested(levels)), "metrics[0].structured") == f"metrics[0].structured: {too_deep}"
    # One more nests past protobuf's limit in the request itself: once UNKNOWN.
    _refused(log(nested(34)), "metrics[0].structured.fields[0]...")
    assert _refused(log({"k" * 257: 1}), "metrics[0].structured").endswith(
        "has a key of 257 characters; at most 256 allowed"
    )
    assert _refused(log({"x": list(range(4097))}), "metrics[0].structured").endswith(
        "has more than 4096 entries (object members and list items) in all"
    )
    many = metadata_pb2.LogMetricsRequest(reference=reference)
    for i in range(20):
        many.metrics.add(name=f"m{i}").structured.update({"v": "a" * 60_000})
    assert "at most 1048576 a call" in _refused(lambda: stub.LogMetrics(many), "metrics")

    request = metadata_pb2.CreateModelVersionRequest(model=f"{project}/m")
    request.hyperparameters.update(nested(17))
    assert _refused(lambda: stub.CreateModelVersion(request), "hyperparameters") == f"hyperparameters: {too_deep}"
    update = metadata_pb2.UpdateModelVersionRequest(reference=reference)
    update.version.hyperparameters.update(nested(17))
    update.update_mask.paths.append("hyperparameters")
    _refused(lambda: stub.UpdateModelVersion(update), "hyperparameters")

    version = client.get_version(reference)
    assert (version.metrics, version.custom_metrics, version.hyperparameters) == ({}, {}, {})
    assert [e.action for e in client.audit_events(resource=reference)] == ["version.create"]
    assert len(list(client.list_versions(f"{project}/m"))) == 1
    # At the bounds, accepted.
    client.log_metrics(reference, {"importance": nested(16)})
    assert client.get_version(reference).custom_metrics["importance"] == nested(16)
    # The audit snapshot of the version wraps it 3 levels deeper, and still shows it whole.
    client.update_version(reference, tags={"t": "1"})
    event = next(iter(client.audit_events(resource=reference)))
    assert event.action == "version.update"
    assert depth(event.after) == MAX_SHOWN_JSON_DEPTH and TOO_DEEP not in json.dumps(event.after)


async def test_values_stored_before_the_bounds_show_a_marker_and_every_read_works(
    start_service: Callable[..., ServiceProcess], fresh_database: str
) -> None:
    service = start_service(fresh_database)
    with modelyard.connect(service.target, actor="tester") as client:
        client.create_project("p")
        client.create_model("p/m")
        bad, good = (client.create_version("p/m").reference for _ in range(2))
        client.log_metrics(good, {"accuracy": 0.9})
        await store_too_deep(fresh_database, bad)

        def marked(value: object) -> None:
            """Shown down to the deepest level a response carries, the rest as the marker."""
            assert depth(value) == MAX_SHOWN_JSON_DEPTH
            assert TOO_DEEP in json.dumps(value)

        version = client.get_version(bad)
        marked(version.hyperparameters)
        marked(version.custom_metrics["deep"])
        marked(client.metric_history(bad, "deep")[0].value)
        assert [v.reference for v in client.list_versions("p/m")] == [good, bad]
        assert {v.reference for v in client.search_versions(project="p")} == {good, bad}
        assert {v.reference for v in client.search_versions()} == {good, bad}  # every project, as a platform admin
        assert [v.reference for v in client.compare([bad, good]).versions] == [bad, good]
        events = list(client.audit_events())
        assert (events[0].action, events[0].resource) == ("version.update", bad)
        marked(events[0].after)
        assert [e.id for e in client.audit_events(project="p")] == [e.id for e in events]
        watched = client.watch_events(project="p", after_id=events[-1].id)
        assert [e.id for e in itertools.islice(watched, len(events) - 1)] == [e.id for e in reversed(events[:-1])]
        assert client.set_alias("p/m", "best", 1).version.reference == bad  # type: ignore[union-attr]
        client.log_metrics(bad, {"loss": 0.1})
        assert client.get_version(bad).metrics["loss"] == 0.1


def test_the_structured_metrics_of_a_version_are_bounded_together(
    stub: metadata_pb2_grpc.MetadataServiceStub, client: modelyard.Client, project: str
) -> None:
    # Each call is within its bounds; the version would show them all in every response.
    client.create_model(f"{project}/m")
    reference = client.create_version(f"{project}/m").reference
    for i in range(17):  # 17 x 60 KB: under 1 MiB; an 18th would pass it
        client.log_metrics(reference, {f"importance{i}": {"v": "a" * 60_000}})
    more = metadata_pb2.LogMetricsRequest(reference=reference)
    more.metrics.add(name="more").structured.update({"v": "a" * 60_000})
    details = _refused(lambda: stub.LogMetrics(more), "metrics")
    assert details.endswith("bytes of structured metrics as JSON; at most 1048576 a version")
    client.log_metrics(reference, {"importance0": {"v": "b" * 60_000}, "accuracy": 0.9})  # the total stays
    assert set(client.get_version(reference).custom_metrics) == {f"importance{i}" for i in range(17)}
