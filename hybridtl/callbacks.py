"""Training behaviour as small composable pieces (in the spirit of skorch's callbacks).

The fine-tuning loop (:mod:`hybridtl.training`) knows nothing about freezing,
learning-rate schedules or early stopping: it calls each callback at the start
and end of training, of every epoch and of every batch, with one shared
:class:`TrainState`. Order matters only where noted: the strategy sets the base
learning rates that the schedule then scales.

The protocol is public: subclass :class:`Callback`, override the hooks you
need and pass instances as ``FineTuneClassifier(callbacks=[...])``; they run
after the built-in ones, on a fresh copy for every ``fit``. Ready-made:
:class:`Checkpoint`, :class:`LRScheduler` (any ``torch.optim.lr_scheduler``),
:class:`PrintLog` (what ``verbose=1`` adds).
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "Callback",
    "BatchNormPolicy",
    "Checkpoint",
    "EarlyStopping",
    "LRSchedule",
    "LRScheduler",
    "PrintLog",
    "StopAfter",
    "TerminateOnNaN",
    "TrainState",
]


@dataclass
class TrainState:
    """What the loop and the callbacks share while a model trains.

    ``optimizer`` has one parameter group per backbone block (input first, each with its
    ``lr_scale``) and a last one for the new classification layer. Each group's ``base_lr`` is
    set by the strategy; its ``lr`` is ``base_lr`` times the schedule's factor. ``record`` is
    the current epoch's row of ``history_`` (filled before ``on_epoch_end``); ``batch`` and
    ``n_batches`` are the batch index in the epoch and the number of batches (about), and
    ``batch_loss`` the last batch's loss, for the batch hooks.
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
    batch: int = 0
    n_batches: int = 0
    batch_loss: float = math.nan


class Callback:
    """Base class: every hook does nothing; subclass it and override the hooks you need.

    Examples
    --------
    >>> class LossLog(Callback):
    ...     def on_train_begin(self, state):
    ...         self.losses = []
    ...     def on_epoch_end(self, state):
    ...         self.losses.append(state.record["train_loss"])
    """

    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state):
        pass

    def on_batch_begin(self, state):
        pass

    def on_batch_end(self, state):
        pass

    def on_epoch_end(self, state):
        pass

    def on_train_end(self, state):
        pass


class LRSchedule(Callback):
    """Scale each group's ``base_lr`` per epoch: ``"cosine"``, ``"step"`` or ``"none"``, after a warm-up.

    The schedule restarts whenever the strategy starts a new stage. With
    ``warmup_epochs=w > 0`` the rates also rise linearly, batch by batch, from
    near zero over the first ``w`` epochs of each stage.

    Examples
    --------
    >>> [round(LRSchedule("cosine").factor(t, 4), 3) for t in range(4)]
    [1.0, 0.854, 0.5, 0.146]
    >>> [LRSchedule("step").factor(t, 6) for t in range(6)]
    [1.0, 1.0, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002]
    >>> [LRSchedule("none", warmup_epochs=1).warmup(0, b, 4) for b in range(4)]
    [0.25, 0.5, 0.75, 1.0]
    """

    KINDS = ("cosine", "step", "none")

    def __init__(self, kind="cosine", warmup_epochs=0.0):
        if kind not in self.KINDS:
            raise ValueError(f"lr_schedule must be one of {self.KINDS} or an LRScheduler, got {kind!r}")
        if not (isinstance(warmup_epochs, (int, float)) and math.isfinite(warmup_epochs) and warmup_epochs >= 0):
            raise ValueError(f"warmup_epochs must be a number >= 0, got {warmup_epochs!r}")
        self.kind, self.warmup_epochs = kind, warmup_epochs

    def factor(self, t, length):
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * t / max(length, 1)))
        if self.kind == "step":
            return 0.1 ** (t // max(1, math.ceil(length / 3)))
        return 1.0

    def warmup(self, t, batch, n_batches):
        """The warm-up factor at ``batch`` of epoch ``t`` of a stage (1 once warm)."""
        if not self.warmup_epochs or not n_batches:
            return 1.0
        return min(1.0, (t * n_batches + batch + 1) / (self.warmup_epochs * n_batches))

    def on_epoch_begin(self, state):
        self._set(state, 0)

    def on_batch_begin(self, state):
        if self.warmup_epochs and state.epoch - state.stage_start < math.ceil(self.warmup_epochs):
            self._set(state, state.batch)

    def _set(self, state, batch):
        t = state.epoch - state.stage_start
        scale_rates(state.optimizer, self.factor(t, state.stage_length) * self.warmup(t, batch, state.n_batches))


def scale_rates(optimizer, factor):
    """Every group's ``lr`` = its ``base_lr`` (set by the strategy) times the schedule's ``factor``."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


class LRScheduler(Callback):
    """Any ``torch.optim.lr_scheduler`` as the schedule: ``FineTuneClassifier(lr_schedule=LRScheduler(...))``.

    ``policy`` is the scheduler class (or a callable ``optimizer -> scheduler``), ``kwargs`` its
    arguments. The scheduler runs on a one-group proxy optimizer whose rate starts at 1, so its
    rate is a *factor* on each group's ``base_lr``: the strategy keeps deciding the rates per
    block and for the new layer, and absolute values (``OneCycleLR``'s ``max_lr``) are given as
    factors. It steps after every epoch (``step_every="epoch"``) or batch (``"batch"``) and
    restarts at every stage; ``ReduceLROnPlateau`` steps on ``monitor`` of the epoch's record.

    Examples
    --------
    >>> from torch.optim.lr_scheduler import StepLR
    >>> sched = LRScheduler(StepLR, step_size=2, gamma=0.5)
    >>> sched.step_every, sched.kwargs
    ('epoch', {'step_size': 2, 'gamma': 0.5})
    """

    def __init__(self, policy, step_every="epoch", monitor="val_loss", **kwargs):
        if not callable(policy):
            raise TypeError(f"policy must be a torch.optim.lr_scheduler class or a callable, got {policy!r}")
        if step_every not in ("epoch", "batch"):
            raise ValueError(f"step_every must be 'epoch' or 'batch', got {step_every!r}")
        self.policy, self.step_every, self.monitor, self.kwargs = policy, step_every, monitor, kwargs

    def on_epoch_begin(self, state):
        if state.epoch == state.stage_start or getattr(self, "scheduler_", None) is None:
            self._proxy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            self.scheduler_ = self.policy(self._proxy, **self.kwargs)
        self._apply(state)

    def on_batch_begin(self, state):
        if self.step_every == "batch":
            self._apply(state)

    def on_batch_end(self, state):
        if self.step_every == "batch":
            self._step(None)

    def on_epoch_end(self, state):
        if self.step_every == "epoch":
            self._step(state.record.get(self.monitor, math.nan))

    def _step(self, metric):
        self._proxy.step()  # no gradient, so nothing moves; torch wants optimizer.step() before scheduler.step()
        if isinstance(self.scheduler_, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if metric is not None and not math.isnan(metric):
                self.scheduler_.step(metric)
            return
        self.scheduler_.step()

    def _apply(self, state):
        scale_rates(state.optimizer, self._proxy.param_groups[0]["lr"])


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


class StopAfter(Callback):
    """Stop after ``epochs`` epochs (``refit_full`` uses it to replay a schedule up to the chosen epoch)."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, state):
        if state.epoch + 1 >= self.epochs:
            state.stop = True


class Checkpoint(Callback):
    """Save the weights whenever ``monitor`` improves (or after every epoch with ``monitor=None``).

    The file, written atomically with ``torch.save``, holds ``epoch`` (1-based), ``model`` (the
    state dict, on the CPU), ``optimizer`` (its state dict) and ``record`` (the epoch's row of
    ``history_``); read it with ``torch.load(path, weights_only=True)`` and put the weights back
    with ``clf.model_.load_state_dict(checkpoint["model"])``. Metrics whose name ends in ``acc``
    improve upwards, others (losses) downwards.

    Examples
    --------
    >>> Checkpoint("best.pt").monitor
    'val_loss'
    """

    def __init__(self, path, monitor="val_loss"):
        import os

        self.path, self.monitor = os.fspath(path), monitor  # a str, so that a saved model holds plain data

    def on_train_begin(self, state):
        self.best_ = None

    def on_epoch_end(self, state):
        if self.monitor is not None:
            value = state.record.get(self.monitor, math.nan)
            if math.isnan(value):
                return
            sign = -1.0 if self.monitor.endswith("acc") else 1.0
            if self.best_ is not None and sign * value >= sign * self.best_:
                return
            self.best_ = value
        self.save(state)

    def save(self, state):
        from .atomic import atomic_path

        payload = {"epoch": state.epoch + 1, "model": _cpu_copy(state.model),
                   "optimizer": state.optimizer.state_dict(), "record": dict(state.record)}
        with atomic_path(self.path) as tmp:
            torch.save(payload, tmp)


class PrintLog(Callback):
    """One line per epoch: its number, losses, accuracies, the new layer's lr and seconds (``verbose=1``)."""

    COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")

    def on_epoch_end(self, state):
        from tqdm.auto import tqdm

        cells = [f"epoch {state.record.get('epoch', state.epoch + 1):>3}"]
        cells += [f"{name} {state.record[name]:.4g}" for name in self.COLUMNS if name in state.record]
        tqdm.write("  ".join(cells))


def check_callbacks(callbacks):
    """``callbacks`` as a list, after checking that it is None or a list of :class:`Callback` instances."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)) or not all(isinstance(c, Callback) for c in callbacks):
        raise TypeError("callbacks must be None or a list of hybridtl.callbacks.Callback instances")
    return list(callbacks)


def fresh_copies(callbacks):
    """Deep copies of a user's callbacks, so that one ``fit`` leaves the estimator's parameters unchanged."""
    return copy.deepcopy(check_callbacks(callbacks))
