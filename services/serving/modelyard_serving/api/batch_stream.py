"""A remote batch predictor worker's side of ``BatchWorkerService.Work``: its stream to the leader
as the two files the worker loop reads and writes (the leader's bytes in, its own out, each in
pieces of at most ``PIECE_BYTES``), over a blocking channel.

The first request names the job and the worker; the call carries the job's worker secret as its
bearer token. The leader answers an accepted stream with an empty piece, so a refusal (a wrong
secret, a job it does not run) ends the worker before it loads any model. Outgoing pieces wait in
a short queue (which gRPC's own thread drains), so a worker that runs ahead of the network is
held back; once the call is over, a write fails instead of waiting.
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import grpc

from modelyard import TLSConfig
from modelyard.v1 import batch_workers_pb2, batch_workers_pb2_grpc
from modelyard_serving.batch_wire import PIECE_BYTES, pieces

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["EXIT_STREAM_FAILED", "work_remotely"]

logger = logging.getLogger(__name__)

EXIT_STREAM_FAILED = 4
_QUEUED_PIECES = 4
_WAIT_SECONDS = 1.0


class _Incoming(io.RawIOBase):
    """The leader's bytes, piece after piece, as a file (its end is the stream's)."""

    def __init__(self, responses: Iterator[batch_workers_pb2.WorkerChunk]) -> None:
        self._responses = responses
        self._held = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._held:
            response = next(self._responses, None)
            if response is None:
                return 0
            self._held = response.data
        size = min(len(buffer), len(self._held))
        buffer[:size] = self._held[:size]
        self._held = self._held[size:]
        return size


class _Outgoing(io.RawIOBase):
    """The worker's bytes, into the request stream in pieces; BrokenPipeError once the call is over."""

    def __init__(self, requests: queue.Queue[batch_workers_pb2.WorkerChunk | None], over: Callable[[], bool]) -> None:
        self._requests = requests
        self._over = over

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer, /) -> int:
        view = memoryview(data)
        for piece in pieces([view]):
            self._put(batch_workers_pb2.WorkerChunk(data=piece))
        return view.nbytes

    def _put(self, request: batch_workers_pb2.WorkerChunk | None) -> None:
        while True:
            try:
                self._requests.put(request, timeout=_WAIT_SECONDS)
                return
            except queue.Full:
                if self._over():
                    raise BrokenPipeError("the stream to the leader is over") from None

    def end(self) -> None:
        """Half-closes the stream (the leader reads its end), unless the call is over already."""
        with contextlib.suppress(BrokenPipeError):
            self._put(None)


def _requests(
    first: batch_workers_pb2.WorkerChunk, rest: queue.Queue[batch_workers_pb2.WorkerChunk | None]
) -> Iterator[batch_workers_pb2.WorkerChunk]:
    yield first
    while (request := rest.get()) is not None:
        yield request


def work_remotely(
    target: str,
    tls: TLSConfig | None,
    job: str,
    secret: str,
    worker: str,
    serve: Callable[[BinaryIO, BinaryIO], int],
) -> int:
    """Runs ``serve(source, sink)`` over a stream to the leader at ``target``; its exit code, or
    EXIT_STREAM_FAILED when the leader refused the stream or it broke."""
    outgoing: queue.Queue[batch_workers_pb2.WorkerChunk | None] = queue.Queue(_QUEUED_PIECES)
    if tls is None:
        channel = grpc.insecure_channel(target)
    else:
        channel = grpc.secure_channel(target, tls.credentials(), tls.options())
    with channel:
        call = batch_workers_pb2_grpc.BatchWorkerServiceStub(channel).Work(
            _requests(batch_workers_pb2.WorkerChunk(job=job, worker=worker), outgoing),
            metadata=(("authorization", f"Bearer {secret}"),),
        )
        outgoing_stream = _Outgoing(outgoing, cast("grpc.Future[Any]", call).done)
        try:
            if next(call, None) is None:
                raise EOFError("the leader ended the stream before it took it")
            logger.info("connected to the leader at %s for job %s", target, job)
            code = serve(io.BufferedReader(_Incoming(call)), io.BufferedWriter(outgoing_stream, PIECE_BYTES))
            outgoing_stream.end()
            for _ in call:  # until the leader ends the stream: what was sent reaches it first
                pass
        except grpc.RpcError as exc:
            logger.error("the stream to the leader at %s ended: %s: %s", target, exc.code().name, exc.details())
            return EXIT_STREAM_FAILED
        except (BrokenPipeError, EOFError) as exc:
            logger.error("the stream to the leader at %s broke: %s", target, exc)
            return EXIT_STREAM_FAILED
    return code
