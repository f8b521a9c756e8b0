
import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, train_test_split

from hybridtl import backbones
from hybridtl.finetune import FineTuneClassifier, _trainer as finetune, suggest_lr

FAST = dict(image_size=32, device="cpu", progress=False, random_state=0, augment=False, batch_size=16)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def pretrained():
    return _state(backbones.load_backbone("efficientnet_lite0").module)


def _backbone_items(state):
    return {k: v for k, v in state.items() if not k.startswith("classifier.")}


def test_head_strategy_leaves_the_backbone_bit_identical(small_digits, pretrained):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="head", epochs=2, lr=1e-2, **FAST).fit(X, y)
    after = _state(clf.model_)
    for key, value in _backbone_items(pretrained).items():
        assert torch.equal(after[key], value), key  # weights and BatchNorm running statistics alike
    assert after["classifier.weight"].shape == (3, 1280)
    assert clf.history_["n_trainable_params"].tolist() == [3 * 1280 + 3] * 2


def test_frozen_batchnorm_statistics_move_only_when_asked(small_digits, pretrained):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="head", epochs=1, bn="train", **FAST).fit(X, y)
    assert not torch.equal(_state(clf.model_)["bn1.running_mean"], pretrained["bn1.running_mean"])
    assert torch.equal(_state(clf.model_)["conv_stem.weight"], pretrained["conv_stem.weight"])


def test_gradual_unfreezes_one_block_per_epoch(small_digits):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="gradual", epochs=4, **FAST).fit(X, y)
    counts = clf.history_["n_trainable_params"].tolist()
    assert counts[0] == 3 * 1280 + 3
    assert all(a < b for a, b in zip(counts, counts[1:]))
    assert clf.history_["backbone_lr"].iloc[0] == 0 and clf.history_["backbone_lr"].iloc[1] > 0


def test_two_stage_freezes_then_trains_everything_at_a_lower_rate(small_digits, pretrained):
    X, y = small_digits
    params = dict(strategy="two_stage", head_epochs=2, lr=1e-3, finetune_lr_mult=0.1, validation_fraction=None, **FAST)
    stage_one = FineTuneClassifier(epochs=2, **params).fit(X, y)
    for key, value in _backbone_items(pretrained).items():
        assert torch.equal(_state(stage_one.model_)[key], value), key
    both = FineTuneClassifier(epochs=3, **params).fit(X, y)
    assert not torch.equal(_state(both.model_)["conv_stem.weight"], pretrained["conv_stem.weight"])
    history = both.history_
    assert history["backbone_lr"].tolist()[:2] == [0.0, 0.0]
    # the schedule restarts: stage two starts at lr * finetune_lr_mult
    assert history["backbone_lr"].iloc[2] == pytest.approx(1e-4)
    assert history["lr"].iloc[2] == pytest.approx(1e-4)
    assert history["lr"].iloc[2] < history["lr"].iloc[0] == pytest.approx(1e-3)
    np.testing.assert_array_equal(history["lr"].iloc[:2], stage_one.history_["lr"])


def test_scratch_starts_from_random_weights(small_digits, pretrained):
    X, y = small_digits
    tiny = dict(epochs=1, lr=1e-12, **FAST)
    scratch = _state(FineTuneClassifier(strategy="scratch", **tiny).fit(X, y).model_)
    full = _state(FineTuneClassifier(strategy="full", **tiny).fit(X, y).model_)
    w = "conv_stem.weight"
    torch.testing.assert_close(full[w], pretrained[w], atol=1e-6, rtol=0)
    assert not torch.allclose(scratch[w], pretrained[w], atol=1e-3)


def test_full_beats_chance_and_scratch_on_digits(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=500, test_size=300, stratify=y, random_state=0)
    params = dict(epochs=4, validation_fraction=None, **FAST)
    # each at its own measured learning rate: full at the default 3e-4 (BatchNorm statistics frozen)
    full = FineTuneClassifier(strategy="full", **params).fit(X_train, y_train).score(X_test, y_test)
    scratch = FineTuneClassifier(strategy="scratch", lr=1e-3, **params).fit(X_train, y_train).score(X_test, y_test)
    assert full >= 0.7, full  # chance is 0.1
    assert full >= scratch + 0.1, (full, scratch)


def test_early_stopping_stops_and_restores_the_best():
    """Identical images cannot be told apart: validation loss cannot improve for long."""
    X = np.zeros((40, 16, 16), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    clf = FineTuneClassifier(strategy="head", epochs=30, patience=2, lr=0.5, optimizer="sgd", refit_full=False,
                             lr_schedule="none", **FAST).fit(X, y)
    history = clf.history_
    assert len(history) < 30
    assert clf.best_epoch_ == int(history["val_loss"].idxmin()) + 1
    # the validation split is balanced (4 + 4), so the restored model's loss follows from one prediction
    p = clf.predict_proba(X[:1])[0]
    assert -0.5 * (np.log(p[0]) + np.log(p[1])) == pytest.approx(history["val_loss"].min(), abs=1e-5)


def test_same_random_state_same_history(small_digits):
    X, y = small_digits
    params = dict(strategy="full", epochs=2, **{**FAST, "augment": True})
    a = FineTuneClassifier(**params).fit(X, y).history_.drop(columns="seconds")
    b = FineTuneClassifier(**params).fit(X, y).history_.drop(columns="seconds")
    assert a.equals(b)


def test_string_labels_joblib_roundtrip_on_cpu(small_digits, tmp_path, monkeypatch):
    X, y = small_digits
    labels = np.array(["zero", "one", "two"])[y]
    clf = FineTuneClassifier(strategy="head", epochs=2, lr=1e-2, **FAST).fit(X, labels)
    assert list(clf.classes_) == ["one", "two", "zero"]
    assert set(clf.predict(X)) <= set(labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(1), 1)
    joblib.dump(clf, tmp_path / "clf.joblib")
    # the weights travel in the file
    monkeypatch.setattr("hybridtl.backbones._registry.embedded_file", lambda package, holder: None)
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_gridsearch_over_lr_and_strategy(small_digits):
    X, y = small_digits
    search = GridSearchCV(
        FineTuneClassifier(epochs=1, **FAST),
        {"strategy": ["head", "full"], "lr": [1e-3]},
        cv=2,
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert [p["strategy"] for p in search.cv_results_["params"]] == ["head", "full"]
    assert scores[0] != scores[1], "both candidates trained alike: the strategy did not reach the fits"
    assert search.best_params_["strategy"] == ["head", "full"][int(np.argmax(scores))]
    best = search.best_estimator_
    assert (best.strategy, best.lr) == (search.best_params_["strategy"], 1e-3)
    # the refit trained with the chosen strategy: head leaves the backbone frozen, full trains it
    trainable = best.history_["n_trainable_params"].iloc[0]
    frozen = trainable < sum(p.numel() for p in best.model_.parameters()) / 10
    assert frozen == (best.strategy == "head")
    assert search.score(X, y) == pytest.approx(np.mean(best.predict(X) == y))


def test_each_strategy_takes_its_own_defaults(small_digits):
    """lr, epochs and refit_full left at None: head trains at 3e-3 for up to 30 epochs and refits on every image;
    full at 3e-4 (its new layer at 10x) without a refit; the parameters stay None."""
    X, y = small_digits
    head = FineTuneClassifier(strategy="head", **FAST).fit(X, y)
    assert (head.lr, head.epochs, head.refit_full) == (None, None, None)
    assert head.history_["lr"].iloc[0] == pytest.approx(3e-3)
    assert len(head.history_) <= 30 and head.refit_epochs_ == head.best_epoch_
    full = FineTuneClassifier(strategy="full", **{**FAST, "patience": 1}).fit(X, y)
    assert full.history_[["backbone_lr", "lr"]].iloc[0].tolist() == pytest.approx([3e-4, 3e-3])
    assert len(full.history_) <= 20 and full.refit_epochs_ is None
    # with a fixed validation set X is all the training data: head's default refit does not apply
    assert clone(head).fit(X, y, validation_data=(X[:20], y[:20])).refit_epochs_ is None


def test_ctrl_c_keeps_a_usable_estimator(small_digits, monkeypatch):
    X, y = small_digits
    real = finetune.run_epoch
    calls = []

    def interrupt_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(finetune, "run_epoch", interrupt_on_second)
    with pytest.warns(UserWarning, match="interrupted"):
        clf = FineTuneClassifier(strategy="head", epochs=5, **FAST).fit(X, y)
    assert clf.interrupted_ and len(clf.history_) == 1 and clf.best_epoch_ == 1
    assert clf.predict(X).shape == (60,)


def test_lr_find_leaves_the_estimator_as_it_was(small_digits, tmp_path):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="full", **FAST)
    params = clf.get_params()
    frame, suggested = clf.lr_find(X, y, num_iter=12, plot=tmp_path / "lr.png")
    assert list(frame.columns) == ["lr", "loss"] and frame["lr"].is_monotonic_increasing
    # the sweep runs from start_lr towards end_lr (it may stop early when the loss diverges), log-spaced
    assert frame["lr"].iloc[0] == pytest.approx(1e-7) and frame["lr"].iloc[-1] <= 1.0
    assert np.diff(np.log(frame["lr"])) == pytest.approx(np.log(1e7) / 11)
    # the suggestion is the steepest fall of that very curve
    assert suggested == suggest_lr(frame["lr"], frame["loss"])
    assert clf.get_params() == params
    assert (tmp_path / "lr.png").read_bytes()[:4] == b"\x89PNG"
    assert not hasattr(clf, "model_")
    clf.set_params(strategy="head", epochs=1).fit(X, y)
    before = _state(clf.model_)
    clf.lr_find(X, y, num_iter=5)
    after = _state(clf.model_)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_plot_history(small_digits, tmp_path):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="head", epochs=2, **FAST).fit(X, y)
    clf.plot_history(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "params, y, match",
    [
        ({}, [0, 1, 2] * 19 + [0, 1], "60 images but y has 59 labels"),
        ({}, None, "requires y to be passed"),
        ({}, [], "y is empty"),
        ({}, [0.5, 1.5] * 30, "Unknown label type"),
        ({}, [1] * 60, "single class"),
        ({}, np.zeros((60, 2)), "1-d"),
        ({"strategy": "lora"}, None, '"strategy" must be one of'),
        ({"optimizer": "lbfgs"}, None, '"optimizer" must be one of'),
        ({"lr_schedule": "linear"}, None, '"lr_schedule" must be one of'),
        ({"epochs": 0}, None, '"epochs" must be an integer >= 1 or None; got 0'),
        ({"validation_fraction": 1.5}, None, "validation_fraction"),
    ],
)
def test_bad_input(small_digits, params, y, match):
    X, y_ok = small_digits
    with pytest.raises(ValueError, match=match):
        FineTuneClassifier(**{**FAST, **params}).fit(X, y_ok if y is None and params else y)


def test_init_stores_parameters_unchanged():
    clf = FineTuneClassifier(strategy="nonsense", lr=-1)
    assert clf.get_params()["strategy"] == "nonsense" and clf.lr == -1
    assert clone(clf).get_params() == clf.get_params()


def test_fixed_validation_data(small_digits):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="head", epochs=2, **FAST).fit(X[::2], y[::2], validation_data=(X[1::2], y[1::2]))
    assert clf.history_["val_loss"].notna().all()
    with pytest.raises(ValueError, match="not among the training classes"):
        clf.fit(X[::2], y[::2], validation_data=(X[1::2], y[1::2] + 5))


@pytest.mark.parametrize("class_weight", ["balanced", {"zero": 2.0, "two": 0.5}])
def test_class_weight_with_string_labels(small_digits, class_weight):
    X, y = small_digits
    labels = np.array(["zero", "one", "two"])[y]
    clf = FineTuneClassifier(strategy="head", epochs=1, class_weight=class_weight, **FAST).fit(X, labels)
    assert clf.predict(X).shape == (60,)
    frame, _ = clf.lr_find(X, labels, num_iter=3)
    assert len(frame) == 3
    with pytest.raises(ValueError, match="class_weight names labels \\['cat'\\]"):
        clf.set_params(class_weight={"cat": 1.0}).fit(X, labels)


@pytest.mark.parametrize("validation_fraction", [None, 0.25])
def test_a_non_finite_loss_stops_training_and_keeps_sound_weights(small_digits, monkeypatch, validation_fraction):
    """Epoch 3 blows up (every weight NaN, loss NaN): training stops with a warning and sound weights stay."""
    import math

    import torch

    from hybridtl.finetune import _trainer as finetune

    X, y = small_digits
    real = finetune.run_epoch
    calls = []

    def blows_up_third(model, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(math.nan)
            return math.nan, 0.0
        return real(model, *args, **kwargs)

    monkeypatch.setattr(finetune, "run_epoch", blows_up_third)
    clf = FineTuneClassifier(weights=None, image_size=32, epochs=6, batch_size=16, device="cpu", progress=False,
                             random_state=0, validation_fraction=validation_fraction, patience=10)
    with pytest.warns(RuntimeWarning, match="non-finite at epoch 3; training stopped and the weights of epoch"):
        clf.fit(X, y)
    assert len(clf.history_) == 3 and math.isnan(clf.history_["train_loss"].iloc[2])
    assert clf.best_epoch_ in (1, 2)
    assert all(torch.isfinite(p).all() for p in clf.model_.parameters())
    assert np.isfinite(clf.predict_proba(X)).all()


@pytest.mark.parametrize("bn, moves", [("frozen", False), ("trainable", True)])
def test_batchnorm_policy_when_everything_trains(small_digits, pretrained, bn, moves):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="full", epochs=1, bn=bn, **FAST).fit(X, y)
    after = _state(clf.model_)
    assert not torch.equal(after["conv_stem.weight"], pretrained["conv_stem.weight"])  # the weights train
    assert torch.equal(after["bn1.running_mean"], pretrained["bn1.running_mean"]) != moves
    with pytest.raises(ValueError, match='"bn" must be one of'):
        FineTuneClassifier(bn="off", **FAST).fit(X, y)


def test_two_stage_reaches_stage_two_and_is_never_worse_than_stage_one(small_digits):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="two_stage", epochs=5, head_epochs=2, patience=1, lr=1e-3, **FAST).fit(X, y)
    history = clf.history_
    assert len(history) >= 3  # stage one's patience cannot end the run before stage two
    best_stage_one = history["val_loss"].iloc[:2].min()
    assert history["val_loss"].iloc[clf.best_epoch_ - 1] <= best_stage_one
    assert history["val_loss"].iloc[clf.best_epoch_ - 1] == history["val_loss"].min()


def test_augmentation_strengths():
    from hybridtl.images import Preprocess

    prep = Preprocess(size=32, crop_pct=0.875, mean=(0.5,) * 3, std=(0.5,) * 3)
    image = torch.rand(3, 60, 40)
    torch.manual_seed(0)
    centre = prep.resize_crop(image)
    draws = [prep.augmenter("flip")(image) for _ in range(20)]
    # geometry kept, mirrored about half the time (20 draws: both outcomes, each at least 3 times)
    assert all(torch.equal(d, centre) or torch.equal(d, centre.flip(-1)) for d in draws)
    mirrored = sum(torch.equal(d, centre.flip(-1)) for d in draws)
    assert 3 <= mirrored <= 17, mirrored
    for strength in ("light", "strong"):
        augment = prep.augmenter(strength)
        crops = [augment(image) for _ in range(5)]
        assert all(c.shape == (3, 32, 32) for c in crops)
        # random crops: the draws differ from one another and from the centre crop and its mirror image
        assert not any(torch.allclose(c, centre) or torch.allclose(c, centre.flip(-1)) for c in crops)
        assert len({c.sum().item() for c in crops}) == 5
    with pytest.raises(ValueError, match='"augment" must be True or False or one of'):
        FineTuneClassifier(augment="huge").fit(np.zeros((4, 8, 8), np.uint8), [0, 1, 0, 1])
