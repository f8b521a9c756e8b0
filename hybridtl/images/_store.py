"""The decoded store: image files this process has decoded, kept as pixels at the size a preprocessing needs.

:func:`hybridtl.images.decoded_once` fills it (fine-tuning, the auto search);
:meth:`hybridtl.images.Preprocess.load` reads it, so every later pass over the
same files at the same preprocessing (epochs, rungs, predictions, feature
extraction, int8 calibration) decodes nothing. A file is known by what
``os.stat`` says of it (path, device, inode, size, modification time in ns) and
by the preprocessing's resize side, decode and interpolation, so an edited file
is decoded again and another preprocessing never reads these pixels. A stored
image is already at the resize side, which the resize keeps as it is: it gives
what its file gives.

No library keeps decoded images across passes keyed by file (torchvision's and
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

__all__ = ["MEMORY_BYTES", "DecodedStore", "decoded_store", "file_identity", "file_key", "stored_pixels"]

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

    def __len__(self):
        return len(self._memory) + len(self._disk)

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
    """This process's store (what :func:`hybridtl.images.decoded_once` fills)."""
    return _STORE


def file_identity(path):
    """What ``os.stat`` says of a file that changes when it is edited or replaced: (path, device, inode,
    modification time in ns, size). Raises ``OSError`` for a missing file."""
    stat = os.stat(path)
    return os.path.abspath(path), stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size


def file_key(item, preprocess):
    """The store's key of a file at ``preprocess``; None for an item that is no file, or a missing one."""
    if not isinstance(item, (str, os.PathLike)):
        return None
    try:
        identity = file_identity(item)
    except OSError:
        return None  # decoding names the missing file
    return (*identity, preprocess.resize_side, preprocess.min_side, preprocess.interpolation)


def stored_pixels(item, preprocess):
    """The stored pixels (h, w, c) of file ``item`` at ``preprocess``, or None (not a file, not stored)."""
    if not _STORE or not isinstance(item, (str, os.PathLike)):
        return None
    key = file_key(item, preprocess)
    return None if key is None else _STORE.get(key)
