"""The pure parts of push and pull: which files a push sends, when content counts as the same,
where an upload resumes, what is worth another attempt, and how progress adds up. No server."""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import math
import os
import threading
from pathlib import Path

import pytest

import modelyard
from modelyard import ArtifactFile, ArtifactStatus, TransferPhase, TransferProgress, UploadSession, VersionStatus
from modelyard._files import (
    CHUNK_SIZE,
    WRITE_SIZE,
    LocalFile,
    WriteBehind,
    hash_file,
    list_files,
    local_path,
    open_below,
    same_files,
)
from modelyard._transfer import _Patience, _UploadStream, backoff, is_transient, names_version, resume_offset
from modelyard.cli._progress import Tally
from modelyard.cli._render import human_size
from modelyard.errors import ConflictError, FailedPreconditionError, InternalError, UnavailableError
from modelyard.v1 import registry_pb2


def _write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _local(path: str, data: bytes) -> LocalFile:
    return LocalFile(path, Path(path), len(data), hashlib.sha256(data).hexdigest())


# --- what a push sends --------------------------------------------------------------------


def test_a_file_is_pushed_under_its_own_name(tmp_path: Path) -> None:
    source = _write(tmp_path / "dir" / "model.onnx")
    assert list_files(source) == [("model.onnx", source)]


def test_a_directory_is_pushed_as_relative_posix_paths_sorted(tmp_path: Path) -> None:
    for name in ("b.txt", "a/z.bin", "a/b/c.json", "A.md", "a.txt"):
        _write(tmp_path / "model" / name)
    listed = list_files(tmp_path / "model")
    assert [path for path, _ in listed] == ["A.md", "a.txt", "a/b/c.json", "a/z.bin", "b.txt"]
    assert all(source == tmp_path / "model" / path for path, source in listed)


def test_symlinked_files_are_followed_and_symlinked_directories_are_not(tmp_path: Path) -> None:
    blob = _write(tmp_path / "blobs" / "abc123", b"weights")
    _write(tmp_path / "elsewhere" / "other.bin")
    root = tmp_path / "snapshot"
    root.mkdir()
    (root / "model.safetensors").symlink_to(blob)
    (root / "loop").symlink_to(root)
    (root / "more").symlink_to(tmp_path / "elsewhere")
    (root / "dangling").symlink_to(tmp_path / "missing")
    assert list_files(root) == [("model.safetensors", root / "model.safetensors")]


def test_an_empty_directory_or_a_missing_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(modelyard.InvalidArgumentError, match="holds no file to push"):
        list_files(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        list_files(tmp_path / "missing")


def test_hashing_reads_in_chunks_and_reports_each(tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK_SIZE * 5 // 2 // 256)
    events: list[TransferProgress] = []
    local = hash_file(_write(tmp_path / "w.bin", data), "w.bin", events.append)
    assert (local.size, local.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert len(events) == 1 + math.ceil(len(data) / CHUNK_SIZE)
    assert events[0] == TransferProgress("w.bin", 0, len(data), TransferPhase.HASH)
    assert [e.done for e in events][1:] == [CHUNK_SIZE, 2 * CHUNK_SIZE, len(data)]


def test_an_empty_file_is_hashed_and_reported_once(tmp_path: Path) -> None:
    events: list[TransferProgress] = []
    local = hash_file(_write(tmp_path / "empty", b""), "empty", events.append)
    assert (local.size, local.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert events == [TransferProgress("empty", 0, 0, TransferPhase.HASH)]


# --- identical content, targets, resume points ---------------------------------------------


def test_content_is_the_same_only_with_the_same_paths_and_digests() -> None:
    local = [_local("a.bin", b"a"), _local("conf/b.json", b"b")]
    remote = [ArtifactFile(f.path, f.size, f.sha256, storage_key="k") for f in reversed(local)]
    assert same_files(local, remote)
    assert not same_files(local, remote[:1])
    assert not same_files(local, [*remote, ArtifactFile("c", 1, "0" * 64)])
    assert not same_files(local, [ArtifactFile("a.bin", 1, local[1].sha256), remote[0]])
    assert not same_files(local, [ArtifactFile("A.bin", 1, local[0].sha256), remote[0]])


@pytest.mark.parametrize(
    ("target", "names_one"),
    [("fraud/scorer", False), ("fraud/scorer:3", True), ("fraud/scorer@champion", True), ("fraud/my.model", False)],
)
def test_a_target_names_a_version_or_a_model(target: str, names_one: bool) -> None:
    assert names_version(target) is names_one


def _status(uploaded: tuple[ArtifactFile, ...] = (), sessions: tuple[UploadSession, ...] = ()) -> ArtifactStatus:
    return ArtifactStatus("p/m:1", VersionStatus.PENDING_UPLOAD, uploaded=uploaded, sessions=sessions)


def test_an_upload_resumes_only_a_session_of_the_same_content() -> None:
    file = _local("w.bin", b"weights")
    same = UploadSession("p/m:1", "w.bin", file.size, file.sha256, 5)
    assert resume_offset(_status(), file) == 0
    assert resume_offset(_status(sessions=(same,)), file) == 5
    other = UploadSession("p/m:1", "w.bin", file.size, "0" * 64, 5)
    assert resume_offset(_status(sessions=(other,)), file) == 0
    elsewhere = UploadSession("p/m:1", "v.bin", file.size, file.sha256, 5)
    assert resume_offset(_status(sessions=(elsewhere,)), file) == 0


def test_a_file_uploaded_with_the_same_content_is_not_sent_again() -> None:
    file = _local("w.bin", b"weights")
    assert resume_offset(_status(uploaded=(ArtifactFile("w.bin", file.size, file.sha256),)), file) is None
    assert resume_offset(_status(uploaded=(ArtifactFile("w.bin", 3, "0" * 64),)), file) == 0


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (UnavailableError("Stream removed (Socket closed)"), True),
        (modelyard.DeadlineExceededError("deadline exceeded"), True),
        (ConflictError("'w.bin' is being uploaded by another stream right now"), True),
        (InternalError("Locally cancelled by application!", code="CANCELLED"), True),
        (InternalError("Received RST_STREAM with error code 2", code="INTERNAL"), True),
        (InternalError("Stream removed", code="UNKNOWN"), True),
        (InternalError("internal error; request id 1234", code="INTERNAL"), False),
        (FailedPreconditionError("header.offset: 3 is not where to resume"), False),
        (modelyard.DataLossError("sha256: the bytes hash to ..."), False),
        (modelyard.NotFoundError("no such version"), False),
    ],
)
def test_only_outages_cuts_and_conflicts_are_worth_another_attempt(
    error: modelyard.ModelyardError, transient: bool
) -> None:
    assert is_transient(error) is transient


def test_backoff_doubles_from_a_fifth_of_a_second_up_to_three() -> None:
    assert [backoff(n) for n in range(1, 9)] == [0.2, 0.4, 0.8, 1.6, 3.0, 3.0, 3.0, 3.0]


def test_patience_lasts_until_its_seconds_pass_without_progress_and_logs_each_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = UnavailableError("registry restarting", code="UNAVAILABLE")
    patience = _Patience("upload of 'w.bin' to p/m:1", seconds=0.5)
    assert patience.retry(FailedPreconditionError("not READY")) is False  # final: no wait
    caplog.set_level(logging.WARNING, logger="modelyard")
    assert patience.retry(outage) is True  # waited 0.2 s
    assert patience.retry(outage) is False  # another 0.4 s would pass the 0.5 s
    patience.progressed()  # bytes moved: full patience again
    assert patience.retry(outage) is True
    logged = "upload of 'w.bin' to p/m:1: UNAVAILABLE registry restarting; retrying in 0.2 s (attempt 2, "
    assert [r.getMessage() for r in caplog.records] == [logged + "giving up after 0.5 s without progress)"] * 2


# --- streams and destinations --------------------------------------------------------------


def _upload_stream(source: Path, size: int, offset: int, sent: list[int]) -> _UploadStream:
    header = registry_pb2.UploadFileHeader(reference="p/m:1", path="w.bin", size=size, offset=offset)
    return _UploadStream(header, source, sent.append)


def test_an_upload_stream_is_the_header_then_the_file_from_the_offset(tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK_SIZE * 3 // 256) + b"tail"
    sent: list[int] = []
    stream = _upload_stream(_write(tmp_path / "w.bin", data), len(data), CHUNK_SIZE + 10, sent)
    messages = list(stream)
    assert messages[0].WhichOneof("kind") == "header"
    chunks = [m.chunk for m in messages[1:]]
    assert b"".join(chunks) == data[CHUNK_SIZE + 10 :]
    assert max(len(c) for c in chunks) == CHUNK_SIZE
    assert sent == [2 * CHUNK_SIZE + 10, len(data)] and stream.error is None


def test_an_upload_stream_of_a_file_that_shrank_ends_and_keeps_the_error(tmp_path: Path) -> None:
    source = _write(tmp_path / "w.bin", b"12345")
    stream = _upload_stream(source, 10, 0, [])
    assert [m.chunk for m in list(stream)[1:]] == [b"12345"]
    assert isinstance(stream.error, OSError) and "shorter" in str(stream.error)


def test_an_upload_stream_keeps_an_error_of_the_progress_callback(tmp_path: Path) -> None:
    def broken(done: int) -> None:
        raise RuntimeError("bar exploded")

    header = registry_pb2.UploadFileHeader(reference="p/m:1", path="w.bin", size=5)
    stream = _UploadStream(header, _write(tmp_path / "w.bin", b"12345"), broken)
    assert len(list(stream)) == 2
    assert isinstance(stream.error, RuntimeError)


def test_a_pull_writes_and_hashes_every_chunk_in_order(tmp_path: Path) -> None:
    chunks = [bytes([i]) * (1000 + i) for i in range(50)]
    # and chunks written in several pieces (WRITE_SIZE), one exactly one piece
    chunks += [os.urandom(CHUNK_SIZE + 3), os.urandom(WRITE_SIZE), os.urandom(2 * WRITE_SIZE - 1)]
    digest = hashlib.sha256()
    with (tmp_path / "out").open("wb") as out, WriteBehind(out, digest, depth=2) as sink:
        for chunk in chunks:
            sink.put(chunk)
    assert (tmp_path / "out").read_bytes() == b"".join(chunks)
    assert digest.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()


def test_a_failed_write_of_a_pull_surfaces_and_never_blocks_the_receiver(tmp_path: Path) -> None:
    class FullDisk(io.BytesIO):
        def write(self, data: object, /) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    sink = WriteBehind(FullDisk(), hashlib.sha256(), depth=1)
    with pytest.raises(OSError, match="No space left"), sink:
        for _ in range(1000):  # the failure shows on a later put, at the latest on leaving
            sink.put(b"x")


def test_pulled_files_land_inside_the_destination(tmp_path: Path) -> None:
    assert local_path(tmp_path, "conf/model.json") == tmp_path / "conf" / "model.json"
    for bad in ("", "../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a\\b"):
        with pytest.raises(InternalError, match="not a relative path"):
            local_path(tmp_path, bad)


# --- progress ------------------------------------------------------------------------------


def test_progress_counts_moved_bytes_over_all_files_announced_by_hashing() -> None:
    tally = Tally()
    tally.add(TransferProgress("a", 10, 10, TransferPhase.HASH))
    tally.add(TransferProgress("b", 4, 30, TransferPhase.HASH))
    assert (tally.done, tally.total) == (0, 40)
    tally.add(TransferProgress("a", 10, 10, TransferPhase.UPLOAD))
    tally.add(TransferProgress("b", 20, 30, TransferPhase.UPLOAD))
    assert (tally.done, tally.total) == (30, 40)
    tally.add(TransferProgress("b", 15, 30, TransferPhase.UPLOAD))  # resumed after a cut
    assert (tally.done, tally.total) == (25, 40)
    tally.add(TransferProgress("b", 30, 30, TransferPhase.UPLOAD))
    assert (tally.done, tally.total) == (40, 40)


def test_rehashing_a_partial_download_moves_nothing() -> None:
    tally = Tally()
    tally.add(TransferProgress("w", 0, 100, TransferPhase.DOWNLOAD))
    tally.add(TransferProgress("w", 60, 100, TransferPhase.HASH))
    assert (tally.done, tally.total) == (0, 100)
    tally.add(TransferProgress("w", 70, 100, TransferPhase.DOWNLOAD))
    assert (tally.done, tally.total) == (70, 100)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (5 * 2**20, "5.0 MiB"),
        (3 * 2**30, "3.0 GiB"),
        (2**41, "2.0 TiB"),
    ],
)
def test_sizes_print_in_binary_units(size: int, text: str) -> None:
    assert human_size(size) == text


def test_processes_sharing_a_cache_open_the_same_new_file_at_once(tmp_path: Path) -> None:
    """Replicas started together take the same blob's lock file: one makes it, the others open
    it; none may take the race for a planted link (as two replicas of a deployment once did)."""
    directory = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    threads = 8
    failures: list[BaseException] = []
    try:
        for round_ in range(60):
            start = threading.Barrier(threads)

            def take(name: str = f"blob-{round_}.lock", start: threading.Barrier = start) -> None:
                start.wait()
                try:
                    open_below(directory, name, tmp_path / name).close()
                except BaseException as exc:  # collected and asserted below
                    failures.append(exc)

            workers = [threading.Thread(target=take) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
    finally:
        os.close(directory)
    assert failures == []
    assert len(list(tmp_path.iterdir())) == 60


def test_a_planted_link_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_bytes(b"")
    (tmp_path / "blob.lock").symlink_to(tmp_path / "elsewhere")
    directory = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FailedPreconditionError, match=r"blob\.lock is a symbolic link"):
            open_below(directory, "blob.lock", tmp_path / "blob.lock")
    finally:
        os.close(directory)
