"""Decode, resize, crop, augment and normalise as a backbone's weights expect, built from its config."""

from __future__ import annotations

from dataclasses import dataclass

from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from ._decoding import as_float
from ._items import array_item, load_item
from ._store import stored_pixels

__all__ = ["Preprocess"]


@dataclass(frozen=True)
class Preprocess:
    """Resize, crop and normalisation built from a :class:`~hybridtl.backbones.BackboneConfig`.

    :meth:`load` decodes one item; geometry (:meth:`resize_crop`,
    :meth:`augmenter`) runs on single images or batches of pixels, uint8 (0-255,
    kept 8-bit: torchvision's uint8 antialiased resize) or float (0-1);
    :meth:`normalize` converts a batch to float once, at the network's input
    size, where it already sits on the model's device.

    Parameters
    ----------
    size : int
        Side of the square crop, in pixels.
    crop_pct : float
        Images are resized to ``size / crop_pct``, then centre-cropped to ``size``.
    mean, std : tuple of float
        Per-channel normalisation of RGB values in [0, 1].
    interpolation : {"bilinear", "bicubic"}, default="bicubic"
    decode : {"fast", "exact"}, default="exact"
        ``"fast"``: image files are decoded at the smallest size whose shorter
        side is still ``size / crop_pct`` (JPEG through the decoder's own
        scaling, see :func:`hybridtl.images.read_image`) and 8-bit pixels are
        resized and cropped as uint8. ``"exact"``: every pixel is decoded and
        converted to float before the resize, as hybridtl did before ``decode``
        existed (what models saved then get).

    Examples
    --------
    >>> import torch
    >>> p = Preprocess(size=64, crop_pct=0.875, mean=(0.5,) * 3, std=(0.5,) * 3)
    >>> p.resize_crop(torch.rand(2, 3, 100, 80)).shape
    torch.Size([2, 3, 64, 64])
    >>> p.resize_crop(torch.zeros(3, 100, 80, dtype=torch.uint8)).dtype  # resized as 8-bit
    torch.uint8
    >>> p.normalize(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)).amax().item()
    1.0
    """

    size: int
    crop_pct: float
    mean: tuple
    std: tuple
    interpolation: str = "bicubic"
    decode: str = "exact"  # models saved before decode="fast" existed read every pixel, as they were fitted

    @classmethod
    def from_config(cls, config, image_size=None, decode="exact"):
        size = int(config.input_size if image_size is None else image_size)
        return cls(size, config.crop_pct, tuple(config.mean), tuple(config.std), config.interpolation, decode)

    @property
    def resize_side(self):
        """The shorter side images are resized to before the centre crop."""
        return int(round(self.size / self.crop_pct))

    @property
    def min_side(self):
        """The shorter side a file is decoded to at least (``decode="fast"``); None decodes every pixel."""
        return self.resize_side if self.decode == "fast" else None

    def working(self, pixels):
        """Pixels in the type geometry runs on: 8-bit kept 8-bit with ``decode="fast"``; float32 with
        ``"exact"``, the path of hybridtl before ``decode`` existed (every pixel decoded, resized as floats)."""
        return pixels if self.decode == "fast" else as_float(pixels)

    def load(self, item, index):
        """One item (path, PIL image, array, tensor) as pixels (3, h, w), decoded as ``decode`` says; a file
        this process has decoded at this preprocessing before (:func:`hybridtl.images.decoded_once`) comes
        from the store, already at the resize side, which :meth:`resize` keeps as it is."""
        stored = stored_pixels(item, self)
        if stored is not None:
            return self.working(array_item(stored, index))
        return self.working(load_item(item, index, self.min_side))

    @property
    def _mode(self):
        return InterpolationMode(self.interpolation)

    def resize(self, images):
        """Shorter side to ``size / crop_pct`` (antialiased); an image already that size is returned as it is."""
        return F.resize(images, [self.resize_side], interpolation=self._mode, antialias=True)

    def resize_crop(self, images):
        """Shorter side to ``size / crop_pct``, then a centre crop of ``size``."""
        return F.center_crop(self.resize(images), [self.size])

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
        """A batch of pixels (uint8 or float) -> float32, normalised by the weights' mean and std."""
        return F.normalize(as_float(batch), list(self.mean), list(self.std))

