"""Artifact files on local disk: what a push sends (listed and hashed), and how a pull or the
artifact cache writes (below a directory, never through a symbolic link, hashed as written).

Files are read and written 1 MiB at a time, so memory stays flat whatever their size.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, Self

from modelyard._types import TransferPhase, TransferProgress
from modelyard.errors import FailedPreconditionError, InternalError, InvalidArgumentError
from modelyard.paths import path_problem

__all__ = [
    "CHUNK_SIZE",
    "LocalFile",
    "Progress",
    "WriteBehind",
    "directory_below",
    "hash_file",
    "is_regular",
    "list_files",
    "local_path",
    "open_below",
    "read_digest",
    "same_files",
]

CHUNK_SIZE = 1024 * 1024
# Pulled bytes go to the file in writes of this size (as boto3's downloads do), not a 1 MiB
# chunk at once: the kernel backs a large write with large page-cache folios, whose allocation
# cost a pull of 1 GiB 4-5 s of system time here, against 0.8 s in 256 KiB writes
# (docs/benchmarks.md, artifacts).
WRITE_SIZE = 256 * 1024

Progress = Callable[[TransferProgress], None]


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Digested(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file to push: ``path`` is its name in the artifact, ``source`` where it is on disk."""

    path: str
    source: Path
    size: int
    sha256: str


def list_files(root: Path) -> list[tuple[str, Path]]:
    """What a push of ``root`` sends, as (artifact path, location) sorted by path: a file under
    its own name, or every regular file under a directory at its relative POSIX path.

    Symlinks to files are followed (a Hugging Face snapshot is made of them); symlinks to
    directories are not, so that a cycle cannot make the walk endless.
    """
    if root.is_file():
        found = [(root.name, root)]
    elif not root.is_dir():
        raise FileNotFoundError(errno.ENOENT, "no such file or directory", str(root))
    else:
        found = [
            (location.relative_to(root).as_posix(), location)
            for directory, _, names in os.walk(root)
            for location in (Path(directory, name) for name in names)
            if location.is_file()
        ]
    if not found:
        raise InvalidArgumentError(f"path: {root} holds no file to push")
    for name, location in found:  # refused by the registry anyway: say so before hashing and sending
        if problem := path_problem(name):
            raise InvalidArgumentError(f"path: {location} would be stored as {name!r}, which {problem}")
    return sorted(found)


def hash_file(source: Path, path: str, report: Progress) -> LocalFile:
    """Reads ``source`` once, 1 MiB at a time, for its size and SHA-256."""
    with source.open("rb") as stream:
        digest, size = read_digest(stream, path, report, os.fstat(stream.fileno()).st_size)
    return LocalFile(path=path, source=source, size=size, sha256=digest.hexdigest())


class WriteBehind:
    """Writes chunks to ``out`` (in pieces of WRITE_SIZE) and hashes them on a thread of its
    own, so that receiving the next chunk overlaps with both (they release the GIL); at most
    ``depth`` chunks wait. Leaving the ``with`` waits for the writes, and raises the first one
    that failed."""

    def __init__(self, out: BinaryIO, digest: Hasher, depth: int = 8) -> None:
        self._out, self._digest = out, digest
        self._queue: queue.Queue[bytes | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="modelyard-pull-writer", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def put(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def _run(self) -> None:
        # After a failure, keeps taking chunks (dropping them) so that ``put`` never blocks.
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    view = memoryview(chunk)
                    for start in range(0, len(view), WRITE_SIZE):
                        self._out.write(view[start : start + WRITE_SIZE])
                    self._digest.update(chunk)
                except BaseException as exc:  # surfaced by put() or on leaving the with
                    self._error = exc


def read_digest(stream: BinaryIO, path: str, report: Progress, total: int) -> tuple[Hasher, int]:
    """The SHA-256 state after reading ``stream`` to its end, and how many bytes that was;
    progress is reported against ``total``."""
    digest, done = hashlib.sha256(), 0
    report(TransferProgress(path, 0, total, TransferPhase.HASH))
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        done += len(chunk)
        report(TransferProgress(path, done, max(total, done), TransferPhase.HASH))
    return digest, done


@contextlib.contextmanager
def directory_below(root: Path, names: Iterable[str]) -> Iterator[int]:
    """A descriptor of directory ``root/<names...>``, made where missing. ``root`` is taken as it
    is (the caller chose it), but no name below it is followed if it is a symbolic link: a link
    planted in a destination or a cache cannot send what is written there elsewhere."""
    root.mkdir(parents=True, exist_ok=True)
    where, fd = root, os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in names:
            where = where / name
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=fd)
            try:
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:  # ELOOP: a link; ENOTDIR: a file
                raise FailedPreconditionError(
                    f"{where} is a symbolic link or not a directory: nothing is written through it; remove it"
                ) from exc
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def open_below(directory: int, name: str, shown: Path) -> BinaryIO:
    """File ``name`` in ``directory`` (``shown`` in messages) for reading and writing, never
    through a link: the regular file there, or a new one made exclusively. Anything else there
    (a symbolic link, a FIFO, a device) is refused and left untouched."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        while True:
            try:
                fd = os.open(name, flags, dir_fd=directory)
                break
            except FileNotFoundError:
                pass
            try:
                fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=directory)
                break
            except FileExistsError:
                continue  # another process (a replica sharing the cache) made it since: open that one
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise FailedPreconditionError(f"{shown} is a symbolic link: nothing is written through it; remove it") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FailedPreconditionError(f"{shown} is not a regular file: nothing is written to it; remove it")
    return os.fdopen(fd, "r+b")


def same_files(local: Iterable[_Digested], remote: Iterable[_Digested]) -> bool:
    """Whether both name exactly the same paths with the same content."""
    return {(f.path, f.sha256) for f in local} == {(f.path, f.sha256) for f in remote}


def local_path(root: Path, path: str) -> Path:
    """Where file ``path`` of an artifact goes under ``root``; refuses a path that would land
    outside it (the registry checks paths on upload: this guards against a registry that does not)."""
    if problem := path_problem(path):
        raise InternalError(f"path: the registry named a file {path!r}, which is not a relative path it may: {problem}")
    return root.joinpath(*path.split("/"))


def is_regular(path: Path, size: int) -> bool:
    """Whether ``path`` is a regular file of ``size`` bytes itself, not a link to one."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == size
