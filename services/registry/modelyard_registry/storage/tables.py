"""Reads a dataset version's schema and row count from its stored bytes, never trusting the
client: Parquet from its footer (a few ranged reads, whatever the file's size), CSV by streaming
the whole file through Python's csv module (a quoted newline stays inside its row), in windows
of _READ_SIZE with the next one fetched ahead. Both run in a worker thread, reading the blob
through the event loop's BlobStore."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow
import pyarrow.parquet

from modelyard_common.errors import InvalidArgumentError
from modelyard_common.limits import MAX_COLUMN_NAME, MAX_COLUMNS
from modelyard_registry.domain.entities import StoredFile, Table
from modelyard_registry.domain.ports import BlobStore

__all__ = ["BlobTables"]

_READ_SIZE = 4 * 1024 * 1024
_INT, _DOUBLE, _STRING = "int64", "double", "string"


class _BlobFile(io.RawIOBase):
    """A stored blob as a seekable binary file, read by ranges from a worker thread.

    Read from start to end (``window`` > 0), it fetches ``window`` bytes per request, the next
    window while the current one is consumed: the reader's small reads (a text wrapper asks for
    8 KiB at a time) cost no S3 request each, and memory holds two windows whatever the size."""

    def __init__(self, blobs: BlobStore, file: StoredFile, loop: asyncio.AbstractEventLoop, window: int = 0) -> None:
        self._blobs, self._file, self._loop, self._window = blobs, file, loop, window
        self._position = 0
        self._held, self._held_at = b"", 0
        self._next: concurrent.futures.Future[bytes] | None = None  # the window after the one held
        self._next_at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._file.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        length = min(len(buffer), self._file.size - self._position)
        if length <= 0:
            return 0
        data = self._windowed(length) if self._window else self._fetch(self._position, length).result()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _fetch(self, start: int, length: int) -> concurrent.futures.Future[bytes]:
        read = self._blobs.read(self._file.storage_key, start, min(length, self._file.size - start))
        return asyncio.run_coroutine_threadsafe(read, self._loop)

    def _windowed(self, length: int) -> bytes:
        """Up to ``length`` bytes from the position, out of the window holding it."""
        offset = self._position - self._held_at
        if not 0 <= offset < len(self._held):
            ahead = self._next if self._next is not None and self._next_at == self._position else None
            self._held = (ahead or self._fetch(self._position, self._window)).result()
            self._held_at, offset = self._position, 0
            self._next_at = self._position + len(self._held)
            self._next = self._fetch(self._next_at, self._window) if self._next_at < self._file.size else None
        return self._held[offset : offset + length]


def _invalid(file: StoredFile, table_format: str, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError("", f"{file.path!r} is not a valid {table_format} file: {problem}")


def _checked(file: StoredFile, table_format: str, columns: list[tuple[str, str]], rows: int) -> Table:
    if len(columns) > MAX_COLUMNS:
        raise _invalid(file, table_format, f"it has {len(columns)} columns; at most {MAX_COLUMNS} are taken")
    for name, _ in columns:
        if len(name) > MAX_COLUMN_NAME:
            problem = f"column {name[:40]!r}... is named with {len(name)} characters; at most {MAX_COLUMN_NAME}"
            raise _invalid(file, table_format, problem)
    return Table(tuple(columns), rows)


def _parquet(stream: BinaryIO, file: StoredFile) -> Table:
    try:
        parquet = pyarrow.parquet.ParquetFile(stream)
        schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    except (pyarrow.ArrowException, OSError) as exc:
        raise _invalid(file, "Parquet", str(exc)) from None
    return _checked(file, "Parquet", [(field.name, str(field.type)) for field in schema], rows)


def _narrowed(current: str, value: str) -> str:
    """The type of a column so far, given one more (non-empty) value."""
    if current == _INT:
        try:
            int(value)
            return _INT
        except ValueError:
            current = _DOUBLE
    if current == _DOUBLE:
        try:
            float(value)
            return _DOUBLE
        except ValueError:
            return _STRING
    return _STRING


def _csv(stream: BinaryIO, file: StoredFile) -> Table:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    records: Iterator[list[str]] = csv.reader(text, strict=True)
    try:
        header = next(records, None)
        if not header:
            raise _invalid(file, "CSV", "it has no header row (the first line names the columns)")
        types: list[str | None] = [None] * len(header)
        rows = 0
        for record in records:
            if not record:  # a blank line
                continue
            rows += 1
            if len(record) != len(header):
                line = records.line_num  # type: ignore[attr-defined]
                problem = f"line {line} has {len(record)} fields; the header has {len(header)}"
                raise _invalid(file, "CSV", problem)
            for i, value in enumerate(record):
                if value:
                    types[i] = _narrowed(types[i] or _INT, value)
    except UnicodeDecodeError as exc:
        raise _invalid(file, "CSV", f"byte {exc.start} of a chunk is not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise _invalid(file, "CSV", f"line {records.line_num}: {exc}") from None  # type: ignore[attr-defined]
    columns = [(name, kind or _STRING) for name, kind in zip(header, types, strict=True)]
    return _checked(file, "CSV", columns, rows)


class BlobTables:
    """Implements TableReader over the registry's BlobStore."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    async def read(self, table_format: str, file: StoredFile) -> Table:
        reader = {"PARQUET": _parquet, "CSV": _csv}[table_format]
        loop = asyncio.get_running_loop()
        window = _READ_SIZE if table_format == "CSV" else 0  # Parquet: a few ranged reads of the footer

        def run() -> Table:
            with io.BufferedReader(_BlobFile(self._blobs, file, loop, window), _READ_SIZE) as stream:
                return reader(stream, file)

        return await asyncio.to_thread(run)
