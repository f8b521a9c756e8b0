"""The training loop: epochs of training and validation, and one ``notify`` that drives every callback.

As in skorch's ``net.py``, the loop itself knows nothing about freezing,
schedules or early stopping: each is a callback (:mod:`hybridtl.callbacks`),
and :meth:`Trainer.notify` calls the same hook on all of them, in order, with
the one shared :class:`~hybridtl.callbacks.TrainState`. Training across
processes wraps this trainer (:class:`~hybridtl.finetune.DistributedTrainer`).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ..backbones import trainable_blocks
from ..callbacks import TrainState
from ..core import progress_bar
from ..devices import BatchBackOff
from ..images import Preprocess
from ._steps import evaluate, nan_pair, run_epoch

__all__ = ["Trainer", "TrainingRun"]


@dataclass
class TrainingRun:
    """What one training run is built from; the model is ``backbone.module``, on the device."""

    backbone: object
    head: nn.Module
    preprocess: Preprocess
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    amp: bool
    scaler: object
    generator: torch.Generator


class Trainer:
    """Trains a run's model for up to ``epochs`` epochs; Ctrl-C ends the run cleanly.

    Parameters
    ----------
    run : TrainingRun
        The network, optimizer, loss and random generator of this run.
    callbacks : list of Callback
        Called by :meth:`notify`, in this order, at every hook.
    device : torch.device
    batch_size : int
        Halved on a CUDA out-of-memory error, and kept so for later epochs.
    augment : {None, "flip", "light", "strong"}, default=None
    num_workers : int, default=0
    tta : bool, default=False
        Validation averages each image with its mirror image.
    progress : bool, default=True
    cached : CachedEpochs, optional
        The first ``cached.epochs`` epochs train and validate the new layer alone on features
        computed once (:mod:`hybridtl.finetune._cached`), in place of the images given to :meth:`fit`.
    """

    def __init__(self, run, callbacks, device, batch_size, augment=None, num_workers=0, tta=False, progress=True,
                 cached=None):
        self.run, self.callbacks, self.device, self.cached = run, list(callbacks), device, cached
        self.net = None  # what turns a batch into logits this epoch; None: the whole network
        self.augment, self.num_workers, self.tta, self.progress = augment, num_workers, tta, progress
        self.backoff = BatchBackOff(batch_size, "fit")
        model = run.backbone.module
        self.state = TrainState(model, run.head, trainable_blocks(run.backbone), run.optimizer)

    def notify(self, hook):
        """Call ``hook`` (a name in :data:`hybridtl.callbacks.HOOKS`) on every callback, in order."""
        for callback in self.callbacks:
            getattr(callback, hook)(self.state)

    def fit(self, train_images, train_targets, val_images, val_targets, epochs):
        """Train on ``train_images`` and validate on ``val_images`` (which may be empty); return the final state."""
        state = self.state
        state.epochs = epochs
        self.notify("on_train_begin")
        bar = progress_bar(range(epochs), progress=self.progress, unit="epoch", desc="fine-tune")
        try:
            for epoch in bar:
                state.epoch = epoch
                state.model.train()
                self.notify("on_epoch_begin")
                start = time.perf_counter()
                self.net, train_set, val_set = self._epoch_inputs(epoch, train_images, val_images)
                train_loss, train_acc = self.backoff.call(lambda size: self.train_epoch(train_set, train_targets, size))
                val_loss, val_acc = self.validate(val_set, val_targets)
                state.record = self._record(train_loss, train_acc, val_loss, val_acc, time.perf_counter() - start)
                self.notify("on_epoch_end")
                state.history.append(state.record)
                bar.set_postfix(loss=f"{train_loss:.3f}", val_loss=f"{val_loss:.3f}")
                if state.stop:
                    break
        except KeyboardInterrupt:
            state.interrupted = True
            warnings.warn(f"training interrupted at epoch {state.epoch + 1}; keeping the best weights so far",
                          stacklevel=3)
        finally:
            bar.close()
        state.model.eval()
        self.notify("on_train_end")
        return state

    def _epoch_inputs(self, epoch, train_images, val_images):
        """(net, training set, validation set) of ``epoch``: the whole network (None) on the images, or the new
        layer on the cached features in the first epochs."""
        if self.cached is not None and epoch < self.cached.epochs:
            return self.run.head, self.cached.train, self.cached.val
        return None, train_images, val_images

    def _record(self, train_loss, train_acc, val_loss, val_acc, seconds):
        """The epoch's row of ``history_``."""
        state = self.state
        return {
            "epoch": state.epoch + 1,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "lr": state.optimizer.param_groups[-1]["lr"],
            "backbone_lr": state.optimizer.param_groups[-2]["lr"],
            "n_trainable_params": sum(p.numel() for p in state.model.parameters() if p.requires_grad),
            "seconds": seconds,
        }

    def train_epoch(self, images, targets, batch_size, model=None):
        """One epoch over ``images`` in shuffled batches; (mean loss, accuracy)."""
        run = self.run
        batches = images.train_batches(run.preprocess, targets, batch_size, self.device, run.generator,
                                       self.augment, self.num_workers)
        self.state.n_batches = math.ceil(len(targets) / batch_size)
        net = model or self.net or self.state.model
        return run_epoch(net, batches, run.optimizer, run.loss_fn, self.device, run.amp, run.scaler,
                         (self._batch_begin, self._batch_end))

    def _batch_begin(self, i):
        self.state.batch = i
        self.notify("on_batch_begin")

    def _batch_end(self, i, loss):
        self.state.batch_loss = loss
        self.notify("on_batch_end")

    def validate(self, images, targets):
        """(loss, accuracy) on held-out images; (nan, nan) when there are none."""
        if not len(targets):
            return nan_pair()
        batches = images.batches(self.run.preprocess, self.backoff.batch_size, self.device, self.num_workers)
        return evaluate(self.net or self.state.model, batches, targets, self.device, self.run.amp, self.tta)
