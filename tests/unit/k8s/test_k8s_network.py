"""Who may reach whom under the NetworkPolicies, evaluated from the rendered objects."""

from __future__ import annotations

import pytest
from k8s_manifests import Address, Manifests, Pod, pod_of

from modelyard_deploy.runtimes.kubernetes import OIP_PORT, KubernetesConfig, render, to_dict
from modelyard_deploy.runtimes.kubernetes_jobs import render_job

STORE = "10.20.30.40"  # Postgres, Redis, S3 or the API servers, on the private network
PUBLIC = "203.0.113.7"
GRPC = {"metadata": 7410, "registry": 7411, "deploy": 7412}
SERVING = {**GRPC, "console": 7480}  # the console's pages, over HTTP
METRICS = {"metadata": 9410, "registry": 9411, "deploy": 9412, "console": 9480}


def _platform(manifests: Manifests) -> dict[str, Pod]:
    return {name: pod_of(manifests.get("Deployment", name)) for name in SERVING}


def _inference(manifests: Manifests) -> Pod:
    """A pod exactly as the deploy service's kubernetes runtime makes it."""
    namespace = manifests.config(manifests.get("Deployment", "deploy"))["MLREG_DEPLOY_KUBERNETES_NAMESPACE"]
    config = KubernetesConfig(namespace, "modelyard/modelyard", "metadata.modelyard.svc:7410", "r:7411")
    return pod_of(to_dict(render("scorer", "fraud/scorer:1", 1, 1, config).deployment))


def _batch_worker(manifests: Manifests) -> Pod:
    """A batch scoring job's pod exactly as the deploy service's kubernetes runtime makes it."""
    namespace = manifests.config(manifests.get("Deployment", "deploy"))["MLREG_DEPLOY_KUBERNETES_NAMESPACE"]
    config = KubernetesConfig(namespace, "modelyard/modelyard", "metadata.modelyard.svc:7410", "r:7411")
    job = to_dict(render_job("0123abcd" * 4, "fraud/scorer:1", (), 2, config, "secret").job)
    return Pod(namespace, job["spec"]["template"]["metadata"]["labels"])


def _client(namespace: str, labelled: bool) -> Pod:
    return Pod(namespace, {"app": "training-pipeline", **({"modelyard.io/client": "true"} if labelled else {})})


@pytest.mark.parametrize(
    ("source", "destination", "reachable"),
    [
        ("registry", "metadata", True),
        ("deploy", "metadata", True),
        ("deploy", "registry", True),
        ("metadata", "registry", False),
        ("metadata", "deploy", False),
        ("registry", "deploy", False),
        # the console calls all three for its pages; none calls the console
        ("console", "metadata", True),
        ("console", "registry", True),
        ("console", "deploy", True),
        ("metadata", "console", False),
        ("registry", "console", False),
        ("deploy", "console", False),
    ],
)
def test_the_services_reach_the_services_they_call_and_no_other(
    manifests: Manifests, source: str, destination: str, reachable: bool
) -> None:
    pods = _platform(manifests)
    assert manifests.allowed(pods[source], pods[destination], SERVING[destination]) is reachable
    assert not manifests.allowed(pods[source], pods[destination], METRICS[destination])


def test_clients_reach_the_grpc_ports_from_the_namespace_or_with_the_client_label(manifests: Manifests) -> None:
    pods = _platform(manifests)
    for name in GRPC:
        pod = pods[name]
        assert manifests.allowed(_client("modelyard", labelled=False), pod, GRPC[name])
        assert manifests.allowed(_client("pipelines", labelled=True), pod, GRPC[name])
        assert not manifests.allowed(_client("pipelines", labelled=False), pod, GRPC[name])
        assert not manifests.allowed(_client("pipelines", labelled=True), pod, METRICS[name])


def test_only_the_monitoring_namespace_scrapes_the_metrics_ports(manifests: Manifests) -> None:
    prometheus = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
    for name, pod in _platform(manifests).items():
        assert manifests.allowed(prometheus, pod, METRICS[name])
        assert not manifests.allowed(prometheus, pod, SERVING[name])
    inference = _inference(manifests)
    assert manifests.allowed(prometheus, inference, inference.ports["metrics"])


@pytest.mark.parametrize(
    ("source", "reachable_ports"),
    [
        ("metadata", {5432, 6379}),
        ("registry", {5432, 8333, 443}),
        ("deploy", {5432, 443, 6443}),
        ("console", {6379}),  # its sessions; no Postgres: it holds no data
    ],
)
def test_the_services_reach_their_stores_on_the_private_network_only(
    manifests: Manifests, source: str, reachable_ports: set[int]
) -> None:
    pod = _platform(manifests)[source]
    for port in (5432, 6379, 8333, 443, 6443, 22):
        assert manifests.allowed(pod, Address(STORE), port) is (port in reachable_ports), port
        assert not manifests.allowed(pod, Address(PUBLIC), port)


def test_inference_servers_reach_the_registry_and_metadata_and_nothing_else(manifests: Manifests) -> None:
    pods, inference = _platform(manifests), _inference(manifests)
    assert manifests.allowed(inference, pods["registry"], GRPC["registry"])
    assert manifests.allowed(inference, pods["metadata"], GRPC["metadata"])
    assert not manifests.allowed(inference, pods["deploy"], GRPC["deploy"])
    assert not manifests.allowed(inference, pods["console"], SERVING["console"])
    assert not manifests.allowed(inference, Address(STORE), 5432)
    assert not manifests.allowed(inference, Address(PUBLIC), 443)


def test_the_console_answers_its_ingress_and_labelled_clients_on_its_http_port_only(manifests: Manifests) -> None:
    pods = _platform(manifests)
    console = pods["console"]
    ingress = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx", "modelyard.io/ingress": "true"})
    assert manifests.allowed(ingress, console, SERVING["console"])
    assert manifests.allowed(_client("pipelines", labelled=True), console, SERVING["console"])
    assert not manifests.allowed(_client("pipelines", labelled=False), console, SERVING["console"])
    assert not manifests.allowed(Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}), console, 7480)
    # the platform's own pods call the services, never the pages
    assert not manifests.allowed(_client("modelyard", labelled=False), console, SERVING["console"])
    assert not manifests.allowed(ingress, console, METRICS["console"])
    # the ingress label opens the console only, not the gRPC services behind it
    for name, port in GRPC.items():
        assert not manifests.allowed(ingress, pods[name], port), name


def test_inference_servers_answer_labelled_clients_on_their_oip_port_only(manifests: Manifests) -> None:
    inference = _inference(manifests)
    assert manifests.allowed(_client("pipelines", labelled=True), inference, OIP_PORT)
    assert not manifests.allowed(_client("pipelines", labelled=False), inference, OIP_PORT)
    assert not manifests.allowed(_client("pipelines", labelled=True), inference, inference.ports["metrics"])
    # a pod of the inference namespace that the runtime did not make is not an inference server
    stranger = Pod(inference.namespace, {"app": "debug"})
    assert not manifests.allowed(stranger, _platform(manifests)["registry"], GRPC["registry"])


def test_every_pod_resolves_names_through_the_cluster_dns(manifests: Manifests) -> None:
    dns = Pod("kube-system", {"k8s-app": "kube-dns"})
    for pod in [*_platform(manifests).values(), _inference(manifests)]:
        assert manifests.allowed(pod, dns, 53)
        assert not manifests.allowed(pod, Pod("kube-system", {"k8s-app": "metrics-server"}), 53)


def test_batch_workers_reach_the_deploy_services_grpc_port_and_the_services_they_read_only(
    manifests: Manifests,
) -> None:
    pods, worker = _platform(manifests), _batch_worker(manifests)
    assert manifests.allowed(worker, pods["deploy"], GRPC["deploy"])
    assert manifests.allowed(worker, pods["registry"], GRPC["registry"])
    assert manifests.allowed(worker, pods["metadata"], GRPC["metadata"])
    assert not manifests.allowed(worker, pods["deploy"], METRICS["deploy"])
    assert not manifests.allowed(worker, pods["console"], SERVING["console"])
    assert not manifests.allowed(worker, Address(STORE), 5432)
    assert not manifests.allowed(worker, Address(PUBLIC), 443)
    # Only pods the runtime made, in the inference namespace, labelled as batch workers.
    assert not manifests.allowed(_inference(manifests), pods["deploy"], GRPC["deploy"])
    elsewhere = Pod("pipelines", worker.labels)
    assert not manifests.allowed(elsewhere, pods["deploy"], GRPC["deploy"])
    stranger = Pod(worker.namespace, {"app.kubernetes.io/component": "batch-worker"})
    assert not manifests.allowed(stranger, pods["deploy"], GRPC["deploy"])
