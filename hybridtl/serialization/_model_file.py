"""The model file the command line loads: the safe format, or a pickle only when it is trusted."""

from __future__ import annotations

from pathlib import Path

from ._format import is_hybridtl_file, load, starts_like_hybridtl_file

__all__ = ["load_model"]


def load_model(path, trust_pickle=False):
    """A fitted classifier from a hybridtl model file (or, with ``trust_pickle``, a joblib/pickle file).

    Anything else, or a pickle without ``trust_pickle``, is a one-line ValueError saying why not.

    Parameters
    ----------
    path : str or Path
    trust_pickle : bool, default=False
        Also load joblib/pickle files, which run any code they hold.

    Returns
    -------
    classifier
        Fitted, with ``predict_proba`` and ``classes_``.

    Examples
    --------
    >>> load_model("no/such/model.hybridtl")
    Traceback (most recent call last):
    ...
    ValueError: model file 'no/such/model.hybridtl' does not exist
    """
    if not Path(path).is_file():
        raise ValueError(f"model file {str(path)!r} does not exist")
    if is_hybridtl_file(path) or starts_like_hybridtl_file(path):  # a damaged one: load says so
        model = load(path)
    elif not trust_pickle:
        raise ValueError(f"{str(path)!r} is not a hybridtl model file; if it is a joblib/pickle file, loading it "
                         "runs any code it holds: pass --trust-pickle only if you trust where it came from, "
                         "or re-save it with hybridtl.save / 'hybridtl fit'")
    else:
        model = _unpickle(path)
    if not (hasattr(model, "predict_proba") and hasattr(model, "classes_")):
        raise ValueError(f"{str(path)!r} holds a {type(model).__name__}, not a fitted hybridtl or scikit-learn "
                         "classifier (save one with 'hybridtl fit')")
    return model


def _unpickle(path):
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means: not a model file we can read
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise ValueError(f"{str(path)!r} is not a model file hybridtl can read ({reason})") from None
