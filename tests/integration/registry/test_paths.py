"""Artifacts that could not be pulled onto a file system are refused at upload, by the registry and
by the SDK before it sends anything."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

import modelyard
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess

MiB = 1024 * 1024
Requests = Iterator[registry_pb2.UploadFileRequest]


def _wait_for_session(registry: registry_pb2_grpc.RegistryServiceStub, reference: str, path: str) -> None:
    request = registry_pb2.GetUploadSessionRequest(reference=reference, path=path)
    deadline = time.monotonic() + 30
    while True:
        try:
            registry.GetUploadSession(request, timeout=5)
            return
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def refusal(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code(), str(error.value.details())


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("n" * 300, "has a part of 300 bytes in UTF-8"),
        (f"dir/{'n' * 251}", "has a part of 251 bytes in UTF-8"),
        ("é" * 126, "has a part of 252 bytes in UTF-8"),  # 126 characters, 2 bytes each
        ("a/" * 600 + "b", "is 1201 bytes long in UTF-8; at most 1024 allowed"),
        ("a\0b", "has control characters or backslashes"),
        ("a\\b", "has control characters or backslashes"),
        ("a//b", "must be relative, without empty, '.' or '..' parts"),
        ("a/./b", "must be relative"),
        ("a/../../b", "must be relative"),
        ("/etc/passwd", "must be relative"),
        ("a/", "must be relative"),
    ],
)
def test_paths_a_file_system_refuses_are_refused_at_upload(
    path: str,
    problem: str,
    new_version: Callable[[], str],
    registry: registry_pb2_grpc.RegistryServiceStub,
    upload_requests: Callable[..., Requests],
) -> None:
    reference = new_version()
    code, message = refusal(lambda: registry.UploadFile(upload_requests(reference, path, b"bytes"), timeout=30))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith(f"header.path: {path[:200]!r} {problem}"), message


def test_the_longest_name_a_file_system_takes_beside_its_part_file_is_stored(
    new_version: Callable[[], str],
    registry: registry_pb2_grpc.RegistryServiceStub,
    upload: Callable[..., registry_pb2.UploadFileResponse],
) -> None:
    reference, name = new_version(), "é" * 125  # 250 bytes: room for ".part" within NAME_MAX
    assert upload(reference, f"dir/{name}", b"bytes").file.path == f"dir/{name}"


@pytest.mark.parametrize(("first", "second"), [("a", "a/b/c"), ("a/b/c", "a"), ("a/b", "a/b/c"), ("x/y", "x")])
def test_a_file_cannot_be_a_directory_of_another_in_either_order(
    first: str,
    second: str,
    new_version: Callable[[], str],
    registry: registry_pb2_grpc.RegistryServiceStub,
    upload: Callable[..., registry_pb2.UploadFileResponse],
    upload_requests: Callable[..., Requests],
) -> None:
    reference = new_version()
    upload(reference, first, b"first")
    upload(reference, "a-sibling/a", b"unrelated")  # neither a directory of the others nor under them
    code, message = refusal(lambda: registry.UploadFile(upload_requests(reference, second, b"second"), timeout=30))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith(f"header.path: {second!r} cannot be stored beside {first!r}"), message
    stat = registry.StatArtifact(registry_pb2.StatArtifactRequest(reference=reference), timeout=30)
    assert sorted(f.path for f in stat.uploaded) == sorted([first, "a-sibling/a"])
    assert list(stat.sessions) == []


def test_an_unfinished_upload_holds_its_path_too(
    new_version: Callable[[], str],
    registry: registry_pb2_grpc.RegistryServiceStub,
    upload_requests: Callable[..., Requests],
    content: Callable[[int], bytes],
) -> None:
    reference, data = new_version(), content(12 * MiB)

    def cut(requests: Requests) -> Requests:
        for i, request in enumerate(requests):
            if i > 8:
                _wait_for_session(registry, reference, "model")  # the server has it before the client dies
                raise RuntimeError("the pipeline died")
            yield request

    refusal(lambda: registry.UploadFile(cut(upload_requests(reference, "model", data)), timeout=60))
    code, message = refusal(
        lambda: registry.UploadFile(upload_requests(reference, "model/weights.bin", b"w"), timeout=30)
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "cannot be stored beside 'model'" in message
    with_dedup = upload_requests(
        reference, "model/x", b"", sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    registry.UploadFile(upload_requests(new_version(), "empty", b""), timeout=30)  # the empty blob exists now
    code, message = refusal(lambda: registry.UploadFile(with_dedup, timeout=30))  # refused on the dedup path too
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "cannot be stored beside 'model'" in message


def test_commit_refuses_paths_nested_in_each_other(
    new_version: Callable[[], str], registry: registry_pb2_grpc.RegistryServiceStub
) -> None:
    request = registry_pb2.CommitUploadRequest(reference=new_version(), paths=["m/w.bin", "m"])
    code, message = refusal(lambda: registry.CommitUpload(request, timeout=30))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert message.startswith("paths: 'm' cannot be stored beside 'm/w.bin'"), message


@pytest.mark.parametrize(
    ("name", "problem"),
    [("n" * 251, "has a part of 251 bytes"), ("back\\slash", "backslashes"), ("tab\there", "control")],
)
def test_push_refuses_such_paths_before_registering_or_sending_anything(
    name: str,
    problem: str,
    tmp_path: Path,
    metadata: modelyard.Client,
    metadata_service: ServiceProcess,
    registry_service: ServiceProcess,
) -> None:
    project = f"p-{uuid.uuid4().hex[:10]}"
    metadata.create_project(project)
    source = tmp_path / "model"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / name).write_bytes(b"bytes")
    (source / "fine.bin").write_bytes(b"fine")
    with (
        modelyard.connect(metadata_service.target, registry=registry_service.target, actor="tester") as client,
        pytest.raises(modelyard.InvalidArgumentError) as error,
    ):
        client.push(f"{project}/m", source)
    stored_as = f"sub/{name}"
    assert error.value.message.startswith(f"path: {source / 'sub' / name} would be stored as {stored_as!r}")
    assert problem in error.value.message
    assert list(metadata.list_models(project)) == []  # not even the model was registered
