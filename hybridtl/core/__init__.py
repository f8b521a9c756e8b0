"""The bottom layer: what every other part of hybridtl builds on, importing none of them and no torch.

The documented part is the validation vocabulary: constraints as data, one
checker (:func:`validate_params`), one error (:class:`InvalidParameterError`),
one message shape, and every option list, defined once. The rest is shared
with hybridtl's other packages: atomic file writes, class labels, fitted torch
weights in pickles and safe files, a fitted object applied to a dask DataFrame
partition by partition, and the one test for a URL.
"""

from ._options import (
    AUGMENTS,
    BN_POLICIES,
    DECODES,
    DEVICES,
    GRID_MODES,
    HEADS,
    LR_SCHEDULES,
    ON_ERROR,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    RUNTIMES,
    SCORINGS,
    STEP_EVERY,
    STRATEGIES,
)
from ._validation import (
    IMAGE_ESTIMATOR_CONSTRAINTS,
    MIN_IMAGE_SIZE,
    Boolean,
    Callable,
    DeviceName,
    InstanceOf,
    Interval,
    InvalidParameterError,
    Options,
    check_param,
    image_size_constraint,
    validate_params,
)

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._atomic import atomic_path as atomic_path, check_writable as check_writable, save_figure as save_figure
from ._durations import format_duration as format_duration, parse_duration as parse_duration
from ._labels import (
    align_labels as align_labels,
    check_two_classes as check_two_classes,
    encode_labels as encode_labels,
    labels_from_proba as labels_from_proba,
)
from ._metrics import (
    bootstrap_sd as bootstrap_sd,
    expected_calibration_error as expected_calibration_error,
    score_proba as score_proba,
    validation_metrics as validation_metrics,
)
from ._partitions import (
    PART_NAME as PART_NAME,
    SETTINGS_NAME as SETTINGS_NAME,
    default_client as default_client,
    input_frame as input_frame,
    is_dask_collection as is_dask_collection,
    run_partitions as run_partitions,
)
from ._progress import progress_bar as progress_bar
from ._urls import is_url as is_url
from ._weights_pickle import CPUWeightsPickle as CPUWeightsPickle, weights_apart as weights_apart

__all__ = [
    "AUGMENTS", "BN_POLICIES", "DECODES", "DEVICES", "GRID_MODES", "HEADS", "IMAGE_ESTIMATOR_CONSTRAINTS",
    "LR_SCHEDULES", "MIN_IMAGE_SIZE", "ON_ERROR", "OPTIMIZERS", "POOLINGS", "PRECISIONS", "RUNTIMES", "SCORINGS",
    "STEP_EVERY", "STRATEGIES", "Boolean", "Callable", "DeviceName",
    "InstanceOf", "Interval", "InvalidParameterError", "Options", "check_param", "image_size_constraint",
    "validate_params",
]
