"""Artifacts on local disk, by content: a file is downloaded once whatever version holds it.

Layout under the cache directory:

    blobs/<sha256[:2]>/<sha256>   each file's bytes, renamed into place only once verified
                                  (one process downloads a blob at a time: <sha256>.lock)
    models/<key>/<path>...        a version's directory, hard links to the blobs (copies where
                                  links are refused); <key> hashes the (path, sha256) list

A version whose directory exists is served from it without asking the registry anything;
otherwise only the blobs missing are downloaded (through the same verified, resumable download
as ``Client.pull``). Blobs are trusted once in place: they are not hashed again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from modelyard._files import directory_below, is_regular, local_path, open_below
from modelyard._transfer import Download
from modelyard._types import ArtifactFile, ModelVersion
from modelyard.errors import FailedPreconditionError

__all__ = ["CACHE_ENV", "ArtifactCache"]

CACHE_ENV = "MODELYARD_CACHE_DIR"


class ArtifactCache:
    """The local cache of artifacts; ``root`` defaults to $MODELYARD_CACHE_DIR, else
    ~/.cache/modelyard."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "modelyard")

    def __repr__(self) -> str:
        return f"ArtifactCache({str(self.root)!r})"

    def blob(self, sha256: str) -> Path:
        return self.root / _blob_path(sha256)

    def directory(self, download: Download, version: ModelVersion) -> Path:
        """The directory holding ``version``'s files, downloading those not cached yet through
        ``download`` (``Transfers.download``)."""
        if version.artifact is None or not version.artifact.files:
            raise FailedPreconditionError(f"{version.reference} has no artifact files to load")
        files = version.artifact.files
        target = self.root / "models" / _key(files)
        if _is_directory(target):
            return target
        for file in files:
            blob = self.blob(file.sha256)
            with _locked(self.root, file.sha256):  # two servers starting on one machine share the cache
                if not is_regular(blob, file.size):  # a link planted there is replaced, not followed
                    download(version.reference, file, self.root, _blob_path(file.sha256))
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        try:
            for file in files:
                _place(self.blob(file.sha256), local_path(staging, file.path))
            staging.rename(target)
        except OSError:
            if not _is_directory(target):  # not a concurrent load that got there first
                raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(staging)
        return target


def _key(files: tuple[ArtifactFile, ...]) -> str:
    listing = "\n".join(f"{f.path}\0{f.sha256}" for f in sorted(files, key=lambda f: f.path))
    return hashlib.sha256(listing.encode()).hexdigest()


def _blob_path(sha256: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256}"


def _is_directory(path: Path) -> bool:
    """Whether ``path`` is a directory itself, not a link to one (which is not trusted)."""
    return not path.is_symlink() and path.is_dir()


@contextlib.contextmanager
def _locked(root: Path, sha256: str) -> Iterator[None]:
    """Holds an exclusive lock on the blob's ``<sha256>.lock`` (released when the process ends,
    whatever happens); made and opened without following links, as every file of the cache."""
    *parents, name = f"{_blob_path(sha256)}.lock".split("/")
    with (
        directory_below(root, parents) as directory,
        open_below(directory, name, root.joinpath(*parents, name)) as lock,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _place(blob: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(blob, target, follow_symlinks=False)
    except OSError:  # a file system without hard links
        shutil.copyfile(blob, target, follow_symlinks=False)
