"""One ``AutoClassifier.fit``'s search: the cheap contenders, the halving of the fine-tuning ones, the
deferred costly heads, the winner and its refit, all on one clock and one leaderboard."""

from __future__ import annotations

import math
import time

from sklearn.base import clone
from sklearn.model_selection import ParameterGrid, cross_val_predict
from sklearn.pipeline import Pipeline

from ..callbacks import TimeLimit
from ..core import bootstrap_sd, format_duration, progress_bar, score_proba, validation_metrics
from ..finetune import FineTuneClassifier, planned_preprocess
from ._cheap import (
    estimate_first_point,
    feature_key,
    features_for,
    fit_cheap,
    head_grid,
    probe_features,
    summary,
)
from ._ensemble import soft_vote
from ._halving import Halving
from ._splits import holds_files

__all__ = ["ENSEMBLE", "Search"]

# the share of the time left after the cheap contenders that the halving may use; the rest is kept to refit
# a fine-tuned winner on all the images (its last rung costs about a third of a halving of four contenders)
FINETUNE_SHARE = 2 / 3
# a cheap contender whose grid would take more than this share of the budget (XGBoost, mostly) runs after
# fine-tuning, in the time that is left then
DEFER_SHARE = 0.1
ENSEMBLE = "ensemble"


class Search:
    """One ``fit``'s search: the phases share the clock, the leaderboard and the results."""

    def __init__(self, owner, clock, X, y, folds, board, recipes, settings):
        self.owner, self.clock, self.X, self.y, self.folds = owner, clock, X, y, folds
        self.board, self.recipes, self.settings = board, recipes, settings
        self.classes, self.scoring = owner.classes_, owner.scoring
        self.cheap, self.finetuned = {}, {}
        self.keep = frozenset()  # the fine-tuning contenders' preprocessing, for files decoded once for all
        self.best, self.model, self.refit, self.validation = None, None, False, {}
        self.interrupted = False
        self.errors, self.deferred, self.refitted = [], [], {}
        self.bar = None
        if owner.progress:
            self.bar = progress_bar(total=round(clock.budget), unit="s", desc="auto",
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
    def run_cheap(self, names, finetuning=()):
        """The cheap contenders; ``finetuning``: the fine-tuning contenders that will run after them, whose
        preprocessing a feature step that shares it decodes the files at, once for all (see
        :func:`._cheap.features_for`)."""
        self.keep = self._finetune_preprocessing(finetuning)
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

    def _finetune_preprocessing(self, names):
        """The preprocessing of each fine-tuning contender that will read files (none when the class sizes
        skip fine-tuning, or ``X`` holds no files)."""
        if not names or not self.folds.finetune_allowed()[0] or not holds_files(self.X):
            return frozenset()
        built = (self.recipes[name].build(**self.settings) for name in names)
        return frozenset(planned_preprocess(estimator) for estimator in built
                         if isinstance(estimator, FineTuneClassifier))

    def _price_features(self, groups):
        """Each group's fitted first step and estimated feature seconds; refuse a budget nothing cheap fits."""
        priced = {}
        for key, members in groups.items():
            self.tick(f"pricing {members[0][0]}")
            start = time.perf_counter()
            try:
                priced[key] = probe_features(members[0][1].steps[0][1], self.X, self.keep)
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
        F = features_for(fitted_first, self.X, self.keep)
        share = (time.perf_counter() - start) / len(members)
        for name, estimator in members:
            self.board.add_seconds(name, share)
            self._run_head(name, estimator, fitted_first, F)

    def _run_head(self, name, estimator, fitted_first, F, estimate=None):
        """Cross-validate one cheap head on the features ``F``. ``estimate`` (the seconds its grid's first point
        was priced at) is given when it runs deferred; else it is measured here, and a costly grid is deferred."""
        self.tick(name)
        start = time.perf_counter()
        deferred = estimate is not None
        try:
            rest = Pipeline(estimator.steps[1:])
            grid = head_grid(self.recipes[name], estimator.steps[0][0])
            if not deferred:
                estimate = estimate_first_point(rest, grid, F, self.y, self.folds)
                self.board.add_seconds(name, time.perf_counter() - start)
                whole = estimate * max(1, len(ParameterGrid(grid)))
                if whole > DEFER_SHARE * self.clock.budget:
                    self.deferred.append((name, estimator, fitted_first, F, estimate))
                    self.board.update(name, reason=f"deferred until after fine-tuning: its grid would take about "
                                                   f"{whole:.0f} s")
                    return None
            if not self.clock.fits(estimate):
                return self._skip(name, f"its cross-validation would take about {estimate:.0f} s; "
                                        f"{max(0.0, self.clock.left()):.0f} s were left")
            start = time.perf_counter()
            result, ran, points = fit_cheap(name, estimator, fitted_first, F, self.y, self.folds, self.scoring,
                                            grid, self.clock)
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
        """The costly cheap contenders, after fine-tuning and the refit of a leading fine-tuned model."""
        for name, estimator, fitted_first, F, estimate in self.deferred:
            self._run_head(name, estimator, fitted_first, F, estimate)

    def _refit_seconds(self, result):
        """The measured seconds of its best rung, scaled to every image."""
        return result.seconds * len(self.y) / len(self.folds.train)

    def _run_plain(self, name, estimator):
        """A recipe that is no Pipeline with a feature step: skipped, with the reason."""
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
        try:
            halving.run(self.owner.epochs, deadline)
        finally:
            self.finetuned = dict(halving.results)

    # -- the winner --------------------------------------------------------------------------------
    def _leaders(self):
        """(the cheap contender with the best mean CV score, the fine-tuned one with the best held-out score)."""
        cheap_name = max(self.cheap, key=lambda n: summary(self.cheap[n][0].cv_scores)[0]) if self.cheap else None
        ft_name = max(self.finetuned, key=lambda n: self.finetuned[n].score) if self.finetuned else None
        return cheap_name, ft_name

    def refit_leader(self):
        """Before the deferred heads run: when a fine-tuned model or the ensemble leads, refit that fine-tuned
        model on all the images now, so that the deferred heads cannot take its time."""
        if not self.finetuned:
            return
        cheap_name, ft_name = self._leaders()
        candidates = self._holdout_scores(cheap_name, ft_name, report=False)
        if max(candidates, key=lambda n: candidates[n][0]) in (ft_name, ENSEMBLE):
            self.refitted[ft_name] = self._refit_finetuned(ft_name, allow_refit=True)
            if self.interrupted:
                raise KeyboardInterrupt

    def choose_and_refit(self, allow_refit=True):
        if not self.cheap and not self.finetuned:
            if self.errors:
                raise self.errors[0]
            raise ValueError(f"no contender finished within time_budget={self.clock.budget:g} s; "
                             f"the leaderboard:\n{self.board.frame().to_string(index=False)}")
        cheap_name, ft_name = self._leaders()
        candidates = self._holdout_scores(cheap_name, ft_name)
        self.best = max(candidates, key=lambda n: candidates[n][0])  # first of equals: the cheaper one
        self.board.update(self.best, winner=True)
        self._refit(cheap_name, ft_name, allow_refit)

    def _holdout_scores(self, cheap_name, ft_name, report=True):
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
            candidates[ENSEMBLE] = (self._holdout(proba), proba)
            if report:
                sd = bootstrap_sd(self.scoring, self.y[self.folds.holdout], proba, self.classes)
                self.board.update(ENSEMBLE, status="done", score_mean=candidates[ENSEMBLE][0], score_sd=sd,
                                  holdout_score=candidates[ENSEMBLE][0], validation="held-out fold (sd: bootstrap)",
                                  reason=f"{cheap_name} + {ft_name}")
                self.report(ENSEMBLE)
        elif report and ENSEMBLE in self.board.rows:
            self.board.update(ENSEMBLE, status="skipped", reason="needs a scored hybrid and a scored fine-tuned model")
        self.candidates = candidates
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
        if ft_name not in self.refitted:
            self.refitted[ft_name] = self._refit_finetuned(ft_name, allow_refit)
        finetuned, self.refit, note = self.refitted[ft_name]
        if note:
            row = self.board.rows[self.best]
            row["reason"] = (row["reason"] + "; " if row["reason"] else "") + note
        if self.best == ENSEMBLE:
            members = [(cheap_name, self.cheap[cheap_name][0].model), (ft_name, finetuned)]
            self.model = soft_vote(members, self.X, self.y)
        else:
            self.model = finetuned
        self.validation = validation_metrics(y_hold, self.candidates[self.best][1], self.classes)

    def _refit_finetuned(self, name, allow_refit):
        """(the fine-tuned model trained on all the images, True, "") when that fits in the time left and runs
        to its end; else (the model trained on the first fold, False, why)."""
        result = self.finetuned[name]
        seconds = self._refit_seconds(result)
        kept = "the model trained on the first fold is kept"
        if not allow_refit or not self.clock.fits(seconds):
            why = "Ctrl-C" if not allow_refit else (f"lack of time: about {seconds:.0f} s needed, "
                                                    f"{max(0.0, self.clock.left()):.0f} s left")
            return result.model, False, f"not refit on all the images ({why}): {kept}"
        self.tick(f"refitting {name} on all the images")
        start = time.perf_counter()
        # patience = epochs: early stopping never ends the refit, so a short history means the time limit did
        model = clone(result.model).set_params(epochs=result.epochs, patience=result.epochs,
                                               callbacks=[TimeLimit(max(1.0, self.clock.left()))])
        model.fit(self.X, self.y)
        model.set_params(callbacks=None, patience=result.model.patience)
        self.board.add_seconds(name, time.perf_counter() - start)
        if getattr(model, "interrupted_", False):  # Ctrl-C during the refit: the first fold's model stays
            self.interrupted = True
            return result.model, False, f"refit on all the images stopped by Ctrl-C: {kept}"
        if len(model.history_) < result.epochs:  # cut short: less trained than the model that was validated
            return result.model, False, (f"the refit on all the images ran out of time after "
                                         f"{len(model.history_)} of {result.epochs} epochs: {kept}")
        return model, True, ""
