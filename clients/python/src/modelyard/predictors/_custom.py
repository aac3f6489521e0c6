"""CUSTOM models: user code shipped in the artifact, found through ``serving.entry_point``.

"module:attribute" names ``<module>.py`` in the artifact directory (dots are sub-directories)
and an attribute of it: a class or function called with the artifact directory, returning an
object with ``predict(inputs)`` (name -> numpy array in, name -> array-like out). The module is
imported under a name of its own, so two CUSTOM models never share one; to read other files of
the artifact it uses the directory it is given.
"""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

from modelyard._types import ModelVersion
from modelyard.errors import FailedPreconditionError
from modelyard.predictors._predictor import Model, Predictor

__all__ = ["load_custom"]

_loaded = itertools.count(1)


def load_custom(directory: Path, version: ModelVersion) -> Predictor:
    """The predictor of a CUSTOM version; tensors from its signature (none declared: any inputs)."""
    entry_point = version.serving.entry_point if version.serving is not None else ""
    module_name, _, attribute = entry_point.partition(":")
    if not module_name or not attribute.isidentifier():
        raise FailedPreconditionError(
            f"{version.reference}: serving.entry_point {entry_point!r} is not 'module:attribute' "
            "(e.g. 'predictor:Model' for a Model class in predictor.py)"
        )
    relative = module_name.replace(".", "/") + ".py"
    source = directory / relative
    if not source.is_file():
        raise FailedPreconditionError(f"{version.reference}: serving.entry_point names {relative}, not in the artifact")
    model = _call_entry_point(source, attribute, directory, version.reference, entry_point)
    return Predictor(model, version, "modelyard_custom", version.signature.inputs, version.signature.outputs)


def _call_entry_point(source: Path, attribute: str, directory: Path, reference: str, entry_point: str) -> Model:
    spec = importlib.util.spec_from_file_location(f"modelyard_custom_{next(_loaded)}", source)
    if spec is None or spec.loader is None:
        raise FailedPreconditionError(f"{reference}: {source.name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        factory = getattr(module, attribute)
        model = factory(directory)
    except Exception as exc:  # the user's code: whatever it raises, say where
        raise FailedPreconditionError(f"{reference}: serving.entry_point {entry_point} failed: {exc!r}") from exc
    if not callable(getattr(model, "predict", None)):
        raise FailedPreconditionError(
            f"{reference}: serving.entry_point {entry_point} returned a {type(model).__name__}, which has no predict"
        )
    return model  # type: ignore[no-any-return]
