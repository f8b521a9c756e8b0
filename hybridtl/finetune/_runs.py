"""What one training run is built from, read from the estimator's parameters: the network with its new
layer, the optimizer, the loss, and the callbacks in the order they must run."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from torch import nn

from ..backbones import load_backbone, replace_classifier, trainable_blocks
from ..callbacks import BatchNormPolicy, EarlyStopping, LRSchedule, LRScheduler, PrintLog, TerminateOnNaN, fresh_copies
from ..devices import use_amp
from ..images import Preprocess
from ._cached import cached_epochs
from ._optimizers import make_optimizer
from ._strategies import make_strategy, with_strategy_defaults
from ._trainer import TrainingRun

__all__ = ["augmentation", "bn_policy", "built_in_callbacks", "network", "new_run", "strategy", "user_callbacks"]


def network(backbone, n_classes, weights):
    """(the backbone with a new classification layer of ``n_classes`` outputs, that layer)."""
    loaded = load_backbone(backbone, weights)
    return loaded, replace_classifier(loaded, n_classes)


def _loss(params, targets, classes):
    """Cross-entropy with ``class_weight`` (None, "balanced" or a dict keyed by the original labels)."""
    class_weight = params["class_weight"]
    if isinstance(class_weight, dict):
        unknown = set(class_weight) - set(classes.tolist())
        if unknown:
            raise ValueError(f"class_weight names labels {sorted(map(str, unknown))} that are not in y")
        values = [float(class_weight.get(label, 1.0)) for label in classes.tolist()]
    elif class_weight == "balanced":
        values = compute_class_weight("balanced", classes=np.arange(len(classes)), y=targets)
    else:
        values = None
    weight = None if values is None else torch.as_tensor(values, dtype=torch.float32)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=params["label_smoothing"])


def new_run(params, classes, targets, seed, device, start=None):
    """A freshly built network, optimizer, loss and RNG for one training run (fit or lr_find).

    ``params`` are the estimator's (``get_params(deep=False)``); ``start``, a state dict to begin
    from (``warm_start``) instead of the pretrained weights.
    """
    weights = None if params["strategy"] == "scratch" or start is not None else params["weights"]
    backbone, head = network(params["backbone"], len(classes), weights)
    if start is not None:
        try:
            backbone.module.load_state_dict(start)
        except RuntimeError:
            raise ValueError(f"warm_start=True: the fitted weights do not fit backbone={params['backbone']!r}; "
                             "pass warm_start=False to start again") from None
    backbone.module.to(device, memory_format=torch.channels_last)
    amp = use_amp(params["amp"], device)
    return TrainingRun(
        backbone=backbone,
        head=head,
        preprocess=Preprocess.from_config(backbone.config, params["image_size"], params["decode"]),
        optimizer=make_optimizer(params["optimizer"], trainable_blocks(backbone), head, params["weight_decay"],
                                 params["layer_decay"]),
        loss_fn=_loss(params, targets, classes).to(device),
        amp=amp,
        scaler=torch.amp.GradScaler(device.type, enabled=amp),
        generator=torch.Generator().manual_seed(seed),
    )


def strategy(params, lr=None):
    """The strategy callback, at ``lr`` (default: the estimator's)."""
    return make_strategy(params["strategy"], params["lr"] if lr is None else lr, int(params["epochs"]),
                         params["head_lr_mult"], int(params["head_epochs"]), params["finetune_lr_mult"])


def epoch_shares(params, epochs, n_blocks):
    """What each epoch of a fit with ``params`` trains, for pricing it: None for an epoch of the new layer on
    features computed once, else the share of the backbone's ``n_blocks`` blocks that train (0 to 1).

    Examples
    --------
    >>> from hybridtl.finetune import FineTuneClassifier
    >>> params = FineTuneClassifier(strategy="two_stage", head_epochs=2).get_params()
    >>> epoch_shares(params, 4, n_blocks=8)
    [None, None, 1.0, 1.0]
    >>> epoch_shares(dict(params, strategy="gradual"), 3, n_blocks=8)
    [0.0, 0.125, 0.25]
    """
    params = with_strategy_defaults(dict(params, epochs=epochs))
    plan = strategy(params)
    cached = cached_epochs(params, plan, n_blocks, augmentation(params["augment"]), distributed=False)
    return [None if e < cached else plan.plan(e, n_blocks)[0] / n_blocks for e in range(epochs)]


def bn_policy(params):
    """``bn``, except for training from scratch, where there are no pretrained statistics to keep."""
    return BatchNormPolicy("train" if params["strategy"] == "scratch" else params["bn"])


def augmentation(augment):
    """``augment`` as a strength for the image sets, or None."""
    if augment is True:
        return "flip"
    return augment or None


def built_in_callbacks(params):
    """Strategy, schedule, BatchNorm freezing, early stopping and the non-finite-loss guard, in that order."""
    if isinstance(params["lr_schedule"], LRScheduler):
        schedule = fresh_copies([params["lr_schedule"]])[0]
    else:
        schedule = LRSchedule(params["lr_schedule"], params["warmup_epochs"])
    return [strategy(params), schedule, bn_policy(params), EarlyStopping(int(params["patience"])), TerminateOnNaN()]


def user_callbacks(params):
    """Fresh copies of the user's callbacks (so that ``fit`` leaves the parameters unchanged), then PrintLog."""
    return fresh_copies(params["callbacks"]) + ([PrintLog()] if params["verbose"] else [])
