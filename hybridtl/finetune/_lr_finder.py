"""The learning-rate range test behind :meth:`FineTuneClassifier.lr_find`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..backbones import trainable_blocks
from ..callbacks import TrainState
from ..core import Interval, check_param
from ._steps import train_step

__all__ = ["cycle", "lr_range_test", "suggest_lr"]


def suggest_lr(lrs, losses, skip_start=3):
    """The learning rate where the smoothed loss falls fastest (steepest negative slope in log lr).

    Parameters
    ----------
    lrs : array-like
        Learning rates, increasing.
    losses : array-like
        The smoothed loss at each.
    skip_start : int, default=3
        Points at the start left out (the smoothing has not settled there).

    Returns
    -------
    float

    Examples
    --------
    >>> lrs = np.logspace(-5, 0, 50)
    >>> losses = 2 - np.tanh((np.log10(lrs) + 2.5) * 2)  # falls fastest at 10**-2.5
    >>> bool(abs(np.log10(suggest_lr(lrs, losses)) + 2.5) < 0.1)
    True
    """
    lrs, losses = np.asarray(lrs), np.asarray(losses)
    if len(lrs) <= skip_start + 2:
        return float(lrs[int(np.argmin(losses))])
    slopes = np.gradient(losses[skip_start:], np.log(lrs[skip_start:]))
    return float(lrs[skip_start + int(np.argmin(slopes))])


def cycle(make_batches):
    """Batches without end: ``make_batches()`` again each time it runs out."""
    while True:
        yield from make_batches()


def lr_range_test(run, callbacks, batches, device, start_lr, end_lr, num_iter, smoothing):
    """Run the range test on a fresh training ``run``; return (frame, suggested lr).

    ``callbacks`` set up which layers train and at which relative rates (the strategy with
    ``lr=1``, whose base rates are then the per-group multipliers, and the BatchNorm policy):
    their ``on_epoch_begin`` runs once. ``batches`` yields (inputs, targets) without end.
    """
    check_param("start_lr", start_lr, [Interval("number", 0, None, closed="neither")])
    check_param("end_lr", end_lr, [Interval("number", start_lr, None, closed="neither")])
    check_param("num_iter", num_iter, [Interval("integer", 2, None)])
    model = run.backbone.module.train()
    optimizer = run.optimizer
    state = TrainState(model, run.head, trainable_blocks(run.backbone), optimizer)
    for callback in callbacks:
        callback.on_epoch_begin(state)
    multipliers = [group["base_lr"] for group in optimizer.param_groups]
    gamma = (end_lr / start_lr) ** (1.0 / (num_iter - 1))
    lrs, losses, average, best = [], [], 0.0, math.inf
    for step, (inputs, labels) in zip(range(num_iter), batches):
        lr = start_lr * gamma**step
        for group, mult in zip(optimizer.param_groups, multipliers):
            group["lr"] = lr * mult
        loss, _ = train_step(model, inputs, labels, optimizer, run.loss_fn, device, run.amp, run.scaler)
        average = smoothing * average + (1 - smoothing) * loss.item()
        smoothed = average / (1 - smoothing ** (step + 1))
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > 4 * best:
            break
    frame = pd.DataFrame({"lr": lrs, "loss": losses})
    return frame, suggest_lr(lrs, losses)
