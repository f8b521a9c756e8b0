"""The steps the trainer takes: one optimisation step, one epoch over batches, one pass of evaluation,
and the seeding that makes a run repeatable. Freezing, schedules and early stopping live in callbacks."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from ..devices import autocast

__all__ = ["evaluate", "nan_pair", "predict_proba", "run_epoch", "seed_from", "seeded", "train_step"]


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


def nan_pair():
    """(loss, accuracy) of a pass over no images."""
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
