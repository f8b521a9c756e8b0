"""The cheap contenders: a feature step computed once per configuration, its heads tuned by cross-validation on it.

A hybrid recipe is a Pipeline whose first step (the frozen extractor, or raw pixels) learns
nothing from the data, so its output for an image never changes: each distinct first step
transforms every image once, and the logistic, SVM and XGBoost heads are tuned on that matrix by
cross-validation, as ``GridSearchCV`` would, one grid point at a time. The final model is the
fitted first step followed by the head steps refit on all the features.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid, cross_val_score
from sklearn.pipeline import Pipeline

from ._splits import keep_decoded, take

__all__ = ["CheapResult", "estimate_first_point", "feature_key", "features_for", "fit_cheap", "head_grid",
           "probe_features", "search_grid", "summary"]

# images whose features are timed to estimate the cost of all of them
PROBE_IMAGES = 16


@dataclass
class CheapResult:
    """A scored cheap contender: its final model (on all the data) and its first fold's held-out probabilities."""

    name: str
    model: object
    holdout_proba: np.ndarray
    cv_scores: np.ndarray
    params: dict


def feature_key(estimator):
    """What identifies a Pipeline's first step, so recipes with the same one share its features (None: no Pipeline)."""
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return None
    first = estimator.steps[0][1]
    return type(first).__qualname__, repr(sorted(first.get_params(deep=False).items()))


def probe_features(first, X, keep=frozenset()):
    """(the first step fitted, estimated seconds to transform all of ``X``), from timing a few images.

    The first image warms the step up (a runtime compiles its network on first use) and is
    counted with the loading; the next ones are timed. Their features stay in the memory cache.
    When the fitted step's preprocessing is one of ``keep`` (the fine-tuning contenders'), its files
    are decoded into the store first, as :func:`features_for` will decode the rest, within the timing.
    """
    start = time.perf_counter()
    n = len(X)
    fitted = clone(first).fit(take(X, [0]))
    features_for(fitted, take(X, [0]), keep)
    loaded = time.perf_counter() - start
    rows = np.arange(1, min(n, PROBE_IMAGES + 1))
    if not len(rows):
        return fitted, loaded
    start = time.perf_counter()
    features_for(fitted, take(X, rows), keep)
    return fitted, loaded + (time.perf_counter() - start) / len(rows) * (n - 1)


def features_for(fitted_first, X, keep=frozenset()):
    """Every image of ``X`` through the fitted first step. When its preprocessing is one of ``keep`` (what the
    fine-tuning contenders read their files at), the files are first decoded into the store, where the
    step reads them and the fine-tuning contenders will: each file is decoded once in the whole search."""
    if getattr(fitted_first, "preprocess_", None) in keep:
        keep_decoded(fitted_first, X)
    return np.asarray(fitted_first.transform(X))


def head_grid(recipe, first_name):
    """The recipe's grid for the head steps (entries about the first step dropped: it is fixed)."""
    return {k: v for k, v in (recipe.grid or {}).items() if not k.startswith(first_name + "__")}


def estimate_first_point(rest, grid, F, y, folds):
    """Estimated seconds to cross-validate the grid's first point, from one fit on the first fold's training part."""
    start = time.perf_counter()
    train = folds.train
    clone(rest).set_params(**(next(iter(ParameterGrid(grid))) if grid else {})).fit(F[train], y[train])
    return (time.perf_counter() - start) * folds.n_splits


def search_grid(rest, grid, F, y, folds, scoring, clock, reserve=0.0):
    """``GridSearchCV``'s search on the folds, one grid point at a time so that it stops before the budget ends.

    Returns (best parameters, their per-fold scores, how many points ran, of how many); a point starts
    only when one 1.5x as long as the longest so far ends ``reserve`` seconds before the budget. Written out
    because ``GridSearchCV`` cannot stop part-way; on a whole grid it chooses as ``GridSearchCV`` does
    (the best mean score, the first of equals).
    """
    points = list(ParameterGrid(grid)) if grid else [{}]
    results, longest = [], 0.0
    for params in points:
        if results and not clock.fits(1.5 * longest, reserve):  # later points may cost more (more trees)
            break
        start = time.perf_counter()
        scores = cross_val_score(clone(rest).set_params(**params), F, y, cv=folds.splits, scoring=scoring,
                                 error_score="raise")
        longest = max(longest, time.perf_counter() - start)
        results.append((params, scores))
    best, scores = max(results, key=lambda pair: pair[1].mean())
    return best, scores, len(results), len(points)


def fit_cheap(name, estimator, fitted_first, F, y, folds, scoring, grid, clock, reserve=0.0):
    """Search the head steps' grid on the features ``F`` within the clock; the :class:`CheapResult` and the
    number of grid points that ran, of how many."""
    first_name = estimator.steps[0][0]
    rest = Pipeline(estimator.steps[1:])
    best, scores, ran, points = search_grid(rest, grid, F, y, folds, scoring, clock, reserve)
    on_train = clone(rest).set_params(**best).fit(F[folds.train], y[folds.train])
    holdout_proba = on_train.predict_proba(F[folds.holdout])
    head = clone(rest).set_params(**best).fit(F, y)
    model = Pipeline([(first_name, fitted_first)] + head.steps)
    return CheapResult(name, model, holdout_proba, scores, best), ran, points


def summary(scores):
    """(mean, standard deviation) of per-fold scores."""
    return float(np.mean(scores)), float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan
