"""Configuration of the metadata service, from MLREG_METADATA_* environment variables."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from modelyard_common.processes import ProcessSettings
from modelyard_common.settings import DatabaseSettings
from modelyard_metadata.domain.webhook_destinations import parse_allowed_hosts

__all__ = ["MetadataSettings"]


class MetadataSettings(DatabaseSettings, ProcessSettings):
    model_config = SettingsConfigDict(env_prefix="MLREG_METADATA_", frozen=True, extra="ignore")

    redis_url: str = ""
    """Redis URL for the lookup cache, e.g. redis://cache:6379/0; empty runs without a cache."""
    redis_timeout_seconds: float = Field(0.25, gt=0, le=10)
    """Deadline of a Redis command; past it the request reads Postgres instead."""
    cache_ttl_seconds: int = Field(300, ge=1, le=86400)
    """How long a cached row lives (it is invalidated by writes well before that)."""
    cache_write_lease_seconds: float = Field(30, gt=0, le=3600)
    """How long a write's mark in Redis keeps every replica from caching the models it changes,
    should its process die before lifting it; longer than a COMMIT may take (db_timeout_seconds)."""

    @model_validator(mode="after")
    def _lease_outlives_commit(self) -> Self:
        if self.cache_write_lease_seconds <= self.db_timeout_seconds:
            raise ValueError(
                f"cache_write_lease_seconds: {self.cache_write_lease_seconds:g} must be longer than "
                f"db_timeout_seconds ({self.db_timeout_seconds:g}), the deadline of a COMMIT"
            )
        return self

    model_metrics_interval_seconds: float = Field(30, ge=0, le=3600)
    """How often the modelyard_model_metric gauges are read again from Postgres; 0 turns them off."""
    model_metrics_limit: int = Field(5000, ge=1, le=100000)
    """Most series of modelyard_model_metric exported (a bound on Prometheus cardinality)."""
    auth_enabled: bool = False
    """Require a bearer token on every call and check project roles (docs/security.md)."""
    admin_token: SecretStr | None = None
    """Token (at least 32 characters) of the platform admin ``admin``, installed at start; changing
    it revokes the previous one."""
    service_tokens: dict[str, SecretStr] = {}
    """JSON object of service principal -> token, e.g. {"modelyard-registry": "..."}: the identities
    of the registry and deploy services, installed at start like ``admin_token``."""
    protected_aliases: frozenset[str] = frozenset({"champion", "production"})
    """Aliases only a project ADMIN may move or delete (JSON list)."""
    registry_addr: str = ""
    """host:port at which clients reach the registry service, told to them by GetPlatformInfo so
    that the metadata address is the only one they need; empty: unknown (clients use their default)."""
    deploy_addr: str = ""
    """host:port at which clients reach the deploy service (as ``registry_addr``); empty: unknown."""
    webhook_allowed_hosts: tuple[str, ...] = ()
    """Where webhooks may POST besides public addresses (JSON list): CIDRs such as "10.0.0.0/8" and
    host names, "*." allowed ("*.hooks.example.com"); loopback and private addresses are refused
    unless listed here (a guard against request forgery)."""

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _hosts_parse(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        parse_allowed_hosts(hosts)
        return hosts

    webhook_secret_key: SecretStr | None = None
    """Key sealing the webhook signing secrets in Postgres (any long random string; keep it apart
    from database backups); unset: they are stored as they are, and the service warns."""
    webhook_timeout_seconds: float = Field(10, gt=0, le=120)
    """Deadline of one delivery attempt, answer included."""
    webhook_retry_base_seconds: float = Field(5, gt=0, le=3600)
    """Wait before the first retry of a failed delivery; each further retry waits twice as long."""
    webhook_retry_max_seconds: float = Field(900, gt=0, le=86400)
    """Longest wait between retries; a subscription whose retries reach it is marked failing."""
    webhook_poll_seconds: float = Field(5, gt=0, le=300)
    """How often the delivery worker looks for due retries (new events wake it at once)."""
    webhook_concurrency: int = Field(8, ge=0, le=256)
    """Subscriptions this replica sends to at the same time; 0: it sends none."""
    webhook_secret_grace_seconds: float = Field(86400, ge=0, le=30 * 86400)
    """How long a rotated-out webhook secret keeps signing beside the new one."""
    webhook_log_retention_seconds: float = Field(30 * 86400, gt=0)
    """How long a delivered webhook delivery (or ping) stays in the delivery log; the workers
    prune older ones (pending ones stay until delivered), after which they cannot be redelivered."""
    webhook_allow_public: bool = True
    """Whether webhooks may POST to public addresses; off, only to ``webhook_allowed_hosts``
    (a closed network; the tests)."""
