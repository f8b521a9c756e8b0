"""CNN features of image files, one dask partition at a time: what each worker runs.

The extractor's ``transform`` of a dask collection and
:func:`hybridtl.scaleout.extract_features` both apply :func:`features_of_partition`
through :func:`hybridtl.core.run_partitions`: the fitted extractor travels to each
worker once, local paths are decoded by the extractor as in one process, URLs
are read through fsspec.
"""

from __future__ import annotations

import io

import numpy as np

from ..core import input_frame, is_url, run_partitions
from ..images import find_unreadable, open_pixels
from ._tables import feature_table

__all__ = ["feature_frame_meta", "features_of_partition", "readable_paths", "transform_dask", "worker_copy"]


def _read_remote(paths, positions, min_side=None):
    """Decode ``paths`` (URLs) through fsspec: {position: pixels}, {position: error message}."""
    import fsspec

    images, errors = {}, {}
    opened = fsspec.open_files([paths[i] for i in positions], "rb")
    for i, handle in zip(positions, opened):
        where = f"image {i} ({paths[i]})"
        try:
            with handle as f:
                data = f.read()
        except (OSError, ValueError) as exc:  # FileNotFoundError, permissions, network
            errors[i] = f"{where}: cannot be opened ({type(exc).__name__}: {exc})"
            continue
        try:
            images[i] = open_pixels(io.BytesIO(data), where, min_side)
        except ValueError as exc:
            errors[i] = str(exc)
    return images, errors


def readable_paths(paths, on_error, min_side=None):
    """(items to extract, their positions, {position: error}) for one partition's paths.

    Local paths go to the extractor as they are (its own decoding, as fast as in one process);
    URLs are read through fsspec, decoded at least ``min_side`` on the shorter side when given
    (the model's ``decode="fast"``). With ``on_error="raise"`` the first unreadable file raises
    a ``ValueError`` naming it; with ``"skip"`` it is recorded instead.
    """
    remote = [i for i, p in enumerate(paths) if is_url(p)]
    decoded, errors = _read_remote(paths, remote, min_side) if remote else ({}, {})
    if errors and on_error == "raise":
        raise ValueError(next(iter(errors.values())))
    if on_error == "skip":
        local = [i for i, p in enumerate(paths) if not is_url(p)]
        for position, _, message in find_unreadable([paths[i] for i in local], min_side=min_side):
            errors[local[position]] = message.replace(f"image {position} ", f"image {local[position]} ", 1)
    positions = [i for i in range(len(paths)) if i not in errors]
    items = [decoded.get(i, paths[i]) for i in positions]
    return items, positions, errors


def _shallow_copy(estimator):
    """A copy sharing the fitted model. ``copy.copy`` would go through ``__getstate__`` /
    ``__setstate__``, which rebuild the network from its weights (right for pickling, slow here)."""
    new = object.__new__(type(estimator))
    new.__dict__.update(estimator.__dict__)
    return new


def worker_copy(extractor):
    """A fitted copy for the workers: no progress bar, no in-memory cache (each image is seen once),
    ``on_error="raise"`` (unreadable files are handled before it), decoding in the worker's own process
    (dask runs one partition per thread; a worker process may not start DataLoader processes)."""
    fitted = _shallow_copy(extractor if hasattr(extractor, "model_") else extractor.fit())
    fitted.progress, fitted.cache, fitted.on_error, fitted.num_workers = False, None, "raise", 0
    return fitted


def features_of_partition(part, payload):
    """One partition of paths -> path, [label], feature columns (float32)[, error]; index kept.

    ``payload`` is (extractor, on_error); the extractor's own ``on_error`` is "raise", since
    unreadable files are taken out (or raised) before it sees them.
    """
    extractor, on_error = payload
    paths = part["path"].astype(str).tolist()
    names = extractor.get_feature_names_out()
    features = np.full((len(paths), len(names)), np.nan, dtype=np.float32)
    items, positions, errors = readable_paths(paths, on_error, extractor.preprocess_.min_side)
    if items:
        features[positions] = extractor.transform(items)
    errors = [errors.get(i, "") for i in range(len(paths))] if on_error == "skip" else None
    return feature_table(features, names, part["path"], part.get("label"), errors, index=part.index)


def feature_frame_meta(frame, extractor, on_error):
    """The empty pandas frame that describes :func:`features_of_partition`'s result."""
    meta = frame._meta  # noqa: SLF001 - dask's documented empty-frame description of a collection
    names = extractor.get_feature_names_out()
    return feature_table(np.empty((0, len(names)), dtype=np.float32), names, meta["path"], meta.get("label"),
                         [] if on_error == "skip" else None, index=meta.index)


def transform_dask(extractor, X):
    """``CNNFeatureExtractor.transform`` of a dask Series/DataFrame of paths: the lazy feature columns."""
    frame = input_frame(X)
    fitted = worker_copy(extractor)
    names = list(fitted.get_feature_names_out())
    meta = feature_frame_meta(frame, fitted, extractor.on_error)[names]
    return run_partitions(frame, (fitted, extractor.on_error), _feature_columns, meta=meta)


def _feature_columns(part, payload):
    return features_of_partition(part, payload)[list(payload[0].get_feature_names_out())]
