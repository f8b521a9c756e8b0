"""Moved to :mod:`hybridtl.scaleout`; this name stays so that existing imports keep working."""

from .scaleout import extract_features

__all__ = ["extract_features"]
