"""A frozen CNN as a scikit-learn transformer: images in, bottleneck features out."""

from __future__ import annotations

import dataclasses
import importlib.util
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..backbones import frozen_trunk, load_backbone
from ..core import (
    IMAGE_ESTIMATOR_CONSTRAINTS,
    POOLINGS,
    PRECISIONS,
    RUNTIMES,
    CPUWeightsPickle,
    InstanceOf,
    Interval,
    Options,
    is_dask_collection,
    progress_bar,
    validate_params,
)
from ..devices import (
    CALIBRATION_IMAGES,
    RuntimeFallbackWarning,
    autocast,
    calibrate_int8,
    compiled_runner,
    halving_batches,
    resolve_device,
    resolve_runtime,
    use_amp,
)
from ..images import Preprocess, as_image_set, decoding, readable_part, rows_for_readable
from ._cache import CacheSetting, FeatureCache, image_keys, resolve_cache
from ._memo import check_size, file_stamp, frozen_model, placed, weights_digest

__all__ = ["INT8_AGREEMENT", "CNNFeatureExtractor", "PrecisionLossWarning"]

# Below this mean cosine of int8 to fp32 features on the calibration images, int8 fit warns: the tasks on
# which int8 kept accuracy within 0.005 of fp32 (7 of 8 task-head pairs) reached 0.982-0.990 with these
# settings (benchmarks/int8_settings.py), so below it int8 is outside what was measured to keep accuracy.
INT8_AGREEMENT = 0.98


class PrecisionLossWarning(UserWarning):
    """``precision="int8"`` gives features that agree with fp32's less than usual on the images calibrated on:
    expect a loss of accuracy there (fp32 or bf16 keep it). The extractor's ``int8_agreement_`` is the figure.

    Examples
    --------
    To stop a pipeline that would run int8 below the bar rather than warn:

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error", PrecisionLossWarning)
    ...     ext = CNNFeatureExtractor(image_size=32, device="cpu").fit()  # fp32: nothing to check
    >>> ext.int8_agreement_ is None, issubclass(PrecisionLossWarning, UserWarning)
    (True, True)
    """


def _feature_prefix(backbone, layer, pooling):
    name = backbone.split(":")[-1]
    parts = [name] + ([layer.replace(".", "_")] if layer else []) + [pooling]
    return "_".join(parts)


class CNNFeatureExtractor(CPUWeightsPickle, TransformerMixin, BaseEstimator):
    """Bottleneck features of a frozen, pretrained CNN.

    ``fit`` loads the backbone (nothing is learned from ``X``); ``transform``
    returns float32 features ``(n_samples, n_features_out_)``, deterministic
    (eval mode, no gradients), computed in batches on the GPU when there is one.

    Parameters
    ----------
    backbone : str, default="efficientnet_lite0"
        Registry name: see :func:`hybridtl.backbones.load_backbone`.
    weights : {"imagenet", None} or path, default="imagenet"
        ``"imagenet"`` (embedded, cached, or downloaded on first use), a weights file or a folder
        written by ``hybridtl download --to``, or None for random weights.
    layer : str or None, default=None
        ``None`` for the penultimate features, else a layer name to tap
        (``config_.layers`` lists the usual ones).
    pooling : {"avg", "max", "gem", "avgmax"}, default="avg"
        Global pooling of the feature map; ``avgmax`` concatenates both.
    image_size : int or None, default=None
        Side of the square input; ``None`` uses the backbone's (224 for lite0).
    batch_size : int or "auto", default="auto"
        Images per forward pass; ``"auto"`` is 64 on CUDA and with a compiled
        CPU runtime, 16 for eager PyTorch on the CPU (``benchmarks/throughput.py``).
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``"auto"`` uses CUDA when present, with AMP and channels_last there.
    amp : {"auto", True, False}, default="auto"
        float16 autocast; ``"auto"`` means on CUDA only.
    num_workers : int or "auto", default="auto"
        Who decodes image files beside the model: ``"auto"``, one thread per
        CPU running a few batches ahead (measured faster than worker processes
        here, ``benchmarks/photo_folder.py``); a number, that many DataLoader
        worker processes; 0, the calling thread alone.
    progress : bool, default=False
        Show a tqdm progress bar during ``transform``.
    cache : "auto", None, str, Path or joblib.Memory, default="auto"
        Per-image feature cache keyed by each image's content and every
        setting that changes features, so that a ``GridSearchCV`` over the
        head extracts each image once. ``"auto"`` keeps recent features in
        this process's memory; a folder adds a disk cache shared between
        processes and runs; ``None`` switches it off. See :class:`hybridtl.features.FeatureCache`.
    on_error : {"raise", "skip"}, default="raise"
        What an unreadable image file does: raise a ``ValueError`` naming it,
        or give a row of NaN features and one ``SkippedImagesWarning`` naming
        the skipped files (each file is then decoded once more to check it).
    runtime : {"auto", "torch", "openvino", "onnxruntime"}, default="auto"
        The engine that runs the frozen model on the CPU: ``"auto"`` is the
        fastest one installed (OpenVINO, then ONNX Runtime, measured 2-2.5x
        eager PyTorch here), PyTorch on CUDA. Features agree with PyTorch's
        within 1e-4. See :func:`hybridtl.features.compiled_runner`.
    precision : {"fp32", "bf16", "int8"}, default="fp32"
        What the runtime computes in. ``"bf16"``: OpenVINO on the CPU's
        bfloat16 units where it has them. ``"int8"``: the model quantised
        after training, calibrated in ``fit`` on up to 300 of the images
        given to ``fit`` (drawn with a fixed seed; ``fit`` then needs images),
        by NNCF in OpenVINO (``pip install 'hybridtl[openvino]'``). The calibration is kept as data
        (``calibration_``), so a saved extractor gives the same features where
        it is loaded, quantised again there from it (no images needed); a
        ``GridSearchCV`` calibrates once per fold. Where the runtime cannot
        compute in the precision (PyTorch, CUDA) it computes in fp32 with one
        ``RuntimeFallbackWarning``. fp32 stays the default: see the docs'
        performance page for what each precision costs in accuracy.
    decode : {"fast", "exact"}, default="fast"
        How image files are decoded, fixed at ``fit``: ``"fast"`` decodes a
        large file at the smallest size whose shorter side is still the one
        the preprocessing resizes to (a JPEG through libjpeg's own scaling:
        ten times faster to decode on 12-MP phone photos, features at cosine
        0.996-0.999 to exact's) and resizes 8-bit pixels as uint8;
        ``"exact"`` decodes every pixel and resizes as floats, as versions
        before it did (models saved then load with it).

    Attributes
    ----------
    n_features_out_ : int
    config_ : BackboneConfig
        The preprocessing the weights expect.
    weights_source_ : str
        The file the weights came from, or ``"random"``.
    weights_sha256_ : str
        The sha256 of that file ("" for random weights): which weights made the features.
    model_ : torch.nn.Module
        The frozen trunk plus pooling.
    calibration_ : dict or None
        With ``precision="int8"``: what the calibration set (activation ranges,
        corrected biases; strings, numbers and arrays), else None.
    int8_agreement_ : float or None
        With ``precision="int8"``: the mean cosine of the int8 features to the
        fp32 ones on the calibration images; below :data:`INT8_AGREEMENT` (0.98)
        ``fit`` warns with a :class:`PrecisionLossWarning`, naming it. Else None.

    Notes
    -----
    Pickling (joblib) stores the fitted weights, on the CPU, inside the file:
    a saved extractor loads and gives the same features on a machine that has
    neither the weights file nor a GPU.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    >>> ext = CNNFeatureExtractor(image_size=32, device="cpu").fit(X)
    >>> ext.transform(X).shape
    (4, 1280)
    >>> ext.get_feature_names_out()[:2].tolist()
    ['efficientnet_lite0_avg_0', 'efficientnet_lite0_avg_1']
    """

    def __init__(
        self,
        backbone="efficientnet_lite0",
        weights="imagenet",
        layer=None,
        pooling="avg",
        image_size=None,
        batch_size="auto",
        device="auto",
        amp="auto",
        num_workers="auto",
        progress=False,
        cache="auto",
        on_error="raise",
        runtime="auto",
        precision="fp32",
        decode="fast",
    ):
        self.backbone = backbone
        self.weights = weights
        self.layer = layer
        self.pooling = pooling
        self.image_size = image_size
        self.batch_size = batch_size
        self.device = device
        self.amp = amp
        self.num_workers = num_workers
        self.progress = progress
        self.cache = cache
        self.on_error = on_error
        self.runtime = runtime
        self.precision = precision
        self.decode = decode

    _parameter_constraints = {
        **IMAGE_ESTIMATOR_CONSTRAINTS,
        "layer": [None, InstanceOf(str, "a layer name")],
        "pooling": [Options(POOLINGS)],
        "batch_size": [Options(("auto",)), Interval("integer", 1, None)],
        "cache": [CacheSetting()],
        "runtime": [Options(RUNTIMES)],
        "precision": [Options(PRECISIONS)],
    }

    def check_params(self):
        """Check every parameter against :attr:`_parameter_constraints` (and that the device is there).

        ``fit``, ``transform`` and the command line call it; it changes nothing.
        """
        validate_params(self.get_params(deep=False), self._parameter_constraints)
        resolve_device(self.device)

    def _build_model(self, weights):
        """The frozen trunk + pooling; memoised per process (see :func:`hybridtl.features._memo.frozen_model`)."""
        stamp = file_stamp(weights) if weights is not None else None
        key = (self.backbone, weights, stamp, self.layer, self.pooling)
        built = frozen_model(*key)
        if self.image_size is not None:
            check_size(*key, int(self.image_size))
        return built

    # -- sklearn API --------------------------------------------------------

    def fit(self, X=None, y=None):
        """Load the frozen backbone; ``X`` is only validated (nothing is learned).

        Returns
        -------
        self
        """
        self.check_params()
        if X is not None and not is_dask_collection(X):
            as_image_set(X)
        backbone, self.model_, self.n_features_out_ = self._build_model(self.weights)
        self.config_ = backbone.config
        self.weights_source_ = backbone.weights_source
        self.weights_sha256_ = backbone.weights_sha256
        self.preprocess_ = Preprocess.from_config(self.config_, self.image_size, self.decode)
        self.calibration_, self.int8_agreement_ = self._calibrate(X) if self.precision == "int8" else (None, None)
        return self

    def _calibrate(self, X):
        """int8: quantise on up to CALIBRATION_IMAGES of ``X`` (a fixed-seed draw of the readable ones)."""
        runtime = resolve_runtime(self.runtime, resolve_device(self.device))
        if self._precision(runtime, fitted=False) != "int8":
            return None, None
        if X is None or is_dask_collection(X):
            raise ValueError("precision='int8' calibrates on the images given to fit: call fit(X) with images in "
                             "memory (a list, array or folder; for dask input, fit on a sample of it)")
        images = as_image_set(X, self.on_error)
        readable, _ = readable_part(images, self.on_error, self.num_workers, self.preprocess_.min_side)
        if len(readable) == 0:
            raise ValueError("precision='int8' needs readable images in fit's X to calibrate on; none could be read")
        rng = np.random.default_rng(0)
        chosen = np.sort(rng.choice(readable, min(len(readable), CALIBRATION_IMAGES), replace=False))
        batches = images.subset(chosen).batches(self.preprocess_, 64, torch.device("cpu"), self.num_workers)
        inputs = torch.cat(list(batches)).numpy()
        if importlib.util.find_spec("nncf") is None:
            raise ValueError("precision='int8' quantises with NNCF, which is not installed: pip install nncf "
                             "(or 'hybridtl[openvino]'); or use precision='fp32' or 'bf16'")
        try:
            calibration = calibrate_int8(self.model_, self.preprocess_.size, inputs)
        except Exception as exc:  # noqa: BLE001 - as for compiling: any quantiser failure means fp32, said once
            cause = (str(exc).splitlines() or [""])[0][:300]
            warnings.warn(f"could not quantise this model to int8 ({type(exc).__name__}: {cause}); "
                          "computing in fp32", RuntimeFallbackWarning, stacklevel=3)
            return None, None
        agreement = self._int8_agreement(inputs, calibration, runtime)
        if agreement < INT8_AGREEMENT:
            warnings.warn(f"precision='int8': on the {len(inputs)} images calibrated on, int8 features agree with "
                          f"fp32's at a mean cosine of {agreement:.3f} (below {INT8_AGREEMENT}, the least "
                          "measured where int8 kept accuracy): expect a loss of accuracy; precision='fp32' or 'bf16' "
                          "keep it",
                          PrecisionLossWarning, stacklevel=3)
        return calibration, agreement

    def _int8_agreement(self, inputs, calibration, runtime):
        """Mean cosine of int8 to fp32 features on the preprocessed calibration ``inputs``."""
        identity = (self.backbone, self.layer, self.pooling, weights_digest(self.model_))
        size = self.preprocess_.size
        fp32 = compiled_runner(self.model_, runtime, size, identity)
        int8 = compiled_runner(self.model_, runtime, size, identity, "int8", calibration)
        if fp32 is None or int8 is None:
            return float("nan")
        a, b = (np.concatenate([run(inputs[i : i + 64]) for i in range(0, len(inputs), 64)]) for run in (fp32, int8))
        return float(np.mean((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)))

    def transform(self, X):
        """Features of the images in ``X``.

        Parameters
        ----------
        X : images
            See :func:`hybridtl.images.as_image_set` for every accepted form.

            A dask Series of paths, or a dask DataFrame with a ``path`` column,
            gives the lazy dask result (see :func:`hybridtl.scaleout.extract_features`).

        Returns
        -------
        numpy.ndarray of float32, shape (n_samples, n_features_out_)
            For dask input, a dask DataFrame of the feature columns, partition by partition.
        """
        check_is_fitted(self, "model_")
        self.check_params()
        if is_dask_collection(X):
            from ._dask import transform_dask

            return transform_dask(self, X)
        images = as_image_set(X, self.on_error)
        return rows_for_readable(images, self.on_error, self.num_workers, self.n_features_out_, self._features,
                                 np.float32, self.preprocess_.min_side)

    def _features(self, images):
        enabled, directory = resolve_cache(self.cache)
        if not enabled:
            return self._extract(images)
        return self._extract_cached(images, FeatureCache(directory, self._cache_settings()))

    def _cache_settings(self):
        """Everything that changes the features, for the cache's key."""
        import timm

        from .. import __version__

        device = resolve_device(self.device)
        runtime = resolve_runtime(self.runtime, device)
        weights = self.weights_source_
        if weights == "random":  # random weights differ between processes: key them by their values
            weights = weights_digest(self.model_)
        return {
            "backbone": self.backbone,
            "weights": [weights, file_stamp(weights)],
            "layer": self.layer,
            "pooling": self.pooling,
            "preprocess": dataclasses.asdict(self.preprocess_),
            "amp": use_amp(self.amp, device),
            "device": device.type,
            "runtime": runtime,
            "precision": [self._precision(runtime, warn=False), self._calibration_digest()],
            "versions": [__version__, torch.__version__, timm.__version__],
        }

    def _extract_cached(self, images, cache):
        items = [images.raw(i) for i in range(len(images))]
        # files hashed in as many threads as "auto" decodes in, not one after another
        keys = image_keys(items, decoding("auto", len(items))[1])
        out = np.empty((len(images), self.n_features_out_), dtype=np.float32)
        missing = []
        for i, key in enumerate(keys):
            found = cache.get(key, self.n_features_out_)
            if found is None:
                missing.append(i)
            else:
                out[i] = found
        if missing:
            missing = np.asarray(missing)

            def store(positions, features):
                rows = missing[positions]
                out[rows] = features
                for row, vector in zip(rows, features):
                    cache.put(keys[row], vector)

            self._extract(images.subset(missing), on_batch=store)
        return out

    @torch.inference_mode()
    def _extract(self, images, on_batch=None):
        """Features of ``images`` in batches, halving the batch size on CUDA out-of-memory.

        Without ``on_batch`` they are returned as one array; with it, each batch goes to
        ``on_batch(positions, features)`` and nothing is returned (no second copy of them all).
        """
        device = resolve_device(self.device)
        amp = use_amp(self.amp, device)
        model = placed(self.model_, device)
        runtime = resolve_runtime(self.runtime, device)
        identity = None
        if runtime != "torch":
            identity = (self.backbone, self.layer, self.pooling, weights_digest(self.model_))
        precision = self._precision(runtime)
        calibration = self.calibration_ if precision == "int8" else None
        runner = compiled_runner(self.model_, runtime, self.preprocess_.size, identity, precision, calibration)
        out = None if on_batch is not None else np.empty((len(images), self.n_features_out_), dtype=np.float32)
        workers = self.num_workers

        def forward(batch):
            if runner is not None:
                return runner(batch.numpy())
            with autocast(amp, device):
                return model(batch.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()

        def run(part, batch_size):
            for batch in images.subset(part).batches(self.preprocess_, batch_size, device, workers):
                yield forward(batch)

        with progress_bar(total=len(images), progress=self.progress, unit="img", desc="features") as bar:
            batch_size = self._batch_size(device, runner is not None)
            for positions, features in halving_batches(run, len(images), batch_size, "transform"):
                if out is None:
                    on_batch(positions, features)
                else:
                    out[positions] = features
                bar.update(len(features))
        return out

    def _precision(self, runtime, warn=True, fitted=True):
        """``precision`` where the runtime computes in it (and, ``fitted``, as fit calibrated it), else "fp32",
        with one warning saying why."""
        reason = None
        if self.precision == "bf16" and runtime != "openvino":
            reason = f"precision='bf16' needs the OpenVINO runtime (runtime={runtime!r} here)"
        elif self.precision == "int8" and runtime != "openvino":
            reason = f"precision='int8' needs the OpenVINO runtime (runtime={runtime!r} here)"
        elif self.precision == "int8" and fitted:
            made = (self.calibration_ or {}).get("runtime")
            if made != runtime:
                reason = (f"this extractor's int8 calibration was made for {made!r}, not {runtime!r}" if made
                          else "fit could not calibrate int8")
        if reason is None:
            return self.precision
        if warn:
            warnings.warn(f"{reason}; computing in fp32", RuntimeFallbackWarning, stacklevel=4)
        return "fp32"

    def _calibration_digest(self):
        return (getattr(self, "calibration_", None) or {}).get("digest")

    def _batch_size(self, device, compiled=False):
        """``"auto"``: 64 on CUDA and for a compiled CPU runtime (fewer calls; small images gain most),
        16 for eager PyTorch on the CPU, where larger batches measured slower."""
        if self.batch_size == "auto":
            return 64 if device.type == "cuda" or compiled else 16
        return int(self.batch_size)

    def get_feature_names_out(self, input_features=None):
        """Names ``{backbone}[_{layer}]_{pooling}_{i}`` for each output column."""
        check_is_fitted(self, "n_features_out_")
        prefix = _feature_prefix(self.backbone, self.layer, self.pooling)
        return np.asarray([f"{prefix}_{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # images; 2-D tables are refused with a clear ValueError
        tags.non_deterministic = False
        return tags

    def _empty_model(self):
        """The same trunk and pooling with random weights, for unpickling."""
        return frozen_trunk(load_backbone(self.backbone, None), self.layer, self.pooling)
