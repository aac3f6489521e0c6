"""A dataset version's file to and from the registry, through the same transfers as a model
version's artifact (hashed, streamed, resumed, verified, deduplicated), and into pandas."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard._dataset_types import DatasetFormat, DatasetVersion, registry_reference
from modelyard._files import Progress, hash_file
from modelyard._transfer import Transfers
from modelyard._types import TransferProgress
from modelyard.errors import FailedPreconditionError, InvalidArgumentError

if TYPE_CHECKING:
    import pandas

__all__ = ["DatasetFiles"]


class DatasetCatalog(Protocol):
    """What the transfers need of the client (``DatasetCalls`` on a blocking client)."""

    def create_dataset_version(
        self, dataset: str, format: DatasetFormat | str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> DatasetVersion: ...
    def get_dataset_version(self, reference: str) -> DatasetVersion: ...


# The registry reads a CSV file whole when its version is committed, for its schema and row
# count: about 17 MB/s on a busy 2-core machine. The commit's deadline grows by a second for each
# _CSV_BYTES_PER_SECOND bytes, a third of that, so that a multi-GB file is not cut off at 30 s.
_CSV_BYTES_PER_SECOND = 5_000_000


def commit_seconds(kind: DatasetFormat, size: int) -> float:
    """What the commit of a ``kind`` file of ``size`` bytes may take beyond a unary call's
    deadline: the time the registry may spend reading it (Parquet: only its footer)."""
    return size / _CSV_BYTES_PER_SECOND if kind is DatasetFormat.CSV else 0.0


def _ignore(event: TransferProgress) -> None:
    """No progress to report."""


class DatasetFiles:
    def __init__(self, transfers: Transfers, catalog: DatasetCatalog) -> None:
        self._transfers = transfers
        self._catalog = catalog

    def push(
        self,
        dataset: str,
        path: str | os.PathLike[str],
        *,
        format: DatasetFormat | str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        progress: Progress | None = None,
    ) -> DatasetVersion:
        source = Path(path)
        if not source.is_file():
            raise InvalidArgumentError(
                f"path: {str(path)!r} is not a file; a dataset version is one Parquet or CSV file"
            )
        try:
            kind = DatasetFormat.parse(format) if format is not None else DatasetFormat.of_file(source)
        except ValueError as exc:
            raise InvalidArgumentError(f"format: {exc}") from None
        report = progress or _ignore
        file = hash_file(source, source.name, report)
        version = self._catalog.create_dataset_version(dataset, kind, description=description, tags=tags)
        reference = registry_reference(version.reference)
        self._transfers.upload_files(reference, [file], report, commit_seconds(kind, file.size))
        return self._catalog.get_dataset_version(version.reference)

    def pull(self, reference: str, dest: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
        version = self._catalog.get_dataset_version(reference)
        if version.artifact is None:
            raise FailedPreconditionError(f"{version.reference} is {version.status}; only READY versions can be pulled")
        self._transfers.pull(registry_reference(version.reference), dest, progress=progress)
        return Path(dest) / version.artifact.files[0].path

    def load(self, reference: str) -> pandas.DataFrame:
        try:
            import pandas
        except ImportError:
            raise ImportError("load_dataset needs pandas: pip install 'modelyard[datasets]'") from None
        version = self._catalog.get_dataset_version(reference)
        with tempfile.TemporaryDirectory(prefix="modelyard-dataset-") as folder:
            file = self.pull(version.reference, folder)
            read: Any = pandas.read_parquet if version.format is DatasetFormat.PARQUET else pandas.read_csv
            return read(file)
