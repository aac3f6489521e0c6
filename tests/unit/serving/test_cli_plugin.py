"""``modelyard serve`` comes from the serving package as a plugin of the command line: the
client package never imports the server, and says what to install when it is missing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelyard.cli import _plugins, cli
from modelyard_serving.cli import serve

ROOT = Path(__file__).resolve().parents[3]
SERVICE_IMPORT = re.compile(r"^\s*(from|import) modelyard_\w+", re.MULTILINE)


def test_the_installed_serving_package_adds_serve_to_the_command_line() -> None:
    listed = CliRunner().invoke(cli, ["--help"])
    assert listed.exit_code == 0
    assert "  serve " in listed.stdout
    assert _plugins.load("serve") is serve
    assert _plugins.load("no-such-command") is None


def test_without_the_serving_package_serve_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_plugins, "entry_points", lambda **_: [])
    ran = CliRunner().invoke(cli, ["serve", "fraud/scorer:3", "--port", "0"])
    assert ran.exit_code == 1
    assert "modelyard serve needs the inference server: pip install modelyard-serving" in ran.stderr


def test_the_client_package_imports_no_service() -> None:
    sources = sorted((ROOT / "clients/python/src/modelyard").rglob("*.py"))
    assert sources
    assert [p.name for p in sources if SERVICE_IMPORT.search(p.read_text())] == []
