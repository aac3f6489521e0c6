"""The objects each overlay renders: valid, wired to each other, and configured with real settings."""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx
import kubernetes_validate
import pytest
import yaml
from k8s_manifests import K8S_DIR, PLATFORM_NAMESPACE, Manifests, selects
from redis.asyncio import Redis

from modelyard_common.settings import ServiceSettings
from modelyard_console.app import Console, build_app
from modelyard_console.sessions import SessionStore
from modelyard_console.settings import ConsoleSettings
from modelyard_deploy.settings import DeploySettings
from modelyard_metadata.settings import MetadataSettings
from modelyard_registry.settings import RegistrySettings

K8S_VERSION = "1.33"
REPO = K8S_DIR.parents[1]
SETTINGS: dict[str, type[ServiceSettings]] = {
    "metadata": MetadataSettings,
    "registry": RegistrySettings,
    "deploy": DeploySettings,
    "console": ConsoleSettings,
}
# The port each service's pods serve on, by name: the console speaks HTTP, the others gRPC.
SERVING_PORT = {"metadata": "grpc", "registry": "grpc", "deploy": "grpc", "console": "http"}
CUSTOM_RESOURCES = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def _component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"]["app.kubernetes.io/component"])


def _secret_refs(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        env["name"]: (env["valueFrom"]["secretKeyRef"]["name"], env["valueFrom"]["secretKeyRef"]["key"])
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }


def test_every_builtin_object_is_valid_kubernetes(manifests: Manifests) -> None:
    builtin = [obj for obj in manifests.objects if obj["kind"] not in CUSTOM_RESOURCES]
    assert {obj["kind"] for obj in builtin} >= {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "Role"}
    for obj in builtin:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_same_validation_rejects_a_broken_probe(manifests: Manifests) -> None:
    deployment = manifests.get("Deployment", "metadata")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "grpc"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_service_monitor_scrapes_the_metrics_port_of_every_service(manifests: Manifests) -> None:
    (monitor,) = manifests.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == PLATFORM_NAMESPACE
    assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["metrics"]
    scraped = [
        service["metadata"]["name"]
        for service in manifests.of_kind("Service")
        if selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    ]
    assert sorted(scraped) == ["console", "deploy", "metadata", "registry"]
    for name in scraped:
        ports = manifests.get("Service", name)["spec"]["ports"]
        assert "metrics" in {port["name"] for port in ports}


def test_every_container_has_requests_limits_and_health_probes_on_its_serving_port(manifests: Manifests) -> None:
    containers = list(manifests.containers())
    assert sorted(_component(deployment) for deployment, _ in containers) == sorted(SETTINGS)
    for deployment, container in containers:
        name = deployment["metadata"]["name"]
        resources = container["resources"]
        for kind in ("requests", "limits"):
            assert set(resources[kind]) == {"cpu", "memory"}, (name, kind)
        declared = {port["name"]: port["containerPort"] for port in container["ports"]}
        serving = SERVING_PORT[_component(deployment)]
        assert set(declared) == {serving, "metrics"}, name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if serving == "grpc":
                # service "" (the default) is the whole server's status, set by modelyard_common.server
                assert container[probe]["grpc"] == {"port": declared["grpc"]}, (name, probe)
            else:
                assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, (name, probe)


async def test_the_consoles_probe_path_answers_without_a_session(manifests: Manifests) -> None:
    """The kubelet has no cookie: the probed path must answer, not send it to sign-in."""
    (path,) = {
        probe["httpGet"]["path"]
        for _, container in manifests.containers()
        for probe in (container["startupProbe"], container["readinessProbe"], container["livenessProbe"])
        if "httpGet" in probe
    }
    # Redis is never reached: an open path reads no session.
    settings = ConsoleSettings(metadata_addr="127.0.0.1:1", redis_url="redis://127.0.0.1:1")
    console = Console(SessionStore(Redis.from_url(settings.redis_url), 60), settings, None)
    transport = httpx.ASGITransport(app=build_app(console))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as kubelet:
        answer = await kubelet.get(path)
    assert (answer.status_code, answer.text) == (200, "ok")


POD_IP = "10.42.0.7"


def _pod_values(container: dict[str, Any]) -> dict[str, str]:
    """The variables a container takes from its pod: the pod's IP (the downward API; an example
    here), and values built on it with ``$(POD_IP)``, expanded as the kubelet does."""
    values: dict[str, str] = {}
    for env in container.get("env", []):
        if env.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "status.podIP":
            values[env["name"]] = POD_IP
        elif "value" in env:
            values[env["name"]] = re.sub(r"\$\((\w+)\)", lambda found: values[found[1]], env["value"])
    return values


def _settings(manifests: Manifests, deployment: dict[str, Any], container: dict[str, Any]) -> ServiceSettings:
    """The settings the container starts with (secrets.example.yaml's value where a Secret gives
    it, an example pod IP where the pod does), failing on a variable that is no setting of its
    service or a value it would refuse."""
    cls = SETTINGS[_component(deployment)]
    prefix = cls.model_config["env_prefix"]
    examples = {
        (secret["metadata"]["name"], key): value
        for secret in yaml.safe_load_all((K8S_DIR / "secrets.example.yaml").read_text())
        for key, value in secret["stringData"].items()
    }
    from_secrets = {name: examples[ref] for name, ref in _secret_refs(container).items()}
    from_pod = {name: value for name, value in _pod_values(container).items() if name.startswith(prefix)}
    variables = {**manifests.config(deployment), **from_secrets, **from_pod}
    for name in variables:
        assert name.startswith(prefix), f"{name} lacks the prefix {prefix}"
        assert name.removeprefix(prefix).lower() in cls.model_fields, f"{name} is no setting of {cls.__name__}"
    with patch.dict(os.environ, variables):  # read as the service reads them: JSON values too
        return cls()


def test_every_variable_set_is_a_setting_of_its_service_with_a_valid_value(manifests: Manifests) -> None:
    for deployment, container in manifests.containers():
        # Beside the ConfigMap: only Secrets' keys, and what the pod itself knows (its IP).
        from_pod = _pod_values(container)
        assert sorted(env["name"] for env in container["env"]) == sorted([*_secret_refs(container), *from_pod])
        assert all("$(POD_IP)" in env.get("value", "$(POD_IP)") for env in container["env"])
        assert isinstance(_settings(manifests, deployment, container), SETTINGS[_component(deployment)])


def test_the_services_listen_where_their_containers_and_probes_expect(manifests: Manifests) -> None:
    for deployment, container in manifests.containers():
        settings = _settings(manifests, deployment, container)
        declared = {port["name"]: port["containerPort"] for port in container["ports"]}
        # 127.0.0.1 would be out of reach of the kubelet's probes and of the other pods
        assert (settings.host, settings.port, settings.metrics_port) == (
            "0.0.0.0",
            declared[SERVING_PORT[_component(deployment)]],
            declared["metrics"],
        )
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > settings.shutdown_grace_seconds


def test_the_secrets_referenced_are_the_documented_ones_and_no_kustomization_ships_them(
    manifests: Manifests,
) -> None:
    examples = list(yaml.safe_load_all((K8S_DIR / "secrets.example.yaml").read_text()))
    for secret in examples:
        kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    documented = {
        (secret["metadata"]["name"], key)
        for secret in examples
        for key in secret["stringData"]
        if secret["metadata"]["namespace"] == "modelyard"
    }
    referenced = {ref for _, container in manifests.containers() for ref in _secret_refs(container).values()}
    assert referenced == documented
    # Inference pods get no Secret of the platform's: the deploy service makes each its own.
    assert {s["metadata"]["namespace"] for s in examples} == {"modelyard"}
    assert manifests.of_kind("Secret") == []
    for kustomization in K8S_DIR.rglob("kustomization.yaml"):
        assert "secrets.example" not in kustomization.read_text(), kustomization


def test_each_service_holds_its_credentials_in_secrets_not_config(manifests: Manifests) -> None:
    refs = {_component(deployment): set(_secret_refs(container)) for deployment, container in manifests.containers()}
    assert refs == {
        "metadata": {
            "MLREG_METADATA_DB_DSN",
            "MLREG_METADATA_REDIS_URL",
            "MLREG_METADATA_ADMIN_TOKEN",
            "MLREG_METADATA_SERVICE_TOKENS",
            "MLREG_METADATA_WEBHOOK_SECRET_KEY",
        },
        "registry": {
            "MLREG_REGISTRY_DB_DSN",
            "MLREG_REGISTRY_S3_ENDPOINT",
            "MLREG_REGISTRY_S3_ACCESS_KEY",
            "MLREG_REGISTRY_S3_SECRET_KEY",
            "MLREG_REGISTRY_AUTH_TOKEN",
        },
        "deploy": {"MLREG_DEPLOY_DB_DSN", "MLREG_DEPLOY_AUTH_TOKEN"},
        # It acts with each signed-in user's token: no token, no database of its own.
        "console": {"MLREG_CONSOLE_REDIS_URL"},
    }
    for configmap in manifests.of_kind("ConfigMap"):
        secret_values = "DSN|SECRET_KEY|ACCESS_KEY|REDIS_URL|_TOKEN$|_TOKENS$"
        assert not [key for key in configmap["data"] if re.search(secret_values, key)]


def test_services_pdbs_and_autoscalers_select_the_pods_of_one_deployment(manifests: Manifests) -> None:
    deployments = manifests.of_kind("Deployment")

    def selected(selector: dict[str, Any]) -> list[str]:
        return [
            d["metadata"]["name"] for d in deployments if selects(selector, d["spec"]["template"]["metadata"]["labels"])
        ]

    for deployment in deployments:
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(deployment["spec"]["selector"], labels)
        assert labels["app.kubernetes.io/part-of"] == "modelyard"
    for service in manifests.of_kind("Service"):
        (target,) = selected({"matchLabels": service["spec"]["selector"]})
        assert target == service["metadata"]["name"]
        container_ports = {
            port["name"]
            for container in manifests.get("Deployment", target)["spec"]["template"]["spec"]["containers"]
            for port in container["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in container_ports, (target, port)
        protocols = {p["name"]: p.get("appProtocol") for p in service["spec"]["ports"]}
        assert protocols == {SERVING_PORT[_component(service)]: SERVING_PORT[_component(service)], "metrics": "http"}
    for budget in manifests.of_kind("PodDisruptionBudget"):
        (target,) = selected(budget["spec"]["selector"])
        # a budget no pod can be evicted under would block every node drain
        assert manifests.get("Deployment", target)["spec"]["replicas"] > budget["spec"]["minAvailable"]
    for autoscaler in manifests.of_kind("HorizontalPodAutoscaler"):
        ref = autoscaler["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        target = manifests.get("Deployment", ref["name"])
        assert [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]] == ["cpu"]
        for container in target["spec"]["template"]["spec"]["containers"]:
            assert "cpu" in container["resources"]["requests"]  # utilization is relative to it
        assert autoscaler["spec"]["minReplicas"] <= target["spec"]["replicas"] <= autoscaler["spec"]["maxReplicas"]


def test_platform_network_policies_select_pods_that_exist(manifests: Manifests) -> None:
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in manifests.of_kind("Deployment")]
    for policy in manifests.of_kind("NetworkPolicy"):
        if policy["metadata"]["namespace"] != PLATFORM_NAMESPACE:
            continue
        assert any(selects(policy["spec"]["podSelector"], labels) for labels in pods), policy["metadata"]["name"]


def test_the_pods_run_unprivileged_on_a_read_only_root_with_a_writable_tmp(manifests: Manifests) -> None:
    for deployment, container in manifests.containers():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        security = container["securityContext"]
        assert (security["readOnlyRootFilesystem"], security["allowPrivilegeEscalation"]) == (True, False)
        assert security["capabilities"] == {"drop": ["ALL"]}
        (tmp,) = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
        (volume,) = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
        assert "emptyDir" in volume


def test_the_deploy_service_writes_its_process_replicas_under_its_writable_tmp(manifests: Manifests) -> None:
    (deployment, container), *_ = [(d, c) for d, c in manifests.containers() if d["metadata"]["name"] == "deploy"]
    settings = _settings(manifests, deployment, container)
    assert isinstance(settings, DeploySettings)
    for path in (settings.cache_dir, settings.run_dir):
        assert Path("/tmp") in path.parents


def test_the_deploy_service_runs_two_replicas_rolled_one_at_a_time_without_autoscaler(production: Manifests) -> None:
    # One leads (an advisory lock), every one answers: two keep the API up through a drain.
    deployment = production.get("Deployment", "deploy")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert production.get("PodDisruptionBudget", "deploy")["spec"]["minAvailable"] == 1
    targets = [a["spec"]["scaleTargetRef"]["name"] for a in production.of_kind("HorizontalPodAutoscaler")]
    assert "deploy" not in targets


def test_the_inference_image_is_the_platform_image_at_the_same_tag(manifests: Manifests) -> None:
    images = {container["image"] for _, container in manifests.containers()}
    assert len(images) == 1
    assert manifests.config(manifests.get("Deployment", "deploy"))["MLREG_DEPLOY_KUBERNETES_IMAGE"] in images


def test_production_runs_two_or_more_replicas_spread_and_pinned(production: Manifests) -> None:
    for name in SETTINGS:
        deployment = production.get("Deployment", name)
        assert deployment["spec"]["replicas"] >= 2
        if name != "deploy":
            assert production.get("HorizontalPodAutoscaler", name)["spec"]["minReplicas"] >= 2
        assert production.get("PodDisruptionBudget", name)["spec"]["minAvailable"] == 1
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for constraint in spread:
            assert selects(constraint["labelSelector"], labels)
            assert "app.kubernetes.io/name" in constraint["matchLabelKeys"]
    for _, container in production.containers():
        tag = container["image"].rpartition(":")[2]
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag), container["image"]


def test_dev_runs_one_replica_each_without_autoscalers_or_budgets(dev: Manifests) -> None:
    assert {d["metadata"]["name"]: d["spec"]["replicas"] for d in dev.of_kind("Deployment")} == {
        "metadata": 1,
        "registry": 1,
        "deploy": 1,
        "console": 1,
    }
    assert dev.of_kind("HorizontalPodAutoscaler") == dev.of_kind("PodDisruptionBudget") == []
    for _, container in dev.containers():
        assert container["resources"]["requests"] == {"cpu": "50m", "memory": "192Mi"}


def _console_scripts() -> set[str]:
    scripts: set[str] = set()
    for pyproject in [REPO / "clients/python/pyproject.toml", *REPO.glob("services/*/pyproject.toml")]:
        scripts |= set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    return scripts


def test_every_command_is_an_entry_point_of_a_package_the_image_installs(manifests: Manifests) -> None:
    from modelyard_deploy.runtimes.kubernetes import KubernetesConfig, render, to_dict

    inference = to_dict(render("scorer", "fraud/scorer:1", 1, 1, KubernetesConfig("ns", "image", "m", "r")).deployment)
    pod = inference["spec"]["template"]["spec"]
    commands = [c["command"] for _, c in manifests.containers()]
    commands += [c["command"] for c in [*pod["initContainers"], *pod["containers"]]]
    scripts = _console_scripts()
    for command in commands:
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, command
        else:
            assert command[0] in scripts, command
    dockerfile = (REPO / "deploy/docker/Dockerfile").read_text()
    for pyproject in [REPO / "clients/python/pyproject.toml", *REPO.glob("services/*/pyproject.toml")]:
        assert f"./{pyproject.parent.relative_to(REPO)}" in dockerfile, pyproject


def test_the_deploy_service_runs_jobs_on_kubernetes_whose_pods_dial_its_own_address(manifests: Manifests) -> None:
    """The replica that runs a job, not the Service: that could send a pod to another replica."""
    deployment = manifests.get("Deployment", "deploy")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    settings = _settings(manifests, deployment, container)
    assert isinstance(settings, DeploySettings)
    declared = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert settings.jobs_runtime == "kubernetes"
    assert settings.kubernetes_worker_addr == f"{POD_IP}:{declared['grpc']}"
    assert settings.kubernetes_worker_server_name == ""  # plaintext: nothing to check


def test_the_tls_component_has_job_pods_check_the_deploy_services_certificate_by_its_name(
    production_tls: Manifests,
) -> None:
    deployment = production_tls.get("Deployment", "deploy")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    settings = _settings(production_tls, deployment, container)
    assert isinstance(settings, DeploySettings)
    # docs/tls.md: modelyard-deploy-tls carries `deploy` and `deploy.modelyard.svc`.
    assert settings.kubernetes_worker_server_name == "deploy.modelyard.svc"
    assert settings.kubernetes_worker_addr == f"{POD_IP}:7412"


def test_the_tls_component_mounts_each_services_secret_and_probes_its_plaintext_health_port(
    production_tls: Manifests,
) -> None:
    containers = [(d, c) for d, c in production_tls.containers() if SERVING_PORT[_component(d)] == "grpc"]
    assert len(containers) == 3
    for deployment, container in containers:
        name = deployment["metadata"]["name"]
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
        settings = _settings(production_tls, deployment, container)
        declared = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert settings.health_port == declared["health"] not in (declared["grpc"], declared["metrics"]), name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": declared["health"]}, (name, probe)
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "tls"]
        (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls"]
        assert volume["secret"]["secretName"] == f"modelyard-{name}-tls"
        files = (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file, settings.tls_client_ca_file)
        assert [str(path) for path in files] == [
            f"{mount['mountPath']}/{key}" for key in ("tls.crt", "tls.key", "ca.crt", "ca.crt")
        ], name
    deploy = production_tls.get("Deployment", "deploy")
    assert production_tls.config(deploy)["MLREG_DEPLOY_KUBERNETES_TLS_SECRET"] == "modelyard-inference-tls"


def test_the_tls_component_has_the_console_serve_https_and_call_the_services_with_its_certificate(
    production_tls: Manifests,
) -> None:
    deployment = production_tls.get("Deployment", "console")
    kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    settings = _settings(production_tls, deployment, container)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "tls"]
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == "modelyard-console-tls"
    files = (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file)
    assert [str(path) for path in files] == [f"{mount['mountPath']}/{key}" for key in ("tls.crt", "tls.key", "ca.crt")]
    # Browsers come through the ingress, which presents no client certificate.
    assert settings.tls_client_ca_file is None
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http", "scheme": "HTTPS"}, probe
    ports = production_tls.get("Service", "console")["spec"]["ports"]
    assert {p["name"]: p["appProtocol"] for p in ports} == {"http": "https", "metrics": "http"}


def test_the_console_calls_the_metadata_service_by_its_cluster_name_and_marks_its_cookie_secure(
    manifests: Manifests,
) -> None:
    deployment = manifests.get("Deployment", "console")
    # Every key a setting of the console: a misspelt one would be ignored and its default used.
    for key in manifests.config(deployment):
        assert key.removeprefix("MLREG_CONSOLE_").lower() in ConsoleSettings.model_fields, key
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    settings = _settings(manifests, deployment, container)
    assert isinstance(settings, ConsoleSettings)
    host, _, port = settings.metadata_addr.rpartition(":")
    metadata = {p["name"]: p["port"] for p in manifests.get("Service", host)["spec"]["ports"]}
    assert metadata["grpc"] == int(port)
    # It serves plain HTTP behind the TLS ingress: the session cookie is Secure all the same.
    assert settings.secure_cookies is True


def test_the_image_exposes_every_port_the_platform_containers_declare(manifests: Manifests) -> None:
    dockerfile = (REPO / "deploy/docker/Dockerfile").read_text()
    (expose,) = [line.split()[1:] for line in dockerfile.splitlines() if line.startswith("EXPOSE ")]
    declared = {port["containerPort"] for _, container in manifests.containers() for port in container["ports"]}
    assert declared <= {int(port) for port in expose}
