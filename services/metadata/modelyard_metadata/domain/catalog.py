"""The metadata use cases: each validates its input, checks the caller's access, changes state in
one transaction with its audit event, and returns the result. The store invalidates caches as the
transaction commits. A caller without an identity (authentication off) may do everything."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from modelyard_common.errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from modelyard_metadata.domain import search
from modelyard_metadata.domain.access import AccessDenied, Duty, Identity, Role, decide, require_duty, require_scope
from modelyard_metadata.domain.entities import (
    AuditEvent,
    Caller,
    Dependency,
    LineageEdge,
    LineageNode,
    MetricPoint,
    Model,
    ModelKind,
    ModelVersion,
    NewAuditEvent,
    Project,
    Serving,
    SourceLocation,
    Stage,
    TensorSpec,
    VersionSpec,
    VersionStatus,
)
from modelyard_metadata.domain.limits import (
    MAX_COMPARED,
    MAX_DEPENDENCIES,
    MAX_DIMENSIONS,
    MAX_FILES,
    MAX_LINEAGE_DEPTH,
    MAX_LOCATION,
    MAX_MEMBERS,
    MAX_METRICS_JSON_BYTES,
    MAX_METRICS_PER_CALL,
    MAX_NAME,
    MAX_PARENTS,
    MAX_REFERENCE,
    MAX_TENSORS,
    MAX_TEXT,
)
from modelyard_metadata.domain.paging import decode_token, encode_token, page_size
from modelyard_metadata.domain.ports import (
    AuditQuery,
    EventFeed,
    MetadataStore,
    MetadataTransaction,
    ProjectStats,
    SearchQuery,
)
from modelyard_metadata.domain.stages import check_transition
from modelyard_metadata.domain.validation import (
    DATATYPES,
    VersionRef,
    check_alias,
    check_json_object,
    check_key,
    check_name,
    check_number,
    check_tags,
    check_text,
    parse_model_name,
    parse_reference,
)

__all__ = ["Catalog", "may_read", "snapshot"]

T = TypeVar("T")
NOWHERE = SourceLocation()

MODEL_FIELDS = frozenset({"description", "owner", "team", "kind", "tags", "code_location", "data_location"})
VERSION_FIELDS = frozenset(
    {
        "description", "author", "framework", "payload_format", "signature", "hyperparameters",
        "dependencies", "produced_by", "code_location", "data_location", "tags",
    }
)  # fmt: skip


def snapshot(entity: object) -> dict[str, Any]:
    """A JSON-ready dictionary of an entity, for audit events (without database ids)."""
    data = _plain(entity)
    assert isinstance(data, dict)
    return data


def _plain(value: Any) -> Any:
    # Not dataclasses.asdict: its deep copy made this the most expensive step of a write.
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _IDS}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_IDS = frozenset({"id", "model_id"})
# "module:attribute" of a CUSTOM model's code: dotted identifiers on both sides.
_ENTRY_POINT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _check_location(field: str, location: SourceLocation) -> SourceLocation:
    for part in ("uri", "revision", "path"):
        check_text(f"{field}.{part}", getattr(location, part), MAX_LOCATION)
    return location


def _check_tensors(field: str, tensors: Sequence[TensorSpec]) -> tuple[TensorSpec, ...]:
    if len(tensors) > MAX_TENSORS:
        raise InvalidArgumentError(field, f"has {len(tensors)} tensors; at most {MAX_TENSORS} allowed")
    names = set()
    for i, tensor in enumerate(tensors):
        where = f"{field}[{i}]"
        if not tensor.name:
            raise InvalidArgumentError(f"{where}.name", "is required")
        check_text(f"{where}.name", tensor.name, MAX_NAME)
        if tensor.name in names:
            raise InvalidArgumentError(f"{where}.name", f"{tensor.name!r} appears twice")
        names.add(tensor.name)
        if tensor.datatype not in DATATYPES:
            raise InvalidArgumentError(
                f"{where}.datatype", f"{tensor.datatype!r} is not one of {', '.join(sorted(DATATYPES))}"
            )
        if len(tensor.shape) > MAX_DIMENSIONS or any(d < -1 or d == 0 for d in tensor.shape):
            raise InvalidArgumentError(
                f"{where}.shape",
                f"{list(tensor.shape)} is not a shape: up to {MAX_DIMENSIONS} dimensions, "
                "each a positive size or -1 for a variable one",
            )
    return tuple(tensors)


def _check_dependencies(field: str, dependencies: Sequence[Dependency]) -> tuple[Dependency, ...]:
    if len(dependencies) > MAX_DEPENDENCIES:
        raise InvalidArgumentError(field, f"has {len(dependencies)} entries; at most {MAX_DEPENDENCIES} allowed")
    for i, dependency in enumerate(dependencies):
        if not dependency.library:
            raise InvalidArgumentError(f"{field}[{i}].library", "is required")
        check_text(f"{field}[{i}].library", dependency.library, MAX_NAME)
        check_text(f"{field}[{i}].version", dependency.version, MAX_NAME)
    return tuple(dependencies)


def _check_produced_by(field: str, references: Sequence[str]) -> list[VersionRef]:
    if len(references) > MAX_PARENTS:
        raise InvalidArgumentError(field, f"has {len(references)} entries; at most {MAX_PARENTS} allowed")
    return [parse_reference(text, f"{field}[{i}]") for i, text in enumerate(references)]


def _member_refs(serving: Serving) -> list[VersionRef]:
    """The member references ``serving`` names, whatever the model's kind (checked later)."""
    if len(serving.members) > MAX_MEMBERS:
        raise InvalidArgumentError(
            "serving.members", f"has {len(serving.members)} entries; an ENSEMBLE takes 1 to {MAX_MEMBERS}"
        )
    return [parse_reference(text, f"serving.members[{i}]") for i, text in enumerate(serving.members)]


def _check_serving(model: Model, serving: Serving) -> list[VersionRef]:
    """The member references of an ENSEMBLE version; raises when ``serving`` does not fit the
    model's kind (CUSTOM needs an entry point, ENSEMBLE a method and members, STANDARD neither)."""
    check_text("serving.entry_point", serving.entry_point, MAX_NAME)
    if model.kind is ModelKind.CUSTOM:
        if serving.ensemble_method is not None or serving.members:
            raise InvalidArgumentError("serving", f"{model.name!r} is CUSTOM: it takes an entry_point, not members")
        if not _ENTRY_POINT.fullmatch(serving.entry_point):
            raise InvalidArgumentError(
                "serving.entry_point",
                f"{serving.entry_point!r} is not 'module:attribute' (e.g. 'predictor:Model'), "
                "which every version of a CUSTOM model needs",
            )
        return []
    if model.kind is ModelKind.ENSEMBLE:
        if serving.entry_point:
            raise InvalidArgumentError("serving.entry_point", f"{model.name!r} is ENSEMBLE: it takes members")
        if serving.ensemble_method is None:
            raise InvalidArgumentError("serving.ensemble_method", "is required for an ENSEMBLE: AVERAGE, VOTE or CHAIN")
        if not serving.members:
            raise InvalidArgumentError("serving.members", f"has 0 entries; an ENSEMBLE takes 1 to {MAX_MEMBERS}")
        return _member_refs(serving)
    if serving != Serving():
        raise InvalidArgumentError("serving", f"{model.name!r} is {model.kind}; only CUSTOM and ENSEMBLE take it")
    return []


class Catalog:
    """Projects, models and versions, over a MetadataStore."""

    def __init__(self, store: MetadataStore, protected_aliases: frozenset[str] = frozenset()) -> None:
        self._store = store
        self._protected_aliases = protected_aliases

    # Access

    async def allow(self, caller: Caller, project: str, role: Role, action: str, resource: str) -> Caller:
        """For a change: the caller carrying how it may make it, or AccessDenied, which is
        recorded in the audit log."""
        identity = caller.identity
        if identity is None:
            return caller
        access = await self._audited(caller, resource, lambda: decide(identity, project, role, action))
        return dataclasses.replace(caller, access=access)

    async def record_denial(self, caller: Caller, denied: AccessDenied, resource: str) -> None:
        refused = dataclasses.replace(caller, access="")  # not how it was allowed elsewhere
        async with self._store.transaction() as tx:
            await tx.append_audit(
                NewAuditEvent(refused, "access.denied", denied.project, resource, reason=denied.message)
            )

    async def _as_registry(self, caller: Caller, action: str, project: str, resource: str) -> Caller:
        """Calls only the registry makes (artifact commits, failed uploads): the caller then acts
        for the user it uploaded for, the audit log naming both."""
        identity = caller.identity
        if identity is None:
            return caller
        access = await self._audited(
            caller, resource, lambda: require_duty(identity, Duty.COMMIT_ARTIFACTS, action, project)
        )
        return dataclasses.replace(caller, actor=caller.on_behalf_of or caller.actor, access=access)

    async def _may_name(self, caller: Caller, field: str, refs: Sequence[VersionRef], action: str) -> None:
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

    # Projects

    async def create_project(self, caller: Caller, name: str, description: str, owner: str) -> Project:
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

    async def get_project(self, caller: Caller, name: str) -> Project:
        check_name("name", name)
        may_read(caller, name, "GetProject")
        project = await self._store.get_project(name)
        if project is None:
            raise NotFoundError(f"project {name!r} does not exist")
        return project

    async def list_projects(self, caller: Caller, size: int, token: str) -> tuple[list[Project], str]:
        limit = page_size(size)
        after = decode_token("projects", token, str) or ""
        projects = await self._store.list_projects(str(after), limit + 1, _visible(caller.identity))
        return _page(projects, limit, lambda p: encode_token("projects", p.name))

    async def project_summary(self, caller: Caller, name: str, metric: str) -> tuple[Project, ProjectStats]:
        project = await self.get_project(caller, name)
        if metric:
            check_key("metric", metric)
        return project, await self._store.project_stats(name, metric)

    # Models

    async def create_model(
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
        caller = await self.allow(caller, project, Role.EDITOR, "CreateModel", f"{project}/{name}")
        now = datetime.now(UTC)
        model = Model(
            id=0,
            project=project,
            name=name,
            description=check_text("model.description", description),
            owner=check_text("model.owner", owner, MAX_NAME),
            team=check_text("model.team", team, MAX_NAME),
            kind=kind,
            tags=check_tags("model.tags", dict(tags or {})),
            code_location=_check_location("model.code_location", code_location),
            data_location=_check_location("model.data_location", data_location),
            archived=False,
            latest_version=0,
            aliases={},
            created_at=now,
            updated_at=now,
        )
        async with self._store.transaction() as tx:
            created = await tx.insert_model(model)
            await tx.append_audit(
                NewAuditEvent(caller, "model.create", project, created.full_name, after=snapshot(created))
            )
        return created

    async def get_model(self, caller: Caller, name: str) -> Model:
        project, model_name = parse_model_name("name", name)
        may_read(caller, project, "GetModel")
        model = await self._store.get_model(project, model_name)
        if model is None:
            raise NotFoundError(f"model {name!r} does not exist")
        return model

    async def list_models(
        self, caller: Caller, project: str, include_archived: bool, size: int, token: str
    ) -> tuple[list[Model], str]:
        await self.get_project(caller, project)
        limit = page_size(size)
        after = decode_token("models", token, str) or ""
        models = await self._store.list_models(project, include_archived, str(after), limit + 1)
        return _page(models, limit, lambda m: encode_token("models", m.name))

    async def update_model(self, caller: Caller, name: str, changes: dict[str, Any]) -> Model:
        project, model_name = parse_model_name("model", name)
        if not changes:
            raise InvalidArgumentError("update_mask", f"names no field; use any of {', '.join(sorted(MODEL_FIELDS))}")
        for field, value in changes.items():
            if field not in MODEL_FIELDS:
                raise InvalidArgumentError(
                    "update_mask", f"{field!r} cannot be updated; use any of {', '.join(sorted(MODEL_FIELDS))}"
                )
            if field == "tags":
                check_tags("model.tags", value)
            elif field in ("code_location", "data_location"):
                _check_location(f"model.{field}", value)
            elif field != "kind":
                check_text(f"model.{field}", value, MAX_NAME if field != "description" else MAX_TEXT)
        caller = await self.allow(caller, project, Role.EDITOR, "UpdateModel", name)
        async with self._store.transaction() as tx:
            model = await self._lock_model(tx, project, model_name)
            updated = await tx.update_model(model, changes)
            await tx.append_audit(
                NewAuditEvent(caller, "model.update", project, name, before=snapshot(model), after=snapshot(updated))
            )
        return updated

    async def archive_model(self, caller: Caller, name: str, reason: str) -> Model:
        project, model_name = parse_model_name("name", name)
        check_text("reason", reason)
        caller = await self.allow(caller, project, Role.EDITOR, "ArchiveModel", name)
        async with self._store.transaction() as tx:
            model = await self._lock_model(tx, project, model_name)
            if model.archived:
                raise FailedPreconditionError(f"model {name!r} is already archived")
            updated = await tx.update_model(model, {"archived": True})
            await tx.append_audit(
                NewAuditEvent(caller, "model.archive", project, name, snapshot(model), snapshot(updated), reason=reason)
            )
        return updated

    # Versions

    async def create_version(self, caller: Caller, model_name: str, spec: VersionSpec) -> ModelVersion:
        project, name = parse_model_name("model", model_name)
        parents = self._check_version_spec(spec)
        if spec.stage not in (Stage.DEVELOPMENT, Stage.ARCHIVED):
            raise InvalidArgumentError(
                "stage", f"a new version starts in DEVELOPMENT (its artifact is not uploaded yet), not {spec.stage}"
            )
        caller = await self.allow(caller, project, Role.EDITOR, "CreateModelVersion", model_name)
        await self._may_name(caller, "produced_by", parents, "CreateModelVersion")
        await self._may_name(caller, "serving.members", _member_refs(spec.serving), "CreateModelVersion")
        async with self._store.transaction() as tx:
            reserved = await tx.reserve_version_number(project, name)
            if reserved is None:
                raise NotFoundError(f"model {model_name!r} does not exist")
            model, number = reserved
            if model.archived:  # raising rolls the reservation back
                raise FailedPreconditionError(f"model {model_name!r} is archived; it takes no new versions")
            parent_versions = await self._resolve_parents(tx, parents)
            members = await self._resolve_members(tx, _check_serving(model, spec.serving))
            serving = dataclasses.replace(spec.serving, members=tuple(m.reference for m in members))
            # An ensemble has no bytes of its own: READY at once, its members in its lineage.
            status = VersionStatus.READY if members else VersionStatus.PENDING_UPLOAD
            parent_versions = list({v.id: v for v in (*parent_versions, *members)}.values())
            now = datetime.now(UTC)
            version = ModelVersion(
                id=0,
                model_id=model.id,
                project=project,
                model=name,
                version=number,
                stage=spec.stage,
                status=status,
                status_message="",
                framework=spec.framework,
                payload_format=spec.payload_format,
                author=spec.author or caller.actor,
                description=spec.description,
                inputs=spec.inputs,
                outputs=spec.outputs,
                hyperparameters=dict(spec.hyperparameters or {}),
                dependencies=spec.dependencies,
                produced_by=(),
                code_location=spec.code_location,
                data_location=spec.data_location,
                tags=dict(spec.tags or {}),
                aliases=(),
                metrics=(),
                artifact={},
                created_at=now,
                updated_at=now,
                serving=serving,
            )
            created = await tx.insert_version(version, parent_versions)
            await tx.append_audit(
                NewAuditEvent(caller, "version.create", project, created.reference, after=snapshot(created))
            )
        return created

    def _check_version_spec(self, spec: VersionSpec) -> list[VersionRef]:
        for field in ("framework", "payload_format", "author"):
            check_text(field, getattr(spec, field), MAX_NAME)
        check_text("description", spec.description)
        _check_tensors("signature.inputs", spec.inputs)
        _check_tensors("signature.outputs", spec.outputs)
        check_json_object("hyperparameters", spec.hyperparameters or {})
        _check_dependencies("dependencies", spec.dependencies)
        _check_location("code_location", spec.code_location)
        _check_location("data_location", spec.data_location)
        check_tags("tags", dict(spec.tags or {}))
        return _check_produced_by("produced_by", spec.produced_by)

    async def _resolve_parents(self, tx: MetadataTransaction, parents: Sequence[VersionRef]) -> list[ModelVersion]:
        found = await tx.find_versions(parents)
        versions: dict[int, ModelVersion] = {}
        for i, (ref, version) in enumerate(zip(parents, found, strict=True)):
            if version is None:
                raise NotFoundError(f"produced_by[{i}]: version {ref} does not exist")
            versions[version.id] = version
        return list(versions.values())

    async def _resolve_members(self, tx: MetadataTransaction, refs: Sequence[VersionRef]) -> list[ModelVersion]:
        members = []
        for i, (ref, version) in enumerate(zip(refs, await tx.find_versions(refs), strict=True)):
            if version is None:
                raise NotFoundError(f"serving.members[{i}]: version {ref} does not exist")
            if version.status is not VersionStatus.READY:
                raise FailedPreconditionError(
                    f"serving.members[{i}]: {version.reference} is {version.status}; ensemble members must be READY"
                )
            members.append(version)
        return members

    async def get_version(self, caller: Caller, reference: str, action: str = "GetModelVersion") -> ModelVersion:
        ref = parse_reference(reference)
        identity = caller.identity
        if identity is not None and identity.scope is not None and action == "GetModelVersion":
            return await self.scoped_version(identity, ref, action)
        may_read(caller, ref.project, action)
        return await self._find_version(ref)

    async def scoped_version(self, identity: Identity, ref: VersionRef, action: str) -> ModelVersion:
        """The version a serving credential names, when it was issued for it; AccessDenied
        otherwise, also when there is no such version."""
        version = await self._store.get_version(ref)
        require_scope(identity, version.reference if version else None, action)
        assert version is not None
        return version

    async def _find_version(self, ref: VersionRef) -> ModelVersion:
        version = await self._store.get_version(ref)
        if version is None:
            raise NotFoundError(await self._why_missing(ref))
        return version

    async def _why_missing(self, ref: VersionRef) -> str:
        if await self._store.get_model(ref.project, ref.model) is None:
            return f"model {ref.model_name!r} does not exist"
        if ref.alias is not None:
            return f"model {ref.model_name!r} has no alias {ref.alias!r}"
        if ref.version is not None:
            return f"model {ref.model_name!r} has no version {ref.version}"
        return f"model {ref.model_name!r} has no READY version yet"

    async def list_versions(
        self, caller: Caller, model_name: str, size: int, token: str
    ) -> tuple[list[ModelVersion], str]:
        project, name = parse_model_name("model", model_name)
        may_read(caller, project, "ListModelVersions")
        limit = page_size(size)
        below = decode_token("versions", token, int)
        if below is None:
            await self.get_model(caller, model_name)
        versions = await self._store.list_versions(project, name, int(below or 2**62), limit + 1)
        return _page(versions, limit, lambda v: encode_token("versions", v.version))

    async def update_version(self, caller: Caller, reference: str, changes: dict[str, Any]) -> ModelVersion:
        ref = parse_reference(reference)
        if not changes:
            raise InvalidArgumentError("update_mask", f"names no field; use any of {', '.join(sorted(VERSION_FIELDS))}")
        unknown = sorted(set(changes) - VERSION_FIELDS)
        if unknown:
            raise InvalidArgumentError(
                "update_mask", f"{unknown[0]!r} cannot be updated; use any of {', '.join(sorted(VERSION_FIELDS))}"
            )
        spec_fields = {k: v for k, v in changes.items() if k != "signature"}
        if "signature" in changes:
            spec_fields["inputs"], spec_fields["outputs"] = changes["signature"]
        parents = self._check_version_spec(dataclasses.replace(VersionSpec(), **spec_fields))
        caller = await self.allow(caller, ref.project, Role.EDITOR, "UpdateModelVersion", reference)
        await self._may_name(caller, "produced_by", parents, "UpdateModelVersion")
        async with self._store.transaction() as tx:
            version = await self._lock_version(tx, ref)
            parent_ids = None
            if "produced_by" in changes:
                parent_ids = [parent.id for parent in await self._resolve_parents(tx, parents)]
                if version.id in parent_ids:
                    raise InvalidArgumentError("produced_by", f"{version.reference} cannot be produced by itself")
            columns = {k: v for k, v in spec_fields.items() if k != "produced_by"}
            updated = await tx.update_version(version, columns, parent_ids)
            await tx.append_audit(
                NewAuditEvent(
                    caller, "version.update", version.project, version.reference, snapshot(version), snapshot(updated)
                )
            )
        return updated

    async def search_versions(
        self, caller: Caller, filter_text: str, order_by: str, project: str, size: int, token: str
    ) -> tuple[list[ModelVersion], str]:
        if project:
            check_name("project", project)
            may_read(caller, project, "SearchModelVersions")
        query = SearchQuery(
            expr=search.parse_filter(filter_text) if filter_text.strip() else None,
            order=search.parse_order_by(order_by),
            project=project or None,
            page_size=page_size(size),
            page_token=token,
            visible=None if project else _visible(caller.identity),
        )
        return await self._store.search_versions(query)

    # Metrics

    async def log_metrics(self, caller: Caller, reference: str, points: Sequence[MetricPoint]) -> ModelVersion:
        ref = parse_reference(reference)
        if not points:
            raise InvalidArgumentError("metrics", "is empty; log at least one metric")
        if len(points) > MAX_METRICS_PER_CALL:
            raise InvalidArgumentError("metrics", f"has {len(points)} entries; at most {MAX_METRICS_PER_CALL} allowed")
        structured_bytes = 0
        for i, point in enumerate(points):
            check_key(f"metrics[{i}].name", point.name)
            if point.number is not None:
                check_number(f"metrics[{i}].number", point.number)
            elif point.structured is not None:
                structured_bytes += check_json_object(f"metrics[{i}].structured", point.structured)
            else:
                raise InvalidArgumentError(f"metrics[{i}]", "has no value: set number or structured")
            if point.step < 0:
                raise InvalidArgumentError(f"metrics[{i}].step", f"must not be negative, got {point.step}")
        if structured_bytes > MAX_METRICS_JSON_BYTES:
            raise InvalidArgumentError(
                "metrics",
                f"hold {structured_bytes} bytes of structured values as JSON; at most {MAX_METRICS_JSON_BYTES} a call",
            )
        caller = await self.allow(caller, ref.project, Role.EDITOR, "LogMetrics", reference)
        async with self._store.transaction() as tx:
            version = await self._lock_version(tx, ref)
            _check_structured_total(version, points)
            updated = await tx.add_metrics(version, points)
            logged = {p.name: p.number if p.number is not None else p.structured for p in points}
            await tx.append_audit(
                NewAuditEvent(caller, "version.metrics", version.project, version.reference, after={"metrics": logged})
            )
        return updated

    async def metric_history(self, caller: Caller, reference: str, name: str) -> list[MetricPoint]:
        check_key("name", name)
        version = await self.get_version(caller, reference, "GetMetricHistory")
        return await self._store.metric_history(version, name)

    # Stages and aliases

    async def transition_stage(self, caller: Caller, reference: str, stage: Stage, reason: str) -> ModelVersion:
        ref = parse_reference(reference)
        check_text("reason", reason)
        caller = await self.allow(caller, ref.project, Role.EDITOR, "TransitionStage", reference)
        async with self._store.transaction() as tx:
            version = await self._lock_version(tx, ref)
            check_transition(version, stage)
            if Stage.PRODUCTION in (stage, version.stage):
                action = f"TransitionStage {version.stage} -> {stage}"
                caller = await self.allow(caller, ref.project, Role.ADMIN, action, version.reference)
            updated = await tx.update_version(version, {"stage": stage})
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "version.stage",
                    version.project,
                    version.reference,
                    before={"stage": version.stage.value},
                    after={"stage": stage.value},
                    reason=reason,
                )
            )
        return updated

    async def set_alias(self, caller: Caller, model_name: str, alias: str, number: int) -> tuple[ModelVersion, int]:
        project, name = parse_model_name("model", model_name)
        check_alias("alias", alias)
        if number < 1:
            raise InvalidArgumentError("version", f"must be a positive version number, got {number}")
        caller = await self._allow_alias(caller, project, alias, "SetAlias", f"{model_name}@{alias}")
        async with self._store.transaction() as tx:
            model = await self._lock_model(tx, project, name)
            version = await self._lock_version(tx, VersionRef(project, name, version=number))
            if version.status is VersionStatus.FAILED:
                raise FailedPreconditionError(f"{version.reference} failed to upload; an alias cannot point at it")
            previous = await tx.set_alias(model, alias, version)
            await tx.append_audit(
                NewAuditEvent(
                    caller,
                    "alias.set",
                    project,
                    f"{model_name}@{alias}",
                    before={"version": previous} if previous else None,
                    after={"version": number},
                )
            )
        return await self._find_version(VersionRef(project, name, version=number)), previous or 0

    async def delete_alias(self, caller: Caller, model_name: str, alias: str) -> int:
        project, name = parse_model_name("model", model_name)
        check_alias("alias", alias)
        caller = await self._allow_alias(caller, project, alias, "DeleteAlias", f"{model_name}@{alias}")
        async with self._store.transaction() as tx:
            model = await self._lock_model(tx, project, name)
            previous = await tx.delete_alias(model, alias)
            if previous is None:
                raise NotFoundError(f"model {model_name!r} has no alias {alias!r}")
            await tx.append_audit(
                NewAuditEvent(caller, "alias.delete", project, f"{model_name}@{alias}", before={"version": previous})
            )
        return previous

    async def _allow_alias(self, caller: Caller, project: str, alias: str, action: str, resource: str) -> Caller:
        """Protected aliases (``champion``...) move only by a project ADMIN; others by an EDITOR."""
        if alias in self._protected_aliases:
            return await self.allow(caller, project, Role.ADMIN, f"{action} (protected alias {alias!r})", resource)
        return await self.allow(caller, project, Role.EDITOR, action, resource)

    # Lineage and comparison

    async def lineage(
        self, caller: Caller, reference: str, upstream: bool, downstream: bool, depth: int
    ) -> tuple[ModelVersion, list[LineageNode], list[LineageEdge], int]:
        """The version's lineage as far as ``caller`` may read it, and how many versions were left out."""
        if depth < 0 or depth > MAX_LINEAGE_DEPTH:
            raise InvalidArgumentError("depth", f"must be between 0 and {MAX_LINEAGE_DEPTH}, got {depth}")
        version = await self.get_version(caller, reference, "GetLineage")
        nodes, edges = await self._store.lineage(version, upstream, downstream, depth or 10)
        visible = _visible(caller.identity)
        if visible is None:
            return version, nodes, edges, 0
        return version, *_readable_lineage(version.reference, nodes, edges, visible)

    async def compare(self, caller: Caller, references: Sequence[str]) -> list[ModelVersion]:
        if not 2 <= len(references) <= MAX_COMPARED:
            raise InvalidArgumentError("references", f"needs 2 to {MAX_COMPARED} references, got {len(references)}")
        return [await self.get_version(caller, reference, "CompareVersions") for reference in references]

    # Audit

    async def list_audit_events(
        self, caller: Caller, query: AuditQuery, size: int, token: str
    ) -> tuple[list[AuditEvent], str]:
        _check_audit_query(caller, query, "ListAuditEvents")
        limit = page_size(size)
        before = decode_token("audit", token, int)
        events = await self._store.list_audit_events(query, int(before or 2**62), limit + 1)
        return _page(events, limit, lambda e: encode_token("audit", e.id))

    async def watch_events(
        self, caller: Caller, feed: EventFeed, query: AuditQuery, after_id: int
    ) -> AsyncIterator[AuditEvent]:
        """Committed events matching ``query``: first those after ``after_id`` (if set), then live ones.

        Ends when the feed ends; raises ConflictError (ABORTED) when it ended on an error, naming
        the id to resume after.
        """
        _check_audit_query(caller, query, "WatchEvents")
        if after_id < 0:
            raise InvalidArgumentError("after_id", f"must not be negative, got {after_id}")
        last = after_id
        async with feed.subscribe() as subscription:
            replayed: set[int] = set()
            while after_id:
                page = await self._store.audit_events_after(query, last, 500)
                for event in page:
                    replayed.add(event.id)
                    last = event.id
                    yield event
                if len(page) < 500:
                    break
            while (event_id := await subscription.next()) is not None:
                if event_id in replayed:
                    continue
                found = await self._store.find_audit_event(event_id, query)
                if found is not None:
                    last = max(last, found.id)
                    yield found
            if subscription.error:
                raise ConflictError(f"watch ended: {subscription.error}; watch again with after_id={last}")

    # Artifacts (called by the registry service)

    async def commit_artifact(self, caller: Caller, reference: str, artifact: dict[str, Any]) -> ModelVersion:
        ref = parse_reference(reference)
        files = artifact.get("files", [])
        if not files:
            raise InvalidArgumentError("artifact.files", "is empty; a READY version has at least one file")
        if len(files) > MAX_FILES:
            raise InvalidArgumentError("artifact.files", f"has {len(files)} entries; at most {MAX_FILES} allowed")
        paths = set()
        for i, entry in enumerate(files):
            if not entry.get("path") or entry["path"] in paths:
                raise InvalidArgumentError(f"artifact.files[{i}].path", "is empty or repeated")
            paths.add(entry["path"])
            for part in ("path", "storage_key", "content_type"):
                check_text(f"artifact.files[{i}].{part}", entry.get(part, ""), MAX_LOCATION)
            digest = entry.get("sha256", "")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise InvalidArgumentError(f"artifact.files[{i}].sha256", "must be 64 lowercase hex digits")
            if entry.get("size", -1) < 0:
                raise InvalidArgumentError(f"artifact.files[{i}].size", "must not be negative")
        caller = await self._as_registry(caller, "CommitArtifact", ref.project, reference)
        async with self._store.transaction() as tx:
            version = await self._lock_version(tx, ref)
            if version.status is VersionStatus.READY:
                if version.artifact.get("files") == files:
                    return version  # the same commit again: idempotent
                raise FailedPreconditionError(f"{version.reference} is already READY with a different artifact")
            if version.status is VersionStatus.FAILED:
                raise FailedPreconditionError(f"{version.reference} has FAILED; register a new version")
            updated = await tx.update_version(
                version, {"status": VersionStatus.READY, "status_message": "", "artifact": artifact}
            )
            await tx.append_audit(
                NewAuditEvent(caller, "version.ready", version.project, version.reference, after={"artifact": artifact})
            )
        return updated

    async def fail_upload(self, caller: Caller, reference: str, reason: str) -> ModelVersion:
        ref = parse_reference(reference)
        check_text("reason", reason)
        caller = await self._as_registry(caller, "FailUpload", ref.project, reference)
        async with self._store.transaction() as tx:
            version = await self._lock_version(tx, ref)
            if version.status is not VersionStatus.PENDING_UPLOAD:
                raise FailedPreconditionError(f"{version.reference} is {version.status}, not PENDING_UPLOAD")
            updated = await tx.update_version(
                version, {"status": VersionStatus.FAILED, "status_message": reason or "upload failed"}
            )
            await tx.append_audit(
                NewAuditEvent(
                    caller, "version.failed", version.project, version.reference, reason=reason or "upload failed"
                )
            )
        return updated

    # Helpers

    async def _lock_model(self, tx: MetadataTransaction, project: str, name: str) -> Model:
        model = await tx.lock_model(project, name)
        if model is None:
            raise NotFoundError(f"model '{project}/{name}' does not exist")
        return model

    async def _lock_version(self, tx: MetadataTransaction, ref: VersionRef) -> ModelVersion:
        version = await tx.lock_version(ref)
        if version is None:
            raise NotFoundError(await self._why_missing(ref))
        return version


def _check_audit_query(caller: Caller, query: AuditQuery, action: str) -> None:
    if query.project:
        check_name("project", query.project)
    check_text("resource", query.resource, MAX_REFERENCE)
    check_text("actor", query.actor, MAX_NAME)
    identity = caller.identity
    if query.project:
        may_read(caller, query.project, action)
    elif identity is not None and not identity.sees_everything:
        raise AccessDenied(
            f"{action}: {identity.principal} may read the audit log of one project at a time; set project", "", action
        )


def may_read(caller: Caller, project: str, action: str) -> None:
    """AccessDenied unless ``caller`` may read ``project`` (anyone may when authentication is off)."""
    if caller.identity is not None:
        decide(caller.identity, project, Role.VIEWER, action)


def _visible(identity: Identity | None) -> frozenset[str] | None:
    """The projects ``identity`` may read (None: all of them)."""
    if identity is None or identity.sees_everything:
        return None
    return frozenset(identity.roles)


def _readable_lineage(
    root: str, nodes: list[LineageNode], edges: list[LineageEdge], visible: frozenset[str]
) -> tuple[list[LineageNode], list[LineageEdge], int]:
    """The part of a lineage reached from ``root`` through versions of ``visible`` projects only:
    a reference in another project is not shown, nor what lies beyond it."""
    readable = {n.reference for n in nodes if n.reference.partition("/")[0] in visible}
    neighbours: dict[str, set[str]] = {}
    for edge in edges:
        if edge.parent in readable and edge.child in readable:
            neighbours.setdefault(edge.parent, set()).add(edge.child)
            neighbours.setdefault(edge.child, set()).add(edge.parent)
    kept, todo = {root}, [root]
    while todo:
        for neighbour in neighbours.get(todo.pop(), set()) - kept:
            kept.add(neighbour)
            todo.append(neighbour)
    shown = [n for n in nodes if n.reference in kept]
    return shown, [e for e in edges if e.parent in kept and e.child in kept], len(nodes) - len(shown)


def _check_structured_total(version: ModelVersion, points: Sequence[MetricPoint]) -> None:
    """A version's latest structured metrics are shown with it in every response, so they are
    bounded together. A point older than the latest of its name does not replace it, so the larger
    of the two counts; a call that does not grow the total (over the bound from before it) passes."""
    sizes = {p.name: _json_size(p.structured) for p in version.metrics}
    before = sum(sizes.values())
    for point in points:
        sizes[point.name] = max(sizes.get(point.name, 0), _json_size(point.structured))
    total = sum(sizes.values())
    if total > MAX_METRICS_JSON_BYTES and total > before:
        raise InvalidArgumentError(
            "metrics",
            f"would give {version.reference} {total} bytes of structured metrics as JSON; "
            f"at most {MAX_METRICS_JSON_BYTES} a version",
        )


def _json_size(value: dict[str, Any] | None) -> int:
    return 0 if value is None else len(json.dumps(value))


def _page(items: list[Any], limit: int, token_of: Any) -> tuple[list[Any], str]:
    if len(items) > limit:
        return items[:limit], token_of(items[limit - 1])
    return items, ""
