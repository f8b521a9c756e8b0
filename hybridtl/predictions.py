"""The prediction table that ``hybridtl predict`` writes, in memory and on a dask cluster alike."""

from __future__ import annotations

import numpy as np

__all__ = ["prediction_table"]


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
    classes = np.asarray(classes)
    unread = np.isnan(proba).any(axis=1)
    predicted = classes[np.where(unread, 0, np.nan_to_num(proba).argmax(axis=1))]
    if unread.any() or as_text:
        predicted = predicted.astype(object)
        predicted[unread] = None
    if as_text:
        predicted = [None if p is None else str(p) for p in predicted]
    table = pd.DataFrame({"path": list(paths), "predicted": predicted}, index=index)
    for j, label in enumerate(classes):
        table[f"proba_{label}"] = proba[:, j]
    table["error"] = list(errors) if errors is not None else [""] * len(table)
    return table
