"""Moved to :mod:`hybridtl.evaluation`; this name stays so that existing imports keep working."""

from .evaluation import EQUIVALENTS, image_checks, make_images

__all__ = ["EQUIVALENTS", "image_checks", "make_images"]
