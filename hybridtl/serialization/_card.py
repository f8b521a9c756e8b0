"""The model card: what a saved model is, how it was made and how well it did, as plain JSON in the file.

It is written by :func:`hybridtl.save` into every model file, readable without loading the model
(:func:`read_card`, ``hybridtl info MODEL``): the classes with their image counts, the recipe and
its parameters, the auto search's leaderboard, the backbone with its weights' sha256, the
preprocessing, validation metrics where they were measured, library versions and the date.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import math
import platform

__all__ = ["CARD_LIBRARIES", "model_card"]

CARD_LIBRARIES = ("hybridtl", "torch", "torchvision", "timm", "scikit-learn", "numpy", "xgboost", "openvino")


def _plain(value):
    """``value`` as JSON data: numbers, text, lists and dicts; anything else as its repr."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) or type(value).__module__ == "numpy" and hasattr(value, "item"):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, float) and not math.isfinite(number):
            return None
        return number
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [_plain(v) for v in value]
    return repr(value)


def _parts(model):
    """The model and every estimator inside it: Pipeline steps, ensemble members, an auto search's winner."""
    found, todo = [], [model]
    while todo:
        item = todo.pop(0)
        found.append(item)
        todo.extend(step for _, step in getattr(item, "steps", []))
        todo.extend(member for _, member in getattr(item, "estimators", []) or [] if hasattr(member, "fit"))
        for attribute in ("best_estimator_", "estimator"):
            inner = getattr(item, attribute, None)
            if inner is not None and hasattr(inner, "fit") and not isinstance(inner, type):
                todo.append(inner)
    return found


def _backbones(parts):
    """Each distinct network in the model: name, weights source and sha256, preprocessing.

    A ``FrozenEstimator`` answers for the model it wraps, which is listed itself.
    """
    seen, rows = set(), []
    for part in parts:
        config = getattr(part, "config_", None)
        if type(part).__name__ == "FrozenEstimator" or config is None or not dataclasses.is_dataclass(config):
            continue
        key = (config.name, getattr(part, "weights_sha256_", ""))
        if key in seen:
            continue
        seen.add(key)
        preprocess = getattr(part, "preprocess_", None)
        rows.append({"backbone": config.name, "used_by": type(part).__name__,
                     "weights_source": str(getattr(part, "weights_source_", "")),
                     "weights_sha256": getattr(part, "weights_sha256_", ""),
                     "preprocessing": _plain(dataclasses.asdict(preprocess)) if dataclasses.is_dataclass(preprocess)
                     else None})
    return rows


def _validation(model, validation):
    """Validation metrics: given, an auto search's, or a fine-tuned model's best epoch on its own validation part."""
    if validation is not None:
        return _plain(validation)
    if getattr(model, "validation_", None):
        return {**_plain(model.validation_), "source": "the auto search: the winner on images it did not train on"}
    history = getattr(model, "history_", None)
    if history is not None and len(history) and "val_acc" in history and history["val_acc"].notna().any():
        best = getattr(model, "best_epoch_", None) or int(history["val_loss"].idxmin()) + 1
        row = history.iloc[best - 1]
        return {"accuracy": _plain(row["val_acc"]), "loss": _plain(row["val_loss"]), "epoch": int(best),
                "source": "the fine-tuning's own validation part (validation_fraction) at the epoch kept"}
    return None


def _versions():
    versions = {"python": platform.python_version()}
    for name in CARD_LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def model_card(model, y=None, recipe=None, validation=None):
    """The card of a fitted ``model``, as a dict of JSON data.

    Parameters
    ----------
    model : fitted estimator
    y : array-like, optional
        The training labels, for the image count of each class (an auto search keeps its own).
    recipe : hybridtl.recipes.Recipe, optional
        The recipe that built the model.
    validation : dict, optional
        Validation metrics measured outside the model (e.g. ``hybridtl fit``'s cross-validation),
        with a ``"source"`` entry saying how.

    Returns
    -------
    dict

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> card = model_card(LogisticRegression().fit(np.eye(4), [0, 1, 0, 1]), y=[0, 1, 0, 1])
    >>> card["model"], card["classes"]
    ('sklearn.linear_model._logistic.LogisticRegression', [{'class': '0', 'count': 2}, {'class': '1', 'count': 2}])
    """
    import numpy as np

    counts = getattr(model, "class_counts_", None)
    if counts is None and y is not None:
        labels, n = np.unique(np.asarray(y), return_counts=True)
        counts = {str(label): int(c) for label, c in zip(labels, n)}
    classes = [str(c) for c in getattr(model, "classes_", [])]
    leaderboard = getattr(model, "leaderboard_", None)
    return {
        "card_version": 1,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": f"{type(model).__module__}.{type(model).__qualname__}",
        "recipe": None if recipe is None else {"name": recipe.name, "kind": recipe.kind,
                                               "description": recipe.description},
        "auto": None if leaderboard is None else {"best": model.best_, "refit": bool(model.refit_),
                                                  "time_budget_seconds": _plain(model.time_budget_),
                                                  "elapsed_seconds": _plain(model.elapsed_)},
        "parameters": _plain(model.get_params(deep=False)) if hasattr(model, "get_params") else None,
        "classes": [{"class": c, "count": None if counts is None else counts.get(c)} for c in classes],
        "leaderboard": None if leaderboard is None else _plain(leaderboard.to_dict(orient="records")),
        "backbones": _backbones(_parts(model)),
        "validation": _validation(model, validation),
        "versions": _versions(),
    }
