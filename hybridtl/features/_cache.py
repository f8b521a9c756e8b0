"""A per-image feature cache, in memory and optionally on disk, safe under crashes and concurrent processes.

``cache="auto"`` (the extractor's default) keeps the features of recently
seen images in this process's memory (bounded, about 256 MB), so that a
``GridSearchCV`` over the head, which refits the extractor on every fold,
extracts each image once. A folder (``cache="path"``) adds a disk cache that
outlives the process and is shared between processes (``n_jobs`` > 1):

Each entry is one ``.npy`` file named by the image's content hash, inside a
folder named by the hash of everything that changes features (backbone,
weights, layer, pooling, preprocessing, precision, library versions). A
changed setting therefore looks in another folder and never reads a stale
entry. Entries are written to a temporary name and renamed into place, so a
crash never leaves a half entry that is read back, and two processes writing
the same entry both leave a complete file.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..core import atomic_path, check_param
from ..images import file_identity

__all__ = ["FILE_HASHES", "CacheSetting", "FeatureCache", "clear_memory", "image_key", "image_keys", "resolve_cache"]


def _content_hash(item):
    digest = hashlib.blake2b(digest_size=20)
    if isinstance(item, (str, os.PathLike)):
        digest.update(b"file")
        with open(item, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    if hasattr(item, "tobytes") and hasattr(item, "mode"):  # PIL image
        digest.update(f"pil{item.mode}{item.size}".encode())
        digest.update(item.tobytes())
        return digest.hexdigest()
    array = np.ascontiguousarray(item.detach().cpu().numpy() if hasattr(item, "detach") else item)
    digest.update(f"array{array.shape}{array.dtype.str}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


# A file's content hash by what ``os.stat`` says of it (path, device, inode, size, modification time in ns),
# so that the folds of a grid search and later passes over the same files do not read and hash every byte
# again (a 12-MP JPEG: about 2 ms, more than its cached features cost to read); an edited file has another
# stat and is hashed again, as git's index and the decoded store (hybridtl.images._store) judge files.
# Bounded: the most recently used FILE_HASHES entries.
_FILE_HASHES = OrderedDict()
FILE_HASHES = 65536
_FILE_HASHES_LOCK = threading.Lock()


def _file_hash(path):
    stamp = file_identity(path)
    with _FILE_HASHES_LOCK:
        if stamp in _FILE_HASHES:
            _FILE_HASHES.move_to_end(stamp)
            return _FILE_HASHES[stamp]
    key = _content_hash(path)
    with _FILE_HASHES_LOCK:
        _FILE_HASHES[stamp] = key
        while len(_FILE_HASHES) > FILE_HASHES:
            _FILE_HASHES.popitem(last=False)
    return key


def image_key(item):
    """A content hash of one image item: the file's bytes, or the pixels with shape and dtype.

    A file's hash is remembered by its stat (path, inode, size, modification time), so a file seen
    before is not read again unless it changed.

    Examples
    --------
    >>> a = np.zeros((4, 4), dtype=np.uint8)
    >>> image_key(a) == image_key(a.copy()) != image_key(a.astype(np.float32))
    True
    """
    if isinstance(item, (str, os.PathLike)):
        return _file_hash(item)
    return _content_hash(item)


def image_keys(items, threads=0):
    """:func:`image_key` of each of ``items``, in order; files hashed by ``threads`` threads (hashlib
    releases the GIL on large buffers, so on 2 cores two threads hash a folder of photos about twice as fast).

    Examples
    --------
    >>> a = np.zeros((4, 4), dtype=np.uint8)
    >>> image_keys([a, a + 1], threads=2) == [image_key(a), image_key(a + 1)]
    True
    """
    if threads < 2 or len(items) < 2:
        return [image_key(item) for item in items]
    with ThreadPoolExecutor(threads, thread_name_prefix="hybridtl-hash") as pool:
        return list(pool.map(image_key, items))


# Entries read or written in this process, keyed by (settings hash, image key), so that the
# folds of a grid search neither extract nor read the same images again; bounded to about 256 MB.
_RECENT = OrderedDict()
_RECENT_BYTES = 256 * 2**20


def clear_memory():
    """Forget the features this process holds in memory (``cache="auto"``) and the file hashes it remembers;
    disk caches stay.

    Returns
    -------
    None

    Examples
    --------
    >>> clear_memory()
    """
    _RECENT.clear()
    with _FILE_HASHES_LOCK:
        _FILE_HASHES.clear()


def _remember(key, vector):
    _RECENT[key] = vector
    _RECENT.move_to_end(key)
    while len(_RECENT) * vector.nbytes > _RECENT_BYTES:
        _RECENT.popitem(last=False)


class FeatureCache:
    """Features per image: in memory, and under ``directory / settings_hash / ab / hash.npy`` when given."""

    def __init__(self, directory, settings):
        fingerprint = json.dumps(settings, sort_keys=True, default=str)
        self.settings_hash = hashlib.blake2b(fingerprint.encode(), digest_size=12).hexdigest()
        self.root = None if directory is None else Path(directory) / self.settings_hash
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)
            settings_file = self.root / "settings.json"
            if not settings_file.exists():
                with atomic_path(settings_file) as tmp:
                    tmp.write_text(fingerprint)

    def _path(self, key):
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key, n_features):
        """The cached vector, or None when absent or unreadable."""
        vector = _RECENT.get((self.settings_hash, key))
        if vector is None and self.root is not None:
            try:
                vector = np.load(self._path(key), allow_pickle=False)
            except (OSError, ValueError, EOFError):
                return None
        if vector is None or vector.shape != (n_features,):
            return None
        _remember((self.settings_hash, key), vector)
        return vector

    def put(self, key, vector):
        vector = np.array(vector, dtype=np.float32)
        if self.root is not None:
            path = self._path(key)
            path.parent.mkdir(exist_ok=True)
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, vector, allow_pickle=False)
        _remember((self.settings_hash, key), vector)


class CacheSetting:
    """The extractor's ``cache`` constraint: "auto", None, False, a folder path or a ``joblib.Memory``."""

    def is_satisfied_by(self, value):
        return (value is None or value is False or isinstance(value, (str, os.PathLike))
                or hasattr(value, "location"))

    def __str__(self):
        return "'auto', None, a folder path or a joblib.Memory"


def resolve_cache(cache):
    """The extractor's ``cache`` setting -> ``(enabled, folder or None)``.

    ``"auto"``: in memory only; ``None`` or ``False``: off; a folder path or a
    ``joblib.Memory`` (its location): in memory and on disk.

    Examples
    --------
    >>> resolve_cache("auto"), resolve_cache(None)
    ((True, None), (False, None))
    """
    check_param("cache", cache, [CacheSetting()])
    if cache is None or cache is False:
        return False, None
    if isinstance(cache, str) and cache == "auto":
        return True, None
    if isinstance(cache, (str, os.PathLike)):
        return True, Path(cache)
    location = getattr(cache, "location", None)
    if location is not None:
        return True, Path(location) / "hybridtl-features"
    return False, None  # joblib.Memory(None): caching switched off
