"""Configuration of the deploy service, from MLREG_DEPLOY_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from modelyard_common.settings import DatabaseSettings, MetadataCallerSettings

__all__ = ["DeploySettings"]


class DeploySettings(DatabaseSettings, MetadataCallerSettings):
    """The deploy service keeps deployments, revisions and replicas in Postgres, schema 'deploy';
    it resolves references at ``metadata_addr``, which its replicas read too."""

    model_config = SettingsConfigDict(env_prefix="MLREG_DEPLOY_", frozen=True, extra="ignore")

    registry_addr: str = "127.0.0.1:7411"
    """host:port of the registry service, where replicas download their artifacts."""
    default_runtime: Literal["process", "kubernetes"] = "process"
    """Runtime of a deployment created without one."""
    cache_dir: Path = Path("/tmp/modelyard-deploy/cache")
    """Artifact cache shared by every process replica (artifacts are cached by digest)."""
    run_dir: Path = Path("/tmp/modelyard-deploy/replicas")
    """Where each process replica gets a folder with its ready file and log."""
    warm_replicas: int = Field(1, ge=0, le=16)
    """Serving interpreters the leader keeps started ahead (libraries imported; no model, no
    credential), each to become one process replica in a fraction of a new one's start; 0: none."""
    scrape_targets_file: Path | None = None
    """Where to keep the process replicas' metrics ports for Prometheus (file_sd JSON); unset: nowhere."""
    serving_token_ttl_seconds: float = Field(900.0, ge=60, le=86400)
    """Lifetime of the serving credential each process replica reads its version with (at start;
    a restart gets a new one); Kubernetes workloads' credentials, which pods read whenever they
    start, live a day and are renewed at half-life. With authentication off there is none."""
    reconcile_interval_seconds: float = Field(2.0, gt=0, le=3600)
    """Pause between reconciler passes over every deployment (changes trigger one at once)."""
    events_interval_seconds: float = Field(1.0, gt=0, le=60)
    """How often the leader forwards deployment and job events to the audit log (and webhooks)."""
    ready_timeout_seconds: float = Field(120.0, gt=0, le=3600)
    """How long a replica may take to load its model and become ready."""
    restart_backoff_seconds: float = Field(1.0, ge=0, le=600)
    """Wait before restarting a failed replica; doubles with each failure in a row."""
    max_failures: int = Field(3, ge=1, le=100)
    """Failures in a row after which a replica is left down and the deployment is FAILED."""
    replica_stop_grace_seconds: float = Field(10.0, ge=0, le=300)
    """How long a replica may take to stop after SIGTERM before it is killed."""
    replica_drain_seconds: float = Field(1.0, ge=0, le=300)
    """How long a replica keeps running once it left the endpoints, before SIGTERM."""
    leader_retry_seconds: float = Field(2.0, gt=0, le=60)
    """How often a follower tries to become the leader, and the leader (and the change-notice
    listener) checks that its Postgres connection still answers."""
    leader_wait_seconds: float = Field(5.0, ge=0, le=60)
    """How long a change waits for the leader's pass over it before answering with the
    deployment as stored (a delete waits this plus the replicas' drain and stop grace)."""
    kubernetes_enabled: bool = False
    """Enable the kubernetes runtime (credentials: in-cluster, else the local kubeconfig)."""
    kubernetes_namespace: str = "modelyard"
    """Namespace of the Deployments and Services the kubernetes runtime makes."""
    kubernetes_image: str = "modelyard/modelyard:latest"
    """Image of the inference server (and of the init container that pulls the artifact)."""
    kubernetes_metadata_addr: str = ""
    """The metadata service as pods reach it; empty: ``metadata_addr``."""
    kubernetes_registry_addr: str = ""
    """The registry service as pods reach it; empty: ``registry_addr``."""
    kubernetes_tls_secret: str = ""
    """Secret (tls.crt, tls.key, ca.crt) mounted into inference pods, which then serve TLS (mTLS
    when this service requires client certificates) and call metadata and registry with it;
    empty: plaintext."""
    kubernetes_worker_addr: str = ""
    """host:port where the pods of a job's Kubernetes Job reach this replica, which runs the job
    (its own address: ``$(POD_IP):7412``); required when ``jobs_runtime`` is kubernetes."""
    kubernetes_worker_server_name: str = ""
    """With TLS: the name this service's certificate carries, which job pods check (they dial an
    address, not that name); empty: the host of ``kubernetes_worker_addr``."""
    jobs_runtime: Literal["process", "kubernetes"] = "process"
    """Where batch scoring jobs' predictor workers run: local processes, or the pods of a
    Kubernetes Job per job (in ``kubernetes_namespace``, with ``kubernetes_image``)."""
    jobs_worker_start_seconds: float = Field(600.0, gt=0, le=86400)
    """How long a job's pods may take to start, connect and load the model before the job fails."""
    jobs_max_running: int = Field(2, ge=1, le=64)
    """Batch scoring jobs the leader runs at once (each with its own predictor workers); others wait QUEUED."""
    jobs_poll_seconds: float = Field(1.0, gt=0, le=60)
    """How often the leader looks for jobs to start or cancel, and a job watch for changes."""
    scoring_enabled: bool = True
    """Whether the leader runs scoring tests; false leaves them queued for another installation."""
    scoring_poll_seconds: float = Field(2.0, gt=0, le=60)
    """How often the leader asks the metadata service for scoring runs to score (when it has none)."""
    scoring_lease_seconds: float = Field(1800.0, ge=10, le=86400)
    """How long a scoring run is leased to the leader: one it has not recorded by then (the
    leader died) is scored again by the next."""

    @field_validator("kubernetes_worker_addr")
    @classmethod
    def _ipv6_host_in_brackets(cls, value: str) -> str:
        """``$(POD_IP):7412`` of a pod with an IPv6 address reads ``fd00::7:7412``: the host (all
        before the last colon) goes in brackets, ``[fd00::7]:7412``, for gRPC to find the port."""
        host, _, port = value.rpartition(":")
        return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else value

    @model_validator(mode="after")
    def _worker_addr_for_kubernetes_jobs(self) -> Self:
        if self.jobs_runtime == "kubernetes" and not self.kubernetes_worker_addr:
            raise ValueError(
                "kubernetes_worker_addr: required when jobs_runtime is kubernetes (where job pods reach this replica)"
            )
        return self
