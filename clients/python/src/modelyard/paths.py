"""What a file's path inside an artifact may be: the one set of rules that ``push`` checks before
sending, the registry on upload, and ``pull`` on what it is told, so that every stored artifact
can be written out on a POSIX file system.

A path is relative, its parts joined by '/', each part a name the file system takes: not empty,
'.' or '..', no backslash or control character, at most ``MAX_NAME_BYTES`` of UTF-8. In one
artifact no file may be a directory of another ('a' and 'a/b').
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "nested_pair", "path_problem"]

MAX_PATH_BYTES = 1024  # of UTF-8, the whole path (Linux allows 4096 for dest and path together)
MAX_NAME_BYTES = 250  # of UTF-8, one part: NAME_MAX (255) less ".part", the name pull writes first


def path_problem(path: str) -> str | None:
    """What is wrong with ``path`` as a file's path in an artifact, or None; the text follows the
    path in a message ("'a//b' has an empty part ...")."""
    if not path:
        return "is empty: give the file's relative path, e.g. 'model.onnx'"
    try:
        size = len(path.encode())
    except UnicodeEncodeError:
        return "is not valid UTF-8 (a file name in another encoding): rename the file"
    if size > MAX_PATH_BYTES:
        return f"is {size} bytes long in UTF-8; at most {MAX_PATH_BYTES} allowed"
    if not path.isprintable() or "\\" in path:
        return "has control characters or backslashes; use '/' between parts"
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        return "must be relative, without empty, '.' or '..' parts"
    if longest := max((p for p in parts if len(p.encode()) > MAX_NAME_BYTES), key=len, default=""):
        return (
            f"has a part of {len(longest.encode())} bytes in UTF-8 ({longest[:20]!r}...); at most "
            f"{MAX_NAME_BYTES} allowed (a file system's 255, less the '.part' suffix of a download)"
        )
    return None


def nested_pair(paths: Iterable[str]) -> tuple[str, str] | None:
    """Two of ``paths`` that cannot both be files, the first being a directory of the second
    ('a', 'a/b'); None when there are none."""
    files = set(paths)
    for path in sorted(files):
        parts = path.split("/")
        for end in range(1, len(parts)):
            if (directory := "/".join(parts[:end])) in files:
                return directory, path
    return None
