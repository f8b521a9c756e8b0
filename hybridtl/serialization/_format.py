"""A model file that loads without running code: ``hybridtl.save(model, path)`` and ``hybridtl.load(path)``.

``joblib.load`` (pickle) executes whatever a file holds, so a model file from
a colleague or a model hub is code. A ``.hybridtl`` file is a zip of

* ``manifest.json``: format, version, the model's class;
* ``weights.safetensors``: every torch tensor (safetensors holds only data);
* ``model.skops``: the estimators' parameters and fitted state, written by
  ``skops.io``, which rebuilds objects only of types it is told to trust;
* ``card.json``: the model card (:func:`hybridtl.serialization.model_card`), plain JSON
  that :func:`read_card` reads without loading the model (format version 2; files of
  version 1 have none and still load).

:func:`load` trusts scikit-learn's own types (skops' default), numpy data and
the explicit list :data:`TRUSTED` of hybridtl, calibration and XGBoost types
below (and, by name only, torch's learning-rate scheduler classes); a file that
names any other type is refused before anything is built.

Each network is stored once, keyed by a hash of its weights, however many
times the model refers to it. A model file is input from strangers: before
anything is read, :func:`load` checks that the zip holds exactly these entries,
stored uncompressed as :func:`save` writes them, each no larger than the file
itself; anything else, or anything that does not decode, is one
"damaged hybridtl model file" error.

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
import os
import zipfile

from ..core import atomic_path, weights_apart

__all__ = ["FORMAT", "TRUSTED", "TRUSTED_PREFIXES", "DamagedModelFileError", "is_hybridtl_file", "load", "read_card",
           "save", "starts_like_hybridtl_file"]

FORMAT, VERSION = "hybridtl-model", 2
# the zip's entries, each stored uncompressed (ZIP_STORED), as save writes them; version 1 had no card
_ENTRIES = ("manifest.json", "model.skops", "weights.safetensors", "card.json")
_ENTRIES_V1 = _ENTRIES[:3]
_MAX_MANIFEST = 64 * 1024

TRUSTED = (
    "hybridtl.features.CNNFeatureExtractor",
    "hybridtl.finetune.FineTuneClassifier",
    "hybridtl.backbones.BackboneConfig",
    "hybridtl.images.Preprocess",
    "hybridtl.heads.Float64Scaler",
    "hybridtl.heads.Float64Normalizer",
    "hybridtl.features.PixelFeatures",
    "hybridtl.pixels.PixelFeatures",  # its name in files written before the package had sub-packages
    "hybridtl.heads.LabelXGBClassifier",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "xgboost.core.Booster",
    "hybridtl.callbacks.Checkpoint",
    "hybridtl.callbacks.FreezeBlocks",
    "hybridtl.callbacks.LRScheduler",
    "hybridtl.callbacks.PrintLog",
    "hybridtl.callbacks.TimeLimit",
    "hybridtl.auto.AutoClassifier",
    "sklearn.utils._bunch.Bunch",  # a dict with attribute access: VotingClassifier's named_estimators_
)
# Classes named here are only looked up, never called, on load: the schedulers an LRScheduler names.
TRUSTED_PREFIXES = ("torch.optim.lr_scheduler.",)


def save(model, path, card=None):
    """Write ``model`` (any hybridtl estimator, Pipeline or scikit-learn classifier) to ``path`` safely.

    The file is written atomically: an earlier file at ``path`` stays intact
    if saving fails. Weights are stored on the CPU, so a GPU-fitted model
    loads anywhere. The file holds the model card too: ``card``, or what
    :func:`~hybridtl.serialization.model_card` reads from the model.

    Parameters
    ----------
    model : estimator
    path : str or Path
    card : dict, optional
        The card, as :func:`~hybridtl.serialization.model_card` makes it (with the training
        labels' counts, the recipe, validation metrics).

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> path = tempfile.mkdtemp() + "/model.hybridtl"
    >>> save(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), path)
    >>> is_hybridtl_file(path)
    True
    """
    import safetensors.torch
    import skops.io

    from ._card import model_card

    card = model_card(model) if card is None else card
    with weights_apart({}) as tensors:
        state = skops.io.dumps(model)
    manifest = {"format": FORMAT, "version": VERSION, "class": f"{type(model).__module__}.{type(model).__qualname__}"}
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest))
            archive.writestr("model.skops", state)
            archive.writestr("weights.safetensors", safetensors.torch.save(tensors) if tensors else b"")
            archive.writestr("card.json", json.dumps(card, indent=1))


class DamagedModelFileError(ValueError):
    """A hybridtl model file that cannot be read as the format writes it.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> path = tempfile.mkdtemp() + "/model.hybridtl"
    >>> save(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), path)
    >>> data = open(path, "rb").read()
    >>> _ = open(path, "wb").write(data[: len(data) // 2])  # cut in half
    >>> try:
    ...     load(path)
    ... except DamagedModelFileError as error:
    ...     print(str(error).split(" (")[0][-27:])
    damaged hybridtl model file
    """

    __module__ = "hybridtl.serialization"


def is_hybridtl_file(path):
    """Whether ``path`` is a zip with a hybridtl manifest (read without loading anything).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool

    Examples
    --------
    >>> is_hybridtl_file(__file__)
    False
    """
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("manifest.json")
            if info.file_size > _MAX_MANIFEST:
                return False
            return json.loads(archive.read(info)).get("format") == FORMAT
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False


def _read_entries(path):
    """The bytes of model.skops and weights.safetensors, after checking what the zip declares of them.

    Each entry must be stored uncompressed and no larger than the file, so a small file cannot make
    the loader inflate gigabytes (a zip bomb); anything else is refused before a byte is read.
    """
    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        names = sorted(info.filename for info in infos)
        if names not in (sorted(_ENTRIES), sorted(_ENTRIES_V1)):
            raise DamagedModelFileError(f"its entries are {names[:6]}, not {list(_ENTRIES)}")
        for info in infos:
            stored = info.compress_type == zipfile.ZIP_STORED and info.compress_size == info.file_size
            if not stored or info.file_size > size:
                raise DamagedModelFileError(
                    f"entry {info.filename!r} declares {info.file_size} bytes, compressed (method "
                    f"{info.compress_type}) to {info.compress_size}, in a file of {size}; the format stores each "
                    "entry uncompressed")
        card = archive.read("card.json") if "card.json" in names else None
        return archive.read("model.skops"), archive.read("weights.safetensors"), card


def load(path):
    """Load a model written by :func:`save`; never unpickles.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    estimator
        The model as it was saved.

    Raises
    ------
    ValueError
        The file is not a hybridtl model file, is damaged
        (:class:`DamagedModelFileError`), or names a type outside the trusted
        list (listed in the message).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from hybridtl.features import PixelFeatures
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = np.random.default_rng(0).integers(0, 256, (6, 16, 16), dtype=np.uint8)
    >>> model = make_pipeline(PixelFeatures(), LogisticRegression()).fit(X, [0, 1] * 3)
    >>> path = tempfile.mkdtemp() + "/model.hybridtl"
    >>> save(model, path)
    >>> bool((load(path).predict_proba(X) == model.predict_proba(X)).all())
    True
    """
    import safetensors.torch
    import skops.io

    state, weights, _ = _entries(path)
    try:
        named = skops.io.get_untrusted_types(data=state)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise _damaged(path, exc) from None
    unknown = sorted(t for t in set(named) - set(TRUSTED) if not t.startswith(TRUSTED_PREFIXES))
    if unknown:
        raise ValueError(f"{str(path)!r} names types hybridtl does not trust, so it is not loaded: {unknown} "
                         "(a model fitted with your own callbacks: set_params(callbacks=None) before saving)")
    try:
        tensors = safetensors.torch.load(weights) if weights else {}
        with weights_apart(tensors):
            return skops.io.loads(state, trusted=named)
    except Exception as exc:  # noqa: BLE001 - whatever fails to decode in a stranger's file means: damaged
        raise _damaged(path, exc) from None


def starts_like_hybridtl_file(path):
    """Whether the file begins as :func:`save` begins one: a zip whose first entry is manifest.json."""
    try:
        with open(path, "rb") as f:
            head = f.read(30 + len(_ENTRIES[0]))
    except OSError:
        return False
    return head[:4] == b"PK\x03\x04" and head[30:] == _ENTRIES[0].encode()


def _damaged(path, exc):
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    return DamagedModelFileError(f"{str(path)!r} is a damaged hybridtl model file ({reason})")


def read_card(path):
    """The model card of a file written by :func:`save`, without loading the model (None for a version-1 file).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict or None

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> path = tempfile.mkdtemp() + "/model.hybridtl"
    >>> save(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), path)
    >>> read_card(path)["model"]
    'sklearn.linear_model._logistic.LogisticRegression'
    """
    _, _, card = _entries(path)
    try:
        return None if card is None else json.loads(card)
    except ValueError as exc:
        raise _damaged(path, exc) from None


def _entries(path):
    """(model.skops, weights.safetensors, card.json or None) of a model file, checked as :func:`_read_entries` does;
    a file that is none is one ValueError, a damaged one one :class:`DamagedModelFileError`."""
    if not is_hybridtl_file(path):
        if starts_like_hybridtl_file(path):
            raise _damaged(path, ValueError("its zip directory cannot be read (a truncated file?)"))
        raise ValueError(f"{str(path)!r} is not a hybridtl model file (written by hybridtl.save or 'hybridtl fit')")
    try:
        return _read_entries(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise _damaged(path, exc) from None
