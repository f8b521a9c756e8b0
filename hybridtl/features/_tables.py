"""The feature table that ``hybridtl extract`` and the dask extraction write: one row per image."""

from __future__ import annotations

import numpy as np

__all__ = ["feature_table"]


def feature_table(features, names, paths=None, labels=None, errors=None, index=None):
    """Columns ``path``, ``label`` (when given), one float32 column per feature, ``error`` (when given).

    Examples
    --------
    >>> table = feature_table(np.ones((2, 3), np.float32), ["f0", "f1", "f2"], paths=["a.png", "b.png"],
    ...                       labels=["cat", "dog"])
    >>> list(table.columns), table["f0"].dtype.name
    (['path', 'label', 'f0', 'f1', 'f2'], 'float32')
    """
    import pandas as pd

    table = pd.DataFrame(np.asarray(features, dtype=np.float32), columns=list(names), index=index)
    front = {name: values for name, values in (("path", paths), ("label", labels)) if values is not None}
    for position, (name, values) in enumerate(front.items()):
        table.insert(position, name, values)  # a pandas Series aligns on ``index``: give both, or neither
    if errors is not None:
        table["error"] = pd.Series(list(errors), index=table.index, dtype=object)
    return table
