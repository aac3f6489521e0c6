"""The metadata service, reached through the modelyard client like any other caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelyard import Artifact, ArtifactFile, AsyncClient, ModelVersion
from modelyard.internal import InternalCalls
from modelyard_registry.domain.entities import StoredFile, VersionInfo

__all__ = ["MetadataCatalog"]


def _info(version: ModelVersion) -> VersionInfo:
    files = version.artifact.files if version.artifact else ()
    return VersionInfo(
        reference=version.reference,
        status=version.status,
        files=tuple(StoredFile(f.path, f.size, f.sha256, f.storage_key, f.content_type) for f in files),
    )


class MetadataCatalog:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._calls = InternalCalls(client)

    async def get(self, reference: str) -> VersionInfo:
        return _info(await self._client.get_version(reference))

    async def commit(self, actor: str, reference: str, files: Sequence[StoredFile]) -> VersionInfo:
        artifact = Artifact(
            files=tuple(ArtifactFile(f.path, f.size, f.sha256, f.storage_key, f.content_type) for f in files),
            total_size=sum(f.size for f in files),
        )
        return _info(await self._calls.commit_artifact(reference, artifact, on_behalf_of=actor))

    async def fail(self, actor: str, reference: str, reason: str) -> VersionInfo:
        return _info(await self._calls.fail_upload(reference, reason, on_behalf_of=actor))

    async def pending_unchanged_since(self, cutoff: datetime) -> list[str]:
        """PENDING_UPLOAD versions of every project nobody changed since ``cutoff``."""
        unchanged = f'status = "PENDING_UPLOAD" AND updated < "{cutoff.isoformat()}"'
        return [version.reference async for version in self._client.search_versions(unchanged)]
