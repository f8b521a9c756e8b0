"""The side-by-side benchmark: every recipe on one shared train / validation / test split."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit, train_test_split

from ..auto import AutoClassifier
from ..core import GRID_MODES, Options, atomic_path, check_param, progress_bar
from ..devices import resolve_device
from ..finetune import plot_history
from ..images import subset
from ..recipes import load_recipe
from ._plots import plot_confusion_matrix, plot_summary

__all__ = ["COLUMNS", "PeakRSS", "run_benchmark", "run_budgeted", "run_seeds", "searches", "shared_extraction",
           "split_three"]

COLUMNS = ["recipe", "kind", "accuracy", "macro_f1", "fit_seconds", "shared_extract_seconds", "predict_seconds",
           "predict_images_per_s", "peak_rss_mb", "peak_gpu_mb", "device", "epochs_run", "grid_best"]



def split_three(y, val_size=0.2, test_size=0.2, random_state=0):
    """Stratified train / validation / test positions (60/20/20 by default).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    val_size, test_size : float, default=0.2
    random_state : int, default=0

    Returns
    -------
    train, val, test : numpy.ndarray of int
        Sorted positions.

    Examples
    --------
    >>> train, val, test = split_three(np.repeat([0, 1], 50))
    >>> len(train), len(val), len(test)
    (60, 20, 20)
    """
    index = np.arange(len(y))
    try:
        rest, test = train_test_split(index, test_size=test_size, stratify=y, random_state=random_state)
        train, val = train_test_split(rest, test_size=val_size / (1 - test_size), stratify=np.asarray(y)[rest],
                                      random_state=random_state)
    except ValueError as exc:
        raise ValueError(f"cannot split the data into stratified train/validation/test parts ({exc}); "
                         "every class needs at least 5 images") from None
    return np.sort(train), np.sort(val), np.sort(test)


class PeakRSS:
    """Peak resident memory of this process while the block runs, sampled every 20 ms (Linux)."""

    def __enter__(self):
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss():
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _concat(a, b):
    return np.concatenate([a, b]) if isinstance(a, np.ndarray) else list(a) + list(b)


def searches(recipe, grid):
    """Whether the benchmark tunes ``recipe``'s GRID under the ``grid`` mode (one of :data:`hybridtl.core.GRID_MODES`).

    "auto" tunes the GRID of recipes whose fits are cheap (hybrid heads on cached features,
    baselines), not of fine-tuning recipes, where every grid point is a full training; "all" every
    recipe's; "none" none.

    Examples
    --------
    >>> from hybridtl.recipes import load_recipe
    >>> [searches(load_recipe(name), "auto") for name in ("cnn_svm", "finetune_full")]
    [True, False]
    """
    mode = {True: "all", False: "none"}.get(grid, grid) if isinstance(grid, (bool, str)) else grid
    check_param("grid", mode, [Options(GRID_MODES)])
    return bool(recipe.grid) and (mode == "all" or (mode == "auto" and recipe.kind != "finetune"))


def _fit(recipe, estimator, train, val, grid):
    """(fitted estimator, best grid parameters or None)."""
    if searches(recipe, grid):
        folds = PredefinedSplit(np.r_[np.full(len(train.y), -1), np.zeros(len(val.y))])
        search = GridSearchCV(estimator, recipe.grid, cv=folds, refit=True)
        search.fit(_concat(train.X, val.X), np.r_[train.y, val.y])
        return search.best_estimator_, search.best_params_
    if recipe.kind == "finetune":
        return estimator.fit(train.X, train.y, validation_data=(val.X, val.y)), None
    return estimator.fit(train.X, train.y), None


def _run_one(name, data_parts, settings, grid, out):
    train, val, test = data_parts
    recipe = load_recipe(name)
    estimator = recipe.build(**settings)
    device = resolve_device(settings.get("device", "auto"))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as memory:
        start = time.perf_counter()
        fitted, best = _fit(recipe, estimator, train, val, grid)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        predicted = fitted.predict(test.X)
        predict_seconds = time.perf_counter() - start
    plot_confusion_matrix(test.y, predicted, np.unique(np.r_[train.y, test.y]), out / f"confusion_{recipe.name}.png",
                          title=recipe.name)
    history = getattr(fitted, "history_", None)
    if history is not None:
        plot_history(history, out / f"curves_{recipe.name}.png", title=recipe.name)
    return {
        "recipe": recipe.name,
        "kind": recipe.kind,
        "accuracy": accuracy_score(test.y, predicted),
        "macro_f1": f1_score(test.y, predicted, average="macro"),
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "predict_images_per_s": len(test.y) / predict_seconds,
        "peak_rss_mb": memory.peak / 2**20,
        "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else np.nan,
        "device": device.type,
        "epochs_run": len(history) if history is not None else np.nan,
        "grid_best": "" if best is None else " ".join(f"{k}={v}" for k, v in sorted(best.items())),
    }


def shared_extraction(recipes, settings, parts):
    """Extract every image once for all hybrid recipes; return the seconds it took (nan without hybrids).

    The hybrid recipes share one extractor configuration, so after this pass
    their extractors find every image in the feature cache (in memory by
    default) and each recipe's ``fit_seconds`` is the head's own cost.
    """
    from sklearn.base import clone

    for name in recipes:
        recipe = load_recipe(name)
        if recipe.kind == "hybrid":
            extractor = clone(recipe.build(**settings).steps[0][1])
            start = time.perf_counter()
            extractor.fit()
            for part in parts:
                extractor.transform(part.X)
            return time.perf_counter() - start
    return np.nan


def run_benchmark(data, recipes, out_dir, settings=None, val_size=0.2, test_size=0.2, random_state=0,
                  grid="auto", progress=True):
    """Fit every recipe on the same split, score it once on the test part, and write the report.

    Writes into ``out_dir``: ``results.csv`` and ``results.md`` (one row per
    recipe: accuracy, macro-F1, fit and predict seconds, images/s at predict,
    peak memory, device; hybrid recipes share one feature extraction, timed
    once as ``shared_extract_seconds``), ``confusion_<recipe>.png``, ``curves_<recipe>.png``
    for fine-tuned recipes, and ``summary.png`` (accuracy against fit time).

    ``grid`` (one of :data:`hybridtl.core.GRID_MODES`, the CLI's ``--grid``) says whose GRID
    is tuned with ``GridSearchCV`` on the validation part, the winner refit on
    train + validation; ``grid_best`` in the table names what it chose.

    Parameters
    ----------
    data : hybridtl.images.Dataset
        As :func:`hybridtl.images.load_data` gives it.
    recipes : list of str
        Recipe names or recipe files (:func:`hybridtl.recipes.load_recipe`).
    out_dir : str or Path
    settings : dict, optional
        Settings every recipe's ``build`` takes (``image_size``, ``device``, ``epochs``, ...).
    val_size, test_size : float, default=0.2
    random_state : int, default=0
    grid : {"auto", "all", "none"}, default="auto"
    progress : bool, default=True

    Returns
    -------
    pandas.DataFrame
        The results table.

    Examples
    --------
    >>> import tempfile
    >>> from hybridtl.images import load_data
    >>> data = load_data("digits", limit_per_class=10)
    >>> table = run_benchmark(data, ["pixels_logreg"], tempfile.mkdtemp(), progress=False)
    >>> table[["recipe", "kind"]].values.tolist()
    [['pixels_logreg', 'baseline']]
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"random_state": random_state, **(settings or {})}
    parts = tuple(subset(data, idx) for idx in split_three(data.y, val_size, test_size, random_state))
    for name in recipes:
        searches(load_recipe(name), grid)  # fail on an unknown recipe or grid mode before any work
    shared = shared_extraction(recipes, settings, parts)
    rows = []
    for name in progress_bar(recipes, progress=progress, desc="recipes", unit="recipe"):
        row = _run_one(name, parts, settings, grid, out)
        rows.append({**row, "shared_extract_seconds": shared if row["kind"] == "hybrid" else np.nan})
    results = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(results.round(4).to_markdown(index=False) + "\n")
    plot_summary(results, out / "summary.png")
    return results


def run_seeds(data, recipes, out_dir, seeds, settings=None, grid="auto", progress=True):
    """:func:`run_benchmark` once per seed (its own split and training seeds), then mean and spread.

    Each seed's full report goes to ``out_dir/seed_<s>/``; ``out_dir`` gets
    ``results_by_seed.csv`` (every row, with its seed) and ``results.csv`` /
    ``results.md``: per recipe the mean and standard deviation over the seeds
    of accuracy, macro-F1 and fit seconds, and the number of seeds; and
    ``summary.png``, the mean accuracy against fit time with the spread.

    Parameters
    ----------
    data : hybridtl.images.Dataset
    recipes : list of str
    out_dir : str or Path
    seeds : list of int
    settings : dict, optional
    grid : {"auto", "all", "none"}, default="auto"
    progress : bool, default=True

    Returns
    -------
    pandas.DataFrame
        The per-recipe summary.

    Examples
    --------
    >>> import tempfile
    >>> from hybridtl.images import load_data
    >>> data = load_data("digits", limit_per_class=10)
    >>> table = run_seeds(data, ["pixels_logreg"], tempfile.mkdtemp(), seeds=[0, 1], progress=False)
    >>> table[["recipe", "n_seeds"]].values.tolist()
    [['pixels_logreg', 2]]
    """
    out = Path(out_dir)
    runs = [run_benchmark(data, recipes, out / f"seed_{seed}", settings={**(settings or {}), "random_state": seed},
                          random_state=seed, grid=grid, progress=progress).assign(seed=seed) for seed in seeds]
    every = pd.concat(runs, ignore_index=True)
    summary = every.groupby(["recipe", "kind"], sort=False).agg(
        accuracy_mean=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
        macro_f1_mean=("macro_f1", "mean"), macro_f1_std=("macro_f1", "std"),
        fit_seconds_mean=("fit_seconds", "mean"), n_seeds=("seed", "count")).reset_index()
    for name, frame in (("results_by_seed.csv", every), ("results.csv", summary)):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(summary.round(4).to_markdown(index=False) + "\n")
    plot_summary(summary, out / "summary.png")
    return summary


def run_budgeted(data, recipes, out_dir, time_budget, settings=None, val_size=0.2, test_size=0.2, random_state=0,
                 progress=True):
    """The side-by-side report within a time budget: the auto search over ``recipes``, its winner tested.

    :class:`~hybridtl.auto.AutoClassifier` runs on the train and validation parts of the same
    60/20/20 split as :func:`run_benchmark` (cheap contenders by cross-validation, fine-tuning by
    successive halving, each skipped or stopped when time runs short), and its winner is scored
    once on the test part. Writes ``leaderboard.csv`` / ``.md`` (every contender, with its status),
    ``results.csv`` / ``.md`` (the winner's test scores and times) and ``confusion_auto.png``.

    Parameters
    ----------
    data : hybridtl.images.Dataset
    recipes : list of str
    out_dir : str or Path
    time_budget : float or str
        Seconds, or a duration such as ``"10m"``.
    settings : dict, optional
        ``image_size``, ``device``, ``epochs``, ``batch_size``, ``augment``, ``progress``, ``backbone``, ``weights``.
    val_size, test_size : float, default=0.2
    random_state : int, default=0
    progress : bool, default=True

    Returns
    -------
    leaderboard, results : pandas.DataFrame

    Examples
    --------
    >>> import tempfile
    >>> from hybridtl.images import load_data
    >>> data = load_data("digits", limit_per_class=10)
    >>> board, results = run_budgeted(data, ["pixels_logreg"], tempfile.mkdtemp(), 30, progress=False)
    >>> results[["winner", "within_budget"]].values.tolist()
    [['pixels_logreg', True]]
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(settings or {})
    keys = ("image_size", "device", "epochs", "batch_size", "augment", "backbone", "weights")
    train, val, test = split_three(data.y, val_size, test_size, random_state)
    fit_part, test_part = subset(data, np.sort(np.r_[train, val])), subset(data, test)
    auto = AutoClassifier(time_budget=time_budget, recipes=list(recipes), random_state=random_state,
                          progress=progress, **{k: settings[k] for k in keys if settings.get(k) is not None})
    start = time.perf_counter()
    auto.fit(fit_part.X, fit_part.y)
    fit_seconds = time.perf_counter() - start
    predicted = auto.predict(test_part.X)
    results = pd.DataFrame([{
        "winner": auto.best_, "accuracy": accuracy_score(test_part.y, predicted),
        "macro_f1": f1_score(test_part.y, predicted, average="macro"), "fit_seconds": fit_seconds,
        "time_budget": auto.time_budget_, "within_budget": fit_seconds <= auto.time_budget_ * 1.1,
        "refit": auto.refit_}])
    for name, frame in (("leaderboard", auto.leaderboard_), ("results", results)):
        with atomic_path(out / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
        with atomic_path(out / f"{name}.md") as tmp:
            tmp.write_text(frame.round(4).to_markdown(index=False) + "\n")
    plot_confusion_matrix(test_part.y, predicted, np.unique(data.y), out / "confusion_auto.png",
                          title=f"auto: {auto.best_}")
    return auto.leaderboard_, results
