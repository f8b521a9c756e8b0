"""Image sets: from whatever images a user holds to normalised batches of tensors.

Accepted input (``X`` everywhere in hybridtl):

* a numpy array ``(n, h, w)`` (gray) or ``(n, h, w, c)`` with ``c`` in 1, 3, 4;
* a torch tensor ``(n, c, h, w)`` or ``(n, h, w)``;
* a list (or tuple, or 1-d object array, or pandas Series) whose items are
  arrays ``(h, w)`` / ``(h, w, c)``, tensors ``(c, h, w)``, PIL images, or image
  file paths (``str`` / ``pathlib.Path``); items may differ in size.

Pixel values: unsigned or signed integers in [0, 255], floats in [0, 1]. Gray
becomes 3 channels, RGBA becomes RGB (alpha dropped). Every image is resized so
that its shorter side is ``size / crop_pct``, centre-cropped to ``size`` and
normalised by the backbone's mean and std; 8-bit images stay 8-bit until that
last step.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import torch

from ..core import ON_ERROR, Options, check_param
from ._decoding import as_float
from ._items import ACCEPTED, array_item, check_values, dense_to_device, tensor_item
from ._workers import decoding, in_threads

__all__ = ["DenseImages", "ImageList", "as_image_set"]


class _ItemDataset(torch.utils.data.Dataset):
    """One image per item, decoded as ``preprocess`` says and geometrically transformed (in threads or workers).

    With ``targets``, items are (image, target) pairs.
    """

    def __init__(self, items, preprocess, transform, targets=None, positions=None):
        self.items, self.preprocess, self.transform = items, preprocess, transform
        self.targets, self.positions = targets, positions

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        position = index if self.positions is None else self.positions[index]  # as the user numbered it
        # contiguous here, in the decoding thread or worker, not in the caller's stack of the batch
        image = self.transform(self.preprocess.load(self.items[index], position)).contiguous()
        return image if self.targets is None else (image, self.targets[index])


def _stack(images):
    """One batch of equal-sized pixels; a batch that mixes 8-bit and float images is stacked as float."""
    if len({image.dtype for image in images}) > 1:
        images = [as_float(image) for image in images]
    return torch.stack(list(images))


def _collate(samples):
    if isinstance(samples[0], tuple):
        images, targets = zip(*samples)
        return _stack(images), torch.stack(list(targets))
    return _stack(samples)


def _drop_single(batches):
    """Skip a last batch of one image: BatchNorm cannot train on it."""
    for inputs, targets in batches:
        if len(targets) > 1:
            yield inputs, targets


class DenseImages:
    """Equal-sized images held in one array: batches are sliced and transformed whole."""

    def __init__(self, array):
        self.array = array  # numpy (n, h, w, c) any dtype accepted by _check_values

    def __len__(self):
        return len(self.array)

    def subset(self, indices):
        """The images at ``indices`` (a slice gives a view, no copy)."""
        return DenseImages(self.array[indices])

    def raw(self, index):
        return self.array[index]

    def train_batches(self, preprocess, targets, batch_size, device, generator, augment, num_workers=0):
        """Shuffled (inputs, targets) batches; augmentation is drawn per image."""
        return _drop_single(self._train_batches(preprocess, targets, batch_size, device, generator, augment))

    def _train_batches(self, preprocess, targets, batch_size, device, generator, augment):
        order = torch.randperm(len(self.array), generator=generator).numpy()
        targets = torch.as_tensor(targets)
        augmenter = preprocess.augmenter(augment) if augment else None
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            chw = preprocess.working(dense_to_device(self.array[index], device))
            inputs = torch.stack([augmenter(im) for im in chw]) if augment else preprocess.resize_crop(chw)
            yield preprocess.normalize(inputs), targets[index]

    def batches(self, preprocess, batch_size, device, num_workers=0):
        """Normalised (n, 3, size, size) batches in order, preprocessed whole on ``device``."""
        for start in range(0, len(self.array), batch_size):
            chw = preprocess.working(dense_to_device(self.array[start : start + batch_size], device))
            yield preprocess.normalize(preprocess.resize_crop(chw))


class ImageList:
    """Images of any size and kind, decoded one by one in a DataLoader.

    ``positions`` are the items' indices in the user's input, for error messages.
    """

    def __init__(self, items, positions=None):
        self.items = items
        self.positions = np.arange(len(items)) if positions is None else positions

    def __len__(self):
        return len(self.items)

    def subset(self, indices):
        """The images at ``indices`` (an index array or a slice)."""
        indices = np.arange(len(self.items))[indices]
        return ImageList([self.items[i] for i in indices], self.positions[indices])

    def raw(self, index):
        return self.items[index]

    def n_files(self):
        """How many items are files to decode (what workers are for)."""
        return sum(isinstance(item, (str, os.PathLike)) for item in self.items)

    def _batched(self, dataset, batch_size, device, num_workers, generator=None):
        """Batches of ``dataset`` in order (shuffled by ``generator``): decoded in threads for "auto" and no
        generator, else in ``num_workers`` DataLoader processes (see :mod:`hybridtl.images._workers`)."""
        processes, threads = decoding(num_workers, self.n_files())
        if threads and generator is None:
            samples = in_threads(dataset.__getitem__, range(len(dataset)), threads, ahead=2 * batch_size)
            while batch := list(itertools.islice(samples, batch_size)):
                yield _collate(batch)
            return
        yield from torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=generator is not None,
            generator=generator,
            num_workers=processes,
            collate_fn=_collate,
            pin_memory=device.type == "cuda",
        )

    def train_batches(self, preprocess, targets, batch_size, device, generator, augment, num_workers=0):
        """Shuffled (inputs, targets) batches, decoded and augmented in DataLoader workers."""
        transform = preprocess.augmenter(augment) if augment else preprocess.resize_crop
        dataset = _ItemDataset(self.items, preprocess, transform, torch.as_tensor(targets), self.positions)
        loader = self._batched(dataset, batch_size, device, num_workers, generator)
        return _drop_single((preprocess.normalize(x.to(device, non_blocking=True)), t) for x, t in loader)

    def batches(self, preprocess, batch_size, device, num_workers=0):
        """Normalised (n, 3, size, size) batches in order."""
        dataset = _ItemDataset(self.items, preprocess, preprocess.resize_crop, positions=self.positions)
        for batch in self._batched(dataset, batch_size, device, num_workers):
            yield preprocess.normalize(batch.to(device, non_blocking=True))


def _dense_from_array(X):
    check_values(X, "X")
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4 or X.shape[-1] not in (1, 3, 4):
        hint = " (flat pixel rows? reshape them, e.g. X.reshape(-1, 8, 8))" if X.ndim == 2 else ""
        raise ValueError(f"X is an array of shape {X.shape}{hint}; {ACCEPTED}")
    return DenseImages(X)


def _dense_from_tensor(X):
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4 or X.shape[1] not in (1, 3, 4):
        raise ValueError(f"X is a tensor of shape {tuple(X.shape)}; tensors must be (n, c, h, w) with c in 1, "
                         "3, 4 or (n, h, w)")
    return _dense_from_array(X.detach().cpu().numpy().transpose(0, 2, 3, 1))


def _check_items(items, on_error="raise"):
    from PIL import Image

    for index, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            if on_error == "raise" and not os.path.isfile(item):
                raise ValueError(f"image {index} ({item}): file not found")
        elif isinstance(item, np.ndarray):
            array_item(item, index)
        elif isinstance(item, torch.Tensor):
            tensor_item(item, index)
        elif not isinstance(item, Image.Image):
            raise TypeError(f"image {index} has type {type(item).__name__}; {ACCEPTED}")


def as_image_set(X, on_error="raise"):
    """Validate ``X`` and wrap it as an image set with ``len``, ``subset``, ``batches`` and ``train_batches``.

    With ``on_error="skip"`` missing files are let through, for
    :func:`find_unreadable` to report with the other unreadable ones.

    Parameters
    ----------
    X : images
        A numpy array ``(n, h, w)`` or ``(n, h, w, c)``, a torch tensor ``(n, c, h, w)``, or a list (tuple,
        1-d object array, pandas Series, one-column DataFrame) of arrays, tensors, PIL images or paths.
    on_error : {"raise", "skip"}, default="raise"

    Returns
    -------
    DenseImages or ImageList
        Equal-sized arrays as one dense set, anything else as a list decoded item by item.

    Raises
    ------
    ValueError
        Empty input, wrong number of dimensions or channels, NaN/inf, values
        out of range, a missing file. Unreadable files fail when decoded, with
        the item's index and path.
    TypeError
        Objects that are not images.

    Examples
    --------
    >>> len(as_image_set(np.zeros((5, 8, 8), dtype=np.uint8)))
    5
    >>> as_image_set(np.zeros((5, 8, 8, 2)))
    Traceback (most recent call last):
    ...
    ValueError: X is an array of shape (5, 8, 8, 2); accepted: ...
    """
    if isinstance(X, (DenseImages, ImageList)):
        return X
    if hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"X is a {type(X).__name__}: sparse input is not supported; {ACCEPTED}")
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:
        if X.shape[1] != 1:
            raise TypeError(f"X is a DataFrame with {X.shape[1]} columns {list(X.columns)[:5]}; pass one column "
                            "of images or paths (e.g. X['path']); " + ACCEPTED)
        X = X.iloc[:, 0]  # a one-column DataFrame of paths
    if hasattr(X, "iloc"):
        X = list(X)
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(f"X is a single path {str(X)!r}; pass a list of image paths, or use "
                        "load_image_folder(path) for a folder")
    if isinstance(X, torch.Tensor):
        return _dense_from_tensor(X)
    if isinstance(X, np.ndarray) and X.dtype.kind not in "OUS":
        return _dense_from_array(X)
    if isinstance(X, (list, tuple, np.ndarray)):
        items = list(X)
        if not items:
            raise ValueError(f"X is empty; {ACCEPTED}")
        _check_items(items, check_param("on_error", on_error, [Options(ON_ERROR)]))
        return ImageList(items)
    raise TypeError(f"X has type {type(X).__name__}; {ACCEPTED}")
