"""Checks of the parameters that both estimators share, so that they are refused the same way.

Each check returns the value it accepts and raises a ``ValueError`` naming
the parameter, what it got and what is accepted.
"""

from __future__ import annotations

import numbers

from .devices import resolve_device

__all__ = ["check_batch_size", "check_count", "check_image_size", "check_shared"]

MIN_IMAGE_SIZE = 16


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_count(name, value, minimum):
    """An integer >= ``minimum``.

    Examples
    --------
    >>> check_count("epochs", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer >= 1, got 0
    """
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_image_size(value):
    """``None`` (the backbone's own size) or an integer >= 16; ``0`` is an error, not the default."""
    if value is None:
        return None
    if not _is_int(value) or value < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be None (the backbone's size) or an integer >= {MIN_IMAGE_SIZE}, "
                         f"got {value!r}")
    return int(value)


def check_batch_size(value, allow_auto=True):
    """A positive integer, or ``"auto"`` where the estimator chooses by device."""
    if allow_auto and isinstance(value, str) and value == "auto":
        return value
    if not _is_int(value) or value < 1:
        accepted = "'auto' or a positive integer" if allow_auto else "a positive integer"
        raise ValueError(f"batch_size must be {accepted}, got {value!r}")
    return int(value)


def check_shared(estimator, allow_auto_batch=True):
    """Check ``image_size``, ``batch_size``, ``device``, ``num_workers`` and ``on_error`` of an estimator."""
    from .images import check_on_error

    check_image_size(estimator.image_size)
    check_batch_size(estimator.batch_size, allow_auto_batch)
    check_count("num_workers", estimator.num_workers, 0)
    check_on_error(estimator.on_error)
    resolve_device(estimator.device)
