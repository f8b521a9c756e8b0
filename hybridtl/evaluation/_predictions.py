"""Predictions of a fitted model with the image work done once, and the prediction table that
``hybridtl predict`` writes (in memory and on dask)."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from ..core import labels_from_proba
from ..finetune import FineTuneClassifier

__all__ = ["labels_and_proba", "prediction_table"]


def labels_and_proba(model, X):
    """Predicted labels and class probabilities of ``X``, decoding and running the CNN once.

    Calling ``predict`` and then ``predict_proba`` would do the image work twice. A
    ``Pipeline`` transforms ``X`` once and asks its last step for both; a
    :class:`~hybridtl.finetune.FineTuneClassifier`, whose ``predict`` is the
    most probable class, is asked for probabilities only. Any other model is
    asked for both, since its ``predict`` need not be the most probable class
    (``SVC(probability=True)`` is one such).

    Parameters
    ----------
    model : fitted classifier
    X : images (or features, for a model fitted on them)

    Returns
    -------
    labels : numpy.ndarray of shape (n_samples,)
    proba : numpy.ndarray of shape (n_samples, n_classes)

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    >>> labels, proba = labels_and_proba(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X)
    >>> labels.tolist(), proba.shape
    ([0, 0, 1, 1], (4, 2))
    """
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        features, head = model[:-1].transform(X), model[-1]
        return head.predict(features), head.predict_proba(features)
    if isinstance(model, FineTuneClassifier):
        proba = model.predict_proba(X)
        return labels_from_proba(proba, model.classes_), proba
    return model.predict(X), model.predict_proba(X)


def prediction_table(paths, proba, classes, errors=None, index=None, as_text=False):
    """One row per image: ``path``, ``predicted``, ``proba_<class>``... and ``error`` ("" when read).

    Rows of NaN probabilities (unreadable images) get the prediction None. ``as_text=True``
    writes the labels as strings (Parquet partitions need one column type whatever the labels).

    Parameters
    ----------
    paths : sequence of str
    proba : array-like of shape (n_samples, n_classes)
    classes : array-like of shape (n_classes,)
    errors : sequence of str, optional
        One message per row, "" for a read image.
    index : pandas index, optional
    as_text : bool, default=False

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> prediction_table(["a.png", "b.png"], [[0.2, 0.8], [np.nan, np.nan]], np.array([3, 7])).values.tolist()
    [['a.png', 7, 0.2, 0.8, ''], ['b.png', None, nan, nan, '']]
    """
    import pandas as pd

    proba = np.asarray(proba, dtype=np.float64)
    predicted = labels_from_proba(proba, classes)
    if as_text:
        predicted = [None if p is None else str(p) for p in predicted]
    table = pd.DataFrame({"path": list(paths), "predicted": predicted}, index=index)
    for j, label in enumerate(classes):
        table[f"proba_{label}"] = proba[:, j]
    table["error"] = list(errors) if errors is not None else [""] * len(table)
    return table
