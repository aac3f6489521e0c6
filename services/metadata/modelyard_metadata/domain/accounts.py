"""Authentication and the management of principals, tokens and project roles.

A token is ``myd_`` and 43 random URL-safe characters; only the SHA-256 of the whole token is
stored (the secret has 256 bits of entropy, so a plain hash cannot be reversed), and it is shown
once, at creation. Every change here is written with its audit event in one transaction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelyard_common.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnauthenticatedError,
)
from modelyard_common.names import check_deployment_name
from modelyard_common.values import Consumption
from modelyard_metadata.domain.access import (
    AccessDenied,
    Duty,
    Identity,
    Principal,
    PrincipalKind,
    Role,
    RoleBinding,
    Token,
    decide,
    holds_duty,
    require_duty,
)
from modelyard_metadata.domain.consumers import Consumers, check_consumption
from modelyard_metadata.domain.entities import Caller, ModelVersion, NewAuditEvent, VersionStatus
from modelyard_metadata.domain.guard import Guard, may_read
from modelyard_metadata.domain.limits import MAX_NAME, MAX_TEXT
from modelyard_metadata.domain.ports import AccessStore
from modelyard_metadata.domain.validation import check_name, check_text, parse_reference
from modelyard_metadata.domain.versions import Versions

__all__ = ["Accounts", "Decision", "hash_token", "new_token_secret"]

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "myd_"
MIN_BOOTSTRAP_TOKEN = 32
MAX_BOOTSTRAP_TOKEN = 512  # the part of an authorization header the services read
MAX_TTL = timedelta(days=3660)
SERVING_TTL = (timedelta(minutes=1), timedelta(days=1))
# What a serving credential may call here, and ask the registry for (an inference server's load).
SCOPED_METADATA_METHODS = frozenset({"GetModelVersion"})
SCOPED_REGISTRY_ACTIONS = frozenset({"RegistryService/DownloadFile", "RegistryService/StatArtifact"})
# What the deploy service uploads of a batch scoring job's output dataset version.
JOB_OUTPUT_ACTIONS = frozenset(
    {"RegistryService/UploadFile", "RegistryService/CommitUpload", "RegistryService/AbortUpload"}
)
# An ensemble's members are at most this many versions, nested ones included.
MAX_SERVED_VERSIONS = 64
# last_used_at is written at most this often per token.
TOUCH_EVERY = timedelta(minutes=1)


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _may_read(identity: Identity, project: str, action: str) -> bool:
    try:
        decide(identity, project, Role.VIEWER, action)
    except AccessDenied:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Decision:
    """Authorize's answer: the end caller (when its token is valid), allowed or why not, and
    whether it may read the project."""

    principal: str
    allowed: bool
    message: str = ""
    grant: str = ""
    readable: bool = False


class Accounts:
    def __init__(self, store: AccessStore, guard: Guard, versions: Versions, consumers: Consumers) -> None:
        self._store = store
        self._guard = guard
        self._versions = versions
        self._consumers = consumers
        self._touched: dict[str, datetime] = {}

    # Authentication

    async def authenticate(self, token: str, actor: str, request_id: str, method: str = "") -> Caller:
        """The caller of ``method`` holding ``token``: UNAUTHENTICATED unless it is known, live
        and not revoked; a serving credential may call GetModelVersion only. A service's claim
        to call for ``actor`` is kept aside: only its duties may use it."""
        identity = await self._identify(token)
        if identity.scope is not None and method not in SCOPED_METADATA_METHODS:
            # Model code trying what it may not: worth a look, not an audit event per call.
            logger.warning("serving credential refused", extra={"principal": identity.principal, "method": method})
            decide(identity, "", Role.VIEWER, method or "this call")  # raises: it holds no role
        claimed = actor if identity.is_service and actor not in ("", "anonymous", identity.principal) else ""
        return Caller(identity.principal, request_id, identity, on_behalf_of=claimed)

    async def _identify(self, token: str) -> Identity:
        found = await self._store.identity(hash_token(token))
        if found is None:
            raise UnauthenticatedError("the token is not valid; ask an admin for a new one")
        identity, stored = found
        now = datetime.now(UTC)
        if stored.revoked_at is not None:
            raise UnauthenticatedError(f"token {stored.id} was revoked at {stored.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
        if stored.expires_at is not None and stored.expires_at <= now:
            raise UnauthenticatedError(f"token {stored.id} expired at {stored.expires_at:%Y-%m-%d %H:%M:%S} UTC")
        # The identity may come from the cache, with an old last_used_at: this process's own touches count too.
        last = max((t for t in (stored.last_used_at, self._touched.get(stored.id)) if t is not None), default=None)
        if last is None or now - last >= TOUCH_EVERY:
            await self._store.touch_token(stored.id)
            self._touched[stored.id] = now
        return identity

    async def authorize(
        self,
        caller: Caller,
        token: str,
        project: str,
        role: Role,
        action: str,
        resource: str,
        mutation: bool,
        consumption: Consumption | None = None,
    ) -> Decision:
        """For the registry and deploy services: may the holder of ``token`` do ``action``? Denials
        and granted mutations are recorded in the audit log; a granted ``consumption`` in the
        version's consumers, unless the token is a serving credential (its deployment is)."""
        caller = self._require_duty(caller, Duty.AUTHORIZE, "Authorize")
        check_name("project", project)
        check_text("action", action, MAX_NAME)
        check_text("resource", resource, MAX_TEXT)
        if consumption is not None:
            check_consumption(consumption, project)
        try:
            identity = await self._identify(token)
        except UnauthenticatedError as exc:
            return Decision("", False, exc.message)
        end_caller = Caller(identity.principal, caller.request_id, identity)
        try:
            grant = await self._decide(identity, project, role, action, resource)
        except AccessDenied as denied:
            if mutation:
                await self._guard.record_denial(end_caller, denied, resource)
            else:
                logger.info("read denied", extra={"principal": identity.principal, "reason": denied.message})
            readable = role is not Role.VIEWER and _may_read(identity, project, action)
            return Decision(identity.principal, False, denied.message, readable=readable)
        if mutation:
            granted = dataclasses.replace(end_caller, access=grant)
            async with self._store.transaction() as tx:
                await tx.append_audit(NewAuditEvent(granted, "access.granted", project, resource, reason=action))
        if consumption is not None and identity.scope is None:
            await self._consumers.record(caller, identity.principal, consumption)
        return Decision(identity.principal, True, grant=grant, readable=True)

    async def _decide(self, identity: Identity, project: str, role: Role, action: str, resource: str) -> str:
        """``decide``, except that a serving credential may download the versions it was issued
        for, and the deploy service upload the dataset versions of its jobs' outputs."""
        if (
            holds_duty(identity, Duty.WRITE_JOB_OUTPUTS)
            and action in JOB_OUTPUT_ACTIONS
            and resource.startswith("dataset:")
        ):
            return f"service {identity.principal} (batch scoring job output)"
        if identity.scope is None or role is not Role.VIEWER or action not in SCOPED_REGISTRY_ACTIONS:
            return decide(identity, project, role, action)
        try:
            ref = parse_reference(resource, "resource")
        except InvalidArgumentError:
            return decide(identity, project, role, action)  # denied, as for any other resource
        version = await self._versions.scoped(identity, ref, action)
        if version.project != project:
            return decide(identity, project, role, action)
        return f"serving credential of {identity.principal}"

    # Who am I

    async def whoami(self, caller: Caller) -> tuple[Principal, list[RoleBinding]]:
        identity = self._identity(caller)
        principal = await self._store.get_principal(identity.principal)
        if principal is None:  # removed between authentication and here
            raise UnauthenticatedError(f"principal {identity.principal!r} no longer exists")
        return principal, await self._store.effective_roles(identity)

    # Principals and teams (platform admins)

    async def create_principal(self, caller: Caller, name: str, kind: PrincipalKind, admin: bool) -> Principal:
        check_name("name", name)
        if admin and kind is PrincipalKind.TEAM:
            raise InvalidArgumentError("admin", "a team cannot be a platform admin; make its members admins")
        caller = await self._require_admin(caller, "CreatePrincipal", name)
        async with self._store.transaction() as tx:
            principal = await tx.insert_principal(name, kind, admin, caller.actor)
            after = {"name": name, "kind": kind.value, "admin": admin}
            await tx.append_audit(NewAuditEvent(caller, "principal.create", "", name, after=after))
        return principal

    async def list_principals(self, caller: Caller) -> list[Principal]:
        await self._require_admin(caller, "ListPrincipals", "", record=False)
        return await self._store.list_principals()

    async def set_team_member(self, caller: Caller, team: str, member: str, present: bool) -> Principal:
        check_name("team", team)
        check_name("member", member)
        action = "AddTeamMember" if present else "RemoveTeamMember"
        caller = await self._require_admin(caller, action, team)
        found = await self._store.get_principal(team)
        if found is None or found.kind is not PrincipalKind.TEAM:
            raise NotFoundError(f"team: {team!r} is not a team; create it with CreatePrincipal kind TEAM")
        joining = await self._principal("member", member)
        if joining.kind is PrincipalKind.TEAM:
            raise InvalidArgumentError("member", f"{member!r} is a team; teams hold users and services only")
        async with self._store.transaction() as tx:
            if await tx.set_member(team, member, present):
                verb = "team.add" if present else "team.remove"
                await tx.append_audit(NewAuditEvent(caller, verb, "", team, after={"member": member}))
        return await self._principal("team", team)

    # Tokens

    async def create_token(
        self, caller: Caller, principal: str, description: str, ttl: timedelta | None
    ) -> tuple[Token, str]:
        identity = self._identity(caller)
        owner = principal or identity.principal
        check_name("principal", owner)
        check_text("description", description)
        if ttl is not None and not timedelta(0) < ttl <= MAX_TTL:
            raise InvalidArgumentError("ttl", f"must be positive and at most {MAX_TTL.days} days")
        if owner != identity.principal:
            caller = await self._require_admin(caller, "CreateToken for another principal", owner)
        elif identity.kind is PrincipalKind.SERVICE:
            denied = AccessDenied(
                "CreateToken: a service cannot mint tokens; its own is set in the metadata service's settings",
                "",
                "CreateToken",
            )
            await self._guard.record_denial(caller, denied, owner)
            raise denied
        if (await self._principal("principal", owner)).kind is PrincipalKind.TEAM:
            raise InvalidArgumentError("principal", f"{owner!r} is a team; tokens belong to users and services")
        now = datetime.now(UTC)
        token = Token(
            id=secrets.token_hex(6),
            principal=owner,
            description=description,
            created_at=now,
            created_by=identity.principal,
            expires_at=now + ttl if ttl else None,
        )
        secret = new_token_secret()
        async with self._store.transaction() as tx:
            await tx.insert_token(token, hash_token(secret))
            after = {
                "id": token.id,
                "principal": owner,
                "expires_at": token.expires_at and token.expires_at.isoformat(),
            }
            await tx.append_audit(NewAuditEvent(caller, "token.create", "", owner, after=after, reason=description))
        return token, secret

    async def list_tokens(self, caller: Caller, principal: str, include_revoked: bool) -> list[Token]:
        identity = self._identity(caller)
        owner = principal or identity.principal
        check_name("principal", owner)
        if owner != identity.principal:
            await self._require_admin(caller, "ListTokens of another principal", owner, record=False)
        return await self._store.list_tokens(owner, include_revoked)

    async def revoke_token(self, caller: Caller, token_id: str) -> Token:
        identity = self._identity(caller)
        check_text("id", token_id, MAX_NAME)
        found = await self._store.get_token(token_id)
        if found is None or (found.principal != identity.principal and not identity.admin):
            raise NotFoundError(f"id: no token {token_id!r} of yours")  # others' token ids stay unknown
        async with self._store.transaction() as tx:
            outcome = await tx.revoke_token(token_id)
            if outcome is None:
                raise NotFoundError(f"id: no token {token_id!r}")
            revoked, now = outcome
            if now:  # of racing revokes, only the one that revoked it is recorded
                after = {"id": token_id, "principal": found.principal}
                await tx.append_audit(NewAuditEvent(caller, "token.revoke", "", found.principal, after=after))
        return revoked

    async def create_serving_token(
        self, caller: Caller, reference: str, deployment: str, ttl: timedelta | None
    ) -> tuple[Token, str, list[str]]:
        """For the deploy service: a credential reading the READY version ``reference`` and its
        ensemble members, nothing else, for ``ttl``. Expired ones are deleted as new ones come."""
        ref = parse_reference(reference)
        check_deployment_name(deployment, "deployment")  # the deploy service's rule, shared
        low, high = SERVING_TTL
        if ttl is None or not low <= ttl <= high:
            raise InvalidArgumentError("ttl", f"must be between {low} and {high}")
        caller = self._require_duty(caller, Duty.ISSUE_SERVING_TOKENS, "CreateServingToken", ref.project)
        versions = await self._served_versions(caller, str(ref))
        root = versions[0]
        now = datetime.now(UTC)
        expires_at = now + ttl
        token = Token(
            id=secrets.token_hex(6),
            principal=self._identity(caller).principal,
            description=f"serving {deployment}: {root.reference}",
            created_at=now,
            created_by=caller.actor,
            expires_at=expires_at,
        )
        scope = [v.reference for v in versions]
        secret = new_token_secret()
        async with self._store.transaction() as tx:
            await tx.delete_expired_scoped_tokens()
            await tx.insert_token(token, hash_token(secret), scope=scope)
            after = {"id": token.id, "versions": scope, "expires_at": expires_at.isoformat()}
            await tx.append_audit(
                NewAuditEvent(caller, "token.serving", root.project, root.reference, after=after, reason=deployment)
            )
        return token, secret, scope

    async def _served_versions(self, caller: Caller, reference: str) -> list[ModelVersion]:
        """The version an inference server loads, then every member it loads with it."""
        found: dict[str, ModelVersion] = {}
        todo = [reference]
        while todo:
            version = await self._versions.get(caller, todo.pop(0))
            if version.status is not VersionStatus.READY:
                raise FailedPreconditionError(f"reference: {version.reference} is {version.status}, not READY")
            if version.reference in found:
                continue
            found[version.reference] = version
            if len(found) > MAX_SERVED_VERSIONS:
                raise FailedPreconditionError(f"reference: it loads more than {MAX_SERVED_VERSIONS} versions")
            todo.extend(version.serving.members)
        return list(found.values())

    # Project roles

    async def set_project_role(self, caller: Caller, project: str, principal: str, role: Role) -> RoleBinding:
        check_name("project", project)
        check_name("principal", principal)
        caller = await self._require_project_admin(caller, project, "SetProjectRole", principal)
        if (await self._principal("principal", principal)).kind is PrincipalKind.SERVICE:
            raise InvalidArgumentError("principal", f"{principal!r} is a service; services read every project already")
        async with self._store.transaction() as tx:
            held = await tx.lock_role(project, principal)
            binding = await tx.grant_role(project, principal, role, caller.actor)
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "role.set",
                    project,
                    f"{project}:{principal}",
                    before={"role": held.name} if held else None,
                    after={"role": role.name},
                )
            )
        return binding

    async def remove_project_role(self, caller: Caller, project: str, principal: str) -> None:
        check_name("project", project)
        check_name("principal", principal)
        caller = await self._require_project_admin(caller, project, "RemoveProjectRole", principal)
        async with self._store.transaction() as tx:
            removed = await tx.delete_role(project, principal)
            if removed is None:
                raise NotFoundError(f"principal: {principal!r} has no role on project {project!r}")
            await tx.append_audit(
                NewAuditEvent(
                    caller, "role.remove", project, f"{project}:{principal}", before={"role": removed.role.name}
                )
            )

    async def list_project_roles(self, caller: Caller, project: str) -> list[RoleBinding]:
        check_name("project", project)
        may_read(caller, project, "ListProjectRoles")
        if not await self._store.project_exists(project):
            raise NotFoundError(f"project {project!r} does not exist")
        return await self._store.list_roles(project)

    # Bootstrap

    async def bootstrap(self, admin_token: str | None, service_tokens: Mapping[str, str]) -> None:
        """Makes the tokens named in the settings valid: ``admin`` (a platform admin) and one service
        principal per entry; a principal's previous bootstrap token is revoked."""
        wanted = [(name, PrincipalKind.SERVICE, False, token) for name, token in service_tokens.items()]
        if admin_token:
            wanted.insert(0, ("admin", PrincipalKind.USER, True, admin_token))
        caller = Caller("modelyard-metadata", access="bootstrap from the service's settings")
        for name, kind, admin, secret in wanted:
            check_name("bootstrap principal", name)
            if not MIN_BOOTSTRAP_TOKEN <= len(secret) <= MAX_BOOTSTRAP_TOKEN:
                raise InvalidArgumentError(
                    f"token of {name}", f"must be {MIN_BOOTSTRAP_TOKEN} to {MAX_BOOTSTRAP_TOKEN} characters"
                )
            token = Token(secrets.token_hex(6), name, "bootstrap", datetime.now(UTC), caller.actor)
            async with self._store.transaction() as tx:
                await tx.ensure_principal(name, kind, admin, caller.actor)
                if await tx.replace_bootstrap_token(token, hash_token(secret)):
                    await tx.append_audit(NewAuditEvent(caller, "token.bootstrap", "", name, after={"id": token.id}))
                    logger.info("bootstrap token installed", extra={"principal": name, "token_id": token.id})

    # Helpers

    @staticmethod
    def _identity(caller: Caller) -> Identity:
        if caller.identity is None:
            raise FailedPreconditionError("authentication is off on this metadata service; there is nobody to manage")
        return caller.identity

    async def _principal(self, field: str, name: str) -> Principal:
        found = await self._store.get_principal(name)
        if found is None:
            raise NotFoundError(f"{field}: principal {name!r} does not exist; a platform admin creates it")
        return found

    def _require_duty(self, caller: Caller, duty: Duty, action: str, project: str = "") -> Caller:
        """The caller, allowed as the service trusted with ``duty``; a refusal is not audited
        (these internal calls change no project)."""
        access = require_duty(self._identity(caller), duty, action, project)
        return dataclasses.replace(caller, access=access)

    async def _require_admin(self, caller: Caller, action: str, resource: str, record: bool = True) -> Caller:
        identity = self._identity(caller)
        if identity.admin:
            return dataclasses.replace(caller, access="platform admin")
        denied = AccessDenied(f"{action}: {identity.principal} may not; it needs a platform admin", "", action)
        if record:
            await self._guard.record_denial(caller, denied, resource)
        raise denied

    async def _require_project_admin(self, caller: Caller, project: str, action: str, principal: str) -> Caller:
        self._identity(caller)
        resource = f"{project}:{principal}"
        allowed = await self._guard.allow(caller, project, Role.ADMIN, action, resource)
        if not await self._store.project_exists(project):
            raise NotFoundError(f"project {project!r} does not exist")
        return allowed
