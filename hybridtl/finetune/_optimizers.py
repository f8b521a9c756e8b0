"""The optimizer: one parameter group per backbone block, then the new layer's."""

from __future__ import annotations

import torch

__all__ = ["make_optimizer"]

# name (hybridtl.core.OPTIMIZERS) -> (torch optimizer, its options beyond lr and weight decay)
_OPTIMIZERS = {
    "adam": (torch.optim.Adam, {}),
    "adamax": (torch.optim.Adamax, {}),
    "adamw": (torch.optim.AdamW, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
}


def make_optimizer(name, blocks, head, weight_decay=0.0, layer_decay=None):
    """An optimizer with one parameter group per backbone block (input first), then the new head's.

    Each group carries ``lr_scale``: 1 for the head and, with ``layer_decay=d``, ``d ** k`` for the
    block ``k`` places below the top one (discriminative learning rates, as ULMFiT and fastai use).
    The strategy sets each group's ``base_lr`` from it and the schedule its ``lr``. The groups follow
    :func:`~hybridtl.backbones.trainable_blocks`, the units that ``gradual`` unfreezes, rather than
    timm's ``param_groups_layer_decay``, which works on timm models only and puts the new head in
    the top layer group, where it could not have its own ``head_lr_mult``.
    """
    policy, options = _OPTIMIZERS[name]
    head_ids = {id(p) for p in head.parameters()}
    scale = 1.0 if layer_decay is None else float(layer_decay)
    groups = [{"params": [p for p in block.parameters() if id(p) not in head_ids],
               "lr_scale": scale ** (len(blocks) - 1 - i)} for i, block in enumerate(blocks)]
    groups = [g for g in groups if g["params"]] + [{"params": list(head.parameters()), "lr_scale": 1.0}]
    for group in groups:
        group.update(lr=0.0, base_lr=0.0)
    return policy(groups, lr=0.0, weight_decay=weight_decay, **options)
