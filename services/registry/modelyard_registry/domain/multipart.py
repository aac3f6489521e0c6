"""Turns a stream of chunks into S3 parts, hashing in order and recording what is durable.

Memory stays flat whatever the file size: at most one part is being filled, and a part is only
cut once the server-wide ``parts_in_flight`` semaphore has a slot, so a fast client waits (gRPC
flow control pushes back) while S3 catches up. A stream also has at most ``window`` parts that
are not durable yet (in flight, or waiting for an earlier part): that, the part being filled and
gRPC's buffers are all that a crash of the registry makes the client send again.

Parts upload concurrently; the SHA-256 runs over them in order in a worker thread, beside the
uploads. After each part, the longest run of parts that are both uploaded and hashed is recorded
with the hash state after it: that is the durable offset an interrupted upload resumes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from modelyard_common.errors import ConflictError, InvalidArgumentError
from modelyard_registry.domain.entities import Session
from modelyard_registry.domain.ports import BlobStore, ResumableHash, TransferObserver, UploadStore

__all__ = ["PartWriter"]


class PartWriter:
    def __init__(
        self,
        session: Session,
        owner: uuid.UUID,
        hasher: ResumableHash,
        store: UploadStore,
        blobs: BlobStore,
        parts_in_flight: asyncio.Semaphore,
        window: int,
        observer: TransferObserver,
    ) -> None:
        """``hasher``: restored from ``session.hash_state``, the state at its durable offset."""
        self._session, self._owner, self._store, self._blobs = session, owner, store, blobs
        self._slots = parts_in_flight
        self._window = asyncio.Semaphore(window)  # released as parts become durable
        self._observer = observer
        self._hasher = hasher
        self._received = session.durable_offset
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._next_part = session.durable_offset // session.part_size + 1
        self._durable_parts = self._next_part - 1
        self._durable_offset = session.durable_offset
        self._last_hash: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._etags: dict[int, str] = {}
        self._states: dict[int, bytes] = {}
        self._progress = asyncio.Lock()

    @property
    def durable_offset(self) -> int:
        return self._durable_offset

    async def write(self, chunk: bytes) -> None:
        size = self._session.size
        if self._received + len(chunk) > size:
            raise InvalidArgumentError(
                "chunk", f"the stream carries more than header.size = {size} bytes for {self._session.path!r}"
            )
        self._failed_part()
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        self._received += len(chunk)
        part_size = self._session.part_size
        while self._buffered >= part_size:
            await self._room()  # before cutting the part: a waiting stream holds only chunks
            data = b"".join(self._buffer)
            rest = data[part_size:]
            self._buffer, self._buffered = ([rest] if rest else []), len(rest)
            self._submit(data[:part_size] if rest else data)

    async def finish(self) -> str:
        """Uploads the last part and waits for all; returns the SHA-256 of the whole file.

        Raises InvalidArgumentError when the stream stopped short of the header's size (what
        arrived in whole parts stays durable for a resume)."""
        if self._received < self._session.size:
            await self._drain()
            raise InvalidArgumentError(
                "chunk",
                f"the stream ended at byte {self._received} of {self._session.size} of {self._session.path!r}; "
                f"resume from offset {self._durable_offset}",
            )
        if self._buffered:
            await self._room()
            data = b"".join(self._buffer)
            self._buffer, self._buffered = [], 0
            self._submit(data)
        await self._drain()
        return self._hasher.hexdigest()

    async def settle(self) -> None:
        """After a failure or a cut: waits for parts in flight and records what became durable."""
        with contextlib.suppress(Exception):
            await self._drain()

    async def _drain(self) -> None:
        for result in await asyncio.gather(*list(self._tasks), return_exceptions=True):
            if isinstance(result, BaseException):
                raise result

    def _failed_part(self) -> None:
        """Stops the stream early when a part already failed (S3 down), instead of at the end."""
        for task in self._tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                raise error

    async def _room(self) -> None:
        """Waits for room in this stream's window, then for a server-wide slot."""
        await self._window.acquire()
        self._failed_part()  # woken by a part that failed rather than one that became durable
        await self._slots.acquire()

    def _submit(self, data: bytes) -> None:
        """Starts hashing and uploading the next part; its slot is already taken."""
        number = self._next_part
        self._next_part += 1
        hashed = asyncio.create_task(self._hash(number, data, self._last_hash))
        self._last_hash = hashed
        task = asyncio.create_task(self._part(number, data, hashed))
        self._tasks.add(task)
        task.add_done_callback(self._forget_if_ok)

    def _forget_if_ok(self, task: asyncio.Task[None]) -> None:
        # Failed parts stay in the set, so that the next write() raises their error.
        if not task.cancelled() and task.exception() is None:
            self._tasks.discard(task)

    async def _hash(self, number: int, data: bytes, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous
        await asyncio.to_thread(self._hasher.update, data)
        self._states[number] = self._hasher.state()

    async def _part(self, number: int, data: bytes, hashed: asyncio.Task[None]) -> None:
        try:
            try:
                s = self._session
                self._etags[number] = await self._blobs.upload_part(s.storage_key, s.upload_id, number, data)
            finally:
                self._slots.release()
            self._observer.uploaded(s.reference, len(data))
            await hashed
            await self._record_progress()
        except BaseException:
            self._window.release()  # a writer waiting for room wakes up and raises this error
            raise

    async def _record_progress(self) -> None:
        async with self._progress:
            last = self._durable_parts
            while last + 1 in self._etags and last + 1 in self._states:
                last += 1
            if last == self._durable_parts:
                return
            s = self._session
            offset = min(last * s.part_size, s.size)
            new = {n: self._etags[n] for n in range(self._durable_parts + 1, last + 1)}
            if not await self._store.save_progress(s.id, self._owner, offset, self._states[last], new):
                raise ConflictError(f"another stream took over the upload of {s.path!r} in {s.reference}")
            for n in range(self._durable_parts + 1, last):
                self._states.pop(n, None)
            for _ in range(last - self._durable_parts):
                self._window.release()
            self._durable_parts, self._durable_offset = last, offset
