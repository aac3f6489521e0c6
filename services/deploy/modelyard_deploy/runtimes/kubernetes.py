"""The kubernetes runtime: a deployment is a Kubernetes Deployment and a Service.

Each pod fetches its artifact first, in an init container (``python -m modelyard_serving
--fetch-only``, with the server's own settings: every file's SHA-256 is verified, so a corrupt
artifact never reaches the server), into the volume that is the server's cache, where the
server then finds it. The server container answers OIP gRPC on ``OIP_PORT``; its
readiness and liveness are Kubernetes' native gRPC probes against grpc.health.v1, which the
server turns SERVING once the model is loaded. The objects are built with the official
client's models (``render``) and applied through AppsV1Api / CoreV1Api (``KubernetesCluster``).

With a TLS Secret (``KubernetesConfig.tls_secret``: tls.crt, tls.key, ca.crt) mounted at
``TLS_DIR``, both containers call metadata and registry over TLS presenting that certificate,
the server answers TLS (mTLS with ``mutual_tls``), and the probes, which cannot speak TLS, go to
its plaintext health-only port ``HEALTH_PORT``.

Model code is untrusted. With ``serving_credentials`` (authentication on), each deployment gets
its own Secret ``<name>-serving`` holding a serving credential that reads only its version (and
an ensemble's members) for ``CREDENTIAL_TTL``, renewed at half-life by the leader's passes, and
its own ServiceAccount with no API token mounted: a pod holds nothing else of the platform's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from modelyard_deploy.domain.ports import ClusterStatus
from modelyard_deploy.runtimes.kubernetes_pods import (
    MODELS_DIR,
    TLS_DIR,
    KubernetesConfig,
    container,
    create_unless_present,
    delete_unless_gone,
    env_vars,
    labels,
    pod_spec,
    pod_storage,
    pull_container,
    replace_or_create,
    service_account,
    serving_tls,
)
from modelyard_serving.launch import MODULE, ServingLaunch, variable

__all__ = [
    "CREDENTIAL_TTL",
    "HEALTH_PORT",
    "OIP_PORT",
    "TLS_DIR",
    "KubernetesCluster",
    "KubernetesConfig",
    "Workload",
    "cluster_status",
    "credential_secret",
    "labels",
    "load_cluster_credentials",
    "render",
    "to_dict",
]

OIP_PORT = 8081
METRICS_PORT = 9090
HEALTH_PORT = 8082
CREDENTIAL_TTL = timedelta(days=1)
_EXPIRES = "modelyard.io/credential-expires-at"
_VERSION = "modelyard.io/version"
# Issues a serving credential: (deployment, version reference, lifetime) -> bearer secret.
IssueCredential = Callable[[str, str, timedelta], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Workload:
    """The objects of one deployment."""

    deployment: k8s.V1Deployment
    service: k8s.V1Service
    service_account: k8s.V1ServiceAccount


def _serving_name(name: str) -> str:
    """The deployment's own Secret and ServiceAccount."""
    return f"{name}-serving"


def credential_secret(
    name: str, version_reference: str, token: str, expires_at: datetime, config: KubernetesConfig
) -> k8s.V1Secret:
    """The Secret holding deployment ``name``'s serving credential, and when it expires."""
    return k8s.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=k8s.V1ObjectMeta(
            name=_serving_name(name),
            namespace=config.namespace,
            labels=labels(name),
            annotations={_EXPIRES: expires_at.isoformat(), _VERSION: version_reference},
        ),
        type="Opaque",
        string_data={"token": token},
    )


def _probe(port: int, period: int, failures: int) -> k8s.V1Probe:
    return k8s.V1Probe(grpc=k8s.V1GRPCAction(port=port, service=""), period_seconds=period, failure_threshold=failures)


def render(
    name: str,
    version_reference: str,
    revision: int,
    replicas: int,
    config: KubernetesConfig,
    trusted_types: tuple[str, ...] = (),
) -> Workload:
    """The Deployment and Service serving ``version_reference`` as deployment ``name``, its
    servers trusting ``trusted_types`` in skops files beyond skops' defaults.

    A new revision changes the pod template (its annotation and the version), so Kubernetes
    rolls it out: new pods ready (by their readiness probe) before old ones go.
    """
    selector = labels(name)
    pod_labels = {**selector, "modelyard.io/revision": str(revision)}
    storage = pod_storage(config)
    probe_port = HEALTH_PORT if config.tls_secret else OIP_PORT
    serving = ServingLaunch(
        reference=version_reference,
        model_name=name,
        trusted_types=trusted_types,
        metadata_addr=config.metadata_addr,
        registry_addr=config.registry_addr,
        cache_dir=PurePosixPath(MODELS_DIR),
        host="0.0.0.0",
        port=OIP_PORT,
        metrics_port=METRICS_PORT,
        tls=serving_tls(config, HEALTH_PORT),
    )
    token = {variable("token"): (_serving_name(name), "token")} if config.serving_credentials else {}
    environment = env_vars(serving.environment(), token)
    server = container(
        "server",
        ["python", "-m", MODULE],
        environment,
        config,
        storage,
        ports=[
            k8s.V1ContainerPort(name="grpc", container_port=OIP_PORT),
            k8s.V1ContainerPort(name="metrics", container_port=METRICS_PORT),
        ],
        # Loading a model may take minutes (NOT_SERVING meanwhile): the startup probe allows 10,
        # then liveness takes over.
        startup_probe=_probe(probe_port, period=5, failures=120),
        readiness_probe=_probe(probe_port, period=5, failures=3),
        liveness_probe=_probe(probe_port, period=10, failures=3),
    )
    template = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(
            labels=pod_labels,
            annotations={"modelyard.io/version": version_reference, "prometheus.io/port": str(METRICS_PORT)},
        ),
        spec=pod_spec(_serving_name(name), pull_container(environment, config, storage), server, storage),
    )
    deployment = k8s.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=k8s.V1ObjectMeta(name=name, namespace=config.namespace, labels=pod_labels),
        spec=k8s.V1DeploymentSpec(
            replicas=replicas,
            selector=k8s.V1LabelSelector(match_labels=selector),
            strategy=k8s.V1DeploymentStrategy(
                type="RollingUpdate",
                rolling_update=k8s.V1RollingUpdateDeployment(max_surge="100%", max_unavailable=0),
            ),
            template=template,
        ),
    )
    service = k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=k8s.V1ObjectMeta(name=name, namespace=config.namespace, labels=selector),
        spec=k8s.V1ServiceSpec(
            selector=selector,
            ports=[k8s.V1ServicePort(name="grpc", port=OIP_PORT, target_port="grpc", app_protocol="grpc")],
        ),
    )
    return Workload(deployment, service, service_account(_serving_name(name), config.namespace, selector))


def load_cluster_credentials() -> None:
    """The API clients' credentials: in-cluster (the service account's), else the local kubeconfig."""
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]


def to_dict(obj: Any) -> dict[str, Any]:
    """An object as Kubernetes' JSON/YAML has it (camelCase keys, no nulls)."""
    result: dict[str, Any] = k8s.ApiClient().sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return result


def cluster_status(deployment: k8s.V1Deployment) -> ClusterStatus:
    """What a Deployment's status says of its rollout."""
    status = deployment.status or k8s.V1DeploymentStatus()
    stalled = next(
        (
            c.message or c.reason
            for c in status.conditions or ()
            if c.type == "Progressing" and c.status == "False" and c.reason == "ProgressDeadlineExceeded"
        ),
        "",
    )
    return ClusterStatus(
        observed=(status.observed_generation or 0) >= ((deployment.metadata and deployment.metadata.generation) or 0),
        replicas=status.replicas or 0,
        updated=status.updated_replicas or 0,
        available=status.available_replicas or 0,
        failure=stalled,
    )


class KubernetesCluster:
    """Applies, reads and removes workloads; in-cluster credentials, else the local kubeconfig."""

    def __init__(self, config: KubernetesConfig, issue: IssueCredential | None = None) -> None:
        """``issue``: where serving credentials come from when ``config.serving_credentials``."""
        assert issue is not None or not config.serving_credentials
        load_cluster_credentials()
        self._config = config
        self._issue = issue
        # Each deployment's credential: when it expires, and the version it reads (known from
        # the renewals this process made, else read once from its Secret).
        self._credentials: dict[str, tuple[datetime, str]] = {}
        self._apps, self._core = k8s.AppsV1Api(), k8s.CoreV1Api()

    async def apply(
        self, name: str, version_reference: str, revision: int, replicas: int, trusted_types: tuple[str, ...] = ()
    ) -> None:
        workload = render(name, version_reference, revision, replicas, self._config, trusted_types)
        await self._renew_credential(name, version_reference)
        await asyncio.to_thread(self._apply, workload)

    async def _renew_credential(self, name: str, version_reference: str) -> None:
        """A fresh serving credential in the deployment's Secret (pods read it when they start)."""
        if self._issue is None:
            return
        expires_at = datetime.now(UTC) + CREDENTIAL_TTL
        token = await self._issue(name, version_reference, CREDENTIAL_TTL)
        secret = credential_secret(name, version_reference, token, expires_at, self._config)
        await asyncio.to_thread(
            replace_or_create,
            self._core.replace_namespaced_secret,
            self._core.create_namespaced_secret,
            secret,
            self._config.namespace,
        )
        self._credentials[name] = (expires_at, version_reference)

    def _apply(self, workload: Workload) -> None:
        namespace = self._config.namespace
        create_unless_present(
            self._core.read_namespaced_service_account,
            self._core.create_namespaced_service_account,
            workload.service_account,
            namespace,
        )
        replace_or_create(
            self._apps.replace_namespaced_deployment,
            self._apps.create_namespaced_deployment,
            workload.deployment,
            namespace,
        )
        create_unless_present(
            self._core.read_namespaced_service, self._core.create_namespaced_service, workload.service, namespace
        )

    async def status(self, name: str) -> ClusterStatus:
        found = await asyncio.to_thread(self._apps.read_namespaced_deployment_status, name, self._config.namespace)
        if self._issue is not None:
            await self._renew_when_due(name)
        return cluster_status(found)

    async def _renew_when_due(self, name: str) -> None:
        """Renews the credential once half its life is gone, so a pod starting later still pulls."""
        if name not in self._credentials:  # made by an earlier run of the service
            secret = await asyncio.to_thread(
                self._core.read_namespaced_secret, _serving_name(name), self._config.namespace
            )
            notes = secret.metadata.annotations or {}
            expires_at = datetime.fromisoformat(notes.get(_EXPIRES, "1970-01-01T00:00:00+00:00"))
            self._credentials[name] = (expires_at, notes.get(_VERSION, ""))
        expires_at, version_reference = self._credentials[name]
        if expires_at - datetime.now(UTC) < CREDENTIAL_TTL / 2 and version_reference:
            await self._renew_credential(name, version_reference)

    async def delete(self, name: str) -> None:
        self._credentials.pop(name, None)
        await asyncio.to_thread(self._delete, name)

    def _delete(self, name: str) -> None:
        namespace = self._config.namespace
        delete_unless_gone(self._apps.delete_namespaced_deployment, name, namespace)
        delete_unless_gone(self._core.delete_namespaced_service, name, namespace)
        delete_unless_gone(self._core.delete_namespaced_secret, _serving_name(name), namespace)
        delete_unless_gone(self._core.delete_namespaced_service_account, _serving_name(name), namespace)
