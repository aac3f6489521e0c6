"""The command line without a server: usage errors, error exits, JSON and table output."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

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
        "metrics",
        "stage",
        "alias",
        "search",
        "lineage",
        "compare",
        "audit",
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
    assert (code, err) == (2, "error: INVALID_ARGUMENT: name: expected PROJECT/MODEL, got 'scorer'\n")


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
