"""From a reference to a predictor: read the version, fetch its files, load it by kind."""

from __future__ import annotations

from collections.abc import Callable

from modelyard._transfer import Download
from modelyard._types import ModelVersion, VersionStatus
from modelyard.errors import FailedPreconditionError
from modelyard.predictors._cache import ArtifactCache
from modelyard.predictors._custom import load_custom
from modelyard.predictors._ensemble import load_ensemble
from modelyard.predictors._predictor import Predictor
from modelyard.predictors._standard import LoadOptions, load_standard

__all__ = ["fetch_version", "load_version"]


def load_version(
    get_version: Callable[[str], ModelVersion],
    download: Download,
    reference: str,
    cache: ArtifactCache,
    options: LoadOptions,
) -> Predictor:
    """The predictor of the READY version ``reference`` names (an ENSEMBLE's members too):
    read through ``get_version``, its files fetched into ``cache`` through ``download``."""
    version = _ready(get_version, reference)
    # The version says how it is served (the server checked it against the model's kind when it
    # was registered): an inference server's credential reads its versions, not their model.
    serving = version.serving
    if serving is not None and serving.members:
        return load_ensemble(
            version, [load_version(get_version, download, member, cache, options) for member in serving.members]
        )
    directory = cache.directory(download, version)
    if serving is not None and serving.entry_point:
        return load_custom(directory, version)
    return load_standard(directory, version, options)


def fetch_version(
    get_version: Callable[[str], ModelVersion], download: Download, reference: str, cache: ArtifactCache
) -> list[ModelVersion]:
    """Fetches the files of the READY version ``reference`` names (an ENSEMBLE's members' too,
    recursively) into ``cache`` without loading anything; returns the versions fetched."""
    version = _ready(get_version, reference)
    if version.serving is not None and version.serving.members:
        return [version, *(v for m in version.serving.members for v in fetch_version(get_version, download, m, cache))]
    cache.directory(download, version)
    return [version]


def _ready(get_version: Callable[[str], ModelVersion], reference: str) -> ModelVersion:
    version = get_version(reference)
    if version.status is not VersionStatus.READY:
        raise FailedPreconditionError(f"{version.reference} is {version.status}; only READY versions can be loaded")
    return version
