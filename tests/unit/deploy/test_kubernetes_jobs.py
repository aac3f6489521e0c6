"""A batch scoring job's Kubernetes objects, rendered and validated offline against Kubernetes'
schemas: a work-queue Job of remote predictor workers, its Secret and its ServiceAccount."""

from __future__ import annotations

import dataclasses
from typing import Any

import kubernetes_validate
import pytest
from kubernetes import client as k8s
from restricted_pods import assert_restricted

from modelyard_deploy.runtimes.kubernetes import TLS_DIR, KubernetesConfig, to_dict
from modelyard_deploy.runtimes.kubernetes_jobs import JobPodsStatus, job_name, job_pods_status, render_job

CONFIG = KubernetesConfig(
    namespace="modelyard-inference",
    image="registry.internal/modelyard/modelyard:0.1.0",
    metadata_addr="metadata.modelyard.svc:7410",
    registry_addr="registry.modelyard.svc:7411",
    worker_addr="10.1.2.3:7412",
)
JOB = "0123456789abcdef0123456789abcdef"
K8S_VERSION = "1.31"


def _render(config: KubernetesConfig = CONFIG, token: str | None = None) -> dict[str, dict[str, Any]]:
    objects = render_job(JOB, "fraud/scorer:3", ("sklearn.tree._tree.Tree",), 4, config, "the-worker-secret", token)
    rendered = {kind: to_dict(getattr(objects, kind)) for kind in ("job", "secret", "service_account")}
    for obj in rendered.values():
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    return rendered


def _pod(rendered: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return dict(rendered["job"]["spec"]["template"]["spec"])


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_job_is_a_work_queue_of_as_many_pods_as_workers_that_fail_once() -> None:
    job = _render()["job"]
    assert (job["apiVersion"], job["kind"], job["metadata"]["name"], job["metadata"]["namespace"]) == (
        "batch/v1",
        "Job",
        f"modelyard-job-{JOB}",
        "modelyard-inference",
    )
    spec = job["spec"]
    assert spec["parallelism"] == 4
    assert "completions" not in spec  # done when the pods exit 0: the leader ended their streams
    assert (spec["backoffLimit"], spec["template"]["spec"]["restartPolicy"]) == (0, "Never")
    assert spec["podFailurePolicy"] == {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    }
    assert spec["ttlSecondsAfterFinished"] == 3600
    labels = {
        "app.kubernetes.io/name": f"modelyard-job-{JOB}",
        "app.kubernetes.io/managed-by": "modelyard-deploy",
        "app.kubernetes.io/component": "batch-worker",
        "modelyard.io/job": JOB,
    }
    assert job["metadata"]["labels"] == spec["template"]["metadata"]["labels"] == labels
    assert spec["template"]["metadata"]["annotations"] == {"modelyard.io/version": "fraud/scorer:3"}
    assert len(job_name(JOB)) <= 63


def test_each_pod_fetches_the_version_then_dials_the_leader_with_the_worker_secret() -> None:
    pod = _pod(_render())
    (pull,), (worker,) = pod["initContainers"], pod["containers"]
    assert pull["command"] == ["python", "-m", "modelyard_serving", "--fetch-only"]
    assert worker["command"] == ["python", "-m", "modelyard_serving.batch", "--connect"]
    assert pull["image"] == worker["image"] == CONFIG.image
    env = _env(worker)
    assert (env["MLREG_SERVING_REFERENCE"], env["MLREG_SERVING_MODEL_NAME"], env["MLREG_SERVING_CACHE_DIR"]) == (
        "fraud/scorer:3",
        JOB,
        "/models",
    )
    assert env["MLREG_SERVING_TRUSTED_TYPES"] == '["sklearn.tree._tree.Tree"]'
    assert (env["MLREG_SERVING_BATCH_ADDR"], env["MLREG_SERVING_BATCH_JOB"]) == ("10.1.2.3:7412", JOB)
    assert env["MLREG_SERVING_BATCH_SECRET"] == {
        "secretKeyRef": {"name": f"modelyard-job-{JOB}", "key": "worker-secret"}
    }
    assert env["MLREG_SERVING_BATCH_WORKER"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "MLREG_SERVING_BATCH_SERVER_NAME" not in env
    # The fetch reads the version as the worker does, and needs nothing of the leader's.
    assert _env(pull) == {k: v for k, v in env.items() if not k.startswith("MLREG_SERVING_BATCH_")}
    mounts = [{"name": "models", "mountPath": "/models"}, {"name": "tmp", "mountPath": "/tmp"}]
    assert pull["volumeMounts"] == worker["volumeMounts"] == mounts
    assert pod["volumes"] == [{"name": "models", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    assert worker["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert worker["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert "ports" not in worker  # it dials out; nothing dials it


def test_the_pods_hold_no_api_token_and_meet_the_restricted_standard() -> None:
    rendered = _render()
    pod = _pod(rendered)
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == (f"modelyard-job-{JOB}", False)
    account = rendered["service_account"]
    assert (account["metadata"]["name"], account["automountServiceAccountToken"]) == (f"modelyard-job-{JOB}", False)
    assert_restricted(pod)
    for container in [*pod["initContainers"], *pod["containers"]]:
        names = [e["name"] for e in container["env"]]
        assert not [n for n in names if "DSN" in n or n.startswith(("MLREG_DEPLOY", "MLREG_METADATA"))]


@pytest.mark.parametrize("token", [None, "myd_serving"])
def test_the_secret_holds_the_worker_secret_and_the_serving_credential_when_there_is_one(token: str | None) -> None:
    rendered = _render(dataclasses.replace(CONFIG, serving_credentials=token is not None), token)
    secret = rendered["secret"]
    assert (secret["metadata"]["name"], secret["type"]) == (f"modelyard-job-{JOB}", "Opaque")
    assert secret["metadata"]["labels"]["modelyard.io/job"] == JOB
    expected = {"worker-secret": "the-worker-secret", **({"token": token} if token else {})}
    assert secret["stringData"] == expected
    pod = _pod(rendered)
    for container in [*pod["initContainers"], *pod["containers"]]:
        reference = _env(container).get("MLREG_SERVING_TOKEN")
        assert reference == ({"secretKeyRef": {"name": f"modelyard-job-{JOB}", "key": "token"}} if token else None)


def test_with_a_tls_secret_the_pods_call_with_it_and_check_the_leaders_name() -> None:
    config = dataclasses.replace(
        CONFIG, tls_secret="modelyard-inference-tls", mutual_tls=True, worker_server_name="deploy.modelyard.svc"
    )
    pod = _pod(_render(config))
    assert pod["volumes"][-1] == {
        "name": "tls",
        "secret": {"secretName": "modelyard-inference-tls", "defaultMode": 0o440},
    }
    (pull,), (worker,) = pod["initContainers"], pod["containers"]
    for container in (pull, worker):
        assert container["volumeMounts"][-1] == {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}
        env = _env(container)
        assert (
            env["MLREG_SERVING_TLS_CERT_FILE"],
            env["MLREG_SERVING_TLS_KEY_FILE"],
            env["MLREG_SERVING_TLS_CA_FILE"],
        ) == (
            f"{TLS_DIR}/tls.crt",
            f"{TLS_DIR}/tls.key",
            f"{TLS_DIR}/ca.crt",
        )
        # It serves nothing: no client CA to check callers with, no health port.
        assert "MLREG_SERVING_TLS_CLIENT_CA_FILE" not in env and "MLREG_SERVING_HEALTH_PORT" not in env
    assert _env(worker)["MLREG_SERVING_BATCH_SERVER_NAME"] == "deploy.modelyard.svc"


def test_the_status_of_a_job_says_how_many_pods_run_and_why_it_failed() -> None:
    spec = render_job(JOB, "fraud/scorer:3", (), 2, CONFIG, "s").job.spec
    running = k8s.V1Job(metadata=k8s.V1ObjectMeta(name=job_name(JOB)), spec=spec, status=k8s.V1JobStatus(active=2))
    assert job_pods_status(running) == JobPodsStatus(active=2)
    failed = k8s.V1Job(
        metadata=k8s.V1ObjectMeta(name=job_name(JOB)),
        spec=spec,
        status=k8s.V1JobStatus(
            active=1,
            failed=1,
            conditions=[
                k8s.V1JobCondition(type="FailureTarget", status="True", reason="BackoffLimitExceeded"),
                k8s.V1JobCondition(
                    type="Failed",
                    status="True",
                    reason="BackoffLimitExceeded",
                    message="Job has reached the specified backoff limit",
                ),
            ],
        ),
    )
    assert job_pods_status(failed) == JobPodsStatus(
        1, 1, "BackoffLimitExceeded: Job has reached the specified backoff limit"
    )
