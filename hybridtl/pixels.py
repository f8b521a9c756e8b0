"""Moved to :mod:`hybridtl.features`; this name stays so that existing imports and pickled models keep working."""

from .features import PixelFeatures

__all__ = ["PixelFeatures"]
