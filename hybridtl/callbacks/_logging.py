"""Callbacks that report and keep: one line per epoch, and checkpoints of the best weights."""

from __future__ import annotations

import math
import os

import torch

from ..core import atomic_path
from ._base import Callback, cpu_copy

__all__ = ["Checkpoint", "PrintLog"]


class Checkpoint(Callback):
    """Save the weights whenever ``monitor`` improves (or after every epoch with ``monitor=None``).

    The file, written atomically with ``torch.save``, holds ``epoch`` (1-based), ``model`` (the
    state dict, on the CPU), ``optimizer`` (its state dict) and ``record`` (the epoch's row of
    ``history_``); read it with ``torch.load(path, weights_only=True)`` and put the weights back
    with ``clf.model_.load_state_dict(checkpoint["model"])``. Metrics whose name ends in ``acc``
    improve upwards, others (losses) downwards.

    Parameters
    ----------
    path : str or Path
    monitor : str or None, default="val_loss"
        The column of ``history_`` to watch; None saves after every epoch.

    Examples
    --------
    >>> Checkpoint("best.pt").monitor
    'val_loss'
    """

    def __init__(self, path, monitor="val_loss"):
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
        """Write the checkpoint of the current epoch to :attr:`path`, atomically."""
        payload = {"epoch": state.epoch + 1, "model": cpu_copy(state.model),
                   "optimizer": state.optimizer.state_dict(), "record": dict(state.record)}
        with atomic_path(self.path) as tmp:
            torch.save(payload, tmp)


class PrintLog(Callback):
    """One line per epoch: its number, losses, accuracies, the new layer's lr and seconds (``verbose=1``).

    Examples
    --------
    >>> state = TrainState(model=None, head=None, blocks=[], optimizer=None)
    >>> state.record = {"epoch": 1, "train_loss": 0.51234, "val_acc": 0.9}
    >>> PrintLog().on_epoch_end(state)
    epoch   1  train_loss 0.5123  val_acc 0.9
    """

    COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")

    def on_epoch_end(self, state):
        from tqdm.auto import tqdm

        cells = [f"epoch {state.record.get('epoch', state.epoch + 1):>3}"]
        cells += [f"{name} {state.record[name]:.4g}" for name in self.COLUMNS if name in state.record]
        tqdm.write("  ".join(cells))
