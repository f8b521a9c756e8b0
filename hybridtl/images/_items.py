"""One image item (array, tensor, PIL image or file path) checked and turned into pixels (3, h, w).

Pixel values: unsigned or signed integers in [0, 255], floats in [0, 1]. Gray
becomes 3 channels, RGBA becomes RGB (alpha dropped). Pixels stay 8-bit while
they are: integer images and 8-bit files become uint8 tensors (resized and
cropped as such, converted to float once at the network's input size), float
images and 16-bit files float32 tensors in [0, 1].
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ._decoding import decode_pil, open_pixels

__all__ = ["ACCEPTED", "array_item", "check_values", "dense_to_device", "load_item", "tensor_item", "to_pixels_chw"]

ACCEPTED = (
    "accepted: numpy arrays (n, h, w) or (n, h, w, c) with c in 1, 3, 4; torch tensors (n, c, h, w); "
    "or a list of arrays (h, w[, c]), tensors (c, h, w), PIL images or image file paths"
)



def check_values(array, where):
    if array.size == 0:
        raise ValueError(f"{where} is empty (shape {array.shape}); {ACCEPTED}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{where} has complex dtype {array.dtype}: Complex data not supported; images are real-valued")
    numeric = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if array.dtype == np.bool_ or not numeric:
        raise TypeError(f"{where} has dtype {array.dtype}; images must hold integers in [0, 255] or floats in [0, 1]")
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"{where} contains NaN or infinite values; images must be finite")
        low, high, accepted = array.min(), array.max(), "floats must lie in [0, 1] (integers in [0, 255])"
        bad = low < 0 or high > 1
    else:
        low, high, accepted = array.min(), array.max(), "integers must lie in [0, 255] (floats in [0, 1])"
        bad = low < 0 or high > 255
    if bad:
        raise ValueError(f"{where} has values in [{low}, {high}]; {accepted}")


def to_pixels_chw(hwc):
    """Tensor (h, w, c) or (n, h, w, c) of checked values -> pixels (..., 3, h, w): integers (0-255) as
    uint8, floats (0-1) as float32."""
    pixels = hwc.float() if hwc.is_floating_point() else hwc.to(torch.uint8)
    return channels_to_rgb(pixels.movedim(-1, -3))


def dense_to_device(array, device):
    """A slice of a dense (n, h, w, c) array -> pixels (n, 3, h, w) on ``device`` (pinned copy to CUDA)."""
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # np.asarray(PIL image) is read-only; torch warns on sharing it
        array = array.copy()
    raw = torch.from_numpy(array)
    if device.type == "cuda":
        raw = raw.pin_memory()
    return to_pixels_chw(raw.to(device, non_blocking=True))


def channels_to_rgb(chw):
    channels = chw.shape[-3]
    if channels == 1:
        return chw.expand(*chw.shape[:-3], 3, *chw.shape[-2:])
    if channels == 4:
        return chw[..., :3, :, :]
    return chw


def array_item(item, index):
    where = f"image {index}"
    if item.ndim == 2:
        item = item[:, :, None]
    if item.ndim != 3 or item.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{where} has shape {item.shape}; single images must be (h, w) or (h, w, c) with c in 1, 3, 4")
    check_values(item, where)
    # torch warns on read-only arrays (memory maps, decoded_once's store): those are copied, others are not
    return to_pixels_chw(torch.from_numpy(np.require(item, requirements=("C", "W"))))


def tensor_item(item, index):
    if item.ndim == 2:
        item = item[None]
    if item.ndim != 3 or item.shape[0] not in (1, 3, 4):
        raise ValueError(f"image {index} is a tensor of shape {tuple(item.shape)}; single tensors must be (c, "
                         "h, w) with c in 1, 3, 4")
    return array_item(item.detach().cpu().numpy().transpose(1, 2, 0), index)


def _where(index, path=None):
    return f"image {index}" + (f" ({os.fspath(path)})" if path is not None else "")


def load_item(item, index, min_side=None):
    """One item's pixels (3, h, w), uint8 or float32; a file at least ``min_side`` on its shorter side when given
    (see :func:`hybridtl.images.read_image`)."""
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        return open_pixels(item, _where(index, item), min_side)
    if isinstance(item, Image.Image):
        return decode_pil(item, _where(index))
    if isinstance(item, torch.Tensor):
        return tensor_item(item, index)
    if isinstance(item, np.ndarray):
        return array_item(item, index)
    raise TypeError(f"image {index} has type {type(item).__name__}; {ACCEPTED}")

