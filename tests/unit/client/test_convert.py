"""Proto <-> dataclass conversion of the client (modelyard._convert)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import struct_pb2

import modelyard
from modelyard import _convert as cv
from modelyard.v1 import metadata_pb2, types_pb2


def _version_pb() -> types_pb2.ModelVersion:
    version = types_pb2.ModelVersion(
        project="fraud",
        model="scorer",
        version=3,
        reference="fraud/scorer:3",
        stage=types_pb2.STAGE_PRODUCTION,
        status=types_pb2.VERSION_STATUS_READY,
        framework="sklearn",
        payload_format="skops",
        produced_by=["fraud/features:2"],
        aliases=["champion"],
        tags={"team": "risk"},
        signature=types_pb2.Signature(
            inputs=[types_pb2.TensorSpec(name="x", datatype="FP32", shape=[-1, 4])],
            outputs=[types_pb2.TensorSpec(name="score", datatype="FP64", shape=[-1])],
        ),
        dependencies=[
            types_pb2.Dependency(library="scikit-learn", version="1.5.2", scope=types_pb2.DEPENDENCY_SCOPE_RUN),
            types_pb2.Dependency(library="cython", version=">=3", scope=types_pb2.DEPENDENCY_SCOPE_BUILD),
        ],
        data_location=types_pb2.SourceLocation(uri="s3://datasets/fraud/", revision="v7"),
    )
    version.hyperparameters.update({"max_depth": 6, "learning_rate": 0.1, "layers": [64, 32], "warm": True})
    version.metrics.add(name="accuracy", number=0.93, step=2)
    version.metrics.add(name="importance").structured.update({"age": 0.3, "bins": 4})
    version.create_time.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    return version


def test_version_from_pb_maps_every_field_to_python_values() -> None:
    version = cv.version_from_pb(_version_pb())
    assert (version.reference, version.version, version.model_name) == ("fraud/scorer:3", 3, "fraud/scorer")
    assert version.stage is modelyard.Stage.PRODUCTION
    assert version.status is modelyard.VersionStatus.READY
    assert version.signature == modelyard.Signature(
        inputs=(modelyard.TensorSpec("x", "FP32", (-1, 4)),), outputs=(modelyard.TensorSpec("score", "FP64", (-1,)),)
    )
    assert version.dependencies == (
        modelyard.Dependency("scikit-learn", "1.5.2", modelyard.DependencyScope.RUN),
        modelyard.Dependency("cython", ">=3", modelyard.DependencyScope.BUILD),
    )
    assert version.produced_by == ("fraud/features:2",)
    assert version.aliases == ("champion",)
    assert version.tags == {"team": "risk"}
    assert version.data_location == modelyard.SourceLocation("s3://datasets/fraud/", "v7")
    assert version.code_location is None
    assert version.artifact is None
    assert version.create_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert version.update_time is None


def test_empty_location_and_artifact_read_as_none() -> None:
    version_pb = _version_pb()
    version_pb.code_location.SetInParent()
    version_pb.artifact.SetInParent()
    version = cv.version_from_pb(version_pb)
    assert (version.code_location, version.artifact) == (None, None)
    version_pb.artifact.files.add(path="model.skops", size=3, sha256="00" * 32)
    version_pb.artifact.total_size = 3
    artifact = cv.version_from_pb(version_pb).artifact
    assert artifact == modelyard.Artifact((modelyard.ArtifactFile("model.skops", 3, "00" * 32),), 3)


def test_version_metrics_split_into_scalars_and_structured() -> None:
    version = cv.version_from_pb(_version_pb())
    assert version.metrics == {"accuracy": 0.93}
    assert version.custom_metrics == {"importance": {"age": 0.3, "bins": 4}}


def test_struct_numbers_read_back_as_int_when_integral() -> None:
    params = cv.version_from_pb(_version_pb()).hyperparameters
    assert params == {"max_depth": 6, "learning_rate": 0.1, "layers": [64, 32], "warm": True}
    assert type(params["max_depth"]) is int
    assert type(params["learning_rate"]) is float
    assert type(params["warm"]) is bool


def test_scalar_metric_stays_float_even_when_integral() -> None:
    point = cv.metric_from_pb(types_pb2.Metric(name="epochs_seen", number=3.0, step=1))
    assert point == modelyard.MetricPoint(name="epochs_seen", value=3.0, step=1, time=None)
    assert type(point.value) is float


def test_struct_round_trip_keeps_nesting_nulls_and_bools() -> None:
    document = {"a": {"b": [1, 2.5, None, "x", True]}, "empty": {}, "none": None, "flag": False}
    assert cv.struct_from_pb(cv.struct_to_pb(document)) == document


def test_bool_is_not_stored_as_a_number() -> None:
    assert cv.value_to_pb(True).WhichOneof("kind") == "bool_value"
    assert cv.value_to_pb(1).WhichOneof("kind") == "number_value"


def test_struct_to_pb_names_the_key_holding_a_non_json_value() -> None:
    with pytest.raises(TypeError, match=r"hyperparameters\.opt\.when: datetime is not JSON-like"):
        cv.struct_to_pb({"opt": {"when": datetime.now(UTC)}}, "hyperparameters")


def test_struct_to_pb_rejects_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match=r"hyperparameters\.lr\[1\]: nan cannot be stored"):
        cv.struct_to_pb({"lr": [0.1, math.nan]}, "hyperparameters")


def test_unknown_enum_number_reads_as_unspecified() -> None:
    assert cv.stage_from_pb(42) is modelyard.Stage.UNSPECIFIED
    assert cv.status_from_pb(0) is modelyard.VersionStatus.UNSPECIFIED
    assert cv.kind_from_pb(types_pb2.MODEL_KIND_ENSEMBLE) is modelyard.ModelKind.ENSEMBLE


@pytest.mark.parametrize("stage", list(modelyard.Stage))
def test_every_stage_round_trips(stage: modelyard.Stage) -> None:
    assert cv.stage_from_pb(cv.stage_to_pb(stage)) is stage


def test_lineage_direction_maps_to_proto_numbers() -> None:
    assert cv.direction_to_pb(modelyard.LineageDirection.UPSTREAM) == metadata_pb2.LINEAGE_DIRECTION_UPSTREAM
    assert cv.direction_to_pb(modelyard.LineageDirection.BOTH) == metadata_pb2.LINEAGE_DIRECTION_BOTH


def test_enum_parse_ignores_case_and_lists_choices_on_error() -> None:
    assert modelyard.Stage.parse(" production ") is modelyard.Stage.PRODUCTION
    assert modelyard.Stage.parse(modelyard.Stage.ARCHIVED) is modelyard.Stage.ARCHIVED
    with pytest.raises(ValueError, match="'prod' is not a Stage; expected one of DEVELOPMENT, VALIDATION"):
        modelyard.Stage.parse("prod")


def test_metric_to_pb_number_or_structured() -> None:
    scalar = cv.metric_to_pb("accuracy", 1, step=4)
    assert (scalar.WhichOneof("value"), scalar.number, scalar.step, scalar.HasField("time")) == (
        "number",
        1.0,
        4,
        False,
    )
    structured = cv.metric_to_pb("importance", {"age": 0.3})
    assert structured.WhichOneof("value") == "structured"
    assert cv.struct_from_pb(structured.structured) == {"age": 0.3}


def test_metric_to_pb_rejects_bool_text_and_infinity() -> None:
    with pytest.raises(TypeError, match=r"metrics\.ok: expected a number or a dict, got bool"):
        cv.metric_to_pb("ok", True)
    with pytest.raises(TypeError, match="got str"):
        cv.metric_to_pb("acc", "0.9")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"metrics\.loss: inf cannot be stored"):
        cv.metric_to_pb("loss", math.inf)


def test_metric_time_is_sent_in_utc() -> None:
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    metric = cv.metric_to_pb("accuracy", 0.9, time=moment)
    assert metric.time.ToDatetime(tzinfo=UTC) == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_naive_datetime_is_taken_as_utc() -> None:
    assert cv.time_to_pb(datetime(2026, 3, 1, 10, 0)).ToDatetime(tzinfo=UTC) == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_model_to_pb_sets_given_fields_only() -> None:
    location = modelyard.SourceLocation("git+https://git.internal/risk.git", "4f2a9c1", "train")
    model = cv.model_to_pb("fraud", "scorer", {"kind": "custom", "tags": {"tier": "1"}, "code_location": location})
    assert (model.project, model.name, model.kind) == ("fraud", "scorer", types_pb2.MODEL_KIND_CUSTOM)
    assert dict(model.tags) == {"tier": "1"}
    assert (model.code_location.uri, model.code_location.revision, model.code_location.path) == (
        "git+https://git.internal/risk.git",
        "4f2a9c1",
        "train",
    )
    assert not model.HasField("data_location")


def test_model_to_pb_leaves_a_location_given_as_none_unset() -> None:
    assert not cv.model_to_pb("p", "m", {"data_location": None}).HasField("data_location")


def test_model_to_pb_rejects_unknown_fields_by_name() -> None:
    with pytest.raises(TypeError, match=r"unknown model field\(s\) colour; settable: code_location"):
        cv.model_to_pb("p", "m", {"colour": "red"})  # type: ignore[typeddict-unknown-key]


def test_fill_version_fields_fills_a_create_request() -> None:
    request = metadata_pb2.CreateModelVersionRequest(model="fraud/scorer")
    cv.fill_version_fields(
        request,
        {
            "framework": "sklearn",
            "signature": modelyard.Signature(inputs=(modelyard.TensorSpec("x", "FP32", (-1, 4)),)),
            "hyperparameters": {"max_depth": 6},
            "dependencies": [
                "scikit-learn==1.5.2",
                modelyard.Dependency("cython", ">=3", modelyard.DependencyScope.BUILD),
            ],
            "produced_by": ("fraud/features:2",),
            "tags": {"team": "risk"},
        },
    )
    assert request.framework == "sklearn"
    assert list(request.signature.inputs[0].shape) == [-1, 4]
    assert request.hyperparameters["max_depth"] == 6.0
    assert [(d.library, d.version, d.scope) for d in request.dependencies] == [
        ("scikit-learn", "1.5.2", types_pb2.DEPENDENCY_SCOPE_RUN),
        ("cython", ">=3", types_pb2.DEPENDENCY_SCOPE_BUILD),
    ]
    assert list(request.produced_by) == ["fraud/features:2"]
    assert dict(request.tags) == {"team": "risk"}


def test_fill_version_fields_rejects_a_bare_string_for_produced_by() -> None:
    with pytest.raises(TypeError, match="produced_by: expected a list of references"):
        cv.fill_version_fields(types_pb2.ModelVersion(), {"produced_by": "fraud/features:2"})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("scikit-learn==1.5.2", ("scikit-learn", "1.5.2")),
        ("torch == 2.4", ("torch", "2.4")),
        ("numpy>=1.26,<3", ("numpy", ">=1.26,<3")),
        ("pandas", ("pandas", "")),
        ("xgboost~=2.1", ("xgboost", "~=2.1")),
        ("lightgbm==4.*", ("lightgbm", "==4.*")),
        ("onnx===1.16.0", ("onnx", "===1.16.0")),
        ("skops[all]==0.10", ("skops[all]", "0.10")),
    ],
)
def test_dependency_parse(spec: str, expected: tuple[str, str]) -> None:
    dependency = modelyard.Dependency.parse(spec)
    assert (dependency.library, dependency.version, dependency.scope) == (*expected, modelyard.DependencyScope.RUN)


@pytest.mark.parametrize("spec", ["", "==1.0", "numpy 1.26", "numpy @ https://x"])
def test_dependency_parse_rejects_what_is_not_a_requirement(spec: str) -> None:
    with pytest.raises(ValueError, match="is not a requirement"):
        modelyard.Dependency.parse(spec)


def test_artifact_round_trip() -> None:
    artifact = modelyard.Artifact(
        files=(modelyard.ArtifactFile("model.skops", 10, "ab" * 32, "fraud/scorer/3/model.skops", "application/zip"),),
        total_size=10,
    )
    assert cv.artifact_from_pb(cv.artifact_to_pb(artifact)) == artifact


def test_audit_event_before_after_none_when_absent() -> None:
    event = types_pb2.AuditEvent(id=7, actor="alice", action="model.create", project="fraud", resource="fraud/m")
    event.after.update({"team": "risk"})
    converted = cv.audit_event_from_pb(event)
    assert (converted.id, converted.before, converted.after, converted.time) == (7, None, {"team": "risk"}, None)


def test_comparison_values_keep_request_order_and_nulls() -> None:
    response = metadata_pb2.CompareVersionsResponse()
    row = response.params.add(key="params.max_depth", differs=True)
    row.values.add(number_value=6)
    row.values.add(null_value=struct_pb2.NULL_VALUE)
    row.values.add(string_value="auto")
    comparison = cv.comparison_from_pb(response)
    assert comparison.params == (modelyard.ComparedField("params.max_depth", (6, None, "auto"), True),)
    assert comparison.metrics == () and comparison.versions == ()


def test_lineage_from_pb() -> None:
    response = metadata_pb2.GetLineageResponse(root="p/b:1", left_out=3)
    response.nodes.add(
        reference="p/a:1", stage=types_pb2.STAGE_PRODUCTION, status=types_pb2.VERSION_STATUS_READY, depth=-1
    )
    response.edges.add(from_reference="p/a:1", to_reference="p/b:1")
    lineage = cv.lineage_from_pb(response)
    assert lineage.nodes == (
        modelyard.LineageNode("p/a:1", modelyard.Stage.PRODUCTION, modelyard.VersionStatus.READY, -1),
    )
    assert lineage.edges == (modelyard.LineageEdge("p/a:1", "p/b:1"),)
    assert lineage.left_out == 3


def test_summary_from_pb_without_and_with_metric() -> None:
    response = metadata_pb2.GetProjectSummaryResponse(
        project=types_pb2.Project(name="fraud"), model_count=3, archived_model_count=1, version_count=9
    )
    response.versions_by_stage.add(stage=types_pb2.STAGE_PRODUCTION, count=2)
    response.owners.add(owner="alice", team="risk", models=2)
    summary = cv.summary_from_pb(response)
    assert summary.metric is None
    assert summary.versions_by_stage == {modelyard.Stage.PRODUCTION: 2}
    assert summary.owners == (modelyard.OwnerCount("alice", "risk", 2),)
    response.metric.CopyFrom(metadata_pb2.MetricRange(name="auc", min=0.7, max=0.9, min_reference="a", count=2))
    assert cv.summary_from_pb(response).metric == modelyard.MetricRange("auc", 0.7, 0.9, "a", "", 2)
