"""Every bound RegistryService puts on what a request may carry, in one place (docs/limits.md).

A request over a bound is answered INVALID_ARGUMENT, naming the field and the bound; a gRPC
message over the servers' cap (modelyard_common.server) is refused by grpc with RESOURCE_EXHAUSTED.
References and reasons are passed to the metadata service, which checks them against its limits.
"""

from __future__ import annotations

# Paths listed by one CommitUpload: as many files as the metadata service allows per version.
from modelyard_common.limits import MAX_FILES as MAX_FILES

# A file's path inside the artifact: what push, the registry and pull all hold to (modelyard.paths).
from modelyard_common.values import MAX_NAME_BYTES as MAX_NAME_BYTES
from modelyard_common.values import MAX_PATH_BYTES as MAX_PATH_BYTES

MAX_FILE_SIZE = 5 * 1024**4  # S3's largest object
MAX_CONTENT_TYPE = 255  # a MIME type (RFC 6838 allows 127 + '/' + 127)
MAX_CHUNK_BYTES = 4 * 1024 * 1024  # one upload chunk: a part is built from many, each kept in memory

# Bytes of one request, checked before it is decoded (modelyard_common.decoding); all other calls
# carry a path or a reference and take MAX_REQUEST_BYTES.
MAX_REQUEST_BYTES = 1024 * 1024
LARGER_REQUESTS = {
    "UploadFile": MAX_CHUNK_BYTES + 64 * 1024,  # one chunk, or the header with its path and digest
    "CommitUpload": 8 * 1024 * 1024,  # MAX_FILES paths of ~800 bytes each
}
