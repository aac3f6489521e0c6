"""The metadata client, written once for both sync and async use.

Each public method is written once, in ``_ClientBase``: it builds the request and says how to
convert the response (a ``_Unary``, ``_Pages`` or ``_Stream`` description). The descriptors
``_unary`` and ``_iterating`` hand that description to the client the method is read from:
``Client`` runs it on a blocking channel and returns the result, ``AsyncClient`` on an asyncio
channel and returns a coroutine (or an async iterator). Their ``__get__`` overloads keep the
type hints truthful: ``Client().get_version`` is ``(reference: str) -> ModelVersion``,
``AsyncClient().get_version`` is ``(reference: str) -> Awaitable[ModelVersion]``.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, Unpack, cast, final, overload

import grpc
import grpc.aio

from modelyard import _convert as cv
from modelyard._tls import TLSConfig, open_aio_channel, open_channel
from modelyard._transfer import Progress, Transfers
from modelyard._types import (
    AliasChange,
    Artifact,
    ArtifactStatus,
    AuditEvent,
    Authorization,
    Comparison,
    Deployment,
    DeploymentRevision,
    DeploymentRuntime,
    DeploymentState,
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
    Signature,
    Stage,
    Token,
    VersionFields,
    WhoAmI,
)
from modelyard.errors import (
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    ModelyardError,
    Reachable,
    UnavailableError,
    from_rpc_error,
)
from modelyard.v1 import (
    auth_pb2,
    auth_pb2_grpc,
    deploy_pb2,
    deploy_pb2_grpc,
    metadata_pb2,
    metadata_pb2_grpc,
    registry_pb2_grpc,
)

if TYPE_CHECKING:
    from google.protobuf.message import Message
    from numpy.typing import ArrayLike

    from modelyard._inference import DeploymentRouter
    from modelyard.predictors import Arrays

__all__ = ["AsyncClient", "Client", "connect", "connect_async"]

TARGET_ENV = "MODELYARD_METADATA_ADDR"
ACTOR_ENV = "MODELYARD_ACTOR"
TOKEN_ENV = "MODELYARD_TOKEN"
DEFAULT_TARGET = "127.0.0.1:7410"
REGISTRY_ENV = "MODELYARD_REGISTRY_ADDR"
DEFAULT_REGISTRY = "127.0.0.1:7411"
DEPLOY_ENV = "MODELYARD_DEPLOY_ADDR"
DEFAULT_DEPLOY = "127.0.0.1:7412"
DEFAULT_TIMEOUT = 30.0
ACTOR_HEADER = "modelyard-actor"
REQUEST_ID_HEADER = "modelyard-request-id"
AUTHORIZATION_HEADER = "authorization"

_SERVICE = metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"].full_name
_AUTH_SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
_DEPLOY_SERVICE = deploy_pb2.DESCRIPTOR.services_by_name["DeployService"].full_name
# Reads: safe to send again when the server (or a store behind it) was unavailable.
IDEMPOTENT_METHODS = frozenset(
    {
        "GetProject",
        "ListProjects",
        "GetProjectSummary",
        "GetModel",
        "ListModels",
        "GetModelVersion",
        "ListModelVersions",
        "SearchModelVersions",
        "GetMetricHistory",
        "GetLineage",
        "CompareVersions",
        "ListAuditEvents",
        "GetPlatformInfo",
    }
)
# gRPC's own retry machinery, configured per method: the same for the blocking and asyncio
# channels, bounded by the call's deadline, with jittered exponential backoff.
_RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
IDEMPOTENT_DEPLOY_METHODS = frozenset({"GetDeployment", "ListDeployments", "ListDeploymentRevisions"})
# Authorize is left out: it writes audit events (denials, granted mutations).
IDEMPOTENT_AUTH_METHODS = frozenset({"WhoAmI", "ListPrincipals", "ListTokens", "ListProjectRoles"})


def _channel_options(services: Mapping[str, frozenset[str]]) -> list[tuple[str, Any]]:
    """Options of a channel whose calls to ``services`` (full name -> methods) are retried."""
    names = [{"service": service, "method": m} for service, methods in services.items() for m in sorted(methods)]
    config = {"methodConfig": [{"name": names, "retryPolicy": _RETRY_POLICY}]}
    return [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(config)),
        ("grpc.primary_user_agent", "modelyard-python"),
    ]


# AuthService is served on the metadata service's port: one channel for both.
_CHANNEL_OPTIONS = _channel_options({_SERVICE: IDEMPOTENT_METHODS, _AUTH_SERVICE: IDEMPOTENT_AUTH_METHODS})
_DEPLOY_CHANNEL_OPTIONS = _channel_options({_DEPLOY_SERVICE: IDEMPOTENT_DEPLOY_METHODS})
METADATA, DEPLOY, AUTH, REGISTRY = "metadata", "deploy", "auth", "registry"
_WAIT_POLL_SECONDS = 0.25
_MAX_PAGE = 1000

T = TypeVar("T")
P = ParamSpec("P")


# --- what a method asks for ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unary(Generic[T]):
    """One request, one response, converted by ``convert``; ``actor`` overrides the client's;
    ``service`` is METADATA, AUTH or DEPLOY."""

    method: str
    request: Message
    convert: Callable[[Any], T]
    actor: str | None = None
    service: str = METADATA


@dataclass(frozen=True, slots=True)
class _Pages(Generic[T]):
    """A list RPC read page after page; ``items`` converts one response's items."""

    method: str
    request: Any  # a *Request message with page_size and page_token
    items: Callable[[Any], Iterable[T]]
    limit: int | None = None
    service: str = METADATA


@dataclass(frozen=True, slots=True)
class _Stream(Generic[T]):
    """A server-streaming RPC, without deadline; ``convert`` turns each message into an item."""

    method: str
    request: Message
    convert: Callable[[Any], T]
    service: str = METADATA


def _signature_without_self(build: Callable[..., Any]) -> inspect.Signature:
    signature = inspect.signature(build)
    parameters = list(signature.parameters.values())[1:]
    return signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)


class _unary(Generic[P, T]):
    """Makes a request-building method a client method returning ``T`` or ``Awaitable[T]``."""

    def __init__(self, build: Callable[Concatenate[Any, P], _Unary[T]]) -> None:
        self._build = build
        self._signature = _signature_without_self(build)
        functools.update_wrapper(cast(Any, self), build)  # for help() and docs

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, client: _ClientBase | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        build = self._build

        def method(*args: Any, **kwargs: Any) -> Any:
            return client._run_unary(build(client, *args, **kwargs))

        return _bound(method, build, self._signature)


class _iterating(Generic[P, T]):
    """Makes a method a client method returning ``Iterator[T]`` or ``AsyncIterator[T]``."""

    def __init__(self, build: Callable[Concatenate[Any, P], _Pages[T] | _Stream[T]]) -> None:
        self._build = build
        self._signature = _signature_without_self(build)
        functools.update_wrapper(cast(Any, self), build)  # for help() and docs

    @overload
    def __get__(self, client: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, client: Client, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, client: AsyncClient, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, client: _ClientBase | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        build = self._build

        def method(*args: Any, **kwargs: Any) -> Any:
            return client._run_iterating(build(client, *args, **kwargs))

        return _bound(method, build, self._signature)


def _bound(method: Callable[..., Any], build: Callable[..., Any], signature: inspect.Signature) -> Callable[..., Any]:
    method.__name__ = build.__name__
    method.__qualname__ = build.__qualname__
    method.__doc__ = build.__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    return method


def _type_names(types: Iterable[str]) -> list[str]:
    """``trusted_types`` as a list; a lone string would otherwise be taken letter by letter."""
    if isinstance(types, str):
        raise TypeError(f"trusted_types: expected a list of type names, got the string {types!r}")
    return list(types)


def _given_address(argument: str | None, env: str) -> str | None:
    """A service address the user gave: the argument, else the environment variable; None when
    neither is set (the metadata service is then asked where the service is)."""
    return argument or os.environ.get(env) or None


def _address(given: str | None, announced: str, default: str) -> str:
    """Where a client reaches a service: the address given, else the one the metadata service
    announced (GetPlatformInfo), else the default of a single machine's platform."""
    return given or announced or default


_UNKNOWN_PLATFORM = PlatformInfo(registry="", deploy="", version="")


def _unknown_if_unimplemented(exc: ModelyardError) -> PlatformInfo:
    """A metadata service older than GetPlatformInfo knows no addresses: the defaults apply.
    Anything else (unreachable, no token) is raised: guessing another address could reach
    another platform's service."""
    if exc.code != "UNIMPLEMENTED":
        raise exc
    return _UNKNOWN_PLATFORM


class _RegistryStubOnFirstCall:
    """Stands for the registry's stub, made by ``make`` when a method is first looked up: a
    transfer checks its arguments (and asks the metadata service) before the registry's
    address is needed."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def __getattr__(self, name: str) -> Any:
        return getattr(self._make(), name)


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


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry, e.g. in a container
        return "unknown"


def _same(response: Any) -> Any:
    return response


def _project(response: Any) -> Project:
    return cv.project_from_pb(response.project)


def _model(response: Any) -> Model:
    return cv.model_from_pb(response.model)


def _version(response: Any) -> ModelVersion:
    return cv.version_from_pb(response.version)


def _deployment(response: Any) -> Deployment:
    return cv.deployment_from_pb(response.deployment)


def _changed_deployment(response: Any) -> Deployment:
    """The deployment of an update or rollback, with the revision the call created."""
    return replace(_deployment(response), created_revision=response.created_revision)


def _nothing(response: Any) -> None:
    return None


def _principal(field: str) -> Callable[[Any], Principal]:
    """Converts the Principal held in the response's ``field``."""
    return lambda response: cv.principal_from_pb(getattr(response, field))


# --- the methods, written once -------------------------------------------------------------


class _ClientBase:
    """Connection settings and every MetadataService method; see ``Client`` / ``AsyncClient``."""

    def __init__(
        self,
        target: str | None = None,
        *,
        deploy: str | None = None,
        actor: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: TLSConfig | None = None,
        settings_prefix: str = "",
    ) -> None:
        self.target = target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET
        self._settings_prefix = settings_prefix
        self._deploy_given = _given_address(deploy, DEPLOY_ENV)
        # What the metadata service said of the registry and deploy addresses: asked once, on
        # the first call that needs one of them and was given neither.
        self._platform: PlatformInfo | None = None
        actor = actor or os.environ.get(ACTOR_ENV) or _login_name()
        if not actor.isascii() or not actor.isprintable():
            raise ValueError(f"actor: {actor!r} must be printable ASCII (it travels as a gRPC header)")
        self.actor = actor
        token = token or os.environ.get(TOKEN_ENV) or None
        if token is not None and (not token.isascii() or not token.isprintable()):
            # The value is a secret: the message does not quote it.
            raise ValueError("token: must be printable ASCII (it travels as a gRPC header)")
        # Private and never in repr(): a secret.
        self._token = token
        self.timeout = timeout
        self.tls = tls

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target={self.target!r}, actor={self.actor!r}, timeout={self.timeout!r})"

    def _metadata(self, actor: str | None = None) -> tuple[str, tuple[tuple[str, str], ...]]:
        """A fresh request id and the headers carrying it, the actor (the client's unless given)
        and, when the client has a token, the bearer credentials."""
        request_id = uuid.uuid4().hex[:16]
        headers: tuple[tuple[str, str], ...] = ((ACTOR_HEADER, actor or self.actor), (REQUEST_ID_HEADER, request_id))
        if self._token is not None:
            headers += ((AUTHORIZATION_HEADER, f"Bearer {self._token}"),)
        return request_id, headers

    def _reachable(self, service: str) -> Reachable:
        """Where ``service`` (METADATA, AUTH, DEPLOY or REGISTRY) is looked for, and what to do
        when it cannot be reached: the words of a failed connection's UnavailableError."""
        # A deploy or registry call that failed found its address first (given or announced).
        if service == DEPLOY:
            name, address, variable = "deploy", getattr(self, "deploy_target", None) or DEFAULT_DEPLOY, DEPLOY_ENV
        elif service == REGISTRY:
            name, address, variable = "registry", getattr(self, "registry", DEFAULT_REGISTRY), REGISTRY_ENV
        else:
            name, address, variable = "metadata", self.target, TARGET_ENV
        if self._settings_prefix:  # a service's client: the fix is in that service's settings
            hint = f"is it running? this service's {self._settings_prefix}{name.upper()}_ADDR names it"
        else:
            hint = f"is the platform running (`make run`)? set {variable} if it listens elsewhere"
        return Reachable(f"{name} service", address, hint)

    def _error(self, exc: grpc.RpcError, request_id: str, service: str) -> ModelyardError:
        return from_rpc_error(exc, request_id=request_id, reachable=self._reachable(service))

    def _run_unary(self, call: _Unary[T]) -> Any:
        raise NotImplementedError

    def _run_iterating(self, call: _Pages[T] | _Stream[T]) -> Any:
        raise NotImplementedError

    @_unary
    def platform_info(self) -> _Unary[PlatformInfo]:
        """Where the metadata service says the registry and deploy services are (empty when it
        was not told), and its version. The client asks this itself when it needs one of those
        services and was given no address for it."""
        return _Unary("GetPlatformInfo", metadata_pb2.GetPlatformInfoRequest(), cv.platform_info_from_pb)

    # Projects

    @_unary
    def create_project(self, name: str, *, description: str = "", owner: str = "") -> _Unary[Project]:
        """Creates a project; AlreadyExistsError when the name is taken."""
        request = metadata_pb2.CreateProjectRequest(name=name, description=description, owner=owner)
        return _Unary("CreateProject", request, _project)

    @_unary
    def get_project(self, name: str) -> _Unary[Project]:
        return _Unary("GetProject", metadata_pb2.GetProjectRequest(name=name), _project)

    @_iterating
    def list_projects(self) -> _Pages[Project]:
        """Every project, fetching pages as the iteration goes."""
        return _Pages("ListProjects", metadata_pb2.ListProjectsRequest(), lambda r: map(cv.project_from_pb, r.projects))

    @_unary
    def project_summary(self, project: str, *, metric: str = "") -> _Unary[ProjectSummary]:
        """Counts of models and versions by stage and owner; with ``metric``, its min and max."""
        request = metadata_pb2.GetProjectSummaryRequest(project=project, metric=metric)
        return _Unary("GetProjectSummary", request, cv.summary_from_pb)

    # Models

    @_unary
    def create_model(self, name: str, **fields: Unpack[ModelFields]) -> _Unary[Model]:
        """Creates model ``name`` ("project/model"); ``kind`` defaults to STANDARD."""
        model = cv.model_to_pb(*_split_model_name(name), fields)
        return _Unary("CreateModel", metadata_pb2.CreateModelRequest(model=model), _model)

    @_unary
    def get_model(self, name: str) -> _Unary[Model]:
        return _Unary("GetModel", metadata_pb2.GetModelRequest(name=name), _model)

    @_iterating
    def list_models(self, project: str, *, include_archived: bool = False) -> _Pages[Model]:
        request = metadata_pb2.ListModelsRequest(project=project, include_archived=include_archived)
        return _Pages("ListModels", request, lambda r: map(cv.model_from_pb, r.models))

    @_unary
    def update_model(self, name: str, **fields: Unpack[ModelFields]) -> _Unary[Model]:
        """Writes the fields given as keywords, and only those: ``update_model("p/m", team="risk")``."""
        model = cv.model_to_pb(*_split_model_name(name), fields)
        request = metadata_pb2.UpdateModelRequest(model=model)
        request.update_mask.paths.extend(fields)
        return _Unary("UpdateModel", request, _model)

    @_unary
    def archive_model(self, name: str, *, reason: str = "") -> _Unary[Model]:
        return _Unary("ArchiveModel", metadata_pb2.ArchiveModelRequest(name=name, reason=reason), _model)

    # Versions

    @_unary
    def create_version(
        self, model: str, *, stage: Stage | str | None = None, **fields: Unpack[VersionFields]
    ) -> _Unary[ModelVersion]:
        """Registers a new version of ``model`` ("project/model"), PENDING_UPLOAD until its artifact
        is uploaded; ``stage`` defaults to DEVELOPMENT. Returns it with its assigned number."""
        request = metadata_pb2.CreateModelVersionRequest(model=model)
        cv.fill_version_fields(request, fields)
        if stage is not None:
            request.stage = cv.stage_to_pb(Stage.parse(stage))
        return _Unary("CreateModelVersion", request, _version)

    @_unary
    def get_version(self, reference: str) -> _Unary[ModelVersion]:
        """The version ``reference`` names: "p/m:3", "p/m@alias" or "p/m" (latest READY)."""
        return _Unary("GetModelVersion", metadata_pb2.GetModelVersionRequest(reference=reference), _version)

    @_iterating
    def list_versions(self, model: str) -> _Pages[ModelVersion]:
        """The versions of ``model``, newest first."""
        request = metadata_pb2.ListModelVersionsRequest(model=model)
        return _Pages("ListModelVersions", request, lambda r: map(cv.version_from_pb, r.versions))

    @_unary
    def update_version(self, reference: str, **fields: Unpack[VersionFields]) -> _Unary[ModelVersion]:
        """Writes the fields given as keywords, and only those; each replaces the whole field."""
        request = metadata_pb2.UpdateModelVersionRequest(reference=reference)
        cv.fill_version_fields(request.version, fields)
        request.update_mask.paths.extend(fields)
        return _Unary("UpdateModelVersion", request, _version)

    @_iterating
    def search_versions(
        self, filter: str = "", *, order_by: str = "", project: str = "", limit: int | None = None
    ) -> _Pages[ModelVersion]:
        """Versions matching ``filter`` (grammar: docs/search.md), e.g.
        ``'stage = "PRODUCTION" AND metrics.accuracy >= 0.9'``; at most ``limit`` of them."""
        request = metadata_pb2.SearchModelVersionsRequest(filter=filter, order_by=order_by, project=project)
        return _Pages("SearchModelVersions", request, lambda r: map(cv.version_from_pb, r.versions), limit)

    # Metrics

    @_unary
    def log_metrics(
        self,
        reference: str,
        metrics: Mapping[str, float | Mapping[str, Any]],
        *,
        step: int = 0,
        time: datetime | None = None,
    ) -> _Unary[ModelVersion]:
        """Records metric values: a number is a scalar metric, a dict a structured one
        (``{"accuracy": 0.93, "importance": {"age": 0.3}}``). ``time`` defaults to the server's."""
        points = [cv.metric_to_pb(name, value, step, time) for name, value in metrics.items()]
        request = metadata_pb2.LogMetricsRequest(reference=reference, metrics=points)
        return _Unary("LogMetrics", request, _version)

    @_unary
    def metric_history(self, reference: str, name: str) -> _Unary[list[MetricPoint]]:
        """Every value logged for metric ``name``, oldest first (by step, then time)."""
        request = metadata_pb2.GetMetricHistoryRequest(reference=reference, name=name)
        return _Unary("GetMetricHistory", request, lambda r: [cv.metric_from_pb(p) for p in r.points])

    # Stages and aliases

    @_unary
    def transition_stage(self, reference: str, stage: Stage | str, *, reason: str = "") -> _Unary[ModelVersion]:
        """Moves a version to ``stage``; FailedPreconditionError for a forbidden transition."""
        request = metadata_pb2.TransitionStageRequest(
            reference=reference, stage=cv.stage_to_pb(Stage.parse(stage)), reason=reason
        )
        return _Unary("TransitionStage", request, _version)

    @_unary
    def set_alias(self, model: str, alias: str, version: int) -> _Unary[AliasChange]:
        """Points ``alias`` of ``model`` at ``version``, creating or moving it atomically."""
        request = metadata_pb2.SetAliasRequest(model=model, alias=alias, version=version)

        def convert(response: metadata_pb2.SetAliasResponse) -> AliasChange:
            previous = response.previous_version or None
            return AliasChange(model, alias, cv.version_from_pb(response.version), previous)

        return _Unary("SetAlias", request, convert)

    @_unary
    def delete_alias(self, model: str, alias: str) -> _Unary[AliasChange]:
        request = metadata_pb2.DeleteAliasRequest(model=model, alias=alias)
        return _Unary("DeleteAlias", request, lambda r: AliasChange(model, alias, None, r.previous_version or None))

    # Lineage, comparison

    @_unary
    def lineage(
        self, reference: str, *, direction: LineageDirection | str = LineageDirection.BOTH, depth: int = 10
    ) -> _Unary[Lineage]:
        """The versions ``reference`` is produced by (upstream) and/or that it feeds (downstream),
        up to ``depth`` hops (1..50)."""
        request = metadata_pb2.GetLineageRequest(
            reference=reference, direction=cv.direction_to_pb(LineageDirection.parse(direction)), depth=depth
        )
        return _Unary("GetLineage", request, cv.lineage_from_pb)

    @_unary
    def compare(self, references: Iterable[str]) -> _Unary[Comparison]:
        """Side-by-side params, metrics and metadata of 2..20 versions, in the order given."""
        if isinstance(references, str):
            raise TypeError("references: expected a list of references, got a string")
        request = metadata_pb2.CompareVersionsRequest(references=list(references))
        return _Unary("CompareVersions", request, cv.comparison_from_pb)

    # Audit log

    @_iterating
    def audit_events(
        self,
        *,
        project: str = "",
        resource: str = "",
        actor: str = "",
        since: datetime | None = None,
        limit: int | None = None,
    ) -> _Pages[AuditEvent]:
        """Audit events, newest first; every filter is optional. ``resource`` is a name or
        reference prefix such as "fraud/scorer"."""
        request = metadata_pb2.ListAuditEventsRequest(
            project=project, resource=resource, actor=actor, since=cv.time_to_pb(since) if since else None
        )
        return _Pages("ListAuditEvents", request, lambda r: map(cv.audit_event_from_pb, r.events), limit)

    @_iterating
    def watch_events(self, *, project: str = "", resource: str = "", after_id: int = 0) -> _Stream[AuditEvent]:
        """Audit events as they are committed, without end: first those with an id above
        ``after_id`` (0: live ones only). Has no deadline; stop by leaving the loop."""
        request = metadata_pb2.WatchEventsRequest(project=project, resource=resource, after_id=after_id)
        return _Stream("WatchEvents", request, lambda r: cv.audit_event_from_pb(r.event))

    # Deployments (deploy service)

    @_unary
    def create_deployment(
        self,
        name: str,
        reference: str,
        *,
        replicas: int = 1,
        runtime: DeploymentRuntime | str | None = None,
        trusted_types: Iterable[str] = (),
    ) -> _Unary[Deployment]:
        """Serves version ``reference`` ("p/m:3", "p/m@alias", "p/m": resolved now) as a new
        deployment ``name`` with ``replicas`` inference servers (1..16); AlreadyExistsError when
        ``name`` is taken (``deploy`` rolls an existing one forward instead). Returns at once,
        PENDING; see ``wait_deployment`` / ``watch_deployment``. ``runtime`` defaults to the service's.
        ``trusted_types``: types its skops file may hold beyond those skops trusts by default
        (as the load error names them); trust only files of authors you trust."""
        if replicas < 1:
            raise InvalidArgumentError(f"replicas: {replicas} is below 1 (scale an existing deployment to 0)")
        request = deploy_pb2.CreateDeploymentRequest(
            name=name, model_reference=reference, replicas=replicas, trusted_types=_type_names(trusted_types)
        )
        if runtime is not None:
            request.runtime = cv.runtime_to_pb(DeploymentRuntime.parse(runtime))
        return _Unary("CreateDeployment", request, _deployment, service=DEPLOY)

    @_unary
    def get_deployment(self, name: str) -> _Unary[Deployment]:
        return _Unary("GetDeployment", deploy_pb2.GetDeploymentRequest(name=name), _deployment, service=DEPLOY)

    @_iterating
    def list_deployments(self, *, project: str = "", limit: int | None = None) -> _Pages[Deployment]:
        """Deployments by name; of ``project`` only when given."""
        request = deploy_pb2.ListDeploymentsRequest(project=project)
        return _Pages(
            "ListDeployments", request, lambda r: map(cv.deployment_from_pb, r.deployments), limit, service=DEPLOY
        )

    @_unary
    def update_deployment(
        self,
        name: str,
        *,
        reference: str = "",
        replicas: int | None = None,
        reason: str = "",
        trusted_types: Iterable[str] | None = None,
    ) -> _Unary[Deployment]:
        """Rolls ``name`` forward to ``reference`` (resolved now: an alias that moved makes a new
        revision) and/or scales it to ``replicas`` (0 stops every replica, keeping it).
        ``trusted_types`` (None: kept) replaces the types trusted in skops files; other types
        make a new revision, rolled out like another version."""
        request = deploy_pb2.UpdateDeploymentRequest(name=name, model_reference=reference, reason=reason)
        if replicas is not None:
            request.replicas = replicas
        if trusted_types is not None:
            request.trusted_types.SetInParent()
            request.trusted_types.types.extend(_type_names(trusted_types))
        return _Unary("UpdateDeployment", request, _changed_deployment, service=DEPLOY)

    @_unary
    def rollback_deployment(self, name: str, *, revision: int = 0, reason: str = "") -> _Unary[Deployment]:
        """Serves the version of ``revision`` again (0: the revision before the current one), as
        a new revision rolled out like any change."""
        request = deploy_pb2.RollbackDeploymentRequest(name=name, revision=revision, reason=reason)
        return _Unary("RollbackDeployment", request, _changed_deployment, service=DEPLOY)

    @_unary
    def delete_deployment(self, name: str) -> _Unary[None]:
        """Stops every replica (they are gone when this returns) and forgets the deployment."""
        return _Unary("DeleteDeployment", deploy_pb2.DeleteDeploymentRequest(name=name), _nothing, service=DEPLOY)

    @_unary
    def deployment_revisions(self, name: str) -> _Unary[tuple[DeploymentRevision, ...]]:
        """Every revision of ``name``, newest first."""
        request = deploy_pb2.ListDeploymentRevisionsRequest(name=name)
        return _Unary(
            "ListDeploymentRevisions",
            request,
            lambda r: tuple(cv.revision_from_pb(v) for v in r.revisions),
            service=DEPLOY,
        )

    @_iterating
    def watch_deployment(self, name: str) -> _Stream[Deployment]:
        """The deployment now, then again after each change of its state, revision or replicas;
        ends when it is deleted. Has no deadline; stop by leaving the loop."""
        request = deploy_pb2.WatchDeploymentRequest(name=name)
        return _Stream("WatchDeployment", request, _deployment, service=DEPLOY)

    # Authentication and project roles (AuthService, on the metadata service's port)

    @_unary
    def whoami(self) -> _Unary[WhoAmI]:
        """The principal the client's token stands for, its teams and its role on each project."""
        return _Unary("WhoAmI", auth_pb2.WhoAmIRequest(), cv.whoami_from_pb, service=AUTH)

    @_unary
    def create_principal(
        self, name: str, kind: PrincipalKind | str = PrincipalKind.USER, admin: bool = False
    ) -> _Unary[Principal]:
        """Creates a user, team or service principal (platform admin only); ``admin`` makes it a
        platform admin."""
        request = auth_pb2.CreatePrincipalRequest(
            name=name, kind=cv.principal_kind_to_pb(PrincipalKind.parse(kind)), admin=admin
        )
        return _Unary("CreatePrincipal", request, _principal("principal"), service=AUTH)

    @_unary
    def principals(self) -> _Unary[list[Principal]]:
        """Every principal (platform admin only)."""
        return _Unary(
            "ListPrincipals",
            auth_pb2.ListPrincipalsRequest(),
            lambda r: [cv.principal_from_pb(p) for p in r.principals],
            service=AUTH,
        )

    @_unary
    def add_team_member(self, team: str, member: str) -> _Unary[Principal]:
        """Makes ``member`` inherit the roles of ``team``; returns the team with its members."""
        request = auth_pb2.AddTeamMemberRequest(team=team, member=member)
        return _Unary("AddTeamMember", request, _principal("team"), service=AUTH)

    @_unary
    def remove_team_member(self, team: str, member: str) -> _Unary[Principal]:
        request = auth_pb2.RemoveTeamMemberRequest(team=team, member=member)
        return _Unary("RemoveTeamMember", request, _principal("team"), service=AUTH)

    @_unary
    def create_token(
        self, principal: str = "", description: str = "", ttl: timedelta | None = None
    ) -> _Unary[NewToken]:
        """A new bearer token of ``principal`` (empty: the caller), expiring after ``ttl`` (None:
        never). Its ``secret`` is returned this once: the server keeps only a digest."""
        if ttl is not None and ttl <= timedelta(0):
            raise InvalidArgumentError(f"ttl: {ttl} is not positive (None: the token does not expire)")
        request = auth_pb2.CreateTokenRequest(
            principal=principal, description=description, ttl=cv.ttl_to_pb(ttl) if ttl else None
        )
        return _Unary("CreateToken", request, cv.new_token_from_pb, service=AUTH)

    @_unary
    def tokens(self, principal: str = "", include_revoked: bool = False) -> _Unary[list[Token]]:
        """The tokens of ``principal`` (empty: the caller), revoked ones too if asked."""
        request = auth_pb2.ListTokensRequest(principal=principal, include_revoked=include_revoked)
        return _Unary("ListTokens", request, lambda r: [cv.token_from_pb(t) for t in r.tokens], service=AUTH)

    @_unary
    def revoke_token(self, id: str) -> _Unary[Token]:
        """Revokes token ``id`` at once: calls carrying it are UNAUTHENTICATED from now on."""
        request = auth_pb2.RevokeTokenRequest(id=id)
        return _Unary("RevokeToken", request, lambda r: cv.token_from_pb(r.token), service=AUTH)

    @_unary
    def set_project_role(self, project: str, principal: str, role: ProjectRole | str) -> _Unary[RoleBinding]:
        """Gives ``principal`` (a user, team or service) ``role`` on ``project``, replacing the
        role it had there; project ADMIN or platform admin only."""
        request = auth_pb2.SetProjectRoleRequest(
            project=project, principal=principal, role=cv.role_to_pb(ProjectRole.parse(role))
        )
        return _Unary("SetProjectRole", request, lambda r: cv.role_binding_from_pb(r.binding), service=AUTH)

    @_unary
    def remove_project_role(self, project: str, principal: str) -> _Unary[None]:
        request = auth_pb2.RemoveProjectRoleRequest(project=project, principal=principal)
        return _Unary("RemoveProjectRole", request, _nothing, service=AUTH)

    @_unary
    def project_roles(self, project: str) -> _Unary[list[RoleBinding]]:
        """Who has which role on ``project`` (as granted, not through teams)."""
        request = auth_pb2.ListProjectRolesRequest(project=project)
        return _Unary(
            "ListProjectRoles", request, lambda r: [cv.role_binding_from_pb(b) for b in r.bindings], service=AUTH
        )

    # Internal: for the registry service only, once it has stored (or given up on) the bytes.

    @_unary
    def internal_commit_artifact(
        self, reference: str, artifact: Artifact, *, on_behalf_of: str | None = None
    ) -> _Unary[ModelVersion]:
        """Internal (registry service): the version's bytes are durable and verified.
        ``on_behalf_of`` is the registry's caller, recorded as the actor in the audit log."""
        request = metadata_pb2.CommitArtifactRequest(reference=reference, artifact=cv.artifact_to_pb(artifact))
        return _Unary("CommitArtifact", request, _version, on_behalf_of)

    @_unary
    def internal_fail_upload(
        self, reference: str, reason: str, *, on_behalf_of: str | None = None
    ) -> _Unary[ModelVersion]:
        """Internal (registry service): the upload failed or was abandoned (see ``on_behalf_of``
        above)."""
        request = metadata_pb2.FailUploadRequest(reference=reference, reason=reason)
        return _Unary("FailUpload", request, _version, on_behalf_of)


def _first_page(call: _Pages[Any]) -> Any:
    request = call.request
    if call.limit is not None:
        if call.limit < 0:
            raise ValueError(f"limit: {call.limit} is negative")
        request.page_size = min(max(call.limit, 1), _MAX_PAGE)
    return request


# --- the two ways to run them --------------------------------------------------------------


@final
class Client(_ClientBase):
    """Blocking client of the metadata service, and of the registry for artifact bytes
    (``push``, ``pull``, ``artifact``, ``abort_upload``). Open with ``modelyard.connect()``;
    close with ``close()`` or use as a context manager. Safe to share between threads. Channels
    connect on the first call, not here; the registry's and the deploy service's are made on the
    first call to them, at the address given, else at the one the metadata service gives
    (``platform_info``, asked once), else at the default."""

    def __init__(
        self,
        target: str | None = None,
        *,
        registry: str | None = None,
        deploy: str | None = None,
        actor: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: TLSConfig | None = None,
        settings_prefix: str = "",
    ) -> None:
        super().__init__(
            target, deploy=deploy, actor=actor, token=token, timeout=timeout, tls=tls, settings_prefix=settings_prefix
        )
        self._registry_given = _given_address(registry, REGISTRY_ENV)
        self._platform_lock = threading.Lock()
        self._channel = open_channel(self.target, tls, _CHANNEL_OPTIONS)
        self._stubs: dict[str, Any] = {
            METADATA: metadata_pb2_grpc.MetadataServiceStub(self._channel),
            AUTH: auth_pb2_grpc.AuthServiceStub(self._channel),
        }
        # Made on the first deploy call: its address may have to be asked of the metadata service.
        self._deploy_lock = threading.Lock()
        self._deploy_channel: grpc.Channel | None = None
        self._registry_lock = threading.Lock()
        self._registry_channel: grpc.Channel | None = None
        self._registry_stub_: registry_pb2_grpc.RegistryServiceStub | None = None
        self._transfers_: Transfers | None = None
        self._router_lock = threading.Lock()
        self._router_: DeploymentRouter | None = None

    def __repr__(self) -> str:
        # Never asks the metadata service: an address not known yet shows as None.
        platform = self._platform or _UNKNOWN_PLATFORM
        registry = self._registry_given or platform.registry or None
        deploy = self._deploy_given or platform.deploy or None
        return (
            f"Client(target={self.target!r}, registry={registry!r}, deploy={deploy!r}, "
            f"actor={self.actor!r}, timeout={self.timeout!r})"
        )

    @property
    def registry(self) -> str:
        """The registry service's "host:port": as given (``registry`` argument, else
        $MODELYARD_REGISTRY_ADDR), else as the metadata service says (asked on first use), else
        127.0.0.1:7411."""
        if self._registry_given:
            return self._registry_given
        return _address(None, self._announced().registry, DEFAULT_REGISTRY)

    @property
    def deploy_target(self) -> str:
        """The deploy service's "host:port": as given (``deploy`` argument, else
        $MODELYARD_DEPLOY_ADDR), else as the metadata service says (asked on first use), else
        127.0.0.1:7412."""
        if self._deploy_given:
            return self._deploy_given
        return _address(None, self._announced().deploy, DEFAULT_DEPLOY)

    def _announced(self) -> PlatformInfo:
        """What the metadata service says of the platform, asked once (again after a failure)."""
        with self._platform_lock:
            if self._platform is None:
                try:
                    self._platform = self.platform_info()
                except ModelyardError as exc:
                    self._platform = _unknown_if_unimplemented(exc)
            return self._platform

    def _stub(self, service: str) -> Any:
        if service != DEPLOY:
            return self._stubs[service]
        with self._deploy_lock:
            if DEPLOY not in self._stubs:
                self._deploy_channel = open_channel(self.deploy_target, self.tls, _DEPLOY_CHANNEL_OPTIONS)
                self._stubs[DEPLOY] = deploy_pb2_grpc.DeployServiceStub(self._deploy_channel)
            return self._stubs[DEPLOY]

    def close(self) -> None:
        """Closes the channels; calls made afterwards fail."""
        self._channel.close()
        with self._deploy_lock:
            if self._deploy_channel is not None:
                self._deploy_channel.close()
        with self._registry_lock:
            if self._registry_channel is not None:
                self._registry_channel.close()
        with self._router_lock:
            if self._router_ is not None:
                self._router_.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _transfers(self) -> Transfers:
        """Made on first use: a client that only reads metadata opens no registry channel."""
        with self._registry_lock:
            if self._transfers_ is None:
                stub = cast(registry_pb2_grpc.RegistryServiceStub, _RegistryStubOnFirstCall(self._registry_stub))
                self._transfers_ = Transfers(stub, self)
            return self._transfers_

    def _registry_stub(self) -> registry_pb2_grpc.RegistryServiceStub:
        """The registry's stub, and its channel, made on the first registry call: its address
        may have to be asked of the metadata service first."""
        with self._registry_lock:
            if self._registry_stub_ is None:
                self._registry_channel = open_channel(self.registry, self.tls, _CHANNEL_OPTIONS)
                self._registry_stub_ = registry_pb2_grpc.RegistryServiceStub(self._registry_channel)
            return self._registry_stub_

    @property
    def _router(self) -> DeploymentRouter:
        """Made on first use, with the runtime (numpy) it needs: metadata-only scripts and the
        command line start without it."""
        from modelyard._inference import DeploymentRouter

        with self._router_lock:
            if self._router_ is None:
                self._router_ = DeploymentRouter(self.get_deployment, self.timeout, self.tls)
            return self._router_

    def deploy(
        self,
        name: str,
        reference: str,
        *,
        replicas: int | None = None,
        runtime: DeploymentRuntime | str | None = None,
        reason: str = "",
        trusted_types: Iterable[str] | None = None,
    ) -> Deployment:
        """Serves version ``reference`` ("p/m:3", "p/m@alias", "p/m": resolved now) as deployment
        ``name``, as ``modelyard deploy`` does: creates it when there is none (``replicas``
        default to 1; ``runtime`` to the service's), else rolls the existing one forward to
        ``reference`` (``replicas`` kept unless given; ``runtime`` ignored; ``reason`` recorded
        with the new revision), the new replicas ready before the old ones stop. Returns at once;
        see ``wait_deployment`` / ``watch_deployment``. ``create_deployment`` only creates.

        ``trusted_types``: types the version's skops file may hold beyond those skops trusts by
        default ("sklearn.pipeline.Pipeline", as the load error names them); None: none when
        created, kept when updated. Trust only files of authors you trust."""
        try:
            created = 1 if replicas is None else replicas
            return self.create_deployment(
                name, reference, replicas=created, runtime=runtime, trusted_types=trusted_types or ()
            )
        except AlreadyExistsError:
            return self.update_deployment(
                name, reference=reference, replicas=replicas, reason=reason, trusted_types=trusted_types
            )

    # Artifacts (registry service)

    def push(
        self,
        target: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        **fields: Unpack[VersionFields],
    ) -> ModelVersion:
        """Uploads a file or a model directory as a version's artifact and commits it: the
        version is READY when this returns.

        Every file is hashed first, then streamed from disk 1 MiB at a time; an interrupted
        upload (cut connection, registry restart, another stream holding the file) waits and
        resumes from the offset the registry holds durable. Pushing to "PROJECT/MODEL" content
        that a READY version of the model already holds (the same paths and SHA-256s, the latest
        version or an older one) registers nothing and returns that version.

        Args:
            target: "PROJECT/MODEL" registers a new version with ``fields`` (as
                ``create_version``; the model too if it does not exist yet, in an existing
                project), unless the latest READY version has exactly these files:
                then that version is returned, whatever ``fields`` say. "PROJECT/MODEL:N" (or
                "@ALIAS") fills that PENDING_UPLOAD version; a READY one is returned as is if it
                has exactly these files, else FailedPreconditionError.
            path: A file (the artifact is that file, under its own name) or a directory (every
                regular file under it, at its relative POSIX path).
            progress: Called with a ``TransferProgress`` as files are hashed and sent, at most
                once per 1 MiB chunk, possibly from a gRPC thread.
            **fields: Version fields for a new version; only with "PROJECT/MODEL".

        Returns:
            The READY version, as ``get_version`` reads it.

        Raises:
            DataLossError: The bytes read did not match the digest computed before sending
                (the file changed meanwhile).
        """
        with self._naming_the_registry():
            return self._transfers.push(target, path, progress=progress, **fields)

    def pull(self, reference: str, dest: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
        """Downloads every file of a READY version into directory ``dest`` (created if missing),
        each at ``dest/<path>``, and returns ``dest``.

        Files already there with the right size and SHA-256 are kept. Each other file is written
        to ``<name>.part`` beside it, resumed after a cut (and by a later pull), verified, then
        renamed into place: a file at its final name is always complete. FailedPreconditionError
        when the version is not READY; DataLossError (and the ``.part`` deleted) when the bytes
        do not match the registry's digest.
        """
        with self._naming_the_registry():
            return self._transfers.pull(reference, dest, progress=progress)

    def artifact(self, reference: str) -> ArtifactStatus:
        """Where a version's artifact stands: committed files, or for a PENDING_UPLOAD version
        the files uploaded so far and the uploads in progress."""
        with self._naming_the_registry():
            return self._transfers.stat(reference)

    def abort_upload(self, reference: str, reason: str = "") -> None:
        """Gives up on a PENDING_UPLOAD version's upload: the version becomes FAILED."""
        with self._naming_the_registry():
            self._transfers.abort_upload(reference, reason)

    @contextmanager
    def _naming_the_registry(self) -> Iterator[None]:
        """Names the registry service in the error of a transfer call that found no server (the
        transfers raise it unnamed; their metadata calls come named already)."""
        try:
            yield
        except UnavailableError as exc:
            cause = exc.__cause__
            if exc.unreachable is not None or not isinstance(cause, grpc.RpcError):
                raise
            named = self._error(cause, exc.request_id, REGISTRY)
            if not isinstance(named, UnavailableError) or named.unreachable is None:
                raise  # the registry answered UNAVAILABLE itself: its words stand
            for note in getattr(exc, "__notes__", ()):
                named.add_note(note)
            raise named from cause

    def wait_deployment(
        self, name: str, state: DeploymentState | str = DeploymentState.AVAILABLE, *, timeout: float = 300.0
    ) -> Deployment:
        """Polls deployment ``name`` until it is in ``state`` and returns it.

        Raises:
            FailedPreconditionError: It became FAILED while another state was awaited (the
                message is its status message).
            DeadlineExceededError: ``timeout`` seconds passed first.
        """
        wanted = DeploymentState.parse(state)
        deadline = time.monotonic() + timeout
        while True:
            deployment = self.get_deployment(name)
            if deployment.state is wanted:
                return deployment
            if deployment.state is DeploymentState.FAILED:
                raise FailedPreconditionError(f"deployment {name} is FAILED: {deployment.status_message}")
            if time.monotonic() >= deadline:
                raise DeadlineExceededError(
                    f"deployment {name} is {deployment.state} after {timeout:g} s, not {wanted}"
                )
            time.sleep(_WAIT_POLL_SECONDS)

    # Predictions (the deployment's inference servers)

    def predict(
        self, deployment: str, inputs: Mapping[str, ArrayLike], *, outputs: Sequence[str] | None = None
    ) -> Arrays:
        """Runs the model served by ``deployment`` on ``inputs`` (name -> array) and returns its
        outputs by name (those named in ``outputs``, else all), as numpy arrays (read-only).

            labels = client.predict("scorer", {"input": features})["predict"]

        The call goes to one of the deployment's ready replicas, round robin (their endpoints
        are read from the deploy service and kept a few seconds); one that is UNAVAILABLE is
        skipped for the next, and the endpoints read again. The arrays' dtypes give the OIP
        datatypes, which must be those of the model's inputs (see ``deployment_signature``).

        Raises:
            NotFoundError: No such deployment.
            UnavailableError: No replica is ready, or none answered.
            InvalidArgumentError: The model refused the inputs (the message names the tensor).
        """
        return self._router.infer(deployment, inputs, outputs)

    def deployment_signature(self, deployment: str) -> Signature:
        """The input and output tensors of the model ``deployment`` serves, as its inference
        servers declare them (OIP ModelMetadata)."""
        return self._router.signature(deployment)

    def _run_unary(self, call: _Unary[T]) -> T:
        request_id, metadata = self._metadata(call.actor)
        try:
            response = getattr(self._stub(call.service), call.method)(
                call.request, timeout=self.timeout, metadata=metadata
            )
        except grpc.RpcError as exc:
            raise self._error(exc, request_id, call.service) from exc
        return call.convert(response)

    def _run_iterating(self, call: _Pages[T] | _Stream[T]) -> Iterator[T]:
        if isinstance(call, _Stream):
            return self._stream(call)
        return self._pages(call, _first_page(call))

    def _pages(self, call: _Pages[T], request: Any) -> Iterator[T]:
        count = 0
        while call.limit is None or count < call.limit:
            response = self._run_unary(_Unary(call.method, request, _same, service=call.service))
            for item in call.items(response):
                if call.limit is not None and count >= call.limit:
                    return
                count += 1
                yield item
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def _stream(self, call: _Stream[T]) -> Iterator[T]:
        request_id, metadata = self._metadata()
        responses = getattr(self._stub(call.service), call.method)(call.request, metadata=metadata)
        try:
            for response in responses:
                yield call.convert(response)
        except grpc.RpcError as exc:
            raise self._error(exc, request_id, call.service) from exc
        finally:
            responses.cancel()


@final
class AsyncClient(_ClientBase):
    """Asyncio client of the metadata service: the same methods as ``Client``, awaited (and
    ``async for`` over the listing ones), except the artifact transfers (``push``, ``pull``...),
    which only ``Client`` has. Open with ``modelyard.aio.connect()``; the channels are made on
    first use, in the running event loop (the deploy service's at the address the metadata
    service gives when none was, as ``Client``)."""

    def __init__(
        self,
        target: str | None = None,
        *,
        deploy: str | None = None,
        actor: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: TLSConfig | None = None,
        settings_prefix: str = "",
    ) -> None:
        super().__init__(
            target, deploy=deploy, actor=actor, token=token, timeout=timeout, tls=tls, settings_prefix=settings_prefix
        )
        self._channel: grpc.aio.Channel | None = None
        self._stub_: metadata_pb2_grpc.MetadataServiceAsyncStub | None = None
        self._auth_stub_: Any = None
        self._deploy_channel: grpc.aio.Channel | None = None
        self._deploy_stub_: Any = None

    @property
    def deploy_target(self) -> str | None:
        """The deploy service's "host:port": as given (``deploy`` argument, else
        $MODELYARD_DEPLOY_ADDR), else as found on the first deploy call (the metadata service's
        answer, else 127.0.0.1:7412); None until then."""
        if self._deploy_given:
            return self._deploy_given
        if self._platform is None:
            return None
        return _address(None, self._platform.deploy, DEFAULT_DEPLOY)

    async def _announced(self) -> PlatformInfo:
        """What the metadata service says of the platform, asked once (again after a failure;
        two tasks racing may both ask: the answer is the same)."""
        if self._platform is None:
            try:
                platform = await self.platform_info()
            except ModelyardError as exc:
                platform = _unknown_if_unimplemented(exc)
            self._platform = platform
        return self._platform

    async def _stub_for(self, service: str) -> Any:
        if service == METADATA:
            return self._stub
        if service == AUTH:
            if self._auth_stub_ is None:
                self._auth_stub_ = auth_pb2_grpc.AuthServiceStub(self._metadata_channel)
            return self._auth_stub_
        if self._deploy_stub_ is None:
            target = self._deploy_given or _address(None, (await self._announced()).deploy, DEFAULT_DEPLOY)
            if self._deploy_stub_ is None:  # another task may have made it while this one asked
                self._deploy_channel = open_aio_channel(target, self.tls, _DEPLOY_CHANNEL_OPTIONS)
                self._deploy_stub_ = deploy_pb2_grpc.DeployServiceStub(self._deploy_channel)
        return self._deploy_stub_

    @property
    def _metadata_channel(self) -> grpc.aio.Channel:
        """The metadata service's channel (MetadataService and AuthService), made on first use."""
        if self._channel is None:
            self._channel = open_aio_channel(self.target, self.tls, _CHANNEL_OPTIONS)
        return self._channel

    @property
    def _stub(self) -> metadata_pb2_grpc.MetadataServiceAsyncStub:
        if self._stub_ is None:
            # The stub's overloads pick the async flavour from the channel type when grpc has
            # type stubs (types-grpcio); without them the channel is Any and the first one wins.
            stub: metadata_pb2_grpc.MetadataServiceAsyncStub = metadata_pb2_grpc.MetadataServiceStub(
                self._metadata_channel
            )  # type: ignore[assignment]
            self._stub_ = stub
            return stub
        return self._stub_

    async def deploy(
        self,
        name: str,
        reference: str,
        *,
        replicas: int | None = None,
        runtime: DeploymentRuntime | str | None = None,
        reason: str = "",
        trusted_types: Iterable[str] | None = None,
    ) -> Deployment:
        """``Client.deploy``, awaited: creates deployment ``name`` or rolls it forward to ``reference``."""
        try:
            created = 1 if replicas is None else replicas
            return await self.create_deployment(
                name, reference, replicas=created, runtime=runtime, trusted_types=trusted_types or ()
            )
        except AlreadyExistsError:
            return await self.update_deployment(
                name, reference=reference, replicas=replicas, reason=reason, trusted_types=trusted_types
            )

    async def close(self) -> None:
        for channel in (self._channel, self._deploy_channel):
            if channel is not None:
                await channel.close()
        self._channel = self._stub_ = self._auth_stub_ = self._deploy_channel = self._deploy_stub_ = None

    @_unary
    def internal_authorize(
        self, token: str, project: str, role: ProjectRole | str, action: str, resource: str, mutation: bool
    ) -> _Unary[Authorization]:
        """Internal (registry and deploy services, as a SERVICE principal): may the holder of
        ``token`` do ``action`` on ``resource``, needing ``role`` on ``project``? A ``mutation``
        is recorded in the audit log, granted or not; a denial always is."""
        request = auth_pb2.AuthorizeRequest(
            token=token,
            project=project,
            role=cv.role_to_pb(ProjectRole.parse(role)),
            action=action,
            resource=resource,
            mutation=mutation,
        )
        return _Unary("Authorize", request, cv.authorization_from_pb, service=AUTH)

    @_unary
    def internal_create_serving_token(self, reference: str, deployment: str, ttl: timedelta) -> _Unary[NewToken]:
        """Internal (deploy service): a credential for one inference server, reading ``reference``
        and an ensemble's members only, for ``ttl``."""
        request = auth_pb2.CreateServingTokenRequest(reference=reference, deployment=deployment, ttl=cv.ttl_to_pb(ttl))
        return _Unary("CreateServingToken", request, cv.new_token_from_pb, service=AUTH)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _run_unary(self, call: _Unary[T]) -> T:
        request_id, metadata = self._metadata(call.actor)
        try:
            stub = await self._stub_for(call.service)
            response = await getattr(stub, call.method)(call.request, timeout=self.timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise self._error(exc, request_id, call.service) from exc
        return call.convert(_decoded(response, call.method, request_id))

    def _run_iterating(self, call: _Pages[T] | _Stream[T]) -> AsyncIterator[T]:
        if isinstance(call, _Stream):
            return self._stream(call)
        return self._pages(call, _first_page(call))

    async def _pages(self, call: _Pages[T], request: Any) -> AsyncIterator[T]:
        count = 0
        while call.limit is None or count < call.limit:
            response = await self._run_unary(_Unary(call.method, request, _same, service=call.service))
            for item in call.items(response):
                if call.limit is not None and count >= call.limit:
                    return
                count += 1
                yield item
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    async def _stream(self, call: _Stream[T]) -> AsyncIterator[T]:
        request_id, metadata = self._metadata()
        responses = getattr(await self._stub_for(call.service), call.method)(call.request, metadata=metadata)
        try:
            async for response in responses:
                yield call.convert(_decoded(response, call.method, request_id))
        except grpc.RpcError as exc:
            raise self._error(exc, request_id, call.service) from exc
        finally:
            responses.cancel()


def _decoded(response: Any, method: str, request_id: str) -> Any:
    """``response``, unless grpc.aio could not decode it: it then logs and hands back None, where
    the blocking API raises INTERNAL, so this raises the same instead of failing later on None."""
    if response is None:
        raise InternalError(f"{method}: the server's response could not be decoded", request_id=request_id)
    return response


def connect(
    target: str | None = None,
    *,
    registry: str | None = None,
    deploy: str | None = None,
    actor: str | None = None,
    token: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    tls: TLSConfig | None = None,
    settings_prefix: str = "",
) -> Client:
    """A blocking client of the metadata service and, for artifact bytes, of the registry.

    Args:
        target: Metadata service "host:port"; defaults to $MODELYARD_METADATA_ADDR, else
            127.0.0.1:7410.
        registry: Registry service "host:port"; defaults to $MODELYARD_REGISTRY_ADDR, else
            the address the metadata service gives (asked once, on the first transfer), else
            127.0.0.1:7411 (when the metadata service was not told it).
        deploy: Deploy service "host:port"; defaults to $MODELYARD_DEPLOY_ADDR, else the
            address the metadata service gives (on the first deploy call), else 127.0.0.1:7412.
        actor: Who the calls are made for (audit log); defaults to $MODELYARD_ACTOR, else the
            login name.
        token: Bearer token sent with every call to the metadata, registry and deploy services
            (``modelyard auth token create`` makes one); defaults to $MODELYARD_TOKEN, else
            none (for services with authentication off).
        timeout: Deadline of each call in seconds, retries included; None for none. Uploads
            and downloads themselves have none: a large file takes as long as it takes.
        tls: TLS (and the client certificate, for mTLS) of every channel, the inference
            servers' included; None for plaintext.
        settings_prefix: For a client inside a service: the prefix of that service's settings
            ("MLREG_REGISTRY_"), so that a service it cannot reach is reported with the setting
            that names its address (MLREG_REGISTRY_METADATA_ADDR), not a user's variable.
    """
    return Client(
        target,
        registry=registry,
        deploy=deploy,
        actor=actor,
        token=token,
        timeout=timeout,
        tls=tls,
        settings_prefix=settings_prefix,
    )


def connect_async(
    target: str | None = None,
    *,
    deploy: str | None = None,
    actor: str | None = None,
    token: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    tls: TLSConfig | None = None,
    settings_prefix: str = "",
) -> AsyncClient:
    """An asyncio client of the metadata and deploy services; arguments as ``connect``."""
    return AsyncClient(
        target, deploy=deploy, actor=actor, token=token, timeout=timeout, tls=tls, settings_prefix=settings_prefix
    )
