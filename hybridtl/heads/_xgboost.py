"""XGBoost as a head: one parameter set, measured, for the in-memory and the dask head alike."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelEncoder
from xgboost import XGBClassifier

__all__ = ["XGB_PARAMS", "LabelXGBClassifier"]

# 400 trees of depth 3, 30 % of the features per split (benchmarks/heads.py: 4 tasks, 3 seeds; per-split
# feature sampling gained up to 0.07 over 200 trees of depth 4). Both heads take these.
XGB_PARAMS = {"n_estimators": 400, "learning_rate": 0.1, "max_depth": 3, "colsample_bynode": 0.3,
              "tree_method": "hist"}


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

