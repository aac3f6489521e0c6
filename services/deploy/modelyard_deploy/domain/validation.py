"""What a DeployService request may carry: each check raises InvalidArgumentError naming the
field, or returns the value as the use cases keep it. The deployment-name rule is shared with
the metadata service (``modelyard_common.names``); the bounds are in ``domain.limits``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from modelyard_common.errors import InvalidArgumentError
from modelyard_deploy.domain.limits import MAX_PROJECT, MAX_REFERENCE, MAX_REPLICAS, MAX_TRUSTED_TYPES, MAX_TYPE_NAME

__all__ = ["check_project", "check_replicas", "check_text", "check_trusted_types", "reference_project"]

_PROJECT = re.compile(r"[a-z0-9][a-z0-9._-]*")
# A Python dotted name as skops.io.get_untrusted_types gives it ("sklearn.pipeline.Pipeline").
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


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


def check_trusted_types(types: Iterable[str]) -> tuple[str, ...]:
    """Types to trust in skops files: dotted names, sorted, each once."""
    found = sorted(set(types))
    if len(found) > MAX_TRUSTED_TYPES:
        raise InvalidArgumentError("trusted_types", f"has {len(found)} types; at most {MAX_TRUSTED_TYPES} allowed")
    for i, name in enumerate(found):
        if len(name) > MAX_TYPE_NAME or not _TYPE_NAME.fullmatch(name):
            raise InvalidArgumentError(
                f"trusted_types[{i}]",
                f"{name[:MAX_TYPE_NAME]!r} is not a dotted type name such as 'sklearn.pipeline.Pipeline'",
            )
    return tuple(found)


def check_replicas(replicas: int) -> int:
    if not 0 <= replicas <= MAX_REPLICAS:
        raise InvalidArgumentError("replicas", f"{replicas} is not between 0 and {MAX_REPLICAS}")
    return replicas
