"""Learning-rate schedules as torch schedulers: any ``torch.optim.lr_scheduler``, and the built-in ones by name.

The strategy (:mod:`hybridtl.finetune`) sets each optimizer group's ``base_lr``
(per block, and for the new layer); a schedule sets its ``lr`` to ``base_lr``
times a *factor*. The factor comes from a torch scheduler that runs on a
one-group proxy optimizer whose rate starts at 1, so that any scheduler scales
the strategy's rates without knowing them, and restarts at every stage.
"""

from __future__ import annotations

import math

import torch

from ..core import LR_SCHEDULES, STEP_EVERY, Callable, Interval, Options, check_param
from ._base import Callback

__all__ = ["LRSchedule", "LRScheduler", "scale_rates"]


def scale_rates(optimizer, factor):
    """Every group's ``lr`` = its ``base_lr`` (set by the strategy) times the schedule's ``factor``."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor


def _proxy():
    """A one-group optimizer with rate 1, on which a scheduler computes its factor."""
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)


class LRScheduler(Callback):
    """Any ``torch.optim.lr_scheduler`` as the schedule: ``FineTuneClassifier(lr_schedule=LRScheduler(...))``.

    ``policy`` is the scheduler class (or a callable ``optimizer -> scheduler``), ``kwargs`` its
    arguments. The scheduler runs on a one-group proxy optimizer whose rate starts at 1, so its
    rate is a *factor* on each group's ``base_lr``: the strategy keeps deciding the rates per
    block and for the new layer, and absolute values (``OneCycleLR``'s ``max_lr``) are given as
    factors. It steps after every epoch (``step_every="epoch"``) or batch (``"batch"``) and
    restarts at every stage; ``ReduceLROnPlateau`` steps on ``monitor`` of the epoch's record.

    Parameters
    ----------
    policy : torch.optim.lr_scheduler class or callable
    step_every : {"epoch", "batch"}, default="epoch"
    monitor : str, default="val_loss"
    **kwargs
        Passed to ``policy``.

    Examples
    --------
    >>> from torch.optim.lr_scheduler import StepLR
    >>> sched = LRScheduler(StepLR, step_size=2, gamma=0.5)
    >>> sched.step_every, sched.kwargs
    ('epoch', {'step_size': 2, 'gamma': 0.5})
    """

    def __init__(self, policy, step_every="epoch", monitor="val_loss", **kwargs):
        check_param("policy", policy, [Callable("a torch.optim.lr_scheduler class or a callable")])
        check_param("step_every", step_every, [Options(STEP_EVERY)])
        self.policy, self.step_every, self.monitor, self.kwargs = policy, step_every, monitor, kwargs

    def make_scheduler(self, optimizer, state):
        """The scheduler for a new stage on the proxy ``optimizer``: ``policy(optimizer, **kwargs)``."""
        return self.policy(optimizer, **self.kwargs)

    def factor(self):
        """The current factor on every group's ``base_lr``."""
        return self._proxy.param_groups[0]["lr"]

    def on_epoch_begin(self, state):
        if state.epoch == state.stage_start or getattr(self, "scheduler_", None) is None:
            self._proxy = _proxy()
            self.scheduler_ = self.make_scheduler(self._proxy, state)
        scale_rates(state.optimizer, self.factor())

    def on_batch_begin(self, state):
        if self.step_every == "batch":
            scale_rates(state.optimizer, self.factor())

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


class LRSchedule(LRScheduler):
    """The built-in schedules by name, each a torch scheduler over the stage, after an optional warm-up.

    * ``"cosine"``: ``CosineAnnealingLR`` from 1 towards 0 over the stage's epochs;
    * ``"step"``: ``StepLR``, a tenth after each third of the stage;
    * ``"none"``: a factor of 1.

    The schedule restarts whenever the strategy starts a new stage. With
    ``warmup_epochs=w > 0`` the rates also rise batch by batch, by a
    ``LinearLR`` from ``1 / (w * n)`` to 1 over the first ``w * n`` batches of
    each stage (``n`` batches per epoch).

    Parameters
    ----------
    kind : {"cosine", "step", "none"}, default="cosine"
    warmup_epochs : float, default=0.0

    Examples
    --------
    >>> import torch
    >>> from hybridtl.callbacks import TrainState
    >>> state = TrainState(model=None, head=None, blocks=[], optimizer=None, stage_length=4)
    >>> cosine = LRSchedule("cosine")
    >>> scheduler = cosine.make_scheduler(torch.optim.SGD([torch.zeros(1)], lr=1.0), state)
    >>> factors = []
    >>> for _ in range(4):
    ...     factors.append(round(scheduler.get_last_lr()[0], 3))
    ...     scheduler.optimizer.step(); scheduler.step()
    >>> factors
    [1.0, 0.854, 0.5, 0.146]
    """

    def __init__(self, kind="cosine", warmup_epochs=0.0):
        # the scheduler comes from make_scheduler, not from a policy; it steps after every epoch
        self.policy, self.step_every, self.monitor, self.kwargs = None, "epoch", "val_loss", {}
        self.kind = check_param("lr_schedule", kind, [Options(LR_SCHEDULES)])
        self.warmup_epochs = check_param("warmup_epochs", warmup_epochs, [Interval("number", 0, None)])

    def make_scheduler(self, optimizer, state):
        length = max(state.stage_length, 1)
        self._warm = None  # built at the stage's first batch, once the number of batches is known
        if self.kind == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=length)
        if self.kind == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=math.ceil(length / 3), gamma=0.1)
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)

    def factor(self):
        warm = 1.0 if getattr(self, "_warm", None) is None else self._warm.optimizer.param_groups[0]["lr"]
        return super().factor() * warm

    def _warming(self, state):
        return self.warmup_epochs and state.epoch - state.stage_start < math.ceil(self.warmup_epochs)

    def on_batch_begin(self, state):
        if not self._warming(state):
            return
        steps = self.warmup_epochs * state.n_batches
        if self._warm is None and steps > 1:
            self._warm = torch.optim.lr_scheduler.LinearLR(_proxy(), start_factor=1.0 / steps, end_factor=1.0,
                                                           total_iters=math.ceil(steps) - 1)
        scale_rates(state.optimizer, self.factor())

    def on_batch_end(self, state):
        if self._warming(state) and self._warm is not None:
            self._warm.optimizer.step()
            self._warm.step()
