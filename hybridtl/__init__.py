"""hybridtl: transfer learning on images, as frozen-CNN features for scikit-learn heads or as fine-tuning.

Importing the package is light: torch, timm and xgboost load only when a name
that needs them is first used (PEP 562 module ``__getattr__``).

The sub-packages, each importing only those below it:

* ``core``: atomic writes, parameter validation, labels, dask partitions (no torch);
* ``devices``, ``images``, ``backbones``, ``callbacks``;
* ``features`` (the frozen-CNN transformer), ``finetune`` (the fine-tuning classifier and its trainer);
* ``heads`` (scikit-learn heads on the features);
* ``recipes``, ``serialization``;
* ``auto`` (the best recipe within a time budget);
* ``evaluation`` (predictions, interpretation, the benchmark);
* ``scaleout`` (dask);
* ``cli``.
"""

import importlib

__version__ = "0.1.0"

# public name -> the sub-package that exports it
_LAZY = {
    "AutoClassifier": "auto",
    "CNNFeatureExtractor": "features",
    "ClassificationInterpretation": "evaluation",
    "FineTuneClassifier": "finetune",
    "list_backbones": "backbones",
    "load_backbone": "backbones",
    "load_image_folder": "images",
    "make_hybrid_pipeline": "heads",
    "save": "serialization",
    "load": "serialization",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
