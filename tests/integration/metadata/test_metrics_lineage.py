"""Metrics with history, search, lineage, comparison and project summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

import modelyard
from modelyard import errors
from modelyard.internal import InternalCalls
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, types_pb2

FILE = modelyard.ArtifactFile(path="m.onnx", size=1, sha256="0" * 64, storage_key="k", content_type="")


def ready(client: modelyard.Client, reference: str) -> None:
    InternalCalls(client).commit_artifact(reference, modelyard.Artifact(files=(FILE,), total_size=1))


def test_metrics_keep_history_and_latest(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m")
    ref = client.create_version(f"{project}/m").reference
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for day, accuracy in enumerate([0.91, 0.89, 0.86]):
        client.log_metrics(ref, {"accuracy": accuracy}, time=start + timedelta(days=day))
    importance = {"age": 0.5, "income": 0.3, "tenure": 0.2}
    version = client.log_metrics(ref, {"feature_importance": importance, "auc": 0.95}, step=3)
    assert version.metrics == {"accuracy": 0.86, "auc": 0.95}
    assert version.custom_metrics == {"feature_importance": importance}
    history = client.metric_history(ref, "accuracy")
    assert [p.value for p in history] == [0.91, 0.89, 0.86]
    assert [p.time for p in history] == [start + timedelta(days=d) for d in range(3)]
    # A backfilled older value joins the history but does not replace the latest one.
    client.log_metrics(ref, {"accuracy": 0.99}, time=start - timedelta(days=1))
    assert client.get_version(ref).metrics["accuracy"] == 0.86
    assert len(client.metric_history(ref, "accuracy")) == 4


def test_non_finite_metric_is_rejected_without_writing(
    client: modelyard.Client, project: str, stub: metadata_pb2_grpc.MetadataServiceStub
) -> None:
    client.create_model(f"{project}/m")
    ref = client.create_version(f"{project}/m").reference
    metrics = [types_pb2.Metric(name="ok", number=1.0), types_pb2.Metric(name="bad", number=float("nan"))]
    with pytest.raises(grpc.RpcError) as caught:
        stub.LogMetrics(metadata_pb2.LogMetricsRequest(reference=ref, metrics=metrics))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "metrics[1].number: must be a finite number, got nan"
    assert client.get_version(ref).metrics == {}
    assert client.metric_history(ref, "ok") == []


def test_search_filters_orders_and_pages(
    client: modelyard.Client, project: str, stub: metadata_pb2_grpc.MetadataServiceStub
) -> None:
    client.create_model(f"{project}/a")
    client.create_model(f"{project}/b")
    accuracies = {"a": [0.7, 0.95, 0.85], "b": [0.9, 0.6]}
    for model, values in accuracies.items():
        for value in values:
            ref = client.create_version(
                f"{project}/{model}", tags={"team": "risk" if model == "a" else "ads"}
            ).reference
            client.log_metrics(ref, {"accuracy": value})
    found = client.search_versions("metrics.accuracy >= 0.85", order_by="metrics.accuracy DESC", project=project)
    assert [v.reference for v in found] == [f"{project}/a:2", f"{project}/b:1", f"{project}/a:3"]
    risky = client.search_versions('tags.team = "risk" AND NOT metrics.accuracy < 0.8', project=project)
    assert sorted(v.reference for v in risky) == [f"{project}/a:2", f"{project}/a:3"]
    # Keyset pages of 2 cover every version exactly once, in order.
    refs, token = [], ""
    while True:
        page = stub.SearchModelVersions(
            metadata_pb2.SearchModelVersionsRequest(
                project=project, order_by="metrics.accuracy", page_size=2, page_token=token
            )
        )
        refs += [v.reference for v in page.versions]
        token = page.next_page_token
        if not token:
            break
    assert refs == [f"{project}/b:2", f"{project}/a:1", f"{project}/a:3", f"{project}/b:1", f"{project}/a:2"]


def test_ordering_by_a_metric_follows_its_latest_value(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m")
    refs = [client.create_version(f"{project}/m").reference for _ in range(5)]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for ref, value in zip(refs[:4], [0.5, 0.7, 0.9, 0.6], strict=True):
        client.log_metrics(ref, {"score": value}, time=start)

    def ordered(order_by: str) -> list[str]:
        return [v.reference for v in client.search_versions(order_by=order_by, project=project)]

    assert ordered("metrics.score DESC") == [refs[2], refs[1], refs[3], refs[0], refs[4]]
    client.log_metrics(refs[0], {"score": 0.95}, time=start + timedelta(days=1))  # a newer value moves it
    client.log_metrics(refs[2], {"score": 0.1}, time=start - timedelta(days=1))  # an older one does not
    client.log_metrics(refs[1], {"score": {"curve": [1, 2]}}, time=start + timedelta(days=1))  # no number now
    # Versions without a number sort last both ways, by version.
    assert ordered("metrics.score DESC") == [refs[0], refs[2], refs[3], refs[4], refs[1]]
    assert ordered("metrics.score") == [refs[3], refs[2], refs[0], refs[1], refs[4]]


def test_bad_filter_points_at_the_position(client: modelyard.Client) -> None:
    with pytest.raises(errors.InvalidArgumentError) as caught:
        list(client.search_versions('stage = "PRODUCTION" AND (metrics.acc > 0.9'))
    assert caught.value.message.startswith("filter: at position 44:")


def test_lineage_walks_up_and_down_with_depth(client: modelyard.Client, project: str) -> None:
    for name in ("features", "embedder", "ranker", "reranker"):
        client.create_model(f"{project}/{name}")
    features = client.create_version(f"{project}/features").reference
    embedder = client.create_version(f"{project}/embedder", produced_by=[features]).reference
    ranker = client.create_version(f"{project}/ranker", produced_by=[embedder, features]).reference
    reranker = client.create_version(f"{project}/reranker", produced_by=[ranker]).reference
    assert client.get_version(ranker).produced_by == tuple(sorted([embedder, features]))

    graph = client.lineage(embedder)
    assert {(n.reference, n.depth) for n in graph.nodes} == {
        (features, -1), (embedder, 0), (ranker, 1), (reranker, 2)
    }  # fmt: skip
    assert {(e.from_reference, e.to_reference) for e in graph.edges} == {
        (features, embedder), (embedder, ranker), (features, ranker), (ranker, reranker)
    }  # fmt: skip
    upstream = client.lineage(reranker, direction="upstream", depth=1)
    assert {n.reference for n in upstream.nodes} == {reranker, ranker}


def test_update_cannot_make_a_version_its_own_parent(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m")
    ref = client.create_version(f"{project}/m").reference
    with pytest.raises(errors.InvalidArgumentError, match="cannot be produced by itself"):
        client.update_version(ref, produced_by=[ref])


def test_compare_marks_differences(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m")
    one = client.create_version(f"{project}/m", framework="sklearn", hyperparameters={"depth": 4, "lr": 0.1}).reference
    two = client.create_version(f"{project}/m", framework="sklearn", hyperparameters={"depth": 6, "lr": 0.1}).reference
    client.log_metrics(one, {"accuracy": 0.8})
    client.log_metrics(two, {"accuracy": 0.9, "auc": 0.7})
    comparison = client.compare([one, two])
    params = {f.key: (f.values, f.differs) for f in comparison.params}
    assert params == {"params.depth": ((4, 6), True), "params.lr": ((0.1, 0.1), False)}
    metrics = {f.key: (f.values, f.differs) for f in comparison.metrics}
    assert metrics == {"metrics.accuracy": ((0.8, 0.9), True), "metrics.auc": ((None, 0.7), True)}
    framework = next(f for f in comparison.metadata if f.key == "framework")
    assert (framework.values, framework.differs) == (("sklearn", "sklearn"), False)
    with pytest.raises(errors.InvalidArgumentError, match="references: needs 2 to 20 references, got 1"):
        client.compare([one])


def test_compare_reads_references_of_every_form_in_their_order(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/m")
    one, two = (client.create_version(f"{project}/m").reference for _ in range(2))
    ready(client, two)
    client.set_alias(f"{project}/m", "candidate", 1)
    forms = [two, f"{project}/m@candidate", f"{project}/m", one]
    assert [v.reference for v in client.compare(forms).versions] == [two, one, two, one]
    with pytest.raises(errors.NotFoundError, match=f"model '{project}/m' has no alias 'gone'"):
        client.compare([one, f"{project}/m@gone"])
    with pytest.raises(errors.NotFoundError, match=f"model '{project}/nothing' does not exist"):
        client.compare([f"{project}/nothing:1", one])


def test_project_summary_counts_and_metric_range(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/a", owner="alice", team="risk")
    client.create_model(f"{project}/b", owner="bob", team="ads")
    client.create_model(f"{project}/c", owner="alice", team="risk")
    refs = [client.create_version(f"{project}/{m}").reference for m in ("a", "a", "b")]
    for ref, accuracy in zip(refs, [0.7, 0.9, 0.8], strict=True):
        client.log_metrics(ref, {"accuracy": accuracy})
    ready(client, refs[1])
    client.transition_stage(refs[1], "VALIDATION")
    summary = client.project_summary(project, metric="accuracy")
    assert (summary.model_count, summary.version_count) == (3, 3)
    assert summary.versions_by_stage == {modelyard.Stage.DEVELOPMENT: 2, modelyard.Stage.VALIDATION: 1}
    assert summary.metric is not None
    assert (summary.metric.min, summary.metric.max) == (0.7, 0.9)
    assert (summary.metric.min_reference, summary.metric.max_reference) == (refs[0], refs[1])
    assert [(o.owner, o.team, o.models) for o in summary.owners] == [("alice", "risk", 2), ("bob", "ads", 1)]


def test_unknown_stage_value_is_invalid_argument(stub: metadata_pb2_grpc.MetadataServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.TransitionStage(metadata_pb2.TransitionStageRequest(reference="p/m:1", stage=types_pb2.STAGE_UNSPECIFIED))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("stage: must be one of DEVELOPMENT")
