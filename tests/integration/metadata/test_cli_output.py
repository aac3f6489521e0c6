"""What the ``modelyard`` script prints when its output is not a terminal (a pipe, as here): whole
words and one line per row, however wide; and a line saying so when a listing is empty."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import modelyard

BIN = Path(sys.executable).parent


def _cli(client: modelyard.Client, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "modelyard"), "--target", client.target, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},  # rich would take it as the width
    )


def test_a_table_piped_keeps_every_word_whole_and_each_row_on_one_line(client: modelyard.Client, project: str) -> None:
    model = f"{project}/scorer"
    client.create_model(model)
    for _ in range(2):
        version = client.create_version(model, framework="scikit-learn", payload_format="skops")
        client.log_metrics(version.reference, {"accuracy": 0.93125, "roc_auc": 0.97351, "f1_score": 0.9, "recall": 0.8})

    listed = _cli(client, "version", "list", model)

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    for number in (1, 2):
        row = (
            rf"^{re.escape(model)}:{number}\s+DEVELOPMENT\s+PENDING_UPLOAD\s+scikit-learn\s+"
            r"accuracy=0\.93125, f1_score=0\.9, recall=0\.8, \.\.\.\s+\d{4}-\d\d-\d\d \d\d:\d\d$"
        )
        assert any(re.match(row, line.strip()) for line in lines), listed.stdout
    assert len([line for line in lines if line.strip()]) == 4, listed.stdout  # header, rule, two rows
    assert max(len(line) for line in lines) > 80


def test_a_search_that_matches_nothing_says_so(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/scorer")
    client.create_version(f"{project}/scorer")

    found = _cli(client, "search", 'tags.team = "nobody"', "--project", project)
    as_json = _cli(client, "--json", "search", 'tags.team = "nobody"', "--project", project)

    assert (found.returncode, found.stdout) == (0, "")
    assert found.stderr == f"no versions match 'tags.team = \"nobody\"' in project {project}\n"
    assert (as_json.returncode, json.loads(as_json.stdout), as_json.stderr) == (0, [], "")


def test_every_empty_listing_says_what_is_empty(client: modelyard.Client, project: str) -> None:
    models = _cli(client, "model", "list", project)
    client.create_model(f"{project}/empty")
    versions = _cli(client, "version", "list", f"{project}/empty")

    assert (models.returncode, models.stdout, versions.returncode, versions.stdout) == (0, "", 0, "")
    assert models.stderr == f"no models in project {project} (--archived shows the archived ones)\n"
    assert versions.stderr == f"model {project}/empty has no versions yet\n"


def test_model_listings_show_each_models_lifecycle(client: modelyard.Client, project: str) -> None:
    client.create_model(f"{project}/scorer")
    client.create_model(f"{project}/fresh")
    client.create_version(f"{project}/scorer")

    listed = _cli(client, "model", "list", project)
    shown = _cli(client, "model", "get", f"{project}/scorer")
    as_json = json.loads(_cli(client, "--json", "model", "get", f"{project}/scorer").stdout)

    assert "LIFECYCLE" in listed.stdout
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip().startswith(project)}
    assert "1: DEVELOPMENT PENDING_UPLOAD" in rows[f"{project}/scorer"]
    assert "DEVELOPMENT" not in rows[f"{project}/fresh"]  # no version, no indicator
    assert re.search(r"^\s*lifecycle\s+1: DEVELOPMENT PENDING_UPLOAD$", shown.stdout, re.M), shown.stdout
    assert as_json["lifecycle"] == {"version": 1, "stage": "DEVELOPMENT", "status": "PENDING_UPLOAD"}
