"""Resize, crop, augment and normalise as a backbone's weights expect, built from its config."""

from __future__ import annotations

from dataclasses import dataclass

from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

__all__ = ["Preprocess"]


@dataclass(frozen=True)
class Preprocess:
    """Resize, crop and normalisation built from a :class:`~hybridtl.backbones.BackboneConfig`.

    Geometry (:meth:`resize_crop`, :meth:`augment`) runs on single images or
    batches of float tensors in [0, 1]; :meth:`normalize` on batches, where they
    already sit on the model's device.

    Parameters
    ----------
    size : int
        Side of the square crop, in pixels.
    crop_pct : float
        Images are resized to ``size / crop_pct``, then centre-cropped to ``size``.
    mean, std : tuple of float
        Per-channel normalisation of RGB values in [0, 1].
    interpolation : {"bilinear", "bicubic"}, default="bicubic"

    Examples
    --------
    >>> import torch
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

