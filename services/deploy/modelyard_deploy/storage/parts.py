"""A job's output, chunk by chunk: one Parquet part file per finished chunk in the job's folder,
then all of them streamed into the one file that is registered.

A part exists only whole (written to a temporary name, fsynced, renamed), so that a part found
after a crash is a finished chunk's. Merging reads one row group at a time (memory stays flat
whatever the job's size).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import pyarrow.parquet

__all__ = ["JobFolders", "JobParts", "output_table"]


def output_table(columns: pyarrow.Table, outputs: Mapping[str, np.ndarray[Any, Any]]) -> pyarrow.Table:
    """The chunk's extra columns (the key) joined to its predictions: one column per output, or
    for a 2-D output (class probabilities) one per class, ``NAME_0``..``NAME_k``."""
    table = columns
    for name, array in sorted(outputs.items()):
        if array.ndim == 2 and array.shape[1] != 1:
            named = [(f"{name}_{i}", array[:, i]) for i in range(array.shape[1])]
        else:
            named = [(name, array.reshape(-1))]
        for column, values in named:
            if column in table.column_names:
                raise ValueError(f"the model's output {column!r} has the name of a column of the input")
            table = table.append_column(column, pyarrow.array(values))
    return table


class JobParts:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, index: int) -> Path:
        return self.folder / f"part-{index:08d}.parquet"

    def write(self, index: int, columns: pyarrow.Table, outputs: Mapping[str, np.ndarray[Any, Any]]) -> None:
        """Part ``index``: ``output_table(columns, outputs)``, whole or not at all; blocking."""
        table = output_table(columns, outputs)
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(index)
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as sink:
            pyarrow.parquet.write_table(table, sink)
            sink.flush()
            os.fsync(sink.fileno())
        temporary.replace(final)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def present(self, indexes: Iterable[int]) -> set[int]:
        return {i for i in indexes if self.path(i).is_file()}

    def merge(self, count: int) -> Path:
        """Parts 0..count-1, in order, streamed into one Parquet file of the folder; blocking."""
        target = self.folder / "output.parquet"
        writer: pyarrow.parquet.ParquetWriter | None = None
        try:
            for index in range(count):
                part = pyarrow.parquet.ParquetFile(self.path(index), pre_buffer=False)
                if writer is None:
                    writer = pyarrow.parquet.ParquetWriter(target, part.schema_arrow)
                for group in range(part.num_row_groups):
                    writer.write_table(part.read_row_group(group))
        finally:
            if writer is not None:
                writer.close()
        return target

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class JobFolders:
    """The folders under ``root``: a job's (its parts, its workers' logs) is named by its id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def remove(self, name: str) -> None:
        JobParts(self.root / name).remove()
