"""A batch scoring predictor worker: ``python -m modelyard_serving.batch``, started by the deploy
service for one job with the ``MLREG_SERVING_*`` environment an inference server gets (the
version, where the platform is, a serving credential for that version alone).

It loads the version as the inference server does (``main.load_model``), says so with a ready
frame, then answers each frame of input arrays with a frame of the model's outputs
(``batch_wire``), until its input ends. A model that cannot be loaded, or raises, is answered
with an error frame, and the worker exits. Its frames go over stdin and stdout (a local worker:
the model's own prints go to stderr, the worker's log, never into the pipe), or, with
``--connect`` (a remote worker: a pod of the job's Kubernetes Job), over a gRPC stream to the
leader that runs the job (``BatchWorkerSettings.batch_*``; ``api.batch_stream``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import BinaryIO

from modelyard_common.errors import ModelyardError
from modelyard_common.logs import configure_logging
from modelyard_common.settings import load_settings
from modelyard_common.tls import client_tls
from modelyard_serving.api.batch_stream import work_remotely
from modelyard_serving.batch_wire import (
    PREFIX_BYTES,
    decode_arrays,
    decode_header,
    encode,
    encode_message,
    header_length,
)
from modelyard_serving.main import load_model
from modelyard_serving.settings import BatchWorkerSettings, ServingSettings

__all__ = ["main"]

logger = logging.getLogger(__name__)

_MAX_INPUT_BYTES = 1 << 34  # the driver is trusted; this only bounds a broken pipe's claim
EXIT_FAILED = 3


def _read_exactly(source: BinaryIO, size: int) -> bytes | None:
    data = source.read(size)
    if not data:
        return None
    if len(data) != size:
        raise EOFError(f"the pipe ended inside a frame ({len(data)} of {size} bytes)")
    return data


def _serve(settings: ServingSettings, source: BinaryIO, sink: BinaryIO) -> int:
    try:
        predictor = load_model(settings)
    except ModelyardError as exc:
        sink.write(encode_message(error=f"cannot load {settings.reference}: {' '.join(exc.message.split())}"))
        sink.flush()
        return EXIT_FAILED
    sink.write(encode_message(ready=True))
    sink.flush()
    while (prefix := _read_exactly(source, PREFIX_BYTES)) is not None:
        header = _read_exactly(source, header_length(prefix)) or b""
        frame = decode_header(header, _MAX_INPUT_BYTES)
        payload = _read_exactly(source, frame.payload_bytes) or b"" if frame.payload_bytes else b""
        try:
            outputs = predictor.predict(decode_arrays(frame, payload))
            parts = encode(outputs)
        except Exception as exc:  # the model's code: whatever it raises is the job's error
            logger.exception("predict failed")
            sink.write(encode_message(error=f"{type(exc).__name__}: {exc}"))
            sink.flush()
            return EXIT_FAILED
        for part in parts:
            sink.write(part)
        sink.flush()
    return 0


def _connect(settings: BatchWorkerSettings) -> int:
    """Serves the job over a stream to its leader (``batch_addr``), presenting its worker secret."""
    missing = [name for name in ("batch_addr", "batch_job", "batch_secret") if not getattr(settings, name)]
    if missing:
        logger.error("--connect needs %s", ", ".join(f"MLREG_SERVING_{name.upper()}" for name in missing))
        return EXIT_FAILED
    assert settings.batch_secret is not None
    tls = client_tls(settings)
    if tls is not None and settings.batch_server_name:
        tls = dataclasses.replace(tls, server_name=settings.batch_server_name)
    return work_remotely(
        settings.batch_addr,
        tls,
        settings.batch_job,
        settings.batch_secret.get_secret_value(),
        settings.batch_worker,
        lambda source, sink: _serve(settings, source, sink),
    )


def main() -> None:
    """``python -m modelyard_serving.batch``: frames over stdin and stdout; with ``--connect``,
    over a stream to the leader."""
    if sys.argv[1:] == ["--connect"]:
        settings = load_settings(BatchWorkerSettings)
        configure_logging(settings.log_level, settings.log_format)
        sys.exit(_connect(settings))
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [--connect]")
    # The pipe to the driver is a private copy of stdout; fd 1 becomes stderr, so that nothing
    # the model prints can be taken for a frame.
    sink = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    local = load_settings(ServingSettings)
    configure_logging(local.log_level, local.log_format)
    sys.exit(_serve(local, sys.stdin.buffer, sink))


if __name__ == "__main__":
    main()
