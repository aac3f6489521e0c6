"""Every bound the inference server puts on a ModelInfer request, in one place (docs/limits.md).

A request over a bound is answered INVALID_ARGUMENT, naming the tensor and the bound; a request
over the message cap (modelyard_common.server) is refused by grpc with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

# Inputs of a request, or outputs asked for, and dimensions of one tensor: as a signature may declare.
from modelyard_common.limits import MAX_DIMENSIONS as MAX_DIMENSIONS
from modelyard_common.limits import MAX_MESSAGE_BYTES
from modelyard_common.limits import MAX_TENSORS as MAX_TENSORS

# Bytes of one request, checked before it is decoded (modelyard_common.decoding): ModelInfer
# carries tensors, up to the servers' message cap; the other calls name a model at most.
MAX_REQUEST_BYTES = 64 * 1024
MAX_INFER_REQUEST_BYTES = MAX_MESSAGE_BYTES
