"""A fitted object applied to a dask DataFrame partition by partition, into a resumable Parquet dataset.

This is the "parallel post-fit" pattern of dask-ml, in the few lines hybridtl needs (dask-ml itself
is not a dependency: its last release is old and it pulls in numba):

* the fitted object (an extractor, a pipeline) travels to every worker **once**, with
  ``Client.scatter(..., broadcast=True)``; each partition's task takes it from the worker's memory;
* one task per partition applies it and returns a pandas DataFrame;
* with ``out=``, each task writes its partition as ``part.NNNNN.parquet``, first under a hidden
  temporary name that readers ignore, then renamed, so no reader ever sees a half file. The file
  records a digest of the rows it was computed from; a rerun (after a crash or Ctrl-C) skips every
  partition whose file is there with the same digest and computes the rest.

The scheduler is always dask's own: a ``distributed.Client`` when one is given or running, else
this process. Output folders may be local or any fsspec URL (``s3://``, ``gs://``, ``memory://``).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass

from ._progress import progress_bar
from ._urls import is_url
from ._validation import Interval, check_param

__all__ = ["PART_NAME", "SETTINGS_NAME", "default_client", "input_frame", "is_dask_collection", "run_partitions"]

PART_NAME = "part.{:05d}.parquet"
# dask and pyarrow skip names that start with "_" or ".": the settings file and temporary files
SETTINGS_NAME = "_hybridtl.json"
_DIGEST_KEY = b"hybridtl.rows_digest"


def is_dask_collection(X):
    """Whether ``X`` is a dask DataFrame or Series (without importing dask when it is not loaded)."""
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr")


def _need_dask():
    try:
        import dask.dataframe  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("distributed work needs dask and pyarrow: pip install 'hybridtl[dask]'") from None


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def _manifest(path, partition_size):
    """A Parquet (file or dataset folder) or CSV manifest with a ``path`` column, as a dask DataFrame."""
    import dask.dataframe as dd

    text = str(path)
    lower = text.lower().rstrip("/")
    local = not is_url(text)
    if lower.endswith(".csv"):
        if local and not os.path.isfile(text):
            raise ValueError(f"manifest {text!r} not found")
        frame = dd.read_csv(text, dtype={"path": str})
    elif lower.endswith(".parquet") or (local and os.path.isdir(text)):
        if local and not os.path.exists(text):
            raise ValueError(f"manifest {text!r} not found")
        frame = dd.read_parquet(text)
    else:
        raise ValueError(f"manifest {text!r}: give a .csv or .parquet file (or a Parquet dataset folder) with a "
                         "'path' column")
    if "path" not in frame.columns:
        raise ValueError(f"manifest {text!r} has no 'path' column (columns: {list(frame.columns)[:8]})")
    frame = frame[[c for c in ("path", "label") if c in frame.columns]]
    if local and lower.endswith(".csv"):  # relative paths are relative to the manifest, as for load_data
        base = os.path.dirname(os.path.abspath(text))
        frame["path"] = frame["path"].map(lambda p: p if is_url(p) or os.path.isabs(p) else os.path.join(base, p),
                                          meta=("path", object))
    n = len(frame)
    if n == 0:
        raise ValueError(f"manifest {text!r} has no rows")
    return frame.repartition(npartitions=max(1, -(-n // partition_size)))


def input_frame(images, partition_size=1024):
    """``images`` as a dask DataFrame with a ``path`` column (and ``label`` when given).

    Accepted: a dask DataFrame with a ``path`` column (its partitions are kept), a dask Series of
    paths, the path of a Parquet/CSV manifest, a list, array or pandas Series of paths, or a pandas
    DataFrame with a ``path`` column; in-memory input is cut into partitions of ``partition_size``.
    """
    _need_dask()
    import dask.dataframe as dd
    import pandas as pd

    check_param("partition_size", partition_size, [Interval("integer", 1, None)])
    if is_dask_collection(images):
        if getattr(images, "ndim", 2) == 1:
            return images.rename("path").to_frame()
        if "path" not in images.columns:
            raise ValueError(f"the dask DataFrame has no 'path' column (columns: {list(images.columns)[:8]})")
        return images
    if isinstance(images, (str, os.PathLike)):
        return _manifest(images, partition_size)
    if isinstance(images, pd.DataFrame):
        if "path" not in images.columns:
            raise ValueError(f"the DataFrame has no 'path' column (columns: {list(images.columns)[:8]})")
        table = images[[c for c in ("path", "label") if c in images.columns]]
    elif isinstance(images, (list, tuple, pd.Series)) or getattr(images, "ndim", None) == 1:
        table = pd.DataFrame({"path": [os.fspath(p) if isinstance(p, os.PathLike) else p for p in images]})
    else:
        raise TypeError(f"images has type {type(images).__name__}; accepted: a dask DataFrame with a 'path' column, "
                        "a dask Series, a Parquet/CSV manifest path, or a list/Series/DataFrame of image paths")
    if table.empty:
        raise ValueError("images is empty: give at least one image path")
    if not all(isinstance(p, str) for p in table["path"]):
        raise TypeError("distributed work reads image files: every entry of 'path' must be a path string "
                        "(arrays in memory: use transform in one process)")
    return dd.from_pandas(table.reset_index(drop=True), chunksize=partition_size, sort=False)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _filesystem(out):
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(str(out))
    return fs, root.rstrip("/")


def rows_digest(part):
    """A digest of a partition's paths: the same rows give the same file name and digest."""
    digest = hashlib.sha1(str(len(part)).encode())
    for path in part["path"].astype(str):
        digest.update(path.encode() + b"\0")
    return digest.hexdigest().encode()


def _written(fs, target, digest):
    import pyarrow.parquet as pq

    if not fs.exists(target):
        return False
    try:
        with fs.open(target, "rb") as f:
            metadata = pq.read_schema(f).metadata or {}
    except Exception:  # an unreadable file from elsewhere: compute it again
        return False
    return metadata.get(_DIGEST_KEY) == digest


def _write_atomic(fs, target, frame, digest):
    """Write a hidden temporary file, then rename it onto ``target``: readers see all of it or nothing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _DIGEST_KEY: digest})
    folder, name = target.rsplit("/", 1)
    tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(tmp, "wb") as f:
            pq.write_table(table, f)
        fs.mv(tmp, target)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)


def _check_settings(fs, root, settings):
    """The output folder is new, or holds results of the same settings (then a rerun resumes)."""
    path = f"{root}/{SETTINGS_NAME}"
    wanted = json.dumps(settings, sort_keys=True, default=str)
    if fs.exists(path):
        with fs.open(path, "r") as f:
            found = f.read()
        if found != wanted:
            raise ValueError(f"out {root!r} holds results of other settings ({found[:200]}); give a new folder, "
                             "or delete it to start again")
        return
    if fs.exists(root) and any(not os.path.basename(p).startswith((".", "_")) for p in fs.ls(root, detail=False)):
        raise ValueError(f"out {root!r} is a folder with other files in it; give a new or empty folder")
    fs.makedirs(root, exist_ok=True)
    tmp = f"{root}/.{SETTINGS_NAME}.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "w") as f:
        f.write(wanted)
    fs.mv(tmp, path)


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


@dataclass
class _Done:
    """What a partition's task returns when it wrote a file: small, whatever the partition held."""

    index: int
    rows: int
    resumed: bool


@dataclass
class _Failed:
    """A foreseeable failure (an unreadable file, a bad value), returned rather than raised so that
    the worker does not log the whole traceback: the client raises it with the partition's number."""

    error: BaseException


def _task(part, payload, apply, index, out):
    if out is None:
        return apply(part, payload)
    fs, root = _filesystem(out)
    target = f"{root}/{PART_NAME.format(index)}"
    digest = rows_digest(part)
    if _written(fs, target, digest):
        return _Done(index, len(part), True)
    try:
        result = apply(part, payload)
    except (ValueError, TypeError) as exc:
        return _Failed(exc)
    _write_atomic(fs, target, result, digest)
    return _Done(index, len(part), False)


def default_client(client=None):
    """The given client, else the one running in this process (if distributed is installed), else None."""
    if client is not None:
        return client
    try:
        from distributed import default_client as running_client
    except ImportError:
        return None
    try:
        return running_client()
    except ValueError:
        return None


def run_partitions(frame, payload, apply, *, meta, client=None, out=None, settings=None, progress=True,
                   desc="partitions"):
    """``apply(partition, payload)`` on every partition of ``frame``.

    Returns a lazy dask DataFrame (``out=None``) or, once every partition is written to ``out``,
    ``dask.dataframe.read_parquet(out)``. A failing partition raises a ``ValueError`` that names the
    partition and carries the worker's own message (e.g. the unreadable file), not dask's traceback.
    """
    import dask
    import dask.dataframe as dd

    client = default_client(client)
    if client is not None:
        shared = client.scatter(payload, broadcast=True, hash=False)  # unpickled once per worker
    else:
        shared = dask.delayed(payload, pure=True)  # one key in the graph: loaded once per process
    parts = frame.to_delayed()
    if out is not None:
        fs, root = _filesystem(out)
        _check_settings(fs, root, settings or {})
        out = str(out)
    tasks = [dask.delayed(_task, pure=False)(part, shared, apply, k, out) for k, part in enumerate(parts)]
    if out is None:
        return dd.from_delayed(tasks, meta=meta, verify_meta=False)
    _compute_all(tasks, client, progress, desc)
    return dd.read_parquet(out)


def _compute_all(tasks, client, progress, desc):
    bar = progress_bar(total=len(tasks), progress=progress, unit="part", desc=desc)
    try:
        if client is None:
            for k, task in enumerate(tasks):
                _one_result(k, lambda: task.compute(scheduler="synchronous"))
                bar.update()
            return
        from distributed import as_completed

        futures = client.compute(tasks)
        index = {f.key: k for k, f in enumerate(futures)}
        failures = []
        try:
            for future in as_completed(futures, loop=client.loop):
                try:
                    _one_result(index[future.key], future.result)
                except (ValueError, TypeError) as exc:  # the others go on: their files are kept for a rerun
                    failures.append((index[future.key], exc))
                bar.update()
        finally:
            client.cancel([f for f in futures if not f.done()])  # after Ctrl-C
        if failures:
            k, first = min(failures, key=lambda failure: failure[0])
            more = f" ({len(failures)} of {len(tasks)} partitions failed" if len(failures) > 1 else \
                " (1 partition failed"
            raise type(first)(f"{first}{more}; the rest are written and a rerun computes only the failed ones)")
    finally:
        bar.close()


def _one_result(k, get):
    try:
        result = get()
        if isinstance(result, _Failed):
            raise result.error
        return result
    except (ValueError, TypeError) as exc:
        message = f"partition {k}: {exc}"
        try:
            renamed = type(exc)(message)
        except Exception:  # an exception type with other constructor arguments
            renamed = ValueError(message)
        raise renamed from None
    except OSError as exc:
        raise ValueError(f"partition {k}: {type(exc).__name__}: {exc}") from None
