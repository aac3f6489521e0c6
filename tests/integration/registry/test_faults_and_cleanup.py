"""S3 going away mid-transfer, and the reconciler cleaning up after abandoned uploads."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from stored_json import store_too_deep

import modelyard
from modelyard._dataset_types import registry_reference
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded import EmbeddedPostgres, EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess

MiB = 1024 * 1024
Requests = Iterator[registry_pb2.UploadFileRequest]


@pytest.fixture
def own_seaweedfs(tmp_path: Path) -> Iterator[EmbeddedSeaweedFS]:
    with EmbeddedSeaweedFS(tmp_path / "seaweedfs") as server:
        yield server


def stub(service: ServiceProcess) -> registry_pb2_grpc.RegistryServiceStub:
    return registry_pb2_grpc.RegistryServiceStub(grpc.insecure_channel(service.target))


def test_s3_down_mid_upload_is_unavailable_not_a_hang(
    own_seaweedfs: EmbeddedSeaweedFS,
    fresh_database: str,
    registry_config: Callable[..., dict[str, str]],
    start_registry: Callable[[dict[str, str]], ServiceProcess],
    new_version: Callable[[], str],
    metadata: modelyard.Client,
    content: Callable[[int], bytes],
    upload_requests: Callable[..., Requests],
) -> None:
    registry = stub(start_registry(registry_config(own_seaweedfs, fresh_database, s3_timeout_seconds="2")))
    ready, pending = new_version(), new_version()
    registry.UploadFile(upload_requests(ready, "small.bin", b"kept"), timeout=30)
    registry.CommitUpload(registry_pb2.CommitUploadRequest(reference=ready), timeout=30)
    data = content(40 * MiB)

    def kill_s3_midway(requests: Requests) -> Requests:
        sent = 0
        for request in requests:
            sent += len(request.chunk)
            if sent >= 6 * MiB and own_seaweedfs.running:
                os.kill(own_seaweedfs.pid, signal.SIGKILL)
            yield request

    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as error:
        registry.UploadFile(kill_s3_midway(upload_requests(pending, "big.bin", data)), timeout=120)
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "S3" in str(error.value.details())
    assert time.monotonic() - started < 60  # bounded by the S3 timeouts, far below the call's deadline

    stat = registry.StatArtifact(registry_pb2.StatArtifactRequest(reference=pending), timeout=30)
    assert list(stat.uploaded) == []
    assert metadata.get_version(pending).status is modelyard.VersionStatus.PENDING_UPLOAD
    with pytest.raises(grpc.RpcError) as error:
        list(registry.DownloadFile(registry_pb2.DownloadFileRequest(reference=ready), timeout=60))
    assert error.value.code() is grpc.StatusCode.UNAVAILABLE


def stop_after_two_parts(requests: Requests) -> Requests:
    """An upload stream whose sender dies once two parts are durable."""
    for i, request in enumerate(requests):
        if i > 12:
            raise RuntimeError("the training job died")
        yield request


def reconcile(service_settings: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, **{f"MLREG_REGISTRY_{k.upper()}": v for k, v in service_settings.items()}}
    done = subprocess.run(
        [sys.executable, "-m", "modelyard_registry", "reconcile"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture
def own_metadata(
    tmp_path: Path,
    launch_metadata: Callable[..., ServiceProcess],
    postgres: EmbeddedPostgres,
) -> Iterator[ServiceProcess]:
    """A metadata service of the test's own: the reconciler fails every old PENDING_UPLOAD
    version it sees, and other tests' versions are not this test's to fail."""
    service = launch_metadata(tmp_path / "metadata", postgres.create_database(f"test_{uuid.uuid4().hex}"))
    yield service
    service.stop()


def test_reconciler_cleans_abandoned_uploads_and_orphans_but_keeps_ready_bytes(
    seaweedfs: EmbeddedSeaweedFS,
    fresh_database: str,
    own_metadata: ServiceProcess,
    registry_config: Callable[..., dict[str, str]],
    start_registry: Callable[[dict[str, str]], ServiceProcess],
    content: Callable[[int], bytes],
    upload_requests: Callable[..., Requests],
    s3: Any,
    list_keys: Callable[[str], set[str]],
) -> None:
    bucket = "reconcile-tests"
    settings = registry_config(
        seaweedfs,
        fresh_database,
        metadata=own_metadata,
        s3_bucket=bucket,
        upload_idle_seconds="1",
        orphan_grace_seconds="0",
    )
    registry = stub(start_registry(settings))
    with modelyard.connect(own_metadata.target, actor="tester") as metadata:
        metadata.create_project("reconciled")
        metadata.create_model("reconciled/m")
        cut, uncommitted, ready, unstarted = (metadata.create_version("reconciled/m").reference for _ in range(4))
        kept = content(6 * MiB)
        registry.UploadFile(upload_requests(ready, "model.bin", kept), timeout=60)
        registry.CommitUpload(registry_pb2.CommitUploadRequest(reference=ready), timeout=30)
        abandoned = registry.UploadFile(upload_requests(uncommitted, "model.bin", content(MiB)), timeout=60)
        with pytest.raises(grpc.RpcError):
            registry.UploadFile(stop_after_two_parts(upload_requests(cut, "model.bin", content(20 * MiB))), timeout=60)
        s3.put_object(Bucket=bucket, Key="blobs/orphan-object", Body=b"left by a crash")
        orphan_upload = s3.create_multipart_upload(Bucket=bucket, Key="blobs/orphan-upload")["UploadId"]

        failed: set[str] = set()
        deadline = time.monotonic() + 60
        while failed != {cut, uncommitted, unstarted} and time.monotonic() < deadline:
            failed |= set(reconcile(settings)["failed_versions"])
        assert failed == {cut, uncommitted, unstarted}
        for reference in (cut, uncommitted, unstarted):
            version = metadata.get_version(reference)
            assert version.status is modelyard.VersionStatus.FAILED and "abandoned" in version.status_message
        assert metadata.get_version(ready).status is modelyard.VersionStatus.READY

        ready_key = metadata.get_version(ready).artifact.files[0].storage_key  # type: ignore[union-attr]
        assert list_keys(bucket) == {ready_key}
        assert abandoned.file.storage_key != ready_key
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert [u for u in uploads if u["UploadId"] == orphan_upload] == []
        assert uploads == []
        body = s3.get_object(Bucket=bucket, Key=ready_key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(kept).hexdigest()

        again = reconcile(settings)
        assert (
            again["failed_versions"],
            again["deleted_blobs"],
            again["aborted_uploads"],
            again["deleted_objects"],
        ) == (
            [],
            0,
            0,
            0,
        )


def test_reconciler_fails_and_cleans_abandoned_dataset_versions_as_model_ones(
    seaweedfs: EmbeddedSeaweedFS,
    fresh_database: str,
    own_metadata: ServiceProcess,
    registry_config: Callable[..., dict[str, str]],
    start_registry: Callable[[dict[str, str]], ServiceProcess],
    content: Callable[[int], bytes],
    upload_requests: Callable[..., Requests],
    s3: Any,
    list_keys: Callable[[str], set[str]],
) -> None:
    bucket = "reconcile-datasets"
    settings = registry_config(
        seaweedfs, fresh_database, metadata=own_metadata, s3_bucket=bucket, upload_idle_seconds="1"
    )
    registry = stub(start_registry(settings))
    with modelyard.connect(own_metadata.target, actor="tester") as metadata:
        metadata.create_project("tables")
        metadata.create_dataset("tables/sales")
        cut, unstarted, ready = (metadata.create_dataset_version("tables/sales", "CSV").reference for _ in range(3))
        registry.UploadFile(upload_requests(registry_reference(ready), "sales.csv", b"a,b\n1,x\n"), timeout=60)
        registry.CommitUpload(registry_pb2.CommitUploadRequest(reference=registry_reference(ready)), timeout=30)
        with pytest.raises(grpc.RpcError):
            cut_upload = upload_requests(registry_reference(cut), "sales.csv", content(20 * MiB))
            registry.UploadFile(stop_after_two_parts(cut_upload), timeout=60)
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) != []

        abandoned = {registry_reference(cut), registry_reference(unstarted)}
        failed: set[str] = set()
        deadline = time.monotonic() + 60
        while failed != abandoned and time.monotonic() < deadline:
            failed |= set(reconcile(settings)["failed_versions"])
        assert failed == abandoned
        for reference in (cut, unstarted):
            version = metadata.get_dataset_version(reference)
            assert version.status is modelyard.VersionStatus.FAILED
            assert version.status_message == "upload abandoned: no progress for 1 s"
        committed = metadata.get_dataset_version(ready)
        assert committed.status is modelyard.VersionStatus.READY and committed.row_count == 1
        assert committed.artifact is not None
        assert list_keys(bucket) == {committed.artifact.files[0].storage_key}
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        assert reconcile(settings)["failed_versions"] == []


async def test_the_reconciler_fails_abandoned_versions_whatever_json_they_hold(
    seaweedfs: EmbeddedSeaweedFS,
    fresh_database: str,
    postgres: EmbeddedPostgres,
    tmp_path: Path,
    launch_metadata: Callable[..., ServiceProcess],
    registry_config: Callable[..., dict[str, str]],
    start_registry: Callable[[dict[str, str]], ServiceProcess],
) -> None:
    # A version stored with a metric nested past what responses can carry (before the bound) once
    # made every search of the reconciler undecodable: it crashed on None, every pass.
    metadata_dsn = postgres.create_database(f"test_{uuid.uuid4().hex}")
    metadata_service = launch_metadata(tmp_path / "metadata", metadata_dsn)
    try:
        settings = registry_config(
            seaweedfs, fresh_database, metadata=metadata_service, s3_bucket="deep-json", upload_idle_seconds="1"
        )
        start_registry(settings)
        with modelyard.connect(metadata_service.target, actor="tester") as metadata:
            metadata.create_project("deep")
            metadata.create_model("deep/m")
            deep, plain = (metadata.create_version("deep/m").reference for _ in range(2))
            await store_too_deep(metadata_dsn, deep)
            failed: set[str] = set()
            deadline = time.monotonic() + 60
            while failed != {deep, plain} and time.monotonic() < deadline:
                report = reconcile(settings)
                assert report["unreconciled_versions"] == []
                failed |= set(report["failed_versions"])
            assert failed == {deep, plain}
            assert metadata.get_version(deep).status is modelyard.VersionStatus.FAILED
    finally:
        metadata_service.stop()
