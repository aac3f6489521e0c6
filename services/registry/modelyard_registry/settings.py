"""Configuration of the registry service, from MLREG_REGISTRY_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from modelyard_common.processes import ProcessSettings
from modelyard_common.settings import DatabaseSettings, MetadataCallerSettings

__all__ = ["RegistrySettings"]


class RegistrySettings(DatabaseSettings, MetadataCallerSettings, ProcessSettings):
    """The registry keeps upload sessions and the blob index in Postgres, schema 'registry'."""

    model_config = SettingsConfigDict(env_prefix="MLREG_REGISTRY_", frozen=True, extra="ignore")

    s3_endpoint: str = ""
    """S3 endpoint URL, e.g. http://seaweedfs:8333; empty for AWS."""
    s3_bucket: str = Field("modelyard-artifacts", min_length=3, max_length=63)
    """Bucket holding the artifacts; created at start when missing."""
    s3_access_key: str = ""
    """S3 access key; empty to use boto3's usual credential chain."""
    s3_secret_key: str = ""
    """S3 secret key."""
    s3_region: str = "us-east-1"
    """S3 region."""
    s3_prefix: str = "blobs/"
    """Key prefix of every object the registry writes (and the reconciler may delete)."""
    s3_timeout_seconds: float = Field(30.0, gt=0, le=600)
    """Connect and read timeout of each S3 request (boto3 retries up to 3 times within the call)."""
    s3_threads: int = Field(16, ge=1, le=256)
    """Threads (and pooled connections) for S3 requests."""
    part_size_mib: int = Field(8, ge=5, le=5120)
    """Size of an S3 multipart part; larger for files that would need more than 10,000 parts."""
    parts_in_flight: int = Field(8, ge=1, le=256)
    """Parts being uploaded at once across all uploads: with part_size_mib, bounds upload memory."""
    stream_parts_in_flight: int = Field(4, ge=1, le=256)
    """Parts of one upload that may be in flight or not yet durable: bounds what a crash of the
    registry makes the client send again (with the part being filled)."""
    download_read_size_mib: int = Field(8, ge=1, le=256)
    """Size of each ranged S3 read of a download."""
    download_read_ahead: int = Field(4, ge=1, le=64)
    """Ranged reads a download keeps in flight ahead of the client."""
    lease_seconds: float = Field(10.0, ge=1, le=3600)
    """How long an upload session stays owned once its registry stops renewing it (every third of
    it): after a crash, the wait before the upload resumes elsewhere (the SDK waits up to 120 s)."""
    reconcile_interval_seconds: float = Field(300.0, ge=0, le=86400)
    """Pause between reconciler passes; 0 runs none in the server."""
    upload_idle_seconds: float = Field(86400.0, gt=0)
    """An upload without progress for this long is abandoned: its version becomes FAILED."""
    orphan_grace_seconds: float = Field(3600.0, ge=0)
    """Age before an unreferenced blob, multipart upload or object may be removed."""
