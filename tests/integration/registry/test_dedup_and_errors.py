"""Content stored once, concurrent uploads of the same bytes, and clear errors for bad input."""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

import modelyard
from modelyard.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from modelyard_common.embedded.service import ServiceProcess

MiB = 1024 * 1024
Upload = Callable[..., registry_pb2.UploadFileResponse]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def commit(registry: registry_pb2_grpc.RegistryServiceStub, reference: str) -> registry_pb2.CommitUploadResponse:
    response: registry_pb2.CommitUploadResponse = registry.CommitUpload(
        registry_pb2.CommitUploadRequest(reference=reference), timeout=30
    )
    return response


def deduplicated_files(registry_service: ServiceProcess) -> float:
    with urllib.request.urlopen(registry_service.metrics_url, timeout=10) as response:
        page = response.read().decode()
    name = "modelyard_registry_deduplicated_files_total"
    return sum(s.value for f in text_string_to_metric_families(page) for s in f.samples if s.name == name)


def test_known_content_is_not_stored_again(
    new_version: Callable[[], str],
    upload: Upload,
    registry: registry_pb2_grpc.RegistryServiceStub,
    registry_service: ServiceProcess,
    content: Callable[[int], bytes],
    bucket_keys: Callable[[], set[str]],
) -> None:
    data = content(7 * MiB)
    first = new_version()
    stored = upload(first, "model.bin", data)
    commit(registry, first)
    keys = bucket_keys()
    assert stored.file.storage_key in keys

    second, third = new_version(), new_version()
    counted = deduplicated_files(registry_service)
    announced = upload(second, "model.bin", data, sha256=digest(data))
    streamed = upload(third, "renamed.bin", data)  # no digest in the header: found out at the end
    assert (announced.deduplicated, streamed.deduplicated) == (True, True)
    assert announced.file.storage_key == streamed.file.storage_key == stored.file.storage_key
    assert bucket_keys() == keys
    assert deduplicated_files(registry_service) == counted + 2
    commit(registry, second)
    commit(registry, third)


def test_concurrent_uploads_of_the_same_content_store_one_object(
    new_version: Callable[[], str],
    upload: Upload,
    content: Callable[[int], bytes],
    bucket_keys: Callable[[], set[str]],
) -> None:
    data = content(11 * MiB)
    references = [new_version() for _ in range(3)]
    before = bucket_keys()
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda ref: upload(ref, "same.bin", data), references))
    assert {r.file.sha256 for r in results} == {digest(data)}
    assert len({r.file.storage_key for r in results}) == 1
    assert bucket_keys() - before == {results[0].file.storage_key}


def test_empty_file_round_trip(
    new_version: Callable[[], str],
    upload: Upload,
    registry: registry_pb2_grpc.RegistryServiceStub,
    fetch: Callable[..., tuple[registry_pb2.DownloadFileHeader, bytes]],
) -> None:
    reference = new_version()
    assert upload(reference, "empty.txt", b"").file.sha256 == digest(b"")
    commit(registry, reference)
    header, data = fetch(reference)
    assert (header.file.size, data) == (0, b"")


def test_abort_fails_the_version_and_forgets_its_files(
    new_version: Callable[[], str],
    upload: Upload,
    registry: registry_pb2_grpc.RegistryServiceStub,
    metadata: modelyard.Client,
) -> None:
    reference = new_version()
    upload(reference, "a.txt", b"abc")
    registry.AbortUpload(registry_pb2.AbortUploadRequest(reference=reference, reason="training crashed"), timeout=30)
    version = metadata.get_version(reference)
    assert (version.status, version.status_message) == (modelyard.VersionStatus.FAILED, "training crashed")
    stat = registry.StatArtifact(registry_pb2.StatArtifactRequest(reference=reference), timeout=30)
    assert (stat.status, list(stat.uploaded)) == (types_pb2.VERSION_STATUS_FAILED, [])


def oversized_chunk(reference: str) -> Iterator[registry_pb2.UploadFileRequest]:
    size = 4 * MiB + 1
    yield registry_pb2.UploadFileRequest(header=registry_pb2.UploadFileHeader(reference=reference, path="f", size=size))
    yield registry_pb2.UploadFileRequest(chunk=b"\0" * size)


def headerless(reference: str) -> Iterator[registry_pb2.UploadFileRequest]:
    yield registry_pb2.UploadFileRequest(chunk=b"data first")


@pytest.mark.parametrize(
    ("requests", "field"),
    [
        (lambda ref: headerless(ref), "header"),
        (lambda ref: _one(ref, path="../escape.bin"), "header.path"),
        (lambda ref: _one(ref, path="/abs.bin"), "header.path"),
        (lambda ref: _one(ref, sha256="XYZ"), "header.sha256"),
        (lambda ref: _one(ref, size=-1), "header.size"),
        (lambda ref: _one(ref, size=2), "chunk"),  # more bytes than announced
        (lambda ref: _one(ref, size=100), "chunk"),  # fewer bytes than announced
        (lambda ref: _one(ref, offset=1), "header.offset"),
        (lambda ref: oversized_chunk(ref), "chunk: is 4194305 bytes; at most 4194304 allowed per message"),
        (lambda ref: _one(""), "header.reference"),
    ],
)
def test_bad_uploads_name_the_field(
    requests: Callable[[str], Iterator[registry_pb2.UploadFileRequest]],
    field: str,
    new_version: Callable[[], str],
    registry: registry_pb2_grpc.RegistryServiceStub,
) -> None:
    reference = new_version()
    with pytest.raises(grpc.RpcError) as error:
        registry.UploadFile(requests(reference), timeout=30)
    assert error.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)
    assert str(error.value.details()).startswith(field), error.value.details()


def _one(
    reference: str, path: str = "f.bin", size: int = 5, **header: object
) -> Iterator[registry_pb2.UploadFileRequest]:
    yield registry_pb2.UploadFileRequest(
        header=registry_pb2.UploadFileHeader(reference=reference, path=path, size=size, **header)  # type: ignore[arg-type]
    )
    yield registry_pb2.UploadFileRequest(chunk=b"12345")


def test_state_errors(
    new_version: Callable[[], str],
    upload: Upload,
    registry: registry_pb2_grpc.RegistryServiceStub,
    fetch: Callable[..., tuple[registry_pb2.DownloadFileHeader, bytes]],
) -> None:
    pending, ready = new_version(), new_version()
    upload(ready, "a.bin", b"a")
    upload(ready, "b.bin", b"b")
    commit(registry, ready)

    def code_and_message(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as error:
            call()
        return error.value.code(), str(error.value.details())

    code, message = code_and_message(lambda: fetch(pending, "a.bin"))
    assert code is grpc.StatusCode.FAILED_PRECONDITION and "only READY versions" in message
    code, message = code_and_message(lambda: upload(ready, "c.bin", b"c"))
    assert code is grpc.StatusCode.FAILED_PRECONDITION and "PENDING_UPLOAD" in message
    code, message = code_and_message(lambda: fetch(ready))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and message.startswith("path: is required")
    code, message = code_and_message(lambda: fetch(ready, "missing.bin"))
    assert code is grpc.StatusCode.NOT_FOUND and "'a.bin'" in message
    code, message = code_and_message(lambda: fetch(ready, "a.bin", offset=2))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and message.startswith("offset")
    code, message = code_and_message(lambda: fetch(ready.replace(":", ":9")))
    assert code is grpc.StatusCode.NOT_FOUND
    upload(pending, "x.bin", b"x")
    code, message = code_and_message(
        lambda: registry.CommitUpload(registry_pb2.CommitUploadRequest(reference=pending, paths=["y.bin"]), timeout=30)
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION and message.startswith("paths:") and "y.bin" in message
    assert commit(registry, ready).reference == ready  # committing again is a no-op
