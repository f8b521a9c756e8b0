"""Successive halving over epochs for the fine-tuning contenders, inside a deadline.

Contenders are priced from short probes that separate a fit's fixed cost from its cost per image
and per epoch (:mod:`hybridtl.auto._pricing`). Then rung by rung the epochs double
(``epochs // 8``, ``// 4``, ``// 2``, ``epochs``): each surviving contender trains afresh for the
rung's epochs (its schedule fits the length, as in scikit-learn's ``HalvingGridSearchCV`` with
epochs as the resource), is scored on the shared held-out fold, and only the better half goes on.
A fit starts when its first epoch fits in the time left by that price, and stops at the last epoch
boundary before the deadline (:class:`~hybridtl.callbacks.TimeLimit`); the leaderboard shows each
contender's priced and measured seconds per epoch. Written here because scikit-learn's halving
search budgets resources, not seconds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from ..callbacks import TimeLimit
from ..core import bootstrap_sd, score_proba
from ._pricing import Pricer
from ._splits import keep_decoded, take

__all__ = ["FinetuneResult", "Halving", "rungs"]


def rungs(epochs):
    """The epochs of each rung, doubling up to ``epochs``.

    Examples
    --------
    >>> rungs(16), rungs(20), rungs(3)
    ([2, 4, 8, 16], [2, 5, 10, 20], [1, 2, 3])
    """
    return sorted({max(1, round(epochs / d)) for d in (8, 4, 2, 1)})


@dataclass
class FinetuneResult:
    """A contender's best scored rung: the fitted model, its epochs and its held-out probabilities."""

    name: str
    model: object
    epochs: int
    score: float
    holdout_proba: np.ndarray
    seconds: float


class Halving:
    """Run the halving for ``estimators`` (name -> unfitted FineTuneClassifier) on the first fold.

    Parameters
    ----------
    estimators : dict
    X, y : the images and labels (all of them)
    folds : Folds
    scoring : str
    classes : array
    board : Leaderboard
    report : callable
        Called with a contender's name when its row changes.
    """

    def __init__(self, estimators, X, y, folds, scoring, classes, board, report):
        self.estimators, self.X, self.y, self.folds = estimators, X, y, folds
        self.scoring, self.classes, self.board, self.report = scoring, classes, board, report
        self.results = {}
        self.X_train, self.y_train = take(X, folds.train), y[folds.train]
        self.pricer = Pricer(estimators, self.X_train, self.y_train, board.add_seconds)
        self.X_hold, self.y_hold = take(X, folds.holdout), y[folds.holdout]

    def probe(self, name, deadline):
        """Measure what ``name``'s fits cost (once per group of alike contenders); False when there is no time."""
        if time.monotonic() > deadline:
            return False
        self.pricer.probe(name)
        return True

    def cost(self, name, epochs, ran=None):
        """Priced seconds to train ``name`` for ``epochs`` (the first ``ran`` of them) and score it."""
        return self.pricer.price(name, epochs, len(self.y_train), len(self.y_hold), ran)

    def fit_rung(self, name, epochs, deadline):
        """Train ``name`` for ``epochs`` (never past ``deadline``); score it; return the score."""
        start = time.perf_counter()
        # no refit inside a rung (head's default): the search refits its winner on every image itself
        model = clone(self.estimators[name]).set_params(
            epochs=epochs, refit_full=False, callbacks=[TimeLimit(max(1.0, deadline - time.monotonic()))])
        model.fit(self.X_train, self.y_train)
        if getattr(model, "interrupted_", False):
            raise KeyboardInterrupt
        model.set_params(callbacks=None)  # the time limit was for this search: the saved model names none
        keep_decoded(model, self.X_hold)
        proba = model.predict_proba(self.X_hold)
        seconds = time.perf_counter() - start
        ran = len(model.history_)
        self.board.update(name, priced_s_epoch=self.cost(name, epochs, ran) / ran, s_epoch=seconds / ran)
        score = score_proba(self.scoring, self.y_hold, proba, self.classes)
        self.board.add_seconds(name, seconds)
        best = self.results.get(name)
        if best is None or score >= best.score:  # equal: the longer training
            self.results[name] = FinetuneResult(name, model, ran, score, proba, seconds)
        return score, ran < epochs

    def run(self, epochs, deadline):
        """The whole halving; returns the results by name (each contender's best rung)."""
        alive = []
        for name in self.estimators:
            if self.probe(name, deadline):
                alive.append(name)
            else:
                self._out_of_time(name, "no time left to price an epoch")
        ladder = rungs(epochs)
        for k, rung in enumerate(ladder):
            scores = {}
            for name in alive:
                left, first = deadline - time.monotonic(), self.cost(name, rung, ran=1)
                if first > left:
                    self._out_of_time(name, f"its first epoch would take about {first:.0f} s; "
                                      f"{max(0.0, left):.0f} s were left")
                    continue
                score, cut = self.fit_rung(name, rung, deadline)
                scores[name] = score
                self._scored(name, rung, cut)
            alive = self._survivors(scores, k == len(ladder) - 1)
            if not alive:
                break
        return self.results

    def _survivors(self, scores, last):
        """The better half of this rung (all of them on the last rung, which ends the search)."""
        ranked = sorted(scores, key=scores.get, reverse=True)
        keep = ranked[:math.ceil(len(ranked) / 2)] if len(ranked) > 1 else ranked
        for name in ranked[len(keep):]:
            self.board.update(name, status="stopped early",
                              reason=f"fell behind after {self.results[name].epochs} epochs "
                                     f"({scores[name]:.4f} < {scores[keep[-1]]:.4f})")
            self.report(name)
        return [] if last else keep

    def _scored(self, name, rung, cut):
        best = self.results[name]
        sd = bootstrap_sd(self.scoring, self.y_hold, best.holdout_proba, self.classes)
        reason = (f"time limit: stopped after {best.epochs} of {rung} epochs" if cut else "")
        self.board.update(name, status="stopped early" if cut else "done", reason=reason, score_mean=best.score,
                          score_sd=sd, holdout_score=best.score, epochs=best.epochs,
                          validation="held-out fold (sd: bootstrap)")
        self.report(name)

    def _out_of_time(self, name, reason):
        ran = name in self.results
        self.board.update(name, status="stopped early" if ran else "skipped", reason=f"lack of time: {reason}")
        self.report(name)
