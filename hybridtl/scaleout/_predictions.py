"""Any fitted model predicting partition by partition on a dask cluster ("parallel post-fit").

A model fitted in memory (a logistic regression or SVM on the features, a whole
hybrid Pipeline, or a ``FineTuneClassifier`` on image paths) is sent to each
worker once and predicts each partition where it lies, into a lazy dask
DataFrame or a resumable Parquet dataset.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..core import ON_ERROR, Options, check_param, input_frame, is_dask_collection, run_partitions
from ..evaluation import prediction_table
from ..features import CNNFeatureExtractor, readable_paths
from ..finetune import FineTuneClassifier
from ..heads import feature_columns

__all__ = ["predict_features_partition", "predict_images_partition", "predict_partitions"]


def _takes_images(model):
    """Whether ``model`` reads images (a FineTuneClassifier, or a Pipeline starting with the extractor)."""
    first = model.steps[0][1] if hasattr(model, "steps") else model
    return isinstance(first, (CNNFeatureExtractor, FineTuneClassifier))


def _min_side(model):
    """The shorter side the model's own reading decodes files to at least (None: every pixel)."""
    first = model.steps[0][1] if hasattr(model, "steps") else model
    preprocess = getattr(first, "preprocess_", None)
    return preprocess.min_side if preprocess is not None else None


def _proba_frame(part, proba, classes, errors=None):
    paths = part["path"].astype(str).to_numpy() if "path" in part.columns else part.index
    return prediction_table(paths, proba, classes, errors, index=part.index, as_text=True)


def predict_images_partition(part, payload):
    """One partition of image paths -> path, predicted, proba_<class>..., error."""
    model, on_error = payload
    paths = part["path"].astype(str).tolist()
    items, positions, errors = readable_paths(paths, on_error, _min_side(model))
    proba = np.full((len(paths), len(model.classes_)), np.nan)
    if items:
        proba[positions] = model.predict_proba(items)
    return _proba_frame(part, proba, model.classes_, [errors.get(i, "") for i in range(len(paths))])


def predict_features_partition(part, payload):
    """One partition of features (path, feature columns...) -> path, predicted, proba_<class>..., error."""
    model, columns = payload
    return _proba_frame(part, model.predict_proba(part[columns]), model.classes_)


def predict_partitions(model, data, *, client=None, out=None, partition_size=1024, on_error="raise",
                       progress=True):
    """Predictions of a fitted classifier, partition by partition on a dask cluster.

    Parameters
    ----------
    model : fitted classifier
        A model that reads images (hybrid Pipeline, ``FineTuneClassifier``): ``data`` holds
        image paths. Any other (a head fitted on features): ``data`` holds the feature
        columns it was fitted on, e.g. ``dask.dataframe.read_parquet`` of
        :func:`~hybridtl.scaleout.extract_features`'s output.
    data : dask DataFrame, manifest path, or paths in memory
    client, out, partition_size, progress : as for :func:`~hybridtl.scaleout.extract_features`
    on_error : {"raise", "skip"}, default="raise"
        For images: an unreadable file raises naming it, or gets no prediction and its message
        in the ``error`` column.

    Returns
    -------
    dask.dataframe.DataFrame
        ``path``, ``predicted``, ``proba_<class>`` per class, ``error``: lazy without ``out``,
        read back from the Parquet files with it.

    Examples
    --------
    >>> import dask.dataframe as dd, numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame(rng.normal(size=(30, 2)), columns=["f0", "f1"])
    >>> model = LogisticRegression().fit(table, table["f0"] > 0)
    >>> frame = predict_partitions(model, dd.from_pandas(table, npartitions=3), progress=False)
    >>> list(frame.columns), len(frame.compute())
    (['path', 'predicted', 'proba_False', 'proba_True', 'error'], 30)
    """
    check_is_fitted(model)
    check_param("on_error", on_error, [Options(ON_ERROR)])
    meta = prediction_table([], np.empty((0, len(model.classes_))), model.classes_, as_text=True)
    settings = {"kind": "predictions", "classes": [str(c) for c in model.classes_], "on_error": on_error}
    if _takes_images(model):
        frame = input_frame(data, partition_size)
        return run_partitions(frame, (model, on_error), predict_images_partition, meta=meta, client=client,
                              out=out, settings=settings, progress=progress, desc="predict")
    if not is_dask_collection(data):
        raise TypeError("a model fitted on features predicts a dask DataFrame of those features "
                        f"(e.g. dask.dataframe.read_parquet of extract_features' output), got {type(data).__name__}")
    names = getattr(model, "feature_names_in_", None)
    columns = list(names) if names is not None else feature_columns(data, "label")
    missing = set(columns) - set(data.columns)
    if missing:
        raise ValueError(f"data lacks {len(missing)} of the model's feature columns, e.g. {sorted(missing)[:3]}")
    return run_partitions(data, (model, columns), predict_features_partition, meta=meta, client=client, out=out,
                          settings=settings, progress=progress, desc="predict")

