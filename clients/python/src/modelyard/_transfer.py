"""Artifact bytes to and from the registry: push a file or model directory, pull it back, stat.

Blocking, over the RegistryService stubs; ``Client.push``, ``pull``, ``artifact`` and
``abort_upload`` delegate here, and the artifact cache downloads through ``Transfers.download``.
Files on disk are ``_files``' business. Unary calls follow the channel's retry policy (reads on
UNAVAILABLE, within their deadline; writes never, CommitUpload included). Transfers resume: an
upload cut short
continues from the offset the registry holds durable (StatArtifact says where), a download from
the bytes already in its ``.part`` file. Every file is verified by SHA-256 before it counts: by
the registry on upload, here on download.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import mimetypes
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Unpack

import grpc

from modelyard import _convert as cv
from modelyard._connection import DEFAULT_TIMEOUT, Headers
from modelyard._files import (
    CHUNK_SIZE,
    LocalFile,
    Progress,
    WriteBehind,
    directory_below,
    hash_file,
    is_regular,
    list_files,
    local_path,
    open_below,
    read_digest,
    same_files,
)
from modelyard._types import (
    ArtifactFile,
    ArtifactStatus,
    Model,
    ModelVersion,
    TransferPhase,
    TransferProgress,
    VersionFields,
    VersionStatus,
)
from modelyard.errors import (
    AlreadyExistsError,
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    ModelyardError,
    NotFoundError,
)
from modelyard.v1 import registry_pb2, registry_pb2_grpc

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = [
    "FIRST_CONTACT_SECONDS",
    "PATIENCE_SECONDS",
    "Catalog",
    "Download",
    "Transfers",
    "backoff",
    "is_transient",
    "names_version",
    "resume_offset",
]

logger = logging.getLogger(__name__)

# How long a transfer keeps retrying without progress: a registry restarting (a new pod) plus the
# lease of a stream it lost lapsing (10 s by default), with room to spare.
PATIENCE_SECONDS = 120.0
# ... and before the registry has answered this client at all: a registry that is down or not
# where the client looks is said in seconds, not minutes (one restarting is back within them).
FIRST_CONTACT_SECONDS = 15.0
_FIRST_BACKOFF = 0.2
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a model name needs no quoting in a filter
_MAX_BACKOFF = 3.0
# Another attempt may succeed: the service or its store was down, the call ran out of time,
# another stream held the file's upload session (ABORTED), or the stream was cancelled.
_TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "CANCELLED"})
# How gRPC words a connection that went away under a stream, under INTERNAL or UNKNOWN.
_CUT_STREAM = ("stream removed", "rst_stream", "socket closed", "connection reset", "goaway")

# ``Transfers.download``: (reference, file, root, path under root).
Download = Callable[[str, ArtifactFile, Path, str], None]


class Catalog(Protocol):
    """What a push asks of the metadata service: a ``Client`` is one."""

    def get_version(self, reference: str, /) -> ModelVersion: ...
    def create_model(self, name: str, /) -> Model: ...
    def create_version(self, model: str, /, **fields: Unpack[VersionFields]) -> ModelVersion: ...
    def search_versions(self, filter: str, /, *, order_by: str, project: str) -> Iterable[ModelVersion]: ...


def names_version(target: str) -> bool:
    """Whether ``target`` names one version ("p/m:3", "p/m@champion") rather than a model ("p/m")."""
    _, _, model = target.partition("/")
    return ":" in model or "@" in model


def resume_offset(status: ArtifactStatus, file: LocalFile) -> int | None:
    """Where the upload of ``file`` stands: None when the same content is uploaded already, the
    durable offset of its session when one uploads the same content, else 0."""
    if any((f.path, f.sha256) == (file.path, file.sha256) for f in status.uploaded):
        return None
    for session in status.sessions:
        if (session.path, session.size, session.sha256) == (file.path, file.size, file.sha256):
            return session.offset
    return 0


def is_transient(error: ModelyardError) -> bool:
    """Whether another attempt of the same call may succeed (see ``_TRANSIENT_CODES``)."""
    if error.code in _TRANSIENT_CODES:
        return True
    return error.code in ("INTERNAL", "UNKNOWN") and any(cut in error.message.lower() for cut in _CUT_STREAM)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (from 1): 0.2, 0.4, 0.8, ... at most 3."""
    return float(min(_FIRST_BACKOFF * 2 ** (attempt - 1), _MAX_BACKOFF))


class _Patience:
    """Retries of one transfer after transient failures (``is_transient``), with ``backoff``,
    until ``seconds`` pass without progress; each retry is logged, naming what waits and why."""

    def __init__(self, what: str, seconds: float = PATIENCE_SECONDS) -> None:
        self._what, self._seconds = what, seconds
        self.progressed()

    def progressed(self) -> None:
        """Bytes moved since the last failure: the transfer gets its full patience again."""
        self._attempt, self._deadline = 1, time.monotonic() + self._seconds

    def retry(self, error: ModelyardError) -> bool:
        """Waits before the next attempt and says True; False when ``error`` is final or the
        patience is spent (the caller raises it)."""
        delay = backoff(self._attempt)
        if not is_transient(error) or time.monotonic() + delay > self._deadline:
            return False
        logger.warning(
            "%s: %s %s; retrying in %.1f s (attempt %d, giving up after %g s without progress)",
            self._what,
            error.code,
            error.message,
            delay,
            self._attempt + 1,
            self._seconds,
        )
        time.sleep(delay)
        self._attempt += 1
        return True


def _ignore(event: TransferProgress) -> None:
    """The progress callback when none is given."""


class _UploadStream:
    """The messages of one UploadFile call: the header, then the file from ``header.offset`` in
    1 MiB chunks, each read when gRPC asks for it (it sends one before asking for the next).

    gRPC pulls them on a thread of its own and would log an error raised there (a failed read,
    a progress callback that raised) and turn it into UNKNOWN: instead, such an error ends the
    stream and is kept in ``error`` for the caller to raise.
    """

    def __init__(self, header: registry_pb2.UploadFileHeader, source: Path, sent: Callable[[int], None]) -> None:
        self._header, self._source, self._sent = header, source, sent
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[registry_pb2.UploadFileRequest]:
        yield registry_pb2.UploadFileRequest(header=self._header)
        done, size = self._header.offset, self._header.size
        try:
            with self._source.open("rb") as stream:
                stream.seek(done)
                while done < size:
                    chunk = stream.read(min(CHUNK_SIZE, size - done))
                    if not chunk:
                        raise OSError(errno.EIO, "the file got shorter since it was hashed", str(self._source))
                    yield registry_pb2.UploadFileRequest(chunk=chunk)
                    done += len(chunk)
                    self._sent(done)
        except Exception as exc:
            self.error = exc


# --- the calls -----------------------------------------------------------------------------


class Transfers:
    """Push, pull and stat over the registry's stub, made by ``stub`` on the first call (its
    address may have to be asked of the metadata service); ``catalog`` registers and reads the
    versions; ``headers`` gives each call its request id and headers; ``error`` turns a failed
    call into the typed error naming the registry; ``timeout`` is the unary calls' deadline."""

    def __init__(
        self,
        stub: Callable[[], registry_pb2_grpc.RegistryServiceStub],
        catalog: Catalog,
        headers: Callable[[], tuple[str, Headers]],
        error: Callable[[grpc.RpcError, str], ModelyardError],
        timeout: float | None,
    ) -> None:
        self._stub, self._catalog, self._headers, self._error, self._timeout = stub, catalog, headers, error, timeout
        self._answered = False  # whether the registry has answered one call of this client

    def _patience(self, what: str) -> _Patience:
        return _Patience(what, PATIENCE_SECONDS if self._answered else FIRST_CONTACT_SECONDS)

    def stat(self, reference: str, patience: _Patience | None = None) -> ArtifactStatus:
        request = registry_pb2.StatArtifactRequest(reference=reference)
        patience = patience or self._patience(f"StatArtifact of {reference}")
        while True:  # a step of a transfer: it waits for the registry as the transfer does
            try:
                return cv.artifact_status_from_pb(self._call("StatArtifact", request))
            except ModelyardError as exc:
                if not patience.retry(exc):
                    raise

    def abort_upload(self, reference: str, reason: str = "") -> None:
        self._call("AbortUpload", registry_pb2.AbortUploadRequest(reference=reference, reason=reason))

    def push(
        self,
        target: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        **fields: Unpack[VersionFields],
    ) -> ModelVersion:
        if fields and names_version(target):  # before hashing what may be gigabytes
            raise InvalidArgumentError(
                f"version fields ({', '.join(fields)}) are only taken when pushing to PROJECT/MODEL, "
                f"which registers a new version; {target} exists already"
            )
        report = progress or _ignore
        files = [hash_file(source, name, report) for name, source in list_files(Path(path))]
        version = self._version_to_fill(target, files, fields)
        if version.status is VersionStatus.READY:
            return version
        reference = version.reference
        try:
            self.upload_files(reference, files, report)
        except BaseException as exc:  # Ctrl-C too: say where the bytes went
            exc.add_note(f"{reference} stays PENDING_UPLOAD: push the same files to {reference} to resume")
            raise
        return self._catalog.get_version(reference)

    def upload_files(
        self, reference: str, files: list[LocalFile], report: Progress, commit_seconds: float = 0.0
    ) -> None:
        """Uploads ``files`` (hashed) into the PENDING_UPLOAD version the registry calls
        ``reference``, resuming what it holds already, and commits them, allowing the commit
        ``commit_seconds`` more than a unary call (the registry may read the bytes then)."""
        status = self.stat(reference)
        for file in files:
            self._upload(reference, file, resume_offset(status, file), report)
        request = registry_pb2.CommitUploadRequest(reference=reference, paths=[f.path for f in files])
        self._call("CommitUpload", request, commit_seconds)

    def pull(self, reference: str, dest: str | os.PathLike[str], *, progress: Progress | None = None) -> Path:
        report = progress or _ignore
        status = self.stat(reference)
        if status.status is not VersionStatus.READY:
            raise FailedPreconditionError(f"{status.reference} is {status.status}; only READY versions can be pulled")
        root = Path(dest)
        root.mkdir(parents=True, exist_ok=True)
        wanted = [(file, local_path(root, file.path)) for file in status.files]
        missing = [(file, target) for file, target in wanted if not _holds(target, file, report)]
        for file, _ in missing:  # announce them all first, so that a listener knows the total
            report(TransferProgress(file.path, 0, file.size, TransferPhase.DOWNLOAD))
        for file, _ in missing:
            # The canonical reference: an alias moved meanwhile must not mix two versions' files.
            self.download(status.reference, file, root, file.path, report)
        return root

    # Pushing

    def _version_to_fill(self, target: str, files: list[LocalFile], fields: VersionFields) -> ModelVersion:
        """The PENDING_UPLOAD version to upload ``files`` into, or a READY one holding them already."""
        if names_version(target):
            version = self._catalog.get_version(target)
            if version.status is VersionStatus.PENDING_UPLOAD:
                return version
            if version.status is VersionStatus.READY:
                if same_files(files, _committed(version)):
                    return version
                state = "READY with other files"
            else:
                state = version.status.value
            raise FailedPreconditionError(
                f"{version.reference} is {state}; push to {version.model_name} to register a new version"
            )
        held = self._holding(target, files)
        if held is not None:
            return held
        try:
            return self._catalog.create_version(target, **fields)
        except NotFoundError:  # no such model (or something else missing: the retry says so)
            pass
        # The model's first push registers the model too (the project must exist).
        with contextlib.suppress(AlreadyExistsError):  # a concurrent first push made it
            self._catalog.create_model(target)
        return self._catalog.create_version(target, **fields)

    def _holding(self, target: str, files: list[LocalFile]) -> ModelVersion | None:
        """The READY version of model ``target`` holding exactly ``files`` (the same paths and
        digests), whichever version it is; the newest if several do. The server narrows the
        candidates to versions with a file of the first digest; the paths are compared here."""
        if not files:
            return None
        project, _, model = target.partition("/")
        if not _MODEL_NAME.fullmatch(model):  # malformed: create_version says what is wrong
            return None
        query = f'model = "{model}" AND status = "READY" AND digest = "{files[0].sha256}"'
        for version in self._catalog.search_versions(query, order_by="version DESC", project=project):
            if same_files(files, _committed(version)):
                return version
        return None

    def _upload(self, reference: str, file: LocalFile, offset: int | None, report: Progress) -> None:
        """Uploads ``file`` from ``offset`` (None: it is uploaded already). After a cut, a
        conflict or an outage (a registry restarting included), waits and resumes where
        StatArtifact says the upload stands, as long as the registry's durable offset moves."""
        patience, resynced, durable = self._patience(f"upload of {file.path!r} to {reference}"), False, offset or 0
        while offset is not None:
            try:
                self._send(reference, file, offset, report)
                break
            except FailedPreconditionError as exc:
                # The session moved on (or went away) since it was read: read it again, once.
                if resynced or "offset" not in exc.message:
                    raise
                resynced = True
            except ModelyardError as exc:
                if not patience.retry(exc):
                    raise
            offset = resume_offset(self.stat(reference, patience), file)
            if offset is None or offset > durable:
                durable = offset or file.size
                patience.progressed()
        report(TransferProgress(file.path, file.size, file.size, TransferPhase.UPLOAD))

    def _send(self, reference: str, file: LocalFile, offset: int, report: Progress) -> None:
        """One UploadFile stream, without deadline: a large file takes as long as it takes."""
        content_type = mimetypes.guess_type(file.path)[0] or "application/octet-stream"
        header = registry_pb2.UploadFileHeader(
            reference=reference,
            path=file.path,
            size=file.size,
            sha256=file.sha256,
            content_type=content_type,
            offset=offset,
        )
        report(TransferProgress(file.path, offset, file.size, TransferPhase.UPLOAD))
        stream = _UploadStream(
            header, file.source, lambda done: report(TransferProgress(file.path, done, file.size, TransferPhase.UPLOAD))
        )
        request_id, metadata = self._headers()
        try:
            # A dedup answer comes before any chunk is read; gRPC then stops pulling the stream.
            self._stub().UploadFile(iter(stream), metadata=metadata)
            self._answered = True
        except grpc.RpcError as exc:
            if stream.error is not None:
                raise stream.error from exc
            raise self._error(exc, request_id) from exc

    # Pulling

    def download(self, reference: str, file: ArtifactFile, root: Path, path: str, report: Progress = _ignore) -> None:
        """Writes ``file`` to ``root/path`` through ``<name>.part``, renamed into place once its
        size and SHA-256 are verified. A ``.part`` left by an earlier pull is kept and continued.
        Nothing under ``root`` is written through a symbolic link (``directory_below``). No
        fsync (it would cost ~1.2 s per GiB, as much as the transfer): after a machine crash a
        renamed file may lack its last bytes, which the next pull finds by hashing it."""
        *parents, name = path.split("/")
        part = name + ".part"
        patience = self._patience(f"download of {file.path!r} from {reference}")
        with directory_below(root, parents) as directory:
            with open_below(directory, part, root / f"{path}.part") as out:
                if os.fstat(out.fileno()).st_size > file.size:
                    out.truncate(0)
                digest, done = read_digest(out, file.path, report, file.size)
                with WriteBehind(out, digest) as sink:
                    while done < file.size:
                        started = done
                        try:
                            for chunk in self._chunks(reference, file, done):
                                sink.put(chunk)
                                done += len(chunk)
                                report(TransferProgress(file.path, done, file.size, TransferPhase.DOWNLOAD))
                            break
                        except ModelyardError as exc:
                            if done > started:
                                patience.progressed()
                            if not patience.retry(exc):
                                raise
            if done != file.size or digest.hexdigest() != file.sha256:
                os.unlink(part, dir_fd=directory)
                raise DataLossError(
                    f"{file.path}: the {done} bytes received hash to {digest.hexdigest()}, not {file.sha256} "
                    f"({file.size} bytes) as the registry says; the partial file was deleted, pull again"
                )
            os.replace(part, name, src_dir_fd=directory, dst_dir_fd=directory)

    def _chunks(self, reference: str, file: ArtifactFile, offset: int) -> Iterator[bytes]:
        """The bytes of ``file`` from ``offset`` on, from one DownloadFile stream (no deadline)."""
        request = registry_pb2.DownloadFileRequest(reference=reference, path=file.path, offset=offset)
        request_id, metadata = self._headers()
        responses = self._stub().DownloadFile(request, metadata=metadata)
        try:
            for response in responses:
                self._answered = True
                if response.WhichOneof("kind") == "chunk":
                    yield response.chunk
                    continue
                served = cv.file_from_pb(response.header.file)
                if served.sha256 != file.sha256:  # READY artifacts never change: a registry bug
                    raise DataLossError(f"{file.path}: the registry serves {served.sha256}, not {file.sha256}")
        except grpc.RpcError as exc:
            raise self._error(exc, request_id) from exc
        finally:
            responses.cancel()

    # Unary calls

    def _call(self, method: str, request: Message, extra_seconds: float = 0.0) -> Any:
        """``extra_seconds`` beyond the unary deadline; a client without a deadline then gets
        DEFAULT_TIMEOUT plus them, or the server would stop the call at its own ceiling (60 s)."""
        request_id, metadata = self._headers()
        timeout = self._timeout
        if extra_seconds:
            timeout = (DEFAULT_TIMEOUT if timeout is None else timeout) + extra_seconds
        try:
            answer = getattr(self._stub(), method)(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise self._error(exc, request_id) from exc
        self._answered = True
        return answer


def _committed(version: ModelVersion) -> tuple[ArtifactFile, ...]:
    return version.artifact.files if version.artifact is not None else ()


def _holds(target: Path, file: ArtifactFile, report: Progress) -> bool:
    """Whether ``target`` is a regular file (not a link) with the content of ``file`` already
    (then it is not downloaded again)."""
    if not is_regular(target, file.size):
        return False
    return hash_file(target, file.path, report).sha256 == file.sha256
