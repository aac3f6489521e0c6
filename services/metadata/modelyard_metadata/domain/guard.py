"""The access checks of the use cases: reads are decided alone; a change the caller may not make
is refused and recorded in the audit log first. A caller without an identity (authentication off)
may do everything."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TypeVar

from modelyard_metadata.domain.access import AccessDenied, Duty, Identity, Role, decide, holds_duty, require_duty
from modelyard_metadata.domain.entities import Caller, NewAuditEvent
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.validation import VersionRef

__all__ = ["Guard", "may_read", "visible_projects"]

T = TypeVar("T")


def may_read(caller: Caller, project: str, action: str) -> None:
    """AccessDenied unless ``caller`` may read ``project`` (anyone may when authentication is off)."""
    if caller.identity is not None:
        decide(caller.identity, project, Role.VIEWER, action)


def visible_projects(identity: Identity | None) -> frozenset[str] | None:
    """The projects ``identity`` may read (None: all of them)."""
    if identity is None or identity.sees_everything:
        return None
    return frozenset(identity.roles)


class Guard:
    """Decides changes, recording each refusal in the audit log of ``store``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    async def allow(self, caller: Caller, project: str, role: Role, action: str, resource: str) -> Caller:
        """For a change: the caller carrying how it may make it, or AccessDenied, which is
        recorded in the audit log."""
        identity = caller.identity
        if identity is None:
            return caller
        access = await self._audited(caller, resource, lambda: decide(identity, project, role, action))
        return dataclasses.replace(caller, access=access)

    async def allow_job_output(self, caller: Caller, project: str, role: Role, action: str, resource: str) -> Caller:
        """``allow``, except that the deploy service writes a batch scoring job's output dataset
        for the job's creator (the user it names): the caller then acts for that user, the audit
        log naming both, once that user still holds ``role`` (EDITOR when the job was created,
        it may have lost it since); AccessDenied naming the creator otherwise."""
        identity = caller.identity
        if holds_duty(identity, Duty.WRITE_JOB_OUTPUTS) and caller.on_behalf_of:
            assert identity is not None
            creator = await self._store.principal_identity(caller.on_behalf_of)
            writing = f"{action} (a batch scoring job's output, for its creator)"

            def check() -> str:
                if creator is None:
                    raise AccessDenied(f"{writing}: {caller.on_behalf_of} no longer exists", project, action)
                return decide(creator, project, role, writing)

            await self._audited(caller, resource, check)
            access = f"service {identity.principal} (batch scoring job output)"
            return dataclasses.replace(caller, actor=caller.on_behalf_of, access=access)
        return await self.allow(caller, project, role, action, resource)

    async def record_denial(self, caller: Caller, denied: AccessDenied, resource: str) -> None:
        refused = dataclasses.replace(caller, access="")  # not how it was allowed elsewhere
        async with self._store.transaction() as tx:
            await tx.append_audit(
                NewAuditEvent(refused, "access.denied", denied.project, resource, reason=denied.message)
            )

    async def as_registry(self, caller: Caller, action: str, project: str, resource: str) -> Caller:
        """Calls only the registry makes (artifact commits, failed uploads): the caller then acts
        for the user it uploaded for, the audit log naming both."""
        caller = await self.as_service(caller, Duty.COMMIT_ARTIFACTS, action, resource, project)
        return dataclasses.replace(caller, actor=caller.on_behalf_of or caller.actor)

    async def as_service(self, caller: Caller, duty: Duty, action: str, resource: str, project: str = "") -> Caller:
        """For a call only the service trusted with ``duty`` makes: the caller carrying how it may,
        or AccessDenied, which is recorded in the audit log."""
        identity = caller.identity
        if identity is None:
            return caller
        access = await self._audited(caller, resource, lambda: require_duty(identity, duty, action, project))
        return dataclasses.replace(caller, access=access)

    async def may_name(self, caller: Caller, field: str, refs: Sequence[VersionRef], action: str) -> None:
        """A change may name versions of other projects (parents, members) only when its caller
        may read them, asked before they are looked up: "absent" and "not yours" answer alike."""
        for i, ref in enumerate(refs):
            await self.allow(caller, ref.project, Role.VIEWER, f"{action} ({field}[{i}] {ref})", str(ref))

    async def _audited(self, caller: Caller, resource: str, check: Callable[[], T]) -> T:
        """``check()``'s answer; the AccessDenied it raises is recorded in the audit log first."""
        try:
            return check()
        except AccessDenied as denied:
            await self.record_denial(caller, denied, resource)
            raise
