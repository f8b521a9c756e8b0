"""XGBoost trained across a dask cluster (``xgboost.dask``), on features that live there, with any class labels."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from ..core import (
    DeviceName,
    InstanceOf,
    Interval,
    check_two_classes,
    default_client,
    is_dask_collection,
    validate_params,
)
from ._xgboost import XGB_PARAMS, LabelXGBClassifier

__all__ = ["DaskLabelXGBClassifier", "feature_columns"]

# columns of a feature dataset that are not features
_NOT_FEATURES = ("path", "label", "error")


def feature_columns(frame, label):
    """The feature columns of a feature table: all but path, label and error."""
    return [c for c in frame.columns if c not in _NOT_FEATURES and c != label]


class DaskLabelXGBClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost trained across a dask cluster (``xgboost.dask``), with any class labels.

    Parameters
    ----------
    n_estimators : int, default=400
    learning_rate : float, default=0.1
    max_depth : int, default=3
    colsample_bynode : float, default=0.3
        XGBoost's own parameters; the defaults are :data:`XGB_PARAMS`, the in-memory head's.
    label : str, default="label"
        The label column, when ``fit`` gets one dask DataFrame holding features and labels.
    device : {"cpu", "cuda"}, default="cpu"
        Where each worker trains (one worker per GPU on a GPU cluster).
    random_state : int, default=0
    client : distributed.Client or None, default=None
        The cluster; ``None`` uses the client running in this process.

    Attributes
    ----------
    classes_ : ndarray
    feature_names_in_ : ndarray
    booster_ : xgboost.Booster
        The trained model; :meth:`to_local` wraps it for in-memory use and saving.
    local_model_ : LabelXGBClassifier
        That wrapping, built once in ``fit``, which ``predict`` and ``predict_proba`` use.

    Notes
    -----
    X and y must come from the same partitions: reading features and labels from Parquet
    separately can split them differently, and XGBoost would pair the wrong rows. Pass one
    frame with the label column (``fit(frame)``), or ``y`` taken from that same frame; a
    ``y`` whose partition lengths differ from ``X``'s is refused.

    Examples
    --------
    >>> import dask.dataframe as dd, numpy as np, pandas as pd
    >>> from distributed import Client, LocalCluster
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame(rng.normal(size=(40, 3)), columns=["f0", "f1", "f2"])
    >>> table["label"] = np.where(table["f0"] > 0, "cat", "dog")
    >>> with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, Client(cluster):
    ...     head = DaskLabelXGBClassifier(n_estimators=10).fit(dd.from_pandas(table, npartitions=2))
    ...     predicted = head.predict(table[["f0", "f1", "f2"]])
    >>> head.classes_.tolist(), float((predicted == table["label"]).mean()) > 0.9
    (['cat', 'dog'], True)
    """

    _parameter_constraints = {
        "n_estimators": [Interval("integer", 1, None)],
        "learning_rate": [Interval("number", 0, None, closed="neither")],
        "max_depth": [Interval("integer", 1, None)],
        "colsample_bynode": [Interval("number", 0, 1, closed="right")],
        "label": [InstanceOf(str, "a column name")],
        "device": [DeviceName()],
        "random_state": [Interval("integer", 0, None)],
        "client": [None, InstanceOf(object, "a distributed.Client")],
    }

    def __init__(self, n_estimators=XGB_PARAMS["n_estimators"], learning_rate=XGB_PARAMS["learning_rate"],
                 max_depth=XGB_PARAMS["max_depth"], colsample_bynode=XGB_PARAMS["colsample_bynode"], label="label",
                 device="cpu", random_state=0, client=None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.colsample_bynode = colsample_bynode
        self.label = label
        self.device = device
        self.random_state = random_state
        self.client = client

    def _xgb_params(self):
        """XGBoost's parameters: :data:`XGB_PARAMS` with this estimator's values."""
        return {**XGB_PARAMS, **{name: getattr(self, name) for name in XGB_PARAMS if hasattr(self, name)}}

    def _get_client(self):
        client = default_client(self.client)
        if client is None:
            raise ValueError("DaskLabelXGBClassifier needs a distributed Client: start one first, e.g. "
                             "Client(LocalCluster()) or Client('scheduler-address:8786')")
        return client

    def _aligned(self, X, y):
        """One persisted frame holding the features and the encoded labels, partition for partition."""
        import dask.dataframe as dd

        if not is_dask_collection(X):
            raise TypeError(f"X must be a dask DataFrame (e.g. dask.dataframe.read_parquet of the features), got "
                            f"{type(X).__name__}; in memory, use make_head('xgboost')")
        if y is None:
            if self.label not in X.columns:
                raise ValueError(f"fit(X) without y needs a {self.label!r} column in X")
            frame = X
        else:
            if not is_dask_collection(y) or y.npartitions != X.npartitions:
                raise ValueError("y must be a dask Series with the same partitions as X (best: a column of the same "
                                 "frame, fit(frame)); features and labels read separately can be split differently")
            client = self._get_client()
            lengths_x, lengths_y = client.compute([X.map_partitions(len), y.map_partitions(len)], sync=True)
            if list(lengths_x) != list(lengths_y):
                raise ValueError("X and y are split into partitions of different lengths, so their rows do not pair; "
                                 "read them from one frame and pass fit(frame)")
            frame = dd.concat([X, y.rename(self.label)], axis=1, ignore_unknown_divisions=True)
        return frame, feature_columns(frame, self.label)

    def fit(self, X, y=None):
        """Train on a dask DataFrame of features (and its label column, or ``y``)."""
        import xgboost.dask as dxgb

        validate_params(self.get_params(deep=False), self._parameter_constraints)
        client = self._get_client()
        frame, features = self._aligned(X, y)
        labels = frame[self.label]
        if client.compute(labels.isna().any()).result():
            raise ValueError(f"the {self.label!r} column has missing labels")
        found = client.compute(labels.map_partitions(lambda s: s.drop_duplicates())).result()  # no shuffle
        encoder = LabelEncoder().fit(found.to_numpy())
        check_two_classes(encoder.classes_)
        codes = labels.map_partitions(lambda s: s.map(dict(zip(encoder.classes_, range(len(encoder.classes_))))),
                                      meta=(self.label, "int64"))
        frame = client.persist(frame[features].assign(_code=codes))  # X and y cut from one frame: aligned
        model = dxgb.DaskXGBClassifier(**self._xgb_params(), device=self.device, random_state=self.random_state)
        model.client = client
        with client.as_current():  # xgboost.dask looks up the current client even when given one
            model.fit(frame[features], frame["_code"])
        self.booster_ = model.get_booster()
        self.classes_ = encoder.classes_
        self.feature_names_in_ = np.asarray(features, dtype=object)
        self.n_features_in_ = len(features)
        self.local_model_ = self.to_local()  # built once: predict ships it to the workers
        return self

    def predict_proba(self, X):
        """Probabilities: a lazy dask array for dask input (each partition predicted where it lies),
        else a numpy array."""
        check_is_fitted(self, "booster_")
        local = self.local_model_
        if not is_dask_collection(X):
            return local.predict_proba(X)
        import dask
        import pandas as pd

        meta = pd.DataFrame({j: pd.Series([], dtype="float64") for j in range(len(self.classes_))})
        proba = X[list(self.feature_names_in_)].map_partitions(_proba_part, dask.delayed(local, pure=True), meta=meta)
        return proba.to_dask_array()

    def predict(self, X):
        """Class labels: a lazy dask Series for dask input, else a numpy array."""
        check_is_fitted(self, "booster_")
        local = self.local_model_
        if not is_dask_collection(X):
            return local.predict(X)
        import dask
        import pandas as pd

        meta = pd.Series([], dtype=object)
        return X[list(self.feature_names_in_)].map_partitions(_predict_part, dask.delayed(local, pure=True), meta=meta)

    def to_local(self):
        """The trained trees as a new in-memory :class:`LabelXGBClassifier` (for saving)."""
        check_is_fitted(self, "booster_")
        local = LabelXGBClassifier(**self._xgb_params(), random_state=self.random_state)
        local.load_model(bytearray(self.booster_.save_raw("json")))
        local.label_encoder_ = LabelEncoder().fit(self.classes_)
        return local


def _predict_part(part, model):
    import pandas as pd

    return pd.Series(model.predict(part), index=part.index, dtype=object)


def _proba_part(part, model):
    import pandas as pd

    return pd.DataFrame(model.predict_proba(part), index=part.index)

