"""Batch scoring jobs on Kubernetes: a job's predictor workers are the pods of a ``batch/v1`` Job,
which dial the leader that runs the job and take their chunks over a gRPC stream each.

The leader keeps everything else (it reads the input, builds the tensors, checks what comes
back, joins the key, writes and publishes), so a pod sees only the input columns of the chunks
it is given, never the dataset, and needs no volume shared with the leader. The Job is the
Kubernetes "work queue" pattern: ``parallelism`` = the job's workers, no ``completions``; chunks
go to whichever worker is free; a pod exits 0 when the leader ends its stream.

Per job, in the runtime's namespace: a Secret (the worker secret, and the serving credential
that reads the job's version, issued for the start deadline only: a worker reads its version
once, as it starts), a ServiceAccount with no API token, and the Job (``render_job``). Each pod
fetches the version in an init container (as an inference server's pod does), then runs
``python -m modelyard_serving.batch --connect`` as the `restricted` standard asks. Pods that
fail fail the Job (``backoffLimit: 0``; a pod evicted by a disruption is replaced), and the job
with it; the objects go when the job is done with them (the Job with ``propagationPolicy:
Background``), and ``ttlSecondsAfterFinished`` removes a Job a leader died before removing.

``KubernetesWorkers`` is the engine's ``WorkerSource``; where the pods run is its ``JobPods``:
the Kubernetes API (``KubernetesJobPods``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Protocol

from kubernetes import client as k8s

from modelyard_deploy.domain.job_ports import WorkerError
from modelyard_deploy.runtimes.batch_workers import PredictorWorker, credential_holder, read_frame
from modelyard_deploy.runtimes.kubernetes import load_cluster_credentials
from modelyard_deploy.runtimes.kubernetes_pods import (
    MODELS_DIR,
    KubernetesConfig,
    calling_tls,
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
)
from modelyard_deploy.runtimes.local_workers import WORKER_MODULE
from modelyard_deploy.runtimes.remote_workers import Expected, RemoteWorker, RemoteWorkers
from modelyard_serving.launch import BatchConnection, ServingLaunch, variable

__all__ = [
    "COMPONENT",
    "JobObjects",
    "JobPods",
    "JobPodsStatus",
    "KubernetesJobPods",
    "KubernetesWorkers",
    "job_name",
    "job_pods_status",
    "render_job",
]

logger = logging.getLogger(__name__)

COMPONENT = "batch-worker"
"""The ``app.kubernetes.io/component`` of job pods: what the NetworkPolicies let reach the leader."""
TTL_AFTER_FINISHED = 3600
_SECRET_KEY, _TOKEN_KEY = "worker-secret", "token"
_GONE_WAIT_SECONDS = 60.0
# Issues a serving credential: (holder, version reference, lifetime) -> bearer secret.
IssueCredential = Callable[[str, str, timedelta], Awaitable[str]]


def job_name(job_id: str) -> str:
    """The Job, Secret and ServiceAccount of a job (a job id is 32 hex digits: 46 characters)."""
    return f"modelyard-job-{job_id}"


def _job_labels(job_id: str) -> dict[str, str]:
    return {**labels(job_name(job_id)), "app.kubernetes.io/component": COMPONENT, "modelyard.io/job": job_id}


@dataclass(frozen=True, slots=True)
class JobObjects:
    """The objects of one job."""

    job: k8s.V1Job
    secret: k8s.V1Secret
    service_account: k8s.V1ServiceAccount

    @property
    def name(self) -> str:
        return str(self.job.metadata.name)


def render_job(
    job_id: str,
    version_reference: str,
    trusted_types: tuple[str, ...],
    workers: int,
    config: KubernetesConfig,
    worker_secret: str,
    token: str | None = None,
) -> JobObjects:
    """The Job whose ``workers`` pods score job ``job_id`` with ``version_reference`` (trusting
    ``trusted_types`` in skops files), dialling ``config.worker_addr`` with ``worker_secret``;
    its Secret (that, and ``token``, the serving credential, when there is one) and ServiceAccount."""
    name = job_name(job_id)
    job_labels = _job_labels(job_id)
    storage = pod_storage(config)
    serving = ServingLaunch(
        reference=version_reference,
        model_name=job_id,
        trusted_types=trusted_types,
        metadata_addr=config.metadata_addr,
        registry_addr=config.registry_addr,
        cache_dir=PurePosixPath(MODELS_DIR),
        tls=calling_tls(config),
    )
    credential = {variable("token"): (name, _TOKEN_KEY)} if token is not None else {}
    connection = BatchConnection(
        batch_addr=config.worker_addr, batch_job=job_id, batch_server_name=config.worker_server_name or None
    )
    worker_env = env_vars(
        serving.environment() | connection.environment(), credential | {variable("batch_secret"): (name, _SECRET_KEY)}
    )
    pod_name = k8s.V1EnvVarSource(field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.name"))
    worker_env.append(k8s.V1EnvVar(name=variable("batch_worker"), value_from=pod_name))
    worker = container(
        "worker",
        ["python", "-m", WORKER_MODULE, "--connect"],
        worker_env,
        config,
        storage,
        termination_message_policy="FallbackToLogsOnError",
    )
    # The fetch needs the version and the credential only: not the worker secret.
    pull = pull_container(env_vars(serving.environment(), credential), config, storage)
    template = k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels=job_labels, annotations={"modelyard.io/version": version_reference}),
        spec=pod_spec(name, pull, worker, storage, restart_policy="Never"),
    )
    # A pod evicted by a disruption (a drained node) is replaced; any other failure is final.
    disrupted = k8s.V1PodFailurePolicyRule(
        action="Ignore",
        on_pod_conditions=[k8s.V1PodFailurePolicyOnPodConditionsPattern(type="DisruptionTarget", status="True")],
    )
    job = k8s.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=k8s.V1ObjectMeta(name=name, namespace=config.namespace, labels=job_labels),
        spec=k8s.V1JobSpec(
            parallelism=workers,
            backoff_limit=0,
            pod_failure_policy=k8s.V1PodFailurePolicy(rules=[disrupted]),
            ttl_seconds_after_finished=TTL_AFTER_FINISHED,
            template=template,
        ),
    )
    secret = k8s.V1Secret(
        api_version="v1",
        kind="Secret",
        metadata=k8s.V1ObjectMeta(name=name, namespace=config.namespace, labels=job_labels),
        type="Opaque",
        string_data={_SECRET_KEY: worker_secret, **({_TOKEN_KEY: token} if token is not None else {})},
    )
    return JobObjects(job, secret, service_account(name, config.namespace, job_labels))


@dataclass(frozen=True, slots=True)
class JobPodsStatus:
    """What a job's pods are doing: how many run, how many failed, and why the Job failed ("" while it has not)."""

    active: int = 0
    failed: int = 0
    failure: str = ""


def job_pods_status(job: k8s.V1Job) -> JobPodsStatus:
    """What a Job's status says."""
    status = job.status or k8s.V1JobStatus()
    failure = next(
        (f"{c.reason}: {c.message}" for c in status.conditions or () if c.type == "Failed" and c.status == "True"), ""
    )
    return JobPodsStatus(status.active or 0, status.failed or 0, failure)


class JobPods(Protocol):
    """Where a job's pods run (the Kubernetes API), by the job's objects."""

    async def create(self, objects: JobObjects) -> None:
        """Creates them; a Job of that name (left by a leader that died) is deleted first."""
        ...

    async def status(self, name: str) -> JobPodsStatus: ...
    async def delete(self, name: str) -> None:
        """Removes the Job (its pods in the background), its Secret and its ServiceAccount."""
        ...


class KubernetesJobPods:
    """Job pods through the Kubernetes API (in-cluster credentials, else the local kubeconfig)."""

    def __init__(self, namespace: str) -> None:
        load_cluster_credentials()
        self._namespace = namespace
        self._batch, self._core = k8s.BatchV1Api(), k8s.CoreV1Api()

    async def create(self, objects: JobObjects) -> None:
        try:
            await asyncio.to_thread(self._create, objects)
        except k8s.ApiException as exc:
            raise WorkerError(f"Kubernetes refused Job {objects.name}: {_refusal(exc)}") from None

    def _create(self, objects: JobObjects) -> None:
        namespace = self._namespace
        self._delete_job(objects.name)
        create_unless_present(
            self._core.read_namespaced_service_account,
            self._core.create_namespaced_service_account,
            objects.service_account,
            namespace,
        )
        replace_or_create(
            self._core.replace_namespaced_secret, self._core.create_namespaced_secret, objects.secret, namespace
        )
        self._batch.create_namespaced_job(namespace, objects.job)

    def _delete_job(self, name: str) -> None:
        """Deletes a Job of that name and waits until it is gone (so that one may be created)."""
        delete_unless_gone(self._batch.delete_namespaced_job, name, self._namespace, propagation_policy="Background")
        deadline = time.monotonic() + _GONE_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                self._batch.read_namespaced_job(name, self._namespace)
            except k8s.ApiException as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(0.5)
        raise WorkerError(f"Kubernetes Job {name}, left by an earlier run, is not gone after {_GONE_WAIT_SECONDS:g} s")

    async def status(self, name: str) -> JobPodsStatus:
        try:
            found = await asyncio.to_thread(self._batch.read_namespaced_job, name, self._namespace)
        except k8s.ApiException as exc:
            raise WorkerError(f"cannot read Kubernetes Job {name}: {_refusal(exc)}") from None
        return job_pods_status(found)

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self._delete, name)

    def _delete(self, name: str) -> None:
        namespace = self._namespace
        delete_unless_gone(self._batch.delete_namespaced_job, name, namespace, propagation_policy="Background")
        delete_unless_gone(self._core.delete_namespaced_secret, name, namespace)
        delete_unless_gone(self._core.delete_namespaced_service_account, name, namespace)


def _refusal(exc: k8s.ApiException) -> str:
    """What the API server said: its status, and its message when the body is a Status."""
    try:
        message = json.loads(exc.body or "{}").get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return f"{exc.status} {exc.reason}" + (f": {message}" if message else "")


class KubernetesWorkers:
    """A job's predictor workers as the pods of a Kubernetes Job, attached through ``hub``."""

    def __init__(
        self,
        config: KubernetesConfig,
        pods: JobPods,
        hub: RemoteWorkers,
        issue: IssueCredential | None,
        start_seconds: float,
        poll_seconds: float,
    ) -> None:
        """``issue``: where the pods' serving credential comes from (None: no token);
        ``start_seconds``: how long the pods may take to connect and say ready."""
        self._config, self._pods, self._hub, self._issue = config, pods, hub, issue
        self._start, self._poll = start_seconds, poll_seconds

    @contextlib.asynccontextmanager
    async def workers(
        self, job: str, reference: str, trusted_types: Sequence[str], count: int
    ) -> AsyncIterator[Sequence[PredictorWorker]]:
        name = job_name(job)
        expected = self._hub.expect(job, count)
        try:
            lifetime = timedelta(seconds=self._start + 60)  # the pods read the version as they start
            token = await self._issue(credential_holder(job), reference, lifetime) if self._issue else None
            objects = render_job(job, reference, tuple(trusted_types), count, self._config, expected.secret, token)
            await self._pods.create(objects)
            logger.info("created Kubernetes Job %s", name, extra={"job": job, "workers": count})
            yield await self._ready(name, expected)
        finally:
            self._hub.forget(expected)
            try:
                await asyncio.shield(self._pods.delete(name))
            except Exception:  # its TTL removes the Job; the Secret and ServiceAccount stay behind
                logger.exception("cannot delete Kubernetes Job %s", name, extra={"job": job})
            else:
                logger.info("deleted Kubernetes Job %s", name, extra={"job": job})

    async def _ready(self, name: str, expected: Expected) -> list[RemoteWorker]:
        """The ``expected`` workers once each connected and said ready; WorkerError when one
        cannot load the model, the Job failed, or the start deadline passed."""
        ready: list[RemoteWorker] = []

        async def one() -> None:
            worker = await expected.arrived.get()
            await read_frame(worker, 0)
            ready.append(worker)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start
        arriving = [asyncio.ensure_future(one()) for _ in range(expected.count)]
        try:
            while len(ready) < expected.count:
                status = await self._pods.status(name)
                if status.failure:
                    raise WorkerError(f"the pods of Kubernetes Job {name} failed: {status.failure}")
                if loop.time() >= deadline:
                    raise WorkerError(
                        f"{len(expected.attached)} of {expected.count} predictor workers connected "
                        f"({len(ready)} ready) within {self._start:g} s; Kubernetes Job {name} has "
                        f"{status.active} pods running, {status.failed} failed"
                    )
                timeout = min(self._poll, deadline - loop.time())
                await asyncio.wait(arriving, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION)
                for task in arriving:
                    if task.done() and (error := task.exception()) is not None:
                        raise error
        finally:
            for task in arriving:
                task.cancel()
        return ready
