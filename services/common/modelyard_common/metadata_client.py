"""How the registry and deploy services reach the metadata service: one client per service, as
its own principal (``auth_token``), over TLS when ``tls_ca_file`` is set, with the deadline of
``metadata_timeout_seconds``; an unreachable address is reported under the service's own
setting name (``MLREG_REGISTRY_METADATA_ADDR``)."""

from __future__ import annotations

import modelyard.aio
from modelyard_common.settings import MetadataCallerSettings
from modelyard_common.tls import client_tls

__all__ = ["connect_metadata"]


def connect_metadata(settings: MetadataCallerSettings, actor: str) -> modelyard.aio.AsyncClient:
    """The metadata service's client for this service, acting as ``actor``; the caller closes it."""
    return modelyard.aio.connect(
        settings.metadata_addr,
        actor=actor,
        timeout=settings.metadata_timeout_seconds,
        tls=client_tls(settings),
        token=settings.auth_token_value(),
        settings_prefix=str(settings.model_config.get("env_prefix", "")),
    )
