"""Surgery for fine-tuning: a new classification layer, and the backbone cut into blocks to unfreeze."""

from __future__ import annotations

from torch import nn

from ._config import Backbone

__all__ = ["replace_classifier", "trainable_blocks", "without_classifier"]


def replace_classifier(backbone: Backbone, n_classes: int) -> nn.Linear:
    """Replace the final layer by a new, randomly initialised one with ``n_classes`` outputs.

    Parameters
    ----------
    backbone : Backbone
        Changed in place.
    n_classes : int

    Returns
    -------
    torch.nn.Linear
        The new layer.

    Examples
    --------
    >>> from hybridtl.backbones import load_backbone
    >>> backbone = load_backbone("timm:test_efficientnet", weights=None)
    >>> replace_classifier(backbone, 3).out_features
    3
    """
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


def _around_the_head(container, head_path):
    """The layers that share a container with the classification layer (VGG's and AlexNet's hidden
    fully connected layers, a ConvNeXt head's norm), as one top block; none when the layer stands alone."""
    if "." not in head_path:
        return []
    head = container.get_submodule(head_path.split(".", 1)[1])
    rest = [m for m in container.children() if m is not head and any(p.numel() for p in m.parameters())]
    return [nn.ModuleList(rest)] if rest else []


def trainable_blocks(backbone: Backbone):
    """The backbone's layers as ordered blocks, input first, the classification layer excluded.

    Top-level children are the blocks, except that a container holding several
    stages (timm's ``blocks``, torchvision's ``features``) is split into them,
    and the layers that share a container with the classification layer (VGG's
    hidden fully connected layers) form the top block.
    Used to unfreeze one block per epoch from the top down, and to give each
    block its own optimizer group.

    Parameters
    ----------
    backbone : Backbone

    Returns
    -------
    list of torch.nn.Module

    Examples
    --------
    >>> from hybridtl.backbones import load_backbone
    >>> len(trainable_blocks(load_backbone("efficientnet_lite0", weights=None)))
    9
    """
    head_path = backbone.config.classifier
    head_root = head_path.split(".")[0]
    blocks = []
    for name, child in backbone.module.named_children():
        if name == head_root:
            blocks += _around_the_head(child, head_path)
            continue
        if not any(p.numel() for p in child.parameters()):
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



def without_classifier(backbone: Backbone):
    """A frozen copy of the network whose classification layer passes its input through.

    Its output is what the classification layer takes (the pooled features, or VGG's last hidden
    layer), in eval mode: what a frozen backbone gives the new layer, computed once for all epochs.
    The backbone itself is not changed.

    Parameters
    ----------
    backbone : Backbone

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> import torch
    >>> from hybridtl.backbones import load_backbone
    >>> trunk = without_classifier(load_backbone("timm:test_efficientnet", weights=None))
    >>> trunk(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 256])
    """
    import copy

    module = copy.deepcopy(backbone.module)
    parent_path, _, attr = backbone.config.classifier.rpartition(".")
    setattr(module.get_submodule(parent_path) if parent_path else module, attr, nn.Identity())
    for param in module.parameters():
        param.requires_grad_(False)
    return module.eval()
