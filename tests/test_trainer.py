"""The open trainer: user callbacks, Checkpoint, any torch scheduler, verbose, warm_start, refit_full,
layer-wise learning rates, warm-up and test-time augmentation."""

import math

import numpy as np
import pytest
import torch
from sklearn.base import clone

import hybridtl
from hybridtl.callbacks import Callback, Checkpoint, FreezeBlocks, LRSchedule, LRScheduler
from hybridtl.finetune import FineTuneClassifier

# one training run per fit (head's own default adds a second, on every image: tests/test_finetune.py)
FAST = dict(image_size=32, device="cpu", progress=False, random_state=0, augment=False, batch_size=16,
            refit_full=False)


class Recorder(Callback):
    """Keeps every hook call and every batch's learning rates, on the class so that the test sees them."""

    calls = []

    def on_train_begin(self, state):
        Recorder.calls.append(("train_begin", None))

    def on_epoch_begin(self, state):
        Recorder.calls.append(("epoch_begin", state.epoch))

    def on_batch_begin(self, state):
        Recorder.calls.append(("batch", [g["lr"] for g in state.optimizer.param_groups]))

    def on_epoch_end(self, state):
        Recorder.calls.append(("epoch_end", dict(state.record)))

    def on_train_end(self, state):
        Recorder.calls.append(("train_end", state.best_epoch))


@pytest.fixture
def recorder():
    Recorder.calls = []
    yield Recorder
    Recorder.calls = []


def _batch_lrs(calls):
    return [lrs for kind, lrs in calls if kind == "batch"]


def test_user_callbacks_see_every_hook_and_fit_leaves_them_unchanged(small_digits, recorder):
    X, y = small_digits
    mine = recorder()
    clf = FineTuneClassifier(strategy="head", epochs=2, callbacks=[mine], **FAST)
    clf.fit(X, y)
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds[0] == "train_begin" and kinds[-1] == "train_end"
    assert kinds.count("epoch_begin") == kinds.count("epoch_end") == 2
    assert kinds.count("batch") == 2 * math.ceil(48 / 16)  # 48 training images after the 20 % hold-out
    records = [value for kind, value in recorder.calls if kind == "epoch_end"]
    assert [r["epoch"] for r in records] == [1, 2] and all(np.isfinite(r["val_loss"]) for r in records)
    assert clf.callbacks[0] is mine and mine.__dict__ == {}  # a copy ran; the parameter is untouched
    assert clone(clf).get_params()["callbacks"][0] is not mine


def test_callbacks_must_be_callback_instances(small_digits):
    X, y = small_digits
    with pytest.raises(TypeError, match='"callbacks" must be None or a list'):
        FineTuneClassifier(callbacks=[print], **FAST).fit(X, y)


def test_checkpoint_writes_the_best_epoch_atomically(small_digits, tmp_path):
    X, y = small_digits
    path = tmp_path / "best.pt"
    clf = FineTuneClassifier(strategy="full", epochs=3, callbacks=[Checkpoint(path)], **FAST).fit(X, y)
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == clf.best_epoch_
    assert saved["record"]["val_loss"] == pytest.approx(clf.history_["val_loss"].min())
    for key, value in clf.model_.state_dict().items():  # early stopping restored the same weights
        assert torch.equal(saved["model"][key], value.cpu()), key
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left


def test_torch_scheduler_scales_the_strategy_rates(small_digits):
    X, y = small_digits
    step = LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    clf = FineTuneClassifier(strategy="full", epochs=3, lr=1e-3, lr_schedule=step, **FAST).fit(X, y)
    assert clf.history_["lr"].tolist() == pytest.approx([1e-2, 5e-3, 2.5e-3])  # head at 10x
    assert clf.history_["backbone_lr"].tolist() == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert step.__dict__.get("scheduler_") is None  # the estimator's parameter did not run


def test_torch_scheduler_per_batch_and_on_plateau(small_digits, recorder):
    X, y = small_digits
    linear = LRScheduler(torch.optim.lr_scheduler.LinearLR, step_every="batch", start_factor=0.25, total_iters=3)
    FineTuneClassifier(strategy="head", epochs=1, lr=1e-3, lr_schedule=linear, callbacks=[recorder()], **FAST).fit(X, y)
    head = [lrs[-1] for lrs in _batch_lrs(recorder.calls)]
    assert head == pytest.approx([2.5e-4, 5e-4, 7.5e-4])
    # on plateau: the rate falls tenfold after each epoch whose validation loss is not a new best by the threshold
    # (patience 0), and only then; the first epoch always is one, and a 50 % threshold makes most later ones not
    plateau = LRScheduler(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.1, threshold=0.5)
    clf = FineTuneClassifier(strategy="head", epochs=4, lr=1e-3, lr_schedule=plateau, patience=99, **FAST).fit(X, y)
    losses, lrs = clf.history_["val_loss"].to_numpy(), clf.history_["lr"].to_numpy()
    best, expected = np.inf, [1e-3]
    for loss in losses[:-1]:
        expected.append(expected[-1] if loss < best * 0.5 else expected[-1] * 0.1)
        best = min(best, loss) if loss < best * 0.5 else best
    assert lrs == pytest.approx(expected)
    assert len(set(np.round(np.log10(lrs), 6))) >= 2, "no reduction: a scheduler that never steps would pass"


def test_warmup_rises_batch_by_batch_then_follows_the_schedule(small_digits, recorder):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="full", epochs=2, lr=1e-3, lr_schedule="none", warmup_epochs=1,
                             callbacks=[recorder()], **FAST).fit(X, y)
    head = [lrs[-1] for lrs in _batch_lrs(recorder.calls)]
    assert head == pytest.approx([1e-2 / 3, 2e-2 / 3, 1e-2, 1e-2, 1e-2, 1e-2])
    assert clf.history_["lr"].tolist() == pytest.approx([1e-2, 1e-2])
    with pytest.raises(ValueError, match='"warmup_epochs" must be a number >= 0'):
        LRSchedule("cosine", warmup_epochs=-1)
    with pytest.raises(ValueError, match="put the warm-up into the LRScheduler"):
        FineTuneClassifier(warmup_epochs=1, lr_schedule=LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1),
                           **FAST).fit(X, y)


def test_layer_decay_gives_lower_rates_to_lower_blocks(small_digits, recorder):
    X, y = small_digits
    FineTuneClassifier(strategy="full", epochs=1, lr=1e-3, lr_schedule="none", layer_decay=0.5,
                       callbacks=[recorder()], **FAST).fit(X, y)
    lrs = _batch_lrs(recorder.calls)[0]
    *blocks, head = lrs
    assert head == pytest.approx(1e-2) and blocks[-1] == pytest.approx(1e-3)
    assert blocks == pytest.approx([1e-3 * 0.5 ** (len(blocks) - 1 - i) for i in range(len(blocks))])
    with pytest.raises(ValueError, match=r'"layer_decay" must be None or a number in \(0, 1\]'):
        FineTuneClassifier(layer_decay=1.5, **FAST).fit(X, y)


def test_tta_averages_an_image_and_its_mirror(small_digits):
    from hybridtl.finetune import predict_proba

    X, y = small_digits
    clf = FineTuneClassifier(strategy="full", epochs=1, lr=1e-3, **FAST).fit(X, y)
    inputs = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")
    one = predict_proba(clf.model_, [inputs], cpu, False)
    mirror = predict_proba(clf.model_, [inputs.flip(3)], cpu, False)
    both = predict_proba(clf.model_, [inputs], cpu, False, tta=True)
    assert torch.allclose(both, (one + mirror) / 2, atol=1e-6) and not torch.allclose(both, one, atol=1e-4)
    plain = clf.predict_proba(X)
    averaged = clf.set_params(tta=True).predict_proba(X)
    assert averaged.shape == plain.shape and np.allclose(averaged.sum(axis=1), 1)
    assert not np.allclose(averaged, plain, atol=1e-6)


def test_warm_start_continues_from_the_fitted_weights(small_digits):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="head", epochs=2, lr=1e-3, validation_fraction=None, **FAST).fit(X, y)
    first = clf.history_.copy()
    fresh = clone(clf).set_params(epochs=1).fit(X, y)
    clf.set_params(warm_start=True, epochs=1).fit(X, y)
    assert clf.history_["epoch"].tolist() == [1, 2, 3]
    assert clf.history_["train_loss"].iloc[:2].tolist() == first["train_loss"].tolist()
    assert clf.history_["train_loss"].iloc[2] < fresh.history_["train_loss"].iloc[0]  # it did not start again
    with pytest.raises(ValueError, match="warm_start=True continues a model fitted on classes"):
        clf.fit(X[y != 2], y[y != 2])


def test_refit_full_trains_on_everything_up_to_the_chosen_epoch(small_digits, recorder):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="head", epochs=3, lr=1e-3, callbacks=[recorder()],
                             **{**FAST, "refit_full": True}).fit(X, y)
    assert clf.refit_epochs_ == clf.best_epoch_ and len(clf.history_) == 3
    batches_per_epoch = [sum(1 for _ in group) for group in _epochs(recorder.calls)]
    assert batches_per_epoch[:3] == [3, 3, 3]  # 48 images, then all 60 in the refit
    assert batches_per_epoch[3:] == [4] * clf.best_epoch_
    with pytest.raises(ValueError, match="refit_full=True refits on the part held out"):
        clone(clf).fit(X, y, validation_data=(X[:9], y[:9]))


def _epochs(calls):
    group = None
    for kind, value in calls:
        if kind == "epoch_begin":
            group = []
        elif kind == "batch":
            group.append(value)
        elif kind == "epoch_end":
            yield group


def test_verbose_prints_one_line_per_epoch(small_digits, capsys):
    X, y = small_digits
    FineTuneClassifier(strategy="head", epochs=2, verbose=1, **FAST).fit(X, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "val_loss" in lines[0]


def test_a_model_with_the_new_options_saves_and_loads_safely(small_digits, tmp_path):
    X, y = small_digits
    clf = FineTuneClassifier(strategy="full", epochs=1, layer_decay=0.8, tta=True, **FAST).fit(X, y)
    hybridtl.save(clf, tmp_path / "m.skops")
    again = hybridtl.load(tmp_path / "m.skops")
    assert np.allclose(again.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_saved_training_callbacks_load_but_unknown_classes_are_refused(small_digits, tmp_path, recorder):
    X, y = small_digits
    step = LRScheduler(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    clf = FineTuneClassifier(strategy="head", epochs=1, lr_schedule=step, callbacks=[Checkpoint(tmp_path / "c.pt")],
                             **FAST).fit(X, y)
    hybridtl.save(clf, tmp_path / "ok.hybridtl")
    again = hybridtl.load(tmp_path / "ok.hybridtl")
    assert again.lr_schedule.policy is torch.optim.lr_scheduler.StepLR and again.callbacks[0].monitor == "val_loss"
    clf.set_params(callbacks=[recorder()])
    hybridtl.save(clf, tmp_path / "mine.hybridtl")
    with pytest.raises(ValueError, match=r"Recorder.*set_params\(callbacks=None\) before saving"):
        hybridtl.load(tmp_path / "mine.hybridtl")


def test_freeze_blocks_keeps_the_lowest_blocks_as_they_were_and_saves_safely(small_digits, tmp_path):
    from hybridtl.backbones import load_backbone

    X, y = small_digits
    clf = FineTuneClassifier(strategy="full", epochs=2, callbacks=[FreezeBlocks(4)], **FAST).fit(X, y)
    full = FineTuneClassifier(strategy="full", epochs=1, **FAST).fit(X, y)
    assert (clf.history_["n_trainable_params"] < full.history_["n_trainable_params"].iloc[0]).all()
    pretrained, fitted = load_backbone(clf.backbone, "imagenet").module.state_dict(), clf.model_.state_dict()
    # Lite0's lowest 4 blocks: the stem (conv_stem, bn1) and the first three stages; running statistics included
    low = [n for n in pretrained if n.startswith(("conv_stem", "bn1.", "blocks.0.", "blocks.1.", "blocks.2."))]
    assert low and all(torch.equal(pretrained[n], fitted[n]) for n in low)
    assert not all(torch.equal(pretrained[n], fitted[n]) for n in pretrained if n.startswith("blocks.5."))
    hybridtl.save(clf, tmp_path / "frozen.hybridtl")
    assert hybridtl.load(tmp_path / "frozen.hybridtl").callbacks[0].n == 4
