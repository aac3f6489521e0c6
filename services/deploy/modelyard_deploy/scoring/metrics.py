"""A scoring run's metrics, computed with scikit-learn from the dataset's labels and the model's
outputs. They are computed here, in the deploy service, never by the process running model code:
that process sees the input columns only, so it can neither read the labels nor forge a metric."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelyard_common.values import TASK_METRICS, ScoreTask

__all__ = ["ScoreError", "ScoreSpec", "compute_metrics"]

_NEED_PROBABILITIES = frozenset({"roc_auc", "log_loss"})
# scikit-learn is imported by the functions that score, not with this module: importing it (and
# scipy) takes seconds, which every deploy service start paid, scoring or not.


class ScoreError(Exception):
    """Why a run could not be scored (its state becomes ERROR, with this message)."""


@dataclass(frozen=True, slots=True)
class ScoreSpec:
    """What of a score definition the metrics need; ``metrics`` empty: all of the task's."""

    task: ScoreTask
    metrics: tuple[str, ...] = ()
    average: str = ""
    positive_label: str = ""


def compute_metrics(
    spec: ScoreSpec,
    labels: np.ndarray[Any, Any],
    predictions: np.ndarray[Any, Any],
    probabilities: np.ndarray[Any, Any] | None,
) -> dict[str, float | dict[str, Any]]:
    """Each asked metric of ``predictions`` (and class ``probabilities``, rows x classes in the
    order of the sorted classes, as scikit-learn's ``classes_``) against ``labels``."""
    if len(labels) == 0:
        raise ScoreError("the dataset has no rows to score")
    if len(predictions) != len(labels):
        raise ScoreError(f"the model answered {len(predictions)} predictions for {len(labels)} rows")
    names = spec.metrics or TASK_METRICS[spec.task]
    if spec.task is ScoreTask.REGRESSION:
        return _regression(names, _numbers("labels", labels), _numbers("predictions", predictions))
    labels, predictions = _comparable(labels, predictions)
    return _classification(spec, names, labels, predictions, probabilities)


def _regression(names: Sequence[str], y: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any]) -> dict[str, Any]:
    from sklearn import metrics as skm

    computed: dict[str, Callable[[], float]] = {
        "rmse": lambda: math.sqrt(skm.mean_squared_error(y, predicted)),
        "mae": lambda: skm.mean_absolute_error(y, predicted),
        "r2": lambda: skm.r2_score(y, predicted),
    }
    return {name: float(computed[name]()) for name in names}


def _classification(
    spec: ScoreSpec,
    names: Sequence[str],
    y: np.ndarray[Any, Any],
    predicted: np.ndarray[Any, Any],
    probabilities: np.ndarray[Any, Any] | None,
) -> dict[str, Any]:
    from sklearn import metrics as skm

    classes = np.unique(np.concatenate([y, predicted]))
    binary = len(classes) <= 2
    positive = _positive(spec.positive_label, classes) if binary else None
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": positive} if binary else {"average": spec.average or "macro"}
    )
    out: dict[str, Any] = {}
    for name in names:
        if name in _NEED_PROBABILITIES:
            proba = _probabilities(probabilities, classes, len(y), name)
            if name == "log_loss":
                out[name] = float(skm.log_loss(y, proba, labels=classes))
            elif positive is not None:
                column = int(np.searchsorted(classes, positive))
                out[name] = float(skm.roc_auc_score(y == positive, proba[:, column]))
            else:
                out[name] = float(skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes))
        elif name == "accuracy":
            out[name] = float(skm.accuracy_score(y, predicted))
        elif name == "confusion_matrix":
            matrix = skm.confusion_matrix(y, predicted, labels=classes)
            out[name] = {"labels": [_plain(c) for c in classes], "matrix": matrix.tolist()}
        else:
            score = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[name]
            out[name] = float(score(y, predicted, labels=classes, zero_division=0, **averaging))
    return out


def _numbers(what: str, values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    try:
        numbers = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    except (TypeError, ValueError):
        raise ScoreError(f"the {what} are not numbers, which a regression needs") from None
    if numbers.shape[1] != 1:
        raise ScoreError(f"the {what} have {numbers.shape[1]} values per row; a regression needs one")
    if not np.isfinite(numbers).all():
        raise ScoreError(f"the {what} hold a missing value, NaN or infinity")
    return numbers[:, 0]


def _comparable(
    labels: np.ndarray[Any, Any], predictions: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Labels and predicted labels of one type: numbers as numbers, anything else as text (a
    model answering b"yes" for a label column holding "yes")."""
    predictions = predictions.reshape(len(predictions), -1)
    if predictions.shape[1] != 1:
        raise ScoreError(f"the predictions have {predictions.shape[1]} values per row; a label needs one")
    predictions = predictions[:, 0]
    if labels.dtype.kind in "iub" and predictions.dtype.kind in "iub":
        return labels.astype(np.int64), predictions.astype(np.int64)
    if labels.dtype.kind in "iubf" and predictions.dtype.kind in "iubf":
        return labels.astype(np.float64), predictions.astype(np.float64)
    return _text(labels), _text(predictions)


def _text(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()], dtype=object)


def _positive(asked: str, classes: np.ndarray[Any, Any]) -> Any:
    if not asked:
        return classes[-1]
    for cls in classes:
        if str(_plain(cls)) == asked:
            return cls
    raise ScoreError(f"positive_label {asked!r} is none of the labels ({', '.join(str(_plain(c)) for c in classes)})")


def _probabilities(
    probabilities: np.ndarray[Any, Any] | None, classes: np.ndarray[Any, Any], rows: int, metric: str
) -> np.ndarray[Any, Any]:
    if probabilities is None:
        raise ScoreError(f"{metric} needs class probabilities: set the definition's probability_output")
    try:
        proba = np.asarray(probabilities, dtype=np.float64).reshape(rows, -1)
    except (TypeError, ValueError):
        raise ScoreError("the probability output does not hold one row of numbers per dataset row") from None
    if proba.shape[1] != len(classes):
        raise ScoreError(
            f"the probability output has {proba.shape[1]} columns, but the labels and predictions hold "
            f"{len(classes)} classes"
        )
    return proba


def _plain(value: Any) -> Any:
    """A numpy scalar as JSON holds it."""
    return value.item() if isinstance(value, np.generic) else value
