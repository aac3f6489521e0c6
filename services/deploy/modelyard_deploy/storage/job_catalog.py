"""What a job reads and writes through the platform: versions and datasets from the metadata
service, dataset files to and from the registry, through the blocking client on threads (its
transfers stream files). Reads and downloads go through one client acting as the deploy service
(services read every project), made once; an output is registered by a client acting for the
job's creator, made for that."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import modelyard
from modelyard import AlreadyExistsError, DatasetUse
from modelyard_common.values import registry_reference
from modelyard_deploy.domain.job_entities import DatasetInfo, Job, ModelInfo, TensorInfo

__all__ = ["INPUT_TAG", "JOB_TAG", "PlatformJobCatalog"]

JOB_TAG = "modelyard.job"
INPUT_TAG = "modelyard.input"
# A blocking client acting for a user (the actor recorded where authentication is off).
Connect = Callable[[str], modelyard.Client]


class PlatformJobCatalog:
    def __init__(self, connect: Connect, actor: str, cache_dir: Path) -> None:
        """``actor``: the deploy service, which reads and downloads; ``close`` closes its client."""
        self._connect, self._cache = connect, cache_dir / "datasets"
        self._client = connect(actor)

    def close(self) -> None:
        self._client.close()

    async def model_version(self, reference: str) -> ModelInfo:
        version = await asyncio.to_thread(self._client.get_version, reference)
        inputs = tuple(TensorInfo(t.name, t.datatype) for t in version.signature.inputs)
        return ModelInfo(version.reference, version.project, str(version.status), inputs)

    async def dataset_version(self, reference: str) -> DatasetInfo:
        version = await asyncio.to_thread(self._client.get_dataset_version, reference)
        [file] = version.artifact.files if version.artifact else (None,)
        return DatasetInfo(
            version.reference,
            version.project,
            str(version.status),
            str(version.format),
            tuple((c.name, c.type) for c in version.columns),
            version.row_count,
            file.path if file else "",
            file.sha256 if file else "",
        )

    async def download(self, dataset: DatasetInfo) -> Path:
        """The file, cached under the cache folder by its digest (moved in whole once pulled)."""

        def pull() -> Path:
            target = self._cache / f"{dataset.sha256}.{dataset.format.lower()}"
            if target.is_file():
                return target
            self._cache.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self._cache, prefix=".pull-") as folder:
                # Verified against the registry's digest, which is the metadata service's.
                self._client.pull(registry_reference(dataset.reference), folder)
                shutil.move(Path(folder) / dataset.file, target)
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
