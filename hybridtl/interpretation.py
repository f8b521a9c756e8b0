"""Moved to :mod:`hybridtl.evaluation`; this name stays so that existing imports keep working."""

from .evaluation import ClassificationInterpretation

__all__ = ["ClassificationInterpretation"]
