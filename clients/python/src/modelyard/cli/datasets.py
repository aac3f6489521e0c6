"""``modelyard dataset ...``: datasets, their versions (one Parquet or CSV file each, pushed
through the registry), search by column, and links to model versions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import RenderableType
from rich.text import Text

from modelyard import Dataset, DatasetFormat, DatasetUse, DatasetVersion
from modelyard.cli._app import State, emit, emit_list, pass_state
from modelyard.cli._parsing import as_click, parse_tags
from modelyard.cli._progress import TransferBars
from modelyard.cli._render import _cell, _details, _files, _group, _minutes, _table, human_size

_FORMATS = [f.value.lower() for f in DatasetFormat if f is not DatasetFormat.UNSPECIFIED]
_USES = [u.value.lower() for u in DatasetUse if u is not DatasetUse.UNSPECIFIED]


def _dataset(d: Dataset) -> RenderableType:
    rows = [("dataset", d.full_name), ("description", d.description), ("latest version", d.latest_version)]
    return _details([*rows, ("created by", d.created_by), ("created", d.created_at)])


def _datasets(items: Sequence[Dataset]) -> RenderableType:
    table = _table("DATASET", "LATEST", "DESCRIPTION", "CREATED")
    for d in items:
        table.add_row(Text(d.full_name), str(d.latest_version), Text(d.description), _minutes(d.created_at))
    return table


def _version(v: DatasetVersion) -> RenderableType:
    details = _details(
        [
            ("version", v.reference),
            ("format", v.format),
            ("status", v.status),
            ("status message", v.status_message),
            ("rows", v.row_count if v.columns else ""),
            ("author", v.author),
            ("description", v.description),
            ("tags", ", ".join(f"{k}={val}" for k, val in sorted(v.tags.items()))),
            ("created", v.created_at),
        ]
    )
    columns = None
    if v.columns:
        columns = _table("COLUMN", "TYPE")
        for c in v.columns:
            columns.add_row(Text(c.name), Text(c.type))
    links = None
    if v.links:
        links = _table("MODEL VERSION", "USE")
        for link in v.links:
            links.add_row(Text(link.model_version), _cell(link.use))
    files = _files(v.artifact.files, f"file: {human_size(v.artifact.total_size)}") if v.artifact else None
    return _group(details, columns, links, files)


def _versions(items: Sequence[DatasetVersion]) -> RenderableType:
    table = _table("VERSION", "FORMAT", "STATUS", "ROWS", "COLUMNS", "CREATED")
    for v in items:
        table.add_row(
            Text(v.reference),
            _cell(v.format),
            _cell(v.status),
            str(v.row_count),
            str(len(v.columns)),
            _minutes(v.created_at),
        )
    return table


@click.group()
def dataset() -> None:
    """Datasets: PROJECT/DATASET, each with numbered versions of one Parquet or CSV file."""


@dataset.command("create")
@click.argument("name", metavar="PROJECT/DATASET")
@click.option("--description", default="", help="What the data is.")
@pass_state
def create(state: State, name: str, description: str) -> None:
    """Create dataset PROJECT/DATASET."""
    emit(state, state.client.create_dataset(name, description=description), _dataset)


@dataset.command("push")
@click.argument("name", metavar="PROJECT/DATASET")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "table_format",
    type=click.Choice(_FORMATS, case_sensitive=False),
    default=None,
    help="[default: from the file's suffix]",
)
@click.option("--description", default="", help="What this version holds.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", callback=as_click(parse_tags, each=False),
              help="A tag; repeat for more.")  # fmt: skip
@pass_state
def push(state: State, /, name: str, path: Path, table_format: str | None, **options: Any) -> None:
    """Upload the Parquet or CSV file PATH as a new version of PROJECT/DATASET; the platform
    reads its columns and row count."""
    with TransferBars("push", enabled=not state.as_json) as bars:
        version = state.client.push_dataset(name, path, format=table_format, progress=bars, **options)
    emit(state, version, _version)


@dataset.command("get")
@click.argument("reference", metavar="PROJECT/DATASET[:N]")
@pass_state
def get(state: State, reference: str) -> None:
    """Show a dataset version (the latest READY one without :N): columns, rows, lineage."""
    emit(state, state.client.get_dataset_version(reference), _version)


@dataset.command("list")
@click.argument("project")
@pass_state
def list_(state: State, project: str) -> None:
    """List the datasets of PROJECT."""
    emit_list(state, list(state.client.list_datasets(project)), _datasets, f"no datasets in {project}")


@dataset.command("versions")
@click.argument("name", metavar="PROJECT/DATASET")
@pass_state
def versions(state: State, name: str) -> None:
    """List the versions of PROJECT/DATASET, newest first."""
    emit_list(state, list(state.client.list_dataset_versions(name)), _versions, f"{name} has no versions")


@dataset.command("pull")
@click.argument("reference", metavar="PROJECT/DATASET[:N]")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@pass_state
def pull(state: State, reference: str, dest: Path) -> None:
    """Download the file of a READY dataset version into directory DEST."""
    with TransferBars("pull", enabled=not state.as_json) as bars:
        path = state.client.pull_dataset(reference, dest, progress=bars)
    emit(state, {"path": str(path)}, lambda result: Text(result["path"]))


@dataset.command("search")
@click.argument("column")
@click.option("--type", "column_type", default="", help="Only columns of this type (int64, double, string...).")
@click.option("--project", default="", help="Only this project.")
@pass_state
def search(state: State, column: str, column_type: str, project: str) -> None:
    """List READY dataset versions having a column named COLUMN, newest first."""
    found = list(state.client.search_datasets(column, type=column_type, project=project))
    emit_list(state, found, _versions, f"no dataset has a column {column!r}")


@dataset.command("link")
@click.argument("model_version", metavar="PROJECT/MODEL:N")
@click.argument("use", type=click.Choice(_USES, case_sensitive=False))
@click.argument("dataset_version", metavar="PROJECT/DATASET:N")
@pass_state
def link(state: State, model_version: str, use: str, dataset_version: str) -> None:
    """Record that a model version was trained_on or tested_on a dataset version, or that the
    dataset version was produced_by it."""
    emit(state, state.client.link_dataset(model_version, dataset_version, use), lambda x: _details(
        [("model version", x.model_version), ("use", x.use), ("dataset version", x.dataset_version)]
    ))  # fmt: skip
