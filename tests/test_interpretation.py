"""Top losses, most confused pairs and result grids, on both kinds of estimator and on real files."""

import numpy as np
import pytest
from PIL import Image

from hybridtl.evaluation import ClassificationInterpretation, labels_and_proba
from hybridtl.finetune import FineTuneClassifier
from hybridtl.heads import make_hybrid_pipeline


def test_losses_top_losses_and_most_confused_from_known_probabilities():
    X = np.zeros((4, 8, 8), np.uint8)
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [np.nan, np.nan]])
    interp = ClassificationInterpretation(X, ["a", "a", "b", "b"], proba, np.array(["a", "b"]))
    assert np.allclose(interp.losses[:3], -np.log([0.9, 0.2, 0.4])) and np.isnan(interp.losses[3])
    assert interp.predicted.tolist() == ["a", "b", "a", None]
    top = interp.top_losses()
    assert top["index"].tolist() == [1, 2, 0]  # the unreadable row is left out
    assert top["probability"].tolist() == pytest.approx([0.8, 0.6, 0.9])
    confused = interp.most_confused()
    assert confused.to_dict("records") == [{"actual": "a", "predicted": "b", "count": 1},
                                          {"actual": "b", "predicted": "a", "count": 1}]
    assert interp.most_confused(min_count=2).empty
    unseen = ClassificationInterpretation(X[:1], ["c"], proba[:1], np.array(["a", "b"]))
    assert np.isinf(unseen.losses[0])


def test_exported_at_the_top_level():
    import hybridtl

    assert hybridtl.ClassificationInterpretation is ClassificationInterpretation


def test_sizes_must_match():
    with pytest.raises(ValueError, match="must match"):
        ClassificationInterpretation(np.zeros((3, 8, 8), np.uint8), [0, 1], np.ones((3, 2)) / 2, [0, 1])


@pytest.mark.parametrize("kind", ["hybrid", "finetune"])
def test_both_estimators_on_real_files(kind, small_digits, tmp_path):
    X, y = small_digits
    paths = []
    for i, image in enumerate(X[::3]):  # PNG and JPEG files, one missing
        path = tmp_path / (f"{i}.png" if i % 2 else f"{i}.jpg")
        Image.fromarray(image).resize((24, 24)).convert("RGB").save(path)
        paths.append(str(path))
    paths[3] = str(tmp_path / "gone.png")
    if kind == "hybrid":
        model = make_hybrid_pipeline("logreg", image_size=32, device="cpu", progress=False).fit(X, y)
    else:
        model = FineTuneClassifier(strategy="head", epochs=1, image_size=32, device="cpu", progress=False,
                                   random_state=0, on_error="skip").fit(X, y)
    with pytest.warns(UserWarning, match="gone.png"):
        interp = ClassificationInterpretation.from_estimator(model, paths, y[::3])
    assert interp.predicted[3] is None and len(interp.top_losses()) == len(paths) - 1
    wrong = sum(p is not None and p != t for p, t in zip(interp.predicted, y[::3]))
    assert interp.most_confused()["count"].sum() == wrong
    for name, draw in (("top.png", interp.plot_top_losses), ("results.png", interp.plot_results)):
        assert draw(tmp_path / name) == tmp_path / name
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary files left
    readable = paths[:3] + paths[4:]
    labels, proba = labels_and_proba(model, readable)  # what `hybridtl evaluate` uses: one pass of the CNN
    np.testing.assert_array_equal(labels, model.predict(readable))
    np.testing.assert_allclose(proba, model.predict_proba(readable), atol=1e-6)


def test_labels_and_proba_keep_a_models_own_predict():
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.pipeline import Pipeline

    class Contrary(ClassifierMixin, BaseEstimator):  # predict is not the most probable class
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def predict(self, X):
            return np.repeat(self.classes_[0], len(X))

        def predict_proba(self, X):
            return np.tile([0.1, 0.9], (len(X), 1))

    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    for model in (Contrary().fit(X, y), Pipeline([("head", Contrary())]).fit(X, y)):
        labels, proba = labels_and_proba(model, X)
        assert labels.tolist() == [0, 0, 0, 0] and proba[:, 1].tolist() == [0.9] * 4


def test_a_model_without_probabilities_is_refused(small_digits):
    from sklearn.pipeline import Pipeline
    from sklearn.svm import LinearSVC

    X, y = small_digits
    model = Pipeline([("svm", LinearSVC())]).fit(X.reshape(len(X), -1), y)
    with pytest.raises(TypeError, match="has no predict_proba"):
        ClassificationInterpretation.from_estimator(model, X, y)
