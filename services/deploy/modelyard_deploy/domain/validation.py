"""What a DeployService request may carry: each check raises InvalidArgumentError naming the
field, or returns the value as the use cases keep it. The deployment-name and trusted-types
rules are shared with the metadata service (``modelyard_common.names``); the bounds are in
``domain.limits``."""

from __future__ import annotations

import re

from modelyard_common.errors import InvalidArgumentError
from modelyard_common.names import check_trusted_types
from modelyard_deploy.domain.limits import MAX_PROJECT, MAX_REFERENCE, MAX_REPLICAS

__all__ = ["check_project", "check_replicas", "check_text", "check_trusted_types", "reference_project"]

_PROJECT = re.compile(r"[a-z0-9][a-z0-9._-]*")


def check_project(project: str) -> str:
    """A project name, or empty (every project)."""
    if len(project) > MAX_PROJECT or not _PROJECT.fullmatch(project or "p"):
        raise InvalidArgumentError("project", f"{project[:MAX_PROJECT]!r} is not a project name")
    return project


def check_text(field: str, value: str, limit: int) -> str:
    if len(value) > limit:
        raise InvalidArgumentError(field, f"is {len(value)} characters long; at most {limit} allowed")
    if "\x00" in value:
        raise InvalidArgumentError(field, "contains a NUL character, which cannot be stored")
    return value


def reference_project(reference: str) -> str:
    """The project a textual reference names ("fraud/scorer@champion": "fraud")."""
    if not reference:
        raise InvalidArgumentError("model_reference", "is required")
    check_text("model_reference", reference, MAX_REFERENCE)
    project, slash, _ = reference.partition("/")
    if not slash or len(project) > MAX_PROJECT or not _PROJECT.fullmatch(project):
        raise InvalidArgumentError(
            "model_reference", f"{reference!r} is not 'project/model:VERSION', 'project/model@ALIAS' or 'project/model'"
        )
    return project


def check_replicas(replicas: int) -> int:
    if not 0 <= replicas <= MAX_REPLICAS:
        raise InvalidArgumentError("replicas", f"{replicas} is not between 0 and {MAX_REPLICAS}")
    return replicas
