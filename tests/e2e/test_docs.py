"""The documents run as written: README.md's tour and every runnable block of docs/*.md, in
order, against a fresh `make run`, as one user in one terminal (how blocks are classified and
run: runnable_docs.py).

The user's folder holds the repository's files (linked, so that `make run` finds the virtual
environment `make test` made up to date) and gets its own .modelyard/; the terminal starts
without the virtual environment on PATH and without any MODELYARD_ or MLREG_ variable, as a new
user's does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from runnable_docs import NOT_RUN, RUN, Block, Session, blocks

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# The order a new user reads them in; each may rely on what the ones before it made.
DOCUMENTS = [
    "README.md",
    "docs/cli.md",
    "docs/metadata.md",
    "docs/search.md",
    "docs/registry.md",
    "docs/serving.md",
    "docs/console.md",
    "docs/deploy.md",
    "docs/scoring.md",
    "docs/security.md",
    "docs/limits.md",
    "docs/observability.md",
    "docs/tls.md",
    "docs/kubernetes.md",
    "docs/benchmarks.md",
    "docs/architecture.md",
]


def _blocks(document: str) -> list[Block]:
    return blocks(ROOT / document, document)


def test_every_document_and_block_is_classified() -> None:
    on_disk = {"README.md", *(f"docs/{path.name}" for path in (ROOT / "docs").glob("*.md"))}
    assert on_disk == set(DOCUMENTS), "list each document in DOCUMENTS, in reading order"
    unknown = [f"{b.where} ({b.language})" for d in DOCUMENTS for b in _blocks(d) if b.language not in RUN | NOT_RUN]
    assert not unknown, f"blocks whose language says neither run nor not-run: {unknown}"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """`make run` in a new user's folder, and that user's terminal beside it."""
    folder = tmp_path_factory.mktemp("user")
    for entry in ROOT.iterdir():
        if entry.name not in {".modelyard", ".git"} and not entry.name.endswith("_cache"):
            (folder / entry.name).symlink_to(entry)
    home = tmp_path_factory.mktemp("home")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != VENV_BIN)
    env = {"PATH": path, "HOME": str(home), "LANG": "C.UTF-8", "USER": "newuser", "TMPDIR": str(home)}
    log = folder / "make-run.log"
    with log.open("wb") as sink:
        platform = subprocess.Popen(
            ["make", "run"], cwd=folder, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while "Modelyard is running" not in log.read_text():
            assert platform.poll() is None, f"make run ended:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"make run not up after 180 s:\n{log.read_text()}"
            time.sleep(0.2)
        yield Session(folder, tmp_path_factory.mktemp("terminal"), env)
    finally:
        os.killpg(platform.pid, signal.SIGINT)  # Ctrl-C, as in its terminal
        try:
            platform.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(platform.pid, signal.SIGKILL)
            platform.wait()
    output = log.read_text()
    assert not re.search(r"Traceback|exited with|was killed by|keeps failing", output), output[-6000:]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_document_runs_as_written(session: Session, document: str) -> None:
    try:
        for block in _blocks(document):
            if block.runs:
                session.run(block)
    finally:
        session.end_document()
