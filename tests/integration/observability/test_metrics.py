"""What the services export after a workload: consistent names, the series that matter with the
values the workload implies, and every metric the rules and dashboards use."""

from __future__ import annotations

import json
import re

from observed_platform import DASHBOARDS, RULES, Platform, metric_names
from prometheus_client.parser import text_string_to_metric_families
from replica_processes import until

from modelyard_common.embedded import rule_groups

_FAMILY = re.compile(r"^modelyard_(rpc|postgres|metadata|registry|deploy|serving|model)_[a-z0-9_]+$")
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


def families(page: str) -> dict[str, str]:
    """name -> type of the modelyard_ families on a /metrics page."""
    return {f.name: f.type for f in text_string_to_metric_families(page) if f.name.startswith("modelyard_")}


def value(page: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` with ``labels`` on a page."""
    return sum(
        s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_every_family_follows_the_naming_scheme(platform: Platform) -> None:
    for job, page in platform.metrics_pages().items():
        for name, kind in families(page).items():
            assert _FAMILY.match(name), f"{job}: {name} is not modelyard_<area>_<what>"
            if kind == "counter":
                assert not name.endswith("_total"), f"{job}: {name}"  # the parser strips _total off counters
            if kind == "gauge":
                assert not name.endswith("_total"), f"{job}: gauge {name} is named like a counter"
            if kind == "histogram":
                assert name.endswith("_seconds"), f"{job}: histogram {name} is not in seconds"


def test_the_workload_shows_in_each_service_s_series(platform: Platform) -> None:
    # Gauges counted by periodic passes (deployments by state, model metrics) catch up within one.
    def counted() -> bool:
        deploy = platform.metrics_pages()["deploy"]
        return value(deploy, "modelyard_deploy_deployments", state="AVAILABLE") == 1

    until(counted, "the deploy service counting one AVAILABLE deployment", timeout=30)
    pages = platform.metrics_pages()
    metadata, registry, deploy = pages["metadata"], pages["registry"], pages["deploy"]
    serving = [page for job, page in pages.items() if job.startswith("serving")]
    assert len(serving) == 1

    rpc = "modelyard_rpc_requests_total"
    assert value(metadata, rpc, service="MetadataService", method="GetModelVersion", code="OK") >= 6
    # The model, and three datasets: the customers, the holdout, the batch job's output.
    assert value(registry, rpc, service="RegistryService", method="UploadFile", code="OK") == 4
    assert value(metadata, rpc, service="DatasetService", method="CommitDatasetVersion", code="OK") == 3
    assert value(deploy, rpc, service="DeployService", method="CreateDeployment", code="OK") == 1
    assert value(serving[0], rpc, service="GRPCInferenceService", method="ModelInfer", code="OK") == 4

    # Bytes streamed: the push once; the pull and the inference server's fetch through the registry.
    assert (
        value(registry, "modelyard_registry_bytes_total", direction="upload", kind="model") == platform.artifact_bytes
    )
    assert value(registry, "modelyard_registry_bytes_total", direction="upload", kind="dataset") == (
        platform.dataset_bytes
    )
    assert (
        value(registry, "modelyard_registry_bytes_total", direction="download", kind="model")
        == 2 * platform.artifact_bytes
    )
    assert value(registry, "modelyard_registry_bytes_total", direction="download", kind="dataset") == (
        platform.holdout_bytes
    )
    assert value(registry, "modelyard_registry_s3_request_seconds_count", outcome="ok") > 0
    assert value(registry, "modelyard_registry_s3_requests_in_flight") == 0

    # The webhook subscription's events, delivered to the receiver.
    assert value(metadata, "modelyard_metadata_webhook_deliveries_total", result="delivered") >= 1

    # Cached reads: the repeated GetModelVersion calls hit Redis.
    assert value(metadata, "modelyard_metadata_cache_lookups_total", result="hit") >= 4

    for job in ("metadata", "registry", "deploy"):
        assert value(pages[job], "modelyard_postgres_pool_max_connections") == 20, job  # db_pool_max default
        assert value(pages[job], "modelyard_postgres_pool_acquire_seconds_count") > 0, job
    assert value(deploy, "modelyard_deploy_deployments", state="AVAILABLE") == 1
    assert value(deploy, "modelyard_deploy_replicas", state="READY") == 1
    assert value(deploy, "modelyard_deploy_leader") == 1  # alone, it leads

    served = {"model": platform.deployment, "version": "1"}
    assert value(serving[0], "modelyard_serving_inference_seconds_count", outcome="ok", **served) == 4
    assert value(serving[0], "modelyard_serving_model_info", reference="observed/churn:1", **served) == 1

    # The aliased version's metrics, as gauges (refreshed every 0.5 s here).
    watched = {"project": "observed", "model": "churn", "version": "1", "stage": "DEVELOPMENT"}
    assert value(metadata, "modelyard_model_metric", metric="accuracy", **watched) == 0.93
    assert value(metadata, "modelyard_model_metric", metric="auc", **watched) == 0.97


def test_rules_and_dashboards_use_only_metrics_the_services_export(platform: Platform) -> None:
    exported = {"up"}
    for page in platform.metrics_pages().values():
        for name, kind in families(page).items():
            exported.add(name)
            exported.update(name + suffix for suffix in _SUFFIXES.get(kind, ()))
    used: dict[str, set[str]] = {}
    for group in rule_groups(RULES)["groups"]:
        for rule in group["rules"]:
            used[rule.get("record") or rule["alert"]] = metric_names(rule["expr"])
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                used[f"{path.name}: {panel['title']}"] = metric_names(target["expr"])
    unknown = {where: names - exported for where, names in used.items() if names - exported}
    assert not unknown, f"not exported by any service: {unknown}"
    assert len(used) > 30
