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
* ``evaluation`` (predictions, interpretation, the benchmark), ``export`` (one ONNX graph, pixels to
  probabilities);
* ``scaleout`` (dask);
* ``cli``.

Modules that moved into the sub-packages keep their old import paths (and old pickles load), with a
``DeprecationWarning`` naming the new home; they are served from the ``_MOVED`` table below, not files.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

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
    "export_onnx": "export",
    "save": "serialization",
    "load": "serialization",
}

__all__ = sorted(_LAZY) + ["__version__"]

# old module -> (its new home, the names it re-exported)
_MOVED = {
    "hybridtl.clusters": ("hybridtl.scaleout", ("connect", "local_cluster", "worker_environment")),
    "hybridtl.dask_extraction": ("hybridtl.scaleout", ("extract_features",)),
    "hybridtl.dask_heads": ("hybridtl.scaleout", ("DaskLabelXGBClassifier", "predict_partitions")),
    "hybridtl.datasets": ("hybridtl.images", ("load_digits_images",)),
    "hybridtl.image_checks": ("hybridtl.evaluation", ("EQUIVALENTS", "image_checks", "make_images")),
    "hybridtl.interpretation": ("hybridtl.evaluation", ("ClassificationInterpretation",)),
    "hybridtl.pixels": ("hybridtl.features", ("PixelFeatures",)),
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves each old module of ``_MOVED`` as a module re-exporting its names from the new home.

    Written by hand because an import path with no file behind it needs an import hook: a finder on
    ``sys.meta_path`` (after the path finder, so a real file always wins) is the standard one.
    """

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in _MOVED else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        new, names = _MOVED[module.__name__]
        # stacklevel 2 is the importing line: the import machinery's own frames are skipped
        warnings.warn(f"{module.__name__} is deprecated; import {', '.join(names)} from {new}",
                      DeprecationWarning, stacklevel=2)
        home = importlib.import_module(new)
        module.__all__ = list(names)
        module.__dict__.update({name: getattr(home, name) for name in names})


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
