"""``AutoClassifier``: the best model for the user's images within a time budget.

The search runs the cheap contenders first (raw pixels, then frozen-CNN features extracted once
and shared by the logistic, SVM and XGBoost heads, each tuned by cross-validation on them), then
lets the fine-tuning strategies share what is left by successive halving over epochs on one
held-out fold, the first fold of the same cross-validation. The winner is refit on all the data
when the time left allows.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import ParameterGrid, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..callbacks import TimeLimit
from ..core import (
    AUGMENTS,
    SCORINGS,
    Boolean,
    DeviceName,
    InstanceOf,
    Interval,
    Options,
    bootstrap_sd,
    check_two_classes,
    format_duration,
    image_size_constraint,
    parse_duration,
    score_proba,
    validate_params,
    validation_metrics,
)
from ..images import as_image_set
from ..recipes import load_recipe
from ._cheap import (
    estimate_first_point,
    feature_key,
    features_for,
    fit_cheap,
    head_grid,
    probe_features,
    summary,
)
from ._clock import Clock
from ._ensemble import soft_vote
from ._halving import VALIDATION_OVERHEAD, Halving
from ._leaderboard import Leaderboard
from ._splits import Folds

__all__ = ["AUTO_RECIPES", "AutoClassifier"]

# recipes="auto": the cheap contenders in the order they run, then the fine-tuning strategies ("scratch" only if asked)
AUTO_RECIPES = ("pixels_logreg", "cnn_logreg", "cnn_svm", "cnn_xgboost", "finetune_head", "finetune_full",
                "finetune_gradual", "finetune_two_stage")
# the share of the time left after the cheap contenders that the halving may use; the rest is kept to refit
# a fine-tuned winner on all the images (its last rung costs about a third of a halving of four contenders)
FINETUNE_SHARE = 2 / 3
# a cheap contender whose grid would take more than this share of the budget (XGBoost, mostly) runs after
# fine-tuning, in the time that is left then
DEFER_SHARE = 0.1
ENSEMBLE = "ensemble"


class _RecipeList:
    """The ``recipes`` constraint: a non-empty list or tuple of recipe names or .py paths."""

    def is_satisfied_by(self, value):
        return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(v, str) for v in value)

    def __str__(self):
        return "a non-empty list of recipe names or recipe .py files"


class AutoClassifier(ClassifierMixin, BaseEstimator):
    """The best of hybridtl's recipes for the given images, found within ``time_budget``.

    Contenders, in the order they run:

    1. the raw-pixel baseline and the hybrid heads (logistic regression, SVM, XGBoost), on
       features computed once per image and shared; each head's ``GRID`` is tuned by stratified
       ``cv``-fold cross-validation on them (leave-one-out when a class has a single image).
       A contender whose estimated cost does not fit in the time left is skipped; one whose
       grid would take over a tenth of the budget (XGBoost, mostly) waits until after step 2
       and runs in the time left besides the refit of the best fine-tuned model;
    2. the fine-tuning strategies (head, full, gradual, two_stage; scratch only when listed),
       which share about two thirds of the time left: a short timed probe prices each one's
       epoch, then successive halving over epochs (about ``epochs / 8`` up to ``epochs``) keeps the
       better half at each rung. They train on the first fold's training part and are scored on
       its held-out part, the images every cheap contender's first fold is scored on. They are
       skipped when a class has fewer than 10 images;
    3. the soft-voting ensemble of the best hybrid and the best fine-tuned model.

    The cheap contender with the best mean cross-validated score is the default winner; a
    fine-tuned model or the ensemble replaces it only when it scores higher on the shared
    held-out fold (a paired comparison on the same images). The winner is refit on all the
    data: a cheap one in a moment (its features are cached), a fine-tuned one when its
    estimated cost fits in the time left (else the model trained on the first fold's training
    part is kept, and ``refit_`` says so). Ctrl-C ends the search and keeps the best model so
    far.

    Parameters
    ----------
    time_budget : float or str, default=600
        Seconds for the whole ``fit``, refit included, or a duration such as ``"90s"``,
        ``"10m"``, ``"1h"``. The wall time stays within it plus about 10 %. When not even the
        cheapest contender can fit, ``fit`` says so before it starts.
    recipes : "auto" or list of str, default="auto"
        Recipe names or recipe files (:func:`hybridtl.recipes.load_recipe`); ``"auto"`` is
        :data:`AUTO_RECIPES`.
    scoring : {"accuracy", "balanced_accuracy", "f1_macro", "neg_log_loss"}, default="accuracy"
    cv : int, default=5
        Folds for the cheap contenders (fewer when the smallest class is smaller).
    random_state : int or None, default=None
        Seeds the folds and every contender.
    device : {"auto", "cpu", "cuda"}, default="auto"
    progress : bool, default=True
        A bar with the time used, and each contender's leaderboard row as it is scored.
    backbone : str, default="efficientnet_lite0"
    weights : {"imagenet", None} or path, default="imagenet"
    image_size : int or None, default=None
        Input side for every contender; None is the backbone's own.
    epochs : int, default=20
        The most epochs a fine-tuning contender trains (the halving's last rung), as many as
        the fine-tuning recipes train by default.
    batch_size : int, default=32
    augment : {True, False, "flip", "light", "strong"}, default=True
    ensemble : bool, default=True
        Whether the soft-voting ensemble is a contender.

    Attributes
    ----------
    classes_ : ndarray
    best_ : str
        The winner: a recipe name, or ``"ensemble"``.
    best_estimator_ : estimator
        The fitted winner; ``predict`` and ``predict_proba`` use it.
    leaderboard_ : pandas.DataFrame
        One row per contender, the winner first: contender, kind, score_mean, score_sd (over
        the folds, or a bootstrap of the held-out fold), validation, holdout_score (the shared
        held-out fold, on which the winner is chosen), epochs, seconds, status ("done",
        "stopped early", "skipped", "failed", "interrupted"), winner and reason.
    refit_ : bool
        Whether the winner was refit on all the data.
    validation_ : dict
        The winner's accuracy, macro-F1 and expected calibration error on images it did not
        train on (out-of-fold for a cheap winner, the held-out fold otherwise), and their number.
    class_counts_ : dict
        Images per class (labels as text).
    time_budget_ : float
        The budget in seconds.
    elapsed_ : float
        Seconds the whole ``fit`` took.
    interrupted_ : bool
        Whether Ctrl-C ended the search.

    Examples
    --------
    >>> from hybridtl.images import load_digits_images
    >>> X, y = load_digits_images()
    >>> auto = AutoClassifier(time_budget=60, recipes=["pixels_logreg", "finetune_head"], image_size=32,
    ...                       epochs=2, device="cpu", progress=False, random_state=0).fit(X[:200], y[:200])
    >>> auto.best_ in ("pixels_logreg", "finetune_head", "ensemble"), list(auto.leaderboard_.columns[:3])
    (True, ['contender', 'kind', 'score_mean'])
    """

    _parameter_constraints = {
        "time_budget": [Interval("number", 0, None, closed="neither"), InstanceOf(str, "a duration such as '10m'")],
        "recipes": [Options(("auto",)), _RecipeList()],
        "scoring": [Options(SCORINGS)],
        "cv": [Interval("integer", 2, None)],
        "random_state": [None, Interval("integer", 0, None)],
        "device": [DeviceName()],
        "progress": [Boolean()],
        "backbone": [InstanceOf(str, "a registry name such as 'efficientnet_lite0' or 'timm:resnet18'")],
        "weights": [None, InstanceOf((str,), "'imagenet' or a weights file path")],
        "image_size": image_size_constraint(),
        "epochs": [Interval("integer", 1, None)],
        "batch_size": [Interval("integer", 1, None)],
        "augment": [Boolean(), Options(AUGMENTS)],
        "ensemble": [Boolean()],
    }

    def __init__(self, time_budget=600, recipes="auto", scoring="accuracy", cv=5, random_state=None, device="auto",
                 progress=True, backbone="efficientnet_lite0", weights="imagenet", image_size=None, epochs=20,
                 batch_size=32, augment=True, ensemble=True):
        self.time_budget = time_budget
        self.recipes = recipes
        self.scoring = scoring
        self.cv = cv
        self.random_state = random_state
        self.device = device
        self.progress = progress
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.augment = augment
        self.ensemble = ensemble

    def check_params(self):
        """Check every parameter; return the budget in seconds."""
        validate_params(self.get_params(deep=False), self._parameter_constraints)
        return parse_duration(self.time_budget)

    def _settings(self, seed):
        return {"image_size": self.image_size, "device": self.device, "epochs": self.epochs,
                "batch_size": self.batch_size, "augment": self.augment, "random_state": seed, "progress": False,
                "cache": "auto", "backbone": self.backbone, "weights": self.weights}

    def fit(self, X, y):
        """Search the contenders within the budget and keep the winner.

        Parameters
        ----------
        X : images
            Any input :func:`hybridtl.images.as_image_set` accepts.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        budget = self.check_params()
        clock = Clock(budget)
        n = len(as_image_set(X))  # tables, empty input, bad arrays: refused before any work
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-d, one label per image; got an array of shape {y.shape}")
        if len(y) != n:
            raise ValueError(f"X has {n} images but y has {len(y)} labels")
        self.classes_ = check_two_classes(np.unique(y))
        seed = self.random_state if self.random_state is not None else int(np.random.SeedSequence().entropy % 2**31)
        names = list(AUTO_RECIPES if self.recipes == "auto" else self.recipes)
        recipes = {name: load_recipe(name) for name in names}  # unknown names fail before any work
        folds = Folds(y, self.cv, seed)
        kinds = {name: recipe.kind for name, recipe in recipes.items()}
        finetuning = [n for n in names if kinds[n] == "finetune"]
        board = Leaderboard(names + ([ENSEMBLE] if self.ensemble and finetuning else []),
                            {**kinds, ENSEMBLE: "ensemble"})
        search = _Search(self, clock, X, y, folds, board, recipes, self._settings(seed))
        self.interrupted_ = False
        try:
            search.run_cheap([n for n in names if kinds[n] != "finetune"])
            search.run_finetuning(finetuning)
            search.run_deferred()
        except KeyboardInterrupt:
            self.interrupted_ = True
            board.mark_unfinished("interrupted", "Ctrl-C")
            if not search.cheap and not search.finetuned:
                raise
        search.choose_and_refit(allow_refit=not self.interrupted_)
        self.interrupted_ = self.interrupted_ or search.interrupted
        board.mark_unfinished("skipped", "lack of time")
        search.close()
        self.best_, self.best_estimator_, self.refit_ = search.best, search.model, search.refit
        self.validation_ = search.validation
        self.leaderboard_ = board.frame()
        labels, counts = np.unique(y, return_counts=True)
        self.class_counts_ = {str(label): int(count) for label, count in zip(labels, counts)}
        self.time_budget_, self.elapsed_ = budget, clock.elapsed()
        return self

    def predict_proba(self, X):
        """Class probabilities from the winner, columns in ``classes_`` order."""
        check_is_fitted(self, "best_estimator_")
        return np.asarray(self.best_estimator_.predict_proba(X), dtype=np.float64)

    def predict(self, X):
        """The winner's predicted class of each image."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def __getstate__(self):
        state = dict(super().__getstate__())
        if isinstance(state.get("leaderboard_"), pd.DataFrame):  # plain lists: safe files hold no DataFrame
            state["leaderboard_"] = state["leaderboard_"].to_dict(orient="list")
        return state

    def __setstate__(self, state):
        if isinstance(state.get("leaderboard_"), dict):
            state = {**state, "leaderboard_": pd.DataFrame(state["leaderboard_"])}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images, not a table
        tags.non_deterministic = self.random_state is None
        return tags


class _Search:
    """One ``fit``'s search: the phases share the clock, the leaderboard and the results."""

    def __init__(self, owner, clock, X, y, folds, board, recipes, settings):
        self.owner, self.clock, self.X, self.y, self.folds = owner, clock, X, y, folds
        self.board, self.recipes, self.settings = board, recipes, settings
        self.classes, self.scoring = owner.classes_, owner.scoring
        self.cheap, self.finetuned, self.features = {}, {}, {}
        self.best, self.model, self.refit, self.validation = None, None, False, {}
        self.interrupted = False
        self.errors, self.deferred = [], []
        self.bar = None
        if owner.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=round(clock.budget), unit="s", desc="auto",
                            bar_format="{n_fmt}/{total_fmt} s |{bar:20}| {desc}")
            self.bar.write(f"{'contender':<22} {'score (' + self.scoring + ')':<17} {'seconds':>9}  status")

    # -- progress --------------------------------------------------------------------------------
    def report(self, name):
        if self.bar is not None:
            self.bar.write(self.board.line(name))
            self.tick(name)

    def tick(self, doing=""):
        if self.bar is not None:
            self.bar.n = min(self.bar.total, round(self.clock.elapsed()))
            self.bar.set_description_str(f"{format_duration(max(0.0, self.clock.left()))} left; {doing}".rstrip("; "))

    def close(self):
        if self.bar is not None:
            self.tick(f"winner: {self.best}")
            self.bar.close()

    # -- the cheap contenders ----------------------------------------------------------------------
    def run_cheap(self, names):
        groups = {}
        for name in names:
            estimator = self.recipes[name].build(**self.settings)
            groups.setdefault(feature_key(estimator), []).append((name, estimator))
        plain = groups.pop(None, [])
        priced = self._price_features(groups)
        for key in sorted(priced, key=lambda k: priced[k][1]):
            fitted_first, seconds = priced[key]
            self._run_group(groups[key], fitted_first, seconds)
        for name, estimator in plain:
            self._run_plain(name, estimator)

    def _price_features(self, groups):
        """Each group's fitted first step and estimated feature seconds; refuse a budget nothing cheap fits."""
        priced = {}
        for key, members in groups.items():
            self.tick(f"pricing {members[0][0]}")
            start = time.perf_counter()
            try:
                priced[key] = probe_features(members[0][1].steps[0][1], self.X)
            except Exception as exc:  # noqa: BLE001 - a contender that fails is listed as failed, the search goes on
                for name, _ in members:
                    self._failed(name, exc)
                continue
            for name, _ in members:
                self.board.add_seconds(name, (time.perf_counter() - start) / len(members))
        if priced and not self.errors:
            cheapest = min(seconds for _, seconds in priced.values())
            if cheapest > self.clock.budget:
                n = len(self.y)
                raise ValueError(f"time_budget={self.clock.budget:g} s cannot fit even the cheapest contender: "
                                 f"its features alone take about {cheapest:.0f} s for these {n} images; "
                                 f"give time_budget of at least {math.ceil(cheapest * 1.5)} s, or fewer images")
        elif self.errors and not priced:
            raise self.errors[0]
        return priced

    def _run_group(self, members, fitted_first, seconds):
        if not self.clock.fits(seconds):
            for name, _ in members:
                self._skip(name, f"its features would take about {seconds:.0f} s; "
                                 f"{max(0.0, self.clock.left()):.0f} s were left")
            return
        self.tick(f"features for {', '.join(name for name, _ in members)}")
        start = time.perf_counter()
        F = features_for(fitted_first, self.X)
        share = (time.perf_counter() - start) / len(members)
        for name, estimator in members:
            self.board.add_seconds(name, share)
            self._run_head(name, estimator, fitted_first, F)

    def _run_head(self, name, estimator, fitted_first, F, deferred=False):
        self.tick(name)
        start = time.perf_counter()
        reserve = self._refit_reserve() if deferred else 0.0
        try:
            rest = Pipeline(estimator.steps[1:])
            grid = head_grid(self.recipes[name], estimator.steps[0][0])
            estimate = estimate_first_point(rest, grid, F, self.y, self.folds)
            whole = estimate * max(1, len(ParameterGrid(grid)))
            self.board.add_seconds(name, time.perf_counter() - start)
            if not deferred and whole > DEFER_SHARE * self.clock.budget:
                self.deferred.append((name, estimator, fitted_first, F))
                self.board.update(name, reason=f"deferred until after fine-tuning: its grid would take about "
                                               f"{whole:.0f} s")
                return None
            if not self.clock.fits(estimate, reserve):
                return self._skip(name, f"its cross-validation would take about {estimate:.0f} s; "
                                        f"{max(0.0, self.clock.left(reserve)):.0f} s were left"
                                        + (" besides the refit of the best fine-tuned model" if reserve else ""))
            start = time.perf_counter()
            result, ran, points = fit_cheap(name, estimator, fitted_first, F, self.y, self.folds, self.scoring,
                                            grid, self.clock, reserve)
        except Exception as exc:  # noqa: BLE001 - listed as failed, the search goes on
            self.board.add_seconds(name, time.perf_counter() - start)
            return self._failed(name, exc)
        self.board.add_seconds(name, time.perf_counter() - start)
        self.cheap[name] = (result, F)
        mean, sd = summary(result.cv_scores)
        reason = " ".join(f"{k}={v}" for k, v in sorted(result.params.items()))
        if ran < points:
            reason += f" (lack of time: {ran} of {points} grid points tried)"
        self.board.update(name, status="done", reason=reason, score_mean=mean, score_sd=sd,
                          validation=self.folds.description, holdout_score=self._holdout(result.holdout_proba))
        self.report(name)
        return None

    def run_deferred(self):
        """The costly cheap contenders, after fine-tuning, in the time left besides a fine-tuned winner's refit."""
        for name, estimator, fitted_first, F in self.deferred:
            self._run_head(name, estimator, fitted_first, F, deferred=True)

    def _refit_reserve(self):
        """Seconds to keep for refitting the best fine-tuned model on all the images (0 without one)."""
        if not self.finetuned:
            return 0.0
        best = max(self.finetuned.values(), key=lambda result: result.score)
        return self._refit_seconds(best)

    def _refit_seconds(self, result):
        return result.epoch_seconds * result.epochs * VALIDATION_OVERHEAD * len(self.y) / len(self.folds.train)

    def _run_plain(self, name, estimator):
        """A recipe that is no Pipeline with a feature step: cross-validated as it is (no shared features)."""
        self.board.update(name, status="skipped", reason="not a Pipeline whose first step makes features: the auto "
                                                         "search takes hybrid and baseline recipes of that shape")
        self.report(name)

    def _holdout(self, proba):
        return score_proba(self.scoring, self.y[self.folds.holdout], proba, self.classes)

    def _skip(self, name, reason):
        self.board.update(name, status="skipped", reason=f"lack of time: {reason}")
        self.report(name)

    def _failed(self, name, exc):
        self.errors.append(exc)
        self.board.update(name, status="failed", reason=" ".join(f"{type(exc).__name__}: {exc}".split())[:200])
        self.report(name)

    # -- the fine-tuning contenders ----------------------------------------------------------------
    def run_finetuning(self, names):
        if not names:
            return
        allowed, why = self.folds.finetune_allowed()
        if not allowed:
            for name in names:
                self.board.update(name, status="skipped", reason=why)
                self.report(name)
            return
        estimators = {name: self.recipes[name].build(**self.settings) for name in names}
        deadline = time.monotonic() + max(0.0, self.clock.left()) * FINETUNE_SHARE
        self.tick("fine-tuning")
        halving = Halving(estimators, self.X, self.y, self.folds, self.scoring, self.classes, self.board,
                          self.report)
        self.halving = halving
        try:
            halving.run(self.owner.epochs, deadline)
        finally:
            self.finetuned = dict(halving.results)

    # -- the winner --------------------------------------------------------------------------------
    def choose_and_refit(self, allow_refit=True):
        if not self.cheap and not self.finetuned:
            if self.errors:
                raise self.errors[0]
            raise ValueError(f"no contender finished within time_budget={self.clock.budget:g} s; "
                             f"the leaderboard:\n{self.board.frame().to_string(index=False)}")
        cheap_name = max(self.cheap, key=lambda n: summary(self.cheap[n][0].cv_scores)[0]) if self.cheap else None
        ft_name = max(self.finetuned, key=lambda n: self.finetuned[n].score) if self.finetuned else None
        candidates = self._holdout_scores(cheap_name, ft_name)
        self.best = max(candidates, key=lambda n: candidates[n][0])  # first of equals: the cheaper one
        self.board.update(self.best, winner=True)
        self._refit(cheap_name, ft_name, allow_refit)

    def _holdout_scores(self, cheap_name, ft_name):
        """Contender -> (held-out score, held-out probabilities), cheap first so that it wins ties."""
        candidates = {}
        if cheap_name is not None:
            proba = self.cheap[cheap_name][0].holdout_proba
            candidates[cheap_name] = (self._holdout(proba), proba)
        if ft_name is not None:
            result = self.finetuned[ft_name]
            candidates[ft_name] = (result.score, result.holdout_proba)
        if cheap_name is not None and ft_name is not None and self.owner.ensemble:
            proba = (candidates[cheap_name][1] + candidates[ft_name][1]) / 2
            score = self._holdout(proba)
            sd = bootstrap_sd(self.scoring, self.y[self.folds.holdout], proba, self.classes)
            self.board.update(ENSEMBLE, status="done", score_mean=score, score_sd=sd, holdout_score=score,
                              validation="held-out fold (sd: bootstrap)", reason=f"{cheap_name} + {ft_name}")
            self.report(ENSEMBLE)
            candidates[ENSEMBLE] = (score, proba)
        elif ENSEMBLE in self.board.rows:
            self.board.update(ENSEMBLE, status="skipped", reason="needs a scored hybrid and a scored fine-tuned model")
        self.candidates, self.cheap_name, self.ft_name = candidates, cheap_name, ft_name
        return candidates

    def _refit(self, cheap_name, ft_name, allow_refit):
        y_hold = self.y[self.folds.holdout]
        if self.best == cheap_name:
            result, F = self.cheap[cheap_name]
            self.model, self.refit = result.model, True
            rest = Pipeline(result.model.steps[1:])
            proba = cross_val_predict(clone(rest), F, self.y, cv=self.folds.splits, method="predict_proba")
            self.validation = validation_metrics(self.y, proba, self.classes)
            return
        finetuned = self._refit_finetuned(ft_name, allow_refit)
        if self.best == ENSEMBLE:
            members = [(cheap_name, self.cheap[cheap_name][0].model), (ft_name, finetuned)]
            self.model = soft_vote(members, self.X, self.y)
        else:
            self.model = finetuned
        self.validation = validation_metrics(y_hold, self.candidates[self.best][1], self.classes)

    def _refit_finetuned(self, name, allow_refit):
        """The fine-tuned winner trained on all the images when that fits in the time left, else as it is."""
        result = self.finetuned[name]
        seconds = self._refit_seconds(result)
        row = self.board.rows[self.best]
        if not allow_refit or not self.clock.fits(seconds):
            why = "Ctrl-C" if not allow_refit else (f"lack of time: about {seconds:.0f} s needed, "
                                                    f"{max(0.0, self.clock.left()):.0f} s left")
            row["reason"] = (row["reason"] + "; " if row["reason"] else "") + \
                f"not refit on all the images ({why}): the model trained on the first fold is kept"
            self.refit = False
            return result.model
        self.tick(f"refitting {name} on all the images")
        start = time.perf_counter()
        # patience = epochs: early stopping never ends the refit, so a short history means the time limit did
        model = clone(result.model).set_params(epochs=result.epochs, patience=result.epochs,
                                               callbacks=[TimeLimit(max(1.0, self.clock.left()))])
        model.fit(self.X, self.y)
        model.set_params(callbacks=None, patience=result.model.patience)
        self.board.add_seconds(name, time.perf_counter() - start)
        if getattr(model, "interrupted_", False):  # Ctrl-C during the refit: the first fold's model stays
            self.refit, self.interrupted = False, True
            return result.model
        if len(model.history_) < result.epochs:  # cut short: less trained than the model that was validated
            row["reason"] = (row["reason"] + "; " if row["reason"] else "") + (
                f"the refit on all the images ran out of time after {len(model.history_)} of {result.epochs} "
                "epochs: the model trained on the first fold is kept")
            self.refit = False
            return result.model
        self.refit = True
        return model
