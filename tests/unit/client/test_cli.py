"""The command line without a server: usage errors, error exits, JSON and table output."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

import modelyard
from modelyard.cli import _render, cli
from modelyard.cli._app import to_jsonable


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_every_command_group() -> None:
    code, out, _ = _run("--help")
    assert code == 0
    for command in (
        "project",
        "model",
        "version",
        "push",
        "pull",
        "artifact",
        "abort",
        "metrics",
        "stage",
        "alias",
        "search",
        "lineage",
        "compare",
        "audit",
        "deploy",
        "deployments",
        "predict",
        "rollback",
        "auth",
    ):
        assert f"  {command} " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["version", "create", "p/m", "--input", "x:FLOAT:1"], "datatype 'FLOAT' is not one of"),
        (["version", "create", "p/m", "--param", "lr"], "'lr': expected KEY=VALUE"),
        (["version", "update", "p/m:1"], "nothing to update"),
        (["model", "update", "p/m"], "nothing to update"),
        (["metrics", "log", "p/m:1"], "no metrics"),
        (["metrics", "log", "p/m:1", "--metric", "acc=high"], "must be a number or a JSON object"),
        (["stage", "set", "p/m:1", "live"], "'live' is not one of"),
        (["compare", "p/m:1"], "at least two references"),
        (["lineage", "p/m:1", "--depth", "99"], "99 is not in the range 1<=x<=50"),
        (["audit", "--since", "yesterday"], "expected a duration like 2h"),
        (["push", "p/m", "/no/such/model"], "'/no/such/model' does not exist"),
        (["pull", "p/m:1"], "Missing argument 'DEST'"),
        (["version", "create", "p/m", "--ensemble", "median"], "'median' is not one of 'average', 'vote', 'chain'"),
        (["deploy", "scorer", "p/m:1", "--replicas", "17"], "17 is not in the range 0<=x<=16"),
        (["deploy", "scorer", "p/m:1", "--runtime", "docker"], "'docker' is not one of 'process', 'kubernetes'"),
        (["deployments", "scale", "scorer", "20"], "20 is not in the range 0<=x<=16"),
        (["rollback", "scorer", "--revision", "-2"], "-2 is not in the range x>=0"),
        (["predict", "scorer"], "no inputs: give --input NAME=JSON or --inputs-json FILE"),
        (["predict", "scorer", "--input", "x=[1", "--input", "y=[2]"], "x: not a JSON array"),
        (["predict", "scorer", "--input", "x=[1]", "--input", "x=[2]"], "'x=[2]': x is given twice"),
        (["predict", "scorer", "--input", "=[1]"], "'=[1]': expected NAME=JSON"),
        (["predict", "scorer", "--inputs-json", "-"], "--inputs-json: not JSON"),
    ],
)
def test_bad_usage_exits_2_before_calling_anything(args: list[str], message: str) -> None:
    code, _, err = _run("--target", "127.0.0.1:1", *args)
    assert code == 2
    assert message in err


def test_service_errors_print_code_and_message_and_exit_1() -> None:
    code, out, err = _run("--target", f"127.0.0.1:{_closed_port()}", "--timeout", "5", "project", "create", "fraud")
    assert code == 1
    assert out == ""
    assert err.startswith("error: UNAVAILABLE: ")


def test_invalid_argument_from_the_sdk_exits_2() -> None:
    code, _, err = _run("--target", "127.0.0.1:1", "model", "create", "scorer")
    assert (code, err) == (2, "error: INVALID_ARGUMENT: name: 'scorer' has no project: use project/model\n")


def test_push_to_an_existing_version_takes_no_version_fields(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    code, _, err = _run("--target", "127.0.0.1:1", "push", "p/m:1", str(tmp_path / "model.onnx"), "--framework", "x")
    assert code == 2
    assert "error: INVALID_ARGUMENT: version fields (framework) are only taken when pushing to PROJECT/MODEL" in err


def _version() -> modelyard.ModelVersion:
    return modelyard.ModelVersion(
        project="fraud",
        model="scorer",
        version=3,
        reference="fraud/scorer:3",
        stage=modelyard.Stage.PRODUCTION,
        status=modelyard.VersionStatus.READY,
        signature=modelyard.Signature(inputs=(modelyard.TensorSpec("x", "FP32", (-1, 4)),)),
        metrics={"accuracy": 0.93},
        create_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_json_output_is_plain_json_of_the_dataclass() -> None:
    document = json.loads(json.dumps(to_jsonable(_version())))
    assert document["stage"] == "PRODUCTION"
    assert document["signature"] == {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}], "outputs": []}
    assert document["create_time"] == "2026-01-02T03:04:05+00:00"
    assert document["code_location"] is None
    summary = modelyard.ProjectSummary(
        modelyard.Project("fraud"), 1, 0, 2, versions_by_stage={modelyard.Stage.PRODUCTION: 2}
    )
    assert to_jsonable(summary)["versions_by_stage"] == {"PRODUCTION": 2}


def _text(renderable: object) -> str:
    console = Console(width=120, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_how_a_version_is_served_shows_with_it() -> None:
    serving = modelyard.Serving(ensemble_method=modelyard.EnsembleMethod.VOTE, members=("f/a:1", "f/b:2"))
    text = _text(_render.version(dataclasses.replace(_version(), serving=serving)))
    assert re.search(r"^ensemble +vote of f/a:1, f/b:2 *$", text, re.M)
    custom = _text(_render.version(dataclasses.replace(_version(), serving=modelyard.Serving(entry_point="p:Model"))))
    assert re.search(r"^entry point +p:Model *$", custom, re.M) and "ensemble" not in custom


def test_comparison_marks_differing_rows_and_can_hide_the_rest() -> None:
    comparison = modelyard.Comparison(
        versions=(_version(), _version()),
        params=(
            modelyard.ComparedField("params.max_depth", (6, 8), True),
            modelyard.ComparedField("params.criterion", ("gini", "gini"), False),
        ),
        metrics=(modelyard.ComparedField("metrics.auc", (0.91, None), True),),
    )
    text = _text(_render.comparison(comparison))
    assert "* params.max_depth" in text and "  params.criterion" in text
    assert "0.91" in text
    assert "params.criterion" not in _text(_render.comparison(comparison, only_differences=True))


def test_artifact_shows_committed_files_or_uploads_in_progress() -> None:
    sha = "ab" * 32
    ready = modelyard.ArtifactStatus(
        "p/m:3",
        modelyard.VersionStatus.READY,
        files=(modelyard.ArtifactFile("conf/[x].json", 1536, sha), modelyard.ArtifactFile("w.bin", 3 * 2**20, sha)),
    )
    text = _text(_render.artifact(ready))
    assert "p/m:3" in text and "READY" in text and "2 (3.0 MiB)" in text
    assert "conf/[x].json" in text and "1.5 KiB" in text and sha[:12] in text and sha not in text
    pending = modelyard.ArtifactStatus(
        "p/m:4",
        modelyard.VersionStatus.PENDING_UPLOAD,
        uploaded=(modelyard.ArtifactFile("a.txt", 3, sha),),
        sessions=(modelyard.UploadSession("p/m:4", "w.bin", 10 * 2**20, sha, 5 * 2**20),),
    )
    text = _text(_render.artifact(pending))
    assert "uploaded, not committed yet" in text and "a.txt" in text
    assert "uploads in progress" in text and "5.0 MiB (50%)" in text and "10.0 MiB" in text
    assert to_jsonable(pending)["sessions"][0] == {
        "reference": "p/m:4", "path": "w.bin", "size": 10 * 2**20, "sha256": sha, "offset": 5 * 2**20
    }  # fmt: skip


def test_user_text_is_never_read_as_markup() -> None:
    project = modelyard.Project("fraud", description="[bold]not markup[/bold]")
    assert "[bold]not markup[/bold]" in _text(_render.project(project))


def test_locations_and_dependencies_print_in_their_command_line_form() -> None:
    location = modelyard.SourceLocation("git+https://g/r.git", "4f2a9c1", "train")
    assert _render.location_text(location) == "git+https://g/r.git#revision=4f2a9c1&path=train"
    assert _render.location_text(modelyard.SourceLocation("s3://d/")) == "s3://d/"
    build = modelyard.Dependency("cython", ">=3", modelyard.DependencyScope.BUILD)
    assert _render.dependency_text(build) == "cython>=3 (build)"
    assert _render.dependency_text(modelyard.Dependency("numpy", "2.1")) == "numpy==2.1"


def _deployment() -> modelyard.Deployment:
    return modelyard.Deployment(
        name="scorer",
        project="fraud",
        model_reference="fraud/scorer@champion",
        version_reference="fraud/scorer:3",
        replicas=2,
        runtime=modelyard.DeploymentRuntime.PROCESS,
        state=modelyard.DeploymentState.DEGRADED,
        revision=4,
        status_message="1 of 2 replicas ready; replica scorer-4-ab12 is restarting: exited with code -9",
        ready_replicas=1,
        replica_status=(
            modelyard.Replica("scorer-4-ab12", 4, modelyard.ReplicaState.STARTING, restarts=1),
            modelyard.Replica("scorer-4-cd34", 4, modelyard.ReplicaState.READY, "127.0.0.1:40001"),
        ),
        endpoints=("127.0.0.1:40001",),
    )


def test_a_deployment_shows_its_state_replicas_and_endpoints() -> None:
    text = _text(_render.deployment(_deployment()))
    assert "DEGRADED" in text and "1/2 ready" in text and "fraud/scorer:3" in text
    assert "replica scorer-4-ab12 is restarting" in text
    row = next(line for line in text.splitlines() if "scorer-4-cd34" in line)
    assert row.split() == ["scorer-4-cd34", "4", "READY", "127.0.0.1:40001", "0"]
    line = _text(_render.deployment_line(_deployment()))
    assert "scorer  DEGRADED  revision 4 fraud/scorer:3  1/2 ready" in line


def test_a_deployment_shows_the_revision_the_callers_change_made_only_when_it_made_one() -> None:
    assert "change's revision" not in _text(_render.deployment(_deployment()))
    changed = _text(_render.deployment(dataclasses.replace(_deployment(), revision=6, created_revision=5)))
    assert re.search(r"this change's revision\s+5", changed)


def test_a_deployment_as_json_names_its_states() -> None:
    document = to_jsonable(_deployment())
    assert (document["state"], document["runtime"]) == ("DEGRADED", "PROCESS")
    assert document["replica_status"][0] == {
        "id": "scorer-4-ab12",
        "revision": 4,
        "state": "STARTING",
        "endpoint": "",
        "restarts": 1,
        "message": "",
    }


def test_lineage_says_how_many_versions_it_left_out() -> None:
    node = modelyard.LineageNode("f/a:1", modelyard.Stage.DEVELOPMENT, modelyard.VersionStatus.READY, 0)
    partial = _text(_render.lineage(modelyard.Lineage("f/a:1", (node,), left_out=2)))
    assert "f/a:1" in partial and "2 more in projects you cannot read, not shown" in partial
    assert "not shown" not in _text(_render.lineage(modelyard.Lineage("f/a:1", (node,))))


def test_a_structured_value_prints_with_sorted_keys_whatever_its_order() -> None:
    assert _render.fmt({"merchant": 0.31, "amount": 0.42}) == _render.fmt({"amount": 0.42, "merchant": 0.31})
    assert _render.fmt({"merchant": 0.31, "amount": 0.42}) == '{"amount": 0.42, "merchant": 0.31}'


def test_consumers_show_each_principal_then_how_many_teams() -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    ana = modelyard.VersionConsumer("ana", modelyard.ConsumptionKind.DEPLOYMENT, "scorer-prod", ("risk",), when, when)
    shown = _text(_render.consumers(modelyard.VersionConsumers("f/a:1", (ana,), team_count=1)))
    assert "ana" in shown and "DEPLOYMENT" in shown and "scorer-prod" in shown and "2026-01-02 03:04" in shown
    assert shown.rstrip().endswith("1 team uses it")
    nobody = _text(_render.consumers(modelyard.VersionConsumers("f/a:1")))
    assert nobody.splitlines() == ["no one has pulled or deployed f/a:1 yet", "0 teams use it"]
