"""CNN features of image files on a dask cluster, as a dask DataFrame or a resumable Parquet dataset.

Built on :mod:`hybridtl.partitions`: the fitted extractor is sent to each worker once, each
partition of paths becomes one task, and ``out=`` writes one Parquet file per partition,
atomically, so that a rerun after a crash computes only what is missing.
"""

from __future__ import annotations

import io

import numpy as np

from .decoding import read_image
from .images import check_on_error, find_unreadable
from .partitions import input_frame, run_partitions

__all__ = ["extract_features", "feature_frame_meta", "features_of_partition", "transform_dask"]


def _remote(path):
    return "://" in path  # file:// too: fsspec reads every URL


def _read_remote(paths, positions):
    """Decode ``paths`` (URLs) through fsspec: {position: tensor}, {position: error message}."""
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
            images[i] = read_image(io.BytesIO(data), where)
        except ValueError as exc:
            errors[i] = str(exc)
    return images, errors


def _readable(paths, on_error):
    """(items to extract, their positions, {position: error}) for one partition's paths.

    Local paths go to the extractor as they are (its own decoding, as fast as in one process);
    URLs are read through fsspec. With ``on_error="raise"`` the first unreadable file raises
    a ``ValueError`` naming it; with ``"skip"`` it is recorded instead.
    """
    remote = [i for i, p in enumerate(paths) if _remote(p)]
    decoded, errors = _read_remote(paths, remote) if remote else ({}, {})
    if errors and on_error == "raise":
        raise ValueError(next(iter(errors.values())))
    if on_error == "skip":
        local = [i for i, p in enumerate(paths) if not _remote(p)]
        for position, _, message in find_unreadable([paths[i] for i in local]):
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


def features_of_partition(part, payload):
    """One partition of paths -> path, [label], feature columns (float32)[, error]; index kept.

    ``payload`` is (extractor, on_error); the extractor's own ``on_error`` is "raise", since
    unreadable files are taken out (or raised) before it sees them.
    """
    import pandas as pd

    extractor, on_error = payload
    paths = part["path"].astype(str).tolist()
    names = extractor.get_feature_names_out()
    features = np.full((len(paths), len(names)), np.nan, dtype=np.float32)
    items, positions, errors = _readable(paths, on_error)
    if items:
        features[positions] = extractor.transform(items)
    out = pd.DataFrame(features, columns=names, index=part.index)
    head = part[[c for c in ("path", "label") if c in part.columns]]
    out = pd.concat([head, out], axis=1)
    if on_error == "skip":
        out["error"] = [errors.get(i, "") for i in range(len(paths))]
    return out


def feature_frame_meta(frame, extractor, on_error):
    """The empty pandas frame that describes :func:`features_of_partition`'s result."""
    import pandas as pd

    meta = frame._meta[[c for c in ("path", "label") if c in frame.columns]]
    features = pd.DataFrame(np.empty((0, extractor.n_features_out_), dtype=np.float32),
                            columns=extractor.get_feature_names_out(), index=meta.index)
    meta = pd.concat([meta, features], axis=1)
    if on_error == "skip":
        meta["error"] = pd.Series([], dtype=object, index=meta.index)
    return meta


def _worker_copy(extractor):
    """A fitted copy for the workers: no progress bar, no in-memory cache (each image is seen once),
    ``on_error="raise"`` (unreadable files are handled before it)."""
    from sklearn.utils.validation import check_is_fitted

    from .features import CNNFeatureExtractor

    if not isinstance(extractor, CNNFeatureExtractor):
        raise TypeError(f"extractor must be a CNNFeatureExtractor, got {type(extractor).__name__}")
    try:
        check_is_fitted(extractor, "model_")
        fitted = _shallow_copy(extractor)
    except Exception:
        fitted = _shallow_copy(extractor).fit()
    fitted.progress, fitted.cache, fitted.on_error = False, None, "raise"
    return fitted


def _settings(extractor, on_error):
    """What makes the features what they are: a rerun into the same ``out`` must match it."""
    return {"kind": "features", "backbone": extractor.backbone, "weights": str(extractor.weights_source_),
            "layer": extractor.layer, "pooling": extractor.pooling, "image_size": extractor.preprocess_.size,
            "on_error": on_error}


def extract_features(images, extractor=None, *, client=None, out=None, partition_size=1024, on_error=None,
                     progress=True):
    """CNN features of image files, computed partition by partition on a dask cluster.

    Parameters
    ----------
    images : dask DataFrame, dask Series, path, list, pandas Series or DataFrame
        A dask DataFrame with a ``path`` column (and optional ``label``), whose partitions are
        kept; the path of a Parquet or CSV manifest with those columns; or paths in memory.
        Paths may be local or fsspec URLs (``s3://``, ``gs://``, ``memory://``, ...).
    extractor : CNNFeatureExtractor, optional
        Fitted or not (it is fitted here); the default is ``CNNFeatureExtractor()``.
    client : distributed.Client, optional
        Where to run; default: the client running in this process, else this process alone.
    out : str or path, optional
        A folder (local or fsspec URL) for a Parquet dataset, one file per partition, each
        written atomically. A rerun into the same folder skips the partitions already written.
    partition_size : int, default=1024
        Images per partition for input given in memory or as a manifest.
    on_error : {"raise", "skip"}, optional
        Overrides the extractor's: raise a ``ValueError`` naming the unreadable file and its
        partition, or give it NaN features and its message in an ``error`` column.
    progress : bool, default=True
        A progress bar over partitions while writing ``out``.

    Returns
    -------
    dask.dataframe.DataFrame
        Columns ``path``, ``label`` when given, the float32 features named by
        ``extractor.get_feature_names_out()``, and ``error`` with ``on_error="skip"``.
        Lazy without ``out``; read back from the written files with it.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from PIL import Image
    >>> from hybridtl.features import CNNFeatureExtractor
    >>> folder = tempfile.mkdtemp()
    >>> paths = [os.path.join(folder, f"{i}.png") for i in range(3)]
    >>> for p in paths:
    ...     Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(p)
    >>> ext = CNNFeatureExtractor(weights=None, image_size=32, device="cpu")
    >>> frame = extract_features(paths, ext, partition_size=2, progress=False)
    >>> frame.npartitions, frame.compute().shape
    (2, (3, 1281))
    """
    from .features import CNNFeatureExtractor

    frame = input_frame(images, partition_size)
    extractor = CNNFeatureExtractor() if extractor is None else extractor
    on_error = check_on_error(extractor.on_error if on_error is None else on_error)
    fitted = _worker_copy(extractor)
    meta = feature_frame_meta(frame, fitted, on_error)
    return run_partitions(frame, (fitted, on_error), features_of_partition, meta=meta, client=client, out=out,
                          settings=_settings(fitted, on_error), progress=progress, desc="features")


def transform_dask(extractor, X):
    """``CNNFeatureExtractor.transform`` of a dask Series/DataFrame of paths: the lazy feature columns."""
    frame = input_frame(X)
    fitted = _worker_copy(extractor)
    names = list(fitted.get_feature_names_out())
    meta = feature_frame_meta(frame, fitted, extractor.on_error)[names]
    return run_partitions(frame, (fitted, extractor.on_error), _feature_columns, meta=meta)


def _feature_columns(part, payload):
    return features_of_partition(part, payload)[list(payload[0].get_feature_names_out())]

