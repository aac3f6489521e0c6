"""A batch scoring predictor worker: ``python -m modelyard_serving.batch``, started by the deploy
service for one job with the ``MLREG_SERVING_*`` environment an inference server gets (the
version, where the platform is, a serving credential for that version alone).

It loads the version as the inference server does (``main.load_model``), says so with a ready
frame on stdout, then answers each frame of input arrays read from stdin with a frame of the
model's outputs (``batch_wire``), until stdin ends. A model that cannot be loaded, or raises,
is answered with an error frame, and the worker exits. The model's own prints go to stderr
(the worker's log), never into the pipe.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import BinaryIO

from modelyard_common.errors import ModelyardError
from modelyard_common.logs import configure_logging
from modelyard_common.settings import load_settings
from modelyard_serving.batch_wire import (
    PREFIX_BYTES,
    decode_arrays,
    decode_header,
    encode,
    encode_message,
    header_length,
)
from modelyard_serving.main import load_model
from modelyard_serving.settings import ServingSettings

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


def main() -> None:
    # The pipe to the driver is a private copy of stdout; fd 1 becomes stderr, so that nothing
    # the model prints can be taken for a frame.
    sink = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    settings = load_settings(ServingSettings)
    configure_logging(settings.log_level, settings.log_format)
    sys.exit(_serve(settings, sys.stdin.buffer, sink))


if __name__ == "__main__":
    main()
