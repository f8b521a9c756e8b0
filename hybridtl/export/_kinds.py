"""Each kind of fitted model hybridtl makes, as the ONNX pieces that compute its probabilities from pixels.

A registry (model type -> builder), looked up along the model's class
hierarchy: a builder adds its pieces to a :class:`GraphBuilder` reading the
pixels and returns the name of its probabilities, so that an ensemble builds
each member the same way and averages them.
"""

from __future__ import annotations

import contextlib

__all__ = ["add_model", "as_the_graph_computes", "preprocessings"]

_BUILDERS = {}


def _builds(*type_names):
    """Register a builder for the classes named ``module:qualname`` (imported only when a model is exported)."""

    def register(builder):
        for name in type_names:
            _BUILDERS[name] = builder
        return builder

    return register


def _lookup(registry, obj):
    """The entry of ``registry`` for the nearest class of ``obj``'s hierarchy that has one, or None."""
    for kind in type(obj).__mro__:
        builder = registry.get(f"{kind.__module__.split('._')[0]}:{kind.__qualname__}")
        if builder is not None:
            return builder
    return None


def _unexportable(model, why=None):
    exportable = "hybrid pipelines, the pixel baseline, FineTuneClassifier, AutoClassifier, soft-voting ensembles"
    raise ValueError(f"cannot export {type(model).__name__}: {why or 'no ONNX builder for this kind of model'} "
                     f"(exportable: {exportable})")


def add_model(model, g, pixels):
    """Add ``model``'s pieces to ``g``, reading uint8 ``pixels``; returns the name of its probabilities."""
    builder = _lookup(_BUILDERS, model)
    if builder is None:
        _unexportable(model)
    return builder(model, g, pixels)


@_builds("hybridtl.finetune:FineTuneClassifier")
def _finetune(model, g, pixels):
    from ._network import network_graph
    from ._preprocessing import preprocessing_graph

    images = g.add(preprocessing_graph(model.preprocess_), {"pixels": pixels})["images"]
    net = network_graph(model.model_, model.preprocess_.size, softmax=True, tta=bool(model.tta),
                        output_name="probabilities")
    return g.add(net, {"images": images})["probabilities"]


def _cnn_features(extractor, g, pixels):
    from ._network import network_graph
    from ._preprocessing import preprocessing_graph

    images = g.add(preprocessing_graph(extractor.preprocess_), {"pixels": pixels})["images"]
    return g.add(network_graph(extractor.model_, extractor.preprocess_.size), {"images": images})["features"]


def _pixel_features(step, g, pixels):
    from ._preprocessing import gray_pixels_graph

    return g.add(gray_pixels_graph(_pixel_preprocess(step)), {"pixels": pixels})["features"]


def _pixel_preprocess(step):
    from ..images import Preprocess

    # as PixelFeatures.transform builds it
    return Preprocess(int(step.image_size), 1.0, (0.0,) * 3, (1.0,) * 3, "bilinear", step.decode)


_FEATURES = {"hybridtl.features:CNNFeatureExtractor": _cnn_features, "hybridtl.features:PixelFeatures": _pixel_features}


@_builds("sklearn.pipeline:Pipeline")
def _pipeline(model, g, pixels):
    from ._heads import head_graph

    (_, first), rest = model.steps[0], model.steps[1:]
    if not rest:
        return add_model(first, g, pixels)
    features = _lookup(_FEATURES, first)
    if features is None:
        _unexportable(model, f"its first step {type(first).__name__} does not read images (exportable first "
                             "steps: CNNFeatureExtractor, PixelFeatures)")
    name = features(first, g, pixels)
    head = head_graph(rest, int(first.n_features_out_))
    return g.add(head, {"features": name})["probabilities"]


@_builds("sklearn.ensemble:VotingClassifier")
def _voting(model, g, pixels):
    import numpy as np

    if model.voting != "soft":
        _unexportable(model, "hard voting gives no probabilities")
    if model.weights is None:
        weights = [1.0] * len(model.estimators_)
    else:  # estimators_ leaves out the members given as "drop", and so does the average
        weights = [float(w) for (_, member), w in zip(model.estimators, model.weights) if member != "drop"]
    total = None
    for member, weight in zip(model.estimators_, weights):
        probs = add_model(member, g, pixels)
        scaled = g.node("Mul", [probs, g.constant(weight / sum(weights), np.float32)], [g.fresh("weighted")])
        total = scaled if total is None else g.node("Add", [total, scaled], [g.fresh("sum")])
    return total


@_builds("sklearn.frozen:FrozenEstimator")
def _frozen(model, g, pixels):
    return add_model(model.estimator, g, pixels)


@_builds("hybridtl.auto:AutoClassifier", "sklearn.model_selection:GridSearchCV",
         "sklearn.model_selection:RandomizedSearchCV")
def _searched(model, g, pixels):
    best = getattr(model, "best_estimator_", None)
    if best is None:
        _unexportable(model, "it holds no refitted best estimator (refit=False?)")
    return add_model(best, g, pixels)


def _parts(model):
    """Every estimator inside ``model`` (pipelines' steps, ensembles' members, searches' winners), itself first."""
    yield model
    inner = [step for _, step in getattr(model, "steps", [])] + list(getattr(model, "estimators_", None) or [])
    if type(model).__name__ == "FrozenEstimator":
        inner.append(model.estimator)
    if getattr(model, "best_estimator_", None) is not None:
        inner.append(model.best_estimator_)
    for part in inner:
        yield from _parts(part)


def preprocessings(model):
    """The :class:`hybridtl.images.Preprocess` of every part of ``model`` that reads images."""
    from ..features import CNNFeatureExtractor, PixelFeatures
    from ..finetune import FineTuneClassifier

    found = []
    for part in _parts(model):
        if isinstance(part, (CNNFeatureExtractor, FineTuneClassifier)):
            found.append(part.preprocess_)
        elif isinstance(part, PixelFeatures):
            found.append(_pixel_preprocess(part))
    return found


@contextlib.contextmanager
def as_the_graph_computes(model):
    """Within the block, ``model``'s parts compute as the graph does: fp32 (bf16 and int8 extractors switched),
    on the CPU (no float16 autocast on a GPU). Yields the precisions the extractors compute in otherwise; their
    parameters are restored on leaving."""
    from ..features import CNNFeatureExtractor
    from ..finetune import FineTuneClassifier

    parts = [part for part in _parts(model) if isinstance(part, (CNNFeatureExtractor, FineTuneClassifier))]
    earlier = [part.get_params(deep=False) for part in parts]
    precisions = [p.precision for p in parts if isinstance(p, CNNFeatureExtractor) and p.precision != "fp32"]
    try:
        for part in parts:
            part.device = "cpu"
            if isinstance(part, CNNFeatureExtractor):
                part.precision = "fp32"
        yield precisions
    finally:
        for part, params in zip(parts, earlier):
            part.device = params["device"]
            if isinstance(part, CNNFeatureExtractor):
                part.precision = params["precision"]
