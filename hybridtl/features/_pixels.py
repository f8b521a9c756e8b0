"""Raw pixels as features: the no-transfer baseline."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..core import DECODES, Interval, Options, image_size_constraint, validate_params
from ..images import Preprocess, as_image_set

__all__ = ["PixelFeatures"]


class PixelFeatures(TransformerMixin, BaseEstimator):
    """Images resized to ``image_size`` x ``image_size`` gray pixels, flattened, in [0, 1].


    Parameters
    ----------
    image_size : int, default=16
        Side of the square the images are resized to (at least 16).
    batch_size : int, default=256
    decode : {"fast", "exact"}, default="fast"
        As for :class:`CNNFeatureExtractor`: a baseline of a few hundred pixels
        never needs every pixel of a phone photo. Files saved before it
        existed load with ``"exact"`` and give what they gave.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((3, 8, 8), dtype=np.uint8)
    >>> PixelFeatures(image_size=16).fit_transform(X).shape
    (3, 256)
    """

    def __init__(self, image_size=16, batch_size=256, decode="fast"):
        self.image_size = image_size
        self.batch_size = batch_size
        self.decode = decode

    _parameter_constraints = {
        "image_size": image_size_constraint(allow_none=False),
        "batch_size": [Interval("integer", 1, None)],
        "decode": [Options(DECODES)],
    }

    def __setstate__(self, state):
        super().__setstate__({"decode": "exact", **state})  # saved before decode existed: read as it was fitted

    def fit(self, X=None, y=None):
        """Check the parameters and ``X``; nothing is learned.

        Returns
        -------
        self
        """
        validate_params(self.get_params(deep=False), self._parameter_constraints)
        if X is not None:
            as_image_set(X)
        self.n_features_out_ = int(self.image_size) ** 2
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_out_")
        preprocess = Preprocess(int(self.image_size), 1.0, (0.0,) * 3, (1.0,) * 3, "bilinear", self.decode)
        batches = as_image_set(X).batches(preprocess, int(self.batch_size), torch.device("cpu"))
        return torch.cat([b.mean(1).flatten(1) for b in batches]).numpy().astype(np.float32)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_out_")
        return np.asarray([f"pixel_{i}" for i in range(self.n_features_out_)], dtype=object)
