"""AutoClassifier: the search within a time budget, its leaderboard, successive halving, Ctrl-C, saving."""

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone

import hybridtl
from hybridtl.auto import COLUMNS, STATUSES, AutoClassifier, rungs
from hybridtl.auto._halving import Halving
from hybridtl.auto._leaderboard import Leaderboard
from hybridtl.auto._splits import Folds
from hybridtl.callbacks import TimeLimit
from hybridtl.core import InvalidParameterError, parse_duration
from hybridtl.finetune import FineTuneClassifier
from hybridtl.images import load_digits_images
from hybridtl.serialization import load, read_card, save


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images()
    rows = np.random.default_rng(0).permutation(len(y))
    return X[rows[:240]], y[rows[:240]], X[rows[240:340]], y[rows[240:340]]


def _auto(**params):
    settings = dict(time_budget=90, recipes=["pixels_logreg", "finetune_head"], image_size=32, epochs=2,
                    device="cpu", progress=False, random_state=0)
    return AutoClassifier(**{**settings, **params})


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    start = time.perf_counter()
    # a budget that leaves every contender time even on a loaded machine: the search ends when they are done
    auto = _auto(time_budget=400, recipes=["pixels_logreg", "cnn_logreg", "finetune_head", "finetune_full"]).fit(X, y)
    return auto, time.perf_counter() - start


def test_parse_duration_units_and_errors():
    assert [parse_duration(t) for t in ("90", "90s", "10m", "1h", "2.5m", 7)] == [90, 90, 600, 3600, 150, 7]
    for bad in ("ten minutes", "10 days", "-5", "0", "", True):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_parameters_are_stored_unchanged_and_checked():
    auto = AutoClassifier(time_budget="10m", recipes=["cnn_svm"], cv=3)
    assert auto.get_params()["time_budget"] == "10m" and clone(auto).recipes == ["cnn_svm"]
    assert auto.check_params() == 600.0
    for params, name in (({"time_budget": 0}, "time_budget"), ({"scoring": "auc"}, "scoring"),
                         ({"cv": 1}, "cv"), ({"recipes": []}, "recipes"), ({"epochs": 0}, "epochs")):
        with pytest.raises(InvalidParameterError, match=name):
            AutoClassifier(**params).check_params()
    with pytest.raises(ValueError, match="not a duration"):
        AutoClassifier(time_budget="soon").fit(np.zeros((4, 16, 16), np.uint8), [0, 1, 0, 1])


def test_unknown_recipe_fails_before_any_work(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        _auto(recipes=["pixels_logreg", "nope"]).fit(X, y)


def test_fit_scores_every_contender_within_the_budget(fitted, digits):
    auto, seconds = fitted
    _, _, X_test, y_test = digits
    board = auto.leaderboard_
    assert list(board.columns) == COLUMNS
    assert set(board["contender"]) == {"pixels_logreg", "cnn_logreg", "finetune_head", "finetune_full", "ensemble"}
    assert set(board["status"]) <= set(STATUSES)
    assert board["winner"].sum() == 1 and board.iloc[0]["contender"] == auto.best_
    cheap = board[board["kind"].isin(["baseline", "hybrid"])]
    assert (cheap["status"] == "done").all() and (cheap["validation"] == "5-fold CV").all()
    assert cheap["score_sd"].notna().all()
    tuned = board[board["kind"] == "finetune"]
    assert tuned["holdout_score"].notna().all() and (tuned["epochs"] >= 1).all()
    assert seconds <= auto.time_budget_ * 1.1 and auto.elapsed_ <= seconds
    assert auto.score(X_test, y_test) > 0.8
    assert set(auto.validation_) == {"accuracy", "macro_f1", "expected_calibration_error", "n_images"}
    assert auto.class_counts_ == {str(c): int((digits[1] == c).sum()) for c in np.unique(digits[1])}


def test_a_budget_that_binds_is_kept_and_every_contender_accounted_for(digits):
    """30 s for what takes longer (fine-tuning rungs up to 40 epochs): the search ends within the budget, the
    budget did cut something, and every contender has a score or says why it has none."""
    X, y, _, _ = digits
    start = time.perf_counter()
    auto = _auto(time_budget=30, epochs=40,
                 recipes=["pixels_logreg", "cnn_logreg", "finetune_head", "finetune_full"]).fit(X, y)
    seconds = time.perf_counter() - start
    assert seconds <= 30 * 1.1, seconds
    board = auto.leaderboard_.set_index("contender")
    cut = board["reason"].str.contains("lack of time|time limit") | (board["status"] == "skipped")
    assert cut.any() or not auto.refit_, board[["status", "reason"]]
    for name, row in board.iterrows():
        assert (row["status"] == "done" and np.isfinite(row["score_mean"])) or row["reason"], name
    tuned = board[(board["kind"] == "finetune") & board["s_epoch"].notna()]
    assert len(tuned) and (tuned["priced_s_epoch"] > 0).all()


def test_saved_auto_model_predicts_the_same_and_carries_its_card(fitted, digits, tmp_path):
    auto, _ = fitted
    _, _, X_test, _ = digits
    path = tmp_path / "auto.hybridtl"
    save(auto, path)
    again = load(path)
    np.testing.assert_allclose(again.predict_proba(X_test), auto.predict_proba(X_test), rtol=0, atol=1e-6)
    pd.testing.assert_frame_equal(again.leaderboard_, auto.leaderboard_)
    card = read_card(path)
    assert card["auto"]["best"] == auto.best_ and len(card["leaderboard"]) == len(auto.leaderboard_)
    assert card["classes"][0] == {"class": "0", "count": auto.class_counts_["0"]}
    assert card["validation"]["accuracy"] == pytest.approx(auto.validation_["accuracy"])
    assert {"hybridtl", "torch", "scikit-learn", "python"} <= set(card["versions"])
    assert len(card["backbones"][0]["weights_sha256"]) == 64 if card["backbones"] else auto.best_ == "pixels_logreg"


def test_few_images_skip_fine_tuning_with_the_reason(digits):
    X, y, _, _ = digits
    keep = np.concatenate([np.flatnonzero(y == c)[:6] for c in np.unique(y)])
    auto = _auto(ensemble=True).fit(X[keep], y[keep])
    row = auto.leaderboard_.set_index("contender").loc["finetune_head"]
    assert row["status"] == "skipped" and "fewer than 10" in row["reason"]
    assert auto.best_ == "pixels_logreg"
    assert auto.leaderboard_.set_index("contender").loc["pixels_logreg", "validation"] == "5-fold CV"


def test_one_image_in_a_class_uses_leave_one_out():
    folds = Folds(np.array([0, 0, 0, 1, 1, 1, 2]), cv=5, seed=0)
    assert folds.description == "leave-one-out" and folds.n_splits == 7


def test_a_budget_nothing_fits_is_refused_before_starting(digits):
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="cannot fit even the cheapest contender.*give time_budget of at least"):
        _auto(time_budget=1e-4).fit(X, y)


def test_ctrl_c_during_fine_tuning_keeps_the_best_model_so_far(digits, monkeypatch):
    X, y, X_test, _ = digits

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Halving, "fit_rung", interrupted)
    auto = _auto().fit(X, y)
    assert auto.interrupted_ and auto.best_ == "pixels_logreg"
    assert auto.leaderboard_.set_index("contender").loc["finetune_head", "status"] == "interrupted"
    assert auto.predict(X_test).shape == (len(X_test),)


def test_ctrl_c_before_anything_finished_propagates(digits, monkeypatch):
    X, y, _, _ = digits
    from hybridtl.auto import _search

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_search, "probe_features", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _auto(recipes=["pixels_logreg"]).fit(X, y)


def test_time_limit_stops_training_at_an_epoch_boundary(digits):
    X, y, _, _ = digits
    limited = FineTuneClassifier(strategy="head", epochs=5, image_size=32, device="cpu", progress=False,
                                 validation_fraction=None, random_state=0, callbacks=[TimeLimit(0.001)])
    assert len(limited.fit(X, y).history_) == 1  # the first epoch always runs; the next would pass the limit
    assert len(limited.set_params(callbacks=[TimeLimit(3600)]).fit(X, y).history_) == 5


class Sleepy(ClassifierMixin, BaseEstimator):
    """A fake fine-tuner: each epoch sleeps ``pace`` s per 100 images (whatever its strategy); it gives the
    ``truth`` (the held-out labels) a probability that grows with its skill and its epochs."""

    def __init__(self, skill=0.5, pace=0.01, truth=None, epochs=1, batch_size=8, validation_fraction=0.2,
                 refit_full=False, callbacks=None, strategy="full", lr=1e-3, head_lr_mult=10.0, head_epochs=3,
                 finetune_lr_mult=0.1, bn="frozen", augment=False, tta=False):
        self.skill, self.pace, self.truth, self.epochs, self.batch_size = skill, pace, truth, epochs, batch_size
        self.validation_fraction, self.refit_full, self.callbacks = validation_fraction, refit_full, callbacks
        self.strategy, self.lr, self.head_lr_mult, self.head_epochs = strategy, lr, head_lr_mult, head_epochs
        self.finetune_lr_mult, self.bn, self.augment, self.tta = finetune_lr_mult, bn, augment, tta

    def fit(self, X, y):
        self.classes_, self.n_blocks_, self.cached_features_ = np.unique(y), 4, False
        epoch = self.pace * len(y) / 100
        time.sleep(epoch * self.epochs)
        self.history_ = pd.DataFrame({"epoch": range(1, self.epochs + 1), "seconds": epoch})
        return self

    def predict_proba(self, X):
        right = min(0.99, self.skill + 0.02 * self.epochs)
        rows = np.arange(len(X))
        proba = np.full((len(X), len(self.classes_)), (1 - right) / (len(self.classes_) - 1))
        proba[rows, np.resize(self.truth, len(X))] = right
        return proba


def test_halving_keeps_the_better_half_and_skips_what_does_not_fit():
    y = np.repeat([0, 1], 50)
    folds = Folds(y, cv=5, seed=0)
    X = np.zeros((100, 16, 16), np.uint8)
    names = ["weak", "strong", "middling", "slow"]
    board = Leaderboard(names, dict.fromkeys(names, "finetune"))
    truth = y[folds.holdout]
    # "slow": its probes (1.28 s per unit of pace, 6.4 s) leave too little for one epoch (0.64 s per unit,
    # 3.2 s) however slow the machine (it only leaves less); the other three share the 2.6 s left
    estimators = {"weak": Sleepy(0.3, truth=truth), "strong": Sleepy(0.9, truth=truth),
                  "middling": Sleepy(0.6, truth=truth), "slow": Sleepy(0.95, pace=5, truth=truth)}
    halving = Halving(estimators, X, y, folds, "neg_log_loss", np.array([0, 1]), board, lambda name: None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = halving.run(epochs=8, deadline=time.monotonic() + 9.0)
    rows = board.frame().set_index("contender")
    assert rows.loc["slow", "status"] == "skipped" and "its first epoch would take" in rows.loc["slow", "reason"]
    assert rows.loc["weak", "status"] == "stopped early" and "fell behind" in rows.loc["weak", "reason"]
    assert results["strong"].epochs == 8 and rows.loc["strong", "status"] == "done"
    assert rungs(8) == [1, 2, 4, 8]


def test_ensemble_of_a_pipeline_and_a_fine_tuned_model_saves_safely(digits, tmp_path):
    from hybridtl.auto._ensemble import soft_vote
    from hybridtl.recipes import load_recipe

    X, y, X_test, _ = digits
    pixels = load_recipe("pixels_logreg").build().fit(X, y)
    tuned = FineTuneClassifier(strategy="head", epochs=1, image_size=32, device="cpu", progress=False,
                               random_state=0).fit(X, y)
    vote = soft_vote([("pixels", pixels), ("tuned", tuned)], X, y)
    expected = (pixels.predict_proba(X_test) + tuned.predict_proba(X_test)) / 2
    np.testing.assert_allclose(vote.predict_proba(X_test), expected, atol=1e-7)
    save(vote, tmp_path / "vote.hybridtl")
    np.testing.assert_allclose(load(tmp_path / "vote.hybridtl").predict_proba(X_test), expected, atol=1e-6)
    assert read_card(tmp_path / "vote.hybridtl")["backbones"][0]["used_by"] == "FineTuneClassifier"


def test_top_level_export():
    assert hybridtl.AutoClassifier is AutoClassifier and "AutoClassifier" in hybridtl.__all__


def test_the_grid_stops_before_the_budget_and_chooses_as_gridsearchcv_does():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    from hybridtl.auto._cheap import search_grid
    from hybridtl.auto._clock import Clock

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    F = rng.normal(size=(60, 8)) + y[:, None] * 0.5
    folds = Folds(y, cv=5, seed=0)
    rest = Pipeline([("head", LogisticRegression(max_iter=500))])
    grid = {"head__C": [0.001, 0.1, 10.0]}
    best, scores, ran, points = search_grid(rest, grid, F, y, folds, "accuracy", Clock(3600))
    reference = GridSearchCV(rest, grid, cv=folds.splits).fit(F, y)
    assert (ran, points) == (3, 3) and best == reference.best_params_
    assert scores.mean() == pytest.approx(reference.best_score_)
    _, _, ran, _ = search_grid(rest, grid, F, y, folds, "accuracy", Clock(1e-9))
    assert ran == 1  # the first point always runs (its cost was checked before); no time for the next
