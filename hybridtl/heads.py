"""Classical heads on CNN features, assembled into scikit-learn Pipelines."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, Normalizer, StandardScaler
from sklearn.svm import SVC
from xgboost import XGBClassifier

from .devices import resolve_device
from .features import CNNFeatureExtractor

__all__ = ["HEADS", "LabelXGBClassifier", "make_head", "make_hybrid_pipeline"]

HEADS = ("logreg", "svm", "xgboost")


class LabelXGBClassifier(XGBClassifier):
    """``xgboost.XGBClassifier`` that accepts any class labels (strings too).

    XGBoost wants labels ``0 .. n_classes - 1``; this encodes them in ``fit``
    and decodes them in ``predict``, so it drops into a Pipeline like any
    scikit-learn classifier. Every XGBoost parameter works unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
    >>> clf = LabelXGBClassifier(n_estimators=5).fit(X, ["cat"] * 5 + ["dog"] * 5)
    >>> clf.predict(X[[0, -1]]).tolist()
    ['cat', 'dog']
    """

    def fit(self, X, y, **fit_params):
        encoder = LabelEncoder().fit(y)
        self.__dict__.pop("label_encoder_", None)  # XGBoost checks its own integer classes_ during fit
        super().fit(X, encoder.transform(y), **fit_params)
        self.label_encoder_ = encoder
        return self

    @property
    def classes_(self):
        if "label_encoder_" in self.__dict__:
            return self.label_encoder_.classes_
        return super().classes_

    def predict(self, X, **kwargs):
        return self.label_encoder_.inverse_transform(super().predict(X, **kwargs).astype(int))

    def predict_proba(self, X, **kwargs):
        """Probabilities as float64, like every other hybridtl classifier."""
        return np.asarray(super().predict_proba(X, **kwargs), dtype=np.float64)


class _Float64Output:
    """Mixin for a scikit-learn transformer: its output is float64.

    The extractor gives float32 features and scikit-learn heads keep float32,
    so without this a hybrid Pipeline's probabilities would be float32 while
    :class:`~hybridtl.finetune.FineTuneClassifier`'s are float64.
    """

    def transform(self, X, copy=None):
        return np.asarray(super().transform(X, copy=copy), dtype=np.float64)


class Float64Normalizer(_Float64Output, Normalizer):
    """``Normalizer`` (each row scaled to unit L2 norm) whose output is float64.

    Examples
    --------
    >>> Float64Normalizer().fit_transform(np.full((1, 4), 3, np.float32))
    array([[0.5, 0.5, 0.5, 0.5]])
    """


class Float64Scaler(_Float64Output, StandardScaler):
    """``StandardScaler`` whose output is float64: the heads' first step before
    :class:`Float64Normalizer` replaced it, kept so that saved models still load.

    Examples
    --------
    >>> Float64Scaler().fit_transform(np.ones((2, 2), np.float32)).dtype
    dtype('float64')
    """


def make_head(head="logreg", device="cpu", random_state=0, distributed=False):
    """The list of Pipeline steps that follow the extractor for a named head.

    Logistic regression and the RBF SVM first scale each image's features to
    unit L2 norm (step ``"scale"``), then use C=10; XGBoost samples 30 % of the
    features per split, 400 trees of depth 3. Chosen by measurement
    (``benchmarks/heads.py``: 4 tasks, 3 seeds): standardising each of the 1280
    features, the earlier default, cost the RBF SVM 0.02-0.11 and logistic
    regression up to 0.04, since it blows up the many near-silent features;
    XGBoost's per-split feature sampling gained up to 0.07.
    ``distributed=True`` gives XGBoost trained across a dask cluster
    (:class:`~hybridtl.dask_heads.DaskLabelXGBClassifier`), for features that
    live there; logistic regression and SVM fit in memory on the features
    (or a sample of them) and predict on the cluster with
    :func:`~hybridtl.dask_heads.predict_partitions`.
    """
    if distributed:
        if head != "xgboost":
            raise ValueError(f"distributed=True is for head='xgboost'; fit {head!r} in memory on the features and "
                             "predict partition by partition with hybridtl.dask_heads.predict_partitions")
        from .dask_heads import DaskLabelXGBClassifier

        xgb_device = "cuda" if resolve_device(device).type == "cuda" else "cpu"
        return [("head", DaskLabelXGBClassifier(device=xgb_device, random_state=random_state))]
    if head == "logreg":
        return [("scale", Float64Normalizer()), ("head", LogisticRegression(C=10.0, max_iter=2000))]
    if head == "svm":
        # Probabilities by calibration, as scikit-learn recommends instead of SVC(probability=True).
        svm = CalibratedClassifierCV(SVC(C=10.0, random_state=random_state), ensemble=False)
        return [("scale", Float64Normalizer()), ("head", svm)]
    if head == "xgboost":
        xgb_device = "cuda" if resolve_device(device).type == "cuda" else "cpu"
        clf = LabelXGBClassifier(n_estimators=400, learning_rate=0.1, max_depth=3, colsample_bynode=0.3,
                                 tree_method="hist", device=xgb_device, random_state=random_state, n_jobs=None)
        return [("head", clf)]
    raise ValueError(f"unknown head {head!r}; accepted: {', '.join(HEADS)}")


def make_hybrid_pipeline(head="logreg", random_state=0, **extractor_params):
    """A Pipeline of a frozen CNN feature extractor and a classical head.

    Parameters
    ----------
    head : {"logreg", "svm", "xgboost"}, default="logreg"
        The classifier on the features. XGBoost runs on the GPU when the
        extractor does.
    random_state : int, default=0
        Seed of the heads that use one.
    **extractor_params
        Passed to :class:`~hybridtl.features.CNNFeatureExtractor`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``features``, then ``scale`` (logreg, svm) and ``head``; tune the
        head with ``GridSearchCV`` over e.g. ``head__C``.

    Examples
    --------
    >>> pipe = make_hybrid_pipeline("svm", image_size=64, device="cpu")
    >>> [name for name, _ in pipe.steps]
    ['features', 'scale', 'head']
    """
    extractor = CNNFeatureExtractor(**extractor_params)
    return Pipeline([("features", extractor)] + make_head(head, extractor.device, random_state))
