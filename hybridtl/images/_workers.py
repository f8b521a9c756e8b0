"""Who decodes image files beside the network: threads, worker processes, or the caller alone.

``num_workers="auto"`` (the default everywhere images are read) decodes files
in a pool of threads, one per CPU this process may use, running a few batches
ahead of the network. PIL's decoders and torch's resize release the GIL, so
threads decode in parallel without the start-up and copying of worker
processes: on 2 cores, extraction from 12-MP phone photos ran at 70.5 img/s
with two threads, 52.9 with two DataLoader processes, 37.9 with one and 39.8
with none; from 448-px JPEGs at 276.7 img/s with threads, 132.1 with two
processes (their start-up costs more than they save) and 238.7 with none
(``docs/benchmarks.md``, phone photo folders). An integer asks for that many
DataLoader worker processes, as in PyTorch; 0 decodes in the caller's thread.

Training batches (random crops drawn from torch's global generator) are never
decoded in threads, whose order would make them differ run to run: they use
``num_workers`` processes when given a number, else the caller alone (fine-tuning
decodes its files once before the first epoch anyway, see :mod:`._decoded`).
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch

__all__ = ["decoding", "each_item", "in_threads"]


def _usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def decoding(num_workers, n_files):
    """(worker processes, threads) that decode a pass over ``n_files`` files.

    Examples
    --------
    >>> decoding(3, 100), decoding(0, 100), decoding("auto", 1)
    ((3, 0), (0, 0), (0, 0))
    """
    if num_workers != "auto":
        return int(num_workers), 0
    return 0, (_usable_cpus() if n_files >= 2 else 0)


def in_threads(function, items, threads, ahead):
    """``function(item)`` for each of ``items``, in order, computed by ``threads`` threads at most ``ahead``
    items ahead of the consumer (so memory stays bounded); an exception comes out where its item would."""
    items = iter(items)
    with ThreadPoolExecutor(threads, thread_name_prefix="hybridtl-decode") as pool:
        pending = deque(pool.submit(function, item) for item in itertools.islice(items, ahead))
        while pending:
            result = pending.popleft().result()
            for item in itertools.islice(items, 1):
                pending.append(pool.submit(function, item))
            yield result


def each_item(dataset, num_workers, n_files):
    """``dataset[i]`` for every ``i`` in order, one at a time: in threads for "auto", else in ``num_workers``
    DataLoader processes (0: in the caller)."""
    processes, threads = decoding(num_workers, n_files)
    if threads:
        return in_threads(dataset.__getitem__, range(len(dataset)), threads, ahead=4 * threads)
    # as the threads give them: without collate_fn, the DataLoader would turn numpy arrays into tensors
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=processes, collate_fn=_as_it_is)


def _as_it_is(sample):
    return sample
