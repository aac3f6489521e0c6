"""Trains the example model: a scaled logistic regression on the breast-cancer data bundled with
scikit-learn (30 numeric features; 1 benign, 0 malignant), saved with skops as DIR/model.skops.

    python examples/train.py model-dir > eval.json        # its metrics, for `modelyard metrics log --metrics-json`
    python examples/train.py model-dir-2 --c 0.01 > eval-2.json
    python examples/train.py tree-dir --tree > eval-tree.json   # a decision tree instead

A decision tree's skops file holds a type skops does not trust by default
(sklearn.tree._tree.Tree): serving it needs that type trusted (`--trust-type`).

It prints the held-out accuracy, AUC and feature importance (|coefficient|, normalised: the top 8)
as one JSON object. `make demo` (examples/demo.py) trains its two versions with it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier


class Data:
    """The breast-cancer data bundled with scikit-learn: 30 features, benign (1) or malignant."""

    def __init__(self) -> None:
        bunch = load_breast_cancer()
        self.features = [str(name) for name in bunch.feature_names]
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(
            bunch.data, bunch.target, test_size=0.25, random_state=0, stratify=bunch.target
        )


def train(data: Data, c: float, *, tree: bool = False) -> tuple[Pipeline | DecisionTreeClassifier, dict[str, Any]]:
    """A scaled logistic regression (a model skops loads without extra trusted types), or a
    decision tree, and its metrics on the held-out rows: accuracy, AUC, and feature importance
    (|coefficient| normalised, or the tree's own) as a structured metric."""
    model: Pipeline | DecisionTreeClassifier
    if tree:
        model = DecisionTreeClassifier(max_depth=4, random_state=0).fit(data.x_train, data.y_train)
        importance = model.feature_importances_
    else:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        model.fit(data.x_train, data.y_train)
        coefficients = np.abs(model[-1].coef_[0])
        importance = coefficients / coefficients.sum()
    top = np.argsort(importance)[::-1][:8]
    return model, {
        "accuracy": round(float(accuracy_score(data.y_test, model.predict(data.x_test))), 4),
        "auc": round(float(roc_auc_score(data.y_test, model.predict_proba(data.x_test)[:, 1])), 4),
        "feature_importance": {data.features[i]: round(float(importance[i]), 4) for i in top},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="where model.skops is written (created if missing)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength (default 1.0)")
    parser.add_argument("--tree", action="store_true", help="a decision tree (depth 4) instead")
    args = parser.parse_args()
    model, metrics = train(Data(), args.c, tree=args.tree)
    args.directory.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, args.directory / "model.skops")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
