"""The monitoring objects each overlay renders: the inference servers scraped like the process
runtime's targets, the rules and dashboards exactly the files the tests check."""

from __future__ import annotations

import json

import yaml
from k8s_manifests import K8S_DIR, PLATFORM_NAMESPACE, Manifests, selects

from modelyard_common.embedded import rule_groups
from modelyard_deploy.runtimes.kubernetes import KubernetesConfig, render, to_dict

MONITORING = K8S_DIR / "monitoring"


def test_the_pod_monitor_scrapes_inference_servers_as_the_runtime_makes_them(manifests: Manifests) -> None:
    (monitor,) = manifests.of_kind("PodMonitor")
    namespace = manifests.config(manifests.get("Deployment", "deploy"))["MLREG_DEPLOY_KUBERNETES_NAMESPACE"]
    assert monitor["metadata"]["namespace"] == namespace
    config = KubernetesConfig(namespace, "modelyard/modelyard", "metadata:7410", "registry:7411")
    pod = to_dict(render("scorer", "fraud/scorer:1", 2, 1, config).deployment)["spec"]["template"]
    assert selects(monitor["spec"]["selector"], pod["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = {port["name"] for container in pod["spec"]["containers"] for port in container.get("ports", [])}
    assert endpoint["port"] in ports
    # The same target labels as the process runtime's file_sd targets, and the job the rules expect.
    relabelled = {r["targetLabel"] for r in endpoint["relabelings"]}
    assert relabelled == {"deployment", "replica", "job"}
    assert next(r for r in endpoint["relabelings"] if r["targetLabel"] == "job")["replacement"] == "serving"


def test_the_rules_and_dashboards_are_the_checked_files(manifests: Manifests) -> None:
    (rule,) = manifests.of_kind("PrometheusRule")
    assert rule["metadata"]["namespace"] == PLATFORM_NAMESPACE
    assert {"groups": rule["spec"]["groups"]} == rule_groups(MONITORING / "prometheus-rules.yaml")
    dashboards = manifests.get("ConfigMap", "modelyard-grafana-dashboards")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    files = {path.name: json.loads(path.read_text()) for path in (MONITORING / "dashboards").glob("*.json")}
    assert {name: json.loads(text) for name, text in dashboards["data"].items()} == files
    assert yaml.safe_load((MONITORING / "kustomization.yaml").read_text())["namespace"] == PLATFORM_NAMESPACE
