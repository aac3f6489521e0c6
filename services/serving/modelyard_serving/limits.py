"""Every bound the inference server puts on a ModelInfer request, in one place (docs/limits.md).

A request over a bound is answered INVALID_ARGUMENT, naming the tensor and the bound; a request
over the message cap (modelyard_common.server) is refused by grpc with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

MAX_TENSORS = 256  # inputs of a request, or outputs asked for: as many as a signature may declare
MAX_DIMENSIONS = 16  # dimensions of one tensor, as a signature may declare them
