"""The files the artifacts benchmark moves: random-looking content of a given size, changed
before each repetition so the registry never deduplicates a measured upload; sizes as typed on
the command line and as printed."""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import time
from pathlib import Path

__all__ = ["CHUNK", "GiB", "MiB", "make_file", "mark", "parse_size", "sha256_file", "size_label"]

MiB = 1024 * 1024
GiB = 1024 * MiB
CHUNK = 1 * MiB
"""Read and write unit, and the size of a gRPC upload chunk."""


def make_file(path: Path, size: int, seed: int) -> float:
    """Writes ``size`` bytes of random-looking content: one os.urandom MiB, each MiB with its own
    16-byte prefix (seed, index), so no two MiB of any file are alike. Returns the seconds taken."""
    started = time.perf_counter()
    block = memoryview(os.urandom(CHUNK))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        index = 0
        while written < size:
            n = min(CHUNK, size - written)
            piece: list[bytes | memoryview] = (
                [struct.pack("<QQ", seed, index), block[16:]] if n == CHUNK else [bytes(block[:n])]
            )
            os.writev(fd, piece)
            written += n
            index += 1
    finally:
        os.close(fd)
    return time.perf_counter() - started


def mark(path: Path, seed: int, repetition: int) -> None:
    """Rewrites the file's first 16 bytes, so each repetition uploads content never seen before."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, struct.pack("<QQ", seed, (1 << 63) | repetition), 0)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> tuple[str, float]:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as f:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest(), time.perf_counter() - started


def parse_size(text: str) -> int:
    """'64M', '64MiB', '1G', '1GiB' or a bare number of MiB."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = MiB
    if value.endswith("G"):
        value, scale = value[:-1], GiB
    elif value.endswith("M"):
        value = value[:-1]
    size = int(float(value) * scale)
    if size <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive size")
    return size


def size_label(size: int) -> str:
    if size % GiB == 0:
        return f"{size // GiB} GiB"
    return f"{size / MiB:g} MiB"
