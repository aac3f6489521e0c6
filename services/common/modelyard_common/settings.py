"""Settings every service shares, read from environment variables once at start.

Each service's settings class sets ``env_prefix`` (``MLREG_REGISTRY_``) and inherits the fields
it shares with others from the classes here, so that a shared setting is declared once.
``load_settings`` refuses a variable with the service's prefix that names none of its settings: a
misspelt name would otherwise be ignored and its default used in silence. Only the service's own
prefix is checked, since one environment may hold the settings of several services.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DatabaseSettings", "MetadataCallerSettings", "ServiceSettings", "load_settings", "unknown_variables"]


class ServiceSettings(BaseSettings):
    """Base for each service's frozen settings class; subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    """Address the gRPC server binds to."""
    port: int = Field(0, ge=0, le=65535)
    """gRPC port; 0 picks a free one (written to ``ready_file``)."""
    metrics_port: int = Field(0, ge=0, le=65535)
    """Port of the Prometheus /metrics HTTP endpoint; 0 picks a free one."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level of log records written to stderr."""
    log_format: Literal["json", "console"] = "json"
    """json: one JSON object per line; console: human-readable lines."""
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=300)
    """How long in-flight RPCs may finish after SIGTERM before they are cancelled."""
    rpc_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    """Longest a unary RPC whose client set no deadline may run before it ends DEADLINE_EXCEEDED."""
    ready_file: Path | None = None
    """When set, a JSON file with the bound ports is written here once the service is serving."""
    tls_cert_file: Path | None = None
    """PEM certificate (chain) of this service: with it, the gRPC port speaks TLS only, and the
    service presents it to the services it calls (so it must allow server and client auth)."""
    tls_key_file: Path | None = None
    """PEM private key of ``tls_cert_file``."""
    tls_client_ca_file: Path | None = None
    """PEM CA bundle; when set, callers must present a certificate it signed (mTLS)."""
    tls_ca_file: Path | None = None
    """PEM CA bundle verifying the services this one calls; when set, those calls use TLS."""
    health_port: int | None = Field(None, ge=0, le=65535)
    """Plaintext port serving only gRPC health, for probes that cannot speak TLS; unset: none, 0
    picks a free one (written to ``ready_file``)."""

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file: needs tls_cert_file and tls_key_file (mTLS is on top of TLS)")
        return self


class DatabaseSettings(ServiceSettings):
    """Base for services that keep state in Postgres."""

    db_dsn: str
    """Postgres DSN, e.g. postgresql://modelyard@db:5432/modelyard (required)."""
    db_pool_min: int = Field(2, ge=1, le=100)
    """Connections the pool keeps open."""
    db_pool_max: int = Field(20, ge=1, le=500)
    """Most connections the pool opens."""
    db_timeout_seconds: float = Field(10.0, gt=0, le=300)
    """Deadline of a single database command or connection attempt."""


class MetadataCallerSettings(ServiceSettings):
    """Base for services that call the metadata service as their own principal and have it
    authorize their callers (registry, deploy); ``modelyard_common.metadata_client`` connects."""

    metadata_addr: str = "127.0.0.1:7410"
    """host:port of the metadata service."""
    metadata_timeout_seconds: float = Field(10.0, gt=0, le=300)
    """Deadline of each call to the metadata service."""
    auth_enabled: bool = False
    """Require a bearer token on every call, checked against project roles by the metadata service."""
    auth_token: SecretStr | None = None
    """This service's own token (a SERVICE principal of the metadata service) for its calls there;
    required with ``auth_enabled``."""

    @model_validator(mode="after")
    def _token_when_enabled(self) -> Self:
        if self.auth_enabled and self.auth_token is None:
            raise ValueError("auth_token: required when auth_enabled is true (the metadata service must know us)")
        return self

    def auth_token_value(self) -> str | None:
        return self.auth_token.get_secret_value() if self.auth_token else None


S = TypeVar("S", bound=ServiceSettings)


def unknown_variables(cls: type[BaseSettings], environ: Mapping[str, str]) -> list[str]:
    """A line for each variable of ``environ`` with ``cls``'s prefix that is none of its
    settings, naming the closest one when a setting's name is close."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    names = [name.upper() for name in cls.model_fields]
    lines = []
    for variable in sorted(environ):
        name = variable.upper().removeprefix(prefix)
        if not prefix or not variable.upper().startswith(prefix) or name in names:
            continue
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        lines.append(f"{variable}: is no setting of {cls.__name__}{hint}")
    return lines


def load_settings(cls: type[S]) -> S:
    """Builds settings from the environment, or exits with one line per bad or unknown variable."""
    problems = unknown_variables(cls, os.environ)
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    try:
        settings = cls()
    except ValidationError as exc:
        for error in exc.errors():
            if error["loc"]:
                name = prefix + "_".join(str(part) for part in error["loc"]).upper()
                problems.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
            else:  # a rule over several fields: the message names them
                problems.append(error["msg"])
    else:
        if not problems:
            return settings
    sys.exit("\n  ".join([f"invalid configuration for {cls.__name__}:", *problems]))
