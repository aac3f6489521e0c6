"""TLS of a service: the credentials of its gRPC port, and how it calls the other services.

One set of files per service (``ServiceSettings.tls_*``): its certificate is both what it serves
and what it presents when it calls another service that requires client certificates.
"""

from __future__ import annotations

import grpc

from modelyard import TLSConfig
from modelyard_common.settings import ServiceSettings

__all__ = ["client_tls", "server_credentials", "tls_mode"]


def tls_mode(settings: ServiceSettings) -> str:
    """What the gRPC port speaks: "plaintext", "tls" or "mtls" (client certificates required)."""
    if settings.tls_cert_file is None:
        return "plaintext"
    return "mtls" if settings.tls_client_ca_file is not None else "tls"


def server_credentials(settings: ServiceSettings) -> grpc.ServerCredentials | None:
    """The gRPC port's credentials from the PEM files; None for plaintext."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    client_ca = settings.tls_client_ca_file
    return grpc.ssl_server_credentials(
        [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca is not None else None,
        require_client_auth=client_ca is not None,
    )


def client_tls(settings: ServiceSettings) -> TLSConfig | None:
    """How this service calls the others: TLS verified by ``tls_ca_file``, presenting its own
    certificate when it has one; None (plaintext) without ``tls_ca_file``."""
    if settings.tls_ca_file is None:
        return None
    return TLSConfig(settings.tls_ca_file, cert_file=settings.tls_cert_file, key_file=settings.tls_key_file)
