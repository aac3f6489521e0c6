"""A tiny deployable scikit-learn classifier, for the tests that deploy and serve it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skops.io
from sklearn.linear_model import LogisticRegression

import modelyard

__all__ = ["FEATURES", "push_classifier"]

FEATURES = np.random.default_rng(11).normal(size=(40, 4))


def push_classifier(client: modelyard.Client, model: str, directory: Path, flip: bool = False) -> str:
    """A tiny scikit-learn model saved with skops, pushed as a new READY version; ``flip``
    trains it on the opposite labels, so that two versions answer differently."""
    labels = (FEATURES[:, 0] + FEATURES[:, 1] > 0).astype(np.int64)
    estimator = LogisticRegression().fit(FEATURES, 1 - labels if flip else labels)
    directory.mkdir(parents=True, exist_ok=True)
    skops.io.dump(estimator, directory / "model.skops")
    return client.push(model, directory, framework="sklearn", payload_format="skops").reference
