"""Scores from predicted probabilities: the auto search's scorings, and what a model card reports.

scikit-learn scores estimators (``get_scorer``); the auto search must also score
probabilities it already holds (an ensemble's average, a bootstrap resample of a
held-out fold) without predicting again, so each scoring it accepts is a function
of (labels, probabilities, classes) here. Expected calibration error is in no
library hybridtl depends on, hence written out.
"""

from __future__ import annotations

import numpy as np

from ._options import SCORINGS

__all__ = ["bootstrap_sd", "expected_calibration_error", "score_proba", "validation_metrics"]

def score_proba(scoring, y, proba, classes):
    """The ``scoring`` (one of :data:`SCORINGS`) of probabilities ``proba`` (columns in ``classes`` order).

    Examples
    --------
    >>> score_proba("accuracy", [0, 1, 1], np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), [0, 1])
    0.6666666666666666
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss

    proba = np.asarray(proba, dtype=float)
    if scoring == "neg_log_loss":
        return -float(log_loss(y, proba, labels=list(classes)))
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    if scoring == "accuracy":
        return float(accuracy_score(y, predicted))
    if scoring == "balanced_accuracy":
        return float(balanced_accuracy_score(y, predicted))
    if scoring == "f1_macro":
        return float(f1_score(y, predicted, average="macro"))
    raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}; got {scoring!r}")


def bootstrap_sd(scoring, y, proba, classes, n=200, seed=0):
    """Standard deviation of the score over ``n`` bootstrap resamples of the images: one fold's spread.

    Examples
    --------
    >>> y = np.array([0, 1] * 20)
    >>> round(bootstrap_sd("accuracy", y, np.eye(2)[y], [0, 1]), 3)
    0.0
    """
    y, proba = np.asarray(y), np.asarray(proba)
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(n):
        rows = rng.integers(0, len(y), len(y))
        if scoring == "neg_log_loss" or len(np.unique(y[rows])) > 1:
            scores.append(score_proba(scoring, y[rows], proba[rows], classes))
    return float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan")


def expected_calibration_error(y, proba, classes, bins=15):
    """Expected calibration error: the gap between confidence and accuracy, averaged over 15 confidence bins.

    Examples
    --------
    >>> expected_calibration_error([0, 1], np.array([[1.0, 0.0], [0.0, 1.0]]), [0, 1])
    0.0
    """
    proba = np.asarray(proba, dtype=float)
    confidence = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == np.asarray(y)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap)


def validation_metrics(y, proba, classes):
    """Accuracy, macro-F1 and expected calibration error of probabilities on held-out images, as a dict.

    Examples
    --------
    >>> validation_metrics([0, 1], np.array([[0.8, 0.2], [0.3, 0.7]]), [0, 1])["accuracy"]
    1.0
    """
    return {"accuracy": score_proba("accuracy", y, proba, classes),
            "macro_f1": score_proba("f1_macro", y, proba, classes),
            "expected_calibration_error": expected_calibration_error(y, proba, classes),
            "n_images": int(len(y))}
