"""Versions: registering them (with their lineage and, for an ensemble, its members), reading one
by reference or several side by side, listing, searching and updating them."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Sequence
from typing import Any

from modelyard_common.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from modelyard_metadata.domain import search
from modelyard_metadata.domain.access import Identity, Role, require_scope
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import (
    Caller,
    EncodedVersion,
    ModelVersion,
    NewAuditEvent,
    NewVersion,
    Stage,
    VersionSpec,
    VersionStatus,
)
from modelyard_metadata.domain.guard import Guard, may_read, visible_projects
from modelyard_metadata.domain.limits import MAX_COMPARED
from modelyard_metadata.domain.lookups import find_version, lock_version, why_missing
from modelyard_metadata.domain.models import Models
from modelyard_metadata.domain.paging import decode_token, encode_token, page_of, page_size
from modelyard_metadata.domain.ports import MetadataStore, SearchQuery
from modelyard_metadata.domain.validation import (
    VersionRef,
    check_name,
    check_serving,
    check_text,
    check_version_changes,
    check_version_spec,
    member_refs,
    parse_model_name,
    parse_reference,
)

__all__ = ["Versions"]


class Versions:
    def __init__(self, store: MetadataStore, guard: Guard, models: Models) -> None:
        self._store = store
        self._guard = guard
        self._models = models

    async def create(self, caller: Caller, model_name: str, spec: VersionSpec) -> EncodedVersion:
        """CreateModelVersion: the version as the wire carries it (the message stored with it)."""
        project, name = parse_model_name("model", model_name)
        parents = check_version_spec(spec)
        if spec.stage not in (Stage.DEVELOPMENT, Stage.ARCHIVED):
            raise InvalidArgumentError(
                "stage", f"a new version starts in DEVELOPMENT (its artifact is not uploaded yet), not {spec.stage}"
            )
        caller = await self._guard.allow(caller, project, Role.EDITOR, "CreateModelVersion", model_name)
        await self._guard.may_name(caller, "produced_by", parents, "CreateModelVersion")
        named_members = member_refs(spec.serving)
        await self._guard.may_name(caller, "serving.members", named_members, "CreateModelVersion")
        async with self._store.transaction() as tx:
            reserved = await tx.reserve_version_number(project, name)
            if reserved is None:
                raise NotFoundError(f"model {model_name!r} does not exist")
            model, number = reserved
            if model.archived:  # raising rolls the reservation back
                raise FailedPreconditionError(f"model {model_name!r} is archived; it takes no new versions")
            found = await tx.find_versions([*parents, *named_members])
            parent_versions = _parents(parents, found[: len(parents)])
            check_serving(model, spec.serving)
            members = _members(named_members, found[len(parents) :])
            # An ensemble has no bytes of its own: READY at once, its members in its lineage.
            version = NewVersion(
                model_id=model.id,
                project=project,
                model=name,
                version=number,
                stage=spec.stage,
                status=VersionStatus.READY if members else VersionStatus.PENDING_UPLOAD,
                framework=spec.framework,
                payload_format=spec.payload_format,
                author=spec.author or caller.actor,
                description=spec.description,
                inputs=spec.inputs,
                outputs=spec.outputs,
                hyperparameters=dict(spec.hyperparameters or {}),
                dependencies=spec.dependencies,
                code_location=spec.code_location,
                data_location=spec.data_location,
                tags=dict(spec.tags or {}),
                serving=dataclasses.replace(spec.serving, members=tuple(m.reference for m in members)),
                parents=tuple({v.id: v for v in (*parent_versions, *members)}.values()),
            )
            created = await tx.insert_version(version)
            await tx.append_audit(
                NewAuditEvent(caller, "version.create", project, created.reference, after=snapshot(created))
            )
            return tx.encoded(created)

    async def get(self, caller: Caller, reference: str, action: str = "GetModelVersion") -> ModelVersion:
        ref = parse_reference(reference)
        identity = caller.identity
        if identity is not None and identity.scope is not None and action == "GetModelVersion":
            return await self.scoped(identity, ref, action)
        may_read(caller, ref.project, action)
        return await find_version(self._store, ref)

    async def get_encoded(self, authenticate: Awaitable[Caller], reference: str) -> EncodedVersion:
        """GetModelVersion: as ``get``, the version as the wire carries it (the hot read: its
        message comes from the cache or storage as it is). Its cache lookup leaves together with
        the caller's (one round trip to the cache, not two); what it found is used only once
        the caller may read it, and Postgres is read only then."""
        try:
            ref = parse_reference(reference)
        except InvalidArgumentError:
            await authenticate  # a caller who may not call at all is told that first
            raise
        read = self._store.start_encoded_version(ref)
        try:
            caller = await authenticate
            scoped = caller.identity if caller.identity is not None and caller.identity.scope is not None else None
            if scoped is None:
                may_read(caller, ref.project, "GetModelVersion")
        except BaseException:
            read.discard()
            raise
        found = await read.result()
        if scoped is not None:  # denied alike whether the version exists or not
            require_scope(scoped, found.reference if found else None, "GetModelVersion")
        if found is None:
            raise NotFoundError(await why_missing(self._store, ref))
        return found

    async def scoped(self, identity: Identity, ref: VersionRef, action: str) -> ModelVersion:
        """The version a serving credential names, when it was issued for it; AccessDenied
        otherwise, also when there is no such version."""
        version = await self._store.get_version(ref)
        require_scope(identity, version.reference if version else None, action)
        assert version is not None
        return version

    async def compare(self, caller: Caller, references: Sequence[str]) -> list[ModelVersion]:
        """The versions ``references`` name, in their order, read in one query."""
        if not 2 <= len(references) <= MAX_COMPARED:
            raise InvalidArgumentError("references", f"needs 2 to {MAX_COMPARED} references, got {len(references)}")
        refs = [parse_reference(reference) for reference in references]
        for ref in refs:
            may_read(caller, ref.project, "CompareVersions")
        versions = []
        for ref, version in zip(refs, await self._store.find_versions(refs), strict=True):
            if version is None:
                raise NotFoundError(await why_missing(self._store, ref))
            versions.append(version)
        return versions

    async def list_versions(
        self, caller: Caller, model_name: str, size: int, token: str
    ) -> tuple[list[ModelVersion], str]:
        project, name = parse_model_name("model", model_name)
        may_read(caller, project, "ListModelVersions")
        limit = page_size(size)
        below = decode_token("versions", token, int)
        if below is None:
            await self._models.get(caller, model_name)
        versions = await self._store.list_versions(project, name, int(below or 2**62), limit + 1)
        return page_of(versions, limit, lambda v: encode_token("versions", v.version))

    async def search(
        self, caller: Caller, filter_text: str, order_by: str, project: str, size: int, token: str
    ) -> tuple[list[EncodedVersion], str]:
        if project:
            check_name("project", project)
            may_read(caller, project, "SearchModelVersions")
        query = SearchQuery(
            expr=search.parse_filter(filter_text) if filter_text.strip() else None,
            order=search.parse_order_by(order_by),
            project=project or None,
            page_size=page_size(size),
            page_token=token,
            visible=None if project else visible_projects(caller.identity),
        )
        return await self._store.search_versions(query)

    async def update(self, caller: Caller, reference: str, changes: dict[str, Any], reason: str) -> EncodedVersion:
        """UpdateModelVersion: the version as it leaves the change, as the wire carries it."""
        ref = parse_reference(reference)
        spec_fields, parents = check_version_changes(changes)
        check_text("reason", reason)
        caller = await self._guard.allow(caller, ref.project, Role.EDITOR, "UpdateModelVersion", reference)
        await self._guard.may_name(caller, "produced_by", parents, "UpdateModelVersion")
        async with self._store.transaction() as tx:
            version = await lock_version(self._store, tx, ref)
            parent_ids = None
            if "produced_by" in changes:
                parent_ids = [parent.id for parent in _parents(parents, await tx.find_versions(parents))]
                if version.id in parent_ids:
                    raise InvalidArgumentError("produced_by", f"{version.reference} cannot be produced by itself")
            columns = {k: v for k, v in spec_fields.items() if k != "produced_by"}
            updated = await tx.update_version(version, columns, parent_ids)
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "version.update",
                    version.project,
                    version.reference,
                    snapshot(version),
                    snapshot(updated),
                    reason=reason,
                )
            )
            return tx.encoded(updated)


def _parents(refs: Sequence[VersionRef], found: Sequence[ModelVersion | None]) -> list[ModelVersion]:
    """The versions of ``produced_by``, each once."""
    versions: dict[int, ModelVersion] = {}
    for i, (ref, version) in enumerate(zip(refs, found, strict=True)):
        if version is None:
            raise NotFoundError(f"produced_by[{i}]: version {ref} does not exist")
        versions[version.id] = version
    return list(versions.values())


def _members(refs: Sequence[VersionRef], found: Sequence[ModelVersion | None]) -> list[ModelVersion]:
    """An ensemble's members: each must be READY."""
    members = []
    for i, (ref, version) in enumerate(zip(refs, found, strict=True)):
        if version is None:
            raise NotFoundError(f"serving.members[{i}]: version {ref} does not exist")
        if version.status is not VersionStatus.READY:
            raise FailedPreconditionError(
                f"serving.members[{i}]: {version.reference} is {version.status}; ensemble members must be READY"
            )
        members.append(version)
    return members
