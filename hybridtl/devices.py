"""Choosing where models run: the device, mixed precision and memory layout."""

from __future__ import annotations

import contextlib

import torch

_DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device="auto") -> torch.device:
    """Turn a user's ``device`` setting into a :class:`torch.device`.

    ``"auto"`` picks CUDA when a GPU is visible and the CPU otherwise; ``"cuda"``
    on a machine without a GPU is an error rather than a silent fallback.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str) or device.split(":")[0] not in _DEVICES:
        raise ValueError(f"device must be one of {_DEVICES} (or 'cuda:N'), got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but no CUDA GPU is visible; use device='auto' or 'cpu'")
    return torch.device(device)


def use_amp(amp, device: torch.device) -> bool:
    """Whether to run in mixed precision: ``amp="auto"`` means on CUDA only."""
    if amp == "auto":
        return device.type == "cuda"
    if isinstance(amp, bool):
        return amp and device.type == "cuda"
    raise ValueError(f"amp must be 'auto', True or False, got {amp!r}")


def autocast(enabled: bool, device: torch.device):
    """A float16 autocast context on CUDA when ``enabled``, a no-op otherwise."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16)


def memory_format(device: torch.device):
    """channels_last everywhere: measured faster for these CNNs on CPU and GPU alike."""
    return torch.channels_last
