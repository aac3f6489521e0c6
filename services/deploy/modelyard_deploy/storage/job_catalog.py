"""What a job reads and writes through the platform: versions and datasets from the metadata
service, dataset files to and from the registry, with the deploy service's own token (services
read every project), through the blocking client on threads (its transfers stream files)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import modelyard
from modelyard import AlreadyExistsError, DatasetUse
from modelyard_deploy.domain.job_entities import DatasetInfo, Job, ModelInfo, TensorInfo

__all__ = ["INPUT_TAG", "JOB_TAG", "PlatformJobCatalog"]

JOB_TAG = "modelyard.job"
INPUT_TAG = "modelyard.input"
# A blocking client acting for a user (the actor recorded where authentication is off).
Connect = Callable[[str], modelyard.Client]


class PlatformJobCatalog:
    def __init__(self, connect: Connect, actor: str, cache_dir: Path) -> None:
        self._connect, self._actor, self._cache = connect, actor, cache_dir / "datasets"

    async def model_version(self, reference: str) -> ModelInfo:
        def read() -> ModelInfo:
            with self._connect(self._actor) as client:
                version = client.get_version(reference)
            inputs = tuple(TensorInfo(t.name, t.datatype) for t in version.signature.inputs)
            return ModelInfo(version.reference, version.project, str(version.status), inputs)

        return await asyncio.to_thread(read)

    async def dataset_version(self, reference: str) -> DatasetInfo:
        def read() -> DatasetInfo:
            with self._connect(self._actor) as client:
                version = client.get_dataset_version(reference)
            columns = tuple((c.name, c.type) for c in version.columns)
            return DatasetInfo(
                version.reference, version.project, str(version.status), str(version.format), columns, version.row_count
            )

        return await asyncio.to_thread(read)

    async def download(self, reference: str) -> Path:
        """The file, cached under the cache folder by its digest (moved in whole once pulled)."""

        def pull() -> Path:
            with self._connect(self._actor) as client:
                version = client.get_dataset_version(reference)
                assert version.artifact is not None  # READY, checked when the job was created
                digest = version.artifact.files[0].sha256
                target = self._cache / f"{digest}.{str(version.format).lower()}"
                if target.is_file():
                    return target
                self._cache.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=self._cache, prefix=".pull-") as folder:
                    pulled = client.pull_dataset(version.reference, folder)  # verified against its digest
                    shutil.move(pulled, target)
            return target

        return await asyncio.to_thread(pull)

    async def publish(self, job: Job, path: Path) -> str:
        def push() -> str:
            with self._connect(job.created_by) as client:
                with contextlib.suppress(AlreadyExistsError):
                    client.create_dataset(
                        job.output_dataset, description=f"batch scoring output of {job.model_reference}"
                    )
                version = next(
                    (v for v in client.list_dataset_versions(job.output_dataset) if v.tags.get(JOB_TAG) == job.id),
                    None,
                )
                if version is None or str(version.status) != "READY":
                    version = client.push_dataset(
                        job.output_dataset,
                        path,
                        format="parquet",
                        description=f"{job.version_reference} scored on {job.input_dataset} (job {job.id})",
                        tags={JOB_TAG: job.id, INPUT_TAG: job.input_dataset},
                    )
                client.link_dataset(job.version_reference, version.reference, DatasetUse.PRODUCED_BY)
                return version.reference

        return await asyncio.to_thread(push)
