"""How a client reaches the platform, whichever service it calls: addresses and their defaults,
the actor and token headers, TLS, and the one retry policy of every channel.

An address is the one given (argument, else environment variable), else the one the metadata
service announces (GetPlatformInfo, asked by the transport on first need), else the default of
a single machine's platform. The metadata service's address is never asked: it is the one asked.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from modelyard._tls import TLSConfig
from modelyard._types import PlatformInfo
from modelyard.errors import ModelyardError, Reachable
from modelyard.v1 import (
    auth_pb2,
    datasets_pb2,
    deploy_pb2,
    jobs_pb2,
    metadata_pb2,
    registry_pb2,
    scoring_pb2,
    webhooks_pb2,
)

__all__ = [
    "ACTOR_ENV",
    "ACTOR_HEADER",
    "AUTH",
    "AUTHORIZATION_HEADER",
    "DATASETS",
    "DEFAULT_DEPLOY",
    "DEFAULT_REGISTRY",
    "DEFAULT_TARGET",
    "DEFAULT_TIMEOUT",
    "DEPLOY",
    "DEPLOY_ENV",
    "JOBS",
    "METADATA",
    "READS",
    "REGISTRY",
    "REGISTRY_ENV",
    "REQUEST_ID_HEADER",
    "SCORING",
    "TARGET_ENV",
    "TOKEN_ENV",
    "UNKNOWN_PLATFORM",
    "WEBHOOKS",
    "Headers",
    "Settings",
    "address",
    "channel_options",
    "given_address",
    "unknown_if_unimplemented",
]

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

# The services a client calls; AuthService, DatasetService, WebhookService and ScoringService are
# served on the metadata service's port.
METADATA, AUTH, DATASETS, WEBHOOKS, SCORING = "metadata", "auth", "datasets", "webhooks", "scoring"
DEPLOY, REGISTRY = "deploy", "registry"
# JobService is served on the deploy service's port.
JOBS = "jobs"
_FULL_NAMES = {
    METADATA: metadata_pb2.DESCRIPTOR.services_by_name["MetadataService"].full_name,
    AUTH: auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name,
    DATASETS: datasets_pb2.DESCRIPTOR.services_by_name["DatasetService"].full_name,
    DEPLOY: deploy_pb2.DESCRIPTOR.services_by_name["DeployService"].full_name,
    REGISTRY: registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
    WEBHOOKS: webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name,
    SCORING: scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name,
    JOBS: jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
}
# The one retry policy: reads, and only reads, are sent again when the server (or a store behind
# it) was UNAVAILABLE, by gRPC itself, within the call's deadline, with jittered backoff. Writes
# never are (Authorize neither: it writes audit events). Transfers resume their byte streams on
# top of this (see ``_transfer``), which is not a retry of a call.
READS: dict[str, frozenset[str]] = {
    METADATA: frozenset(
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
    ),
    AUTH: frozenset({"WhoAmI", "ListPrincipals", "ListTokens", "ListProjectRoles"}),
    DATASETS: frozenset(
        {
            "GetDataset",
            "ListDatasets",
            "GetDatasetVersion",
            "ListDatasetVersions",
            "SearchDatasets",
            "ListDatasetLinks",
            "ListPendingDatasetVersions",
        }
    ),
    DEPLOY: frozenset({"GetDeployment", "ListDeployments", "ListDeploymentRevisions"}),
    REGISTRY: frozenset({"StatArtifact", "GetUploadSession"}),
    WEBHOOKS: frozenset({"GetSubscription", "ListSubscriptions", "ListDeliveries"}),
    SCORING: frozenset(
        {"GetScoreDefinition", "GetScoringTest", "ListScoringTests", "GetScoringRun", "ListScoringRuns"}
    ),
    JOBS: frozenset({"GetJob", "ListJobs"}),
}
_RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
# Which services share a channel: the one reached at a service's address.
_ON_METADATA = (METADATA, AUTH, DATASETS, WEBHOOKS, SCORING)
_ON_CHANNEL = {
    METADATA: _ON_METADATA,
    AUTH: _ON_METADATA,
    DATASETS: _ON_METADATA,
    WEBHOOKS: _ON_METADATA,
    SCORING: _ON_METADATA,
    DEPLOY: (DEPLOY, JOBS),
    JOBS: (DEPLOY, JOBS),
    REGISTRY: (REGISTRY,),
}

Headers = tuple[tuple[str, str], ...]


def channel_options(service: str) -> list[tuple[str, Any]]:
    """Options of the channel to ``service``: the retry policy for the reads of the services it
    carries (of those the protos declare), and the user agent."""
    names = [
        {"service": _FULL_NAMES[carried], "method": method}
        for carried in _ON_CHANNEL[service]
        for method in sorted(READS[carried])
    ]
    config = {"methodConfig": [{"name": names, "retryPolicy": _RETRY_POLICY}]}
    return [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(config)),
        ("grpc.primary_user_agent", "modelyard-python"),
    ]


def given_address(argument: str | None, env: str) -> str | None:
    """A service address the user gave: the argument, else the environment variable; None when
    neither is set (the metadata service is then asked where the service is)."""
    return argument or os.environ.get(env) or None


def address(given: str | None, announced: str, default: str) -> str:
    """Where a client reaches a service: the address given, else the one the metadata service
    announced (GetPlatformInfo), else the default of a single machine's platform."""
    return given or announced or default


UNKNOWN_PLATFORM = PlatformInfo(registry="", deploy="", version="")


def unknown_if_unimplemented(exc: ModelyardError) -> PlatformInfo:
    """A metadata service older than GetPlatformInfo knows no addresses: the defaults apply.
    Anything else (unreachable, no token) is raised: guessing another address could reach
    another platform's service."""
    if exc.code != "UNIMPLEMENTED":
        raise exc
    return UNKNOWN_PLATFORM


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and no passwd entry, e.g. in a container
        return "unknown"


_SERVICE_ADDRESS = {DEPLOY: ("deploy", DEPLOY_ENV), REGISTRY: ("registry", REGISTRY_ENV)}


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """What every call of one client shares: where the metadata service is, the addresses of the
    others as given (None: ask), who calls, the token (never shown), the deadline and TLS."""

    target: str
    actor: str
    token: str | None
    timeout: float | None
    tls: TLSConfig | None
    settings_prefix: str
    registry: str | None
    deploy: str | None

    @classmethod
    def of(
        cls,
        target: str | None,
        *,
        registry: str | None = None,
        deploy: str | None = None,
        actor: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: TLSConfig | None = None,
        settings_prefix: str = "",
    ) -> Settings:
        """The arguments of ``connect``, completed from the environment and checked."""
        actor = actor or os.environ.get(ACTOR_ENV) or _login_name()
        if not actor.isascii() or not actor.isprintable():
            raise ValueError(f"actor: {actor!r} must be printable ASCII (it travels as a gRPC header)")
        token = token or os.environ.get(TOKEN_ENV) or None
        if token is not None and (not token.isascii() or not token.isprintable()):
            # The value is a secret: the message does not quote it.
            raise ValueError("token: must be printable ASCII (it travels as a gRPC header)")
        return cls(
            target=target or os.environ.get(TARGET_ENV) or DEFAULT_TARGET,
            actor=actor,
            token=token,
            timeout=timeout,
            tls=tls,
            settings_prefix=settings_prefix,
            registry=given_address(registry, REGISTRY_ENV),
            deploy=given_address(deploy, DEPLOY_ENV),
        )

    def headers(self, actor: str | None = None) -> tuple[str, Headers]:
        """A fresh request id and the headers carrying it, the actor (the client's unless given)
        and, when the client has a token, the bearer credentials."""
        request_id = uuid.uuid4().hex[:16]
        headers: Headers = ((ACTOR_HEADER, actor or self.actor), (REQUEST_ID_HEADER, request_id))
        if self.token is not None:
            headers += ((AUTHORIZATION_HEADER, f"Bearer {self.token}"),)
        return request_id, headers

    def reachable(self, service: str, dialled: str | None) -> Reachable:
        """Where ``service`` was looked for (``dialled``: its address, once known), and what to
        do when it cannot be reached: the words of a failed connection's UnavailableError."""
        if service in _SERVICE_ADDRESS:
            name, variable = _SERVICE_ADDRESS[service]
            where = dialled or (DEFAULT_DEPLOY if service == DEPLOY else DEFAULT_REGISTRY)
        else:
            name, variable, where = "metadata", TARGET_ENV, self.target
        if self.settings_prefix:  # a service's client: the fix is in that service's settings
            hint = f"is it running? this service's {self.settings_prefix}{name.upper()}_ADDR names it"
        else:
            hint = f"is the platform running (`make run`)? set {variable} if it listens elsewhere"
        return Reachable(f"{name} service", where, hint)
