"""Who may do what: principals, project roles, and the one rule that decides.

A platform admin may do everything. A service principal reads every project; beyond that, each
of the platform's services is trusted with its own duties only (``DUTIES``): the registry commits
artifacts on behalf of the user who uploaded them, the deploy service issues serving credentials,
both ask whether a user's token may act. A serving credential (a token with a ``scope``) reads
the versions it names and nothing else. Anyone else needs a role on the project, given to them or
to one of their teams; the highest counts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from modelyard_common.errors import PermissionDeniedError

__all__ = [
    "DEPLOY_SERVICE",
    "DUTIES",
    "REGISTRY_SERVICE",
    "AccessDenied",
    "Duty",
    "Identity",
    "Principal",
    "PrincipalKind",
    "Role",
    "RoleBinding",
    "Token",
    "decide",
    "holds_duty",
    "require_duty",
    "require_scope",
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


class Duty(enum.Enum):
    """What one of the platform's services is trusted with beyond reading every project."""

    COMMIT_ARTIFACTS = "CommitArtifact, FailUpload and their dataset counterparts, on behalf of the uploader"
    AUTHORIZE = "Authorize: whether a user's token may act"
    ISSUE_SERVING_TOKENS = "CreateServingToken: read-only credentials for inference servers"
    REPORT_EVENTS = "RecordServiceEvents: deployment and job events from the deploy service's own tables"
    RUN_SCORING = "ClaimScoringRuns and RecordScoringResult: executing scoring tests"
    WRITE_JOB_OUTPUTS = "A batch scoring job's output dataset, version, upload and link, for the job's creator"


REGISTRY_SERVICE = "modelyard-registry"
DEPLOY_SERVICE = "modelyard-deploy"
# By principal name: the names `service_tokens` gives the registry and the deploy service.
DUTIES: Mapping[str, frozenset[Duty]] = {
    REGISTRY_SERVICE: frozenset({Duty.COMMIT_ARTIFACTS, Duty.AUTHORIZE}),
    DEPLOY_SERVICE: frozenset(
        {Duty.AUTHORIZE, Duty.ISSUE_SERVING_TOKENS, Duty.REPORT_EVENTS, Duty.RUN_SCORING, Duty.WRITE_JOB_OUTPUTS}
    ),
}


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated principal and its effective roles: project -> (role, how it has it).
    ``scope``: the token is a serving credential reading only these versions (canonical
    references); None: the principal's own powers."""

    principal: str
    kind: PrincipalKind
    admin: bool = False
    teams: tuple[str, ...] = ()
    roles: Mapping[str, tuple[Role, str]] = field(default_factory=dict)
    scope: frozenset[str] | None = None

    @property
    def sees_everything(self) -> bool:
        return self.scope is None and (self.admin or self.kind is PrincipalKind.SERVICE)

    @property
    def is_service(self) -> bool:
        """A service acting with its own token (not a serving credential issued to a replica)."""
        return self.kind is PrincipalKind.SERVICE and self.scope is None


class AccessDenied(PermissionDeniedError):
    """PERMISSION_DENIED, with what the audit log records about the denial."""

    def __init__(self, message: str, project: str, action: str) -> None:
        super().__init__(message)
        self.project = project
        self.action = action


def require_duty(identity: Identity, duty: Duty, action: str, project: str = "") -> str:
    """How ``identity`` may do ``action`` (the audit log's access text): only the service trusted
    with ``duty`` may; anyone else, platform admins included, gets AccessDenied."""
    if not holds_duty(identity, duty):
        raise AccessDenied(
            f"{action}: only the platform's services may call it, not {identity.principal}", project, action
        )
    return f"service {identity.principal}"


def holds_duty(identity: Identity | None, duty: Duty) -> bool:
    """Whether ``identity`` is the service trusted with ``duty``, acting with its own token."""
    return identity is not None and identity.is_service and duty in DUTIES.get(identity.principal, ())


def require_scope(identity: Identity, reference: str | None, action: str) -> str:
    """For a serving credential: may it read the version ``reference`` (canonical; None when
    there is no such version)? The answer is the same whether it exists or not."""
    assert identity.scope is not None
    if reference is None or reference not in identity.scope:
        raise AccessDenied(
            f"{action}: the serving credential of {identity.principal} reads only the versions it was issued for",
            "",
            action,
        )
    return f"serving credential of {identity.principal}"


def decide(identity: Identity, project: str, needed: Role, action: str) -> str:
    """How ``identity`` may do ``action`` on ``project`` (the audit log's access text), or
    AccessDenied naming the principal, the project, the role needed and the role held. A serving
    credential holds no role anywhere: it reads its versions through ``require_scope`` only."""
    if identity.scope is not None:
        require_scope(identity, None, action)
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
