"""Moved to :mod:`hybridtl.scaleout`; this name stays so that existing imports keep working."""

from .scaleout import DaskLabelXGBClassifier, predict_partitions

__all__ = ["DaskLabelXGBClassifier", "predict_partitions"]
