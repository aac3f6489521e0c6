"""What every pod of the kubernetes runtime is made of, inference servers' (``kubernetes``) and
batch scoring jobs' (``kubernetes_jobs``) alike: the `restricted` Pod Security standard, a
ServiceAccount of its own with no API token, the artifact fetched by an init container into the
``models`` volume, /tmp, the TLS Secret when there is one, and settings as environment variables
(secrets by reference to a Secret, never as values). And the API calls both make, blocking.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kubernetes import client as k8s

from modelyard_serving.launch import MODULE, ServingTLS

__all__ = [
    "MODELS_DIR",
    "TLS_DIR",
    "KubernetesConfig",
    "PodStorage",
    "calling_tls",
    "container",
    "create_unless_present",
    "delete_unless_gone",
    "env_vars",
    "labels",
    "pod_spec",
    "pod_storage",
    "pull_container",
    "replace_or_create",
    "service_account",
    "serving_tls",
]

TLS_DIR = "/etc/modelyard/tls"
MODELS_DIR = "/models"
_MANAGED_BY = "modelyard-deploy"
_CERT, _KEY, _CA = (PurePosixPath(TLS_DIR, file) for file in ("tls.crt", "tls.key", "ca.crt"))


@dataclass(frozen=True, slots=True)
class KubernetesConfig:
    namespace: str
    image: str
    metadata_addr: str
    registry_addr: str
    cpu: str = "500m"
    memory: str = "1Gi"
    tls_secret: str = ""
    mutual_tls: bool = False
    serving_credentials: bool = False
    """Pods read their version with a serving credential from their own Secret."""
    worker_addr: str = ""
    """Where a batch scoring job's pods reach the deploy service replica that runs the job."""
    worker_server_name: str = ""
    """The name that replica's certificate carries, when it is not the host of ``worker_addr``."""


def labels(name: str) -> dict[str, str]:
    """The labels that select the pods of a deployment (its Service uses them), or of a job."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": _MANAGED_BY}


def env_vars(values: Mapping[str, str], secret_keys: Mapping[str, tuple[str, str]] | None = None) -> list[k8s.V1EnvVar]:
    """Plain variables, then those read from Secrets: variable -> (Secret, key)."""
    env = [k8s.V1EnvVar(name=key, value=value) for key, value in values.items()]
    for name, (secret, key) in (secret_keys or {}).items():
        selector = k8s.V1SecretKeySelector(name=secret, key=key)
        env.append(k8s.V1EnvVar(name=name, value_from=k8s.V1EnvVarSource(secret_key_ref=selector)))
    return env


def calling_tls(config: KubernetesConfig) -> ServingTLS:
    """The TLS files a pod calls the platform with (the mounted Secret's); none without one."""
    if not config.tls_secret:
        return ServingTLS()
    return ServingTLS(tls_cert_file=_CERT, tls_key_file=_KEY, tls_ca_file=_CA)


def serving_tls(config: KubernetesConfig, health_port: int) -> ServingTLS:
    """An inference server's: it calls with them, serves with them (mTLS with ``mutual_tls``),
    and answers probes, which cannot speak TLS, on a plaintext ``health_port``."""
    if not config.tls_secret:
        return ServingTLS()
    client_ca = _CA if config.mutual_tls else None
    return dataclasses.replace(calling_tls(config), tls_client_ca_file=client_ca, health_port=health_port)


# The `restricted` Pod Security standard: a non-root user, no privilege, a read-only root (the
# artifact goes to the models volume, temporary files to /tmp).
_SECURITY = k8s.V1SecurityContext(
    run_as_non_root=True,
    allow_privilege_escalation=False,
    read_only_root_filesystem=True,
    capabilities=k8s.V1Capabilities(drop=["ALL"]),
)
_POD_SECURITY = k8s.V1PodSecurityContext(
    run_as_non_root=True, run_as_user=10001, fs_group=10001, seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault")
)


@dataclass(frozen=True, slots=True)
class PodStorage:
    """The volumes of a pod and where every container mounts them."""

    mounts: list[k8s.V1VolumeMount]
    volumes: list[k8s.V1Volume]


def pod_storage(config: KubernetesConfig) -> PodStorage:
    """The artifact (``models``, the server's cache), /tmp, and the TLS Secret when there is one."""
    mounts = [
        k8s.V1VolumeMount(name="models", mount_path=MODELS_DIR),
        k8s.V1VolumeMount(name="tmp", mount_path="/tmp"),
    ]
    volumes = [
        k8s.V1Volume(name="models", empty_dir=k8s.V1EmptyDirVolumeSource()),
        k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource()),
    ]
    if config.tls_secret:
        mounts.append(k8s.V1VolumeMount(name="tls", mount_path=TLS_DIR, read_only=True))
        volumes.append(
            k8s.V1Volume(name="tls", secret=k8s.V1SecretVolumeSource(secret_name=config.tls_secret, default_mode=0o440))
        )
    return PodStorage(mounts, volumes)


def container(
    name: str,
    command: list[str],
    env: list[k8s.V1EnvVar],
    config: KubernetesConfig,
    storage: PodStorage,
    **more: object,
) -> k8s.V1Container:
    """A container of the image, with the pod's mounts, the configured CPU and memory (no CPU
    limit: throttling would show as latency) and the restricted security context."""
    resources = k8s.V1ResourceRequirements(
        requests={"cpu": config.cpu, "memory": config.memory}, limits={"memory": config.memory}
    )
    return k8s.V1Container(
        name=name,
        image=config.image,
        command=command,
        env=env,
        volume_mounts=storage.mounts,
        resources=resources,
        security_context=_SECURITY,
        **more,
    )


def pull_container(env: list[k8s.V1EnvVar], config: KubernetesConfig, storage: PodStorage) -> k8s.V1Container:
    """The init container: the version's files fetched into the ``models`` volume (every file's
    SHA-256 verified), where the main container's loader finds them."""
    return container("pull-artifact", ["python", "-m", MODULE, "--fetch-only"], env, config, storage)


def pod_spec(
    account: str, init: k8s.V1Container, main: k8s.V1Container, storage: PodStorage, restart_policy: str | None = None
) -> k8s.V1PodSpec:
    """A pod under ``account`` (which mounts no API token), restricted."""
    return k8s.V1PodSpec(
        init_containers=[init],
        containers=[main],
        service_account_name=account,
        automount_service_account_token=False,
        security_context=_POD_SECURITY,
        volumes=storage.volumes,
        restart_policy=restart_policy,
    )


def service_account(name: str, namespace: str, account_labels: dict[str, str]) -> k8s.V1ServiceAccount:
    """A ServiceAccount that mounts no API token: a pod under it holds nothing of the cluster's."""
    return k8s.V1ServiceAccount(
        api_version="v1",
        kind="ServiceAccount",
        metadata=k8s.V1ObjectMeta(name=name, namespace=namespace, labels=account_labels),
        automount_service_account_token=False,
    )


def replace_or_create(replace: Callable[..., Any], create: Callable[..., Any], obj: Any, namespace: str) -> None:
    """Replaces ``obj``, or creates it when there is none."""
    try:
        replace(obj.metadata.name, namespace, obj)
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
        create(namespace, obj)


def create_unless_present(read: Callable[..., Any], create: Callable[..., Any], obj: Any, namespace: str) -> None:
    """Creates ``obj`` unless it exists (left as it is then)."""
    try:
        read(obj.metadata.name, namespace)
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
        create(namespace, obj)


def delete_unless_gone(delete: Callable[..., Any], name: str, namespace: str, **options: Any) -> None:
    """Deletes object ``name``; one that is not there is fine."""
    try:
        delete(name, namespace, **options)
    except k8s.ApiException as exc:
        if exc.status != 404:
            raise
