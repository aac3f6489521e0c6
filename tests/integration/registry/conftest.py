"""Helpers around the session's registry service (tests/integration/conftest.py starts it)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import grpc
import pytest

import modelyard
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded import EmbeddedSeaweedFS
from modelyard_common.embedded.service import ServiceProcess

CHUNK = 1024 * 1024


@pytest.fixture
def start_registry(start_service: Callable[[str, dict[str, str]], ServiceProcess]) -> Callable[..., ServiceProcess]:
    """Starts registry processes of a test's own (own stores or settings); stops them afterwards."""
    return lambda settings: start_service("registry", settings)


def s3_client(seaweedfs: EmbeddedSeaweedFS) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=seaweedfs.endpoint,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
        region_name=seaweedfs.region,
    )


def object_keys(s3: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="blobs/"):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


@pytest.fixture
def s3(seaweedfs: EmbeddedSeaweedFS) -> Any:
    """A boto3 client of the session's SeaweedFS, to look at buckets behind the registry's back."""
    return s3_client(seaweedfs)


@pytest.fixture
def list_keys(s3: Any) -> Callable[[str], set[str]]:
    """list_keys(bucket): the object keys under blobs/, read straight from S3."""
    return lambda bucket: object_keys(s3, bucket)


@pytest.fixture
def bucket_keys(registry_service: ServiceProcess, list_keys: Callable[[str], set[str]]) -> Callable[[], set[str]]:
    """The object keys in the session registry's bucket."""
    return lambda: list_keys("registry-tests")


@pytest.fixture
def registry(registry_service: ServiceProcess) -> Iterator[registry_pb2_grpc.RegistryServiceStub]:
    with grpc.insecure_channel(registry_service.target) as channel:
        yield registry_pb2_grpc.RegistryServiceStub(channel)


@pytest.fixture
def new_version(metadata: modelyard.Client) -> Callable[[], str]:
    """Makes a PENDING_UPLOAD version in a project of its own; returns its reference."""
    project = f"p-{uuid.uuid4().hex[:10]}"
    metadata.create_project(project)
    metadata.create_model(f"{project}/m")

    def make() -> str:
        return metadata.create_version(f"{project}/m").reference

    return make


def random_bytes(size: int) -> bytes:
    """Incompressible-looking content, unique per call, built fast."""
    block = b"".join(hashlib.sha256(uuid.uuid4().bytes + bytes([i])).digest() for i in range(256))
    return (block * (size // len(block) + 1))[:size]


def upload_requests(
    reference: str, path: str, data: bytes, *, sha256: str = "", offset: int = 0, size: int | None = None
) -> Iterator[registry_pb2.UploadFileRequest]:
    header = registry_pb2.UploadFileHeader(
        reference=reference, path=path, size=len(data) if size is None else size, sha256=sha256, offset=offset
    )
    yield registry_pb2.UploadFileRequest(header=header)
    for start in range(offset, len(data), CHUNK):
        yield registry_pb2.UploadFileRequest(chunk=data[start : start + CHUNK])


@pytest.fixture(name="upload_requests")
def upload_requests_fixture() -> Callable[..., Iterator[registry_pb2.UploadFileRequest]]:
    """upload_requests(reference, path, data, sha256="", offset=0, size=None): a header and chunks."""
    return upload_requests


@pytest.fixture
def content() -> Callable[[int], bytes]:
    return random_bytes


@pytest.fixture
def upload(registry: registry_pb2_grpc.RegistryServiceStub) -> Callable[..., registry_pb2.UploadFileResponse]:
    """upload(reference, path, data, sha256="", offset=0, size=None): one UploadFile stream."""

    def run(reference: str, path: str, data: bytes, **kw: Any) -> registry_pb2.UploadFileResponse:
        response: registry_pb2.UploadFileResponse = registry.UploadFile(
            upload_requests(reference, path, data, **kw), timeout=120
        )
        return response

    return run


@pytest.fixture
def fetch(
    registry: registry_pb2_grpc.RegistryServiceStub,
) -> Callable[..., tuple[registry_pb2.DownloadFileHeader, bytes]]:
    """fetch(reference, path="", offset=0, length=0): the header and bytes of one DownloadFile."""

    def run(reference: str, path: str = "", **kw: int) -> tuple[registry_pb2.DownloadFileHeader, bytes]:
        responses: Iterable[registry_pb2.DownloadFileResponse] = registry.DownloadFile(
            registry_pb2.DownloadFileRequest(reference=reference, path=path, **kw), timeout=120
        )
        header, chunks = None, []
        for response in responses:
            if response.WhichOneof("kind") == "header":
                header = response.header
            else:
                chunks.append(response.chunk)
        assert header is not None
        return header, b"".join(chunks)

    return run
