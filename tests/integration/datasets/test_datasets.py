"""Datasets end to end: DatasetService on the metadata service, the bytes through the real
registry (SeaweedFS behind it), the schema and row count read by the platform from the bytes."""

from __future__ import annotations

import hashlib
import json
import math
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pyarrow
import pyarrow.parquet
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

import modelyard
from modelyard import DatasetColumn, DatasetFormat, DatasetUse, VersionStatus
from modelyard.cli import cli
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess

TRADES = pyarrow.table(
    {
        "account": pyarrow.array([1, 2, 3], pyarrow.int64()),
        "amount": pyarrow.array([10.5, 20.0, None], pyarrow.float64()),
        "label": pyarrow.array(["ok", "fraud", "ok"]),
    }
)
# A quoted newline is part of its field: 3 rows, not 4.
CSV = 'id,score,note\n1,0.5,plain\n2,1,"two\nlines"\n3,,x\n'


@pytest.fixture
def client(metadata_service: ServiceProcess, registry_service: ServiceProcess) -> Iterator[modelyard.Client]:
    with modelyard.connect(metadata_service.target, registry=registry_service.target, actor="tester") as client:
        yield client


@pytest.fixture
def project(client: modelyard.Client) -> str:
    name = f"d-{uuid.uuid4().hex[:10]}"
    client.create_project(name)
    return name


def _parquet(folder: Path, table: pyarrow.Table = TRADES, name: str = "trades.parquet") -> Path:
    path = folder / name
    pyarrow.parquet.write_table(table, path)
    return path


def test_a_parquet_version_is_ready_with_the_schema_and_rows_read_from_its_bytes(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    client.create_dataset(f"{project}/trades", description="card trades")
    source = _parquet(tmp_path)

    version = client.push_dataset(f"{project}/trades", source, description="march", tags={"month": "3"})

    assert (version.reference, version.status, version.format) == (
        f"{project}/trades:1",
        VersionStatus.READY,
        DatasetFormat.PARQUET,
    )
    assert version.columns == (
        DatasetColumn("account", "int64"),
        DatasetColumn("amount", "double"),
        DatasetColumn("label", "string"),
    )
    assert version.row_count == 3
    assert (version.description, version.tags, version.author) == ("march", {"month": "3"}, "tester")
    assert version.artifact is not None
    [file] = version.artifact.files
    assert (file.path, file.sha256) == ("trades.parquet", hashlib.sha256(source.read_bytes()).hexdigest())
    assert client.get_dataset_version(f"{project}/trades") == version  # the latest READY one
    pulled = client.pull_dataset(f"{project}/trades:1", tmp_path / "pulled")
    assert pulled.read_bytes() == source.read_bytes()
    assert client.load_dataset(f"{project}/trades:1").equals(TRADES.to_pandas())
    assert [v.reference for v in client.list_dataset_versions(f"{project}/trades")] == [version.reference]
    assert client.get_dataset(f"{project}/trades").latest_version == 1
    actions = [e.action for e in client.audit_events(project=project)]
    assert {"dataset.create", "dataset_version.create", "dataset_version.commit"} <= set(actions)


def test_a_csv_version_counts_rows_as_the_csv_module_reads_them_and_infers_types(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    client.create_dataset(f"{project}/scores")
    source = tmp_path / "scores.csv"
    source.write_text(CSV)

    version = client.push_dataset(f"{project}/scores", source)

    assert version.format is DatasetFormat.CSV
    assert version.row_count == 3
    assert version.columns == (
        DatasetColumn("id", "int64"),
        DatasetColumn("score", "double"),
        DatasetColumn("note", "string"),
    )
    frame = client.load_dataset(f"{project}/scores:1")
    assert list(frame["note"]) == ["plain", "two\nlines", "x"]


def test_a_csv_the_registry_reads_for_longer_than_a_call_deadline_still_commits(
    metadata_service: ServiceProcess, registry_service: ServiceProcess, project: str, tmp_path: Path
) -> None:
    # The registry reads a CSV file whole at commit (some 20 MB/s): these 68 MB take it seconds,
    # past the 1 s every call of this client is allowed; the commit's deadline grows with the file.
    # It reads 4 MiB windows, not one S3 request per 8 KiB the csv module asks for.
    rows = 2_400_000
    source = tmp_path / "large.csv"
    with source.open("w") as out:
        out.write("id,score,name\n")
        out.writelines(f"{i},{i / 4},name{i}\n" for i in range(rows))
    target = metadata_service.target
    reads = _counted(registry_service, "modelyard_registry_s3_request_seconds_count", operation="get_object")
    with modelyard.connect(target, registry=registry_service.target, actor="tester", timeout=1.0) as client:
        client.create_dataset(f"{project}/large")
        version = client.push_dataset(f"{project}/large", source)

    assert (version.status, version.row_count) == (VersionStatus.READY, rows)
    windows = math.ceil(source.stat().st_size / (4 * 1024 * 1024))
    assert _counted(registry_service, "modelyard_registry_s3_request_seconds_count", operation="get_object") == (
        reads + windows
    )
    assert version.columns == (
        DatasetColumn("id", "int64"),
        DatasetColumn("score", "double"),
        DatasetColumn("name", "string"),
    )


def _counted(registry: ServiceProcess, name: str, **labels: str) -> float:
    with urllib.request.urlopen(registry.metrics_url, timeout=10) as response:
        page = response.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_identical_bytes_are_stored_once(
    client: modelyard.Client, project: str, tmp_path: Path, registry_service: ServiceProcess
) -> None:
    client.create_dataset(f"{project}/a")
    client.create_dataset(f"{project}/b")
    source = _parquet(tmp_path)

    first = client.push_dataset(f"{project}/a", source)
    uploaded = _counted(registry_service, "modelyard_registry_bytes_total", direction="upload", kind="dataset")
    deduplicated = _counted(registry_service, "modelyard_registry_deduplicated_files_total", kind="dataset")
    second = client.push_dataset(f"{project}/b", source)

    assert first.artifact is not None and second.artifact is not None
    assert first.artifact.files[0].storage_key == second.artifact.files[0].storage_key
    assert _counted(registry_service, "modelyard_registry_deduplicated_files_total", kind="dataset") == deduplicated + 1
    assert _counted(registry_service, "modelyard_registry_bytes_total", direction="upload", kind="dataset") == uploaded
    # Sent again with its digest, the file is known before any byte is read.
    third = client.create_dataset_version(f"{project}/b", "PARQUET")
    data = source.read_bytes()
    header = registry_pb2.UploadFileHeader(
        reference=f"dataset:{third.reference}",
        path="t.parquet",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    with grpc.insecure_channel(registry_service.target) as channel:
        answer = registry_pb2_grpc.RegistryServiceStub(channel).UploadFile(
            iter([registry_pb2.UploadFileRequest(header=header)])
        )
    assert answer.deduplicated


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("broken.parquet", b"PAR1 not really a parquet file", "is not a valid Parquet file: "),
        ("ragged.csv", b"a,b\n1,2\n3\n", "is not a valid CSV file: line 3 has 1 fields; the header has 2"),
        ("latin1.csv", "name\ncaf\u00e9\n".encode("latin-1"), "is not a valid CSV file: byte "),
    ],
)
def test_a_file_that_is_not_a_table_fails_the_version_and_leaves_nothing(
    client: modelyard.Client,
    project: str,
    tmp_path: Path,
    registry_service: ServiceProcess,
    name: str,
    content: bytes,
    problem: str,
) -> None:
    client.create_dataset(f"{project}/bad")
    source = tmp_path / name
    source.write_bytes(content)

    with pytest.raises(modelyard.InvalidArgumentError) as refused:
        client.push_dataset(f"{project}/bad", source)

    assert refused.value.message.startswith(f"dataset:{project}/bad:1 is FAILED: {name!r} {problem}")
    version = client.get_dataset_version(f"{project}/bad:1")
    assert version.status is VersionStatus.FAILED
    assert version.status_message.startswith(f"{name!r} {problem}")
    assert (version.columns, version.row_count, version.artifact) == ((), 0, None)
    with grpc.insecure_channel(registry_service.target) as channel:
        stat = registry_pb2_grpc.RegistryServiceStub(channel).StatArtifact(
            registry_pb2.StatArtifactRequest(reference=f"dataset:{project}/bad:1")
        )
    assert (list(stat.uploaded), list(stat.sessions)) == ([], [])
    with pytest.raises(modelyard.NotFoundError, match="has no READY version yet"):
        client.get_dataset_version(f"{project}/bad")


def test_lineage_links_read_from_both_sides(client: modelyard.Client, project: str, tmp_path: Path) -> None:
    client.create_dataset(f"{project}/trades")  # a model may share a dataset's name
    data = client.push_dataset(f"{project}/trades", _parquet(tmp_path))
    client.create_model(f"{project}/trades")
    model = client.create_version(f"{project}/trades")
    scores = client.push_dataset(f"{project}/trades", _parquet(tmp_path, TRADES.slice(0, 1), "scores.parquet"))

    client.link_dataset(model.reference, data.reference, DatasetUse.TRAINED_ON)
    client.link_dataset(model.reference, data.reference, "tested_on")
    client.link_dataset(model.reference, data.reference, "trained_on")  # again: harmless
    client.link_dataset(model.reference, scores.reference, DatasetUse.PRODUCED_BY)

    read = client.get_dataset_version(data.reference)
    assert [(link.model_version, link.use) for link in read.links] == [
        (model.reference, DatasetUse.TRAINED_ON),
        (model.reference, DatasetUse.TESTED_ON),
    ]
    assert [(link.dataset_version, link.use) for link in client.dataset_links(model.reference)] == [
        (data.reference, DatasetUse.TRAINED_ON),
        (data.reference, DatasetUse.TESTED_ON),
        (scores.reference, DatasetUse.PRODUCED_BY),
    ]
    assert client.get_dataset_version(scores.reference).links[0].model_version == model.reference
    assert [e.action for e in client.audit_events(resource=f"dataset:{data.reference}")] == [
        "dataset.link",
        "dataset.link",
        "dataset_version.commit",
        "dataset_version.create",
    ]
    with pytest.raises(modelyard.NotFoundError, match="has no version 9"):
        client.link_dataset(model.reference, f"{project}/trades:9", "trained_on")


def test_search_finds_ready_versions_by_column_name_and_type(
    client: modelyard.Client, project: str, tmp_path: Path
) -> None:
    client.create_dataset(f"{project}/trades")
    client.create_dataset(f"{project}/scores")
    trades = client.push_dataset(f"{project}/trades", _parquet(tmp_path))
    (tmp_path / "scores.csv").write_text(CSV)
    scores = client.push_dataset(f"{project}/scores", tmp_path / "scores.csv")
    client.create_dataset_version(f"{project}/scores", "CSV")  # PENDING_UPLOAD: not searched

    def found(column: str, type: str = "") -> list[str]:
        return [v.reference for v in client.search_datasets(column, type=type, project=project)]

    assert found("amount") == [trades.reference]
    assert found("amount", "double") == [trades.reference]
    assert found("amount", "int64") == []
    assert found("score", "double") == [scores.reference]
    assert found("missing") == []
    client.create_dataset(f"{project}/more")
    more = client.push_dataset(f"{project}/more", _parquet(tmp_path, TRADES.select(["amount"]), "more.parquet"))
    assert found("amount") == [more.reference, trades.reference]
    assert [v.reference for v in client.search_datasets("amount", project=project, limit=1)] == [more.reference]


def test_names_and_references_are_checked(client: modelyard.Client, project: str) -> None:
    with pytest.raises(modelyard.NotFoundError, match=f"dataset '{project}/none' does not exist"):
        client.create_dataset_version(f"{project}/none", "CSV")
    with pytest.raises(modelyard.InvalidArgumentError, match="names an alias"):
        client.get_dataset_version(f"{project}/x@champion")
    with pytest.raises(modelyard.InvalidArgumentError, match="has no dataset after '/'"):
        client.create_dataset(f"{project}/")
    client.create_dataset(f"{project}/once")
    with pytest.raises(modelyard.AlreadyExistsError, match=f"dataset '{project}/once' already exists"):
        client.create_dataset(f"{project}/once")
    with pytest.raises(modelyard.NotFoundError, match="project 'no-such-project' does not exist"):
        client.create_dataset("no-such-project/x")


def test_cli_dataset_commands_print_json(
    metadata_service: ServiceProcess, registry_service: ServiceProcess, project: str, tmp_path: Path
) -> None:
    base = ["--target", metadata_service.target, "--registry", registry_service.target, "--json"]

    def run(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*base, *args])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    (tmp_path / "scores.csv").write_text(CSV)
    assert run("dataset", "create", f"{project}/scores")["latest_version"] == 0
    pushed = run("dataset", "push", f"{project}/scores", str(tmp_path / "scores.csv"), "--tag", "k=v")
    assert (pushed["reference"], pushed["row_count"], pushed["tags"]) == (f"{project}/scores:1", 3, {"k": "v"})
    assert [d["name"] for d in run("dataset", "list", project)] == ["scores"]
    assert [v["status"] for v in run("dataset", "versions", f"{project}/scores")] == ["READY"]
    assert [v["reference"] for v in run("dataset", "search", "note", "--project", project)] == [pushed["reference"]]
    pulled = run("dataset", "pull", f"{project}/scores", str(tmp_path / "out"))
    assert Path(pulled["path"]).read_text() == CSV
    assert run("dataset", "get", f"{project}/scores:1")["columns"][1] == {"name": "score", "type": "double"}
    result = CliRunner().invoke(cli, [*base[:4], "dataset", "push", f"{project}/scores", str(tmp_path / "out")])
    assert result.exit_code == 2  # a folder is not a file: click says so
