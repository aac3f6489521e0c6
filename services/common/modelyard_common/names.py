"""Name rules more than one service checks, grpc-free so that domains import them.

A deployment name is checked by the deploy service when a deployment is made, and names the
deployment a serving credential is for (the metadata service issues those), so the rule lives
here, once.
"""

from __future__ import annotations

import re

from modelyard_common.errors import InvalidArgumentError

__all__ = ["MAX_DEPLOYMENT_NAME", "check_deployment_name"]

MAX_DEPLOYMENT_NAME = 40  # Kubernetes object names derived from it ("<name>-serving") stay under 63 characters
_DEPLOYMENT_NAME = re.compile(r"[a-z][a-z0-9-]*")


def check_deployment_name(name: str, field: str = "name") -> str:
    """A deployment name names Kubernetes objects and is the model name inference clients send."""
    if not name:
        raise InvalidArgumentError(field, "is required")
    if len(name) > MAX_DEPLOYMENT_NAME:
        shown = name[:MAX_DEPLOYMENT_NAME] + "..."
        raise InvalidArgumentError(field, f"{shown!r} is longer than {MAX_DEPLOYMENT_NAME} characters")
    if not _DEPLOYMENT_NAME.fullmatch(name):
        raise InvalidArgumentError(field, f"{name!r} must be lowercase letters, digits and '-', starting with a letter")
    return name
