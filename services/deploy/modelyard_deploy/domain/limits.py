"""Every bound DeployService puts on what a request may carry, in one place (docs/limits.md).

A request over a bound is answered INVALID_ARGUMENT, naming the field and the bound.
"""

from __future__ import annotations

# A deployment name: at most modelyard_common.names.MAX_DEPLOYMENT_NAME (40) characters.
MAX_PROJECT = 128  # a project name, as the metadata service allows it
MAX_REFERENCE = 3 * MAX_PROJECT  # "project/model@alias": as the metadata service allows it
MAX_REASON = 4096  # the reason of an update or rollback: a few paragraphs
MAX_REPLICAS = 16  # replicas of one deployment: more is a capacity plan, not a request
DEFAULT_PAGE = 100
MAX_PAGE = 1000  # deployments per page of ListDeployments
DEFAULT_CHUNK_ROWS = 100_000  # rows per chunk of a batch scoring job
MAX_CHUNK_ROWS = 10_000_000
DEFAULT_WORKERS = 2  # predictor worker processes of a job
MAX_WORKERS = 16
MAX_JOB_INPUTS = 64  # model inputs a job maps, and columns one input stacks (below)
MAX_INPUT_COLUMNS = 4096
