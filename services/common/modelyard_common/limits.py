"""Bounds more than one service enforces: the metadata service stores what the others check
against, so each is defined once here (docs/limits.md)."""

from __future__ import annotations

MAX_TENSORS = 256  # inputs or outputs of a signature, and so of an inference request
MAX_DIMENSIONS = 16  # dimensions of one tensor (numpy's limit is 64; no model has more than a few)
MAX_FILES = 10_000  # files of a committed artifact (S3's part limit, a sane directory)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # a gRPC message either way; grpc refuses a bigger one with RESOURCE_EXHAUSTED
MAX_COLUMNS = 1000  # columns of a dataset version's schema, read by the registry, stored by metadata
MAX_COLUMN_NAME = 128  # characters of a column's name (and of its type's name)
