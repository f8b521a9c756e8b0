"""Callbacks that decide what trains and when training ends: BatchNorm statistics, the lowest blocks
kept frozen, early stopping, a non-finite loss, a fixed number of epochs, a time limit."""

from __future__ import annotations

import math
import time
import warnings

from torch import nn

from ..core import BN_POLICIES, Interval, Options, check_param
from ._base import Callback, cpu_copy

__all__ = ["BatchNormPolicy", "EarlyStopping", "FreezeBlocks", "StopAfter", "TerminateOnNaN", "TimeLimit"]

# every BatchNorm flavour in torch (timm's BatchNormAct2d is a BatchNorm2d)
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class BatchNormPolicy(Callback):
    """Which BatchNorm layers re-estimate their running statistics while the network trains.

    * ``"frozen"``: none; every BatchNorm layer stays in inference mode and keeps the statistics
      it was pretrained with (its scale and shift still train where the block trains). The rule
      of the Keras fine-tuning guide: small batches of a new domain give noisy statistics, and
      a switch of statistics undoes what the head has learned.
    * ``"trainable"``: the layers whose parameters train; frozen blocks keep their statistics.
    * ``"train"``: all of them, frozen blocks included.

    Parameters
    ----------
    policy : {"frozen", "trainable", "train"}, default="frozen"

    Examples
    --------
    >>> BatchNormPolicy("trainable").policy
    'trainable'
    >>> BatchNormPolicy("none")
    Traceback (most recent call last):
    ...
    hybridtl.core.InvalidParameterError: "bn" must be one of 'frozen', 'trainable', 'train'; got 'none'
    """

    def __init__(self, policy="frozen"):
        self.policy = check_param("bn", policy, [Options(BN_POLICIES)])

    def on_epoch_begin(self, state):
        if self.policy == "train":
            return
        for module in state.model.modules():
            if isinstance(module, _BATCH_NORMS):
                params = list(module.parameters(recurse=False))
                if self.policy == "frozen" or (params and not any(p.requires_grad for p in params)):
                    module.eval()


class FreezeBlocks(Callback):
    """Keep the backbone's lowest ``n`` blocks frozen, whatever the strategy trains above them.

    Their backward pass, the costliest part of a step at high resolution, is never computed, and
    their BatchNorm layers keep their statistics. Measured on EfficientNet-Lite0 (lowest 4 of its 9
    blocks, ``benchmarks/train_step.py`` and ``benchmarks/finetune_defaults.py``): ``full``
    fine-tuning at 224 px 2.0-2.2x faster per epoch, and on photos close to ImageNet's it no longer
    overshoots at the default rate (0.975 +- 0.006 against 0.949 +- 0.050 over 3 seeds); at 64 px
    1.3-1.4x faster, with -0.010 to +0.023 accuracy by task. Not a default: see the benchmarks page.

    Parameters
    ----------
    n : int >= 0
        How many blocks, counted from the input (:func:`hybridtl.backbones.trainable_blocks`).

    Examples
    --------
    >>> from hybridtl.finetune import FineTuneClassifier
    >>> clf = FineTuneClassifier(strategy="full", callbacks=[FreezeBlocks(4)])
    >>> FreezeBlocks(-1)
    Traceback (most recent call last):
    ...
    hybridtl.core.InvalidParameterError: "n" must be an integer >= 0; got -1
    """

    def __init__(self, n):
        self.n = check_param("n", n, [Interval("integer", 0, None)])

    def on_epoch_begin(self, state):
        for block in state.blocks[: self.n]:
            block.requires_grad_(False)
            for module in block.modules():
                if isinstance(module, _BATCH_NORMS):
                    module.eval()


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    Stages (two_stage) are handled with care: a new stage starts from the best weights so far,
    patience counts from the stage's start, and only the last stage may stop the run, so the
    result is never worse on validation than the best of an earlier stage. The best weights are
    kept as a CPU copy, so an interrupted run (Ctrl-C) also ends with them.

    Parameters
    ----------
    patience : int, default=10
        Epochs without improvement before stopping.
    monitor : str, default="val_loss"
        The column of ``history_`` to watch; lower is better.

    Examples
    --------
    >>> EarlyStopping(patience=3).monitor
    'val_loss'
    """

    def __init__(self, patience=10, monitor="val_loss"):
        self.patience, self.monitor = patience, monitor

    def on_train_begin(self, state):
        self.best, self.best_epoch, self.best_state, self.stage_start = math.inf, None, None, 0

    def on_epoch_begin(self, state):
        if state.epoch > 0 and state.epoch == state.stage_start:
            self.stage_start = state.epoch
            if self.best_state is not None:
                state.model.load_state_dict(self.best_state)

    def on_epoch_end(self, state):
        value = state.record.get(self.monitor, math.nan)
        if math.isnan(value):
            return
        if value < self.best:
            self.best, self.best_epoch = value, state.epoch
            self.best_state = cpu_copy(state.model)
            return
        last_stage = state.stage_start + state.stage_length >= state.epochs
        if last_stage and state.epoch - max(self.best_epoch, self.stage_start - 1) >= self.patience:
            state.stop = True

    def on_train_end(self, state):
        if self.best_state is not None:
            state.model.load_state_dict(self.best_state)
            state.best_epoch = self.best_epoch


class TerminateOnNaN(Callback):
    """Stop when the training loss becomes NaN or infinite, with a warning, and keep sound weights.

    Runs after :class:`EarlyStopping`: when that restored its best epoch, those
    weights stay; without validation, the weights of the last epoch with a
    finite loss are put back (the starting weights if the first epoch fails).
    The epoch's row in ``history_`` shows the non-finite loss.

    Examples
    --------
    >>> import math
    >>> guard, state = TerminateOnNaN(), TrainState(model=None, head=None, blocks=[], optimizer=None)
    >>> state.record = {"train_loss": math.nan}
    >>> guard.on_epoch_end(state)
    >>> state.stop
    True
    """

    def on_train_begin(self, state):
        self.kept, self.kept_epoch, self.failed_epoch = cpu_copy(state.model), None, None

    def on_epoch_end(self, state):
        loss = state.record.get("train_loss", math.nan)
        if math.isfinite(loss):
            if math.isnan(state.record.get("val_loss", math.nan)):  # early stopping keeps nothing then
                self.kept, self.kept_epoch = cpu_copy(state.model), state.epoch
            return
        self.failed_epoch, state.stop = state.epoch, True

    def on_train_end(self, state):
        if self.failed_epoch is None:
            return
        if state.best_epoch is None:
            state.model.load_state_dict(self.kept)
            state.best_epoch = self.kept_epoch
        kept = "the starting weights" if state.best_epoch is None else f"the weights of epoch {state.best_epoch + 1}"
        warnings.warn(f"the training loss became non-finite at epoch {self.failed_epoch + 1}; training stopped "
                      f"and {kept} are kept (lower lr, or check the data)", RuntimeWarning, stacklevel=4)


class StopAfter(Callback):
    """Stop after ``epochs`` epochs (``refit_full`` uses it to replay a schedule up to the chosen epoch).

    Parameters
    ----------
    epochs : int

    Examples
    --------
    >>> stop, state = StopAfter(2), TrainState(model=None, head=None, blocks=[], optimizer=None, epoch=1)
    >>> stop.on_epoch_end(state)
    >>> state.stop
    True
    """

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, state):
        if state.epoch + 1 >= self.epochs:
            state.stop = True


class TimeLimit(Callback):
    """Stop when the next epoch would end after ``seconds`` from the start of training.

    After each epoch it compares the time left with the longest epoch so far, so
    training ends at an epoch boundary before the limit rather than after it; the
    first epoch always runs. Early stopping's best weights are kept as usual.
    :class:`hybridtl.AutoClassifier` gives each fine-tuning contender one, so a
    contender never runs past the search's budget.

    Parameters
    ----------
    seconds : float

    Examples
    --------
    >>> limit, state = TimeLimit(0.0), TrainState(model=None, head=None, blocks=[], optimizer=None, epochs=5)
    >>> limit.on_train_begin(state)
    >>> limit.on_epoch_begin(state)
    >>> limit.on_epoch_end(state)
    >>> state.stop, limit.stopped
    (True, True)
    """

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_begin(self, state):
        self.start, self.longest, self.stopped = time.monotonic(), 0.0, False

    def on_epoch_begin(self, state):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, state):
        now = time.monotonic()
        self.longest = max(self.longest, now - self.epoch_start)
        if now + self.longest > self.start + self.seconds and state.epoch + 1 < state.epochs:
            state.stop = self.stopped = True
