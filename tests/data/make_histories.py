"""Writes ``histories_v0.json``: fits' ``history_`` with fixed seeds, recorded once by the code of
commit 6a56f7c (before the trainer moved out of the estimator), so that ``tests/test_legacy_models.py``
can check that training gives the same results after the move. Not run by the tests.

    python tests/data/make_histories.py
"""

import json
from pathlib import Path

from torch.optim.lr_scheduler import StepLR

from hybridtl.callbacks import LRScheduler
from hybridtl.datasets import load_digits_images  # the layout of 6a56f7c
from hybridtl.finetune import FineTuneClassifier

HERE = Path(__file__).resolve().parent

# name -> FineTuneClassifier parameters; every fit: digits 0-3, 120 images, 32 px, 4 epochs, CPU
RUNS = {
    "full_cosine": {"strategy": "full"},
    "two_stage_step_warmup": {"strategy": "two_stage", "head_epochs": 2, "lr_schedule": "step", "warmup_epochs": 1},
    "gradual_torch_scheduler": {"strategy": "gradual", "layer_decay": 0.8,
                                "lr_schedule": LRScheduler(StepLR, step_size=1, gamma=0.5)},
    "head_refit_full": {"strategy": "head", "refit_full": True, "augment": "light"},
}
COMMON = {"epochs": 4, "image_size": 32, "batch_size": 16, "device": "cpu", "progress": False, "random_state": 0}


def data():
    X, y = load_digits_images(n_classes=4)
    return X[:120], y[:120]


def main():
    X, y = data()
    out = {}
    for name, params in RUNS.items():
        clf = FineTuneClassifier(**COMMON, **params).fit(X, y)
        history = clf.history_.drop(columns="seconds")
        out[name] = {"history": history.to_dict(orient="list"), "refit_epochs": clf.refit_epochs_,
                     "proba": clf.predict_proba(X[:8]).round(7).tolist()}
    (HERE / "histories_v0.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
