"""Parsers of structured command-line values (modelyard.cli._parsing)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from modelyard import Dependency, DependencyScope, SourceLocation, TensorSpec
from modelyard.cli import _parsing as p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("features:FP32:-1,4", TensorSpec("features", "FP32", (-1, 4))),
        ("score:fp64:-1", TensorSpec("score", "FP64", (-1,))),
        ("label:INT64", TensorSpec("label", "INT64", ())),
        ("image:UINT8:-1, 224, 224, 3", TensorSpec("image", "UINT8", (-1, 224, 224, 3))),
        ("text:BYTES:", TensorSpec("text", "BYTES", ())),
    ],
)
def test_parse_tensor(text: str, expected: TensorSpec) -> None:
    assert p.parse_tensor(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("features", "expected NAME:DATATYPE:SHAPE"),
        (":FP32:1", "expected NAME:DATATYPE:SHAPE"),
        ("a:b:FP32:1", "expected NAME:DATATYPE:SHAPE"),
        ("x:FLOAT:1", "datatype 'FLOAT' is not one of BOOL, BYTES, FP16"),
        ("x:FP32:-1,four", "shape '-1,four' must be integers"),
        ("x:FP32:-2", "-1 for a variable one"),
    ],
)
def test_parse_tensor_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        p.parse_tensor(text)


def test_parse_params_reads_values_as_json_when_possible() -> None:
    params = p.parse_params(
        [
            "max_depth=6",
            "lr=0.1",
            "warm=true",
            "criterion=gini",
            "layers=[64, 32]",
            'opt={"b1": 0.9}',
            "note=",
            "eq=a=b",
        ]
    )
    assert params == {
        "max_depth": 6,
        "lr": 0.1,
        "warm": True,
        "criterion": "gini",
        "layers": [64, 32],
        "opt": {"b1": 0.9},
        "note": "",
        "eq": "a=b",
    }


def test_parse_params_keeps_non_finite_words_as_text() -> None:
    assert p.parse_params(["x=NaN", "y=Infinity", "z=null"]) == {"x": "NaN", "y": "Infinity", "z": None}


def test_parse_params_rejects_duplicates_and_missing_keys() -> None:
    with pytest.raises(ValueError, match="param 'lr' given twice"):
        p.parse_params(["lr=0.1", "lr=0.2"])
    with pytest.raises(ValueError, match="'=3': expected KEY=VALUE"):
        p.parse_params(["=3"])
    with pytest.raises(ValueError, match="'lr': expected KEY=VALUE"):
        p.parse_params(["lr"])


def test_parse_inputs_stacks_columns_in_order_per_input() -> None:
    assert p.parse_inputs(["x=f2, f0", "y=f1,"]) == {"x": ("f2", "f0"), "y": ("f1",)}
    for text in ("x", "=f0", "x=", "x= , "):
        with pytest.raises(ValueError, match=r"is not NAME=COLUMN\[,COLUMN...\]"):
            p.parse_inputs([text])
    with pytest.raises(ValueError, match="input 'x' given twice"):
        p.parse_inputs(["x=a", "x=b"])


def test_parse_tags_keeps_values_as_text() -> None:
    assert p.parse_tags(["team=risk", "tier=1", "note=a=b"]) == {"team": "risk", "tier": "1", "note": "a=b"}


def test_parse_dependency_with_scope() -> None:
    assert p.parse_dependency("scikit-learn==1.5.2") == Dependency("scikit-learn", "1.5.2", DependencyScope.RUN)
    assert p.parse_dependency("cython>=3", DependencyScope.BUILD) == Dependency("cython", ">=3", DependencyScope.BUILD)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://datasets/fraud/", SourceLocation("s3://datasets/fraud/")),
        (
            "git+https://git.internal/r.git#revision=4f2a9c1",
            SourceLocation("git+https://git.internal/r.git", "4f2a9c1"),
        ),
        (
            "git+ssh://git@host/r.git#revision=v1.2+local&path=src/train",
            SourceLocation("git+ssh://git@host/r.git", "v1.2+local", "src/train"),
        ),
        ("s3://d/#path=x.parquet", SourceLocation("s3://d/", "", "x.parquet")),
    ],
)
def test_parse_location(text: str, expected: SourceLocation) -> None:
    assert p.parse_location(text) == expected


@pytest.mark.parametrize("text", ["#revision=1", "s3://d/#rev=1", "s3://d/#revision=1&revision=2", "s3://d/#path"])
def test_parse_location_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        p.parse_location(text)


def test_parse_metric_number_or_object() -> None:
    assert p.parse_metric("accuracy=0.93") == ("accuracy", 0.93)
    assert p.parse_metric("epochs=3") == ("epochs", 3.0)
    assert p.parse_metric('importance={"age": 0.3}') == ("importance", {"age": 0.3})


@pytest.mark.parametrize("text", ["accuracy=high", "ok=true", "l=[1]", "x=NaN", "accuracy"])
def test_parse_metric_rejects_other_values(text: str) -> None:
    with pytest.raises(ValueError):
        p.parse_metric(text)


def test_load_metrics_json(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"accuracy": 0.93, "epochs": 3, "importance": {"age": 0.3}}))
    assert p.load_metrics_json(str(path)) == {"accuracy": 0.93, "epochs": 3.0, "importance": {"age": 0.3}}


@pytest.mark.parametrize(
    ("content", "message"),
    [("[1, 2]", "expected a JSON object"), ('{"ok": true}', "metric 'ok' must be"), ("{", "not valid JSON")],
)
def test_load_metrics_json_rejects(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        p.load_metrics_json(str(path))


def test_load_metrics_json_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No such file"):
        p.load_metrics_json(str(tmp_path / "absent.json"))


def test_parse_since_relative_and_absolute() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert p.parse_since("2h", now) == now - timedelta(hours=2)
    assert p.parse_since("30m", now) == now - timedelta(minutes=30)
    assert p.parse_since("7d", now) == now - timedelta(days=7)
    assert p.parse_since("2026-04-01T08:00:00Z") == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    assert p.parse_since("2026-04-01T10:00:00+02:00") == datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
    assert p.parse_since("2026-04-01") == datetime(2026, 4, 1, tzinfo=UTC)


def test_parse_since_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="expected a duration like 2h"):
        p.parse_since("yesterday")


def test_as_click_turns_value_errors_into_usage_errors() -> None:
    callback = p.as_click(p.parse_tensor)
    command = click.Command("c")
    ctx = click.Context(command)
    param = click.Option(["--input"], multiple=True)
    assert callback(ctx, param, ("x:FP32:1",)) == (TensorSpec("x", "FP32", (1,)),)
    assert callback(ctx, param, None) is None
    with pytest.raises(click.BadParameter, match="datatype 'F' is not one of"):
        callback(ctx, param, ("x:F:1",))
    assert p.as_click(p.parse_tags, each=False)(ctx, param, ("a=1", "b=2")) == {"a": "1", "b": "2"}
