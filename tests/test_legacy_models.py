"""Models saved by the layout before the package was split into sub-packages still load and predict the same,
and training gives the same results as before the trainer moved out of the estimator.

The files in ``tests/data`` were written by the code of commit 6a56f7c (``tests/data/make_*.py`` show how).
"""

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

import hybridtl
from hybridtl.images import load_digits_images

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = json.loads((DATA / "legacy_predictions.json").read_text())


def _probe():
    X, _ = load_digits_images(n_classes=3)
    return X[60:72]


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("kind", ["hybridtl", "pkl"])
def test_an_old_model_file_loads_and_predicts_the_same(name, kind):
    path = DATA / f"{name}.{kind}"
    assert path.stat().st_size < 2**20
    model = hybridtl.load(path) if kind == "hybridtl" else joblib.load(path)
    probe = _probe()
    assert model.predict(probe).tolist() == EXPECTED[name]["predict"]
    np.testing.assert_allclose(model.predict_proba(probe), EXPECTED[name]["predict_proba"], atol=1e-6)


def test_fixed_seed_fits_give_the_histories_of_the_old_trainer(monkeypatch):
    # the whole network every epoch, the one path when these were recorded: epochs on features computed once
    # (two_stage's first stage here, with flips) draw their flips differently and are checked against this
    # path in tests/test_cached_head.py
    monkeypatch.setattr("hybridtl.finetune._estimator.cached_epochs", lambda *args: 0)
    sys.path.insert(0, str(DATA))
    try:
        from make_histories import COMMON, RUNS, data
    finally:
        sys.path.remove(str(DATA))
    from hybridtl.finetune import FineTuneClassifier

    expected = json.loads((DATA / "histories_v0.json").read_text())
    X, y = data()
    for name, params in RUNS.items():
        # recorded on the float path, which decode="exact" keeps (fast resizes 8-bit pixels as uint8)
        # and with the defaults every strategy shared then (each strategy has its own now)
        shared_then = {"lr": 3e-4, "refit_full": False}
        clf = FineTuneClassifier(**{**shared_then, **COMMON, **params}, decode="exact").fit(X, y)
        want = pd.DataFrame(expected[name]["history"])
        got = clf.history_.drop(columns="seconds")
        assert list(got.columns) == list(want.columns) and len(got) == len(want), name
        np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=1e-6, atol=1e-9, err_msg=name)
        assert clf.refit_epochs_ == expected[name]["refit_epochs"]
        np.testing.assert_allclose(clf.predict_proba(X[:8]), expected[name]["proba"], atol=1e-6, err_msg=name)
