"""Uploading files of a version, committing them, and reading them back, on real SeaweedFS."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import grpc
import pytest

import modelyard
from modelyard.v1 import registry_pb2, registry_pb2_grpc, types_pb2

MiB = 1024 * 1024


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_upload_commit_download_round_trip(
    new_version: Callable[[], str],
    upload: Callable[..., registry_pb2.UploadFileResponse],
    fetch: Callable[..., tuple[registry_pb2.DownloadFileHeader, bytes]],
    registry: registry_pb2_grpc.RegistryServiceStub,
    metadata: modelyard.Client,
    content: Callable[[int], bytes],
) -> None:
    reference = new_version()
    weights, config = content(12 * MiB + 3), b'{"layers": 3}'
    first = upload(reference, "weights.bin", weights, sha256=digest(weights))
    second = upload(reference, "conf/config.json", config)
    assert (first.file.size, first.file.sha256, first.deduplicated) == (len(weights), digest(weights), False)
    assert second.file.sha256 == digest(config)

    committed = registry.CommitUpload(registry_pb2.CommitUploadRequest(reference=reference), timeout=30)
    assert sorted(f.path for f in committed.artifact.files) == ["conf/config.json", "weights.bin"]
    assert committed.artifact.total_size == len(weights) + len(config)
    version = metadata.get_version(reference)
    assert version.status is modelyard.VersionStatus.READY
    assert {f.path: f.sha256 for f in version.artifact.files} == {
        "weights.bin": digest(weights),
        "conf/config.json": digest(config),
    }

    header, data = fetch(reference, "weights.bin")
    assert (header.file.size, header.file.sha256, header.offset, header.length) == (
        len(weights),
        digest(weights),
        0,
        len(weights),
    )
    assert digest(data) == digest(weights)
    header, data = fetch(reference, "weights.bin", offset=7 * MiB - 5, length=MiB + 10)
    assert data == weights[7 * MiB - 5 : 8 * MiB + 5]
    assert (header.offset, header.length) == (7 * MiB - 5, MiB + 10)


def test_digest_mismatch_is_data_loss_and_stores_nothing(
    new_version: Callable[[], str],
    upload: Callable[..., registry_pb2.UploadFileResponse],
    registry: registry_pb2_grpc.RegistryServiceStub,
    metadata: modelyard.Client,
    content: Callable[[int], bytes],
) -> None:
    reference = new_version()
    data = content(6 * MiB)
    with pytest.raises(grpc.RpcError) as error:
        upload(reference, "model.onnx", data, sha256="0" * 64)
    assert error.value.code() is grpc.StatusCode.DATA_LOSS
    assert "header.sha256" in str(error.value.details())
    stat = registry.StatArtifact(registry_pb2.StatArtifactRequest(reference=reference), timeout=30)
    assert (list(stat.uploaded), list(stat.sessions)) == ([], [])
    assert stat.status == types_pb2.VERSION_STATUS_PENDING_UPLOAD
    with pytest.raises(grpc.RpcError) as error:
        registry.CommitUpload(registry_pb2.CommitUploadRequest(reference=reference), timeout=30)
    assert error.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert metadata.get_version(reference).status is modelyard.VersionStatus.PENDING_UPLOAD
