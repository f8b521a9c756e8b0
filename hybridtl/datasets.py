"""Moved to :mod:`hybridtl.images`; this name stays so that existing imports keep working."""

from .images import load_digits_images

__all__ = ["load_digits_images"]
