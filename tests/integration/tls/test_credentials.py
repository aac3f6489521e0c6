"""No answer a client can get carries the object store's credentials or where it is: artifact
status, upload sessions and versions name files by path and digest only."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from conftest import Pki, Platform
from replica_processes import until

import modelyard
from modelyard.v1 import metadata_pb2, metadata_pb2_grpc, registry_pb2, registry_pb2_grpc
from modelyard_common.embedded import EmbeddedSeaweedFS

MiB = 1024 * 1024


class Cut(Exception):
    """Raised inside the request stream: the upload stops after its first part, unfinished."""


def first_part_then_cut(
    reference: str, data: bytes, before_cut: Callable[[], object]
) -> Iterator[registry_pb2.UploadFileRequest]:
    """An upload of ``data`` cut after 6 MiB, once ``before_cut`` returned."""
    header = registry_pb2.UploadFileHeader(reference=reference, path="model.bin", size=len(data))
    yield registry_pb2.UploadFileRequest(header=header)
    for start in range(0, 6 * MiB, MiB):  # past the 5 MiB part the test registry makes durable
        yield registry_pb2.UploadFileRequest(chunk=data[start : start + MiB])
    before_cut()
    raise Cut


def test_no_answer_carries_the_s3_credentials_or_endpoint(
    mtls_platform: Platform,
    mtls_client: modelyard.Client,
    pki: Pki,
    project: str,
    seaweedfs: EmbeddedSeaweedFS,
    tmp_path: Path,
) -> None:
    (tmp_path / "model.bin").write_bytes(os.urandom(1024))
    ready = mtls_client.push(f"{project}/scorer", tmp_path / "model.bin", framework="custom")
    pending = mtls_client.create_version(f"{project}/scorer")
    credentials = pki.client_tls(pki.client).credentials()
    with (
        grpc.secure_channel(mtls_platform.registry.target, credentials) as registry_channel,
        grpc.secure_channel(mtls_platform.metadata.target, credentials) as metadata_channel,
    ):
        registry = registry_pb2_grpc.RegistryServiceStub(registry_channel)
        session_request = registry_pb2.GetUploadSessionRequest(reference=pending.reference, path="model.bin")

        def durable_session() -> registry_pb2.GetUploadSessionResponse | None:
            try:
                response = registry.GetUploadSession(session_request, timeout=10)
            except grpc.RpcError as exc:  # the registry has not read the header yet
                if exc.code() is not grpc.StatusCode.NOT_FOUND:
                    raise
                return None
            return response if response.session.offset > 0 else None

        with pytest.raises(grpc.RpcError):
            data = os.urandom(8 * MiB)
            cut = first_part_then_cut(pending.reference, data, lambda: until(durable_session, "a part durable", 30))
            registry.UploadFile(cut, timeout=60)
        session = until(durable_session, "the session readable", 30)
        answers: list[object] = [
            session,
            registry.StatArtifact(registry_pb2.StatArtifactRequest(reference=ready.reference), timeout=10),
            registry.StatArtifact(registry_pb2.StatArtifactRequest(reference=pending.reference), timeout=10),
            metadata_pb2_grpc.MetadataServiceStub(metadata_channel).GetModelVersion(
                metadata_pb2.GetModelVersionRequest(reference=ready.reference), timeout=10
            ),
        ]
    answers += [mtls_client.artifact(ready.reference), mtls_client.artifact(pending.reference)]
    answers += [mtls_client.get_version(ready.reference), mtls_client.get_version(ready.reference).artifact]

    assert answers[1].artifact.files[0].sha256  # type: ignore[attr-defined]  # the answers say something
    assert answers[2].sessions[0].offset == 5 * MiB  # type: ignore[attr-defined]
    endpoint = seaweedfs.endpoint.split("://", 1)[1]
    for answer in answers:
        text = answer.SerializeToString() if hasattr(answer, "SerializeToString") else repr(answer).encode()
        for secret in (seaweedfs.secret_key, seaweedfs.access_key, endpoint):
            assert secret.encode() not in text, f"{secret!r} in {type(answer).__name__}"
