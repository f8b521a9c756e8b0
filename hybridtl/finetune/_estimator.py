"""End-to-end fine-tuning of a pretrained CNN as a scikit-learn classifier.

The estimator holds the parameters, their validation and the scikit-learn API;
the loop lives in :class:`~hybridtl.finetune.Trainer`, which it builds for each
training run, and every behaviour of the loop is a callback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ..backbones import backbone_config, trainable_blocks
from ..callbacks import (
    CallbackList,
    LRScheduler,
    StopAfter,
)
from ..core import (
    AUGMENTS,
    BN_POLICIES,
    IMAGE_ESTIMATOR_CONSTRAINTS,
    LR_SCHEDULES,
    OPTIMIZERS,
    STRATEGIES,
    Boolean,
    CPUWeightsPickle,
    InstanceOf,
    Interval,
    InvalidParameterError,
    Options,
    encode_labels,
    labels_from_proba,
    validate_params,
)
from ..devices import resolve_device, retry_halving, use_amp
from ..images import (
    ImageList,
    Preprocess,
    as_image_set,
    decoded_once,
    decoded_readable_part,
    probe_side,
    readable_part,
    rows_for_readable,
    warn_skipped,
)
from ._cached import CachedEpochs, bottleneck_features, cached_epochs
from ._distributed import DistributedTrainer, current_process_group, is_main_process
from ._lr_finder import cycle, lr_range_test
from ._plots import plot_history, plot_lr_find
from ._runs import augmentation, bn_policy, built_in_callbacks, network, new_run, strategy, user_callbacks
from ._steps import predict_proba, seed_from, seeded
from ._strategies import with_strategy_defaults
from ._trainer import Trainer

__all__ = ["FineTuneClassifier"]

_POSITIVE = Interval("number", 0, None, closed="neither")


class FineTuneClassifier(CPUWeightsPickle, ClassifierMixin, BaseEstimator):
    """Fine-tune a pretrained CNN on images, with the scikit-learn classifier API.

    The backbone's classification layer is replaced by a new linear layer with
    one output per class, and the network trains end to end by ``strategy``.

    Parameters
    ----------
    backbone : str, default="efficientnet_lite0"
        Registry name: see :func:`hybridtl.backbones.load_backbone`.
    weights : {"imagenet", None} or path, default="imagenet"
        ``"imagenet"`` (embedded, cached, or downloaded on first use), a weights file or a folder
        written by ``hybridtl download --to``, or None for random weights.
    strategy : {"head", "full", "gradual", "two_stage", "scratch"}, default="full"
        ``head``: backbone frozen, the new layer trains at ``lr``.
        ``full``: every layer trains, the new layer at ``lr * head_lr_mult``.
        ``gradual``: epoch 1 trains the new layer only, each later epoch
        unfreezes one more block from the top down (new layer at
        ``lr * head_lr_mult``).
        ``two_stage``: ``head_epochs`` epochs with the backbone frozen, then
        every layer at ``lr * finetune_lr_mult``, the schedule restarting.
        ``scratch``: random initial weights, every layer at ``lr``.
    lr : float or None, default=None
        None: the strategy's own rate (``head`` 3e-3, every other strategy 3e-4; the table
        :data:`hybridtl.finetune.STRATEGY_DEFAULTS`).
    head_lr_mult : float, default=10.0
    layer_decay : float in (0, 1] or None, default=None
        Discriminative learning rates (ULMFiT, fastai): the top block of the
        backbone trains at the strategy's backbone rate, each block below at
        ``layer_decay`` times the rate of the block above. ``None`` is 1.
    optimizer : {"adam", "adamax", "adamw", "sgd"}, default="adam"
        SGD uses momentum 0.9.
    weight_decay : float, default=0.0
    epochs : int or None, default=None
        None: the strategy's own (``head`` 30, every other strategy 20; early stopping may end
        sooner).
    batch_size : int, default=32
    patience : int, default=10
        Early stopping: epochs without a lower validation loss before stopping;
        the best weights are restored.
    validation_fraction : float or None, default=0.2
        Stratified share of the training data held out for early stopping;
        ``None`` trains on everything and keeps the last weights.
    refit_full : bool or None, default=None
        After early stopping on the held-out part has chosen the epoch, train
        again from the start on all of ``X`` with the same schedule, up to that
        epoch (``refit_epochs_``). Costs a second training run; ``history_``
        stays that of the run that chose the epoch. None: the strategy's own
        (True for ``head``, whose second run is cheap; False otherwise; never
        with ``validation_data``).
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
    num_workers : int or "auto", default="auto"
        As for :class:`hybridtl.features.CNNFeatureExtractor` (threads for
        ``"auto"``), except that training batches, whose random crops must
        come out the same run to run, use processes or the caller alone.
    decode : {"fast", "exact"}, default="fast"
        How image files are decoded (see :class:`hybridtl.features.CNNFeatureExtractor`).
        Either way ``fit`` decodes each file once, keeps it at the size the
        random crops draw from (``image_size / crop_pct`` on the shorter side),
        in memory up to 1 GiB per process and on disk beyond, and every epoch
        (and every later fit on the same files: a grid search, the auto
        search) reads that copy.
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
    weights_source_ : str
        The file the starting weights came from, or ``"random"``.
    weights_sha256_ : str
        The sha256 of that file ("" for random weights).
    history_ : pandas.DataFrame
        One row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr
        (the new layer's), backbone_lr, n_trainable_params, seconds.
    best_epoch_ : int or None
        Epoch (1-based) whose weights were kept, when validating.
    cached_features_ : bool
        Whether the last training run computed the new layer's input once and trained it on those
        features in the epochs where the backbone stays frozen (every epoch of ``strategy="head"``,
        the first ``head_epochs`` of ``two_stage``; with frozen BatchNorm, flips or no augmentation,
        no ``tta``, and two such epochs or more): see :mod:`hybridtl.finetune._cached`.
    n_blocks_ : int
        The backbone's blocks that strategies unfreeze (:func:`hybridtl.backbones.trainable_blocks`):
        ``gradual`` trains one more of them per epoch.
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
    >>> from hybridtl.images import load_digits_images
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
        lr=None,
        head_lr_mult=10.0,
        layer_decay=None,
        optimizer="adam",
        weight_decay=0.0,
        epochs=None,
        batch_size=32,
        patience=10,
        validation_fraction=0.2,
        refit_full=None,
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
        num_workers="auto",
        random_state=None,
        progress=True,
        verbose=0,
        callbacks=None,
        warm_start=False,
        on_error="raise",
        decode="fast",
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
        self.decode = decode

    _parameter_constraints = {
        **IMAGE_ESTIMATOR_CONSTRAINTS,
        "strategy": [Options(STRATEGIES)],
        "lr": [_POSITIVE, None],
        "head_lr_mult": [_POSITIVE],
        "layer_decay": [None, Interval("number", 0, 1, closed="right")],
        "optimizer": [Options(OPTIMIZERS)],
        "weight_decay": [Interval("number", 0, None)],
        "epochs": [Interval("integer", 1, None), None],
        "batch_size": [Interval("integer", 1, None)],
        "patience": [Interval("integer", 1, None)],
        "validation_fraction": [None, Interval("number", 0, 1, closed="neither")],
        "refit_full": [Boolean(), None],
        "lr_schedule": [Options(LR_SCHEDULES), InstanceOf(LRScheduler, "an LRScheduler")],
        "warmup_epochs": [Interval("number", 0, None)],
        "augment": [Boolean(), Options(AUGMENTS)],
        "tta": [Boolean()],
        "class_weight": [None, Options(("balanced",)), InstanceOf(dict, "a dict of label -> weight")],
        "label_smoothing": [Interval("number", 0, 1, closed="left")],
        "head_epochs": [Interval("integer", 0, None)],
        "finetune_lr_mult": [_POSITIVE],
        "bn": [Options(BN_POLICIES)],
        "random_state": [None, Interval("integer", 0, None), InstanceOf(np.random.RandomState, "a RandomState")],
        "verbose": [Interval("integer", 0, None)],
        "callbacks": [None, CallbackList()],
        "warm_start": [Boolean()],
    }

    # -- validation ---------------------------------------------------------

    def check_params(self):
        """Check every parameter against :attr:`_parameter_constraints`, and the pairs that must agree.

        ``fit``, ``predict_proba`` and the command line call it; it changes nothing.
        """
        validate_params(self.get_params(deep=False), self._parameter_constraints)
        if isinstance(self.lr_schedule, LRScheduler) and self.warmup_epochs:
            raise InvalidParameterError(
                '"warmup_epochs" works with the built-in lr_schedule names; put the warm-up into the LRScheduler '
                "(e.g. torch.optim.lr_scheduler.SequentialLR with LinearLR)")
        resolve_device(self.device)

    def _inputs(self, X, y):
        """Validated (classes, targets, images, seed, device) for ``fit`` and ``lr_find``."""
        self.check_params()
        classes, targets = encode_labels(y, type(self).__name__)
        images = as_image_set(X, self.on_error)
        if len(targets) != len(images):
            raise ValueError(f"X has {len(images)} images but y has {len(targets)} labels; they must match")
        if self.on_error == "skip" and isinstance(images, ImageList) and images.n_files():
            # the decoding that fit keeps (decoded_once) is the probe too: no file is decoded twice
            good, bad, images = decoded_readable_part(images, planned_preprocess(self), self.num_workers, self.progress)
        else:
            good, bad = readable_part(images, self.on_error, self.num_workers, probe_side(self.decode))
        if bad:
            warn_skipped(bad, len(images), "training images")
            images, targets = images.subset(good), targets[good]
            classes, targets = encode_labels(classes[targets], type(self).__name__)
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

    def _params(self):
        """The parameters, ``lr``, ``epochs`` and ``refit_full`` resolved to the strategy's own where None."""
        return with_strategy_defaults(self.get_params(deep=False))

    def _new_run(self, classes, targets, seed, device, start=None):
        """A freshly built network, optimizer, loss and RNG for one training run (fit or lr_find)."""
        return new_run(self._params(), classes, targets, seed, device, start)

    def _trainer(self, run, device, group, seed, extra=(), cached=None):
        """The trainer of one run: this process alone, or this rank of a process group."""
        params = self._params()
        options = {"augment": augmentation(params["augment"]), "num_workers": self.num_workers,
                   "tta": bool(self.tta), "progress": self.progress and is_main_process()}
        callbacks = built_in_callbacks(params) + user_callbacks(params) + list(extra)
        if group is None:
            return Trainer(run, callbacks, device, int(self.batch_size), cached=cached, **options)
        return DistributedTrainer(run, callbacks, device, int(self.batch_size), group, seed, **options)

    # -- sklearn API --------------------------------------------------------

    def fit(self, X, y, validation_data=None):
        """Fine-tune on images ``X`` with labels ``y``.

        Parameters
        ----------
        X : images
            See :func:`hybridtl.images.as_image_set` for every accepted form.
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
        group = current_process_group(device)  # a torch.distributed process group (torchrun), or None
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
        if self._params()["refit_full"] and validation_data is None and len(val_targets) and not state.interrupted:
            self._refit(classes, targets, images, seed, device, group, start, state)
        return self

    def _train(self, run, train_set, train_targets, val_set, val_targets, device, group, seed, extra=()):
        """Train ``run``: the fitted attributes point at its network from the start, so Ctrl-C leaves them usable."""
        self.config_ = run.backbone.config
        self.preprocess_ = run.preprocess
        self.model_ = run.backbone.module
        self.weights_source_, self.weights_sha256_ = run.backbone.weights_source, run.backbone.weights_sha256
        self.n_blocks_ = len(trainable_blocks(run.backbone))
        train_set, val_set = (decoded_once(part, run.preprocess, self.num_workers, self.progress)
                              for part in (train_set, val_set))
        cached = self._cached_epochs(run, train_set, val_set, val_targets, device, group is not None)
        self.cached_features_ = cached is not None
        trainer = self._trainer(run, device, group, seed, extra, cached)
        return trainer.fit(train_set, train_targets, val_set, val_targets, int(self._params()["epochs"]))

    def _cached_epochs(self, run, train_set, val_set, val_targets, device, distributed):
        """The first epochs that train the new layer on features computed once, with those features; or None."""
        params, augment = self._params(), augmentation(self.augment)
        epochs = cached_epochs(params, strategy(params), self.n_blocks_, augment, distributed)
        if not epochs:
            return None
        features = {"preprocess": run.preprocess, "device": device, "batch_size": int(self.batch_size),
                    "num_workers": self.num_workers, "progress": self.progress}
        train = bottleneck_features(run.backbone, train_set, mirror=augment == "flip", **features)
        val = bottleneck_features(run.backbone, val_set, **features) if len(val_targets) else val_set
        return CachedEpochs(epochs, train, val)

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
            raise ValueError(f"validation labels {sorted(unknown)} are not among the training classes "
                             f"{list(self.classes_)}")
        return images, np.searchsorted(self.classes_, y_val)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : images

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "model_")
        self.check_params()
        images = as_image_set(X, self.on_error)
        device = resolve_device(self.device)
        model = self.model_.to(device, memory_format=torch.channels_last)

        def probabilities(readable):
            def predict_at(size):
                batches = readable.batches(self.preprocess_, size, device, self.num_workers)
                return predict_proba(model, batches, device, use_amp(self.amp, device), bool(self.tta))

            return retry_halving(predict_at, int(self.batch_size), "predict").double().numpy()

        return rows_for_readable(images, self.on_error, self.num_workers, len(self.classes_), probabilities,
                                 np.float64, self.preprocess_.min_side)

    def predict(self, X):
        """Predicted class labels; ``None`` for images skipped with ``on_error="skip"``.

        Parameters
        ----------
        X : images

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        return labels_from_proba(self.predict_proba(X), self.classes_)

    def plot_history(self, path):
        """Save the loss and accuracy curves per epoch as a PNG at ``path``.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        path
        """
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

        Parameters
        ----------
        X : images
        y : array-like of shape (n_samples,)
        start_lr, end_lr : float
        num_iter : int
        smoothing : float
        plot : str or Path, optional
            Where to save the curve as a PNG.

        Returns
        -------
        frame : pandas.DataFrame
            Columns ``lr`` and ``loss`` (smoothed).
        suggested_lr : float
            Where the smoothed loss falls fastest.
        """
        classes, targets, images, seed, device = self._inputs(X, y)
        with seeded(seed, device):
            run = self._new_run(classes, targets, seed, device)
            # files decoded once (and kept for a fit that follows), not again each time the batches cycle
            images = decoded_once(images, run.preprocess, self.num_workers, self.progress)
            batches = cycle(lambda: images.train_batches(run.preprocess, targets, int(self.batch_size), device,
                                                         run.generator, augmentation(self.augment),
                                                         self.num_workers))
            # with lr=1 the strategy's base rates are the per-group multipliers
            params = self._params()
            setup = [strategy(params, lr=1.0), bn_policy(params)]
            frame, suggested = lr_range_test(run, setup, batches, device, start_lr, end_lr, num_iter, smoothing)
        if plot is not None:
            plot_lr_find(frame, suggested, plot)
        return frame, suggested

    def _empty_model(self):
        """The same network and new layer with random weights, for unpickling."""
        return network(self.backbone, len(self.classes_), None)[0].module


def _continued(earlier, history):
    """``history`` after an ``earlier`` one (``warm_start``), its epochs numbered on."""
    if earlier is None or not len(earlier):
        return history
    history = history.assign(epoch=history["epoch"] + int(earlier["epoch"].iloc[-1]))
    return pd.concat([earlier, history], ignore_index=True)


def planned_preprocess(estimator):
    """The preprocessing ``estimator``'s next fit builds its run with (:func:`new_run`'s), known before its
    network is: what its files are decoded into the store at."""
    params = estimator.get_params(deep=False)  # none of these three has a per-strategy default
    return Preprocess.from_config(backbone_config(params["backbone"]), params["image_size"], params["decode"])
