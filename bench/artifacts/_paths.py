"""The two ways bytes go to S3 and back: boto3 straight to the bucket, and the registry's
RegistryService through its generated stubs and the SDK."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import grpc
from boto3.s3.transfer import TransferConfig

import modelyard
from bench.artifacts._files import CHUNK, MiB
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded import EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess

__all__ = ["DIRECT_PART", "DIRECT_THREADS", "Direct", "ThroughRegistry"]

ACTOR = (("modelyard-actor", "bench"),)
MODEL = "bench/artifacts"
FILE_PATH = "model.bin"
DIRECT_PART = 8 * MiB
DIRECT_THREADS = 8


class Direct:
    """Plain boto3 managed transfers, to the bucket the registry writes to (prefix ``direct/``)."""

    def __init__(self, seaweedfs: EmbeddedSeaweedFS, bucket: str) -> None:
        self.bucket = bucket
        self.s3: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=seaweedfs.endpoint,
            aws_access_key_id=seaweedfs.access_key,
            aws_secret_access_key=seaweedfs.secret_key,
            region_name=seaweedfs.region,
            config=botocore.config.Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=DIRECT_THREADS + 2,
            ),
        )
        self.transfer = TransferConfig(
            multipart_threshold=DIRECT_PART,
            multipart_chunksize=DIRECT_PART,
            max_concurrency=DIRECT_THREADS,
            use_threads=True,
        )

    def upload(self, source: Path, key: str) -> dict[str, float]:
        self.s3.upload_file(str(source), self.bucket, key, Config=self.transfer)
        return {}

    def download(self, key: str, target: Path, size: int) -> dict[str, float]:
        self.s3.download_file(self.bucket, key, str(target), Config=self.transfer)
        if target.stat().st_size != size:
            raise RuntimeError(f"direct download of {key}: {target.stat().st_size} bytes, expected {size}")
        return {}


def upload_requests(
    reference: str, source: Path, size: int, sha256: str, sent: list[int]
) -> Iterator[registry_pb2.UploadFileRequest]:
    header = registry_pb2.UploadFileHeader(reference=reference, path=FILE_PATH, size=size, sha256=sha256)
    yield registry_pb2.UploadFileRequest(header=header)
    with source.open("rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            sent[0] += len(chunk)
            yield registry_pb2.UploadFileRequest(chunk=chunk)


class ThroughRegistry:
    """The registry's RegistryService through its generated stubs, as an SDK would call it."""

    def __init__(self, registry: ServiceProcess, metadata: ServiceProcess) -> None:
        self.channel = grpc.insecure_channel(registry.target)
        self.stub = registry_pb2_grpc.RegistryServiceStub(self.channel)
        self.client = modelyard.connect(metadata.target, registry=registry.target, actor="bench")

    def close(self) -> None:
        self.channel.close()
        self.client.close()

    def new_version(self) -> str:
        return self.client.create_version(MODEL).reference

    def upload(self, reference: str, source: Path, size: int, sha256: str, *, dedup: bool = False) -> dict[str, float]:
        sent = [0]
        started = time.perf_counter()
        response = self.stub.UploadFile(upload_requests(reference, source, size, sha256, sent), timeout=1800)
        uploaded = time.perf_counter()
        self.stub.CommitUpload(registry_pb2.CommitUploadRequest(reference=reference), metadata=ACTOR, timeout=60)
        committed = time.perf_counter()
        if response.deduplicated != dedup or response.file.sha256 != sha256 or response.file.size != size:
            raise RuntimeError(f"unexpected UploadFile answer for {reference}: {response}")
        return {
            "upload_s": uploaded - started,
            "commit_ms": (committed - uploaded) * 1000,
            "chunks_read_mib": sent[0] / MiB,
        }

    def receive(self, reference: str, size: int) -> dict[str, float]:
        """DownloadFile with the chunks dropped as they come: what the registry serves when the
        client does nothing with them (not a target; separates server from client work)."""
        responses = self.stub.DownloadFile(registry_pb2.DownloadFileRequest(reference=reference), timeout=1800)
        received = 0
        for response in responses:
            received += len(response.chunk)
        if received != size:
            raise RuntimeError(f"DownloadFile of {reference}: {received} bytes, expected {size}")
        return {}

    def download(self, reference: str, target: Path, size: int, sha256: str) -> dict[str, float]:
        """``Client.pull``, as users download: StatArtifact, DownloadFile written to a ``.part``
        file and hashed on a second thread, digest check, rename. The file then moves to
        ``target`` (a rename)."""
        into = target.with_name("pulled")
        self.client.pull(reference, into)
        pulled = into / FILE_PATH
        if pulled.stat().st_size != size:  # the digest was checked by pull against the registry's
            raise RuntimeError(f"pull of {reference}: {pulled.stat().st_size} bytes, expected {size}")
        pulled.replace(target)
        into.rmdir()
        return {}
