"""The callback protocol: the state the training loop shares, and the hooks a callback may override.

The fine-tuning loop (:class:`hybridtl.finetune.Trainer`) knows nothing about
freezing, learning-rate schedules or early stopping: its one ``notify`` calls
each callback's hook at the start and end of training, of every epoch and of
every batch, with one shared :class:`TrainState`. Order matters only where
noted: the strategy sets the base learning rates that the schedule then scales.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from torch import nn

__all__ = ["HOOKS", "Callback", "CallbackList", "TrainState", "cpu_copy", "fresh_copies"]

# the hooks, in the order a training run calls them
HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_begin", "on_batch_end", "on_epoch_end", "on_train_end")


@dataclass
class TrainState:
    """What the loop and the callbacks share while a model trains.

    ``optimizer`` has one parameter group per backbone block (input first, each with its
    ``lr_scale``) and a last one for the new classification layer. Each group's ``base_lr`` is
    set by the strategy; its ``lr`` is ``base_lr`` times the schedule's factor. ``record`` is
    the current epoch's row of ``history_`` (filled before ``on_epoch_end``); ``batch`` and
    ``n_batches`` are the batch index in the epoch and the number of batches (about), and
    ``batch_loss`` the last batch's loss, for the batch hooks.

    Parameters
    ----------
    model : torch.nn.Module
    head : torch.nn.Module
        The new classification layer.
    blocks : list of torch.nn.Module
        The backbone's blocks, input first (:func:`hybridtl.backbones.trainable_blocks`).
    optimizer : torch.optim.Optimizer
    epoch, stage_start, stage_length, epochs : int
    record : dict
    history : list of dict
    stop, interrupted : bool
    best_epoch : int or None
    batch, n_batches : int
    batch_loss : float

    Examples
    --------
    >>> state = TrainState(model=None, head=None, blocks=[], optimizer=None)
    >>> state.epoch, state.stop, state.history
    (0, False, [])
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



def cpu_copy(model):
    """The model's weights as a dict of CPU tensors, detached copies (what early stopping keeps)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def fresh_copies(callbacks):
    """Deep copies of a user's callbacks, so that one ``fit`` leaves the estimator's parameters unchanged."""
    return copy.deepcopy(list(callbacks or []))


class CallbackList:
    """The ``callbacks`` constraint: a list (or tuple) of :class:`Callback` instances."""

    def is_satisfied_by(self, value):
        return isinstance(value, (list, tuple)) and all(isinstance(c, Callback) for c in value)

    def __str__(self):
        return "a list of hybridtl.callbacks.Callback instances"
