"""BatchWorkerService over gRPC: a remote predictor worker's stream, attached to the job it names
(``RemoteWorkers.attach`` checks the worker secret, the call's bearer token), its pieces moved
between the stream and the worker's pipes both ways until either side ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from modelyard.v1 import batch_workers_pb2, batch_workers_pb2_grpc
from modelyard_common.calls import current_call
from modelyard_common.errors import InvalidArgumentError
from modelyard_deploy.runtimes.remote_workers import RemoteWorker, RemoteWorkers
from modelyard_serving.batch_wire import PIECE_BYTES

__all__ = ["MAX_WORKER_REQUEST_BYTES", "BatchWorkerServicer"]

Context = grpc.aio.ServicerContext[Any, Any]
MAX_WORKER_REQUEST_BYTES = PIECE_BYTES + 4096
"""A piece, and the job's id and the worker's name in the first one."""
# A worker ends its side only once the leader ended the stream: before that, it stopped.
_ENDED = "its stream ended (its pod stopped, or its connection broke)"


class BatchWorkerServicer(batch_workers_pb2_grpc.BatchWorkerServiceServicer):
    def __init__(self, workers: RemoteWorkers) -> None:
        self._workers = workers

    async def Work(
        self, request_iterator: AsyncIterator[batch_workers_pb2.WorkerChunk], context: Context
    ) -> AsyncIterator[batch_workers_pb2.WorkerChunk]:
        first = await anext(request_iterator, None)
        if first is None or not first.job:
            raise InvalidArgumentError("job", "the first request names the job the worker works for")
        call = current_call()
        worker = self._workers.attach(first.job, call.token if call else "", first.worker)
        receiving = asyncio.create_task(_receive(first.data, request_iterator, worker))
        try:
            yield batch_workers_pb2.WorkerChunk()  # taken: the worker may load its model
            while piece := await worker.outgoing.read(PIECE_BYTES):
                yield batch_workers_pb2.WorkerChunk(data=piece)
        finally:
            receiving.cancel()
            worker.gone(_ENDED)


async def _receive(first: bytes, requests: AsyncIterator[batch_workers_pb2.WorkerChunk], worker: RemoteWorker) -> None:
    """The worker's pieces into its incoming pipe, until it ends its side (or the leader ends it)."""
    try:
        if first:
            await worker.incoming.put(first)
        async for request in requests:
            await worker.incoming.put(request.data)
    except ConnectionResetError:  # the leader ended the stream
        return
    except Exception as exc:  # a request refused by its size, a broken call
        worker.gone(f"its stream broke: {exc}")
    else:
        worker.gone(_ENDED)
