"""scikit-learn's own estimator checks, on tiny settings.

The checks feed 2-D numeric tables (n_samples, n_features). Image estimators
reject those on purpose, with a ValueError that asks for images, so every
check that must fit or transform such a table cannot apply; each one is
listed below as an expected failure, and its reason names the image-shaped
equivalent in :mod:`hybridtl.evaluation` that tests the same property on
images (``tests/test_image_checks.py``), or why none applies. Every other
check (parameters, cloning, pickling of unfitted estimators, tags, ...) must pass.
check_array_api_input is left out: it converts numeric tables between array
libraries (the array API standard), which does not apply to images, and
scikit-learn itself would skip it unless SCIPY_ARRAY_API=1 is set.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hybridtl.features import CNNFeatureExtractor
from hybridtl.finetune import FineTuneClassifier

NEEDS_TABLES = "fits or transforms a 2-D numeric table; image estimators take images (n, h, w[, c]) and reject tables"

# Each of these fits (or transforms) a 2-D table such as rnd.uniform(size=(10, 3)) before it can
# check anything; with images in its place the property it checks holds (see the other tests).
_TABLE_CHECKS = [
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_estimators_pickle(readonly_memmap=True)",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
]
_TABLE_CHECKS_TRANSFORMER = [
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_general(readonly_memmap=True)",
    "check_transformer_preserve_dtypes",
]
_TABLE_CHECKS_CLASSIFIER = [
    "check_class_weight_classifiers",
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_train",
    "check_classifiers_train(readonly_memmap=True)",
    "check_classifiers_train(readonly_memmap=True,X_dtype=float32)",
    "check_supervised_y_2d",
]


def expected_failures(estimator):
    from hybridtl.evaluation import EQUIVALENTS

    extra = _TABLE_CHECKS_CLASSIFIER if isinstance(estimator, FineTuneClassifier) else _TABLE_CHECKS_TRANSFORMER
    return {name: f"{NEEDS_TABLES}; on images: {EQUIVALENTS[name]}" for name in _TABLE_CHECKS + extra}


ESTIMATORS = [
    CNNFeatureExtractor(image_size=16, device="cpu", batch_size=8),
    FineTuneClassifier(epochs=1, image_size=16, device="cpu", progress=False, batch_size=8, random_state=0),
]


def _check_name(param):
    values = param.values if hasattr(param, "values") else param
    return values[1].func.__name__


_ALL = parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
_APPLICABLE = [p for p in _ALL.args[1] if _check_name(p) != "check_array_api_input"]


@pytest.mark.parametrize(_ALL.args[0], _APPLICABLE, **_ALL.kwargs)
def test_sklearn_compatible(estimator, check):
    check(estimator)
