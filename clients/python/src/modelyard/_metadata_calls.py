"""The calls of the metadata service's port: MetadataService (projects, models, versions,
metrics, stages, aliases, lineage, audit) and AuthService (principals, tokens, project roles),
written once for ``Client`` and ``AsyncClient`` (see ``_calls``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Unpack

from modelyard import _convert as cv
from modelyard import _convert_auth as ca
from modelyard._calls import MAX_PAGE, Calls, Pages, R, Stream, Unary, iterating, nothing, unary
from modelyard._connection import AUTH
from modelyard._transport import platform_info_call
from modelyard._types import (
    AliasChange,
    AuditEvent,
    Comparison,
    Lineage,
    LineageDirection,
    MetricPoint,
    Model,
    ModelFields,
    ModelVersion,
    NewToken,
    PlatformInfo,
    Principal,
    PrincipalKind,
    Project,
    ProjectRole,
    ProjectSummary,
    RoleBinding,
    Stage,
    Token,
    VersionConsumers,
    VersionFields,
    VersionPage,
    WhoAmI,
)
from modelyard._wire import time_to_pb
from modelyard.errors import InvalidArgumentError
from modelyard.v1 import auth_pb2, metadata_pb2

__all__ = ["MetadataCalls", "version_of"]


def _split_model_name(name: str) -> tuple[str, str]:
    """ "project/model" -> (project, model); the metadata service checks the names themselves."""
    project, _, model = name.partition("/")
    problem = _model_name_problem(name)
    if problem:
        raise InvalidArgumentError(f"name: {problem}: use project/model")
    return project, model


def _model_name_problem(name: str) -> str:
    """What is wrong with ``name`` as "project/model", in words; empty when nothing is."""
    project, slash, model = name.partition("/")
    if not name:
        return "is required"
    if not slash:
        return f"{name!r} has no project"
    if not project:
        return f"{name!r} has no project before '/'"
    if not model:
        return f"{name!r} has no model after '/'"
    if "/" in model:
        return f"{name!r} has more than one '/'"
    return ""


def _project(response: Any) -> Project:
    return cv.project_from_pb(response.project)


def _model(response: Any) -> Model:
    return cv.model_from_pb(response.model)


def version_of(response: Any) -> ModelVersion:
    """The version a response holds in its ``version`` field."""
    return cv.version_from_pb(response.version)


def _principal(field: str) -> Callable[[Any], Principal]:
    """Converts the Principal held in the response's ``field``."""
    return lambda response: ca.principal_from_pb(getattr(response, field))


# --- the methods, written once -------------------------------------------------------------


class MetadataCalls(Calls[R]):
    """Every MetadataService and AuthService method."""

    @unary
    def platform_info(self) -> Unary[PlatformInfo]:
        """Where the metadata service says the registry and deploy services are (empty when it
        was not told), and its version. The client asks this itself when it needs one of those
        services and was given no address for it."""
        return platform_info_call()

    # Projects

    @unary
    def create_project(self, name: str, *, description: str = "", owner: str = "") -> Unary[Project]:
        """Creates a project; AlreadyExistsError when the name is taken."""
        request = metadata_pb2.CreateProjectRequest(name=name, description=description, owner=owner)
        return Unary("CreateProject", request, _project)

    @unary
    def get_project(self, name: str) -> Unary[Project]:
        return Unary("GetProject", metadata_pb2.GetProjectRequest(name=name), _project)

    @iterating
    def list_projects(self) -> Pages[Project]:
        """Every project, fetching pages as the iteration goes."""
        return Pages("ListProjects", metadata_pb2.ListProjectsRequest(), lambda r: map(cv.project_from_pb, r.projects))

    @unary
    def project_summary(self, project: str, *, metric: str = "") -> Unary[ProjectSummary]:
        """Counts of models and versions by stage and owner; with ``metric``, its min and max."""
        request = metadata_pb2.GetProjectSummaryRequest(project=project, metric=metric)
        return Unary("GetProjectSummary", request, cv.summary_from_pb)

    # Models

    @unary
    def create_model(self, name: str, **fields: Unpack[ModelFields]) -> Unary[Model]:
        """Creates model ``name`` ("project/model"); ``kind`` defaults to STANDARD."""
        model = cv.model_to_pb(*_split_model_name(name), fields)
        return Unary("CreateModel", metadata_pb2.CreateModelRequest(model=model), _model)

    @unary
    def get_model(self, name: str) -> Unary[Model]:
        return Unary("GetModel", metadata_pb2.GetModelRequest(name=name), _model)

    @iterating
    def list_models(self, project: str, *, include_archived: bool = False) -> Pages[Model]:
        """In pages as large as the server allows: one call lists most projects' models, each
        with its lifecycle indicator (a project page's table)."""
        request = metadata_pb2.ListModelsRequest(project=project, include_archived=include_archived, page_size=MAX_PAGE)
        return Pages("ListModels", request, lambda r: map(cv.model_from_pb, r.models))

    @unary
    def update_model(self, name: str, *, reason: str = "", **fields: Unpack[ModelFields]) -> Unary[Model]:
        """Writes the fields given as keywords, and only those: ``update_model("p/m", team="risk")``;
        ``reason`` is recorded in the audit event."""
        model = cv.model_to_pb(*_split_model_name(name), fields)
        request = metadata_pb2.UpdateModelRequest(model=model, reason=reason)
        request.update_mask.paths.extend(fields)
        return Unary("UpdateModel", request, _model)

    @unary
    def archive_model(self, name: str, *, reason: str = "") -> Unary[Model]:
        return Unary("ArchiveModel", metadata_pb2.ArchiveModelRequest(name=name, reason=reason), _model)

    # Versions

    @unary
    def create_version(
        self, model: str, *, stage: Stage | str | None = None, **fields: Unpack[VersionFields]
    ) -> Unary[ModelVersion]:
        """Registers a new version of ``model`` ("project/model"), PENDING_UPLOAD until its artifact
        is uploaded; ``stage`` defaults to DEVELOPMENT. Returns it with its assigned number."""
        request = metadata_pb2.CreateModelVersionRequest(model=model)
        cv.fill_version_fields(request, fields)
        if stage is not None:
            request.stage = cv.stage_to_pb(Stage.parse(stage))
        return Unary("CreateModelVersion", request, version_of)

    @unary
    def get_version(self, reference: str) -> Unary[ModelVersion]:
        """The version ``reference`` names: "p/m:3", "p/m@alias" or "p/m" (latest READY)."""
        return Unary("GetModelVersion", metadata_pb2.GetModelVersionRequest(reference=reference), version_of)

    @iterating
    def list_versions(self, model: str) -> Pages[ModelVersion]:
        """The versions of ``model``, newest first."""
        request = metadata_pb2.ListModelVersionsRequest(model=model)
        return Pages("ListModelVersions", request, lambda r: map(cv.version_from_pb, r.versions))

    @unary
    def update_version(
        self, reference: str, *, reason: str = "", **fields: Unpack[VersionFields]
    ) -> Unary[ModelVersion]:
        """Writes the fields given as keywords, and only those; each replaces the whole field.
        ``reason`` is recorded in the audit event."""
        request = metadata_pb2.UpdateModelVersionRequest(reference=reference, reason=reason)
        cv.fill_version_fields(request.version, fields)
        request.update_mask.paths.extend(fields)
        return Unary("UpdateModelVersion", request, version_of)

    @iterating
    def search_versions(
        self, filter: str = "", *, order_by: str = "", project: str = "", limit: int | None = None
    ) -> Pages[ModelVersion]:
        """Versions matching ``filter`` (grammar: docs/search.md), e.g.
        ``'stage = "PRODUCTION" AND metrics.accuracy >= 0.9'``; at most ``limit`` of them."""
        request = metadata_pb2.SearchModelVersionsRequest(filter=filter, order_by=order_by, project=project)
        return Pages("SearchModelVersions", request, lambda r: map(cv.version_from_pb, r.versions), limit)

    @unary
    def search_page(
        self, filter: str = "", *, order_by: str = "", project: str = "", page_size: int = 0, page_token: str = ""
    ) -> Unary[VersionPage]:
        """One page of ``search_versions`` and the token of the next, for callers that fetch
        pages on demand (a web page's "next page" link); ``page_size`` 0 is the server's."""
        request = metadata_pb2.SearchModelVersionsRequest(
            filter=filter, order_by=order_by, project=project, page_size=page_size, page_token=page_token
        )

        def convert(response: metadata_pb2.SearchModelVersionsResponse) -> VersionPage:
            return VersionPage(tuple(map(cv.version_from_pb, response.versions)), response.next_page_token)

        return Unary("SearchModelVersions", request, convert)

    # Metrics

    @unary
    def log_metrics(
        self,
        reference: str,
        metrics: Mapping[str, float | Mapping[str, Any]],
        *,
        step: int = 0,
        time: datetime | None = None,
    ) -> Unary[ModelVersion]:
        """Records metric values: a number is a scalar metric, a dict a structured one
        (``{"accuracy": 0.93, "importance": {"age": 0.3}}``). ``time`` defaults to the server's."""
        points = [cv.metric_to_pb(name, value, step, time) for name, value in metrics.items()]
        request = metadata_pb2.LogMetricsRequest(reference=reference, metrics=points)
        return Unary("LogMetrics", request, version_of)

    @unary
    def metric_history(self, reference: str, name: str) -> Unary[list[MetricPoint]]:
        """Every value logged for metric ``name``, oldest first (by step, then time)."""
        request = metadata_pb2.GetMetricHistoryRequest(reference=reference, name=name)
        return Unary("GetMetricHistory", request, lambda r: [cv.metric_from_pb(p) for p in r.points])

    # Stages and aliases

    @unary
    def transition_stage(self, reference: str, stage: Stage | str, *, reason: str = "") -> Unary[ModelVersion]:
        """Moves a version to ``stage``; FailedPreconditionError for a forbidden transition."""
        request = metadata_pb2.TransitionStageRequest(
            reference=reference, stage=cv.stage_to_pb(Stage.parse(stage)), reason=reason
        )
        return Unary("TransitionStage", request, version_of)

    @unary
    def set_alias(self, model: str, alias: str, version: int, *, reason: str = "") -> Unary[AliasChange]:
        """Points ``alias`` of ``model`` at ``version``, creating or moving it atomically."""
        request = metadata_pb2.SetAliasRequest(model=model, alias=alias, version=version, reason=reason)

        def convert(response: metadata_pb2.SetAliasResponse) -> AliasChange:
            previous = response.previous_version or None
            return AliasChange(model, alias, cv.version_from_pb(response.version), previous)

        return Unary("SetAlias", request, convert)

    @unary
    def delete_alias(self, model: str, alias: str, *, reason: str = "") -> Unary[AliasChange]:
        request = metadata_pb2.DeleteAliasRequest(model=model, alias=alias, reason=reason)
        return Unary("DeleteAlias", request, lambda r: AliasChange(model, alias, None, r.previous_version or None))

    # Lineage, comparison

    @unary
    def lineage(
        self, reference: str, *, direction: LineageDirection | str = LineageDirection.BOTH, depth: int = 10
    ) -> Unary[Lineage]:
        """The versions ``reference`` is produced by (upstream) and/or that it feeds (downstream),
        up to ``depth`` hops (1..50)."""
        request = metadata_pb2.GetLineageRequest(
            reference=reference, direction=cv.direction_to_pb(LineageDirection.parse(direction)), depth=depth
        )
        return Unary("GetLineage", request, cv.lineage_from_pb)

    @unary
    def compare(self, references: Iterable[str]) -> Unary[Comparison]:
        """Side-by-side params, metrics and metadata of 2..20 versions, in the order given."""
        if isinstance(references, str):
            raise TypeError("references: expected a list of references, got a string")
        request = metadata_pb2.CompareVersionsRequest(references=list(references))
        return Unary("CompareVersions", request, cv.comparison_from_pb)

    @unary
    def version_consumers(self, reference: str) -> Unary[VersionConsumers]:
        """Who consumes the version ``reference`` names: each principal that downloaded it (a
        pull, ``modelyard.load``) or deploys it, with its teams, and how many distinct teams."""
        request = metadata_pb2.ListVersionConsumersRequest(reference=reference)
        return Unary("ListVersionConsumers", request, cv.consumers_from_pb)

    # Audit log

    @iterating
    def audit_events(
        self,
        *,
        project: str = "",
        resource: str = "",
        actor: str = "",
        since: datetime | None = None,
        limit: int | None = None,
    ) -> Pages[AuditEvent]:
        """Audit events, newest first; every filter is optional. ``resource`` is a name or
        reference prefix such as "fraud/scorer"."""
        request = metadata_pb2.ListAuditEventsRequest(
            project=project, resource=resource, actor=actor, since=time_to_pb(since) if since else None
        )
        return Pages("ListAuditEvents", request, lambda r: map(cv.audit_event_from_pb, r.events), limit)

    @iterating
    def watch_events(self, *, project: str = "", resource: str = "", after_id: int = 0) -> Stream[AuditEvent]:
        """Audit events as they are committed, without end: first those with an id above
        ``after_id`` (0: live ones only). Has no deadline; stop by leaving the loop."""
        request = metadata_pb2.WatchEventsRequest(project=project, resource=resource, after_id=after_id)
        return Stream("WatchEvents", request, lambda r: cv.audit_event_from_pb(r.event))

    # Authentication and project roles (AuthService, on the metadata service's port)

    @unary
    def whoami(self) -> Unary[WhoAmI]:
        """The principal the client's token stands for, its teams and its role on each project."""
        return Unary("WhoAmI", auth_pb2.WhoAmIRequest(), ca.whoami_from_pb, service=AUTH)

    @unary
    def create_principal(
        self, name: str, kind: PrincipalKind | str = PrincipalKind.USER, admin: bool = False
    ) -> Unary[Principal]:
        """Creates a user, team or service principal (platform admin only); ``admin`` makes it a
        platform admin."""
        request = auth_pb2.CreatePrincipalRequest(
            name=name, kind=ca.principal_kind_to_pb(PrincipalKind.parse(kind)), admin=admin
        )
        return Unary("CreatePrincipal", request, _principal("principal"), service=AUTH)

    @unary
    def principals(self) -> Unary[list[Principal]]:
        """Every principal (platform admin only)."""
        return Unary(
            "ListPrincipals",
            auth_pb2.ListPrincipalsRequest(),
            lambda r: [ca.principal_from_pb(p) for p in r.principals],
            service=AUTH,
        )

    @unary
    def add_team_member(self, team: str, member: str) -> Unary[Principal]:
        """Makes ``member`` inherit the roles of ``team``; returns the team with its members."""
        request = auth_pb2.AddTeamMemberRequest(team=team, member=member)
        return Unary("AddTeamMember", request, _principal("team"), service=AUTH)

    @unary
    def remove_team_member(self, team: str, member: str) -> Unary[Principal]:
        request = auth_pb2.RemoveTeamMemberRequest(team=team, member=member)
        return Unary("RemoveTeamMember", request, _principal("team"), service=AUTH)

    @unary
    def create_token(self, principal: str = "", description: str = "", ttl: timedelta | None = None) -> Unary[NewToken]:
        """A new bearer token of ``principal`` (empty: the caller), expiring after ``ttl`` (None:
        never). Its ``secret`` is returned this once: the server keeps only a digest."""
        if ttl is not None and ttl <= timedelta(0):
            raise InvalidArgumentError(f"ttl: {ttl} is not positive (None: the token does not expire)")
        request = auth_pb2.CreateTokenRequest(
            principal=principal, description=description, ttl=ca.ttl_to_pb(ttl) if ttl else None
        )
        return Unary("CreateToken", request, ca.new_token_from_pb, service=AUTH)

    @unary
    def tokens(self, principal: str = "", include_revoked: bool = False) -> Unary[list[Token]]:
        """The tokens of ``principal`` (empty: the caller), revoked ones too if asked."""
        request = auth_pb2.ListTokensRequest(principal=principal, include_revoked=include_revoked)
        return Unary("ListTokens", request, lambda r: [ca.token_from_pb(t) for t in r.tokens], service=AUTH)

    @unary
    def revoke_token(self, id: str) -> Unary[Token]:
        """Revokes token ``id`` at once: calls carrying it are UNAUTHENTICATED from now on."""
        request = auth_pb2.RevokeTokenRequest(id=id)
        return Unary("RevokeToken", request, lambda r: ca.token_from_pb(r.token), service=AUTH)

    @unary
    def set_project_role(self, project: str, principal: str, role: ProjectRole | str) -> Unary[RoleBinding]:
        """Gives ``principal`` (a user, team or service) ``role`` on ``project``, replacing the
        role it had there; project ADMIN or platform admin only."""
        request = auth_pb2.SetProjectRoleRequest(
            project=project, principal=principal, role=ca.role_to_pb(ProjectRole.parse(role))
        )
        return Unary("SetProjectRole", request, lambda r: ca.role_binding_from_pb(r.binding), service=AUTH)

    @unary
    def remove_project_role(self, project: str, principal: str) -> Unary[None]:
        request = auth_pb2.RemoveProjectRoleRequest(project=project, principal=principal)
        return Unary("RemoveProjectRole", request, nothing, service=AUTH)

    @unary
    def project_roles(self, project: str) -> Unary[list[RoleBinding]]:
        """Who has which role on ``project`` (as granted, not through teams)."""
        request = auth_pb2.ListProjectRolesRequest(project=project)
        return Unary(
            "ListProjectRoles", request, lambda r: [ca.role_binding_from_pb(b) for b in r.bindings], service=AUTH
        )
