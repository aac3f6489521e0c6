"""The metadata service, reached through the modelyard client like any other caller. A
reference starting "dataset:" names a dataset version (DatasetService), any other a model
version (MetadataService)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelyard import Artifact, ArtifactFile, AsyncClient, DatasetColumn, DatasetVersion, ModelVersion
from modelyard._dataset_types import registry_reference
from modelyard.internal import InternalCalls
from modelyard_common.values import dataset_of_registry_reference
from modelyard_registry.domain.entities import StoredFile, Table, VersionInfo

__all__ = ["MetadataCatalog"]


def _stored(artifact: Artifact | None) -> tuple[StoredFile, ...]:
    files = artifact.files if artifact else ()
    return tuple(StoredFile(f.path, f.size, f.sha256, f.storage_key, f.content_type) for f in files)


def _info(version: ModelVersion) -> VersionInfo:
    return VersionInfo(reference=version.reference, status=version.status, files=_stored(version.artifact))


def _dataset_info(version: DatasetVersion) -> VersionInfo:
    return VersionInfo(
        reference=registry_reference(version.reference),
        status=version.status,
        files=_stored(version.artifact),
        table_format=version.format.value,
    )


def _artifact(files: Sequence[StoredFile]) -> Artifact:
    return Artifact(
        files=tuple(ArtifactFile(f.path, f.size, f.sha256, f.storage_key, f.content_type) for f in files),
        total_size=sum(f.size for f in files),
    )


class MetadataCatalog:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._calls = InternalCalls(client)

    async def get(self, reference: str) -> VersionInfo:
        if (dataset := dataset_of_registry_reference(reference)) is not None:
            return _dataset_info(await self._client.get_dataset_version(dataset))
        return _info(await self._client.get_version(reference))

    async def commit(
        self, actor: str, reference: str, files: Sequence[StoredFile], table: Table | None = None
    ) -> VersionInfo:
        if (dataset := dataset_of_registry_reference(reference)) is not None:
            assert table is not None, "a dataset version is committed with its table"
            columns = [DatasetColumn(name, kind) for name, kind in table.columns]
            committed = await self._calls.commit_dataset_version(
                dataset, _artifact(files), columns, table.row_count, on_behalf_of=actor
            )
            return _dataset_info(committed)
        return _info(await self._calls.commit_artifact(reference, _artifact(files), on_behalf_of=actor))

    async def fail(self, actor: str, reference: str, reason: str) -> VersionInfo:
        if (dataset := dataset_of_registry_reference(reference)) is not None:
            return _dataset_info(await self._calls.fail_dataset_version(dataset, reason, on_behalf_of=actor))
        return _info(await self._calls.fail_upload(reference, reason, on_behalf_of=actor))

    async def pending_unchanged_since(self, cutoff: datetime) -> list[str]:
        """PENDING_UPLOAD versions, model and dataset, of every project nobody changed since ``cutoff``."""
        unchanged = f'status = "PENDING_UPLOAD" AND updated < "{cutoff.isoformat()}"'
        models = [version.reference async for version in self._client.search_versions(unchanged)]
        datasets = self._calls.pending_dataset_versions(cutoff)
        return models + [registry_reference(version.reference) async for version in datasets]
