"""End-to-end fine-tuning of a pretrained CNN as a scikit-learn classifier."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import ddp
from .backbones import load_backbone, replace_classifier, trainable_blocks
from .callbacks import (
    BatchNormPolicy,
    EarlyStopping,
    LRSchedule,
    LRScheduler,
    PrintLog,
    StopAfter,
    TerminateOnNaN,
    TrainState,
    check_callbacks,
    fresh_copies,
)
from .devices import resolve_device, use_amp
from .images import Preprocess, as_image_set, readable_part, rows_for_readable, warn_skipped
from .oom import BatchBackOff, retry_halving
from .parameters import check_count, check_shared
from .persistence import CPUWeightsPickle
from .predictions import labels_from_proba
from .strategies import STRATEGIES, make_strategy
from .training import (
    OPTIMIZERS,
    evaluate,
    fit_loop,
    make_optimizer,
    nan_pair,
    predict_proba,
    run_epoch,
    seed_from,
    seeded,
)

__all__ = ["AUGMENTS", "FineTuneClassifier"]

AUGMENTS = (True, False, "flip", "light", "strong")


@dataclass
class _Run:
    """What one training run is built from; the model is ``backbone.module``, on the device."""

    backbone: object
    head: nn.Module
    preprocess: Preprocess
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    amp: bool
    scaler: object
    generator: torch.Generator


class FineTuneClassifier(CPUWeightsPickle, ClassifierMixin, BaseEstimator):
    """Fine-tune a pretrained CNN on images, with the scikit-learn classifier API.

    The backbone's classification layer is replaced by a new linear layer with
    one output per class, and the network trains end to end by ``strategy``.

    Parameters
    ----------
    backbone, weights : see :func:`hybridtl.backbones.load_backbone`
    strategy : {"head", "full", "gradual", "two_stage", "scratch"}, default="full"
        ``head``: backbone frozen, the new layer trains at ``lr``.
        ``full``: every layer trains, the new layer at ``lr * head_lr_mult``.
        ``gradual``: epoch 1 trains the new layer only, each later epoch
        unfreezes one more block from the top down (new layer at
        ``lr * head_lr_mult``).
        ``two_stage``: ``head_epochs`` epochs with the backbone frozen, then
        every layer at ``lr * finetune_lr_mult``, the schedule restarting.
        ``scratch``: random initial weights, every layer at ``lr``.
    lr : float, default=3e-4
    head_lr_mult : float, default=10.0
    layer_decay : float in (0, 1] or None, default=None
        Discriminative learning rates (ULMFiT, fastai): the top block of the
        backbone trains at the strategy's backbone rate, each block below at
        ``layer_decay`` times the rate of the block above. ``None`` is 1.
    optimizer : {"adam", "adamax", "adamw", "sgd"}, default="adam"
        SGD uses momentum 0.9.
    weight_decay : float, default=0.0
    epochs : int, default=20
    batch_size : int, default=32
    patience : int, default=10
        Early stopping: epochs without a lower validation loss before stopping;
        the best weights are restored.
    validation_fraction : float or None, default=0.2
        Stratified share of the training data held out for early stopping;
        ``None`` trains on everything and keeps the last weights.
    refit_full : bool, default=False
        After early stopping on the held-out part has chosen the epoch, train
        again from the start on all of ``X`` with the same schedule, up to that
        epoch (``refit_epochs_``). Costs a second training run; ``history_``
        stays that of the run that chose the epoch.
    lr_schedule : {"cosine", "step", "none"} or LRScheduler, default="cosine"
        Per-epoch factor on the learning rates, restarting at each stage; or
        any ``torch.optim.lr_scheduler`` wrapped in
        :class:`~hybridtl.callbacks.LRScheduler`.
    warmup_epochs : float, default=0
        Linear warm-up of the learning rates, batch by batch, over the first
        ``warmup_epochs`` epochs of each stage (built-in schedules only).
    augment : {True, False, "flip", "light", "strong"}, default=True
        Augmentation of training images: a horizontal flip after the evaluation
        crop (``"flip"``), or after a random resized crop of 70-100 % (``"light"``)
        or 35-100 % (``"strong"``) of the area. ``True`` is ``"flip"``: the only
        strength whose ``full`` fine-tuning beat a plain PyTorch loop on all of
        digits32, digits64 and photos64 (``benchmarks/finetune_defaults.py``, 3
        seeds); random crops cut digits apart (``"strong"`` lost on digits64)
        but help photos (0.960 vs 0.938), so pass ``"strong"`` for photos.
    tta : bool, default=False
        Test-time augmentation: ``predict_proba`` (and validation) average the
        probabilities of each image and its mirror image; twice the cost.
    image_size : int or None, default=None
        Input side; ``None`` uses the backbone's.
    class_weight : None, "balanced" or dict, default=None
    label_smoothing : float, default=0.0
    head_epochs : int, default=3
    finetune_lr_mult : float, default=0.1
    bn : {"frozen", "trainable", "train"}, default="frozen"
        Which BatchNorm layers update their running statistics while training:
        none (every one keeps its pretrained statistics, the Keras rule for
        fine-tuning), those of the blocks that train, or all. ``strategy="scratch"``
        has no pretrained statistics and always trains them. Measured in
        ``benchmarks/finetune_bn.py`` (2 tasks, 3 seeds): ``"frozen"`` is as good
        or better for every strategy at the default lr=3e-4, and lifts
        two_stage and gradual most; with every layer training at lr=1e-3
        (``strategy="full"``) it can fail to train, so keep lr near 3e-4 there.
    device : {"auto", "cpu", "cuda"}, default="auto"
    amp : {"auto", True, False}, default="auto"
    num_workers : int, default=0
    random_state : int, RandomState or None, default=None
        Same value, same history on the CPU.
    progress : bool, default=True
    verbose : int, default=0
        ``1`` prints one line per epoch (:class:`~hybridtl.callbacks.PrintLog`).
    callbacks : list of Callback or None, default=None
        Extra :class:`~hybridtl.callbacks.Callback` instances (e.g.
        :class:`~hybridtl.callbacks.Checkpoint`), run after the built-in ones
        on fresh copies at every ``fit``.
    warm_start : bool, default=False
        When already fitted, ``fit`` continues from the fitted weights (same
        classes required) and appends to ``history_``, instead of starting
        again from the pretrained ones.
    on_error : {"raise", "skip"}, default="raise"
        What an unreadable image file does: raise a ``ValueError`` naming it,
        or be left out of training (``fit``) / get NaN probabilities and the
        prediction ``None`` (``predict_proba`` / ``predict``), with one
        ``SkippedImagesWarning`` naming the files.

    Attributes
    ----------
    classes_ : ndarray
    model_ : torch.nn.Module
    config_ : BackboneConfig
    history_ : pandas.DataFrame
        One row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr
        (the new layer's), backbone_lr, n_trainable_params, seconds.
    best_epoch_ : int or None
        Epoch (1-based) whose weights were kept, when validating.
    refit_epochs_ : int or None
        Epochs of the ``refit_full`` run on all the data, else None.
    interrupted_ : bool
        Whether Ctrl-C ended training early.

    Notes
    -----
    Pickling (joblib) stores the weights on the CPU inside the file: a model
    trained on a GPU loads and predicts the same on a CPU-only machine.

    Examples
    --------
    >>> from hybridtl.datasets import load_digits_images
    >>> X, y = load_digits_images()
    >>> clf = FineTuneClassifier(strategy="head", epochs=1, image_size=32, device="cpu",
    ...                          progress=False, random_state=0).fit(X[:60], y[:60])
    >>> clf.predict(X[:3]).shape, clf.history_.shape[0]
    ((3,), 1)
    """

    def __init__(
        self,
        backbone="efficientnet_lite0",
        weights="imagenet",
        strategy="full",
        lr=3e-4,
        head_lr_mult=10.0,
        layer_decay=None,
        optimizer="adam",
        weight_decay=0.0,
        epochs=20,
        batch_size=32,
        patience=10,
        validation_fraction=0.2,
        refit_full=False,
        lr_schedule="cosine",
        warmup_epochs=0,
        augment=True,
        tta=False,
        image_size=None,
        class_weight=None,
        label_smoothing=0.0,
        head_epochs=3,
        finetune_lr_mult=0.1,
        bn="frozen",
        device="auto",
        amp="auto",
        num_workers=0,
        random_state=None,
        progress=True,
        verbose=0,
        callbacks=None,
        warm_start=False,
        on_error="raise",
    ):
        self.backbone = backbone
        self.weights = weights
        self.strategy = strategy
        self.lr = lr
        self.head_lr_mult = head_lr_mult
        self.layer_decay = layer_decay
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.refit_full = refit_full
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.augment = augment
        self.tta = tta
        self.image_size = image_size
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        self.head_epochs = head_epochs
        self.finetune_lr_mult = finetune_lr_mult
        self.bn = bn
        self.device = device
        self.amp = amp
        self.num_workers = num_workers
        self.random_state = random_state
        self.progress = progress
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.on_error = on_error

    # -- validation ---------------------------------------------------------

    def _check_params(self):
        checks = [
            (self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (_positive_number(self.lr), "lr must be a positive number"),
            (_positive_number(self.head_lr_mult), "head_lr_mult must be a positive number"),
            (_positive_number(self.finetune_lr_mult), "finetune_lr_mult must be a positive number"),
            (0 <= self.label_smoothing < 1, "label_smoothing must lie in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (
                self.validation_fraction is None or 0 < self.validation_fraction < 1,
                "validation_fraction must be None or in (0, 1)",
            ),
            (
                self.layer_decay is None or (_positive_number(self.layer_decay) and self.layer_decay <= 1),
                f"layer_decay must be None or a number in (0, 1], got {self.layer_decay!r}",
            ),
            (
                not (isinstance(self.lr_schedule, LRScheduler) and self.warmup_epochs),
                "warmup_epochs works with the built-in lr_schedule names; put the warm-up into the LRScheduler "
                "(e.g. torch.optim.lr_scheduler.SequentialLR with LinearLR)",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        for name, minimum in (("epochs", 1), ("patience", 1), ("head_epochs", 0)):
            check_count(name, getattr(self, name), minimum)
        if not any(self.augment is a or (isinstance(self.augment, str) and self.augment == a) for a in AUGMENTS):
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}")
        for name in ("refit_full", "tta", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_count("verbose", self.verbose, 0)
        if not isinstance(self.lr_schedule, LRScheduler):
            LRSchedule(self.lr_schedule, self.warmup_epochs)
        BatchNormPolicy(self.bn)
        check_callbacks(self.callbacks)
        check_shared(self, allow_auto_batch=False)

    def _check_targets(self, y):
        """Labels -> (classes, integer targets); checked before the images, which cost more to check."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be one label per image (1-d), got shape {y.shape}")
        if len(y) == 0:
            raise ValueError("y is empty: fit needs images and labels of at least 2 classes")
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(f"y has a single class ({encoder.classes_[0]!r}); a classifier needs at least 2")
        return encoder.classes_, encoder.transform(y)

    def _inputs(self, X, y):
        """Validated (classes, targets, images, seed, device) for ``fit`` and ``lr_find``."""
        self._check_params()
        classes, targets = self._check_targets(y)
        images = as_image_set(X, self.on_error)
        if len(targets) != len(images):
            raise ValueError(f"X has {len(images)} images but y has {len(targets)} labels; they must match")
        good, bad = readable_part(images, self.on_error, int(self.num_workers))
        if bad:
            warn_skipped(bad, len(images), "training images")
            images, targets = images.subset(good), targets[good]
            classes, targets = self._check_targets(classes[targets])
        return classes, targets, images, seed_from(self.random_state), resolve_device(self.device)

    def _split(self, targets, seed):
        index = np.arange(len(targets))
        if self.validation_fraction is None:
            return index, index[:0]
        try:
            return train_test_split(index, test_size=self.validation_fraction, stratify=targets, random_state=seed)
        except ValueError as exc:
            raise ValueError(
                f"cannot hold out a stratified validation_fraction={self.validation_fraction} ({exc}); "
                "give every class more images, raise validation_fraction, or pass validation_fraction=None"
            ) from None

    # -- building -----------------------------------------------------------

    def _build(self, n_classes, weights):
        backbone = load_backbone(self.backbone, weights)
        head = replace_classifier(backbone, n_classes)
        return backbone, head

    def _loss(self, targets, classes):
        """Cross-entropy with ``class_weight`` (None, "balanced" or a dict keyed by the original labels)."""
        if isinstance(self.class_weight, dict):
            unknown = set(self.class_weight) - set(classes.tolist())
            if unknown:
                raise ValueError(f"class_weight names labels {sorted(map(str, unknown))} that are not in y")
            values = [float(self.class_weight.get(label, 1.0)) for label in classes.tolist()]
        elif self.class_weight == "balanced":
            values = compute_class_weight("balanced", classes=np.arange(len(classes)), y=targets)
        elif self.class_weight is None:
            values = None
        else:
            raise ValueError(f"class_weight must be None, 'balanced' or a dict of label -> weight, got {self.class_weight!r}")
        weight = None if values is None else torch.as_tensor(values, dtype=torch.float32)
        return nn.CrossEntropyLoss(weight=weight, label_smoothing=self.label_smoothing)

    # -- sklearn API --------------------------------------------------------

    def fit(self, X, y, validation_data=None):
        """Fine-tune on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : images
        y : array-like of shape (n_samples,)
        validation_data : tuple (X_val, y_val), optional
            A fixed validation set for early stopping, used instead of holding
            out ``validation_fraction`` of ``X``.

        Returns
        -------
        self
        """
        classes, targets, images, seed, device = self._inputs(X, y)
        start, earlier = self._warm_state(classes)
        if self.refit_full and validation_data is not None:
            raise ValueError("refit_full=True refits on the part held out by validation_fraction; with "
                             "validation_data, X is already all the training data: pass refit_full=False")
        group = ddp.current(device)  # a torch.distributed process group (torchrun), or None
        if group is not None:
            seed = group.broadcast_int(seed)  # one split, one initial head on every rank
        self.classes_ = classes
        if validation_data is not None:
            train_set, train_targets = images, targets
            val_set, val_targets = self._validation_set(validation_data)
        else:
            train_idx, val_idx = self._split(targets, seed)
            train_set, train_targets = images.subset(train_idx), targets[train_idx]
            val_set, val_targets = images.subset(val_idx), targets[val_idx]
        with seeded(seed, device):
            run = self._new_run(classes, train_targets, seed, device, start)
            state = self._train(run, train_set, train_targets, val_set, val_targets, device, group, seed)
        self.history_ = _continued(earlier, pd.DataFrame(state.history))
        self.best_epoch_ = None if state.best_epoch is None else state.best_epoch + 1
        self.interrupted_ = state.interrupted
        self.refit_epochs_ = None
        if self.refit_full and len(val_targets) and not state.interrupted:
            self._refit(classes, targets, images, seed, device, group, start, state)
        return self

    def _refit(self, classes, targets, images, seed, device, group, start, chosen):
        """Train again on all the data with the same schedule, stopping at the epoch early stopping chose."""
        epochs = chosen.best_epoch + 1 if chosen.best_epoch is not None else len(chosen.history)
        with seeded(seed, device):
            run = self._new_run(classes, targets, seed, device, start)
            none = np.arange(0)
            state = self._train(run, images, targets, images.subset(none), targets[none], device, group, seed,
                                extra=[StopAfter(epochs)])
        self.refit_epochs_ = len(state.history)
        self.interrupted_ = state.interrupted

    def _warm_state(self, classes):
        """(weights to start from, earlier history) for ``warm_start``; (None, None) otherwise."""
        if not self.warm_start or not hasattr(self, "model_"):
            return None, None
        if len(classes) != len(self.classes_) or np.any(classes != self.classes_):
            raise ValueError(f"warm_start=True continues a model fitted on classes {list(self.classes_)}, but y has "
                             f"{list(classes)}; pass warm_start=False to start again")
        return {k: v.detach().cpu().clone() for k, v in self.model_.state_dict().items()}, self.history_

    def _validation_set(self, validation_data):
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise TypeError("validation_data must be a pair (X_val, y_val)") from None
        images = as_image_set(X_val)
        y_val = np.asarray(y_val)
        if len(y_val) != len(images):
            raise ValueError(f"validation_data has {len(images)} images but {len(y_val)} labels; they must match")
        unknown = set(np.unique(y_val)) - set(self.classes_)
        if unknown:
            raise ValueError(f"validation labels {sorted(unknown)} are not among the training classes {list(self.classes_)}")
        return images, np.searchsorted(self.classes_, y_val)

    def _callbacks(self):
        """Strategy, schedule, BatchNorm freezing, early stopping, then the user's, in the order they must run."""
        strategy = make_strategy(
            self.strategy, self.lr, int(self.epochs), self.head_lr_mult, int(self.head_epochs), self.finetune_lr_mult
        )
        if isinstance(self.lr_schedule, LRScheduler):
            schedule = fresh_copies([self.lr_schedule])[0]
        else:
            schedule = LRSchedule(self.lr_schedule, self.warmup_epochs)
        built_in = [strategy, schedule, BatchNormPolicy(self._bn_policy()), EarlyStopping(int(self.patience)),
                    TerminateOnNaN()]
        return built_in + fresh_copies(self.callbacks) + ([PrintLog()] if self.verbose else [])

    def _augmentation(self):
        """``augment`` as a strength for the image sets, or None."""
        if self.augment is True:
            return "flip"
        return self.augment or None

    def _bn_policy(self):
        """``bn``, except for training from scratch, where there are no pretrained statistics to keep."""
        return "train" if self.strategy == "scratch" else self.bn

    def _new_run(self, classes, targets, seed, device, start=None):
        """A freshly built network, optimizer, loss and RNG for one training run (fit or lr_find).

        ``start``: a state dict to begin from (``warm_start``) instead of the pretrained weights.
        """
        weights = None if self.strategy == "scratch" or start is not None else self.weights
        backbone, head = self._build(len(classes), weights)
        if start is not None:
            try:
                backbone.module.load_state_dict(start)
            except RuntimeError:
                raise ValueError(f"warm_start=True: the fitted weights do not fit backbone={self.backbone!r}; "
                                 "pass warm_start=False to start again") from None
        model = backbone.module.to(device, memory_format=torch.channels_last)
        amp = use_amp(self.amp, device)
        return _Run(
            backbone=backbone,
            head=head,
            preprocess=Preprocess.from_config(backbone.config, self.image_size),
            optimizer=make_optimizer(self.optimizer, trainable_blocks(backbone), head, self.weight_decay,
                                     self.layer_decay),
            loss_fn=self._loss(targets, classes).to(device),
            amp=amp,
            scaler=torch.amp.GradScaler(device.type, enabled=amp),
            generator=torch.Generator().manual_seed(seed),
        )

    def _train(self, run, train_set, train_targets, val_set, val_targets, device, group=None, seed=0, extra=()):
        self.config_ = run.backbone.config
        self.preprocess_ = run.preprocess
        self.model_ = model = run.backbone.module
        workers = int(self.num_workers)
        backoff = BatchBackOff(int(self.batch_size), "fit")  # kept across epochs
        state = TrainState(model, run.head, trainable_blocks(run.backbone), run.optimizer)
        if group is not None:
            run.generator.manual_seed(seed + group.rank)  # each rank its own augmentations
        callbacks = self._callbacks() + list(extra) + ([] if group is None else [ddp.AgreeOnStop(group)])
        on_batch = _batch_hooks(state, callbacks)

        def train_at(size):
            images, targets, net = train_set, train_targets, model
            if group is not None:  # this rank's share of the epoch, and the model in DDP
                mine = group.shard(len(train_targets), state.epoch, seed)
                images, targets, net = train_set.subset(mine), train_targets[mine], group.wrapped(model)
            batches = images.train_batches(run.preprocess, targets, size, device, run.generator,
                                           self._augmentation(), workers)
            state.n_batches = math.ceil(len(targets) / size)
            result = run_epoch(net, batches, run.optimizer, run.loss_fn, device, run.amp, run.scaler, on_batch)
            if group is None:
                return result
            group.sync_buffers(model)
            return group.weighted_means(result, len(targets))

        def validate():
            if not len(val_targets):
                return nan_pair()
            images, targets = val_set, val_targets
            if group is not None:
                mine = group.split(len(val_targets))
                if not len(mine):
                    return group.weighted_means(nan_pair(), 0)
                images, targets = val_set.subset(mine), val_targets[mine]
            batches = images.batches(run.preprocess, backoff.batch_size, device, workers)
            result = evaluate(model, batches, targets, device, run.amp, bool(self.tta))
            return result if group is None else group.weighted_means(result, len(targets))

        return fit_loop(state, callbacks, int(self.epochs), lambda: backoff.call(train_at), validate,
                        self.progress and ddp.is_main_process())

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "model_")
        self._check_params()
        images = as_image_set(X, self.on_error)
        device = resolve_device(self.device)
        model = self.model_.to(device, memory_format=torch.channels_last)

        def probabilities(readable):
            def predict_at(size):
                batches = readable.batches(self.preprocess_, size, device, int(self.num_workers))
                return predict_proba(model, batches, device, use_amp(self.amp, device), bool(self.tta))

            return retry_halving(predict_at, int(self.batch_size), "predict").double().numpy()

        return rows_for_readable(images, self.on_error, int(self.num_workers), len(self.classes_), probabilities,
                                 np.float64)

    def predict(self, X):
        """Predicted class labels; ``None`` for images skipped with ``on_error="skip"``."""
        return labels_from_proba(self.predict_proba(X), self.classes_)

    def plot_history(self, path):
        """Save the loss and accuracy curves per epoch as a PNG at ``path``."""
        from .plots import plot_history

        check_is_fitted(self, "history_")
        return plot_history(self.history_, path, title=f"{self.backbone} / {self.strategy}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # images; 2-D tables are refused with a clear ValueError
        return tags

    # -- learning-rate range test --------------------------------------------

    def lr_find(self, X, y, start_lr=1e-7, end_lr=1.0, num_iter=100, smoothing=0.98, plot=None):
        """The learning-rate range test (as fastai's ``lr_find``).

        Trains for up to ``num_iter`` batches with the learning rate growing
        exponentially from ``start_lr`` to ``end_lr`` (the strategy's first
        epoch decides which layers train and the new layer's multiplier),
        recording an exponentially smoothed loss, and stops once the loss
        diverges. The estimator is left as it was: nothing fitted is changed.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``lr`` and ``loss`` (smoothed).
        suggested_lr : float
            Where the smoothed loss falls fastest.
        """
        from .lr_finder import lr_range_test

        classes, targets, images, seed, device = self._inputs(X, y)
        with seeded(seed, device):
            run = self._new_run(classes, targets, seed, device)
            frame, suggested = lr_range_test(self, run, images, targets, device, start_lr, end_lr, num_iter, smoothing)
        if plot is not None:
            from .plots import plot_lr_find

            plot_lr_find(frame, suggested, plot)
        return frame, suggested

    def _empty_model(self):
        """The same network and new layer with random weights, for unpickling."""
        backbone, _ = self._build(len(self.classes_), None)
        return backbone.module


def _batch_hooks(state, callbacks):
    """``run_epoch``'s (begin, end) pair that runs the callbacks' batch hooks."""

    def begin(i):
        state.batch = i
        for callback in callbacks:
            callback.on_batch_begin(state)

    def end(i, loss):
        state.batch_loss = loss
        for callback in callbacks:
            callback.on_batch_end(state)

    return begin, end


def _continued(earlier, history):
    """``history`` after an ``earlier`` one (``warm_start``), its epochs numbered on."""
    if earlier is None or not len(earlier):
        return history
    history = history.assign(epoch=history["epoch"] + int(earlier["epoch"].iloc[-1]))
    return pd.concat([earlier, history], ignore_index=True)


def _positive_number(value):
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value > 0 and math.isfinite(value)

