"""Projects: creating them (their creator becomes their ADMIN), reading and listing them, and a
project's summary."""

from __future__ import annotations

import dataclasses

from modelyard_common.errors import NotFoundError
from modelyard_metadata.domain.access import Role
from modelyard_metadata.domain.audit import snapshot
from modelyard_metadata.domain.entities import Caller, NewAuditEvent, Project
from modelyard_metadata.domain.guard import may_read, visible_projects
from modelyard_metadata.domain.limits import MAX_NAME
from modelyard_metadata.domain.paging import decode_token, encode_token, page_of, page_size
from modelyard_metadata.domain.ports import MetadataStore, ProjectStats
from modelyard_metadata.domain.validation import check_key, check_name, check_text

__all__ = ["Projects"]


class Projects:
    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    async def create(self, caller: Caller, name: str, description: str, owner: str) -> Project:
        check_name("name", name)
        check_text("description", description)
        check_text("owner", owner, MAX_NAME)
        identity = caller.identity
        if identity is not None:
            caller = dataclasses.replace(caller, access="any principal may create a project; its creator is its ADMIN")
        async with self._store.transaction() as tx:
            project = await tx.insert_project(name, description, owner)
            if identity is not None:
                await tx.grant_role(name, identity.principal, Role.ADMIN, identity.principal)
            await tx.append_audit(NewAuditEvent(caller, "project.create", name, name, after=snapshot(project)))
        return project

    async def get(self, caller: Caller, name: str) -> Project:
        check_name("name", name)
        may_read(caller, name, "GetProject")
        project = await self._store.get_project(name)
        if project is None:
            raise NotFoundError(f"project {name!r} does not exist")
        return project

    async def list_projects(self, caller: Caller, size: int, token: str) -> tuple[list[Project], str]:
        limit = page_size(size)
        after = decode_token("projects", token, str) or ""
        projects = await self._store.list_projects(str(after), limit + 1, visible_projects(caller.identity))
        return page_of(projects, limit, lambda p: encode_token("projects", p.name))

    async def summary(self, caller: Caller, name: str, metric: str) -> tuple[Project, ProjectStats]:
        project = await self.get(caller, name)
        if metric:
            check_key("metric", metric)
        return project, await self._store.project_stats(name, metric)
