"""The learning-rate range test behind :meth:`FineTuneClassifier.lr_find`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .backbones import trainable_blocks
from .callbacks import BatchNormPolicy, TrainState
from .strategies import make_strategy
from .training import train_step

__all__ = ["lr_range_test", "suggest_lr"]


def suggest_lr(lrs, losses, skip_start=3):
    """The learning rate where the smoothed loss falls fastest (steepest negative slope in log lr).

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


def _cycle(make_batches):
    while True:
        yield from make_batches()


def lr_range_test(estimator, run, images, targets, device, start_lr, end_lr, num_iter, smoothing):
    """Run the range test on a fresh training ``run`` of ``estimator``; return (frame, suggested lr)."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if num_iter < 2:
        raise ValueError(f"num_iter must be >= 2, got {num_iter}")
    model = run.backbone.module.train()
    optimizer = run.optimizer
    state = TrainState(model, run.head, trainable_blocks(run.backbone), optimizer)
    # With lr=1 the strategy's base learning rates are the per-group multipliers.
    make_strategy(estimator.strategy, 1.0, int(estimator.epochs), estimator.head_lr_mult,
                  int(estimator.head_epochs), estimator.finetune_lr_mult).on_epoch_begin(state)
    BatchNormPolicy(estimator._bn_policy()).on_epoch_begin(state)
    multipliers = [group["base_lr"] for group in optimizer.param_groups]
    batches = _cycle(lambda: images.train_batches(run.preprocess, targets, int(estimator.batch_size), device,
                                                  run.generator, estimator._augmentation(), int(estimator.num_workers)))
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
