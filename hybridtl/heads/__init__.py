"""Heads: classical classifiers on CNN features (logistic regression, an RBF SVM, XGBoost in memory or on a
dask cluster), put after the extractor in a scikit-learn Pipeline."""

from ..core import HEADS
from ._dask_xgboost import DaskLabelXGBClassifier
from ._pipeline import make_head, make_hybrid_pipeline
from ._scaling import Float64Normalizer, Float64Scaler
from ._xgboost import XGB_PARAMS, LabelXGBClassifier

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._dask_xgboost import feature_columns as feature_columns

for _public in (DaskLabelXGBClassifier, Float64Normalizer, Float64Scaler, LabelXGBClassifier):
    _public.__module__ = __name__  # saved files and pickles name the public home, not the private module
del _public

__all__ = ["HEADS", "XGB_PARAMS", "DaskLabelXGBClassifier", "Float64Normalizer", "Float64Scaler",
           "LabelXGBClassifier", "make_head", "make_hybrid_pipeline"]
