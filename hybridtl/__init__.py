"""hybridtl: transfer learning on images, as frozen-CNN features for scikit-learn heads or as fine-tuning.

Importing the package is light: torch, timm and xgboost load only when a name
that needs them is first used (PEP 562 module ``__getattr__``).
"""

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "CNNFeatureExtractor": "features",
    "ClassificationInterpretation": "interpretation",
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
