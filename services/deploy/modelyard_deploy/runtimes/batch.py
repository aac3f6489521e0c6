"""The batch scoring engine: a dataset file's chunks streamed through predictor workers.

``BatchPredictors.predict_chunks`` reads a Parquet or CSV file in chunks of ``chunk_rows`` rows
(bounded memory: Parquet batch by batch, CSV with pyarrow's streaming reader), builds each
chunk's input tensors (columns stacked on the last axis, cast to the model's datatypes) on a
thread, and hands them to one of ``workers`` predictor workers (from its ``WorkerSource``: local
subprocesses, or a Kubernetes Job's pods) as raw numpy frames (``modelyard_serving.batch_wire``).
A worker runs untrusted model code with only a serving credential for its version and sees only
the input columns: what it sends back is checked (frame sizes, dtypes, one row per input row)
before it is used, and the extra columns (a job's key) are joined here. Chunks are numbered from
0 in file order and come back in the order they finish; ``skip`` leaves some out (a resumed
job's finished ones). The workers are stopped when the stream ends, fails or is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import pyarrow.csv
import pyarrow.parquet

from modelyard_deploy.domain.job_ports import ScoredChunk, WorkerError
from modelyard_deploy.runtimes.batch_workers import PredictorWorker, WorkerSource, read_frame, send_frame

__all__ = ["BatchPredictors", "read_chunks"]

logger = logging.getLogger(__name__)

_MAX_OUTPUT_BYTES_PER_ROW = 1 << 16  # what one input row may produce: 8192 float64 values
_READ_BATCH = 65_536
_CSV_BLOCK = 4 << 20
_NUMPY_OF = {
    "BOOL": "?", "UINT8": "u1", "UINT16": "u2", "UINT32": "u4", "UINT64": "u8", "INT8": "i1",
    "INT16": "i2", "INT32": "i4", "INT64": "i8", "FP16": "f2", "FP32": "f4", "FP64": "f8",
}  # fmt: skip


def read_chunks(
    path: Path, columns: Sequence[str], chunk_rows: int, csv_types: Mapping[str, pyarrow.DataType] | None = None
) -> Iterator[pyarrow.Table]:
    """The file's ``columns``, ``chunk_rows`` rows at a time (the last one shorter), whatever
    its row groups or blocks: the same file always splits the same way. A CSV file's columns
    take ``csv_types`` where given (so that every block has one schema), else pyarrow's guess."""
    pending: list[pyarrow.RecordBatch] = []
    held = 0
    for batch in _batches(path, columns, csv_types or {}):
        while batch.num_rows:
            take = min(batch.num_rows, chunk_rows - held)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == chunk_rows:
                yield pyarrow.Table.from_batches(pending)
                pending, held = [], 0
    if held:
        yield pyarrow.Table.from_batches(pending)


def _batches(
    path: Path, columns: Sequence[str], csv_types: Mapping[str, pyarrow.DataType]
) -> Iterator[pyarrow.RecordBatch]:
    if path.suffix.lower() == ".csv":
        reader = pyarrow.csv.open_csv(
            path,
            read_options=pyarrow.csv.ReadOptions(block_size=_CSV_BLOCK),
            convert_options=pyarrow.csv.ConvertOptions(include_columns=list(columns), column_types=dict(csv_types)),
        )
        yield from reader
        return
    # pre_buffer (the default) would keep every row group read so far: memory as large as the file.
    parquet = pyarrow.parquet.ParquetFile(path, pre_buffer=False)
    yield from parquet.iter_batches(batch_size=_READ_BATCH, columns=list(columns))


def _tensors(
    table: pyarrow.Table, inputs: Mapping[str, Sequence[str]], dtypes: Mapping[str, str]
) -> dict[str, np.ndarray[Any, Any]]:
    """Each input's columns, stacked on the last axis, in its datatype (FP64 when none)."""
    tensors = {}
    for name, columns in inputs.items():
        dtype = np.dtype(_NUMPY_OF.get(dtypes.get(name, "FP64"), "f8"))
        stacked = np.empty((table.num_rows, len(columns)), dtype)
        for i, column in enumerate(columns):
            stacked[:, i] = table.column(column).to_numpy(zero_copy_only=False)
        tensors[name] = stacked
    return tensors


class BatchPredictors:
    def __init__(self, source: WorkerSource) -> None:
        """``source``: where the workers come from (local processes, a Kubernetes Job's pods)."""
        self._source = source

    async def predict_chunks(
        self,
        version_reference: str,
        dataset_path: Path,
        inputs: Mapping[str, Sequence[str]],
        chunk_rows: int,
        workers: int,
        extra_columns: Sequence[str] = (),
        *,
        dtypes: Mapping[str, str] | None = None,
        column_types: Mapping[str, str] | None = None,
        trusted_types: Sequence[str] = (),
        skip: Collection[int] = (),
        job: str = "",
    ) -> AsyncGenerator[ScoredChunk, None]:
        """The file's chunks (but those in ``skip``) as the model scored them, in the order
        they finish; WorkerError when a worker fails. ``inputs``: model input -> columns;
        ``dtypes``: model input -> OIP datatype (FP64 when absent); ``column_types``: Arrow
        type names of the extra columns, which a CSV file is read with; ``trusted_types``: types
        the workers trust in skops files beyond skops' defaults."""
        input_columns = {c: pyarrow.float64() for cs in inputs.values() for c in cs}
        csv_types = input_columns | {
            c: pyarrow.type_for_alias(t) for c, t in (column_types or {}).items() if c in extra_columns
        }
        needed = list(dict.fromkeys([*extra_columns, *input_columns]))
        todo: asyncio.Queue[tuple[int, pyarrow.Table, dict[str, np.ndarray[Any, Any]]] | None] = asyncio.Queue(workers)
        done: asyncio.Queue[ScoredChunk | BaseException | None] = asyncio.Queue(workers)
        async with self._source.workers(job, version_reference, trusted_types, workers) as pool:
            logger.info("predictor workers ready", extra={"job": job, "workers": len(pool)})

            async def feed() -> None:
                chunks = read_chunks(dataset_path, needed, chunk_rows, csv_types)
                index = 0
                while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                    if index not in skip:
                        tensors = await asyncio.to_thread(_tensors, chunk, inputs, dtypes or {})
                        await todo.put((index, chunk.select(list(extra_columns)), tensors))
                    index += 1
                for _ in pool:
                    await todo.put(None)

            async def drive(worker: PredictorWorker) -> None:
                while (item := await todo.get()) is not None:
                    index, columns, tensors = item
                    await send_frame(worker, tensors)
                    _, outputs = await read_frame(worker, columns.num_rows * _MAX_OUTPUT_BYTES_PER_ROW)
                    for name, array in outputs.items():
                        if array.shape[0] != columns.num_rows:
                            raise WorkerError(
                                f"output {name!r} has {array.shape[0]} rows for chunk {index} of {columns.num_rows}"
                            )
                    await done.put(ScoredChunk(index, columns, outputs))

            async def report(run: Awaitable[None]) -> None:
                try:
                    await run
                except Exception as exc:  # handed to the consumer, which raises it
                    await done.put(exc)
                else:
                    await done.put(None)

            tasks = [asyncio.create_task(report(feed()))]
            tasks += [asyncio.create_task(report(drive(w))) for w in pool]
            try:
                running = len(tasks)
                while running:
                    item = await done.get()
                    if item is None:
                        running -= 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
            finally:
                for task in tasks:
                    task.cancel()
