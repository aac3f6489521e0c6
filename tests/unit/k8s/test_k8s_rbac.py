"""The deploy service's Role grants exactly what its kubernetes runtime calls (for deployments
and for batch scoring jobs), where it calls it."""

from __future__ import annotations

import ast
import inspect

from k8s_manifests import PLATFORM_NAMESPACE, Manifests

from modelyard_deploy.runtimes import kubernetes, kubernetes_jobs

# Each Kubernetes API call of runtimes/kubernetes.py and kubernetes_jobs.py, as RBAC sees it:
# (API group, resource, verb).
CALLS = {
    "create_namespaced_deployment": ("apps", "deployments", "create"),
    "replace_namespaced_deployment": ("apps", "deployments", "update"),
    "delete_namespaced_deployment": ("apps", "deployments", "delete"),
    "read_namespaced_deployment_status": ("apps", "deployments/status", "get"),
    "create_namespaced_service": ("", "services", "create"),
    "read_namespaced_service": ("", "services", "get"),
    "delete_namespaced_service": ("", "services", "delete"),
    "create_namespaced_secret": ("", "secrets", "create"),
    "read_namespaced_secret": ("", "secrets", "get"),
    "replace_namespaced_secret": ("", "secrets", "update"),
    "delete_namespaced_secret": ("", "secrets", "delete"),
    "create_namespaced_service_account": ("", "serviceaccounts", "create"),
    "read_namespaced_service_account": ("", "serviceaccounts", "get"),
    "delete_namespaced_service_account": ("", "serviceaccounts", "delete"),
    "create_namespaced_job": ("batch", "jobs", "create"),
    "read_namespaced_job": ("batch", "jobs", "get"),
    "delete_namespaced_job": ("batch", "jobs", "delete"),
}


def _api_methods_used() -> set[str]:
    """Methods of the API clients (self._apps, self._core, self._batch) the runtime names."""
    trees = [ast.parse(inspect.getsource(module)) for module in (kubernetes, kubernetes_jobs)]
    return {
        node.attr
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr in {"_apps", "_core", "_batch"}
    }


def test_the_table_lists_every_api_call_of_the_runtime() -> None:
    assert _api_methods_used() == set(CALLS)


def test_the_role_grants_those_calls_and_nothing_more(manifests: Manifests) -> None:
    (role,) = manifests.of_kind("Role")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == set(CALLS.values())
    assert not [grant for grant in granted if "*" in grant]
    assert manifests.of_kind("ClusterRole") == manifests.of_kind("ClusterRoleBinding") == []


def test_the_role_is_bound_to_the_deploy_service_in_the_namespace_its_runtime_uses(manifests: Manifests) -> None:
    deploy = manifests.get("Deployment", "deploy")
    namespace = manifests.config(deploy)["MLREG_DEPLOY_KUBERNETES_NAMESPACE"]
    assert namespace != PLATFORM_NAMESPACE  # the runtime replaces Deployments by name
    assert namespace in {obj["metadata"]["name"] for obj in manifests.of_kind("Namespace")}
    (role,), (binding,) = manifests.of_kind("Role"), manifests.of_kind("RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    pod = deploy["spec"]["template"]["spec"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": PLATFORM_NAMESPACE}
    ]
    assert manifests.get("ServiceAccount", pod["serviceAccountName"])["metadata"]["namespace"] == PLATFORM_NAMESPACE
    assert pod["automountServiceAccountToken"] is True  # in-cluster credentials


def test_only_the_deploy_service_gets_a_kubernetes_api_token(manifests: Manifests) -> None:
    tokens = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"].get("automountServiceAccountToken")
        for d in manifests.of_kind("Deployment")
    }
    assert tokens == {"metadata": False, "registry": False, "deploy": True, "console": False}
