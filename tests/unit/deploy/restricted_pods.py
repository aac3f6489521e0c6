"""What the `restricted` Pod Security standard asks of every pod the kubernetes runtime renders."""

from __future__ import annotations

from typing import Any


def assert_restricted(pod: dict[str, Any]) -> None:
    """A pod spec (as Kubernetes' JSON has it): a non-root user, the runtime default seccomp
    profile, and containers without privileges or capabilities on a read-only root."""
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["securityContext"] == {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
