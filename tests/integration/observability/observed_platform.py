"""What the observability tests share: the monitoring assets, the observed platform, polling."""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from modelyard_common.embedded.service import ServiceProcess

REPO = Path(__file__).resolve().parents[3]
MONITORING = REPO / "deploy" / "k8s" / "monitoring"
RULES = MONITORING / "prometheus-rules.yaml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
DATASET = b"customer,tenure\n1,12\n"  # the CSV file the workload pushes as a dataset
# Metric names in PromQL: not recording rules (which have colons) nor label values.
_NAME = re.compile(r"(?<![\w:\"])(modelyard_[a-z0-9_]+|up)\b(?!\")")


def metric_names(expr: str) -> set[str]:
    return set(_NAME.findall(expr))


@dataclass(frozen=True)
class Platform:
    metadata: ServiceProcess
    registry: ServiceProcess
    deploy: ServiceProcess
    targets_file: Path
    deployment: str
    artifact_bytes: int
    # Dataset bytes uploaded (the customers, the holdout, the job's output) and downloaded (the
    # holdout, once: the deploy service caches it for the scoring run and the job).
    dataset_bytes: int
    holdout_bytes: int

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
