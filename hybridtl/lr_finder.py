"""The learning-rate range test behind :meth:`FineTuneClassifier.lr_find`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .backbones import trainable_blocks
from .callbacks import FreezeBatchNorm, TrainState
from .devices import autocast, use_amp
from .strategies import make_strategy
from .training import make_optimizer

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


def lr_range_test(estimator, backbone, head, images, targets, classes, preprocess, device, seed,
                  start_lr, end_lr, num_iter, smoothing):
    """Run the range test on a freshly built ``backbone``; return (frame, suggested lr)."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if num_iter < 2:
        raise ValueError(f"num_iter must be >= 2, got {num_iter}")
    model = backbone.module.to(device, memory_format=torch.channels_last).train()
    optimizer = make_optimizer(estimator.optimizer, model, head, estimator.weight_decay)
    state = TrainState(model, head, trainable_blocks(backbone), optimizer)
    # With lr=1 the strategy's base learning rates are the per-group multipliers.
    make_strategy(estimator.strategy, 1.0, int(estimator.epochs), estimator.head_lr_mult,
                  int(estimator.head_epochs), estimator.finetune_lr_mult).on_epoch_begin(state)
    if estimator.freeze_bn:
        FreezeBatchNorm().on_epoch_begin(state)
    multipliers = [group["base_lr"] for group in optimizer.param_groups]
    loss_fn = estimator._loss(targets, classes).to(device)
    amp = use_amp(estimator.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    generator = torch.Generator().manual_seed(seed)
    batches = _cycle(lambda: images.train_batches(preprocess, targets, int(estimator.batch_size), device,
                                                  generator, estimator.augment, int(estimator.num_workers)))
    gamma = (end_lr / start_lr) ** (1.0 / (num_iter - 1))
    lrs, losses, average, best = [], [], 0.0, math.inf
    for step, (inputs, labels) in zip(range(num_iter), batches):
        lr = start_lr * gamma**step
        for group, mult in zip(optimizer.param_groups, multipliers):
            group["lr"] = lr * mult
        optimizer.zero_grad(set_to_none=True)
        with autocast(amp, device):
            loss = loss_fn(model(inputs).float(), labels.to(device))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        average = smoothing * average + (1 - smoothing) * loss.item()
        smoothed = average / (1 - smoothing ** (step + 1))
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if not math.isfinite(smoothed) or smoothed > 4 * best:
            break
    frame = pd.DataFrame({"lr": lrs, "loss": losses})
    return frame, suggest_lr(lrs, losses)
