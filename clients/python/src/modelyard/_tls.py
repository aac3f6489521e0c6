"""``TLSConfig``: how the client's channels are secured; without one they are plaintext (the
default, for services on loopback or a trusted network)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

__all__ = ["TLSConfig", "open_aio_channel", "open_channel"]

Options = Sequence[tuple[str, Any]]


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """TLS for every channel a client opens (metadata, registry, deploy, inference servers).

        client = modelyard.connect("metadata.internal:7410", tls=modelyard.TLSConfig("ca.pem"))

    Args:
        ca_file: PEM CA bundle that verifies the servers; None for gRPC's bundled roots.
        cert_file: PEM certificate presented to servers that require one (mTLS), with ``key_file``.
        key_file: PEM private key of ``cert_file``.
        server_name: The name the servers' certificates must carry, when it is not the host of
            the address dialled (an IP address, a tunnel).
    """

    ca_file: str | os.PathLike[str] | None
    cert_file: str | os.PathLike[str] | None = None
    key_file: str | os.PathLike[str] | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls: cert_file and key_file go together (give both or neither)")

    def credentials(self) -> grpc.ChannelCredentials:
        """The channel credentials, from the files as they are now (a rotated file is read by
        the next channel)."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )

    def options(self) -> list[tuple[str, Any]]:
        """Channel options: the expected server name, when given."""
        return [] if self.server_name is None else [("grpc.ssl_target_name_override", self.server_name)]


def _read(path: str | os.PathLike[str] | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


def open_channel(target: str, tls: TLSConfig | None, options: Options = ()) -> grpc.Channel:
    """A blocking channel to ``target``: plaintext without ``tls``."""
    if tls is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, tls.credentials(), options=[*options, *tls.options()])


def open_aio_channel(target: str, tls: TLSConfig | None, options: Options = ()) -> grpc.aio.Channel:
    """An asyncio channel to ``target``: plaintext without ``tls``."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    return grpc.aio.secure_channel(target, tls.credentials(), options=[*options, *tls.options()])
