"""From whatever images a user holds to normalised batches of tensors.

Accepted input (``X`` everywhere in hybridtl):

* a numpy array ``(n, h, w)`` (gray) or ``(n, h, w, c)`` with ``c`` in 1, 3, 4;
* a torch tensor ``(n, c, h, w)`` or ``(n, h, w)``;
* a list (or tuple, or 1-d object array, or pandas Series) whose items are
  arrays ``(h, w)`` / ``(h, w, c)``, tensors ``(c, h, w)``, PIL images, or image
  file paths (``str`` / ``pathlib.Path``); items may differ in size.

Pixel values: unsigned or signed integers in [0, 255], floats in [0, 1]. Gray
becomes 3 channels, RGBA becomes RGB (alpha dropped). Every image is resized so
that its shorter side is ``size / crop_pct``, centre-cropped to ``size`` and
normalised by the backbone's mean and std.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

__all__ = ["Preprocess", "as_image_set", "load_image_folder", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

_ACCEPTED = (
    "accepted: numpy arrays (n, h, w) or (n, h, w, c) with c in 1, 3, 4; torch tensors (n, c, h, w); "
    "or a list of arrays (h, w[, c]), tensors (c, h, w), PIL images or image file paths"
)


# ---------------------------------------------------------------------------
# Preprocessing built from a backbone's config
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Preprocess:
    """Resize, crop and normalisation built from a :class:`~hybridtl.backbones.BackboneConfig`.

    Geometry (:meth:`resize_crop`, :meth:`augment`) runs on single images or
    batches of float tensors in [0, 1]; :meth:`normalize` on batches, where they
    already sit on the model's device.

    Examples
    --------
    >>> p = Preprocess(size=64, crop_pct=0.875, mean=(0.5,) * 3, std=(0.5,) * 3)
    >>> p.resize_crop(torch.rand(2, 3, 100, 80)).shape
    torch.Size([2, 3, 64, 64])
    """

    size: int
    crop_pct: float
    mean: tuple
    std: tuple
    interpolation: str = "bicubic"

    @classmethod
    def from_config(cls, config, image_size=None):
        size = int(image_size or config.input_size)
        return cls(size, config.crop_pct, tuple(config.mean), tuple(config.std), config.interpolation)

    @property
    def _mode(self):
        return InterpolationMode(self.interpolation)

    def resize_crop(self, images):
        """Shorter side to ``size / crop_pct``, then a centre crop of ``size``."""
        resized = F.resize(images, [int(round(self.size / self.crop_pct))], interpolation=self._mode, antialias=True)
        return F.center_crop(resized, [self.size])

    def augmenter(self):
        """Random resized crop (35-100 % of the area, fastai's fine-tuning default) and horizontal flip."""
        return v2.Compose(
            [
                v2.RandomResizedCrop(self.size, scale=(0.35, 1.0), interpolation=self._mode, antialias=True),
                v2.RandomHorizontalFlip(),
            ]
        )

    def normalize(self, batch):
        return F.normalize(batch, list(self.mean), list(self.std))


# ---------------------------------------------------------------------------
# Validation and conversion of single items
# ---------------------------------------------------------------------------


def _check_values(array, where):
    if array.size == 0:
        raise ValueError(f"{where} is empty (shape {array.shape}); {_ACCEPTED}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{where} has complex dtype {array.dtype}: Complex data not supported; images are real-valued")
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
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


def _to_float_chw(hwc):
    """Tensor (h, w, c) or (n, h, w, c), integers 0-255 or floats 0-1 -> float32 (..., 3, h, w) in [0, 1]."""
    scale = 1.0 if hwc.is_floating_point() else 255.0
    return _channels_to_rgb(hwc.float().div_(scale).movedim(-1, -3))


def _dense_to_device(array, device):
    """A slice of a dense (n, h, w, c) array -> float32 (n, 3, h, w) on ``device`` (pinned copy to CUDA)."""
    raw = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        raw = raw.pin_memory()
    return _to_float_chw(raw.to(device, non_blocking=True))


def _channels_to_rgb(chw):
    channels = chw.shape[-3]
    if channels == 1:
        return chw.expand(*chw.shape[:-3], 3, *chw.shape[-2:])
    if channels == 4:
        return chw[..., :3, :, :]
    return chw


def _array_item(item, index):
    where = f"image {index}"
    if item.ndim == 2:
        item = item[:, :, None]
    if item.ndim != 3 or item.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{where} has shape {item.shape}; single images must be (h, w) or (h, w, c) with c in 1, 3, 4")
    _check_values(item, where)
    return _to_float_chw(torch.from_numpy(np.ascontiguousarray(item)))


def _tensor_item(item, index):
    if item.ndim == 2:
        item = item[None]
    if item.ndim != 3 or item.shape[0] not in (1, 3, 4):
        raise ValueError(f"image {index} is a tensor of shape {tuple(item.shape)}; single tensors must be (c, h, w) with c in 1, 3, 4")
    return _array_item(item.detach().cpu().numpy().transpose(1, 2, 0), index)


def _pil_item(image, index):
    if image.mode not in ("RGB", "L", "RGBA", "P", "LA", "I;16", "I", "F", "CMYK", "1"):
        raise ValueError(f"image {index} has unsupported PIL mode {image.mode!r}")
    rgb = image.convert("RGB")
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).float().div_(255.0)


def read_image(path, index=None):
    """Decode one image file to a float tensor (3, h, w) in [0, 1], with a clear error when it fails."""
    from PIL import Image, UnidentifiedImageError

    where = f"image {index} ({path})" if index is not None else f"image {path}"
    try:
        with Image.open(path) as image:
            image.load()
            return _pil_item(image, index)
    except FileNotFoundError:
        raise ValueError(f"{where}: file not found") from None
    except UnidentifiedImageError:
        raise ValueError(f"{where}: not an image file PIL can read (accepted: PNG, JPEG, BMP, GIF, TIFF, WebP, ...)") from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"{where}: corrupt or truncated image ({exc})") from None


def _load_item(item, index):
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        return read_image(item, index)
    if isinstance(item, Image.Image):
        return _pil_item(item, index)
    if isinstance(item, torch.Tensor):
        return _tensor_item(item, index)
    if isinstance(item, np.ndarray):
        return _array_item(item, index)
    raise TypeError(f"image {index} has type {type(item).__name__}; {_ACCEPTED}")


# ---------------------------------------------------------------------------
# Image sets
# ---------------------------------------------------------------------------


class _ItemDataset(torch.utils.data.Dataset):
    """One image per item, decoded and geometrically transformed (in DataLoader workers).

    With ``targets``, items are (image, target) pairs.
    """

    def __init__(self, items, transform, targets=None, positions=None):
        self.items, self.transform, self.targets, self.positions = items, transform, targets, positions

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        position = index if self.positions is None else self.positions[index]  # as the user numbered it
        image = self.transform(_load_item(self.items[index], position))
        return image if self.targets is None else (image, self.targets[index])


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
        augmenter = preprocess.augmenter() if augment else None
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            chw = _dense_to_device(self.array[index], device)
            inputs = torch.stack([augmenter(im) for im in chw]) if augment else preprocess.resize_crop(chw)
            yield preprocess.normalize(inputs), targets[index]

    def batches(self, preprocess, batch_size, device, num_workers=0):
        """Normalised (n, 3, size, size) batches in order, preprocessed whole on ``device``."""
        for start in range(0, len(self.array), batch_size):
            chw = _dense_to_device(self.array[start : start + batch_size], device)
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

    def _loader(self, transform, batch_size, device, num_workers, targets=None, generator=None):
        """A DataLoader decoding and transforming items in workers; shuffled when a generator is given."""
        return torch.utils.data.DataLoader(
            _ItemDataset(self.items, transform, targets, self.positions),
            batch_size=batch_size,
            shuffle=generator is not None,
            generator=generator,
            num_workers=num_workers,
            pin_memory=device.type == "cuda",
        )

    def train_batches(self, preprocess, targets, batch_size, device, generator, augment, num_workers=0):
        """Shuffled (inputs, targets) batches, decoded and augmented in DataLoader workers."""
        transform = preprocess.augmenter() if augment else preprocess.resize_crop
        loader = self._loader(transform, batch_size, device, num_workers, torch.as_tensor(targets), generator)
        return _drop_single((preprocess.normalize(x.to(device, non_blocking=True)), t) for x, t in loader)

    def batches(self, preprocess, batch_size, device, num_workers=0):
        """Normalised (n, 3, size, size) batches in order."""
        for batch in self._loader(preprocess.resize_crop, batch_size, device, num_workers):
            yield preprocess.normalize(batch.to(device, non_blocking=True))


def _dense_from_array(X):
    _check_values(X, "X")
    if X.ndim == 3:
        X = X[..., None]
    if X.ndim != 4 or X.shape[-1] not in (1, 3, 4):
        hint = " (flat pixel rows? reshape them, e.g. X.reshape(-1, 8, 8))" if X.ndim == 2 else ""
        raise ValueError(f"X is an array of shape {X.shape}{hint}; {_ACCEPTED}")
    return DenseImages(X)


def _dense_from_tensor(X):
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim != 4 or X.shape[1] not in (1, 3, 4):
        raise ValueError(f"X is a tensor of shape {tuple(X.shape)}; tensors must be (n, c, h, w) with c in 1, 3, 4 or (n, h, w)")
    return _dense_from_array(X.detach().cpu().numpy().transpose(0, 2, 3, 1))


def _check_items(items):
    from PIL import Image

    for index, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            if not os.path.isfile(item):
                raise ValueError(f"image {index} ({item}): file not found")
        elif isinstance(item, np.ndarray):
            _array_item(item, index)
        elif isinstance(item, torch.Tensor):
            _tensor_item(item, index)
        elif not isinstance(item, Image.Image):
            raise TypeError(f"image {index} has type {type(item).__name__}; {_ACCEPTED}")


def as_image_set(X):
    """Validate ``X`` and wrap it as an image set with ``len``, ``subset``, ``batches`` and ``train_batches``.

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
        raise TypeError(f"X is a {type(X).__name__}: sparse input is not supported; {_ACCEPTED}")
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2 and X.shape[1] == 1:
        X = X.iloc[:, 0]  # a one-column DataFrame of paths
    if hasattr(X, "iloc"):
        X = list(X)
    if isinstance(X, (str, os.PathLike)):
        raise TypeError(f"X is a single path {str(X)!r}; pass a list of image paths, or use load_image_folder(path) for a folder")
    if isinstance(X, torch.Tensor):
        return _dense_from_tensor(X)
    if isinstance(X, np.ndarray) and X.dtype.kind not in "OUS":
        return _dense_from_array(X)
    if isinstance(X, (list, tuple, np.ndarray)):
        items = list(X)
        if not items:
            raise ValueError(f"X is empty; {_ACCEPTED}")
        _check_items(items)
        return ImageList(items)
    raise TypeError(f"X has type {type(X).__name__}; {_ACCEPTED}")


def load_image_folder(path, extensions=IMAGE_EXTENSIONS):
    """Image paths and labels from a folder with one subfolder per class.

    Parameters
    ----------
    path : str or Path
        The folder; each subfolder's name is the label of the images in it.
    extensions : tuple of str
        File suffixes (lower case) that count as images.

    Returns
    -------
    paths : list of str
        Sorted by class, then file name.
    labels : numpy.ndarray of str

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for cls in ("cat", "dog"):
    ...     (root / cls).mkdir()
    ...     Image.new("RGB", (8, 8)).save(root / cls / "a.png")
    >>> paths, labels = load_image_folder(root)
    >>> labels.tolist()
    ['cat', 'dog']
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist or is not a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"image folder {str(root)!r} has no class subfolders; expected one subfolder of images per class")
    paths, labels = [], []
    for class_dir in classes:
        files = sorted(f for f in class_dir.rglob("*") if f.is_file() and f.suffix.lower() in extensions)
        if not files:
            raise ValueError(f"class folder {str(class_dir)!r} holds no images (extensions {', '.join(extensions)})")
        paths.extend(str(f) for f in files)
        labels.extend([class_dir.name] * len(files))
    return paths, np.asarray(labels)
