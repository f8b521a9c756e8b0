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
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from .decoding import decode_pil, read_image

__all__ = ["IMAGE_EXTENSIONS", "Preprocess", "as_image_set", "find_unreadable", "list_images", "load_image_folder"]

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
        size = int(config.input_size if image_size is None else image_size)
        return cls(size, config.crop_pct, tuple(config.mean), tuple(config.std), config.interpolation)

    @property
    def _mode(self):
        return InterpolationMode(self.interpolation)

    def resize_crop(self, images):
        """Shorter side to ``size / crop_pct``, then a centre crop of ``size``."""
        resized = F.resize(images, [int(round(self.size / self.crop_pct))], interpolation=self._mode, antialias=True)
        return F.center_crop(resized, [self.size])

    def augmenter(self, strength="strong"):
        """Training-time augmentation: a horizontal flip after

        * ``"flip"``: the evaluation resize and centre crop;
        * ``"light"``: a random resized crop of 70-100 % of the area;
        * ``"strong"``: a random resized crop of 35-100 % (fastai's fine-tuning default).
        """
        if strength == "flip":
            return v2.Compose([self.resize_crop, v2.RandomHorizontalFlip()])
        low = {"light": 0.7, "strong": 0.35}[strength]
        return v2.Compose(
            [
                v2.RandomResizedCrop(self.size, scale=(low, 1.0), interpolation=self._mode, antialias=True),
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


def _where(index, path=None):
    return f"image {index}" + (f" ({os.fspath(path)})" if path is not None else "")


def _load_item(item, index):
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        return read_image(item, _where(index, item))
    if isinstance(item, Image.Image):
        return decode_pil(item, _where(index))
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
        augmenter = preprocess.augmenter(augment) if augment else None
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
        transform = preprocess.augmenter(augment) if augment else preprocess.resize_crop
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


def _check_items(items, on_error="raise"):
    from PIL import Image

    for index, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            if on_error == "raise" and not os.path.isfile(item):
                raise ValueError(f"image {index} ({item}): file not found")
        elif isinstance(item, np.ndarray):
            _array_item(item, index)
        elif isinstance(item, torch.Tensor):
            _tensor_item(item, index)
        elif not isinstance(item, Image.Image):
            raise TypeError(f"image {index} has type {type(item).__name__}; {_ACCEPTED}")


def as_image_set(X, on_error="raise"):
    """Validate ``X`` and wrap it as an image set with ``len``, ``subset``, ``batches`` and ``train_batches``.

    With ``on_error="skip"`` missing files are let through, for
    :func:`find_unreadable` to report with the other unreadable ones.

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
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 2:
        if X.shape[1] != 1:
            raise TypeError(f"X is a DataFrame with {X.shape[1]} columns {list(X.columns)[:5]}; pass one column "
                            "of images or paths (e.g. X['path']); " + _ACCEPTED)
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
        _check_items(items, check_on_error(on_error))
        return ImageList(items)
    raise TypeError(f"X has type {type(X).__name__}; {_ACCEPTED}")


ON_ERROR = ("raise", "skip")


def check_on_error(on_error):
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    return on_error


class SkippedImagesWarning(UserWarning):
    """Some images could not be read and were skipped (``on_error="skip"``)."""


class _ProbeDataset(torch.utils.data.Dataset):
    """Decodes each item once and returns the error message, or "" when it reads."""

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        try:
            _load_item(self.images.items[index], self.images.positions[index])
            return ""
        except (ValueError, TypeError) as exc:
            return str(exc)


def find_unreadable(X, num_workers=0):
    """The images of ``X`` that cannot be decoded: a list of (position, item, message).

    Files and PIL images are decoded once each (in ``num_workers`` DataLoader
    workers); arrays and tensors were already checked by :func:`as_image_set`.

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
    loader = torch.utils.data.DataLoader(_ProbeDataset(images.subset(probed)), batch_size=None,
                                         num_workers=num_workers)
    return [(i, images.items[i], message) for i, message in zip(probed, loader) if message]


def warn_skipped(bad, total, where="images"):
    """One warning naming how many images were skipped and the first few."""
    if bad:
        names = "; ".join(message for _, _, message in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        warnings.warn(f"skipped {len(bad)} of {total} {where} that could not be read: {names}{more}",
                      SkippedImagesWarning, stacklevel=3)


def readable_part(images, on_error, num_workers=0):
    """(positions that read, unreadable list) of an image set; with "raise" nothing is probed."""
    everything = np.arange(len(images))
    if check_on_error(on_error) == "raise":
        return everything, []
    bad = find_unreadable(images, num_workers)
    return np.setdiff1d(everything, [i for i, _, _ in bad]), bad


def rows_for_readable(images, on_error, num_workers, width, compute, dtype):
    """``compute(image set)`` row by image; with ``on_error="skip"`` unreadable images get NaN rows.

    The one place that probes, warns and fills, for transform and predict_proba alike.
    """
    good, bad = readable_part(images, on_error, num_workers)
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
        return _load_item(images.raw(index), index).permute(1, 2, 0).numpy()
    except (ValueError, TypeError):
        return None


def is_hidden(name):
    """Names that are never data: dot files and folders (``.DS_Store``, macOS ``._x.jpg``,
    ``.ipynb_checkpoints``) and macOS archive folders (``__MACOSX``)."""
    return name.startswith(".") or name == "__MACOSX"


def list_images(folder, extensions=IMAGE_EXTENSIONS):
    """Image files under ``folder`` at any depth, sorted; hidden files and folders skipped at every depth.

    Only names ending in one of ``extensions`` (any case) count. Symbolic links
    are followed, each real folder visited once, so a link loop ends.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("a.PNG", "._a.png", ".ipynb_checkpoints/b.png", "notes.txt", "sub/c.jpg"):
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     (root / name).touch()
    >>> [str(Path(p).relative_to(root)) for p in list_images(root)]
    ['a.PNG', 'sub/c.jpg']
    """
    extensions = tuple(e.lower() for e in extensions)
    found, seen = [], set()
    for current, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found += [os.path.join(current, f) for f in files if not is_hidden(f) and f.lower().endswith(extensions)]
    return sorted(found)


def class_folders(root):
    """The visible subfolders of ``root``, sorted by name (links to folders count)."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not is_hidden(p.name))


def load_image_folder(path, extensions=IMAGE_EXTENSIONS):
    """Image paths and labels from a folder with one subfolder per class.

    Hidden files and folders (``.``-prefixed, ``._*``, ``.ipynb_checkpoints``,
    ``__MACOSX``) are skipped at every depth, and only files whose suffix is in
    ``extensions`` (any case) count; see :func:`list_images`.

    Parameters
    ----------
    path : str or Path
        The folder; each subfolder's name is the label of the images in it.
    extensions : tuple of str
        File suffixes that count as images.

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
    classes = class_folders(root)
    if not classes:
        raise ValueError(f"image folder {str(root)!r} has no class subfolders; expected one subfolder of images per class")
    paths, labels = [], []
    for class_dir in classes:
        files = list_images(class_dir, extensions)
        if not files:
            raise ValueError(f"class folder {str(class_dir)!r} holds no images (extensions {', '.join(extensions)})")
        paths.extend(files)
        labels.extend([class_dir.name] * len(files))
    return paths, np.asarray(labels)
