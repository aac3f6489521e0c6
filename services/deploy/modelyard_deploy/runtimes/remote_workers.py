"""Predictor workers that dial in: the pods of a job's Kubernetes Job, each on a gRPC stream
(``BatchWorkerService.Work``) to the leader, which runs the job.

``RemoteWorkers`` holds the jobs that are waiting for their workers: each with a random worker
secret (made here, kept in memory, handed to the pods through the job's Secret) and how many
workers it takes. A stream that names such a job and presents its secret becomes a
``RemoteWorker``, whose bytes the servicer moves between the stream and two bounded
``BytePipe``s; the engine reads and writes them as it does a local worker's pipes. A stream for
any other job, with a wrong secret, or beyond the job's count is refused before it carries a byte.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from modelyard_common.errors import FailedPreconditionError, PermissionDeniedError, UnauthenticatedError
from modelyard_serving.batch_wire import PIECE_BYTES, pieces

__all__ = ["BytePipe", "Expected", "RemoteWorker", "RemoteWorkers"]

logger = logging.getLogger(__name__)

_BUFFERED_BYTES = 4 * PIECE_BYTES


class BytePipe:
    """Bytes from one task to another, in order. ``put`` waits while ``limit`` bytes are unread
    (or, when more, what a waiting ``readexactly`` asks for), so a sender that runs ahead is
    held back rather than buffered; ``close`` ends it: a reader gets what is left, then the end."""

    def __init__(self, limit: int = _BUFFERED_BYTES) -> None:
        self._buffer = bytearray()
        self._limit = limit
        self._wanted = 0
        self._closed = False
        self._changed = asyncio.Event()

    async def _until(self, ready: Callable[[], bool]) -> None:
        while True:
            self._changed.clear()
            if ready():
                return
            await self._changed.wait()

    async def put(self, data: bytes) -> None:
        """Adds ``data``; ConnectionResetError once the pipe is closed."""
        await self._until(lambda: self._closed or len(self._buffer) < max(self._limit, self._wanted))
        if self._closed:
            raise ConnectionResetError("the stream ended")
        self._buffer += data
        self._changed.set()

    async def readexactly(self, n: int) -> bytes:
        self._wanted = n
        try:
            await self._until(lambda: self._closed or len(self._buffer) >= n)
        finally:
            self._wanted = 0
        return self._take(n, exactly=True)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes, as soon as there are some; b"" once it is closed and empty."""
        await self._until(lambda: self._closed or bool(self._buffer))
        return self._take(n, exactly=False)

    def _take(self, n: int, exactly: bool) -> bytes:
        if exactly and len(self._buffer) < n:  # the end: what is left goes with the error
            partial = bytes(self._buffer)
            self._buffer.clear()
            raise asyncio.IncompleteReadError(partial, n)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        self._changed.set()
        return data

    def close(self) -> None:
        self._closed = True
        self._changed.set()

    @property
    def closed(self) -> bool:
        return self._closed


class _Writer:
    """What the engine writes to a remote worker: into its outgoing pipe, in pieces."""

    def __init__(self, pipe: BytePipe) -> None:
        self._pipe = pipe
        self._pending: list[bytes | memoryview] = []

    def writelines(self, data: Iterable[bytes | memoryview]) -> None:
        self._pending.extend(data)

    async def drain(self) -> None:
        parts, self._pending = self._pending, []
        for piece in pieces(parts):
            await self._pipe.put(piece)


class RemoteWorker:
    """One attached stream: ``incoming`` the worker's bytes, ``outgoing`` the leader's; the
    servicer moves them, and says with ``gone`` why the stream ended."""

    def __init__(self, job: str, name: str) -> None:
        self.job, self.name = job, name
        self.incoming, self.outgoing = BytePipe(), BytePipe()
        self.writer = _Writer(self.outgoing)
        self._why = "the leader ended its stream"

    @property
    def reader(self) -> BytePipe:
        return self.incoming

    async def ended(self) -> str:
        return f"predictor worker {self.name} of job {self.job} is gone: {self._why}"

    def kill(self) -> None:
        """Ends its stream (the worker exits once it reads the end; its pod goes with the Job)."""
        self.outgoing.close()

    def gone(self, why: str) -> None:
        """The stream ended (the servicer's side): the engine reads the end, and ``why`` unless
        the leader ended it first."""
        if not (self.incoming.closed or self.outgoing.closed):
            self._why = why
        self.incoming.close()
        self.outgoing.close()


@dataclass(eq=False)
class Expected:
    """A job waiting for ``count`` workers that present ``secret``; each arrives on ``arrived``."""

    job: str
    count: int
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    arrived: asyncio.Queue[RemoteWorker] = field(default_factory=asyncio.Queue)
    attached: list[RemoteWorker] = field(default_factory=list)


class RemoteWorkers:
    """The jobs this replica runs with remote workers, and who may attach to them."""

    def __init__(self) -> None:
        self._jobs: dict[str, Expected] = {}

    def expect(self, job: str, count: int) -> Expected:
        """Opens ``job`` to ``count`` workers, with a new secret (one made before is void)."""
        expected = self._jobs[job] = Expected(job, count)
        return expected

    def forget(self, expected: Expected) -> None:
        """Closes the job to workers and ends the streams of those attached."""
        if self._jobs.get(expected.job) is expected:
            del self._jobs[expected.job]
        for worker in expected.attached:
            worker.kill()

    def attach(self, job: str, secret: str, name: str) -> RemoteWorker:
        """A worker of ``job`` that presented ``secret``; refused (naming why) unless this
        replica runs the job, the secret is the job's, and the job takes one more worker."""
        expected = self._jobs.get(job)
        if expected is None:
            raise FailedPreconditionError(f"job {job[:64]!r} is not running on this replica")
        if not secret:
            raise UnauthenticatedError(
                f"job {job}: no worker secret; send it as the header 'authorization: Bearer <secret>'"
            )
        if not hmac.compare_digest(secret.encode(), expected.secret.encode()):
            raise PermissionDeniedError(f"job {job}: that is not its worker secret")
        if len(expected.attached) >= expected.count:
            raise FailedPreconditionError(f"job {job} has all its {expected.count} predictor workers")
        printable = "".join(c for c in name[:253] if c.isprintable())  # the worker's word: only quoted
        worker = RemoteWorker(job, printable or f"#{len(expected.attached) + 1}")
        expected.attached.append(worker)
        expected.arrived.put_nowait(worker)
        logger.info("a predictor worker connected", extra={"job": job, "worker": worker.name})
        return worker
