"""Feature scaling steps whose output is float64, so that every hybridtl classifier gives float64 probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import Normalizer, StandardScaler

__all__ = ["Float64Normalizer", "Float64Scaler"]


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

    It takes scikit-learn's own parameters for this step.

    Examples
    --------
    >>> import numpy as np
    >>> Float64Normalizer().fit_transform(np.full((1, 4), 3, np.float32))
    array([[0.5, 0.5, 0.5, 0.5]])
    """


class Float64Scaler(_Float64Output, StandardScaler):
    """``StandardScaler`` whose output is float64: the heads' first step before
    :class:`Float64Normalizer` replaced it, kept so that saved models still load.

    It takes scikit-learn's own parameters for this step.

    Examples
    --------
    >>> import numpy as np
    >>> Float64Scaler().fit_transform(np.ones((2, 2), np.float32)).dtype
    dtype('float64')
    """

