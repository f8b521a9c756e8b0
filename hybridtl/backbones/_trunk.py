"""The feature trunk: a backbone run up to a layer, and global pooling of what it gives."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FeatureTrunk", "GlobalPool", "frozen_trunk"]


class _StopForward(Exception):
    """Raised from a hook once the tapped layer has produced its output."""


class FeatureTrunk(nn.Module):
    """Runs a backbone up to a layer and returns that layer's output (the rest is skipped).

    ``layer=None`` taps the last feature map before global pooling: timm's
    ``forward_features``, or the input of a torchvision model's ``avgpool``.
    """

    def __init__(self, backbone, layer=None):
        super().__init__()
        self.body = backbone.module
        self._captured = None
        self._use_forward_features = layer is None and backbone.family != "torchvision"
        if self._use_forward_features:
            return
        name = layer if layer is not None else "avgpool"
        try:
            target = self.body.get_submodule(name)
        except AttributeError:
            if layer is None:
                raise ValueError(f"backbone {backbone.config.name!r} has no 'avgpool' module; pass layer= one "
                                 f"of {list(backbone.config.layers)}") from None
            raise ValueError(
                f"unknown layer {layer!r} for backbone {backbone.config.name!r}; accepted: None (penultimate "
                f"features), one of {list(backbone.config.layers)}, or any name in model.named_modules()"
            ) from None
        if layer is None:
            target.register_forward_pre_hook(self._capture_input)
        else:
            target.register_forward_hook(self._capture_output)

    def _capture_input(self, module, args):
        self._captured = args[0]
        raise _StopForward

    def _capture_output(self, module, args, output):
        self._captured = output
        raise _StopForward

    def forward(self, x):
        if self._use_forward_features:
            return self.body.forward_features(x)
        try:
            self.body(x)
        except _StopForward:
            pass
        out, self._captured = self._captured, None
        return out


class GlobalPool(nn.Module):
    """Pools a feature map (n, c, h, w) or tokens (n, t, c) to vectors, in float32.

    Examples
    --------
    >>> import torch
    >>> GlobalPool("avgmax")(torch.ones(2, 5, 3, 3)).shape
    torch.Size([2, 10])
    """

    def __init__(self, kind="avg", p=3.0):
        super().__init__()
        self.kind, self.p = kind, p

    def forward(self, x):
        x = x.float()
        if x.ndim == 2:
            return x
        dims = (2, 3) if x.ndim == 4 else (1,)
        if self.kind == "avg":
            return x.mean(dims)
        if self.kind == "max":
            return x.amax(dims)
        if self.kind == "gem":
            return x.clamp(min=1e-6).pow(self.p).mean(dims).pow(1.0 / self.p)
        return torch.cat([x.mean(dims), x.amax(dims)], dim=1)



def frozen_trunk(backbone, layer=None, pooling="avg"):
    """The backbone up to ``layer``, then ``pooling``: frozen, in eval mode, channels_last."""
    model = nn.Sequential(FeatureTrunk(backbone, layer), GlobalPool(pooling))
    for param in model.parameters():
        param.requires_grad_(False)
    return model.eval().to(memory_format=torch.channels_last)
