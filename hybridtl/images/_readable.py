"""Unreadable image files: found once, named in one warning, and left out or given NaN rows."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..core import MIN_IMAGE_SIZE, ON_ERROR, Options, check_param
from ._decoded import decoded_or_unreadable
from ._decoding import as_float
from ._items import load_item
from ._sets import ImageList, as_image_set
from ._workers import each_item

__all__ = ["SkippedImagesWarning", "decoded_readable_part", "display_image", "find_unreadable", "probe_side",
           "readable_part", "rows_for_readable", "warn_skipped"]


class SkippedImagesWarning(UserWarning):
    """Some images could not be read and were skipped (``on_error="skip"``).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from hybridtl.features import CNNFeatureExtractor
    >>> ext = CNNFeatureExtractor(weights=None, image_size=32, device="cpu", on_error="skip").fit()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     features = ext.transform(["no/such/photo.jpg"])
    >>> caught[0].category.__name__, bool(np.isnan(features).all())
    ('SkippedImagesWarning', True)
    """


class _ProbeDataset(torch.utils.data.Dataset):
    """Decodes each item once and returns the error message, or "" when it reads."""

    def __init__(self, images, min_side=None):
        self.images, self.min_side = images, min_side

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        try:
            load_item(self.images.items[index], self.images.positions[index], self.min_side)
            return ""
        except (ValueError, TypeError) as exc:
            return str(exc)


def find_unreadable(X, num_workers=0, min_side=None):
    """The images of ``X`` that cannot be decoded: a list of (position, item, message).

    Files and PIL images are decoded once each (in ``num_workers`` DataLoader
    workers); arrays and tensors were already checked by :func:`as_image_set`.

    Parameters
    ----------
    X : images
        Any form :func:`as_image_set` accepts.
    num_workers : int or "auto", default=0
    min_side : int, optional
        Decode files as small as this on their shorter side, as ``decode="fast"``
        reads them (a damaged file fails either way); None decodes every pixel.

    Returns
    -------
    list of (int, object, str)
        Position, item and message of each image that cannot be read.

    Examples
    --------
    >>> find_unreadable(["no/such/file.png"])[0][2]
    'image 0 (no/such/file.png): file not found'
    """
    images = as_image_set(X, on_error="skip")
    if not isinstance(images, ImageList):
        return []
    probed = [i for i, item in enumerate(images.items) if not isinstance(item, (np.ndarray, torch.Tensor))]
    if not probed:
        return []
    messages = each_item(_ProbeDataset(images.subset(probed), min_side), num_workers, len(probed))
    return [(i, images.items[i], message) for i, message in zip(probed, messages) if message]


def probe_side(decode):
    """The shorter side a readability probe decodes files at: as small as ``decode="fast"`` may (a damaged
    file fails at any scale: the decoder still reads the whole stream), every pixel for ``"exact"``."""
    return MIN_IMAGE_SIZE if decode == "fast" else None


def warn_skipped(bad, total, where="images"):
    """One warning naming how many images were skipped and the first few."""
    if bad:
        names = "; ".join(message for _, _, message in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        warnings.warn(f"skipped {len(bad)} of {total} {where} that could not be read: {names}{more}",
                      SkippedImagesWarning, stacklevel=3)


def readable_part(images, on_error, num_workers=0, min_side=None):
    """(positions that read, unreadable list) of an image set; with "raise" nothing is probed."""
    everything = np.arange(len(images))
    if check_param("on_error", on_error, [Options(ON_ERROR)]) == "raise":
        return everything, []
    bad = find_unreadable(images, num_workers, min_side)
    return np.setdiff1d(everything, [i for i, _, _ in bad]), bad


def decoded_readable_part(images, preprocess, num_workers="auto", progress=False):
    """:func:`readable_part` with ``on_error="skip"`` for a fit that keeps its files decoded anyway
    (:func:`hybridtl.images.decoded_once`): each file is decoded once, into the store, and that one decoding
    is also its readability probe; ``(positions that read, unreadable list, the image set decoded)``."""
    decoded, bad = decoded_or_unreadable(images, preprocess, num_workers, progress)
    if isinstance(decoded, ImageList):  # missing files and PIL images are not decoded into the store
        done = {i for i, _, _ in bad}
        rest = [i for i, item in enumerate(decoded.items)
                if i not in done and not isinstance(item, (np.ndarray, torch.Tensor))]
        if rest:
            found = find_unreadable(decoded.subset(rest), num_workers, preprocess.min_side)
            bad = sorted(bad + [(rest[i], item, message) for i, item, message in found], key=lambda row: row[0])
    return np.setdiff1d(np.arange(len(images)), [i for i, _, _ in bad]), bad, decoded


def rows_for_readable(images, on_error, num_workers, width, compute, dtype, min_side=None):
    """``compute(image set)`` row by image; with ``on_error="skip"`` unreadable images get NaN rows.

    The one place that probes, warns and fills, for transform and predict_proba alike.
    """
    good, bad = readable_part(images, on_error, num_workers, min_side)
    if not bad:
        return compute(images)
    warn_skipped(bad, len(images))
    out = np.full((len(images), width), np.nan, dtype=dtype)
    if len(good):
        out[good] = compute(images.subset(good))
    return out


def display_image(images, index):
    """Image ``index`` of an image set as a float (h, w, 3) array in [0, 1] for plotting; None if unreadable."""
    try:
        return as_float(load_item(images.raw(index), index)).permute(1, 2, 0).numpy()
    except (ValueError, TypeError):
        return None

