"""Who may do what: principals, project roles, and the one rule that decides.

A platform admin may do everything. A service principal (the registry, the deploy service) reads
every project and may act on behalf of its own caller, whose name it sends as the actor. Anyone
else needs a role on the project, given to them or to one of their teams; the highest counts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from modelyard_common.errors import PermissionDeniedError

__all__ = [
    "AccessDenied",
    "Identity",
    "Principal",
    "PrincipalKind",
    "Role",
    "RoleBinding",
    "Token",
    "decide",
    "require_service",
]


class PrincipalKind(enum.StrEnum):
    USER = "USER"
    TEAM = "TEAM"
    SERVICE = "SERVICE"


class Role(enum.IntEnum):
    """Project roles, each including the ones below it."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated principal and its effective roles: project -> (role, how it has it)."""

    principal: str
    kind: PrincipalKind
    admin: bool = False
    teams: tuple[str, ...] = ()
    roles: Mapping[str, tuple[Role, str]] = field(default_factory=dict)

    @property
    def sees_everything(self) -> bool:
        return self.admin or self.kind is PrincipalKind.SERVICE

    def role_on(self, project: str) -> Role | None:
        held = self.roles.get(project)
        return held[0] if held else None


class AccessDenied(PermissionDeniedError):
    """PERMISSION_DENIED, with what the audit log records about the denial."""

    def __init__(self, message: str, project: str, action: str) -> None:
        super().__init__(message)
        self.project = project
        self.action = action


def require_service(identity: Identity, action: str, project: str = "") -> None:
    """AccessDenied unless ``identity`` is one of the platform's services (or a platform admin)."""
    if not identity.sees_everything:
        raise AccessDenied(
            f"{action}: only the platform's services may call it, not {identity.principal}", project, action
        )


def decide(identity: Identity, project: str, needed: Role, action: str) -> str:
    """How ``identity`` may do ``action`` on ``project`` (the audit log's access text), or
    AccessDenied naming the principal, the project, the role needed and the role held."""
    if identity.admin:
        return "platform admin"
    if identity.kind is PrincipalKind.SERVICE and needed is Role.VIEWER:
        return f"service {identity.principal}"
    held = identity.roles.get(project)
    if held is not None and held[0] >= needed:
        role, via = held
        return f"{role.name} on {project}" + (f" (team {via})" if via != identity.principal else "")
    has = f"has {held[0].name}" if held else "has no role there"
    raise AccessDenied(
        f"{action}: {identity.principal} may not; it needs {needed.name} on project {project!r} and {has}",
        project,
        action,
    )


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    kind: PrincipalKind
    admin: bool
    created_at: datetime
    teams: tuple[str, ...] = ()
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Token:
    """An API token as stored: never its secret, only the secret's SHA-256."""

    id: str
    principal: str
    description: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoleBinding:
    project: str
    principal: str
    role: Role
    granted_by: str
    granted_at: datetime
