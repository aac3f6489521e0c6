"""The batch scoring engine: a dataset file's chunks streamed through predictor worker processes.

``BatchPredictors.predict_chunks`` reads a Parquet or CSV file in chunks of ``chunk_rows`` rows
(bounded memory: Parquet batch by batch, CSV with pyarrow's streaming reader), builds each
chunk's input tensors (columns stacked on the last axis, cast to the model's datatypes) on a
thread, and hands them to one of ``workers`` subprocesses (``python -m modelyard_serving.batch``)
over a pipe of raw numpy frames (``modelyard_serving.batch_wire``). A worker runs untrusted model
code with only a serving credential for its version: what it sends back is checked (frame sizes,
dtypes, one row per input row) before it is used. Chunks are numbered from 0 in file order and
come back in the order they finish; ``skip`` leaves some out (a resumed job's finished ones).
Workers are killed by process id when the stream ends, fails or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow
import pyarrow.csv
import pyarrow.parquet

from modelyard_deploy.domain.job_ports import ScoredChunk, WorkerError
from modelyard_deploy.runtimes.process import PASSED_ON, last_log_line
from modelyard_serving.batch_wire import (
    PREFIX_BYTES,
    WireError,
    decode_arrays,
    decode_header,
    encode,
    header_length,
)
from modelyard_serving.launch import ServingLaunch, ServingTLS

__all__ = ["BatchConfig", "BatchPredictors", "read_chunks"]

logger = logging.getLogger(__name__)

WORKER_MODULE = "modelyard_serving.batch"
_MAX_OUTPUT_BYTES_PER_ROW = 1 << 16  # what one input row may produce: 8192 float64 values
_READ_BATCH = 65_536
_CSV_BLOCK = 4 << 20
_NUMPY_OF = {
    "BOOL": "?", "UINT8": "u1", "UINT16": "u2", "UINT32": "u4", "UINT64": "u8", "INT8": "i1",
    "INT16": "i2", "INT32": "i4", "INT64": "i8", "FP16": "f2", "FP32": "f4", "FP64": "f8",
}  # fmt: skip
# Issues a worker's serving credential: (job id, version reference) -> bearer secret.
IssueCredential = Callable[[str, str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """Where workers find the platform and the shared artifact cache; where their logs go (a
    folder per job: the job's own, removed with its parts)."""

    metadata_addr: str
    registry_addr: str
    cache_dir: Path
    log_dir: Path
    tls: ServingTLS = field(default_factory=ServingTLS)


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


@dataclass(slots=True)
class _Worker:
    process: asyncio.subprocess.Process
    log: Path

    def why(self, what: str) -> str:
        return f"{what}: {last_log_line(self.log) or 'no output'}"

    async def read_frame(self, max_payload: int) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
        assert self.process.stdout is not None
        try:
            prefix = await self.process.stdout.readexactly(PREFIX_BYTES)
            frame = decode_header(await self.process.stdout.readexactly(header_length(prefix)), max_payload)
            payload = await self.process.stdout.readexactly(frame.payload_bytes) if frame.payload_bytes else b""
        except asyncio.IncompleteReadError:
            code = await self.process.wait()
            raise WorkerError(self.why(f"a predictor worker exited with code {code}")) from None
        except WireError as exc:
            raise WorkerError(f"a predictor worker broke the protocol: {exc}") from None
        if "error" in frame.message:
            raise WorkerError(str(frame.message["error"])[:4096])
        return dict(frame.message), decode_arrays(frame, payload)

    def kill(self) -> None:
        """SIGKILL to its process group (its session: whatever the model started, too)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


class BatchPredictors:
    def __init__(self, config: BatchConfig, credential: IssueCredential | None = None) -> None:
        """``credential``: where each worker's serving credential comes from; None: no token."""
        self._config = config
        self._credential = credential

    async def _start(
        self, job: str, reference: str, trusted_types: Sequence[str], number: int, workers: int
    ) -> _Worker:
        token = await self._credential(f"job-{job}"[:40], reference) if self._credential else None
        launch = ServingLaunch(
            reference=reference,
            model_name=job or "batch",
            trusted_types=tuple(trusted_types),
            metadata_addr=self._config.metadata_addr,
            registry_addr=self._config.registry_addr,
            cache_dir=self._config.cache_dir,
            token=token,
            log_format="console",
            tls=self._config.tls,
        )
        environment = {name: os.environ[name] for name in PASSED_ON if name in os.environ} | launch.environment()
        # The workers share the cores: OpenMP in each (scikit-learn's trees) gets its share,
        # not a thread per core each, which would spin against the others.
        environment.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        folder = self._config.log_dir / (job or "batch")
        folder.mkdir(parents=True, exist_ok=True)
        self._config.cache_dir.mkdir(parents=True, exist_ok=True)
        log = folder / f"worker-{number}.log"
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                env=environment,
                start_new_session=True,
                limit=1 << 20,
            )
        logger.info("started a predictor worker", extra={"job": job, "pid": process.pid})
        return _Worker(process, log)

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
    ) -> AsyncIterator[ScoredChunk]:
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
        started = await asyncio.gather(
            *(self._start(job, version_reference, trusted_types, n, workers) for n in range(workers)),
            return_exceptions=True,
        )
        pool = [w for w in started if isinstance(w, _Worker)]
        tasks: list[asyncio.Task[None]] = []
        try:
            failed = next((w for w in started if isinstance(w, BaseException)), None)
            if failed is not None:
                raise failed
            await asyncio.gather(*(w.read_frame(0) for w in pool))  # each says ready, or why not
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

            async def drive(worker: _Worker) -> None:
                assert worker.process.stdin is not None
                while (item := await todo.get()) is not None:
                    index, columns, tensors = item
                    try:
                        worker.process.stdin.writelines(encode(tensors))
                        await worker.process.stdin.drain()
                    except (BrokenPipeError, ConnectionResetError):
                        code = await worker.process.wait()
                        raise WorkerError(worker.why(f"a predictor worker exited with code {code}")) from None
                    _, outputs = await worker.read_frame(columns.num_rows * _MAX_OUTPUT_BYTES_PER_ROW)
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
            for worker in pool:
                worker.kill()
            for worker in pool:
                with contextlib.suppress(ProcessLookupError):
                    await worker.process.wait()
