"""A per-image feature cache on disk, safe under crashes and concurrent processes.

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
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .atomic import atomic_path

__all__ = ["FeatureCache", "image_key", "resolve_cache"]


def image_key(item):
    """A content hash of one image item: the file's bytes, or the pixels with shape and dtype.

    Examples
    --------
    >>> a = np.zeros((4, 4), dtype=np.uint8)
    >>> image_key(a) == image_key(a.copy()) != image_key(a.astype(np.float32))
    True
    """
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


# Entries read or written in this process, so that the folds of a grid search
# do not read the same files again and again; bounded to about 256 MB.
_RECENT = OrderedDict()
_RECENT_BYTES = 256 * 2**20


def _remember(key, vector):
    _RECENT[key] = vector
    _RECENT.move_to_end(key)
    while len(_RECENT) * vector.nbytes > _RECENT_BYTES:
        _RECENT.popitem(last=False)


class FeatureCache:
    """Features per image under ``directory / settings_hash / ab / hash.npy``."""

    def __init__(self, directory, settings):
        fingerprint = json.dumps(settings, sort_keys=True, default=str)
        self.settings_hash = hashlib.blake2b(fingerprint.encode(), digest_size=12).hexdigest()
        self.root = Path(directory) / self.settings_hash
        self.root.mkdir(parents=True, exist_ok=True)
        settings_file = self.root / "settings.json"
        if not settings_file.exists():
            with atomic_path(settings_file) as tmp:
                tmp.write_text(fingerprint)

    def _path(self, key):
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key, n_features):
        """The cached vector, or None when absent or unreadable."""
        path = self._path(key)
        vector = _RECENT.get(path)
        if vector is None:
            try:
                vector = np.load(path, allow_pickle=False)
            except (OSError, ValueError, EOFError):
                return None
        if vector.shape != (n_features,):
            return None
        _remember(path, vector)
        return vector

    def put(self, key, vector):
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        vector = np.array(vector, dtype=np.float32)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, vector, allow_pickle=False)
        _remember(path, vector)


def resolve_cache(cache):
    """``None``, a folder path, or a ``joblib.Memory`` (its location) -> a folder path or None."""
    if cache is None:
        return None
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache)
    location = getattr(cache, "location", None)
    if location is not None:
        return Path(location) / "hybridtl-features"
    if hasattr(cache, "location"):  # joblib.Memory(None): caching switched off
        return None
    raise TypeError(f"cache must be None, a folder path or a joblib.Memory, got {type(cache).__name__}")
