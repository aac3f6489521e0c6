"""A real Prometheus scraping the platform during its workload, the platform's rules checked and
unit-tested with promtool, and each dashboard query evaluated by that Prometheus.

Prometheus is not on PyPI: these tests need Debian's ``prometheus`` package (``.ci/run`` installs
it when it can) and skip, saying so, without it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from observed_platform import DASHBOARDS, RULES, Platform
from replica_processes import until

from modelyard_common.embedded import EmbeddedPrometheus, prometheus_binary, rule_groups

RULES_TEST = Path(__file__).with_name("rules_test.yml")
RULE_COUNT = sum(len(group["rules"]) for group in rule_groups(RULES)["groups"])
_MISSING = "Prometheus is not installed (Debian: apt-get install prometheus; .ci/run does it when run as root)"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(_MISSING)
    return found


@pytest.fixture(scope="module")
def prometheus(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPrometheus]:
    if prometheus_binary() is None:
        pytest.skip(_MISSING)
    jobs = {job: [service.metrics_url.split("/")[2]] for job, service in platform.services.items()}
    server = EmbeddedPrometheus(
        tmp_path_factory.mktemp("prometheus"), jobs, [platform.targets_file], rules=RULES, interval=1
    )
    with server:
        yield server


def query(prometheus: EmbeddedPrometheus, expr: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = prometheus.api("query", query=expr)["result"]
    return result


def test_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    tool = promtool()
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump(rule_groups(RULES), sort_keys=False))
    checked = subprocess.run([tool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {RULE_COUNT} rules found" in checked.stdout
    tests = tmp_path / "rules_test.yml"
    tests.write_text(RULES_TEST.read_text().replace("RULE_FILE", str(rule_file)))
    tested = subprocess.run([tool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_prometheus_scrapes_every_service_and_inference_server(
    platform: Platform, prometheus: EmbeddedPrometheus
) -> None:
    def up() -> dict[str, float]:
        return {r["metric"]["job"]: float(r["value"][1]) for r in query(prometheus, "up")}

    until(lambda: up() == {"metadata": 1, "registry": 1, "deploy": 1, "serving": 1}, "every target up")
    serving = query(prometheus, 'up{job="serving"}')[0]["metric"]
    assert serving["deployment"] == platform.deployment and serving["replica"].startswith("churn-1-")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # The model, and three datasets: the customers, the holdout, the batch job's output.
        ('sum(modelyard_rpc_requests_total{job="registry", method="UploadFile", code="OK"})', 4),
        ('sum(modelyard_rpc_requests_total{job="metadata", method="CommitDatasetVersion", code="OK"})', 3),
        ('sum(modelyard_rpc_requests_total{job="serving", method="ModelInfer", code="OK"})', 4),
        ('modelyard_deploy_deployments{state="AVAILABLE"}', 1),
        ('modelyard_serving_inference_seconds_count{model="churn", version="1", outcome="ok"}', 4),
        ('modelyard_model_metric{model="churn", version="1", metric="accuracy"}', 0.93),
        ('modelyard_postgres_pool_max_connections{job="metadata"}', 20),
    ],
)
def test_series_arrive_with_the_workload_s_values(prometheus: EmbeddedPrometheus, expr: str, expected: float) -> None:
    values = until(lambda: [float(r["value"][1]) for r in query(prometheus, expr)], expr, timeout=30)
    assert values == [expected]


def test_recording_rules_evaluate_and_no_rule_fails(platform: Platform, prometheus: EmbeddedPrometheus) -> None:
    until(lambda: query(prometheus, 'modelyard:rpc_requests:rate5m{job="metadata"}'), "a recorded RPC rate")
    until(lambda: query(prometheus, "modelyard:postgres_pool_in_use:ratio"), "recorded pool use")

    def rule_health() -> dict[str, str]:
        groups = prometheus.api("rules")["groups"]
        return {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}

    health = until(lambda: (h := rule_health()) and all(v != "unknown" for v in h.values()) and h, "rules evaluated")
    assert len(health) == RULE_COUNT
    assert {name: h for name, h in health.items() if h != "ok"} == {}
    firing = [a["labels"]["alertname"] for a in prometheus.api("alerts")["alerts"] if a["state"] == "firing"]
    assert firing == []


def _instant(expr: str) -> str:
    """A dashboard query as Prometheus takes it: Grafana's variables given concrete values."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
    return re.sub(r"\$\w+", ".*", expr)


# Panels that only show trouble: no series until something fails.
_TROUBLE_ONLY = {"Server errors, share of calls", "Redis errors, by operation", "Failed inferences, share"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_run_and_show_the_workload(prometheus: EmbeddedPrometheus, path: Path) -> None:
    board = json.loads(path.read_text())
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":  # label_values(<selector>, <label>): the selector has series
            found = re.fullmatch(r"label_values\((.+), \w+\)", variable["query"]["query"])
            assert found is not None, variable["name"]
            selector = _instant(found.group(1))
            until(lambda: query(prometheus, selector), f"values of ${variable['name']}", timeout=30)  # noqa: B023

    def empty_panels() -> set[str]:
        # A bad query raises here, with Prometheus' message.
        return {
            panel["title"]
            for panel in board["panels"]
            if panel["type"] != "row"
            and not any(query(prometheus, _instant(target["expr"])) for target in panel["targets"])
        }

    # Rates need two scrapes inside their window: poll until every panel but the trouble-only ones shows data.
    until(lambda: empty_panels() <= _TROUBLE_ONLY or None, f"data in every panel of {path.name}", timeout=30)
