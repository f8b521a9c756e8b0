"""Frozen models shared within a process: built once per setting, never changed in place.

A ``GridSearchCV`` clones and refits the extractor once per fold, and threads
or clones in one process ask for the same frozen model: each gets the one
memoised model (:func:`frozen_model`), and a copy on another device is
memoised beside it (:func:`placed`) rather than moving the shared one.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import weakref

import torch

from ..backbones import frozen_trunk, load_backbone

__all__ = ["check_size", "file_stamp", "frozen_model", "output_width", "placed", "weights_digest"]


# Copies of shared frozen models on other devices, one per (model, device), dropped with the model.
_PLACED = weakref.WeakKeyDictionary()


def placed(model, device):
    """``model`` on ``device`` without moving it: the model itself when it is there, else a memoised copy.

    Frozen models are shared between extractors (clones in a grid search, threads),
    so moving one in place would move it under the others.
    """
    first = next(model.parameters(), None)
    if first is None or first.device == device or (device.type == first.device.type and device.index is None):
        return model
    copies = _PLACED.setdefault(model, {})
    if str(device) not in copies:
        copies[str(device)] = copy.deepcopy(model).to(device, memory_format=torch.channels_last)
    return copies[str(device)]


def file_stamp(path):
    """(size, mtime) of a file, or None: keys a weights file by its content on disk."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


# model -> hash of its weights, computed once per model object and dropped with it
_DIGESTS = weakref.WeakKeyDictionary()


def weights_digest(model):
    """A hash of a model's weights, computed once per model object."""
    if model not in _DIGESTS:
        hasher = hashlib.blake2b(digest_size=16)
        for name, tensor in model.state_dict().items():
            hasher.update(name.encode())
            hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        _DIGESTS[model] = hasher.hexdigest()
    return _DIGESTS[model]


def output_width(model, size):
    """Number of pooled features: one probe pass (the width does not depend on the image size)."""
    with torch.inference_mode():
        return int(model(torch.zeros(1, 3, size, size)).shape[1])


@functools.lru_cache(maxsize=16)
def check_size(backbone_name, weights, weights_stamp, layer, pooling, size):
    """Refuse, before any work, an input size the backbone cannot take (e.g. a ViT at 64 px)."""
    backbone, model, _ = frozen_model(backbone_name, weights, weights_stamp, layer, pooling)
    try:
        output_width(model, size)
    except Exception as exc:  # noqa: BLE001 - any failure of the probe pass means this size is refused
        fixed = getattr(getattr(backbone.module, "patch_embed", None), "img_size", None)
        accepted = f"{tuple(fixed)[0]} (fixed by the model)" if fixed else f"{backbone.config.input_size} (its own)"
        raise ValueError(f"backbone {backbone_name!r} cannot take image_size={size} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'probe failed'}); accepted: {accepted}") from None


@functools.lru_cache(maxsize=4)
def frozen_model(backbone_name, weights, weights_stamp, layer, pooling):
    """Memo of frozen models: a GridSearchCV clones and refits the extractor once per fold.

    The model is frozen and never changed in place, so extractors with the same
    settings in one process can share it; ``weights_stamp`` (size, mtime) keys
    a local weights file by its content on disk. Returns (backbone, model, width).
    """
    backbone = load_backbone(backbone_name, weights)
    model = frozen_trunk(backbone, layer, pooling)
    return backbone, model, output_width(model, backbone.config.input_size)

