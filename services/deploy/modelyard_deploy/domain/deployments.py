"""The deployment use cases: validate, check the caller's access (EDITOR on the deployment's
project to change it, VIEWER to read it), resolve the version, record the change, let the
(leader's) reconciler carry it out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from modelyard_common.errors import (
    BackendUnavailableError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from modelyard_common.names import check_deployment_name
from modelyard_common.values import (
    Consumption,
    ConsumptionKind,
    DeploymentRuntime,
    DeploymentState,
    ProjectRole,
    VersionStatus,
)
from modelyard_deploy.domain.changes import Changes
from modelyard_deploy.domain.entities import Deployment, Revision, VersionInfo
from modelyard_deploy.domain.limits import DEFAULT_PAGE, MAX_PAGE, MAX_REASON
from modelyard_deploy.domain.ports import Access, DeploymentStore, VersionCatalog
from modelyard_deploy.domain.validation import (
    check_project,
    check_replicas,
    check_text,
    check_trusted_types,
    reference_project,
)

__all__ = ["Deployments", "Page"]


@dataclass(frozen=True, slots=True)
class Page:
    deployments: list[Deployment]
    next_token: str


class Deployments:
    """The use cases, on any deploy service: they write what a deployment wants under its row
    lock, publish the change, and answer once the leader's reconciler acted on it (or, when no
    leader does within ``leader_wait`` seconds, with the deployment as stored)."""

    def __init__(
        self,
        store: DeploymentStore,
        catalog: VersionCatalog,
        access: Access,
        changes: Changes,
        runtimes: frozenset[DeploymentRuntime],
        default_runtime: DeploymentRuntime,
        leader_wait: float,
        delete_wait: float,
    ) -> None:
        self._store, self._catalog, self._access, self._changes = store, catalog, access, changes
        self._runtimes, self._default_runtime = runtimes, default_runtime
        self._leader_wait, self._delete_wait = leader_wait, delete_wait

    async def _resolve(self, reference: str, action: str, name: str) -> VersionInfo:
        """The READY version ``reference`` names, for deployment ``name``, once the caller may
        read its project (and is recorded as deploying it): asked before the lookup, so "absent"
        and "not yours" answer alike."""
        project = reference_project(reference)
        deploying = Consumption(ConsumptionKind.DEPLOYMENT, reference, name)
        await self._access.require(project, ProjectRole.VIEWER, f"DeployService/{action}", reference, deploying)
        return await self._lookup(reference)

    async def _lookup(self, reference: str) -> VersionInfo:
        """The READY version ``reference`` names; the caller's access is checked already."""
        version = await self._catalog.resolve(reference)
        if version.status is not VersionStatus.READY:
            raise FailedPreconditionError(
                f"model_reference: version {version.reference} is {version.status}; only READY versions can be deployed"
            )
        return version

    async def _readable(self, name: str, action: str) -> Deployment:
        deployment = await self._store.get(check_deployment_name(name))
        await self._access.require(deployment.project, ProjectRole.VIEWER, f"DeployService/{action}", name)
        return deployment

    async def _changeable(self, name: str, action: str) -> str:
        """The caller, once it may change deployment ``name`` (EDITOR on its project)."""
        deployment = await self._store.get(check_deployment_name(name))
        return await self._access.require(deployment.project, ProjectRole.EDITOR, f"DeployService/{action}", name)

    async def create(
        self,
        name: str,
        reference: str,
        replicas: int,
        runtime: DeploymentRuntime | None,
        trusted_types: Iterable[str] = (),
    ) -> Deployment:
        check_deployment_name(name)
        check_replicas(replicas)
        trusted = check_trusted_types(trusted_types)
        runtime = runtime or self._default_runtime
        if runtime not in self._runtimes:
            raise FailedPreconditionError(f"runtime: {runtime} is not enabled on this deploy service")
        project = reference_project(reference)
        deploying = Consumption(ConsumptionKind.DEPLOYMENT, reference, name)
        actor = await self._access.require(
            project, ProjectRole.EDITOR, "DeployService/CreateDeployment", name, deploying
        )
        version = await self._lookup(reference)  # in the project the caller may edit
        deployment = Deployment(
            name=name,
            project=version.project,
            model_reference=reference,
            version_reference=version.reference,
            replicas=replicas,
            runtime=runtime,
            state=DeploymentState.PENDING,
            revision=1,
            created_by=actor,
        )
        revision = Revision(1, reference, version.reference, actor, "created", trusted_types=trusted)
        created = await self._store.create(deployment, revision)
        return await self._changed(name, created.generation)

    async def get(self, name: str) -> Deployment:
        return await self._readable(name, "GetDeployment")

    async def page(self, project: str, page_size: int, page_token: str) -> Page:
        if not 0 <= page_size <= MAX_PAGE:
            raise InvalidArgumentError("page_size", f"must be between 0 and {MAX_PAGE}, got {page_size}")
        check_project(project)
        if project:
            await self._access.require(project, ProjectRole.VIEWER, "DeployService/ListDeployments", project)
        if page_token:
            check_deployment_name(page_token, "page_token")  # the last name of the previous page
        limit = page_size or DEFAULT_PAGE
        found = await self._store.page(project, page_token, limit + 1)
        more = len(found) > limit
        found = found[:limit]
        next_token = found[-1].name if more else ""
        if not project:  # only the deployments of projects the caller may read
            readable = {p for p in {d.project for d in found} if await self._may_read(p)}
            found = [d for d in found if d.project in readable]
        return Page(found, next_token)

    async def _may_read(self, project: str) -> bool:
        try:
            await self._access.require(project, ProjectRole.VIEWER, "DeployService/ListDeployments", project)
        except PermissionDeniedError:
            return False
        return True

    async def revisions(self, name: str) -> list[Revision]:
        await self._readable(name, "ListDeploymentRevisions")
        return await self._store.revisions(name)

    async def update(
        self,
        name: str,
        reference: str,
        replicas: int | None,
        reason: str,
        trusted_types: Iterable[str] | None = None,
    ) -> tuple[Deployment, int]:
        """The deployment once changed, and the revision this call created (0: none). The
        deployment may already show a later caller's revision; the number is this caller's.
        Another version, or other ``trusted_types`` (None: keep them), make a new revision."""
        check_deployment_name(name)
        check_text("reason", reason, MAX_REASON)
        if replicas is not None:
            check_replicas(replicas)
        trusted = None if trusted_types is None else check_trusted_types(trusted_types)
        actor = await self._changeable(name, "UpdateDeployment")
        # The caller must be able to read what it deploys.
        version = await self._resolve(reference, "UpdateDeployment", name) if reference else None
        created = 0
        async with self._store.locked(name) as locked:
            deployment = _not_deleting(locked.deployment)
            moved = version is not None and version.reference != deployment.version_reference
            retrusted = trusted is not None and trusted != deployment.trusted_types
            if moved or retrusted:
                revision = Revision(
                    deployment.revision + 1,
                    reference if moved else deployment.model_reference,
                    version.reference if version is not None and moved else deployment.version_reference,
                    actor,
                    reason or _change_reason(reference if moved else "", trusted if retrusted else None),
                    trusted_types=deployment.trusted_types if trusted is None else trusted,
                )
                await locked.add_revision(revision, _rolling_state(deployment))
                created = revision.number
            if replicas is not None and replicas != deployment.replicas:
                await locked.set_replicas(replicas, actor, reason)
            generation = locked.generation
        return await self._changed(name, generation), created

    async def rollback(self, name: str, revision: int, reason: str) -> tuple[Deployment, int]:
        """The deployment once changed, and the revision this call created (see ``update``)."""
        check_deployment_name(name)
        check_text("reason", reason, MAX_REASON)
        if revision < 0:
            raise InvalidArgumentError("revision", f"{revision} is negative")
        actor = await self._changeable(name, "RollbackDeployment")
        async with self._store.locked(name) as locked:
            deployment = _not_deleting(locked.deployment)
            history = await locked.revisions()
            if revision == 0:
                earlier = [r for r in history if r.number < deployment.revision]
                if not earlier:
                    raise FailedPreconditionError(
                        f"revision: deployment {name} has no revision before {deployment.revision}"
                    )
                target = earlier[0]
            else:
                found = next((r for r in history if r.number == revision), None)
                if found is None:
                    raise NotFoundError(f"revision: deployment {name} has no revision {revision}")
                if found.number == deployment.revision:
                    raise FailedPreconditionError(f"revision: {revision} is the current revision of {name}")
                target = found
            await self._resolve(target.version_reference, "RollbackDeployment", name)
            new = Revision(
                deployment.revision + 1,
                target.model_reference,
                target.version_reference,
                actor,
                reason or f"rollback to revision {target.number}",
                trusted_types=target.trusted_types,
            )
            await locked.add_revision(new, _rolling_state(deployment))
            generation = locked.generation
        return await self._changed(name, generation), new.number

    async def delete(self, name: str) -> None:
        """Marks it DELETING, and returns once the leader stopped every replica and deleted it."""
        actor = await self._changeable(name, "DeleteDeployment")
        async with self._store.locked(name) as locked:
            if locked.deployment.state is not DeploymentState.DELETING:
                await locked.mark_deleting(actor)
        await self._changes.notify(name)
        if await self._until(name, lambda deployment: deployment is None, self._delete_wait) is not None:
            raise BackendUnavailableError(
                f"name: deployment {name} is DELETING, but no leading deploy service removed it within "
                f"{self._delete_wait:g} s; it will be once one runs"
            )

    async def watch(self, name: str) -> AsyncIterator[Deployment]:
        """The deployment now, then after each change; ends when it is deleted."""
        seen = self._changes.version(check_deployment_name(name))
        deployment = await self._readable(name, "WatchDeployment")
        while True:
            yield deployment
            latest: Deployment | None = deployment
            while latest == deployment:
                seen = await self._changes.wait(name, seen)
                latest = await self._get_or_none(name)
            if latest is None:
                return
            deployment = latest

    async def _changed(self, name: str, generation: int) -> Deployment:
        """After a change: publish it, and answer once the leader's pass acted on it, so that
        the answer already shows its effect (replicas starting, the state it leads to)."""
        await self._changes.notify(name)
        found = await self._until(name, lambda d: d is None or d.observed_generation >= generation, self._leader_wait)
        if found is None:
            raise NotFoundError(f"name: deployment {name!r} was deleted meanwhile")
        return found

    async def _until(self, name: str, done: Callable[[Deployment | None], bool], timeout: float) -> Deployment | None:
        """Deployment ``name`` (None: deleted) once ``done`` says so, or as it is after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self._changes.version(name)
            deployment = await self._get_or_none(name)
            remaining = deadline - time.monotonic()
            if done(deployment) or remaining <= 0:
                return deployment
            await self._changes.wait(name, seen, remaining)

    async def _get_or_none(self, name: str) -> Deployment | None:
        try:
            return await self._store.get(name)
        except NotFoundError:
            return None


def _change_reason(reference: str, trusted: tuple[str, ...] | None) -> str:
    """The default reason of an update's revision: "update to p/m:4", "trust types a.B, c.D"."""
    parts = [f"update to {reference}"] if reference else []
    if trusted is not None:
        parts.append(f"trust types {', '.join(trusted)}" if trusted else "trust no types beyond skops' defaults")
    return "; ".join(parts)


def _not_deleting(deployment: Deployment) -> Deployment:
    if deployment.state is DeploymentState.DELETING:
        raise FailedPreconditionError(f"name: deployment {deployment.name} is being deleted")
    return deployment


def _rolling_state(deployment: Deployment) -> DeploymentState:
    return DeploymentState.PROGRESSING if deployment.serving_revision else DeploymentState.PENDING
