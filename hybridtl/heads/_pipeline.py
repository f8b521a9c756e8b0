"""Classical heads on CNN features, assembled into scikit-learn Pipelines."""

from __future__ import annotations

from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from ..core import HEADS, Options, check_param
from ..devices import resolve_device
from ..features import CNNFeatureExtractor
from ._scaling import Float64Normalizer
from ._xgboost import XGB_PARAMS, LabelXGBClassifier

__all__ = ["make_head", "make_hybrid_pipeline"]


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
    (:class:`DaskLabelXGBClassifier`), for features that live there; logistic
    regression and SVM fit in memory on the features (or a sample of them) and
    predict on the cluster with :func:`hybridtl.scaleout.predict_partitions`.

    Parameters
    ----------
    head : {"logreg", "svm", "xgboost"}, default="logreg"
    device : {"auto", "cpu", "cuda"}, default="cpu"
        Where XGBoost trains.
    random_state : int, default=0
    distributed : bool, default=False

    Returns
    -------
    list of (str, estimator)
        The steps: ``scale`` then ``head`` (logistic regression, SVM), or ``head`` (XGBoost).

    Examples
    --------
    >>> [name for name, _ in make_head("svm")]
    ['scale', 'head']
    """
    check_param("head", head, [Options(HEADS)])
    if distributed:
        if head != "xgboost":
            raise ValueError(f"distributed=True is for head='xgboost'; fit {head!r} in memory on the features and "
                             "predict partition by partition with hybridtl.scaleout.predict_partitions")
        from ._dask_xgboost import DaskLabelXGBClassifier

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
        clf = LabelXGBClassifier(**XGB_PARAMS, device=xgb_device, random_state=random_state, n_jobs=None)
        return [("head", clf)]


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
        Passed to :class:`hybridtl.features.CNNFeatureExtractor`.

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

