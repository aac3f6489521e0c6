"""The platform as `make run` starts it (modelyard-dev), driven through the `modelyard` CLI."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


class Platform:
    def __init__(self, process: subprocess.Popen[str], target: str, output: list[str]) -> None:
        self.process = process
        self.target = target
        self.output = output

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "modelyard"), "--target", self.target, "--actor", "e2e", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"modelyard {' '.join(args)} failed: {result.stderr}")
        return result


def _read_until_ready(process: subprocess.Popen[str], deadline: float) -> tuple[str, list[str]]:
    lines: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"metadata service\s+(127\.0\.0\.1:\d+)", line)
        if found:
            return found[1], lines
    raise AssertionError("modelyard-dev did not report its endpoints:\n" + "".join(lines))


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("platform")
    process = subprocess.Popen(
        [str(BIN / "modelyard-dev"), "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        target, output = _read_until_ready(process, time.monotonic() + 120)
        yield Platform(process, target, output)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if data.exists():
            shutil.rmtree(data, ignore_errors=True)


def test_cli_registers_searches_and_audits(platform: Platform) -> None:
    platform.cli("project", "create", "fraud", "--owner", "alice")
    platform.cli("model", "create", "fraud/scorer", "--team", "risk", "--kind", "standard")
    created = json.loads(
        platform.cli(
            "--json", "version", "create", "fraud/scorer", "--framework", "sklearn",
            "--input", "features:FP32:-1,4", "--param", "max_depth=6", "--dep", "scikit-learn==1.5.2",
        ).stdout
    )  # fmt: skip
    assert (created["reference"], created["status"]) == ("fraud/scorer:1", "PENDING_UPLOAD")
    platform.cli("metrics", "log", "fraud/scorer:1", "--metric", "accuracy=0.93")
    found = json.loads(platform.cli("--json", "search", "metrics.accuracy > 0.9", "--project", "fraud").stdout)
    assert [v["reference"] for v in found] == ["fraud/scorer:1"]
    assert found[0]["hyperparameters"] == {"max_depth": 6}
    audit = json.loads(platform.cli("--json", "audit", "--project", "fraud").stdout)
    assert [e["action"] for e in audit][:2] == ["version.metrics", "version.create"]
    assert {e["actor"] for e in audit} == {"e2e"}


def test_cli_reports_errors_with_codes(platform: Platform) -> None:
    missing = platform.cli("version", "get", "fraud/nope:1", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: NOT_FOUND: model 'fraud/nope' does not exist"
    bad = platform.cli("search", "stage = ", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: INVALID_ARGUMENT: filter: at position 9:")


def test_ctrl_c_stops_everything(platform: Platform) -> None:
    host, port = platform.target.split(":")
    platform.process.send_signal(signal.SIGINT)
    assert platform.process.wait(90) == 0
    rest = platform.process.stdout.read() if platform.process.stdout else ""
    assert "stopped the metadata service" in rest and "stopped Postgres" in rest
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass
