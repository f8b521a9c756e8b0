import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, train_test_split

from hybridtl.heads import HEADS, make_hybrid_pipeline


def test_digits_logreg_accuracy(digits):
    """The real digits at 64 px: frozen ImageNet features + logistic regression."""
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    pipe = make_hybrid_pipeline("logreg", image_size=64, device="cpu").fit(X_train, y_train)
    assert pipe.score(X_test, y_test) >= 0.9


@pytest.mark.parametrize("head", HEADS)
def test_string_labels_and_joblib_roundtrip(head, small_digits, tmp_path):
    X, y = small_digits
    labels = np.array(["zero", "one", "two"])[y]
    pipe = make_hybrid_pipeline(head, image_size=32, device="cpu").fit(X, labels)
    assert set(pipe.predict(X)) <= set(labels) and list(pipe.classes_) == sorted(set(labels))
    assert pipe.score(X, labels) > 0.8
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    np.testing.assert_array_equal(joblib.load(path).predict_proba(X), pipe.predict_proba(X))


def test_gridsearch_over_head_parameters(small_digits):
    X, y = small_digits
    pipe = make_hybrid_pipeline("logreg", image_size=32, device="cpu")
    search = GridSearchCV(pipe, {"head__C": [0.01, 1.0]}, cv=2).fit(X, y)
    assert search.best_params_["head__C"] in (0.01, 1.0)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert search.score(X, y) > 0.8


def test_unknown_head():
    with pytest.raises(ValueError, match='"head" must be one of .logreg., .svm., .xgboost.; got .forest.'):
        make_hybrid_pipeline("forest")
