"""CNN features of image files on a dask cluster, as a dask DataFrame or a resumable Parquet dataset.

Built on :func:`hybridtl.core.run_partitions`: the fitted extractor is sent to each worker once,
each partition of paths becomes one task, and ``out=`` writes one Parquet file per partition,
atomically, so that a rerun after a crash computes only what is missing.
"""

from __future__ import annotations

from ..core import ON_ERROR, InstanceOf, Options, check_param, input_frame, run_partitions
from ..features import CNNFeatureExtractor, feature_frame_meta, features_of_partition, worker_copy

__all__ = ["extract_features"]


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
    frame = input_frame(images, partition_size)
    extractor = CNNFeatureExtractor() if extractor is None else extractor
    check_param("extractor", extractor, [InstanceOf(CNNFeatureExtractor, "a CNNFeatureExtractor")])
    on_error = check_param("on_error", extractor.on_error if on_error is None else on_error, [Options(ON_ERROR)])
    fitted = worker_copy(extractor)
    meta = feature_frame_meta(frame, fitted, on_error)
    return run_partitions(frame, (fitted, on_error), features_of_partition, meta=meta, client=client, out=out,
                          settings=_settings(fitted, on_error), progress=progress, desc="features")
