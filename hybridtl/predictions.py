"""Labels from probabilities, and the prediction table that ``hybridtl predict`` writes (in memory and on dask)."""

from __future__ import annotations

import numpy as np

__all__ = ["align_labels", "labels_and_proba", "labels_from_proba", "prediction_table"]


def labels_from_proba(proba, classes):
    """The most probable class of each row; None (in an object array) for rows of NaN, unreadable images.

    Examples
    --------
    >>> labels_from_proba([[0.2, 0.8], [0.6, 0.4]], np.array([3, 7]))
    array([7, 3])
    >>> labels_from_proba([[0.2, 0.8], [np.nan, np.nan]], np.array([3, 7]))
    array([7, None], dtype=object)
    """
    proba = np.asarray(proba, dtype=np.float64)
    unread = np.isnan(proba).any(axis=1)
    labels = np.asarray(classes)[np.where(unread, 0, np.nan_to_num(proba).argmax(axis=1))]
    if unread.any():
        labels = labels.astype(object)
        labels[unread] = None
    return labels


def align_labels(y, classes):
    """True labels ``y`` in the type of a model's ``classes_``, so that both can be compared.

    A class folder's name is text ('3') while a CSV's label column is read as a
    number (3): a model fitted on one and scored on the other would count every
    image wrong, or scikit-learn's metrics would refuse the mix. Each label
    whose text is a class's text becomes that class; the others (classes the
    model never saw) stay as given.

    Returns
    -------
    y : ndarray
        The aligned labels.
    as_text : bool
        True when some unseen label keeps a type other than the classes', in
        which case ``y`` is text and predictions must be compared as text too.

    Examples
    --------
    >>> align_labels(np.array([3, 7]), np.array(["3", "7"]))
    (array(['3', '7'], dtype='<U1'), False)
    >>> align_labels(np.array(["3", "cat"]), np.array([3, 7]))
    (array(['3', 'cat'], dtype='<U21'), True)
    """
    classes = np.asarray(classes)
    by_text = {str(c): c for c in classes.tolist()}
    aligned = np.asarray([by_text.get(str(v), v) for v in np.asarray(y).tolist()])
    as_text = aligned.dtype.kind != classes.dtype.kind and {aligned.dtype.kind, classes.dtype.kind} & {"U", "O"}
    return (aligned.astype(str) if as_text else aligned), bool(as_text)


def labels_and_proba(model, X):
    """Predicted labels and class probabilities of ``X``, decoding and running the CNN once.

    Calling ``predict`` and then ``predict_proba`` would do the image work twice. A
    ``Pipeline`` transforms ``X`` once and asks its last step for both; a
    :class:`~hybridtl.finetune.FineTuneClassifier`, whose ``predict`` is the
    most probable class, is asked for probabilities only. Any other model is
    asked for both, since its ``predict`` need not be the most probable class
    (``SVC(probability=True)`` is one such).

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
    from sklearn.pipeline import Pipeline

    from .finetune import FineTuneClassifier  # here, not at the top: finetune imports this module

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
