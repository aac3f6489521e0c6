"""The metadata service, reached through the modelyard client like any other caller."""

from __future__ import annotations

from datetime import timedelta

from modelyard import AsyncClient
from modelyard.internal import InternalCalls
from modelyard_deploy.domain.entities import VersionInfo

__all__ = ["MetadataCatalog", "ServingCredentials"]


class MetadataCatalog:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def resolve(self, reference: str) -> VersionInfo:
        version = await self._client.get_version(reference)
        return VersionInfo(reference=version.reference, project=version.project, status=version.status)


class ServingCredentials:
    """Serving credentials from the metadata service: what an inference server reads its version
    with (never this service's own token, which model code must not see)."""

    def __init__(self, client: AsyncClient, ttl: timedelta) -> None:
        self._calls = InternalCalls(client)
        self.ttl = ttl

    async def issue(self, deployment: str, version_reference: str, ttl: timedelta | None = None) -> str:
        issued = await self._calls.create_serving_token(version_reference, deployment, ttl or self.ttl)
        return issued.secret
