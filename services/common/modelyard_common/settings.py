"""Settings every service shares, read from environment variables once at start."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CallerAuthSettings", "DatabaseSettings", "ServiceSettings", "load_settings"]


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


class CallerAuthSettings(BaseSettings):
    """Authentication of a service whose callers the metadata service authorizes (registry, deploy)."""

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


def load_settings(cls: type[S]) -> S:
    """Builds settings from the environment, or exits with one line per bad variable."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        lines = [f"invalid configuration for {cls.__name__}:"]
        for error in exc.errors():
            if not error["loc"]:  # a rule over several fields: the message names them
                lines.append(f"  {error['msg']}")
                continue
            name = prefix + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"  {name}: {error['msg']} (got {error.get('input')!r})")
        sys.exit("\n".join(lines))
