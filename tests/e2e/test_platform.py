"""The platform as `make run` starts it (modelyard-dev), driven through the `modelyard` CLI.

Authentication is on: the fixture reads the admin token modelyard-dev wrote, makes a user ``e2e``
with it, and the tests act as that user."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as skops_io
from sklearn import linear_model

import modelyard

BIN = Path(sys.executable).parent
DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


class Platform:
    def __init__(
        self, process: subprocess.Popen[str], endpoints: dict[str, str], output: list[str], data: Path
    ) -> None:
        self.process = process
        self.target = endpoints["metadata"]
        self.registry = endpoints["registry"]
        self.deploy = endpoints["deploy"]
        self.prometheus = endpoints["prometheus"]  # its URL, or "not running"
        self.output = output
        self.admin_token = (data / "admin-token").read_text().strip()
        with modelyard.connect(self.target, token=self.admin_token) as admin:
            admin.create_principal("e2e")
            self.token = admin.create_token("e2e", description="e2e tests").secret

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                str(BIN / "modelyard"),
                *("--target", self.target, "--registry", self.registry, "--deploy", self.deploy),
                *("--token", self.token, *args),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"modelyard {' '.join(args)} failed: {result.stderr}")
        return result


def _read_until_ready(process: subprocess.Popen[str], deadline: float) -> tuple[dict[str, str], list[str]]:
    """The services' addresses as modelyard-dev prints them, and its output so far."""
    lines: list[str] = []
    endpoints: dict[str, str] = {}
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"(metadata|registry|deploy) service\s+(127\.0\.0\.1:\d+)", line)
        if found:
            endpoints[found[1]] = found[2]
        found = re.match(r"\s+(Prometheus)\s+(.+)$", line)
        if found:
            endpoints["prometheus"] = found[2].strip()
        if len(endpoints) == 4:
            return endpoints, lines
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
        endpoints, output = _read_until_ready(process, time.monotonic() + 120)
        yield Platform(process, endpoints, output, data)
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


def test_cli_pushes_and_pulls_a_model_directory(platform: Platform, tmp_path: Path) -> None:
    files = {"model.bin": os.urandom(5 * 1024 * 1024 + 3), "conf/config.json": b'{"trees": 100}'}
    for name, data in files.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    platform.cli("project", "create", "churn")
    pushed = json.loads(
        platform.cli("--json", "push", "churn/gbm", str(tmp_path / "src"), "--framework", "xgboost").stdout
    )
    assert (pushed["reference"], pushed["status"], pushed["framework"]) == ("churn/gbm:1", "READY", "xgboost")
    digests = {f["path"]: f["sha256"] for f in pushed["artifact"]["files"]}
    assert digests == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}

    again = json.loads(platform.cli("--json", "push", "churn/gbm", str(tmp_path / "src")).stdout)
    assert again["reference"] == "churn/gbm:1"  # same files: nothing new
    pulled = json.loads(platform.cli("--json", "pull", "churn/gbm", str(tmp_path / "dst")).stdout)
    assert pulled["reference"] == "churn/gbm:1"
    assert {name: (tmp_path / "dst" / name).read_bytes() for name in files} == files

    platform.cli("version", "create", "churn/gbm")
    aborted = json.loads(platform.cli("--json", "abort", "churn/gbm:2", "--reason", "bad data").stdout)
    assert (aborted["status"], aborted["status_message"]) == ("FAILED", "bad data")
    audit = json.loads(platform.cli("--json", "audit", "--project", "churn").stdout)
    changes = [(e["action"], e["resource"], e["actor"]) for e in audit if not e["action"].startswith("access.")]
    assert changes[:3] == [
        ("version.failed", "churn/gbm:2", "e2e"),
        ("version.create", "churn/gbm:2", "e2e"),
        ("version.ready", "churn/gbm:1", "e2e"),
    ]


def _classifier(directory: Path, flip: bool) -> Path:
    """A tiny scikit-learn model saved with skops; ``flip`` trains it on the opposite labels."""
    features = np.random.default_rng(3).normal(size=(30, 4))
    labels = (features[:, 0] > 0).astype(np.int64)
    directory.mkdir(parents=True)
    estimator = linear_model.LogisticRegression().fit(features, 1 - labels if flip else labels)
    skops_io.dump(estimator, directory / "model.skops")
    return directory


def _labels(platform: Platform, deployment: str) -> list[int]:
    """The labels the deployment's model gives a clearly positive and a clearly negative row."""
    rows = "input=[[3, 0, 0, 0], [-3, 0, 0, 0]]"
    return list(json.loads(platform.cli("--json", "predict", deployment, "--input", rows).stdout)["predict"])


def test_cli_deploys_rolls_forward_and_back(platform: Platform, tmp_path: Path) -> None:
    platform.cli("project", "create", "ads")
    for flip in (False, True):
        platform.cli(
            "push",
            "ads/ctr",
            str(_classifier(tmp_path / f"v{int(flip)}", flip)),
            "--framework",
            "sklearn",
            "--format",
            "skops",
        )
    first = json.loads(platform.cli("--json", "deploy", "ctr", "ads/ctr:1", "--replicas", "2", "--wait").stdout)
    assert (first["state"], first["version_reference"], first["ready_replicas"]) == ("AVAILABLE", "ads/ctr:1", 2)
    assert len(first["endpoints"]) == 2
    assert _labels(platform, "ctr") == [1, 0]

    second = json.loads(platform.cli("--json", "deploy", "ctr", "ads/ctr", "--reason", "v2", "--wait").stdout)
    assert (second["state"], second["revision"], second["version_reference"]) == ("AVAILABLE", 2, "ads/ctr:2")
    assert second["created_revision"] == 2  # the revision this change made, still known after --wait
    assert _labels(platform, "ctr") == [0, 1]  # version 2 learnt the opposite labels
    back = json.loads(platform.cli("--json", "rollback", "ctr", "--wait").stdout)
    assert (back["revision"], back["version_reference"], back["created_revision"]) == (3, "ads/ctr:1", 3)
    revisions = json.loads(platform.cli("--json", "deployments", "revisions", "ctr").stdout)
    assert [(r["revision"], r["reason"], r["actor"]) for r in revisions] == [
        (3, "rollback to revision 1", "e2e"),
        (2, "v2", "e2e"),
        (1, "created", "e2e"),
    ]
    listed = json.loads(platform.cli("--json", "deployments", "list").stdout)
    assert [d["name"] for d in listed] == ["ctr"]
    platform.cli("deployments", "delete", "ctr")
    gone = platform.cli("deployments", "get", "ctr", check=False)
    assert (gone.returncode, gone.stderr.strip()) == (1, "error: NOT_FOUND: name: there is no deployment 'ctr'")


def test_prometheus_scrapes_the_services_with_the_platform_rules(platform: Platform) -> None:
    if not platform.prometheus.startswith("http://127.0.0.1:"):
        pytest.skip("modelyard-dev found no prometheus on PATH (Debian: apt-get install prometheus)")

    def api(path: str) -> Any:
        with urllib.request.urlopen(f"{platform.prometheus}/api/v1/{path}", timeout=5) as response:
            return json.loads(response.read())["data"]

    def up() -> dict[str, str]:
        return {r["metric"]["job"]: r["value"][1] for r in api("query?query=up")["result"]}

    deadline = time.monotonic() + 30
    every = {"metadata": "1", "registry": "1", "deploy": "1", "console": "1"}
    while up() != every and time.monotonic() < deadline:
        time.sleep(0.5)
    assert up() == every
    rules = [rule["name"] for group in api("rules")["groups"] for rule in group["rules"]]
    assert "ModelyardServiceDown" in rules and "modelyard:rpc_requests:rate5m" in rules


def test_cli_reports_errors_with_codes(platform: Platform) -> None:
    missing = platform.cli("version", "get", "fraud/nope:1", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: NOT_FOUND: model 'fraud/nope' does not exist"
    bad = platform.cli("search", "stage = ", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: INVALID_ARGUMENT: filter: at position 9:")


def _demo(platform: Platform | None) -> subprocess.CompletedProcess[str]:
    """examples/demo.py (what `make demo` runs) against ``platform``, or against closed ports."""
    closed = "127.0.0.1:1"
    env = {
        **os.environ,
        "MODELYARD_METADATA_ADDR": platform.target if platform else closed,
        "MODELYARD_REGISTRY_ADDR": platform.registry if platform else closed,
        "MODELYARD_DEPLOY_ADDR": platform.deploy if platform else closed,
        "MODELYARD_TOKEN": platform.token if platform else "myd_none",
    }
    return subprocess.run(
        [sys.executable, str(DEMO)], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_demo_trains_deploys_predicts_and_rolls_forward_and_back(platform: Platform) -> None:
    ran = _demo(platform)

    assert ran.returncode == 0, ran.stdout + ran.stderr
    project = re.search(r"created project and model: (demo-[0-9a-f]{8})/cancer", ran.stdout)
    assert project, ran.stdout
    model, name = f"{project[1]}/cancer", project[1]
    for expected in (
        rf"registered the data: {name}/cancer-train:1 \(426 rows\), {name}/cancer-test:1 \(143 rows\)",
        rf"registered: {model}:1 PENDING_UPLOAD, metrics logged",
        rf"scoring test of {model}:1 ran by itself: PASSED on 143 rows: accuracy 0\.9\d\d",
        rf"{model}:1 entered VALIDATION: stage VALIDATION",
        rf"batch-scored {name}/cancer-test:1 with {model}:1: job SUCCEEDED, 143 rows -> {name}/cancer-scores:1",
        rf"pushed: {model}:1 READY, \d+ bytes",
        rf"deployed {model}:1 as {name} and predicted: AVAILABLE at 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+",
        rf"rolled forward to {model}:2: revision 2 serves {model}:2 on 2 replicas",
        rf"rolled back to revision 1: revision 3 serves {model}:1 on 2 replicas",
        rf"  3  {model}:1 +e2e +demo: back to v1",  # the token's principal
        rf"e2e +version\.metrics +{model}:2",
        rf"deleted deployment {name} \(project {name} kept\)",
    ):
        assert re.search(expected, ran.stdout), f"no line matching {expected!r} in:\n{ran.stdout}"
    assert len(re.findall(r"predicted 5 rows through", ran.stdout)) == 3
    listed = json.loads(platform.cli("--json", "deployments", "list").stdout)
    assert name not in [d["name"] for d in listed]
    version = json.loads(platform.cli("--json", "version", "get", f"{model}:1").stdout)
    assert 0.9 < version["metrics"]["accuracy"] <= 1 and 0.9 < version["metrics"]["auc"] <= 1
    assert len(version["custom_metrics"]["feature_importance"]) == 8


def test_the_demo_says_when_the_platform_is_not_running() -> None:
    ran = _demo(None)

    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr.startswith("error: the platform is not running: no answer from the metadata service at ")
    assert "start it with `make run`" in ran.stderr


def test_make_run_tells_clients_where_the_registry_and_deploy_services_are(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MODELYARD_METADATA_ADDR", "MODELYARD_REGISTRY_ADDR", "MODELYARD_DEPLOY_ADDR", "MODELYARD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with modelyard.connect(platform.target, token=platform.token) as client:
        info = client.platform_info()
        assert (info.registry, info.deploy) == (platform.registry, platform.deploy)
    (tmp_path / "model.bin").write_bytes(os.urandom(1024))
    only_metadata = [str(BIN / "modelyard"), "--target", platform.target, "--token", platform.token, "--json"]
    for args in (
        ["project", "create", "oneaddr"],
        ["push", "oneaddr/m", str(tmp_path / "model.bin")],
        ["deployments", "list", "--project", "oneaddr"],
    ):
        ran = subprocess.run([*only_metadata, *args], capture_output=True, text=True, timeout=60, check=False)
        assert ran.returncode == 0, (args, ran.stderr)
    assert json.loads(ran.stdout) == []


def test_ctrl_c_stops_everything(platform: Platform) -> None:
    """The module's last test: it stops the platform the others share."""
    host, port = platform.target.split(":")
    platform.process.send_signal(signal.SIGINT)
    assert platform.process.wait(90) == 0
    rest = platform.process.stdout.read() if platform.process.stdout else ""
    assert "stopped the metadata service" in rest and "stopped Postgres" in rest
    assert "stopped the deploy service" in rest
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
        pass
