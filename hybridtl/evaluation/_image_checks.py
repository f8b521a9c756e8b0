"""scikit-learn's estimator checks, shaped for images: any image estimator can run them.

``sklearn.utils.estimator_checks`` feeds 2-D numeric tables, which image
estimators reject, so those checks cannot say whether the properties they
guard hold for images. Each check here tests the same property on image
input (``(n, h, w, 3)`` uint8 arrays and lists of them). :data:`EQUIVALENTS`
maps every scikit-learn check that needs a table to its image-shaped
equivalent here, or to the reason it cannot apply.

Examples
--------
>>> from hybridtl.features import CNNFeatureExtractor
>>> names = [check.__name__ for check in image_checks(CNNFeatureExtractor())]
>>> "check_sample_order_invariance" in names and "check_classes" not in names
True
"""

from __future__ import annotations

import pickle
import tempfile

import joblib
import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils.validation import check_is_fitted

from ..images import load_digits_images
from ..serialization import load, save

__all__ = ["EQUIVALENTS", "image_checks", "make_images"]

ATOL = 1e-5  # the same images in other batches may round differently in the last bits


def make_images(n_per_class=8, size=16, seed=0):
    """Small real images and string labels: scikit-learn's digits 0, 1, 2 as RGB uint8 (n, size, size, 3).

    Parameters
    ----------
    n_per_class : int, default=8
    size : int, default=16
        Side in pixels, a multiple of 8.
    seed : int, default=0
        Seed of the order.

    Returns
    -------
    X : numpy.ndarray of uint8, shape (3 * n_per_class, size, size, 3)
    y : numpy.ndarray of str

    Examples
    --------
    >>> X, y = make_images()
    >>> X.shape, sorted(set(y.tolist()))
    ((24, 16, 16, 3), ['digit_0', 'digit_1', 'digit_2'])
    """

    X, y = load_digits_images()
    keep = np.concatenate([np.flatnonzero(y == c)[:n_per_class] for c in (0, 1, 2)])
    keep = np.random.default_rng(seed).permutation(keep)
    images = np.repeat(np.repeat(X[keep], size // 8, axis=1), size // 8, axis=2)
    return np.repeat(images[..., None], 3, axis=3), np.array([f"digit_{v}" for v in y[keep]])


def _output(estimator, X):
    return estimator.predict_proba(X) if is_classifier(estimator) else estimator.transform(X)


def _fitted(estimator, X, y):
    return clone(estimator).fit(X, y)


def _state_hash(estimator):
    return joblib.hash(pickle.dumps(estimator))


# -- checks for every image estimator --------------------------------------------------------------


def check_fit_returns_self(estimator, X, y):
    fresh = clone(estimator)
    assert fresh.fit(X, y) is fresh


def check_not_fitted_until_fit(estimator, X, y):
    fresh = clone(estimator)
    try:
        _output(fresh, X)
    except NotFittedError:
        pass
    else:
        raise AssertionError("an unfitted estimator must raise NotFittedError")
    check_is_fitted(fresh.fit(X, y))


def check_fit_idempotent(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    first = _output(fitted, X)
    np.testing.assert_allclose(_output(fitted.fit(X, y), X), first, atol=ATOL)


def _leaf_params(estimator):
    """Parameter values, nested ones included, less the sub-estimators themselves (which fit changes)."""
    return {k: v for k, v in estimator.get_params().items() if not hasattr(v, "get_params") and k != "steps"}


def check_parameters_unchanged_by_fit(estimator, X, y):
    fresh = clone(estimator)
    before = joblib.hash(_leaf_params(fresh))
    public = set(vars(fresh))
    fresh.fit(X, y)
    assert joblib.hash(_leaf_params(fresh)) == before, "fit changed a parameter"
    added = {k for k in set(vars(fresh)) - public if not k.endswith("_") and not k.startswith("_")}
    assert not added, f"fit added public attributes that are not fitted state: {added}"


def check_state_unchanged_by_predict(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    before = _state_hash(fitted)
    _output(fitted, X)
    if is_classifier(fitted):
        fitted.predict(X)
    assert _state_hash(fitted) == before, "transform / predict changed the estimator"


def check_pickle_and_safe_file(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    expected = _output(fitted, X)
    np.testing.assert_array_equal(_output(pickle.loads(pickle.dumps(fitted)), X), expected)
    with tempfile.TemporaryDirectory() as folder:
        save(fitted, f"{folder}/model.hybridtl")
        np.testing.assert_array_equal(_output(load(f"{folder}/model.hybridtl"), X), expected)


def check_readonly_memmap(estimator, X, y):
    with tempfile.TemporaryDirectory() as folder:
        np.save(f"{folder}/X.npy", X)
        mapped = np.load(f"{folder}/X.npy", mmap_mode="r")
        fitted = _fitted(estimator, mapped, y)
        np.testing.assert_allclose(_output(fitted, mapped), _output(fitted, X), atol=ATOL)
        del mapped


def check_f_contiguous(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    np.testing.assert_allclose(_output(fitted, np.asfortranarray(X)), _output(fitted, X), atol=ATOL)


def _exact_params(estimator):
    """``decode="exact"`` for the estimator and every step that takes ``decode``."""
    return {name: "exact" for name in estimator.get_params() if name.split("__")[-1] == "decode"}


def check_dtypes(estimator, X, y):
    """The same images as integers of any dtype or as floats in [0, 1] give the same output: to 1e-4 where
    pixels are resized as floats (``decode="exact"``). With ``decode="fast"`` 8-bit pixels are resized as
    uint8 and rounded to whole levels, so integers agree with integers and floats with floats; half a
    level bounds the two apart on the pixels (``tests/test_images.py``)."""
    exact = clone(estimator).set_params(**_exact_params(estimator))
    for candidate in (exact, estimator) if _exact_params(estimator) else (exact,):
        fitted = _fitted(candidate, X, y)
        expected = _output(fitted, X)
        np.testing.assert_allclose(_output(fitted, X.astype(np.int64)), expected, atol=ATOL)
        as_float = _output(fitted, (X / 255.0).astype(np.float64))
        np.testing.assert_allclose(_output(fitted, (X / 255.0).astype(np.float32)), as_float, atol=1e-4)
        if candidate is exact:
            np.testing.assert_allclose(as_float, expected, atol=1e-4)


def check_object_and_list_input(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    expected = _output(fitted, X)
    as_objects = np.empty(len(X), dtype=object)
    as_objects[:] = list(X)
    np.testing.assert_allclose(_output(fitted, as_objects), expected, atol=ATOL)
    np.testing.assert_allclose(_output(fitted, list(X)), expected, atol=ATOL)
    _raises(lambda: _output(fitted, np.array(["not", "an", "image"], dtype=object)), (ValueError, TypeError))


def check_nan_inf_refused(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    for bad in (np.nan, np.inf):
        images = X / 255.0
        images[0, 0, 0, 0] = bad
        _raises(lambda: _output(fitted, images), ValueError, "NaN or infinite")
        _raises(lambda: clone(estimator).fit(images, y), ValueError, "NaN or infinite")


def check_empty_input_refused(estimator, X, y):
    _raises(lambda: clone(estimator).fit(X[:0], y[:0]), ValueError, "empty")
    _raises(lambda: _output(_fitted(estimator, X, y), X[:0]), ValueError, "empty")


def check_subset_invariance(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    whole = _output(fitted, X)
    np.testing.assert_allclose(_output(fitted, X[3:9]), whole[3:9], atol=ATOL)


def check_sample_order_invariance(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    order = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_allclose(_output(fitted, X[order]), _output(fitted, X)[order], atol=ATOL)


def check_one_image(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    np.testing.assert_allclose(_output(fitted, X[:1]), _output(fitted, X)[:1], atol=ATOL)
    if is_classifier(estimator):
        _raises(lambda: clone(estimator).fit(X[:1], y[:1]), ValueError)


def check_gray_and_single_channel(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    gray = X[..., 0]
    expected = _output(fitted, np.repeat(gray[..., None], 3, axis=3))
    np.testing.assert_allclose(_output(fitted, gray), expected, atol=ATOL)
    np.testing.assert_allclose(_output(fitted, gray[..., None]), expected, atol=ATOL)


def check_tables_refused(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    _raises(lambda: _output(fitted, X.reshape(len(X), -1)), ValueError, "reshape")
    _raises(lambda: _output(fitted, X[0].reshape(-1)), (ValueError, TypeError))


def _majority_share(y):
    """The accuracy of always guessing the largest class: a classifier that learned does better on its training set."""
    return max(np.unique(y, return_counts=True)[1]) / len(y)


def check_fit_takes_y(estimator, X, y):
    """``fit(X, y)`` learns from ``y``: a classifier scores above the largest class's share on its training images."""
    fitted = clone(estimator).fit(X, y)
    if is_classifier(fitted):
        accuracy, majority = fitted.score(X, y), _majority_share(y)
        assert accuracy > majority, f"training accuracy {accuracy:.3f}, majority {majority:.3f}"


def check_pipeline_consistency(estimator, X, y):
    alone = _output(_fitted(estimator, X, y), X)
    np.testing.assert_allclose(_output(make_pipeline(clone(estimator)).fit(X, y), X), alone, atol=ATOL)


# -- transformers ------------------------------------------------------------------------------------


def check_transformer_general(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    out = fitted.transform(X)
    assert out.shape == (len(X), len(fitted.get_feature_names_out()))
    assert out.dtype == np.float32  # features are float32 whatever the input's dtype
    np.testing.assert_allclose(clone(estimator).fit_transform(X, y), out, atol=ATOL)


# -- classifiers -------------------------------------------------------------------------------------


def check_classes(estimator, X, y):
    fitted = _fitted(estimator, X, y)
    assert list(fitted.classes_) == sorted(set(y))
    predicted = fitted.predict(X)
    assert set(predicted) <= set(fitted.classes_) and predicted.shape == (len(X),)
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), len(fitted.classes_)) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(fitted.classes_[proba.argmax(axis=1)], predicted)
    assert np.mean(predicted == y) > _majority_share(y)  # it learned
    # integer labels in the same order: the same training, the same predictions under the other names
    numbers = np.searchsorted(np.unique(y), y) * 10
    as_numbers = clone(estimator).fit(X, numbers).predict(X)
    np.testing.assert_array_equal(as_numbers, np.searchsorted(fitted.classes_, predicted) * 10)


def check_class_weight(estimator, X, y):
    """``class_weight`` (a Pipeline's head's too) changes the fit: a class weighted 20x gets more probability on
    every image on average; "balanced" and a dict by label are taken, an unknown label refused."""
    names = [name for name in estimator.get_params() if name == "class_weight" or name.endswith("__class_weight")]
    if not names:
        return  # no such parameter (AutoClassifier: its contenders take their recipes' defaults)
    name, first = names[0], sorted(set(y))[0]
    plain = clone(estimator).set_params(**{name: None}).fit(X, y)
    heavy = clone(estimator).set_params(**{name: {label: 20.0 if label == first else 1.0 for label in set(y)}})
    heavy.fit(X, y)
    column = list(plain.classes_).index(first)
    assert heavy.predict_proba(X)[:, column].mean() > plain.predict_proba(X)[:, column].mean() + 0.01
    clone(estimator).set_params(**{name: "balanced"}).fit(X, y).predict(X)
    _raises(lambda: clone(estimator).set_params(**{name: {"no such label": 2.0}}).fit(X, y), ValueError)


def check_y_2d_refused(estimator, X, y):
    """A column ``y`` (n, 1): FineTuneClassifier refuses it with a ValueError asking for one label per
    image, so a table of labels is never taken for labels by mistake; a Pipeline's scikit-learn head
    does what scikit-learn does (a DataConversionWarning, then the same model as with 1-d labels)."""
    import warnings

    from sklearn.exceptions import DataConversionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = clone(estimator).fit(X, y[:, None])
        except ValueError as exc:
            assert "1-d" in str(exc), exc
            return
    assert any(issubclass(w.category, DataConversionWarning) for w in caught), "a column y passed silently"
    np.testing.assert_allclose(fitted.predict_proba(X), _fitted(estimator, X, y).predict_proba(X), atol=ATOL)


def _raises(fn, kinds, match=None):
    try:
        fn()
    except kinds as exc:
        assert match is None or match in str(exc), f"expected {match!r} in {exc}"
        return
    raise AssertionError(f"expected {kinds} to be raised")


_COMMON = [
    check_fit_returns_self, check_not_fitted_until_fit, check_fit_idempotent, check_parameters_unchanged_by_fit,
    check_state_unchanged_by_predict, check_pickle_and_safe_file, check_readonly_memmap, check_f_contiguous,
    check_dtypes, check_object_and_list_input, check_nan_inf_refused, check_empty_input_refused,
    check_subset_invariance, check_sample_order_invariance, check_one_image, check_gray_and_single_channel,
    check_tables_refused, check_fit_takes_y, check_pipeline_consistency,
]
_TRANSFORMER = [check_transformer_general]
_CLASSIFIER = [check_classes, check_class_weight, check_y_2d_refused]


def image_checks(estimator):
    """The image-shaped checks that apply to ``estimator`` (a transformer or a classifier).

    Each check is a function ``check(estimator, X, y)`` that raises ``AssertionError`` when the
    property it guards does not hold; give it images and labels such as :func:`make_images` makes.

    Parameters
    ----------
    estimator : estimator
        Unfitted; each check clones it.

    Returns
    -------
    list of callable

    Examples
    --------
    >>> from hybridtl.features import PixelFeatures
    >>> checks = image_checks(PixelFeatures())
    >>> X, y = make_images()
    >>> for check in checks[:3]:
    ...     check(PixelFeatures(), X, y)
    >>> [check.__name__ for check in checks[:3]]
    ['check_fit_returns_self', 'check_not_fitted_until_fit', 'check_fit_idempotent']
    """
    return _COMMON + (_CLASSIFIER if is_classifier(estimator) else _TRANSFORMER)


_NO_TABLE_WIDTH = ("not applicable: n_features_in_ counts the columns of a table; image estimators take "
                   "images of any size, so they define no input width (the output width is get_feature_names_out)")

# scikit-learn check that needs a 2-D table -> its image-shaped equivalent here, or why none applies
EQUIVALENTS = {
    "check_dict_unchanged": "check_state_unchanged_by_predict",
    "check_dont_overwrite_parameters": "check_parameters_unchanged_by_fit",
    "check_dtype_object": "check_object_and_list_input",
    "check_estimators_dtypes": "check_dtypes",
    "check_estimators_empty_data_messages": "check_empty_input_refused",
    "check_estimators_fit_returns_self": "check_fit_returns_self",
    "check_estimators_nan_inf": "check_nan_inf_refused",
    "check_estimators_overwrite_params": "check_parameters_unchanged_by_fit",
    "check_estimators_pickle": "check_pickle_and_safe_file",
    "check_estimators_pickle(readonly_memmap=True)": "check_readonly_memmap",
    "check_f_contiguous_array_estimator": "check_f_contiguous",
    "check_fit2d_1feature": "check_gray_and_single_channel",
    "check_fit2d_1sample": "check_one_image",
    "check_fit2d_predict1d": "check_tables_refused",
    "check_fit_check_is_fitted": "check_not_fitted_until_fit",
    "check_fit_idempotent": "check_fit_idempotent",
    "check_fit_score_takes_y": "check_fit_takes_y",
    "check_methods_sample_order_invariance": "check_sample_order_invariance",
    "check_methods_subset_invariance": "check_subset_invariance",
    "check_n_features_in": _NO_TABLE_WIDTH,
    "check_n_features_in_after_fitting": _NO_TABLE_WIDTH,
    "check_pipeline_consistency": "check_pipeline_consistency",
    "check_positive_only_tag_during_fit": ("not applicable: the check is for estimators tagged positive-only "
                                           "(e.g. chi2 models); pixel values are bounded by their dtype instead, "
                                           "which check_dtypes and check_nan_inf_refused cover"),
    "check_readonly_memmap_input": "check_readonly_memmap",
    "check_transformer_data_not_an_array": "check_object_and_list_input",
    "check_transformer_general": "check_transformer_general",
    "check_transformer_general(readonly_memmap=True)": "check_readonly_memmap",
    "check_transformer_preserve_dtypes": ("not applicable as stated: features are float32 whatever the image's "
                                          "dtype (uint8 images have no float dtype to preserve); "
                                          "check_transformer_general asserts float32"),
    "check_class_weight_classifiers": "check_class_weight",
    "check_classifier_data_not_an_array": "check_object_and_list_input",
    "check_classifiers_classes": "check_classes",
    "check_classifiers_train": "check_classes",
    "check_classifiers_train(readonly_memmap=True)": "check_readonly_memmap",
    "check_classifiers_train(readonly_memmap=True,X_dtype=float32)": "check_dtypes",
    "check_supervised_y_2d": "check_y_2d_refused",
}
