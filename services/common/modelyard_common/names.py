"""Name rules more than one service checks, grpc-free so that domains import them.

A deployment name is checked by the deploy service when a deployment is made, and names the
deployment a serving credential is for (the metadata service issues those), so the rule lives
here, once. So do the types trusted in skops files: a deployment's and a job's (deploy service),
a scoring test's (metadata service).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelyard_common.errors import InvalidArgumentError

__all__ = ["MAX_DEPLOYMENT_NAME", "MAX_TRUSTED_TYPES", "MAX_TYPE_NAME", "check_deployment_name", "check_trusted_types"]

MAX_DEPLOYMENT_NAME = 40  # Kubernetes object names derived from it ("<name>-serving") stay under 63 characters
MAX_TRUSTED_TYPES = 64  # types trusted in skops files, per revision, job or scoring test
MAX_TYPE_NAME = 512  # one such type's dotted name
_DEPLOYMENT_NAME = re.compile(r"[a-z][a-z0-9-]*")
# A Python dotted name as skops.io.get_untrusted_types gives it ("sklearn.pipeline.Pipeline").
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


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


def check_trusted_types(types: Iterable[str], field: str = "trusted_types") -> tuple[str, ...]:
    """Types to trust in skops files: dotted names, sorted, each once."""
    found = sorted(set(types))
    if len(found) > MAX_TRUSTED_TYPES:
        raise InvalidArgumentError(field, f"has {len(found)} types; at most {MAX_TRUSTED_TYPES} allowed")
    for i, name in enumerate(found):
        if len(name) > MAX_TYPE_NAME or not _TYPE_NAME.fullmatch(name):
            raise InvalidArgumentError(
                f"{field}[{i}]",
                f"{name[:MAX_TYPE_NAME]!r} is not a dotted type name such as 'sklearn.pipeline.Pipeline'",
            )
    return tuple(found)
