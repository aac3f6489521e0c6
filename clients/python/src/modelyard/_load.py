"""``modelyard.load``: a model version as a predictor in one line (``modelyard.fetch``: its files
into the cache only).

The runtime (numpy and the model libraries) is imported on the first call, not with
``modelyard``, so that the command line and metadata-only scripts start as fast as before:
hence the import inside ``load`` (there is no cycle to hide: ``predictors`` never imports the
client).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from modelyard._client import Client, connect
from modelyard._types import ModelVersion

if TYPE_CHECKING:
    from modelyard.predictors import Predictor

__all__ = ["fetch", "load"]


def load(
    reference: str,
    *,
    client: Client | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    allow_pickle: bool = False,
    trusted_types: Iterable[str] = (),
) -> Predictor:
    """Loads a READY version for prediction in this process.

        predictor = modelyard.load("fraud/scorer@champion")
        scores = predictor.predict({"input": features})["predict"]

    Its files are downloaded once into a cache by SHA-256 (verified as ``pull`` does) and
    loaded by the model's kind: STANDARD by payload format (skops, onnx; pkl and joblib only
    with ``allow_pickle``), CUSTOM through its entry point, ENSEMBLE from its members.

    Args:
        reference: "PROJECT/MODEL:N", "PROJECT/MODEL@ALIAS", or "PROJECT/MODEL" (latest READY).
        client: Metadata and registry client to use; by default ``modelyard.connect()``.
        cache_dir: Cache directory; defaults to $MODELYARD_CACHE_DIR, else ~/.cache/modelyard.
        allow_pickle: Load pickle and joblib files, which run arbitrary code when loaded.
        trusted_types: Types a skops file may hold beyond those skops trusts by default.

    Raises:
        FailedPreconditionError: The version is not READY, or its model cannot be loaded
            (a refused pickle, untrusted skops types, a broken entry point); the message says why.
    """
    from modelyard.predictors import ArtifactCache, LoadOptions, load_version

    options = LoadOptions(allow_pickle=allow_pickle, trusted_types=frozenset(trusted_types))
    with contextlib.nullcontext(client) if client is not None else connect() as used:
        return load_version(used.get_version, used._transfers.download, reference, ArtifactCache(cache_dir), options)


def fetch(
    reference: str, *, client: Client | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> list[ModelVersion]:
    """Downloads a READY version's files (an ensemble's members' too) into the cache that
    ``load`` reads, verified the same way, without loading the model: to warm a cache ahead of
    time (a Kubernetes inference pod's init container does). Returns the versions fetched.

    Arguments and errors as ``load``."""
    from modelyard.predictors import ArtifactCache, fetch_version

    with contextlib.nullcontext(client) if client is not None else connect() as used:
        return fetch_version(used.get_version, used._transfers.download, reference, ArtifactCache(cache_dir))
