"""Decode once per fit: image files decoded once into the store (:mod:`._store`), shared by every pass.

Fine-tuning reads its training images once per epoch, and the auto search and
the benchmark fit several models on the same files; decoding a 12-MP photo
costs more than the network's pass over it. :func:`decoded_once` therefore
decodes each file once (in threads, see :mod:`._workers`), resizes it to the shorter side
the preprocessing resizes to (``size / crop_pct``: a little above the input
size, what the random crops draw from), and keeps it in the process's store:
8-bit files as uint8, in memory up to ``MEMORY_BYTES`` (least recently used
first out), beyond that as ``.npy`` files in a temporary folder removed when
the process ends. Evaluation resizes a stored image to the size it already has,
so its features equal those of the file read directly.
"""

from __future__ import annotations

import torch

from ..core import progress_bar
from ._sets import ImageList
from ._store import decoded_store, file_key
from ._workers import each_item

__all__ = ["decoded_once", "decoded_or_unreadable"]


class _Decode(torch.utils.data.Dataset):
    """One file decoded as ``preprocess`` reads it and resized to its resize side, as (h, w, c) numpy pixels."""

    def __init__(self, images, preprocess):
        self.images, self.preprocess = images, preprocess

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        pixels = self.preprocess.load(self.images.items[index], self.images.positions[index])
        return self.preprocess.resize(pixels).permute(1, 2, 0).numpy()


class _DecodeOrSay(_Decode):
    """As :class:`_Decode`, but an unreadable file gives its message (a ``str``) instead of raising."""

    def __getitem__(self, index):
        try:
            return super().__getitem__(index)
        except (ValueError, TypeError) as exc:  # ImageReadError and the item checks' errors
            return str(exc)


def decoded_once(images, preprocess, num_workers="auto", progress=False, store=None):
    """``images`` with every file replaced by its decoded, resized pixels from the store (decoded when missing).

    Parameters
    ----------
    images : DenseImages or ImageList
        Only an :class:`ImageList`'s file paths change; anything else is returned as it is.
    preprocess : Preprocess
        How files are decoded (``decode``) and the shorter side they are kept at (``resize_side``).
    num_workers : int or "auto", default="auto"
        DataLoader workers that decode the missing files.
    progress : bool, default=False
        A progress bar counting the images decoded.
    store : DecodedStore, optional
        Default: this process's.

    Returns
    -------
    DenseImages or ImageList
    """
    return _decoded(images, preprocess, num_workers, progress, store, _Decode)[0]


def decoded_or_unreadable(images, preprocess, num_workers="auto", progress=False, store=None):
    """:func:`decoded_once` that notes unreadable files instead of raising: each file is decoded once, whether
    it is kept or found unreadable (``on_error="skip"`` needs no separate probe).

    Returns
    -------
    images : DenseImages or ImageList
        As :func:`decoded_once` gives them; an unreadable file is left as its path.
    unreadable : list of (int, object, str)
        Index in ``images``, item and message of each file that could not be read.
    """
    return _decoded(images, preprocess, num_workers, progress, store, _DecodeOrSay)


def _decoded(images, preprocess, num_workers, progress, store, dataset):
    if not isinstance(images, ImageList):
        return images, []
    store = decoded_store() if store is None else store
    keys = [file_key(item, preprocess) for item in images.items]
    missing = [i for i, key in enumerate(keys) if key is not None and key not in store]
    if not missing and not any(keys):
        return images, []
    unreadable = []
    if missing:
        decoded = each_item(dataset(images.subset(missing), preprocess), num_workers, len(missing))
        with progress_bar(total=len(missing), progress=progress, unit="img", desc="decoding") as bar:
            for i, pixels in zip(missing, decoded):
                if isinstance(pixels, str):
                    unreadable.append((i, images.items[i], pixels))
                else:
                    store.put(keys[i], pixels)
                bar.update(1)
    items = [store.get(key) if key is not None and key in store else item for item, key in zip(images.items, keys)]
    return ImageList(items, images.positions), unreadable
