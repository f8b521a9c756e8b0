"""``AutoClassifier``: the best model for the user's images within a time budget.

The search runs the cheap contenders first (raw pixels, then frozen-CNN features extracted once
and shared by the logistic, SVM and XGBoost heads, each tuned by cross-validation on them), then
lets the fine-tuning strategies share what is left by successive halving over epochs on one
held-out fold, the first fold of the same cross-validation. The winner is refit on all the data
when the time left allows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..core import (
    AUGMENTS,
    DECODES,
    SCORINGS,
    Boolean,
    DeviceName,
    InstanceOf,
    Interval,
    Options,
    check_two_classes,
    image_size_constraint,
    parse_duration,
    validate_params,
)
from ..images import as_image_set
from ..recipes import load_recipe
from ._clock import Clock
from ._leaderboard import Leaderboard
from ._search import ENSEMBLE, Search
from ._splits import Folds

__all__ = ["AUTO_RECIPES", "AutoClassifier"]

# recipes="auto": the cheap contenders in the order they run, then the fine-tuning strategies ("scratch" only if asked)
AUTO_RECIPES = ("pixels_logreg", "cnn_logreg", "cnn_svm", "cnn_xgboost", "finetune_head", "finetune_full",
                "finetune_gradual", "finetune_two_stage")


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
       and the refit of a leading fine-tuned model, and runs in the time left then;
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
    decode : {"fast", "exact"}, default="fast"
        How every contender decodes image files (see
        :class:`hybridtl.features.CNNFeatureExtractor`); the fine-tuning
        contenders, and a feature step that reads files at their
        preprocessing, share one decoded copy of each file.

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
        held-out fold, on which the winner is chosen), epochs, seconds, priced_s_epoch and s_epoch
        (a fine-tuning contender's seconds per epoch as priced before its last fit, and as measured),
        status ("done",
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
        "decode": [Options(DECODES)],
    }

    def __init__(self, time_budget=600, recipes="auto", scoring="accuracy", cv=5, random_state=None, device="auto",
                 progress=True, backbone="efficientnet_lite0", weights="imagenet", image_size=None, epochs=20,
                 batch_size=32, augment=True, ensemble=True, decode="fast"):
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
        self.decode = decode

    def check_params(self):
        """Check every parameter; return the budget in seconds."""
        validate_params(self.get_params(deep=False), self._parameter_constraints)
        return parse_duration(self.time_budget)

    def _settings(self, seed):
        return {"image_size": self.image_size, "device": self.device, "epochs": self.epochs,
                "batch_size": self.batch_size, "augment": self.augment, "random_state": seed, "progress": False,
                "cache": "auto", "backbone": self.backbone, "weights": self.weights, "decode": self.decode}

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
        search = Search(self, clock, X, y, folds, board, recipes, self._settings(seed))
        self.interrupted_ = False
        try:
            search.run_cheap([n for n in names if kinds[n] != "finetune"], finetuning)
            search.run_finetuning(finetuning)
            search.refit_leader()
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
        state = {"decode": "fast", **state}  # saved before decode existed; it only changes how fit reads images
        if isinstance(state.get("leaderboard_"), dict):
            state = {**state, "leaderboard_": pd.DataFrame(state["leaderboard_"])}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # images, not a table
        tags.non_deterministic = self.random_state is None
        return tags
