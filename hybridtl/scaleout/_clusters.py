"""Connecting to a dask cluster from the command line: an address, or ``local`` for this machine.

hybridtl never schedules work itself: it runs on whatever dask cluster it is given (a
``LocalCluster`` here, ``dask-jobqueue`` on HPC, the Dask Kubernetes operator, or one worker per
GPU with dask-cuda). See the docs' "Scaling out".
"""

from __future__ import annotations

import contextlib
import logging
import os

__all__ = ["connect", "local_cluster", "worker_environment"]


def local_cluster(n_workers=None, threads_per_worker=1, memory_limit="auto"):
    """A ``LocalCluster`` sized to this machine: by default one single-threaded worker process per core.

    Each worker's PyTorch and OpenVINO get its share of the cores, so workers do not fight over
    them (see :func:`worker_environment`).

    Parameters
    ----------
    n_workers : int, optional
        Default: one per core.
    threads_per_worker : int, default=1
    memory_limit : str or int, default="auto"

    Returns
    -------
    distributed.LocalCluster

    Examples
    --------
    >>> from distributed import Client
    >>> with local_cluster(n_workers=1) as cluster, Client(cluster) as client:
    ...     len(client.scheduler_info()["workers"])
    1
    """
    import dask
    from distributed import LocalCluster

    cores = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    n_workers = n_workers or cores
    with dask.config.set(worker_environment(max(1, cores // (n_workers * threads_per_worker)))):
        return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                            memory_limit=memory_limit, dashboard_address=None, silence_logs=logging.ERROR)


def worker_environment(threads):
    """dask config for CNN workers: ``threads`` for PyTorch / OpenVINO / BLAS, and glibc's own malloc trimming.

    distributed's default is 1 thread, and it sets ``MALLOC_TRIM_THRESHOLD_=65536`` to hand
    memory back sooner; any fixed value also stops glibc adapting its mmap threshold, so the
    large image and activation buffers are mapped and unmapped for every batch: measured here,
    one thread extracted 50 instead of 64 images/s with it (``benchmarks/distributed.py``).

    Parameters
    ----------
    threads : int
        Threads per worker process.

    Returns
    -------
    dict
        Keys of ``dask.config``, for ``dask.config.set``.

    Examples
    --------
    >>> worker_environment(4)["distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS"]
    '4'
    """
    key = "distributed.nanny.pre-spawn-environ"
    values = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return {f"{key}.{name}": value for name, value in {**values, "MALLOC_TRIM_THRESHOLD_": None}.items()}


@contextlib.contextmanager
def connect(address):
    """A ``distributed.Client`` for ``address`` (``tcp://host:8786``, ``host:8786`` or ``local``), closed after.

    Parameters
    ----------
    address : str
        A scheduler's address, or ``"local"`` for a :func:`local_cluster` on this machine.

    Returns
    -------
    context manager
        Yields the client.

    Raises
    ------
    ValueError
        distributed is not installed, or the scheduler cannot be reached (in one line).

    Examples
    --------
    >>> with connect("local") as client:
    ...     type(client).__name__
    'Client'
    """
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--dask needs dask's distributed scheduler: pip install 'hybridtl[dask]'") from None
    if address == "local":
        with local_cluster() as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot reach the dask scheduler at {address!r} ({type(exc).__name__}: {exc}); "
                         "give its address (tcp://host:8786) or 'local'") from None
    with client:
        yield client
