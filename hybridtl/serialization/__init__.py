"""Saving models: a file format that loads without running code (:func:`save`, :func:`load`), the model
card every file holds (:func:`model_card`, :func:`read_card`), and the model loading the command line uses
(:func:`load_model`). Pickling (joblib) works too, through
:class:`hybridtl.core.CPUWeightsPickle`."""

from ._card import model_card
from ._format import FORMAT, TRUSTED, DamagedModelFileError, is_hybridtl_file, load, read_card, save
from ._model_file import load_model

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._format import TRUSTED_PREFIXES as TRUSTED_PREFIXES, starts_like_hybridtl_file as starts_like_hybridtl_file

__all__ = ["FORMAT", "TRUSTED", "DamagedModelFileError", "is_hybridtl_file", "load", "load_model", "model_card",
           "read_card", "save"]
