"""A model file that loads without running code: ``hybridtl.save(model, path)`` and ``hybridtl.load(path)``.

``joblib.load`` (pickle) executes whatever a file holds, so a model file from
a colleague or a model hub is code. A ``.hybridtl`` file is a zip of

* ``manifest.json``: format, version, the model's class;
* ``weights.safetensors``: every torch tensor (safetensors holds only data);
* ``model.skops``: the estimators' parameters and fitted state, written by
  ``skops.io``, which rebuilds objects only of types it is told to trust.

:func:`load` trusts scikit-learn's own types (skops' default), numpy data and
the explicit list :data:`TRUSTED` of hybridtl, calibration and XGBoost types
below (and, by name only, torch's learning-rate scheduler classes); a file that
names any other type is refused before anything is built.

Examples
--------
>>> import tempfile, numpy as np
>>> from hybridtl.heads import make_head
>>> from sklearn.pipeline import Pipeline
>>> head = Pipeline(make_head("logreg")).fit(np.eye(4), [0, 1, 0, 1])
>>> path = tempfile.mkdtemp() + "/head.hybridtl"
>>> save(head, path)
>>> load(path).predict(np.eye(4)).tolist()
[0, 1, 0, 1]
"""

from __future__ import annotations

import json
import zipfile

from .atomic import atomic_path
from .persistence import weights_apart

__all__ = ["FORMAT", "TRUSTED", "is_hybridtl_file", "load", "save"]

FORMAT, VERSION = "hybridtl-model", 1

TRUSTED = (
    "hybridtl.features.CNNFeatureExtractor",
    "hybridtl.finetune.FineTuneClassifier",
    "hybridtl.backbones.BackboneConfig",
    "hybridtl.images.Preprocess",
    "hybridtl.heads.Float64Scaler",
    "hybridtl.heads.Float64Normalizer",
    "hybridtl.pixels.PixelFeatures",
    "hybridtl.heads.LabelXGBClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "xgboost.core.Booster",
    "hybridtl.callbacks.Checkpoint",
    "hybridtl.callbacks.LRScheduler",
    "hybridtl.callbacks.PrintLog",
)
# Classes named here are only looked up, never called, on load: the schedulers an LRScheduler names.
TRUSTED_PREFIXES = ("torch.optim.lr_scheduler.",)


def save(model, path):
    """Write ``model`` (any hybridtl estimator, Pipeline or scikit-learn classifier) to ``path`` safely.

    The file is written atomically: an earlier file at ``path`` stays intact
    if saving fails. Weights are stored on the CPU, so a GPU-fitted model
    loads anywhere.
    """
    import safetensors.torch
    import skops.io

    with weights_apart({}) as tensors:
        state = skops.io.dumps(model)
    manifest = {"format": FORMAT, "version": VERSION, "class": f"{type(model).__module__}.{type(model).__qualname__}"}
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest))
            archive.writestr("model.skops", state)
            archive.writestr("weights.safetensors", safetensors.torch.save(tensors) if tensors else b"")


def is_hybridtl_file(path):
    """Whether ``path`` is a zip with a hybridtl manifest (read without loading anything)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("manifest.json")).get("format") == FORMAT
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False


def load(path):
    """Load a model written by :func:`save`; never unpickles.

    Raises
    ------
    ValueError
        The file is not a hybridtl model file, is damaged, or names a type
        outside the trusted list (listed in the message).
    """
    import safetensors.torch
    import skops.io

    if not is_hybridtl_file(path):
        raise ValueError(f"{str(path)!r} is not a hybridtl model file (written by hybridtl.save or 'hybridtl fit')")
    try:
        with zipfile.ZipFile(path) as archive:
            state, weights = archive.read("model.skops"), archive.read("weights.safetensors")
        named = skops.io.get_untrusted_types(data=state)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{str(path)!r} is a damaged hybridtl model file ({type(exc).__name__}: {exc})") from None
    unknown = sorted(t for t in set(named) - set(TRUSTED) if not t.startswith(TRUSTED_PREFIXES))
    if unknown:
        raise ValueError(f"{str(path)!r} names types hybridtl does not trust, so it is not loaded: {unknown} "
                         "(a model fitted with your own callbacks: set_params(callbacks=None) before saving)")
    tensors = safetensors.torch.load(weights) if weights else {}
    with weights_apart(tensors):
        return skops.io.loads(state, trusted=named)
