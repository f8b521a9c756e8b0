"""Scaling out on dask: features of image files written partition by partition, XGBoost trained across a
cluster, any fitted model predicting partition by partition, and connecting to a cluster.

Fine-tuning across processes and GPUs (torchrun, DDP) is part of :mod:`hybridtl.finetune`.
"""

from ..heads import DaskLabelXGBClassifier
from ._clusters import connect, local_cluster, worker_environment
from ._extraction import extract_features
from ._predictions import predict_partitions

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._predictions import (
           predict_features_partition as predict_features_partition,
           predict_images_partition as predict_images_partition,
)

__all__ = ["DaskLabelXGBClassifier", "connect", "extract_features", "local_cluster", "predict_partitions",
           "worker_environment"]
