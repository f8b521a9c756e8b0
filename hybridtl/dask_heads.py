"""Heads at scale: XGBoost trained on a dask cluster, and any fitted model predicting partition by partition.

* :class:`DaskLabelXGBClassifier` trains ``xgboost.dask`` on features that live on the cluster
  (e.g. the Parquet dataset :func:`~hybridtl.dask_extraction.extract_features` wrote), with any
  class labels, strings too.
* :func:`predict_partitions` is the "parallel post-fit" pattern: a model fitted in memory (a
  logistic regression or SVM on the features, or a whole hybrid Pipeline, or a
  ``FineTuneClassifier`` on image paths) is sent to each worker once and predicts each partition
  where it lies, into a lazy dask DataFrame or a resumable Parquet dataset.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from .dask_extraction import _readable
from .partitions import _client, input_frame, is_dask_collection, run_partitions

__all__ = ["DaskLabelXGBClassifier", "predict_partitions"]

# columns of a feature dataset that are not features
_NOT_FEATURES = ("path", "label", "error")


def _feature_columns(frame, label):
    return [c for c in frame.columns if c not in _NOT_FEATURES and c != label]


class DaskLabelXGBClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost trained across a dask cluster (``xgboost.dask``), with any class labels.

    Parameters
    ----------
    n_estimators, learning_rate, max_depth : XGBoost's, defaults as the in-memory head's
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
    """

    def __init__(self, n_estimators=200, learning_rate=0.1, max_depth=4, label="label", device="cpu",
                 random_state=0, client=None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.label = label
        self.device = device
        self.random_state = random_state
        self.client = client

    def _get_client(self):
        client = _client(self.client)
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
        return frame, _feature_columns(frame, self.label)

    def fit(self, X, y=None):
        """Train on a dask DataFrame of features (and its label column, or ``y``)."""
        import xgboost.dask as dxgb

        client = self._get_client()
        frame, features = self._aligned(X, y)
        labels = frame[self.label]
        if client.compute(labels.isna().any()).result():
            raise ValueError(f"the {self.label!r} column has missing labels")
        found = client.compute(labels.map_partitions(lambda s: s.drop_duplicates())).result()  # no shuffle
        encoder = LabelEncoder().fit(found.to_numpy())
        if len(encoder.classes_) < 2:
            raise ValueError(f"y has a single class ({encoder.classes_[0]!r}); a classifier needs at least 2")
        codes = labels.map_partitions(lambda s: s.map(dict(zip(encoder.classes_, range(len(encoder.classes_))))),
                                      meta=(self.label, "int64"))
        frame = client.persist(frame[features].assign(_code=codes))  # X and y cut from one frame: aligned
        model = dxgb.DaskXGBClassifier(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                                       max_depth=self.max_depth, tree_method="hist", device=self.device,
                                       random_state=self.random_state)
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
        """The trained trees as a new in-memory :class:`~hybridtl.heads.LabelXGBClassifier` (for saving)."""
        from .heads import LabelXGBClassifier

        check_is_fitted(self, "booster_")
        local = LabelXGBClassifier(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                                   max_depth=self.max_depth, tree_method="hist", random_state=self.random_state)
        local.load_model(bytearray(self.booster_.save_raw("json")))
        local.label_encoder_ = LabelEncoder().fit(self.classes_)
        return local


def _predict_part(part, model):
    import pandas as pd

    return pd.Series(model.predict(part), index=part.index, dtype=object)


def _proba_part(part, model):
    import pandas as pd

    return pd.DataFrame(model.predict_proba(part), index=part.index)


# ---------------------------------------------------------------------------
# Partition-wise prediction
# ---------------------------------------------------------------------------


def _takes_images(model):
    """Whether ``model`` reads images (a FineTuneClassifier, or a Pipeline starting with the extractor)."""
    from .features import CNNFeatureExtractor
    from .finetune import FineTuneClassifier

    first = model.steps[0][1] if hasattr(model, "steps") else model
    return isinstance(first, (CNNFeatureExtractor, FineTuneClassifier))


def _proba_frame(part, proba, classes, errors=None):
    from .predictions import prediction_table

    paths = part["path"].astype(str).to_numpy() if "path" in part.columns else part.index
    return prediction_table(paths, proba, classes, errors, index=part.index, as_text=True)


def predict_images_partition(part, payload):
    """One partition of image paths -> path, predicted, proba_<class>..., error."""
    model, on_error = payload
    paths = part["path"].astype(str).tolist()
    items, positions, errors = _readable(paths, on_error)
    proba = np.full((len(paths), len(model.classes_)), np.nan)
    if items:
        proba[positions] = model.predict_proba(items)
    return _proba_frame(part, proba, model.classes_, [errors.get(i, "") for i in range(len(paths))])


def predict_features_partition(part, payload):
    """One partition of features (path, feature columns...) -> path, predicted, proba_<class>..., error."""
    model, columns = payload
    return _proba_frame(part, model.predict_proba(part[columns]), model.classes_)


def _prediction_meta(classes):
    import pandas as pd

    columns = {"path": pd.Series([], dtype=object), "predicted": pd.Series([], dtype=object)}
    columns.update({f"proba_{label}": pd.Series([], dtype="float64") for label in classes})
    columns["error"] = pd.Series([], dtype=object)
    return pd.DataFrame(columns)


def predict_partitions(model, data, *, client=None, out=None, partition_size=1024, on_error="raise",
                       progress=True):
    """Predictions of a fitted classifier, partition by partition on a dask cluster.

    Parameters
    ----------
    model : fitted classifier
        A model that reads images (hybrid Pipeline, ``FineTuneClassifier``): ``data`` holds
        image paths. Any other (a head fitted on features): ``data`` holds the feature
        columns it was fitted on, e.g. ``dask.dataframe.read_parquet`` of
        :func:`~hybridtl.dask_extraction.extract_features`'s output.
    data : dask DataFrame, manifest path, or paths in memory
    client, out, partition_size, progress : as for :func:`~hybridtl.dask_extraction.extract_features`
    on_error : {"raise", "skip"}, default="raise"
        For images: an unreadable file raises naming it, or gets no prediction and its message
        in the ``error`` column.

    Returns
    -------
    dask.dataframe.DataFrame
        ``path``, ``predicted``, ``proba_<class>`` per class, ``error``: lazy without ``out``,
        read back from the Parquet files with it.
    """
    check_is_fitted(model)
    meta = _prediction_meta(model.classes_)
    settings = {"kind": "predictions", "classes": [str(c) for c in model.classes_], "on_error": on_error}
    if _takes_images(model):
        frame = input_frame(data, partition_size)
        return run_partitions(frame, (model, on_error), predict_images_partition, meta=meta, client=client,
                              out=out, settings=settings, progress=progress, desc="predict")
    if not is_dask_collection(data):
        raise TypeError("a model fitted on features predicts a dask DataFrame of those features "
                        f"(e.g. dask.dataframe.read_parquet of extract_features' output), got {type(data).__name__}")
    names = getattr(model, "feature_names_in_", None)
    columns = list(names) if names is not None else _feature_columns(data, "label")
    missing = set(columns) - set(data.columns)
    if missing:
        raise ValueError(f"data lacks {len(missing)} of the model's feature columns, e.g. {sorted(missing)[:3]}")
    return run_partitions(data, (model, columns), predict_features_partition, meta=meta, client=client, out=out,
                          settings=settings, progress=progress, desc="predict")
