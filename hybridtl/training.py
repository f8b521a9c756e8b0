"""The plain training loop behind :class:`~hybridtl.finetune.FineTuneClassifier`.

One epoch of training, one pass of evaluation, and the loop that calls the
callbacks around them. Everything else (freezing, schedules, early stopping)
lives in :mod:`hybridtl.callbacks` and :mod:`hybridtl.strategies`.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings

import numpy as np
import torch
from tqdm.auto import tqdm

from .devices import autocast

__all__ = ["OPTIMIZERS", "evaluate", "fit_loop", "make_optimizer", "run_epoch", "train_step"]

OPTIMIZERS = ("adam", "adamax", "adamw", "sgd")


def make_optimizer(name, blocks, head, weight_decay=0.0, layer_decay=None):
    """An optimizer with one parameter group per backbone block (input first), then the new head's.

    Each group carries ``lr_scale``: 1 for the head and, with ``layer_decay=d``, ``d ** k`` for the
    block ``k`` places below the top one (discriminative learning rates, as ULMFiT and fastai use).
    The strategy sets each group's ``base_lr`` from it and the schedule its ``lr``. The groups follow
    :func:`~hybridtl.backbones.trainable_blocks`, the units that ``gradual`` unfreezes, rather than
    timm's ``param_groups_layer_decay``, which works on timm models only and puts the new head in
    the top layer group, where it could not have its own ``head_lr_mult``.
    """
    head_ids = {id(p) for p in head.parameters()}
    scale = 1.0 if layer_decay is None else float(layer_decay)
    groups = [{"params": [p for p in block.parameters() if id(p) not in head_ids], "lr_scale": scale ** (len(blocks) - 1 - i)}
              for i, block in enumerate(blocks)]
    groups = [g for g in groups if g["params"]] + [{"params": list(head.parameters()), "lr_scale": 1.0}]
    for group in groups:
        group.update(lr=0.0, base_lr=0.0)
    if name == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    if name == "adamax":
        return torch.optim.Adamax(groups, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=0.0, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; accepted: {', '.join(OPTIMIZERS)}")


def train_step(model, inputs, targets, optimizer, loss_fn, device, amp, scaler):
    """One optimisation step on a batch; returns (loss, logits)."""
    targets = targets.to(device, non_blocking=True)
    optimizer.zero_grad(set_to_none=True)
    with autocast(amp, device):
        logits = model(inputs)
        loss = loss_fn(logits.float(), targets)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss, logits


def run_epoch(model, batches, optimizer, loss_fn, device, amp, scaler, on_batch=None):
    """Train over ``batches`` of (inputs, targets) once; return (mean loss, accuracy).

    ``on_batch``, if given, is a pair of callables ``(begin(i), end(i, loss))`` run around each
    step, ``loss`` being the batch's mean loss as a float.
    """
    total_loss, correct, seen = 0.0, 0, 0
    for i, (inputs, targets) in enumerate(batches):
        if on_batch is not None:
            on_batch[0](i)
        loss, logits = train_step(model, inputs, targets, optimizer, loss_fn, device, amp, scaler)
        loss = loss.item()  # once per batch: on a GPU each read waits for the device
        if on_batch is not None:
            on_batch[1](i, loss)
        total_loss += loss * len(targets)
        correct += (logits.argmax(1).cpu() == targets).sum().item()
        seen += len(targets)
    return total_loss / max(seen, 1), correct / max(seen, 1)


@torch.no_grad()
def evaluate(model, batches, targets, device, amp, tta=False):
    """Mean cross-entropy (unweighted, unsmoothed) and accuracy of ``model`` over ``batches`` (inputs only)."""
    probs = predict_proba(model, batches, device, amp, tta)
    targets = torch.as_tensor(targets)
    loss = torch.nn.functional.nll_loss(torch.log(probs.clamp_min(1e-12)), targets).item()
    return loss, (probs.argmax(1) == targets).float().mean().item()


@torch.no_grad()
def predict_proba(model, batches, device, amp, tta=False):
    """Softmax outputs of ``model`` in eval mode, on the CPU, as float32.

    ``tta=True`` averages the probabilities of each image and its mirror image (test-time augmentation).
    """
    model.eval()
    out = []
    for inputs in batches:
        with autocast(amp, device):
            probs = model(inputs).float().softmax(1)
            if tta:
                probs = (probs + model(inputs.flip(3)).float().softmax(1)) / 2
        out.append(probs.cpu())
    return torch.cat(out)


def fit_loop(state, callbacks, epochs, train_epoch, validate, progress=True):
    """Run up to ``epochs`` epochs, calling the callbacks; Ctrl-C ends the run cleanly.

    ``train_epoch()`` returns (loss, accuracy) of one training epoch;
    ``validate()`` returns (loss, accuracy) on held-out data, or (nan, nan).
    """
    state.epochs = epochs
    for callback in callbacks:
        callback.on_train_begin(state)
    bar = tqdm(range(epochs), disable=not progress, unit="epoch", desc="fine-tune")
    try:
        for epoch in bar:
            state.epoch = epoch
            state.model.train()
            for callback in callbacks:
                callback.on_epoch_begin(state)
            start = time.perf_counter()
            train_loss, train_acc = train_epoch()
            val_loss, val_acc = validate()
            state.record = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": state.optimizer.param_groups[-1]["lr"],
                "backbone_lr": state.optimizer.param_groups[-2]["lr"],
                "n_trainable_params": sum(p.numel() for p in state.model.parameters() if p.requires_grad),
                "seconds": time.perf_counter() - start,
            }
            for callback in callbacks:
                callback.on_epoch_end(state)
            state.history.append(state.record)
            bar.set_postfix(loss=f"{train_loss:.3f}", val_loss=f"{val_loss:.3f}")
            if state.stop:
                break
    except KeyboardInterrupt:
        state.interrupted = True
        warnings.warn(f"training interrupted at epoch {state.epoch + 1}; keeping the best weights so far", stacklevel=3)
    finally:
        bar.close()
    state.model.eval()
    for callback in callbacks:
        callback.on_train_end(state)
    return state


def nan_pair():
    return math.nan, math.nan


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch for a block, restoring the caller's random state afterwards."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def seed_from(random_state):
    """An integer seed from an sklearn-style ``random_state``."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
