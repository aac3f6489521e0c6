"""The kubernetes runtime's objects, rendered and validated offline against Kubernetes' schemas."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
from kubernetes import client as k8s
from restricted_pods import assert_restricted

from modelyard_deploy.domain.ports import ClusterStatus
from modelyard_deploy.runtimes.kubernetes import (
    HEALTH_PORT,
    OIP_PORT,
    TLS_DIR,
    KubernetesConfig,
    cluster_status,
    credential_secret,
    labels,
    render,
    to_dict,
)

CONFIG = KubernetesConfig(
    namespace="models",
    image="registry.internal/modelyard/serving:0.1.0",
    metadata_addr="metadata.modelyard:7410",
    registry_addr="registry.modelyard:7411",
)
K8S_VERSION = "1.31"


@pytest.fixture(scope="module")
def objects() -> tuple[dict[str, Any], dict[str, Any]]:
    workload = render("scorer-prod", "fraud/scorer:3", 2, 4, CONFIG)
    return to_dict(workload.deployment), to_dict(workload.service)


def test_both_objects_are_valid_kubernetes(objects: tuple[dict[str, Any], dict[str, Any]]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_an_invalid_object_is_caught_by_the_same_validation(objects: tuple[dict[str, Any], dict[str, Any]]) -> None:
    deployment = {**objects[0], "spec": {**objects[0]["spec"], "replicas": "four"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_the_deployment_runs_the_wanted_replicas_and_rolls_without_unavailability(
    objects: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    deployment, _ = objects
    assert (deployment["kind"], deployment["metadata"]["name"], deployment["metadata"]["namespace"]) == (
        "Deployment",
        "scorer-prod",
        "models",
    )
    spec = deployment["spec"]
    assert spec["replicas"] == 4
    assert spec["selector"]["matchLabels"] == labels("scorer-prod")
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "100%", "maxUnavailable": 0}
    assert spec["template"]["metadata"]["labels"]["modelyard.io/revision"] == "2"


def test_the_init_container_fetches_the_artifact_into_the_servers_cache_with_the_servers_settings(
    objects: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """Not ``modelyard pull`` into plain files, which the server's cache (blobs/, models/) would
    not find: the server would download every artifact a second time."""
    pod = objects[0]["spec"]["template"]["spec"]
    (pull,) = pod["initContainers"]
    (server,) = pod["containers"]
    assert pull["command"] == ["python", "-m", "modelyard_serving", "--fetch-only"]
    assert server["command"] == ["python", "-m", "modelyard_serving"]
    assert pull["env"] == server["env"]
    env = {e["name"]: e.get("value") for e in pull["env"]}
    assert (env["MLREG_SERVING_REFERENCE"], env["MLREG_SERVING_CACHE_DIR"]) == ("fraud/scorer:3", "/models")
    mounts = [{"name": "models", "mountPath": "/models"}, {"name": "tmp", "mountPath": "/tmp"}]
    assert pull["volumeMounts"] == server["volumeMounts"] == mounts
    assert pod["volumes"] == [{"name": "models", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]


def test_the_pod_meets_the_restricted_pod_security_standard(objects: tuple[dict[str, Any], dict[str, Any]]) -> None:
    assert_restricted(objects[0]["spec"]["template"]["spec"])


def test_the_server_gets_the_revisions_trusted_types_as_a_json_list() -> None:
    def trusted(workload_types: tuple[str, ...]) -> Any:
        deployment = to_dict(render("scorer-prod", "fraud/scorer:3", 2, 4, CONFIG, workload_types).deployment)
        (server,) = deployment["spec"]["template"]["spec"]["containers"]
        return json.loads({e["name"]: e.get("value") for e in server["env"]}["MLREG_SERVING_TRUSTED_TYPES"])

    assert trusted(()) == []
    assert trusted(("sklearn.tree._tree.Tree",)) == ["sklearn.tree._tree.Tree"]


def test_the_server_is_probed_over_grpc_health_on_its_oip_port(objects: tuple[dict[str, Any], dict[str, Any]]) -> None:
    (server,) = objects[0]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in server["env"]}
    assert env["MLREG_SERVING_REFERENCE"] == "fraud/scorer:3"
    assert env["MLREG_SERVING_MODEL_NAME"] == "scorer-prod"
    assert env["MLREG_SERVING_PORT"] == str(OIP_PORT)
    assert env["MLREG_SERVING_CACHE_DIR"] == "/models"
    for probe in (server["startupProbe"], server["readinessProbe"], server["livenessProbe"]):
        assert probe["grpc"] == {"port": OIP_PORT, "service": ""}
    # A model may load for minutes (NOT_SERVING meanwhile) before liveness may restart it.
    assert server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"] == 600
    assert server["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert server["image"] == CONFIG.image


def test_the_service_selects_the_pods_and_exposes_grpc(objects: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, service = objects
    assert service["spec"]["selector"] == labels("scorer-prod")
    assert service["spec"]["ports"] == [{"name": "grpc", "port": OIP_PORT, "targetPort": "grpc", "appProtocol": "grpc"}]


def test_the_status_of_a_deployment_reads_its_rollout_and_a_stall() -> None:
    # kubernetes 37's models require a spec, as the API always returns one.
    spec = render("scorer-prod", "fraud/scorer:3", 2, 4, CONFIG).deployment.spec
    found = k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name="scorer-prod", generation=4),
        spec=spec,
        status=k8s.V1DeploymentStatus(
            observed_generation=4,
            replicas=5,
            updated_replicas=2,
            available_replicas=3,
            conditions=[
                k8s.V1DeploymentCondition(type="Available", status="True"),
                k8s.V1DeploymentCondition(
                    type="Progressing",
                    status="False",
                    reason="ProgressDeadlineExceeded",
                    message='ReplicaSet "scorer-prod-7d9" has timed out progressing.',
                ),
            ],
        ),
    )
    assert cluster_status(found) == ClusterStatus(
        True, 5, 2, 3, 'ReplicaSet "scorer-prod-7d9" has timed out progressing.'
    )
    fresh = k8s.V1Deployment(metadata=k8s.V1ObjectMeta(name="scorer-prod", generation=1), spec=spec)
    assert cluster_status(fresh) == ClusterStatus(False, 0, 0, 0)


@pytest.mark.parametrize("mutual", [False, True])
def test_with_a_tls_secret_the_pods_mount_it_serve_tls_and_are_probed_on_the_plaintext_health_port(
    mutual: bool,
) -> None:
    config = dataclasses.replace(CONFIG, tls_secret="modelyard-inference-tls", mutual_tls=mutual)
    deployment = to_dict(render("scorer-prod", "fraud/scorer:3", 2, 4, config).deployment)
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["volumes"][-1] == {
        "name": "tls",
        "secret": {"secretName": "modelyard-inference-tls", "defaultMode": 0o440},
    }
    (pull,), (server,) = pod["initContainers"], pod["containers"]
    for container in (pull, server):
        assert container["volumeMounts"][-1] == {"name": "tls", "mountPath": TLS_DIR, "readOnly": True}
    assert pull["env"] == server["env"]  # the fetch calls metadata and registry as the server does
    env = {e["name"]: e["value"] for e in server["env"]}
    assert (
        env["MLREG_SERVING_TLS_CERT_FILE"],
        env["MLREG_SERVING_TLS_KEY_FILE"],
        env["MLREG_SERVING_TLS_CA_FILE"],
    ) == (
        f"{TLS_DIR}/tls.crt",
        f"{TLS_DIR}/tls.key",
        f"{TLS_DIR}/ca.crt",
    )
    assert env.get("MLREG_SERVING_TLS_CLIENT_CA_FILE") == (f"{TLS_DIR}/ca.crt" if mutual else None)
    assert env["MLREG_SERVING_HEALTH_PORT"] == str(HEALTH_PORT)
    for probe in (server["startupProbe"], server["readinessProbe"], server["livenessProbe"]):
        assert probe["grpc"] == {"port": HEALTH_PORT, "service": ""}


def test_without_a_tls_secret_nothing_of_tls_is_rendered(objects: tuple[dict[str, Any], dict[str, Any]]) -> None:
    pod = objects[0]["spec"]["template"]["spec"]
    names = [e["name"] for c in [*pod["initContainers"], *pod["containers"]] for e in c["env"]]
    assert not [n for n in names if "TLS" in n or "HEALTH" in n]
    assert "tls" not in [v["name"] for v in pod["volumes"]]


def test_with_serving_credentials_each_deployment_reads_its_own_secret_and_mounts_no_api_token(
    objects: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    config = dataclasses.replace(CONFIG, serving_credentials=True)
    workload = render("scorer-prod", "fraud/scorer:3", 2, 4, config)
    deployment = to_dict(workload.deployment)
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    pod = deployment["spec"]["template"]["spec"]
    (pull,), (server,) = pod["initContainers"], pod["containers"]
    reference = {"secretKeyRef": {"name": "scorer-prod-serving", "key": "token"}}
    assert [e for e in pull["env"] if "valueFrom" in e] == [{"name": "MLREG_SERVING_TOKEN", "valueFrom": reference}]
    assert [e for e in server["env"] if "valueFrom" in e] == [{"name": "MLREG_SERVING_TOKEN", "valueFrom": reference}]
    assert (pod["serviceAccountName"], pod["automountServiceAccountToken"]) == ("scorer-prod-serving", False)
    account = to_dict(workload.service_account)
    kubernetes_validate.validate(account, K8S_VERSION, strict=True)
    assert (account["metadata"]["name"], account["automountServiceAccountToken"]) == ("scorer-prod-serving", False)
    expires = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    secret = to_dict(credential_secret("scorer-prod", "fraud/scorer:3", "myd_secret", expires, config))
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    assert secret["metadata"]["name"] == "scorer-prod-serving"
    assert secret["metadata"]["annotations"] == {
        "modelyard.io/credential-expires-at": "2026-12-05T12:00:00+00:00",
        "modelyard.io/version": "fraud/scorer:3",
    }
    assert secret["stringData"] == {"token": "myd_secret"}
    # Without them (authentication off), no token variable at all; no pod reads any database
    # address or setting of the platform's either way.
    untouched = objects[0]["spec"]["template"]["spec"]
    names = [e["name"] for c in [*untouched["initContainers"], *untouched["containers"]] for e in c["env"]]
    assert not [n for n in names if "TOKEN" in n]
    every = [e["name"] for c in [*pod["initContainers"], *pod["containers"]] for e in c["env"]]
    assert not [n for n in every if "DSN" in n or n.startswith(("MLREG_DEPLOY", "MLREG_METADATA", "MLREG_REGISTRY"))]
