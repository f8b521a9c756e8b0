"""Where models run: the device, mixed precision, and backing off when the GPU runs out of memory."""

from ._memory import BatchBackOff, halving_batches, retry_halving
from ._placement import autocast, resolve_device, use_amp

__all__ = ["BatchBackOff", "autocast", "halving_batches", "resolve_device", "retry_halving", "use_amp"]
