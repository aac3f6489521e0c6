"""Who may call what on a version's artifact: changing it (upload, commit, abort) needs EDITOR on
its project, reading it VIEWER (docs/security.md). It is asked before the version is looked up, so
that "absent" and "not yours" answer alike."""

from __future__ import annotations

from modelyard_common.values import Consumption, ProjectRole
from modelyard_registry.domain.ports import Access
from modelyard_registry.domain.validation import reference_project

__all__ = ["require"]


async def require(
    access: Access,
    role: ProjectRole,
    method: str,
    reference: str,
    field: str = "reference",
    consumption: Consumption | None = None,
) -> str:
    """The caller, once it may call RegistryService ``method`` on ``reference`` (named ``field``
    in the request); a granted ``consumption`` is recorded by the metadata service."""
    project = reference_project(field, reference)
    return await access.require(project, role, f"RegistryService/{method}", reference, consumption)
