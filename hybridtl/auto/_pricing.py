"""What a fine-tuning fit costs on this machine, measured by short probes and priced epoch by epoch.

One probe that trains one epoch on a few batches and scales its time by the training set's size
counts the fixed costs (building the network, loading its weights, a cold start) once per image
batch: on 1,437 digits it priced epochs at 1.5-10x their measured time. Here the probes separate
them. Contenders that differ only in their training schedule (strategy, rates, epochs) share one
set of probes, each a short real fit:

* the whole network training (``strategy="full"``), two epochs, on two sizes of sample: the
  second epoch's seconds per image are the steady cost of an epoch training every block; what
  the fit took beyond its epochs, at two sizes, splits into a fixed cost and a cost per image;
* the network frozen (``strategy="gradual"``'s first epoch): the steady cost of an epoch training
  the new layer alone through the whole network;
* when a contender trains the new layer on features computed once (``head``, ``two_stage``'s
  first stage): ``strategy="head"`` for two epochs, the cost of computing the features per image
  and of an epoch on them;
* predicting the sample: the cost of the forward pass per image (validation and the held-out fold).

A contender's fit of E epochs is then priced from its own schedule
(:func:`hybridtl.finetune.epoch_shares`): fixed cost, plus per image the features once if it uses
them, plus each epoch at the cost of the share of blocks it trains (between frozen and every block,
in proportion), plus the validation and held-out forward passes. Written here because the
scikit-learn searches budget resources (epochs, samples), not seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from ..finetune import epoch_shares, with_strategy_defaults
from ._splits import keep_decoded, take

__all__ = ["Costs", "Pricer"]

# the parameters that change what a fit trains epoch by epoch, not what an epoch of a given kind costs
SCHEDULE_PARAMS = ("strategy", "lr", "head_lr_mult", "layer_decay", "optimizer", "weight_decay", "epochs",
                   "patience", "lr_schedule", "warmup_epochs", "label_smoothing", "class_weight", "head_epochs",
                   "finetune_lr_mult", "random_state", "callbacks", "progress", "verbose")
# batches in the two probe samples
SMALL_BATCHES, LARGE_BATCHES = 2, 4


@dataclass
class Costs:
    """Seconds measured by the probes: fixed, and per image (once per fit, or per epoch by kind)."""

    fixed: float
    per_image: float  # once per fit (decoding, moving the data), beyond the fixed cost
    frozen: float  # an epoch through the whole network, the new layer training alone
    full: float  # an epoch training every block
    forward: float  # the forward pass alone (validation, prediction)
    features: float = 0.0  # computing the features once, for epochs on them
    on_features: float = 0.0  # an epoch of the new layer on the features
    n_blocks: int = 1

    def price(self, params, epochs, n_rows, n_predict, ran=None):
        """Seconds for a fit of ``params`` for ``epochs`` on ``n_rows`` images, then predicting ``n_predict``;
        ``ran``: price only the first ``ran`` epochs of that schedule (a fit the time limit cut)."""
        shares = epoch_shares(params, epochs, self.n_blocks)[:ran]
        vf = params.get("validation_fraction") or 0.0
        n_train, n_val = n_rows * (1 - vf), n_rows * vf
        seconds = self.fixed + self.per_image * n_rows + self.forward * n_predict
        if None in shares:
            seconds += self.features * n_rows
        for share in shares:
            if share is None:
                seconds += self.on_features * n_rows
            else:
                seconds += (self.frozen + (self.full - self.frozen) * share) * n_train + self.forward * n_val
        return seconds


class Pricer:
    """Probes each group of contenders once (on a sample of ``X``, ``y``) and prices their fits.

    Parameters
    ----------
    estimators : dict
        Name -> unfitted FineTuneClassifier.
    X, y : the training images and labels the contenders fit on
    on_seconds : callable
        Called with (name, seconds) for each probe's time, charged to the first contender of its group.
    """

    def __init__(self, estimators, X, y, on_seconds):
        self.estimators, self.X, self.y, self.on_seconds = estimators, X, y, on_seconds
        self.costs = {}

    def key(self, name):
        params = self.estimators[name].get_params(deep=False)
        return repr(sorted((k, repr(v)) for k, v in params.items() if k not in SCHEDULE_PARAMS))

    def probe(self, name):
        """Measure the costs ``name``'s fits have, unless a contender like it was probed; returns them."""
        key = self.key(name)
        if key not in self.costs:
            start = time.perf_counter()
            try:
                self.costs[key] = self._measure(self.estimators[name])
            finally:
                self.on_seconds(name, time.perf_counter() - start)
        return self.costs[key]

    def price(self, name, epochs, n_rows, n_predict, ran=None):
        params = self.estimators[name].get_params(deep=False)
        return self.probe(name).price(params, epochs, n_rows, n_predict, ran)

    def _measure(self, estimator):
        batch = int(estimator.batch_size)
        order = np.random.default_rng(0).permutation(len(self.y))
        large = min(len(self.y), LARGE_BATCHES * batch)
        small = min(large // 2, SMALL_BATCHES * batch)
        base = clone(estimator).set_params(validation_fraction=None, refit_full=False, callbacks=None)

        def fit(rows, **params):
            model = clone(base).set_params(**params)
            start = time.perf_counter()
            model.fit(take(self.X, rows), self.y[rows])
            seconds = time.perf_counter() - start
            if getattr(model, "interrupted_", False):
                raise KeyboardInterrupt
            epochs = model.history_["seconds"].to_numpy()
            return model, seconds - epochs.sum(), epochs / len(rows)

        _, rest_small, _ = fit(order[:small], strategy="full", epochs=2)
        model, rest_large, full = fit(order[:large], strategy="full", epochs=2)
        per_image = max(0.0, (rest_large - rest_small) / max(1, large - small))
        fixed = max(0.0, rest_large - per_image * large)
        start = time.perf_counter()
        probe = take(self.X, order[:large])
        keep_decoded(model, probe)  # as rungs predict
        model.predict_proba(probe)
        forward = (time.perf_counter() - start) / large
        _, _, frozen = fit(order[:large], strategy="gradual", epochs=1)
        costs = Costs(fixed, per_image, frozen=float(frozen[0]), full=float(full[-1]), forward=forward,
                      n_blocks=model.n_blocks_)
        params = estimator.get_params(deep=False)
        if self._uses_features(params, costs.n_blocks):
            head, rest, on_features = fit(order[:large], strategy="head", epochs=2)
            if head.cached_features_:
                costs.features = max(0.0, (rest - fixed) / large - per_image)
                costs.on_features = float(on_features[-1])
        return costs

    def _uses_features(self, params, n_blocks):
        params = with_strategy_defaults(params)
        epochs = max(int(params["epochs"]), int(params["head_epochs"]) + 1)
        return None in epoch_shares(params, epochs, n_blocks)
