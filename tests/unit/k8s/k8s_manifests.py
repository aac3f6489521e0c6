"""Renders deploy/k8s overlays with a real kustomize and answers questions about the objects.

``allowed`` evaluates NetworkPolicies the way the API defines them (a pod selected by a policy
of a direction accepts only what one of that direction's rules lets through; rules add up), for
TCP, treating ipBlocks as matching addresses outside the cluster only.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
PLATFORM_NAMESPACE = "modelyard"

Obj = dict[str, Any]


def kustomize_command() -> list[str] | None:
    """``kustomize build``, else ``kubectl kustomize``, else None."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render(command: list[str], overlay: str) -> list[Obj]:
    done = subprocess.run(
        [*command, str(K8S_DIR / "overlays" / overlay)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} {overlay} failed:\n{done.stderr}"
    return [obj for obj in yaml.safe_load_all(done.stdout) if obj]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) matches ``labels``."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


@dataclass(frozen=True)
class Pod:
    """A pod as NetworkPolicies see it: namespace, labels and named container ports."""

    namespace: str
    labels: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Address:
    """An address outside the cluster's pods (a store, the API servers, the internet)."""

    ip: str


def pod_of(deployment: Obj) -> Pod:
    template = deployment["spec"]["template"]
    ports = {
        port["name"]: port["containerPort"]
        for container in template["spec"]["containers"]
        for port in container.get("ports", [])
        if "name" in port
    }
    return Pod(deployment["metadata"].get("namespace", ""), template["metadata"]["labels"], ports)


class Manifests:
    """The objects one overlay renders to."""

    def __init__(self, overlay: str, objects: list[Obj]) -> None:
        self.overlay, self.objects = overlay, objects

    def of_kind(self, kind: str) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj:
        (found,) = [obj for obj in self.of_kind(kind) if obj["metadata"]["name"] == name]
        return found

    def containers(self) -> Iterator[tuple[Obj, Obj]]:
        """Each Deployment with each of its containers."""
        for deployment in self.of_kind("Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                yield deployment, container

    def config(self, deployment: Obj) -> dict[str, str]:
        """The variables the Deployment's ConfigMaps give its containers."""
        names = {
            source["configMapRef"]["name"]
            for container in deployment["spec"]["template"]["spec"]["containers"]
            for source in container.get("envFrom", [])
        }
        data: dict[str, str] = {}
        for name in sorted(names):
            data.update(self.get("ConfigMap", name)["data"])
        return data

    def namespace_labels(self, name: str) -> dict[str, str]:
        """A namespace's labels: the rendered Namespace's, else only the one Kubernetes sets."""
        found = [obj for obj in self.of_kind("Namespace") if obj["metadata"]["name"] == name]
        labels = found[0]["metadata"].get("labels", {}) if found else {}
        return {**labels, "kubernetes.io/metadata.name": name}

    def allowed(self, source: Pod, destination: Pod | Address, port: int) -> bool:
        """Whether the NetworkPolicies let ``source`` open a TCP connection to ``destination:port``."""
        if not self._direction_allows("Egress", source, destination, destination, port):
            return False
        return isinstance(destination, Address) or self._direction_allows(
            "Ingress", destination, source, destination, port
        )

    def _direction_allows(
        self, direction: str, subject: Pod, peer: Pod | Address, target: Pod | Address, port: int
    ) -> bool:
        policies = [
            policy["spec"]
            for policy in self.of_kind("NetworkPolicy")
            if policy["metadata"]["namespace"] == subject.namespace
            and direction in policy["spec"]["policyTypes"]
            and selects(policy["spec"]["podSelector"], subject.labels)
        ]
        if not policies:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        return any(
            self._peer_matches(rule.get(peers_key), subject.namespace, peer)
            and _port_matches(rule.get("ports"), target, port)
            for spec in policies
            for rule in spec.get(key, [])
        )

    def _peer_matches(self, peers: list[Obj] | None, namespace: str, peer: Pod | Address) -> bool:
        if peers is None:
            return True
        for entry in peers:
            if "ipBlock" in entry:
                block = entry["ipBlock"]
                if isinstance(peer, Address) and _in_block(peer.ip, block):
                    return True
                continue
            if not isinstance(peer, Pod):
                continue
            if "namespaceSelector" in entry:
                namespace_ok = selects(entry["namespaceSelector"], self.namespace_labels(peer.namespace))
            else:
                namespace_ok = peer.namespace == namespace
            if namespace_ok and selects(entry.get("podSelector", {}), peer.labels):
                return True
        return False


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    return address in ipaddress.ip_network(block["cidr"]) and not any(
        address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
    )


def _port_matches(ports: list[Obj] | None, target: Pod | Address, port: int) -> bool:
    if ports is None:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        wanted = entry.get("port")
        if wanted is None or wanted == port:
            return True
        if isinstance(wanted, str) and isinstance(target, Pod) and target.ports.get(wanted) == port:
            return True
    return False
