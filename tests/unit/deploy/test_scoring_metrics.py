"""Scoring metrics from labels and model outputs: the values, and the errors a run reports."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelyard_common.values import ScoreTask
from modelyard_deploy.scoring.metrics import ScoreError, ScoreSpec, compute_metrics

CLASSIFY = ScoreSpec(ScoreTask.CLASSIFICATION)


def test_binary_classification_metrics_count_the_greater_label_as_positive() -> None:
    labels = np.array([0, 1, 1, 0])
    predicted = np.array([0, 1, 0, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    got = compute_metrics(CLASSIFY, labels, predicted, proba)
    assert got["accuracy"] == 0.75
    assert got["precision"] == 1.0  # one predicted positive, right
    assert got["recall"] == 0.5  # one of two positives found
    assert got["f1"] == pytest.approx(2 / 3)
    assert got["roc_auc"] == 1.0  # every positive scored above every negative
    assert got["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4, 0.7])))
    assert got["confusion_matrix"] == {"labels": [0, 1], "matrix": [[2, 0], [1, 1]]}


def test_text_labels_match_predicted_bytes_and_a_named_positive_label_counts() -> None:
    labels = np.array(["ok", "fraud", "ok"], dtype=object)
    predicted = np.array([b"ok", b"ok", b"ok"], dtype=object)
    spec = ScoreSpec(ScoreTask.CLASSIFICATION, ("accuracy", "recall"), positive_label="fraud")
    assert compute_metrics(spec, labels, predicted, None) == {"accuracy": pytest.approx(2 / 3), "recall": 0.0}


def test_three_classes_average_macro_unless_asked_otherwise() -> None:
    labels = np.array([0, 1, 2, 2])
    predicted = np.array([0, 2, 2, 2])
    macro = compute_metrics(ScoreSpec(ScoreTask.CLASSIFICATION, ("recall",)), labels, predicted, None)
    micro = compute_metrics(ScoreSpec(ScoreTask.CLASSIFICATION, ("recall",), average="micro"), labels, predicted, None)
    assert macro == {"recall": pytest.approx((1 + 0 + 1) / 3)}
    assert micro == {"recall": 0.75}


def test_regression_metrics() -> None:
    spec = ScoreSpec(ScoreTask.REGRESSION)
    got = compute_metrics(spec, np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [5.0]]), None)
    assert got == {"rmse": pytest.approx(math.sqrt(4 / 3)), "mae": pytest.approx(2 / 3), "r2": pytest.approx(-1.0)}


@pytest.mark.parametrize(
    ("spec", "labels", "predicted", "proba", "message"),
    [
        (
            CLASSIFY,
            np.array([], dtype=np.int64),
            np.array([], dtype=np.int64),
            None,
            "the dataset has no rows to score",
        ),
        (CLASSIFY, np.array([0, 1]), np.array([0]), None, "the model answered 1 predictions for 2 rows"),
        (
            ScoreSpec(ScoreTask.CLASSIFICATION, ("roc_auc",)),
            np.array([0, 1]),
            np.array([0, 1]),
            None,
            "roc_auc needs class probabilities: set the definition's probability_output",
        ),
        (
            ScoreSpec(ScoreTask.CLASSIFICATION, ("log_loss",)),
            np.array([0, 1]),
            np.array([0, 1]),
            np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]),
            "the probability output has 3 columns, but the labels and predictions hold 2 classes",
        ),
        (
            ScoreSpec(ScoreTask.CLASSIFICATION, positive_label="yes"),
            np.array([0, 1]),
            np.array([0, 1]),
            None,
            "positive_label 'yes' is none of the labels (0, 1)",
        ),
        (
            ScoreSpec(ScoreTask.REGRESSION),
            np.array(["a", "b"], dtype=object),
            np.array([1.0, 2.0]),
            None,
            "the labels are not numbers, which a regression needs",
        ),
        (
            ScoreSpec(ScoreTask.REGRESSION),
            np.array([1.0, np.nan]),
            np.array([1.0, 2.0]),
            None,
            "the labels hold a missing value, NaN or infinity",
        ),
    ],
)
def test_what_cannot_be_scored_says_why(
    spec: ScoreSpec, labels: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None, message: str
) -> None:
    with pytest.raises(ScoreError) as caught:
        compute_metrics(spec, labels, predicted, proba)
    assert str(caught.value) == message
