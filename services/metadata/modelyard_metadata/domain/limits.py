"""Every bound MetadataService puts on what a request may carry, in one place (docs/limits.md).

A request over a bound is answered INVALID_ARGUMENT, naming the field and the bound.
"""

from __future__ import annotations

# Shared with the registry and serving services (re-exported):
from modelyard_common.limits import MAX_DIMENSIONS as MAX_DIMENSIONS
from modelyard_common.limits import MAX_FILES as MAX_FILES
from modelyard_common.limits import MAX_TENSORS as MAX_TENSORS

# Names and free text
MAX_NAME = 128  # project, model, alias, tensor, library, owner: fits a path segment and a screen
MAX_REFERENCE = 3 * MAX_NAME  # "project/model@alias" or ":version", with room for the separators
MAX_VERSION = 2**63 - 1  # a version number: a Postgres bigint
MAX_TEXT = 4096  # descriptions and reasons: a few paragraphs, not a document
MAX_LOCATION = 2048  # a source location's uri, revision and path: the longest URL browsers take

# Maps and lists of a model or version
MAX_TAGS = 64  # tags are labels to filter on, not a key-value store
MAX_TAG_KEY = 128  # also metric and parameter keys: a dotted name, not a sentence
MAX_TAG_VALUE = 512  # a label value, short enough to index
MAX_JSON_BYTES = 64 * 1024  # hyperparameters, one structured metric: stored per row, shown whole
MAX_DEPENDENCIES = 256  # libraries a version needs: a large lock file
MAX_PARENTS = 64  # produced_by references: each is looked up in the same transaction
MAX_MEMBERS = 16  # members of an ENSEMBLE: each runs on every inference

# Per call
MAX_METRICS_PER_CALL = 256  # metrics logged by one LogMetrics: one transaction, one audit event
MAX_COMPARED = 20  # versions side by side in CompareVersions
MAX_LINEAGE_DEPTH = 50  # hops GetLineage follows: the recursive query stays bounded
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # rows per page of any listing: one response stays far below the message cap
MAX_PAGE_TOKEN = 1024  # tokens this service issues are well under it

# Search
MAX_FILTER_LENGTH = 4096  # characters of a filter expression
MAX_PREDICATES = 64  # comparisons in one filter: each becomes a SQL condition
MAX_DEPTH = 32  # nesting of parentheses and NOT: the parser recurses
MAX_IN_VALUES = 100  # values of one IN list
MAX_ORDER_KEYS = 4  # keys of order_by
MAX_ORDER_BY_LENGTH = 1024  # characters of order_by
