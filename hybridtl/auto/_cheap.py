"""The cheap contenders: a feature step computed once per configuration, its heads tuned by cross-validation on it.

A hybrid recipe is a Pipeline whose first step (the frozen extractor, or raw pixels) learns
nothing from the data, so its output for an image never changes: each distinct first step
transforms every image once, and the logistic, SVM and XGBoost heads are grid-searched on that
matrix with ``GridSearchCV``. The final model is the fitted first step followed by the head
steps refit on all the features.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, ParameterGrid
from sklearn.pipeline import Pipeline

from ..core import score_proba
from ._splits import take

__all__ = ["CheapResult", "feature_key", "fit_cheap", "features_for"]

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


def probe_features(first, X):
    """(the first step fitted, estimated seconds to transform all of ``X``), from timing a few images.

    The first image warms the step up (a runtime compiles its network on first use) and is
    counted with the loading; the next ones are timed. Their features stay in the memory cache.
    """
    start = time.perf_counter()
    n = len(X)
    fitted = clone(first).fit(take(X, [0]))
    fitted.transform(take(X, [0]))
    loaded = time.perf_counter() - start
    rows = np.arange(1, min(n, PROBE_IMAGES + 1))
    if not len(rows):
        return fitted, loaded
    start = time.perf_counter()
    fitted.transform(take(X, rows))
    return fitted, loaded + (time.perf_counter() - start) / len(rows) * (n - 1)


def features_for(fitted_first, X):
    """Every image of ``X`` through the fitted first step."""
    return np.asarray(fitted_first.transform(X))


def _grid(recipe, first_name):
    """The recipe's grid for the head steps (entries about the first step dropped: it is fixed)."""
    return {k: v for k, v in (recipe.grid or {}).items() if not k.startswith(first_name + "__")}


def estimate_search_seconds(rest, grid, F, y, folds):
    """(seconds one head fit took on the first fold, estimated seconds for the whole grid search and refit)."""
    start = time.perf_counter()
    train = folds.train
    clone(rest).set_params(**(next(iter(ParameterGrid(grid))) if grid else {})).fit(F[train], y[train])
    one = time.perf_counter() - start
    points = len(ParameterGrid(grid)) if grid else 1
    return one, one * (points * folds.n_splits + 1) * len(y) / max(1, len(train))


def fit_cheap(name, recipe, estimator, fitted_first, F, y, folds, scoring):
    """Grid-search the head steps on the features ``F``; the :class:`CheapResult`."""
    first_name = estimator.steps[0][0]
    rest = Pipeline(estimator.steps[1:])
    grid = _grid(recipe, first_name)
    search = GridSearchCV(rest, grid or {}, cv=folds.splits, scoring=scoring, refit=True, error_score="raise")
    search.fit(F, y)
    best = search.best_index_
    scores = np.array([search.cv_results_[f"split{i}_test_score"][best] for i in range(folds.n_splits)])
    on_train = clone(search.best_estimator_).fit(F[folds.train], y[folds.train])
    holdout_proba = on_train.predict_proba(F[folds.holdout])
    model = Pipeline([(first_name, fitted_first)] + search.best_estimator_.steps)
    return CheapResult(name, model, holdout_proba, scores, dict(search.best_params_))


def holdout_score(result, scoring, y, folds, classes):
    """The contender's score on the first fold's held-out images."""
    return score_proba(scoring, y[folds.holdout], result.holdout_proba, classes)


def summary(scores):
    """(mean, standard deviation) of per-fold scores."""
    return float(np.mean(scores)), float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan
