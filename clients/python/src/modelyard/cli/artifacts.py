"""``modelyard push``, ``pull``, ``artifact`` and ``abort``: the bytes of a version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from modelyard.cli import _render
from modelyard.cli._app import EXIT_INTERRUPTED, State, emit, pass_state
from modelyard.cli._progress import TransferBars
from modelyard.cli.versions import _fields, _serving_options, _version_options


@contextmanager
def _bars(state: State, title: str, again: str) -> Iterator[TransferBars]:
    """Progress bars for a transfer; Ctrl-C stops it with a word on how to pick it up again
    (the SDK's note naming the version a push was filling, else ``again``)."""
    try:
        with TransferBars(title, enabled=not state.as_json) as bars:
            yield bars
    except KeyboardInterrupt as exc:
        click.echo(f"interrupted: {' '.join(getattr(exc, '__notes__', ())) or again}", err=True)
        click.get_current_context().exit(EXIT_INTERRUPTED)


@click.command()
@click.argument("target", metavar="TARGET")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@_version_options
@_serving_options
@pass_state
def push(state: State, /, target: str, path: Path, **options: Any) -> None:
    """Upload PATH (a file, or a directory and everything under it) as a version's artifact.

    TARGET is PROJECT/MODEL to register a new version (with the options below), or
    PROJECT/MODEL:N to fill that PENDING_UPLOAD version. Pushing the same files again changes
    nothing and shows the version holding them. An interrupted push resumes where it stopped.

    \b
    Examples:
      modelyard push fraud/scorer ./model --framework sklearn --format skops --tag dataset=2024-q4
      modelyard push fraud/scorer:7 model.onnx
    """
    with _bars(state, "push", "run the same push again to resume it") as bars:
        version = state.client.push(target, path, progress=bars, **_fields(options))
    emit(state, version, _render.version)


@click.command()
@click.argument("reference", metavar="REF")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@pass_state
def pull(state: State, reference: str, dest: Path) -> None:
    """Download every file of a READY version into directory DEST (created if missing).

    Files already in DEST with the right content are kept; the others are verified (SHA-256)
    before they take their name, and an interrupted pull resumes where it stopped.
    """
    client = state.client
    status = client.artifact(reference)
    # The canonical reference, so that an alias moving meanwhile cannot change what is pulled.
    with _bars(state, "pull", "run the same pull again to resume it") as bars:
        destination = client.pull(status.reference, dest, progress=bars)
    result = {"reference": status.reference, "destination": str(destination), "files": status.files}
    emit(state, result, _render.pulled)


@click.command()
@click.argument("reference", metavar="REF")
@pass_state
def artifact(state: State, reference: str) -> None:
    """Show a version's files: committed ones (READY), or those uploaded so far and the uploads
    in progress (PENDING_UPLOAD)."""
    emit(state, state.client.artifact(reference), _render.artifact)


@click.command()
@click.argument("reference", metavar="REF")
@click.option("--reason", default="", help="Why (kept as the version's status message and in the audit log).")
@pass_state
def abort(state: State, reference: str, reason: str) -> None:
    """Give up on a PENDING_UPLOAD version's upload: the version becomes FAILED, and the bytes
    uploaded for it so far are removed."""
    state.client.abort_upload(reference, reason)
    emit(state, state.client.get_version(reference), _render.version)
