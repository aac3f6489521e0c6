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
# Free-form JSON (hyperparameters, structured metrics) becomes google.protobuf.Struct in every
# response that shows it, and readers decode at most 100 nested messages (MAX_DECODE_DEPTH). Each
# level of a JSON object costs 3 of them (Struct, map entry, Value); a Struct sits at most 4
# messages down (a version's metric), and an audit snapshot wraps a value in 3 more JSON levels. A
# response shows at most MAX_SHOWN_JSON_DEPTH levels: 4 + 3 * 19 - 1 = 60 of 100 messages
# (docs/limits.md; tests/unit/metadata/test_json_bounds.py measures it).
MAX_JSON_DEPTH = 16  # objects and lists nested in one value: configs nest a few levels, not 16
MAX_JSON_ENTRIES = 4096  # object members and list items of one value: a feature importance of 4096 features
MAX_JSON_KEY = 256  # characters of one object key: a feature or parameter name, not a document
SNAPSHOT_DEPTH = 3  # JSON levels an audit snapshot adds around a stored value: {"metrics": [{"structured": ...}]}
MAX_SHOWN_JSON_DEPTH = MAX_JSON_DEPTH + SNAPSHOT_DEPTH  # deeper stored values (from before the bound) show a marker
MAX_DEPENDENCIES = 256  # libraries a version needs: a large lock file
MAX_PARENTS = 64  # produced_by references: each is looked up in the same transaction
MAX_MEMBERS = 16  # members of an ENSEMBLE: each runs on every inference

# Per call
MAX_METRICS_PER_CALL = 256  # metrics logged by one LogMetrics: one transaction, one audit event
# Structured metrics of one LogMetrics (its audit event shows them all), and the latest ones of a
# version (every response showing the version carries them), together, as JSON.
MAX_METRICS_JSON_BYTES = 1024 * 1024
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

# Scoring (ScoringService)
MAX_SCORE_INPUTS = 64  # model inputs one score definition feeds from a dataset
MAX_SCORE_COLUMNS = 1024  # dataset columns one definition names in all: a wide table's, not more
MAX_SCHEDULE = 256  # characters of a test's cron expression
MAX_CLAIMED_RUNS = 100  # runs one ClaimScoringRuns leases: one transaction
MAX_DUE_TESTS = 1000  # tests one ClaimScoringRuns queues scheduled runs of (the rest: its next call)
MAX_LEASE_SECONDS = 24 * 3600  # a scoring run's lease
# RecordScoringResult carries metrics as LogMetrics does (MAX_METRICS_JSON_BYTES of JSON as Structs).
SCORING_LARGER_REQUESTS = {"RecordScoringResult": 8 * 1024 * 1024}

# Bytes of one request, checked before it is decoded (modelyard_common.decoding): what the largest
# valid request of each method takes, with room; all others take MAX_REQUEST_BYTES.
MAX_REQUEST_BYTES = 1024 * 1024  # names, references, texts and tags of any other call (4 bytes a character)
LARGER_REQUESTS = {
    # a signature of 2 x 256 tensors, 64 KiB of JSON as a Struct (up to 6 times its JSON), 256 dependencies
    "CreateModelVersion": 2 * 1024 * 1024,
    "UpdateModelVersion": 2 * 1024 * 1024,
    "LogMetrics": 8 * 1024 * 1024,  # MAX_METRICS_JSON_BYTES of JSON as Structs, and 256 names
    "CommitArtifact": 8 * 1024 * 1024,  # MAX_FILES files with their keys, digests and paths of ~600 bytes
}
