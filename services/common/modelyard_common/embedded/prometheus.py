"""A real Prometheus scraping the platform on loopback, when a ``prometheus`` binary is installed
(Debian's ``prometheus`` package; it is not on PyPI, so it stays optional).

Scrapes each service's metrics port as its own job, the inference servers the deploy service
lists in its file_sd targets file, and evaluates the platform's alert and recording rules (the
``spec`` of deploy/k8s/monitoring/prometheus-rules.yaml, the PrometheusRule Kubernetes uses).
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ._process import ManagedProcess, free_port

__all__ = ["EmbeddedPrometheus", "prometheus_binary", "rule_groups"]


def prometheus_binary() -> str | None:
    """The ``prometheus`` on PATH, or None."""
    return shutil.which("prometheus")


def rule_groups(prometheus_rule: Path) -> dict[str, Any]:
    """The rule file Prometheus and promtool read, from a PrometheusRule manifest (its ``spec``)."""
    manifest = yaml.safe_load(prometheus_rule.read_text())
    if manifest.get("kind") != "PrometheusRule" or "groups" not in manifest.get("spec", {}):
        raise ValueError(f"{prometheus_rule} is not a PrometheusRule with spec.groups")
    return {"groups": manifest["spec"]["groups"]}


class EmbeddedPrometheus(ManagedProcess):
    """Prometheus on 127.0.0.1.

    Args:
        data_dir: holds its configuration, rule file, TSDB and log.
        jobs: job name -> ``host:port`` metrics targets (the services).
        file_targets: file_sd JSON files with more targets (the inference servers), job "serving".
        rules: a PrometheusRule manifest whose rules to evaluate; none when None.
        interval: scrape and rule evaluation interval, in seconds.
        port: where its web UI and API listen; a free port when None.
    """

    name = "prometheus"
    start_timeout = 30.0

    def __init__(
        self,
        data_dir: Path,
        jobs: Mapping[str, Sequence[str]],
        file_targets: Sequence[Path] = (),
        rules: Path | None = None,
        interval: float = 5.0,
        port: int | None = None,
    ) -> None:
        super().__init__(data_dir)
        binary = prometheus_binary()
        if binary is None:
            raise RuntimeError("no prometheus on PATH (Debian: apt-get install prometheus)")
        self._binary = binary
        self._port = port or free_port()
        self._jobs, self._file_targets, self._rules, self._interval = jobs, file_targets, rules, interval

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def _prepare(self) -> None:
        interval = f"{self._interval:g}s"
        scrape = [
            {"job_name": job, "static_configs": [{"targets": list(targets)}]} for job, targets in self._jobs.items()
        ]
        if self._file_targets:
            scrape.append(
                {
                    "job_name": "serving",
                    "file_sd_configs": [{"files": [str(f) for f in self._file_targets], "refresh_interval": interval}],
                }
            )
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "scrape_configs": scrape,
        }
        if self._rules is not None:
            rule_file = self.data_dir / "rules.yml"
            rule_file.write_text(yaml.safe_dump(rule_groups(self._rules), sort_keys=False))
            config["rule_files"] = [str(rule_file)]
        (self.data_dir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    def _command(self) -> list[str]:
        return [
            self._binary,
            f"--config.file={self.data_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self._port}",
            "--web.enable-lifecycle",
        ]

    def _is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of a Prometheus HTTP API answer, e.g. ``api("query", query="up")``.

        Raises:
            ValueError: Prometheus answered an error (a bad expression: its message).
        """
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
        if answer.get("status") != "success":
            raise ValueError(f"{path} {params}: {answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]
