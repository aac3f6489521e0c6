"""Predictor workers as the batch engine drives them, whatever carries their bytes.

A worker is a byte stream each way (``reader``, ``writer``) speaking ``batch_wire`` frames: a
local subprocess's pipes (``local_workers``) or a remote worker's gRPC stream
(``remote_workers``). It runs untrusted model code, so every frame it sends is checked before it
is used. A ``WorkerSource`` starts a job's workers and stops them when the job is done with
them; the engine (``batch.BatchPredictors``) does the rest the same way for every source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import numpy as np

from modelyard_deploy.domain.job_ports import WorkerError
from modelyard_serving.batch_wire import PREFIX_BYTES, WireError, decode_arrays, decode_header, encode, header_length

__all__ = ["PredictorWorker", "WorkerSource", "credential_holder", "read_frame", "send_frame"]


class WorkerReader(Protocol):
    async def readexactly(self, n: int, /) -> bytes:
        """``n`` bytes; IncompleteReadError once the stream ended before them."""
        ...


class WorkerWriter(Protocol):
    def writelines(self, data: Iterable[bytes | memoryview], /) -> None: ...
    async def drain(self) -> None:
        """Returns once what was written may be buffered; BrokenPipeError or ConnectionResetError
        once the worker is gone."""
        ...


class PredictorWorker(Protocol):
    @property
    def reader(self) -> WorkerReader: ...
    @property
    def writer(self) -> WorkerWriter: ...
    async def ended(self) -> str:
        """Why its stream ended, for the job's error ("a predictor worker exited with code 7: ...")."""
        ...

    def kill(self) -> None:
        """Stops it now: what it was doing is dropped."""
        ...


class WorkerSource(Protocol):
    def workers(
        self, job: str, reference: str, trusted_types: Sequence[str], count: int
    ) -> AbstractAsyncContextManager[Sequence[PredictorWorker]]:
        """``count`` workers of version ``reference`` for ``job``, each ready (its model
        loaded; WorkerError saying why one is not), killed when the context ends."""
        ...


def credential_holder(job: str) -> str:
    """Who a job's workers' serving credential is issued to (a deployment name's rules: 40
    characters at most), as the token list shows it."""
    return f"job-{job}"[:40]


async def read_frame(
    worker: PredictorWorker, max_payload: int
) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """The worker's next frame, checked: its message and arrays (a payload of at most
    ``max_payload`` bytes); WorkerError when it reports an error, breaks the protocol or is gone."""
    try:
        prefix = await worker.reader.readexactly(PREFIX_BYTES)
        frame = decode_header(await worker.reader.readexactly(header_length(prefix)), max_payload)
        payload = await worker.reader.readexactly(frame.payload_bytes) if frame.payload_bytes else b""
    except asyncio.IncompleteReadError:
        raise WorkerError(await worker.ended()) from None
    except WireError as exc:
        raise WorkerError(f"a predictor worker broke the protocol: {exc}") from None
    if "error" in frame.message:
        raise WorkerError(str(frame.message["error"])[:4096])
    return dict(frame.message), decode_arrays(frame, payload)


async def send_frame(worker: PredictorWorker, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
    """Sends ``arrays`` as one frame; WorkerError when the worker is gone."""
    try:
        worker.writer.writelines(encode(arrays))
        await worker.writer.drain()
    except (BrokenPipeError, ConnectionResetError):
        raise WorkerError(await worker.ended()) from None
