"""A platform of its own (metadata, registry, deploy and the inference servers it starts), a
workload through it, and what the monitoring assets are checked against."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from classifiers import FEATURES, push_classifier

import modelyard
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess

REPO = Path(__file__).resolve().parents[3]
MONITORING = REPO / "deploy" / "k8s" / "monitoring"
RULES = MONITORING / "prometheus-rules.yaml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
# Metric names in PromQL: not recording rules (which have colons) nor label values.
_NAME = re.compile(r"(?<![\w:\"])(modelyard_[a-z0-9_]+|up)\b(?!\")")


def metric_names(expr: str) -> set[str]:
    return set(_NAME.findall(expr))


def poll(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """``check()``'s first truthy answer; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


@dataclass(frozen=True)
class Platform:
    metadata: ServiceProcess
    registry: ServiceProcess
    deploy: ServiceProcess
    targets_file: Path
    deployment: str
    project: str
    model: str
    artifact_bytes: int
    predictions: int

    @property
    def services(self) -> dict[str, ServiceProcess]:
        return {"metadata": self.metadata, "registry": self.registry, "deploy": self.deploy}

    def metrics_pages(self) -> dict[str, str]:
        """job -> /metrics text of each service and of each inference server."""
        urls = {job: service.metrics_url for job, service in self.services.items()}
        for target in _file_targets(self.targets_file):
            urls[f"serving {target}"] = f"http://{target}/metrics"
        pages = {}
        for job, url in urls.items():
            with urllib.request.urlopen(url, timeout=5) as response:
                pages[job] = response.read().decode()
        return pages


def _file_targets(path: Path) -> list[str]:
    try:
        groups = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [target for group in groups for target in group["targets"]]


@pytest.fixture(scope="package")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    postgres: EmbeddedPostgres,
    redis_server: EmbeddedRedis,
    seaweedfs: EmbeddedSeaweedFS,
) -> Iterator[Platform]:
    """Three services of their own, then a workload: register, push, alias and metrics, cached
    reads, a deployment of one inference server answering predictions, a pull."""
    data = tmp_path_factory.mktemp("observed")
    dsn = postgres.create_database("observed")
    started: list[ServiceProcess] = []

    def start(name: str, settings: dict[str, str]) -> ServiceProcess:
        service = ServiceProcess(name, f"modelyard_{name}", data / name, {"shutdown_grace_seconds": "2", **settings})
        started.append(service)
        service.start()
        return service

    targets_file = data / "prometheus" / "serving-targets.json"
    try:
        metadata = start(
            "metadata", {"db_dsn": dsn, "redis_url": redis_server.url, "model_metrics_interval_seconds": "0.5"}
        )
        registry = start(
            "registry",
            {
                "db_dsn": dsn,
                "metadata_addr": metadata.target,
                "s3_endpoint": seaweedfs.endpoint,
                "s3_access_key": seaweedfs.access_key,
                "s3_secret_key": seaweedfs.secret_key,
                "s3_bucket": "observed",
            },
        )
        deploy = start(
            "deploy",
            {
                "db_dsn": dsn,
                "metadata_addr": metadata.target,
                "registry_addr": registry.target,
                "cache_dir": str(data / "deploy-cache"),
                "run_dir": str(data / "replicas"),
                "scrape_targets_file": str(targets_file),
                "reconcile_interval_seconds": "0.5",
                "replica_stop_grace_seconds": "5",
            },
        )
        with modelyard.connect(
            metadata.target, registry=registry.target, deploy=deploy.target, actor="observer"
        ) as client:
            client.create_project("observed", owner="observer")
            client.create_model("observed/churn")
            reference = push_classifier(client, "observed/churn", data / "model")
            client.log_metrics(reference, {"accuracy": 0.93, "auc": 0.97})
            client.set_alias("observed/churn", "champion", 1)
            for _ in range(5):
                client.get_version(reference)
            artifact_bytes = sum(f.size for f in client.get_version(reference).artifact.files)
            client.deploy("churn", "observed/churn@champion", replicas=1)
            client.wait_deployment("churn", timeout=120)
            for _ in range(4):
                client.predict("churn", {"input": FEATURES[:2]})
            client.pull(reference, data / "pulled")
        yield Platform(metadata, registry, deploy, targets_file, "churn", "observed", "churn", artifact_bytes, 4)
    finally:
        for service in reversed(started):
            service.stop()
