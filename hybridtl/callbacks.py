"""Training behaviour as small composable pieces (in the spirit of skorch's callbacks).

The fine-tuning loop (:mod:`hybridtl.training`) knows nothing about freezing,
learning-rate schedules or early stopping: it calls each callback at the start
and end of training and of every epoch, with one shared :class:`TrainState`.
Order matters only where noted: the strategy sets the base learning rates that
the schedule then scales.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from torch import nn

__all__ = [
    "Callback",
    "BatchNormPolicy",
    "EarlyStopping",
    "LRSchedule",
    "TerminateOnNaN",
    "TrainState",
]


@dataclass
class TrainState:
    """What the loop and the callbacks share while a model trains.

    ``optimizer`` has two parameter groups: 0 for the backbone, 1 for the new
    classification layer. Each group's ``base_lr`` is set by the strategy;
    its ``lr`` is ``base_lr`` times the schedule's factor.
    """

    model: nn.Module
    head: nn.Module
    blocks: list
    optimizer: object
    epoch: int = 0
    stage_start: int = 0
    stage_length: int = 1
    epochs: int = 1
    record: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    stop: bool = False
    interrupted: bool = False
    best_epoch: int | None = None


class Callback:
    """Base class: every hook does nothing."""

    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state):
        pass

    def on_epoch_end(self, state):
        pass

    def on_train_end(self, state):
        pass


class LRSchedule(Callback):
    """Scale each group's ``base_lr`` per epoch: ``"cosine"``, ``"step"`` or ``"none"``.

    The schedule restarts whenever the strategy starts a new stage.

    Examples
    --------
    >>> [round(LRSchedule("cosine").factor(t, 4), 3) for t in range(4)]
    [1.0, 0.854, 0.5, 0.146]
    >>> [LRSchedule("step").factor(t, 6) for t in range(6)]
    [1.0, 1.0, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002]
    """

    KINDS = ("cosine", "step", "none")

    def __init__(self, kind="cosine"):
        if kind not in self.KINDS:
            raise ValueError(f"lr_schedule must be one of {self.KINDS}, got {kind!r}")
        self.kind = kind

    def factor(self, t, length):
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * t / max(length, 1)))
        if self.kind == "step":
            return 0.1 ** (t // max(1, math.ceil(length / 3)))
        return 1.0

    def on_epoch_begin(self, state):
        scale = self.factor(state.epoch - state.stage_start, state.stage_length)
        for group in state.optimizer.param_groups:
            group["lr"] = group["base_lr"] * scale


class BatchNormPolicy(Callback):
    """Which BatchNorm layers re-estimate their running statistics while the network trains.

    * ``"frozen"``: none; every BatchNorm layer stays in inference mode and keeps the statistics
      it was pretrained with (its scale and shift still train where the block trains). The rule
      of the Keras fine-tuning guide: small batches of a new domain give noisy statistics, and
      a switch of statistics undoes what the head has learned.
    * ``"trainable"``: the layers whose parameters train; frozen blocks keep their statistics.
    * ``"train"``: all of them, frozen blocks included.
    """

    POLICIES = ("frozen", "trainable", "train")

    def __init__(self, policy="frozen"):
        if policy not in self.POLICIES:
            raise ValueError(f"bn must be one of {self.POLICIES}, got {policy!r}")
        self.policy = policy

    def on_epoch_begin(self, state):
        if self.policy == "train":
            return
        for module in state.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                params = list(module.parameters(recurse=False))
                if self.policy == "frozen" or (params and not any(p.requires_grad for p in params)):
                    module.eval()


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    Stages (two_stage) are handled with care: a new stage starts from the best weights so far,
    patience counts from the stage's start, and only the last stage may stop the run, so the
    result is never worse on validation than the best of an earlier stage. The best weights are
    kept as a CPU copy, so an interrupted run (Ctrl-C) also ends with them.
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
            self.best_state = _cpu_copy(state.model)
            return
        last_stage = state.stage_start + state.stage_length >= state.epochs
        if last_stage and state.epoch - max(self.best_epoch, self.stage_start - 1) >= self.patience:
            state.stop = True

    def on_train_end(self, state):
        if self.best_state is not None:
            state.model.load_state_dict(self.best_state)
            state.best_epoch = self.best_epoch


def _cpu_copy(model):
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class TerminateOnNaN(Callback):
    """Stop when the training loss becomes NaN or infinite, with a warning, and keep sound weights.

    Runs after :class:`EarlyStopping`: when that restored its best epoch, those
    weights stay; without validation, the weights of the last epoch with a
    finite loss are put back (the starting weights if the first epoch fails).
    The epoch's row in ``history_`` shows the non-finite loss.
    """

    def on_train_begin(self, state):
        self.kept, self.kept_epoch, self.failed_epoch = _cpu_copy(state.model), None, None

    def on_epoch_end(self, state):
        loss = state.record.get("train_loss", math.nan)
        if math.isfinite(loss):
            if math.isnan(state.record.get("val_loss", math.nan)):  # early stopping keeps nothing then
                self.kept, self.kept_epoch = _cpu_copy(state.model), state.epoch
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
