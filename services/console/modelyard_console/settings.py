"""The console's settings, from MLREG_CONSOLE_* variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from modelyard_common.settings import ServiceSettings

__all__ = ["ConsoleSettings"]


class ConsoleSettings(ServiceSettings):
    """``port`` is the HTTP port of the pages (``tls_cert_file``/``tls_key_file`` make it HTTPS, and
    the session cookie Secure); ``tls_ca_file`` verifies the services it calls."""

    model_config = SettingsConfigDict(env_prefix="MLREG_CONSOLE_", frozen=True, extra="ignore")

    metadata_addr: str = "127.0.0.1:7410"
    """The metadata service; it names the registry and deploy services (GetPlatformInfo)."""
    registry_addr: str = ""
    """The registry service (downloads stream through it); empty: where the metadata service says."""
    deploy_addr: str = ""
    """The deploy service (deployment pages); empty: where the metadata service says."""
    metadata_timeout_seconds: float = Field(10.0, gt=0, le=300)
    """Deadline of each call the console makes for a page."""
    redis_url: str
    """Redis holding the sessions (the signed-in users' tokens never reach the browser)."""
    session_ttl_seconds: float = Field(8 * 3600.0, ge=60, le=30 * 86400)
    """How long a session lasts after sign-in; sign-out ends it at once."""
    secure_cookies: bool = False
    """Mark the session cookie Secure although this process speaks plain HTTP (behind a TLS
    proxy); it is Secure anyway when the console serves HTTPS itself."""
