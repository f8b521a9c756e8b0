"""What a backbone's weights expect (input size, crop, mean/std, interpolation) and what it offers,
read from the model's own pretrained config (timm's ``pretrained_cfg``, torchvision's weight presets)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Backbone", "BackboneConfig", "last_linear", "timm_config",
           "torchvision_config"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneConfig:
    """What a backbone's weights expect and what it offers.

    Parameters
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

    Examples
    --------
    >>> from hybridtl.backbones import load_backbone
    >>> config = load_backbone("efficientnet_lite0", weights=None).config
    >>> config.input_size, config.crop_pct, config.interpolation
    (224, 0.875, 'bicubic')
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
    """A loaded backbone: the torch module, its config and where its weights came from.

    Parameters
    ----------
    module : torch.nn.Module
        The whole network, classification layer included.
    config : BackboneConfig
    family : {"embedded", "timm", "torchvision"}
    weights_source : str
        The file the weights were read from, or ``"random"``.
    weights_sha256 : str, default=""
        The sha256 of that file ("" for random weights).

    Examples
    --------
    >>> from hybridtl.backbones import load_backbone
    >>> backbone = load_backbone("timm:test_efficientnet", weights=None)
    >>> backbone.family, backbone.weights_source, type(backbone.module).__name__
    ('timm', 'random', 'EfficientNet')
    """

    module: nn.Module
    config: BackboneConfig
    family: str  # "embedded", "timm" or "torchvision"
    weights_source: str
    weights_sha256: str = ""


def timm_config(name, module):
    """The config of a timm model, from its ``pretrained_cfg`` and ``feature_info``."""
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


def last_linear(module):
    name, layer = None, None
    for child_name, child in module.named_modules():
        if isinstance(child, nn.Linear):
            name, layer = child_name, child
    if layer is None:
        raise ValueError(f"{type(module).__name__} has no linear classification layer to replace")
    return name, layer


def torchvision_config(name, module, weights_enum):
    """The config of a torchvision model, from the transforms preset of its weights (when it has some)."""
    size, crop_pct, mean, std, interp = 224, 0.875, IMAGENET_MEAN, IMAGENET_STD, "bilinear"
    if weights_enum is not None:
        preset = weights_enum.transforms()
        size = int(preset.crop_size[0])
        crop_pct = size / float(preset.resize_size[0])
        mean, std = tuple(preset.mean), tuple(preset.std)
        interp = preset.interpolation.value
    classifier, linear = last_linear(module)
    layers = tuple(
        n for n, _ in module.named_modules() if n and n.count(".") <= 1 and not n.startswith(classifier.split(".")[0])
    )
    return BackboneConfig(name, size, crop_pct, mean, std, interp, linear.in_features, layers, classifier)
