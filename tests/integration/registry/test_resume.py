"""Interrupted uploads resume from the durable offset, and the digest still covers every byte."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator

import grpc
import pytest

from modelyard.v1 import registry_pb2, registry_pb2_grpc

MiB = 1024 * 1024
PART = 5 * MiB  # part_size_mib of the test registry
Requests = Iterator[registry_pb2.UploadFileRequest]


class Cut(Exception):
    """Raised inside the request stream: the client gives up mid-upload, like a killed process."""


def cut_after(
    requests: Iterator[registry_pb2.UploadFileRequest], limit: int, before_cut: Callable[[], None] = lambda: None
) -> Iterator[registry_pb2.UploadFileRequest]:
    """The requests until ``limit`` chunk bytes went, then a cut (once ``before_cut`` returned)."""
    sent = 0
    for request in requests:
        if request.WhichOneof("kind") == "chunk":
            if sent >= limit:
                before_cut()
                raise Cut
            sent += len(request.chunk)
        yield request


def resume(
    registry: registry_pb2_grpc.RegistryServiceStub,
    requests: Callable[[int], Iterator[registry_pb2.UploadFileRequest]],
    reference: str,
    path: str,
) -> tuple[int, registry_pb2.UploadFileResponse]:
    """Asks where to resume (0 when the cut came before anything was durable), then sends from
    there; retries while the cut stream still holds the file, and asks again when its last parts
    became durable after the offset was read (as the SDK does)."""
    deadline = time.monotonic() + 30
    while True:
        offset = durable_offset(registry, reference, path)
        try:
            return offset, registry.UploadFile(requests(offset), timeout=60)
        except grpc.RpcError as error:
            moved = error.code() is grpc.StatusCode.FAILED_PRECONDITION and "not where to resume" in str(
                error.details()
            )
            if not (moved or error.code() is grpc.StatusCode.ABORTED) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def while_held(call: Callable[[], object]) -> None:
    """Calls again while the server answers ABORTED: a cut stream still winds down on the file."""
    deadline = time.monotonic() + 30
    while True:
        try:
            call()
            return
        except grpc.RpcError as error:
            if error.code() is not grpc.StatusCode.ABORTED or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def durable_offset(registry: registry_pb2_grpc.RegistryServiceStub, reference: str, path: str) -> int:
    try:
        request = registry_pb2.GetUploadSessionRequest(reference=reference, path=path)
        return registry.GetUploadSession(request, timeout=10).session.offset
    except grpc.RpcError as error:
        if error.code() is not grpc.StatusCode.NOT_FOUND:
            raise
        return 0


@pytest.mark.parametrize("cut_at", [3 * MiB, 7 * MiB, 16 * MiB + 100])
def test_cut_upload_resumes_from_durable_offset(
    cut_at: int,
    new_version: Callable[[], str],
    registry: registry_pb2_grpc.RegistryServiceStub,
    fetch: Callable[..., tuple[registry_pb2.DownloadFileHeader, bytes]],
    content: Callable[[int], bytes],
    upload_requests: Callable[..., Requests],
) -> None:
    reference, data = new_version(), content(18 * MiB + 12345)
    digest = hashlib.sha256(data).hexdigest()
    with pytest.raises(grpc.RpcError):
        registry.UploadFile(cut_after(upload_requests(reference, "model.bin", data, sha256=digest), cut_at), timeout=60)

    offset, response = resume(
        registry,
        lambda at: upload_requests(reference, "model.bin", data, sha256=digest, offset=at),
        reference,
        "model.bin",
    )
    assert offset % PART == 0 and offset <= cut_at
    assert (response.file.sha256, response.file.size) == (digest, len(data))
    registry.CommitUpload(registry_pb2.CommitUploadRequest(reference=reference, paths=["model.bin"]), timeout=30)
    header, downloaded = fetch(reference, "model.bin")
    assert header.file.sha256 == digest
    assert hashlib.sha256(downloaded).hexdigest() == digest


def test_resume_twice_and_wrong_offsets_are_refused(
    new_version: Callable[[], str],
    registry: registry_pb2_grpc.RegistryServiceStub,
    content: Callable[[int], bytes],
    upload_requests: Callable[..., Requests],
) -> None:
    reference, data = new_version(), content(21 * MiB)
    digest = hashlib.sha256(data).hexdigest()

    def requests(at: int) -> Requests:
        return upload_requests(reference, "w.bin", data, sha256=digest, offset=at)

    def until_a_part_is_durable() -> None:
        # A loaded server may not have read a whole part yet: cutting then would leave nothing to resume.
        deadline = time.monotonic() + 30
        while durable_offset(registry, reference, "w.bin") == 0:
            assert time.monotonic() < deadline, "no part of the upload became durable within 30 s"
            time.sleep(0.05)

    with pytest.raises(grpc.RpcError):
        registry.UploadFile(cut_after(requests(0), 11 * MiB, until_a_part_is_durable), timeout=60)
    offsets = []

    def cut_resume() -> None:
        offsets.append(durable_offset(registry, reference, "w.bin"))
        registry.UploadFile(cut_after(requests(offsets[-1]), 6 * MiB), timeout=60)

    with pytest.raises(grpc.RpcError) as cut:
        while_held(cut_resume)
    assert cut.value.details() == "Exception iterating requests!"  # the client's own cut

    with pytest.raises(grpc.RpcError) as wrong:
        while_held(lambda: registry.UploadFile(requests(3 * MiB), timeout=60))
    assert wrong.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "header.offset" in str(wrong.value.details()) and "resumes at offset" in str(wrong.value.details())

    offset, response = resume(registry, requests, reference, "w.bin")
    assert offset >= offsets[-1] and offset % PART == 0
    assert response.file.sha256 == digest
