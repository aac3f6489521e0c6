"""The metadata service, reached through the modelyard client like any other caller."""

from __future__ import annotations

from modelyard import AsyncClient
from modelyard_deploy.domain.entities import VersionInfo

__all__ = ["MetadataCatalog"]


class MetadataCatalog:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def resolve(self, reference: str) -> VersionInfo:
        version = await self._client.get_version(reference)
        return VersionInfo(reference=version.reference, project=version.project, status=version.status.value)
