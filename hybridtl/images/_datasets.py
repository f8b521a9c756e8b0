"""Small real image data sets that ship with installed packages (no download)."""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits_images"]


def load_digits_images(n_classes=10):
    """scikit-learn's 1,797 real handwritten digits as 8x8 uint8 images.

    The 0-16 grey levels are rescaled to 0-255, so they feed any backbone;
    the extractor resizes them to its input size.

    Parameters
    ----------
    n_classes : int, default=10
        The digits 0 to ``n_classes - 1``.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n, 8, 8)
    labels : numpy.ndarray of int

    Examples
    --------
    >>> X, y = load_digits_images()
    >>> X.shape, X.dtype.name, int(X.max())
    ((1797, 8, 8), 'uint8', 255)
    """
    from sklearn.datasets import load_digits

    digits = load_digits(n_class=n_classes)
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target
