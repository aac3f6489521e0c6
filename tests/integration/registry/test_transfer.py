"""The SDK's push / pull / artifact against the real registry, and through a network that cuts
connections mid-transfer (a TCP relay in front of the registry) to see them resume."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner

import modelyard
from modelyard import ModelKind, TransferPhase, TransferProgress, VersionStatus, _transfer
from modelyard.cli import cli
from modelyard.predictors import ArtifactCache
from modelyard.v1 import registry_pb2, registry_pb2_grpc
from modelyard_common.embedded.service import ServiceProcess

MiB = 1024 * 1024
PART = 5 * MiB  # part_size_mib of the test registry


class CuttingRelay:
    """A TCP relay to ``upstream`` that drops each of its first ``cuts`` connections once they
    have carried ``cut_after`` bytes (both ways together): a network failing mid-transfer.
    ``before_cut`` runs once a connection is due to be cut, with nothing more relayed meanwhile."""

    def __init__(
        self, upstream: str, *, cut_after: int, cuts: int = 1, before_cut: Callable[[], None] = lambda: None
    ) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._cut_after, self._cuts, self._before_cut = cut_after, cuts, before_cut
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            with self._lock:
                self.connections += 1
                armed = self._cuts > 0
                self._cuts -= armed
            link = _Link(downstream, upstream, self._cut_after if armed else None, self._before_cut)
            threading.Thread(target=link.pump, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=link.pump, args=(upstream, downstream), daemon=True).start()


class _Link:
    def __init__(
        self, a: socket.socket, b: socket.socket, cut_after: int | None, before_cut: Callable[[], None]
    ) -> None:
        self._sockets, self._cut_after, self._before_cut = (a, b), cut_after, before_cut
        self._carried = 0
        self._lock = threading.Lock()
        self._cutting = threading.Event()
        self._cut = threading.Event()

    def pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(256 * 1024):
                sink.sendall(data)
                with self._lock:
                    self._carried += len(data)
                    due = self._cut_after is not None and self._carried >= self._cut_after
                    first = due and not self._cutting.is_set()
                    self._cutting.set() if due else None
                if first:
                    try:
                        self._before_cut()
                    finally:
                        self._cut.set()
                if due:
                    self._cut.wait()
                    break
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def model(metadata: modelyard.Client) -> str:
    """A fresh model in a project of its own: "p-.../m"."""
    project = f"p-{uuid.uuid4().hex[:10]}"
    metadata.create_project(project)
    metadata.create_model(f"{project}/m")
    return f"{project}/m"


@pytest.fixture
def connect(
    metadata_service: ServiceProcess, registry_service: ServiceProcess
) -> Iterator[Callable[..., modelyard.Client]]:
    """connect(registry=None): an SDK client of both services (the registry at another address
    when given, e.g. a relay's)."""
    clients: list[modelyard.Client] = []

    def make(registry: str | None = None) -> modelyard.Client:
        client = modelyard.connect(
            metadata_service.target, registry=registry or registry_service.target, actor="tester"
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(connect: Callable[..., modelyard.Client]) -> modelyard.Client:
    return connect()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_dir(root: Path, content: Callable[[int], bytes]) -> dict[str, bytes]:
    files = {"weights.bin": content(12 * MiB + 7), "conf/config.json": b'{"layers": 3}', "empty": b""}
    for name, data in files.items():
        write(root / name, data)
    return files


def test_push_directory_then_pull_it_back(
    client: modelyard.Client, model: str, tmp_path: Path, content: Callable[[int], bytes]
) -> None:
    files = model_dir(tmp_path / "src", content)
    events: list[TransferProgress] = []
    version = client.push(model, tmp_path / "src", progress=events.append, framework="sklearn", tags={"k": "v"})
    assert (version.status, version.framework, version.tags) == (VersionStatus.READY, "sklearn", {"k": "v"})
    assert version.artifact is not None
    assert {f.path: f.sha256 for f in version.artifact.files} == {p: digest(d) for p, d in files.items()}
    assert {e.phase for e in events} == {TransferPhase.HASH, TransferPhase.UPLOAD}
    assert events[-1] == TransferProgress("weights.bin", 12 * MiB + 7, 12 * MiB + 7, TransferPhase.UPLOAD)
    audit = client.audit_events(resource=version.reference, limit=1)
    assert [(e.action, e.actor) for e in audit] == [("version.ready", "tester")]  # the pusher, not the registry

    status = client.artifact(model)  # the latest READY version
    assert (status.reference, status.status, status.uploaded, status.sessions) == (
        version.reference,
        VersionStatus.READY,
        (),
        (),
    )
    pulled = client.pull(version.reference, tmp_path / "dst")
    assert pulled == tmp_path / "dst"
    assert {p.relative_to(pulled).as_posix(): p.read_bytes() for p in pulled.rglob("*") if p.is_file()} == files


def test_push_of_identical_content_returns_the_version_holding_it(
    client: modelyard.Client, model: str, tmp_path: Path
) -> None:
    source = write(tmp_path / "model.onnx", b"onnx bytes")
    first = client.push(model, source)
    assert first.artifact is not None and [f.path for f in first.artifact.files] == ["model.onnx"]
    assert client.push(model, source, description="ignored").reference == first.reference
    assert client.push(first.reference, source).reference == first.reference
    write(tmp_path / "model.onnx", b"other bytes")
    with pytest.raises(modelyard.FailedPreconditionError, match="READY with other files"):
        client.push(first.reference, source)
    second = client.push(model, source)
    assert second.version == first.version + 1


def test_push_of_an_older_versions_content_returns_that_version_and_registers_none(
    client: modelyard.Client, model: str, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a / "model.onnx", b"content A")
    write(b / "model.onnx", b"content B")
    v1 = client.push(model, a)
    v2 = client.push(model, b)
    assert v2.version == v1.version + 1
    again = client.push(model, a)  # A again, while v2 (with B) is the latest READY version
    assert (again.reference, again.status) == (v1.reference, VersionStatus.READY)
    assert [v.version for v in client.list_versions(model)] == [v2.version, v1.version]  # no v3, no PENDING one

    # The same digest under another path is other content: a new version.
    write(tmp_path / "c" / "renamed.onnx", b"content A")
    v3 = client.push(model, tmp_path / "c")
    assert v3.version == v2.version + 1
    project, _, name = model.partition("/")
    held = client.search_versions(f'model = "{name}" AND digest = "{digest(b"content A").upper()}"', project=project)
    assert sorted(v.version for v in held) == [v1.version, v3.version]


def test_a_first_push_registers_the_model_in_an_existing_project(
    client: modelyard.Client, model: str, tmp_path: Path
) -> None:
    project = model.split("/")[0]
    version = client.push(f"{project}/fresh", write(tmp_path / "m.bin", b"weights"), framework="onnx")
    assert (version.reference, version.status, version.framework) == (f"{project}/fresh:1", VersionStatus.READY, "onnx")
    assert client.get_model(f"{project}/fresh").kind is ModelKind.STANDARD
    with pytest.raises(modelyard.NotFoundError, match="project 'no-such-project' does not exist"):
        client.push("no-such-project/m", tmp_path / "m.bin")


def test_push_fills_a_pending_version_and_resumes_its_session(
    client: modelyard.Client,
    metadata: modelyard.Client,
    model: str,
    registry: registry_pb2_grpc.RegistryServiceStub,
    upload_requests: Callable[..., Iterator[registry_pb2.UploadFileRequest]],
    tmp_path: Path,
    content: Callable[[int], bytes],
) -> None:
    reference = metadata.create_version(model).reference
    data = content(12 * MiB)
    # A stream that ends early: the registry keeps the whole parts it got, for a resume.
    requests = upload_requests(reference, "weights.bin", data[: 11 * MiB], sha256=digest(data), size=len(data))
    with pytest.raises(grpc.RpcError):
        registry.UploadFile(requests, timeout=60)
    status = client.artifact(reference)
    assert [(s.path, s.offset) for s in status.sessions] == [("weights.bin", 2 * PART)]

    events: list[TransferProgress] = []
    version = client.push(reference, write(tmp_path / "weights.bin", data), progress=events.append)
    uploads = [e.done for e in events if e.phase is TransferPhase.UPLOAD]
    assert uploads[0] == 2 * PART
    assert (version.reference, version.status) == (reference, VersionStatus.READY)
    with pytest.raises(modelyard.InvalidArgumentError, match="only taken when pushing to PROJECT/MODEL"):
        client.push(reference, tmp_path / "weights.bin", description="x")


def test_upload_cut_mid_stream_resumes_from_the_durable_offset(
    client: modelyard.Client,
    connect: Callable[..., modelyard.Client],
    registry_service: ServiceProcess,
    model: str,
    tmp_path: Path,
    content: Callable[[int], bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offsets: list[int] = []
    send = _transfer.Transfers._send

    def recording_send(self: _transfer.Transfers, reference: str, file: Any, offset: int, report: Any) -> None:
        offsets.append(offset)
        send(self, reference, file, offset, report)

    monkeypatch.setattr(_transfer.Transfers, "_send", recording_send)
    data = content(21 * MiB)

    def until_a_part_is_durable() -> None:
        # The registry gets what was relayed; cutting before a part is durable would test nothing.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            versions = list(client.list_versions(model))
            if versions and any(s.offset > 0 for s in client.artifact(versions[0].reference).sessions):
                return
            time.sleep(0.05)
        raise AssertionError("no part of the upload became durable within 30 s")

    # Well past the first part: what gRPC still buffered when the cut came is lost, not stored.
    relay = CuttingRelay(registry_service.target, cut_after=16 * MiB, before_cut=until_a_part_is_durable)
    try:
        version = connect(relay.target).push(model, write(tmp_path / "w.bin", data))
    finally:
        relay.close()
    assert relay.connections >= 2
    # Attempts while the cut stream still held the file (ABORTED) may come before the last one.
    assert offsets[0] == 0 and len(offsets) >= 2
    assert 0 < offsets[-1] <= 16 * MiB and offsets[-1] % PART == 0
    assert version.artifact is not None and version.artifact.files[0].sha256 == digest(data)


def test_download_cut_mid_stream_resumes_and_verifies(
    client: modelyard.Client,
    connect: Callable[..., modelyard.Client],
    registry_service: ServiceProcess,
    model: str,
    tmp_path: Path,
    content: Callable[[int], bytes],
) -> None:
    data = content(9 * MiB + 1)
    version = client.push(model, write(tmp_path / "src" / "w.bin", data))
    relay = CuttingRelay(registry_service.target, cut_after=3 * MiB, cuts=2)
    try:
        connect(relay.target).pull(version.reference, tmp_path / "dst")
    finally:
        relay.close()
    assert relay.connections >= 3
    assert (tmp_path / "dst" / "w.bin").read_bytes() == data
    assert not (tmp_path / "dst" / "w.bin.part").exists()


def test_pull_continues_a_part_file_and_rejects_a_corrupt_one(
    client: modelyard.Client, model: str, tmp_path: Path, content: Callable[[int], bytes]
) -> None:
    data = content(3 * MiB)
    version = client.push(model, write(tmp_path / "src" / "w.bin", data))
    dst = tmp_path / "dst"
    write(dst / "w.bin.part", data[: 2 * MiB + 5])
    events: list[TransferProgress] = []
    client.pull(version.reference, dst, progress=events.append)
    assert (dst / "w.bin").read_bytes() == data
    downloads = [e.done for e in events if e.phase is TransferPhase.DOWNLOAD]
    assert downloads[0] == 0 and downloads[1] > 2 * MiB + 5

    events.clear()
    client.pull(version.reference, dst, progress=events.append)  # present and right: kept
    assert {e.phase for e in events} == {TransferPhase.HASH}

    (dst / "w.bin").unlink()
    write(dst / "w.bin.part", b"x" * MiB)
    with pytest.raises(modelyard.DataLossError, match=r"w\.bin: the .* bytes received hash to"):
        client.pull(version.reference, dst)
    assert not (dst / "w.bin.part").exists() and not (dst / "w.bin").exists()


def test_pending_versions_show_their_uploads_and_cannot_be_pulled_and_abort_fails_them(
    client: modelyard.Client,
    metadata: modelyard.Client,
    model: str,
    upload: Callable[..., registry_pb2.UploadFileResponse],
    tmp_path: Path,
) -> None:
    reference = metadata.create_version(model).reference
    upload(reference, "a.txt", b"aaa", sha256=digest(b"aaa"))
    status = client.artifact(reference)
    assert status.status is VersionStatus.PENDING_UPLOAD
    assert [(f.path, f.sha256) for f in status.uploaded] == [("a.txt", digest(b"aaa"))]
    with pytest.raises(modelyard.FailedPreconditionError, match="only READY versions can be pulled"):
        client.pull(reference, tmp_path / "dst")
    client.abort_upload(reference, "wrong data")
    assert metadata.get_version(reference).status is VersionStatus.FAILED
    failed = next(iter(client.audit_events(resource=reference, limit=1)))
    assert (failed.action, failed.actor, failed.reason) == ("version.failed", "tester", "wrong data")
    with pytest.raises(modelyard.FailedPreconditionError, match="is FAILED"):
        client.push(reference, write(tmp_path / "a.txt", b"aaa"))


def test_cli_push_artifact_pull(
    metadata_service: ServiceProcess, registry_service: ServiceProcess, model: str, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "model.skops", b"skops")
    write(tmp_path / "src" / "data" / "vocab.txt", b"a\nb\n")
    base = ["--target", metadata_service.target, "--registry", registry_service.target, "--json"]

    def run(*args: str) -> object:
        result = CliRunner().invoke(cli, [*base, *args])
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)

    pushed = run("push", model, str(tmp_path / "src"), "--framework", "sklearn", "--tag", "k=v")
    assert isinstance(pushed, dict) and pushed["status"] == "READY" and pushed["framework"] == "sklearn"
    stat = run("artifact", model)
    assert isinstance(stat, dict) and [f["path"] for f in stat["files"]] == ["data/vocab.txt", "model.skops"]
    pulled = run("pull", model, str(tmp_path / "dst"))
    assert isinstance(pulled, dict) and pulled["reference"] == pushed["reference"]
    assert (tmp_path / "dst" / "data" / "vocab.txt").read_bytes() == b"a\nb\n"

    result = CliRunner().invoke(cli, [*base[:4], "push", pushed["reference"], str(tmp_path / "src" / "model.skops")])
    assert result.exit_code == 1
    assert "error: FAILED_PRECONDITION" in result.stderr and "READY with other files" in result.stderr


def test_pull_never_writes_through_a_link_planted_in_the_destination(
    client: modelyard.Client, model: str, tmp_path: Path
) -> None:
    version = client.push(model, model_dir_of(tmp_path / "src", {"w.bin": b"model bytes", "conf/c.json": b"{}"}))
    outside = write(tmp_path / "outside" / "victim", b"precious")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "w.bin.part").symlink_to(outside)
    with pytest.raises(modelyard.FailedPreconditionError, match=r"w\.bin\.part is a symbolic link"):
        client.pull(version.reference, dst)
    assert outside.read_bytes() == b"precious" and not (dst / "w.bin").exists()

    (dst / "w.bin.part").unlink()
    (dst / "w.bin.part").symlink_to(tmp_path / "outside" / "made-through-the-link")  # dangling
    with pytest.raises(modelyard.FailedPreconditionError, match="symbolic link"):
        client.pull(version.reference, dst)
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["victim"]

    (dst / "w.bin.part").unlink()
    shutil.rmtree(dst / "conf")  # pulled before w.bin
    (dst / "conf").symlink_to(tmp_path / "outside", target_is_directory=True)  # a directory on the way
    with pytest.raises(modelyard.FailedPreconditionError, match=r"conf is a symbolic link or not a directory"):
        client.pull(version.reference, dst)
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["victim"]

    (dst / "conf").unlink()
    client.pull(version.reference, dst)
    assert (dst / "w.bin").read_bytes() == b"model bytes" and (dst / "conf" / "c.json").read_bytes() == b"{}"
    assert not (dst / "w.bin").is_symlink() and outside.read_bytes() == b"precious"


def test_the_artifact_cache_never_writes_through_a_link(client: modelyard.Client, model: str, tmp_path: Path) -> None:
    data = b"weights of the model"
    version = client.push(model, write(tmp_path / "src" / "w.bin", data))
    outside = write(tmp_path / "outside" / "victim", b"x" * len(data))  # the right size, other bytes
    cache = ArtifactCache(tmp_path / "cache")
    blob = cache.blob(digest(data))
    blob.parent.mkdir(parents=True)
    blob.symlink_to(outside)  # not trusted: downloaded again, the link replaced
    directory = cache.directory(client._transfers.download, version)
    assert (directory / "w.bin").read_bytes() == data and not blob.is_symlink()
    assert outside.read_bytes() == b"x" * len(data)

    other = ArtifactCache(tmp_path / "other-cache")
    lock = other.blob(digest(data)).with_name(digest(data) + ".lock")
    lock.parent.mkdir(parents=True)
    lock.symlink_to(tmp_path / "outside" / "lock-made-through-the-link")
    with pytest.raises(modelyard.FailedPreconditionError, match="symbolic link"):
        other.directory(client._transfers.download, version)
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["victim"]


def model_dir_of(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        write(root / name, data)
    return root
