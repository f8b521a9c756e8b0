"""Choosing where models run: the device, mixed precision and memory layout."""

from __future__ import annotations

import contextlib

import torch

from ..core import DeviceName, check_param

__all__ = ["autocast", "resolve_device", "use_amp"]


def resolve_device(device="auto") -> torch.device:
    """Turn a user's ``device`` setting into a :class:`torch.device`.

    ``"auto"`` picks CUDA when a GPU is visible and the CPU otherwise; ``"cuda"``
    on a machine without a GPU is an error rather than a silent fallback.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, "cuda:N" or torch.device, default="auto"

    Returns
    -------
    torch.device

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    check_param("device", device, [DeviceName()])
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but no CUDA GPU is visible; use device='auto' or 'cpu'")
    return torch.device(device)


def use_amp(amp, device: torch.device) -> bool:
    """Whether to run in mixed precision: ``amp="auto"`` means on CUDA only.

    Parameters
    ----------
    amp : {"auto", True, False}
    device : torch.device

    Returns
    -------
    bool
        True only on CUDA, and there unless ``amp=False``.

    Examples
    --------
    >>> import torch
    >>> use_amp("auto", torch.device("cpu")), use_amp(True, torch.device("cpu"))
    (False, False)
    """
    if amp == "auto":
        return device.type == "cuda"
    if isinstance(amp, bool):
        return amp and device.type == "cuda"
    raise ValueError(f'"amp" must be \'auto\', True or False; got {amp!r}')


def autocast(enabled: bool, device: torch.device):
    """A float16 autocast context on CUDA when ``enabled``, a no-op otherwise.

    Parameters
    ----------
    enabled : bool
        As :func:`use_amp` decides.
    device : torch.device

    Returns
    -------
    context manager

    Examples
    --------
    >>> import torch
    >>> with autocast(False, torch.device("cpu")):
    ...     (torch.ones(2) * 2).dtype
    torch.float32
    """
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16)

