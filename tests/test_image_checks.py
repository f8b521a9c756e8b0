"""Image-shaped conformance: every property scikit-learn's table checks guard, on images, for each estimator."""

import warnings

import pytest

from hybridtl.auto import AutoClassifier
from hybridtl.evaluation import _image_checks as image_checks
from hybridtl.features import CNNFeatureExtractor
from hybridtl.finetune import FineTuneClassifier
from hybridtl.heads import make_hybrid_pipeline
from tests.test_estimator_checks import _TABLE_CHECKS, _TABLE_CHECKS_CLASSIFIER, _TABLE_CHECKS_TRANSFORMER

ESTIMATORS = {
    "CNNFeatureExtractor": CNNFeatureExtractor(image_size=16, device="cpu", batch_size=8),
    # 3 epochs at 1e-3: enough to learn the 24 training images above chance (check_fit_takes_y, check_classes)
    "FineTuneClassifier": FineTuneClassifier(epochs=3, lr=1e-3, image_size=16, device="cpu", progress=False,
                                             batch_size=8, random_state=0, validation_fraction=None),
    "hybrid Pipeline": make_hybrid_pipeline("logreg", image_size=16, device="cpu", batch_size=8),
    "AutoClassifier": AutoClassifier(time_budget=60, recipes=["pixels_logreg", "cnn_logreg"], image_size=16,
                                     device="cpu", progress=False, random_state=0),
}
CASES = [(name, check) for name, est in ESTIMATORS.items() for check in image_checks.image_checks(est)]


@pytest.fixture(scope="module")
def images():
    return image_checks.make_images()


@pytest.mark.parametrize("name, check", CASES, ids=[f"{n}-{c.__name__}" for n, c in CASES])
def test_image_check(name, check, images):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(ESTIMATORS[name], *images)


def test_no_expected_failure_without_an_image_shaped_equivalent():
    for name in _TABLE_CHECKS + _TABLE_CHECKS_TRANSFORMER + _TABLE_CHECKS_CLASSIFIER:
        target = image_checks.EQUIVALENTS[name]
        assert callable(getattr(image_checks, target, None)) or target.startswith("not applicable"), name
