"""CUDA out-of-memory back-off: halve the batch size and retry, warn once, fail clearly at 1."""

from __future__ import annotations

import warnings

import torch

__all__ = ["BatchBackOff", "halving_batches", "retry_halving"]


class BatchBackOff:
    """A batch size that halves on each CUDA out-of-memory error; one warning per run.

    Keep one across epochs so that a size that once ran out of memory is not tried again.

    Parameters
    ----------
    batch_size : int
        The size to start with.
    what : str
        What runs (``"fit"``, ``"transform"``), for the warning and the error.

    Examples
    --------
    >>> backoff = BatchBackOff(32, "fit")
    >>> backoff.call(lambda size: size * 2)
    64
    """

    def __init__(self, batch_size, what):
        self.batch_size, self.what, self.warned = int(batch_size), what, False

    def halve(self):
        if self.batch_size <= 1:
            raise MemoryError(
                f"CUDA out of memory during {self.what} even at batch size 1; free GPU memory, "
                "use a smaller image_size, or device='cpu'"
            )
        self.batch_size = max(1, self.batch_size // 2)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if not self.warned:
            warnings.warn(f"CUDA out of memory during {self.what}: retrying with batch_size={self.batch_size}",
                          RuntimeWarning, stacklevel=4)
            self.warned = True

    def call(self, fn):
        """``fn(batch_size)``, retried with half the batch size on each CUDA out-of-memory error."""
        while True:
            try:
                return fn(self.batch_size)
            except torch.cuda.OutOfMemoryError:
                self.halve()


def halving_batches(run, n_items, batch_size, what):
    """Yield ``(positions, outputs)`` over items ``0 .. n_items - 1`` in order.

    ``run(part, batch_size)`` yields one output array per batch for the items
    in the slice ``part``. On CUDA out-of-memory the batch size is halved and
    the run resumes from the first item without an output.

    Parameters
    ----------
    run : callable
        ``run(part, batch_size)``, a generator of one output per batch.
    n_items : int
    batch_size : int
        The size to start with.
    what : str
        What runs, for the warning and the error.

    Yields
    ------
    positions : slice
        The items of this output.
    outputs : array
        What ``run`` gave for them.

    Examples
    --------
    >>> import numpy as np, torch
    >>> def run(part, batch_size):
    ...     items = np.arange(10)[part]
    ...     for i in range(0, len(items), batch_size):
    ...         if batch_size > 2:
    ...             raise torch.cuda.OutOfMemoryError("pretend")
    ...         yield items[i : i + batch_size] * 10
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     [o.tolist() for _, o in halving_batches(run, 5, 8, "a test")]
    [[0, 10], [20, 30], [40]]
    """
    backoff = BatchBackOff(batch_size, what)
    done = 0
    while done < n_items:
        try:
            for outputs in run(slice(done, n_items), backoff.batch_size):
                positions = slice(done, done + len(outputs))
                done += len(outputs)
                yield positions, outputs
        except torch.cuda.OutOfMemoryError:
            backoff.halve()


def retry_halving(fn, batch_size, what):
    """Call ``fn(batch_size)``, halving the batch size on each CUDA out-of-memory error.

    Parameters
    ----------
    fn : callable
        ``fn(batch_size)``.
    batch_size : int
        The size to start with.
    what : str
        What runs, for the warning and the error.

    Returns
    -------
    object
        What ``fn`` returned.

    Raises
    ------
    MemoryError
        Out of memory even at batch size 1.

    Examples
    --------
    >>> retry_halving(lambda size: f"ran at {size}", 16, "predict")
    'ran at 16'
    """
    return BatchBackOff(batch_size, what).call(fn)
