"""Configuration of the inference server, from MLREG_SERVING_* environment variables: a
launcher writes them with ``launch.ServingLaunch``, whose fields are named as these."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from modelyard_common.settings import ServiceSettings
from modelyard_serving.launch import ENV_PREFIX

__all__ = ["BatchWorkerSettings", "ServingSettings"]


class ServingSettings(ServiceSettings):
    """One server serves one version, fetched through the registry when it starts."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    reference: str = Field(min_length=3)
    """The version to serve: PROJECT/MODEL:N, PROJECT/MODEL@ALIAS or PROJECT/MODEL (required)."""
    model_name: str = ""
    """Name clients give in OIP requests; empty: the model's name without its project."""
    metadata_addr: str = "127.0.0.1:7410"
    """host:port of the metadata service."""
    registry_addr: str = "127.0.0.1:7411"
    """host:port of the registry service."""
    cache_dir: Path | None = None
    """Local artifact cache; unset: $MODELYARD_CACHE_DIR, else ~/.cache/modelyard."""
    allow_pickle: bool = False
    """Load pickle and joblib model files, which run arbitrary code when loaded."""
    trusted_types: tuple[str, ...] = ()
    """Types a skops file may hold beyond skops' defaults, as a JSON list."""
    token: SecretStr | None = None
    """Bearer token for reading the version from metadata and registry when they require one
    (the deploy service passes its serving token)."""

    @property
    def served_name(self) -> str:
        """``model_name``, else the model part of ``reference`` ("fraud/scorer@champion": "scorer")."""
        if self.model_name:
            return self.model_name
        model = self.reference.partition("/")[2]
        return model.partition(":")[0].partition("@")[0]


class BatchWorkerSettings(ServingSettings):
    """A batch scoring job's predictor worker: the server's settings (the version, where the
    platform is, the serving credential), and, for a remote one (``--connect``), where it takes
    its stream from the leader that runs the job (``launch.BatchConnection``)."""

    batch_addr: str = ""
    """host:port of the deploy service replica that runs the job."""
    batch_job: str = ""
    """The job's id."""
    batch_secret: SecretStr | None = None
    """The job's worker secret, which the leader made when it started the job's workers."""
    batch_worker: str = ""
    """This worker's name (its pod's), which the job's errors quote."""
    batch_server_name: str = ""
    """With TLS: the name the leader's certificate carries; empty: the host of ``batch_addr``."""
