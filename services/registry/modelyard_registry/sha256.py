"""SHA-256 whose state can be saved and restored, so a resumed upload's digest covers every byte.

hashlib cannot export its state, and the pure-Python or bundled-C alternatives on PyPI hash at a
tenth of OpenSSL's speed. This calls the OpenSSL libcrypto that Python's own hashlib is linked
against, through its SHA256_Init/Update/Final API, on a SHA256_CTX buffer that this module owns:
saving the state is copying that buffer. ctypes releases the GIL during each call, so hashing in
a worker thread runs beside the event loop. It is the domain's ``ResumableHash``
(domain/ports.py); main.py checks it against hashlib once at start.
"""

from __future__ import annotations

import _hashlib  # noqa: F401  (loads the libcrypto hashlib uses, so the names below resolve to it)
import ctypes
import ctypes.util
import functools
import hashlib

__all__ = ["STATE_SIZE", "ResumableSha256", "check_matches_hashlib"]

# sizeof(SHA256_CTX): h[8], Nl, Nh, data[16] (32-bit words), num, md_len.
STATE_SIZE = 112
_DIGEST_SIZE = 32


@functools.cache
def _libcrypto() -> ctypes.CDLL:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto"), "libcrypto.so.1.1"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if all(hasattr(lib, f) for f in ("SHA256_Init", "SHA256_Update", "SHA256_Final")):
            lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.SHA256_Init.argtypes = [ctypes.c_void_p]
            lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
            return lib
    raise RuntimeError("OpenSSL libcrypto with SHA256_Init/Update/Final was not found")


class ResumableSha256:
    """``hashlib.sha256`` with ``state()`` and ``ResumableSha256(state)``."""

    __slots__ = ("_ctx",)

    def __init__(self, state: bytes | None = None) -> None:
        self._ctx = ctypes.create_string_buffer(STATE_SIZE)
        if state is None:
            _libcrypto().SHA256_Init(self._ctx)
        elif len(state) != STATE_SIZE:
            raise ValueError(f"a SHA-256 state is {STATE_SIZE} bytes, got {len(state)}")
        else:
            ctypes.memmove(self._ctx, state, STATE_SIZE)

    def update(self, data: bytes) -> None:
        # c_char_p hands OpenSSL the bytes object's own buffer: no copy.
        _libcrypto().SHA256_Update(self._ctx, data, len(data))

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        """The digest of what was hashed so far (the hasher can go on)."""
        ctx = ctypes.create_string_buffer(self._ctx.raw, STATE_SIZE)
        out = ctypes.create_string_buffer(_DIGEST_SIZE)
        _libcrypto().SHA256_Final(out, ctx)
        return out.raw.hex()


def check_matches_hashlib() -> None:
    """Fails loudly at start if the library found does not hash like hashlib."""
    probe = ResumableSha256()
    probe.update(b"modelyard")
    if probe.hexdigest() != hashlib.sha256(b"modelyard").hexdigest():
        raise RuntimeError("libcrypto's SHA-256 disagrees with hashlib")
