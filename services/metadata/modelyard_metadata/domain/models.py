"""Models: creating, reading, listing, updating and archiving them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelyard_common.errors import FailedPreconditionError, NotFoundError
from modelyard_metadata.domain.access import Role
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import Caller, Model, ModelKind, NewAuditEvent, NewModel, SourceLocation
from modelyard_metadata.domain.guard import Guard, may_read
from modelyard_metadata.domain.limits import MAX_NAME
from modelyard_metadata.domain.lookups import lock_model
from modelyard_metadata.domain.paging import decode_token, encode_token, page_of, page_size
from modelyard_metadata.domain.ports import MetadataStore
from modelyard_metadata.domain.projects import Projects
from modelyard_metadata.domain.validation import (
    check_location,
    check_model_changes,
    check_name,
    check_tags,
    check_text,
    parse_model_name,
)

__all__ = ["Models"]

NOWHERE = SourceLocation()


class Models:
    def __init__(self, store: MetadataStore, guard: Guard, projects: Projects) -> None:
        self._store = store
        self._guard = guard
        self._projects = projects

    async def create(
        self,
        caller: Caller,
        project: str,
        name: str,
        *,
        description: str = "",
        owner: str = "",
        team: str = "",
        kind: ModelKind = ModelKind.STANDARD,
        tags: Mapping[str, str] | None = None,
        code_location: SourceLocation = NOWHERE,
        data_location: SourceLocation = NOWHERE,
    ) -> Model:
        check_name("model.project", project)
        check_name("model.name", name)
        caller = await self._guard.allow(caller, project, Role.EDITOR, "CreateModel", f"{project}/{name}")
        model = NewModel(
            project=project,
            name=name,
            description=check_text("model.description", description),
            owner=check_text("model.owner", owner, MAX_NAME),
            team=check_text("model.team", team, MAX_NAME),
            kind=kind,
            tags=check_tags("model.tags", dict(tags or {})),
            code_location=check_location("model.code_location", code_location),
            data_location=check_location("model.data_location", data_location),
        )
        async with self._store.transaction() as tx:
            created = await tx.insert_model(model)
            await tx.append_audit(
                NewAuditEvent(caller, "model.create", project, created.full_name, after=snapshot(created))
            )
        return created

    async def get(self, caller: Caller, name: str) -> Model:
        project, model_name = parse_model_name("name", name)
        may_read(caller, project, "GetModel")
        model = await self._store.get_model(project, model_name)
        if model is None:
            raise NotFoundError(f"model {name!r} does not exist")
        return model

    async def list_models(
        self, caller: Caller, project: str, include_archived: bool, size: int, token: str
    ) -> tuple[list[Model], str]:
        await self._projects.get(caller, project)
        limit = page_size(size)
        after = decode_token("models", token, str) or ""
        models = await self._store.list_models(project, include_archived, str(after), limit + 1)
        return page_of(models, limit, lambda m: encode_token("models", m.name))

    async def update(self, caller: Caller, name: str, changes: dict[str, Any], reason: str) -> Model:
        project, model_name = parse_model_name("model", name)
        check_model_changes(changes)
        check_text("reason", reason)
        caller = await self._guard.allow(caller, project, Role.EDITOR, "UpdateModel", name)
        async with self._store.transaction() as tx:
            model = await lock_model(tx, project, model_name)
            updated = await tx.update_model(model, changes)
            await tx.append_audit(
                NewAuditEvent(caller, "model.update", project, name, snapshot(model), snapshot(updated), reason=reason)
            )
        return updated

    async def archive(self, caller: Caller, name: str, reason: str) -> Model:
        project, model_name = parse_model_name("name", name)
        check_text("reason", reason)
        caller = await self._guard.allow(caller, project, Role.EDITOR, "ArchiveModel", name)
        async with self._store.transaction() as tx:
            model = await lock_model(tx, project, model_name)
            if model.archived:
                raise FailedPreconditionError(f"model {name!r} is already archived")
            updated = await tx.update_model(model, {"archived": True})
            await tx.append_audit(
                NewAuditEvent(caller, "model.archive", project, name, snapshot(model), snapshot(updated), reason=reason)
            )
        return updated
