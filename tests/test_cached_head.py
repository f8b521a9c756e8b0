"""Epochs that train the new layer alone (head-only fine-tuning, two_stage's first stage) on bottleneck features
computed once: the same training as the full forward pass every epoch, where nothing random lies between the
frozen backbone and the new layer."""

import numpy as np
import pytest

import hybridtl
from hybridtl.finetune import FineTuneClassifier
from hybridtl.images import load_digits_images

# test_efficientnet has no dropout before its classifier: the two paths can agree to the last digits
FAST = dict(backbone="timm:test_efficientnet", weights=None, image_size=32, epochs=3, batch_size=16,
            device="cpu", progress=False, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits_images(n_classes=4)
    return X[:100], y[:100]


def test_features_computed_once_train_the_same_model_as_the_full_forward_pass(digits, monkeypatch):
    X, y = digits
    cached = FineTuneClassifier(strategy="head", augment=False, **FAST).fit(X, y)
    assert cached.cached_features_
    monkeypatch.setattr("hybridtl.finetune._estimator.cached_epochs", lambda *args: 0)
    full = FineTuneClassifier(strategy="head", augment=False, **FAST).fit(X, y)
    assert not full.cached_features_
    columns = ["train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    np.testing.assert_allclose(cached.history_[columns].to_numpy(), full.history_[columns].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(cached.predict_proba(X[:10]), full.predict_proba(X[:10]), atol=1e-5)


def test_flips_train_on_the_mirror_images_features_too(digits, tmp_path):
    X, y = digits
    clf = FineTuneClassifier(strategy="head", augment="flip", **FAST).fit(X, y)
    assert clf.cached_features_ and len(clf.history_) == 3 and clf.history_["val_loss"].notna().all()
    hybridtl.save(clf, tmp_path / "head.hybridtl")  # the fitted model is the whole network, as ever
    np.testing.assert_array_equal(hybridtl.load(tmp_path / "head.hybridtl").predict_proba(X[:5]),
                                  clf.predict_proba(X[:5]))


def test_two_stage_trains_its_first_stage_on_features_and_then_the_whole_network_as_before(digits, monkeypatch):
    X, y = digits
    params = dict(strategy="two_stage", head_epochs=2, augment=False, **{**FAST, "epochs": 4})
    cached = FineTuneClassifier(**params).fit(X, y)
    assert cached.cached_features_
    monkeypatch.setattr("hybridtl.finetune._estimator.cached_epochs", lambda *args: 0)
    full = FineTuneClassifier(**params).fit(X, y)
    assert not full.cached_features_
    history = cached.history_
    assert (history["n_trainable_params"].iloc[:2] < history["n_trainable_params"].iloc[2:].min()).all()
    columns = ["train_loss", "train_acc", "val_loss", "val_acc", "lr", "backbone_lr"]
    np.testing.assert_allclose(history[columns].to_numpy(), full.history_[columns].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(cached.predict_proba(X[:10]), full.predict_proba(X[:10]), atol=1e-5)


@pytest.mark.parametrize("params", [{"augment": "light"}, {"tta": True}, {"bn": "trainable"},
                                    {"strategy": "full"}, {"strategy": "gradual"}, {"epochs": 1},
                                    {"strategy": "two_stage", "head_epochs": 1}])
def test_what_needs_every_epochs_forward_pass_runs_it(digits, params):
    X, y = digits
    clf = FineTuneClassifier(**{"strategy": "head", **FAST, "epochs": 2, **params}).fit(X, y)
    assert not clf.cached_features_


def test_fits_from_the_same_weights_share_one_compiled_runner(monkeypatch):
    import torch

    import hybridtl.devices._runtimes as runtimes

    runtime = runtimes.resolve_runtime("auto", torch.device("cpu"))  # OpenVINO, or ONNX Runtime without it
    X, y = load_digits_images(n_classes=2)
    built = []
    real = runtimes._BUILDERS[runtime]
    monkeypatch.setitem(runtimes._BUILDERS, runtime, lambda m, s, p, c: built.append(s) or real(m, s, p, c))
    for seed in (0, 1):  # 64 training images and their mirrors at 224 px: enough pixels for compiling to pay
        clf = FineTuneClassifier(strategy="head", epochs=2, device="cpu", progress=False, random_state=seed)
        assert clf.fit(X[:80], y[:80]).cached_features_
    assert built == [224]
