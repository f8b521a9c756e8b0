"""Features: a frozen CNN as a scikit-learn transformer, the frozen models it shares within a process, its
per-image cache, the CPU inference runtimes it runs on, and raw pixels as the no-transfer baseline.

Dask input to ``CNNFeatureExtractor.transform`` is computed partition by
partition; writing a resumable Parquet dataset is
:func:`hybridtl.scaleout.extract_features`.
"""

from ..core import POOLINGS, RUNTIMES
from ..devices import RuntimeFallbackWarning, installed_runtimes, runtime_summary
from ._cache import clear_memory
from ._extractor import INT8_AGREEMENT, CNNFeatureExtractor, PrecisionLossWarning
from ._pixels import PixelFeatures

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ..devices import compiled_runner as compiled_runner, resolve_runtime as resolve_runtime
from ._cache import FeatureCache as FeatureCache, image_key as image_key, resolve_cache as resolve_cache
from ._dask import (
    feature_frame_meta as feature_frame_meta,
    features_of_partition as features_of_partition,
    readable_paths as readable_paths,
    transform_dask as transform_dask,
    worker_copy as worker_copy,
)
from ._memo import placed as placed, weights_digest as weights_digest
from ._tables import feature_table as feature_table

for _public in (CNNFeatureExtractor, PixelFeatures, FeatureCache, PrecisionLossWarning):
    _public.__module__ = __name__  # saved files and pickles name the public home, not the private module
del _public

__all__ = ["INT8_AGREEMENT", "POOLINGS", "RUNTIMES", "CNNFeatureExtractor", "PixelFeatures", "PrecisionLossWarning",
           "RuntimeFallbackWarning", "clear_memory", "installed_runtimes", "runtime_summary"]
