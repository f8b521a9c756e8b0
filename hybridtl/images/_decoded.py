"""Decode once per fit: image files kept as pixels at the size the preprocessing needs, shared by every pass.

Fine-tuning reads its training images once per epoch, and the auto search and
the benchmark fit several models on the same files; decoding a 12-MP photo
costs more than the network's pass over it. :func:`decoded_once` therefore
decodes each file once (in threads, see :mod:`._workers`), resizes it to the shorter side
the preprocessing resizes to (``size / crop_pct``: a little above the input
size, what the random crops draw from), and keeps it in one store per process:
8-bit files as uint8, in memory up to :data:`MEMORY_BYTES` (least recently used
first out), beyond that as ``.npy`` files in a temporary folder removed when
the process ends. A file is known by its path, size and modification time, so
an edited file is decoded again. Evaluation resizes a stored image to the size
it already has, so its features equal those of the file read directly.

No library keeps decoded images across fits keyed by file (torchvision's and
timm's datasets decode per access), hence this module.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import threading
from collections import OrderedDict

import numpy as np
import torch

from ..core import progress_bar
from ._sets import ImageList
from ._workers import each_item

__all__ = ["MEMORY_BYTES", "DecodedStore", "decoded_once", "decoded_or_unreadable", "decoded_store"]

# Decoded pixels kept in memory per process (HYBRIDTL_DECODED_MEMORY_MB overrides); the rest go to disk.
MEMORY_BYTES = int(float(os.environ.get("HYBRIDTL_DECODED_MEMORY_MB", 1024)) * 2**20)


class DecodedStore:
    """Pixels (h, w, c) by key: the most recently used in memory up to ``memory_bytes``, the rest on disk.

    Stored arrays are read-only; an entry moved to disk is replaced by a read-only memory map of its file.

    Examples
    --------
    >>> store = DecodedStore(memory_bytes=100)
    >>> first = store.put("a", np.zeros((5, 5, 3), np.uint8))   # 75 bytes: in memory
    >>> second = store.put("b", np.ones((5, 5, 3), np.uint8))   # "a" moves to disk
    >>> isinstance(store.get("a"), np.memmap), int(store.get("b").sum()), store.memory_used
    (True, 75, 75)
    """

    def __init__(self, memory_bytes=MEMORY_BYTES):
        self.memory_bytes = memory_bytes
        self.memory_used = 0
        self._memory = OrderedDict()
        self._disk = {}
        self._folder = None
        self._names = itertools.count()
        self._lock = threading.Lock()

    def __contains__(self, key):
        return key in self._memory or key in self._disk

    def get(self, key):
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            return self._disk.get(key)

    def put(self, key, pixels):
        """Keep ``pixels`` under ``key``; returns the stored (read-only) array."""
        pixels = np.array(pixels, copy=True)
        pixels.flags.writeable = False
        with self._lock:
            if pixels.nbytes > self.memory_bytes:
                self._disk[key] = self._to_disk(pixels)
                return self._disk[key]
            self._memory[key] = pixels
            self.memory_used += pixels.nbytes
            while self.memory_used > self.memory_bytes:
                old_key, old = self._memory.popitem(last=False)
                self.memory_used -= old.nbytes
                self._disk[old_key] = self._to_disk(old)
            return pixels

    def _to_disk(self, pixels):
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="hybridtl-decoded-")
            atexit.register(shutil.rmtree, self._folder, True)
        path = os.path.join(self._folder, f"{next(self._names)}.npy")
        np.save(path, pixels)
        return np.load(path, mmap_mode="r")

    def clear(self):
        with self._lock:
            self._memory.clear()
            self._disk.clear()
            self.memory_used = 0


_STORE = DecodedStore()


def decoded_store():
    """This process's store (what :func:`decoded_once` fills)."""
    return _STORE


def _file_key(item, preprocess):
    if not isinstance(item, (str, os.PathLike)):
        return None
    try:
        stat = os.stat(item)
    except OSError:
        return None  # decoding names the missing file
    return (os.path.abspath(item), stat.st_mtime_ns, stat.st_size, preprocess.resize_side, preprocess.min_side,
            preprocess.interpolation)


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
    store = _STORE if store is None else store
    keys = [_file_key(item, preprocess) for item in images.items]
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
