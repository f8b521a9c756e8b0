"""Writes the model files in this folder; kept to show how they were made, not run by the tests.

They were written once, by the code of commit 6a56f7c (before the package was split into
sub-packages), so that ``tests/test_legacy_models.py`` can check that files saved by that layout
still load and predict the same. Running this again with today's code writes files in today's
layout, which is not what those tests are for.

    python tests/data/make_legacy_models.py
"""

import json
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from torch.optim.lr_scheduler import StepLR

import hybridtl
from hybridtl.callbacks import LRScheduler
from hybridtl.datasets import load_digits_images
from hybridtl.finetune import FineTuneClassifier
from hybridtl.pixels import PixelFeatures

HERE = Path(__file__).resolve().parent


def fixed_images():
    """The images every file's predictions are recorded on: the first 12 real digits of classes 0-2."""
    X, y = load_digits_images(n_classes=3)
    return X[:60], y[:60], X[60:72]


def main():
    X, y, probe = fixed_images()
    models = {
        "finetune_v0": FineTuneClassifier(backbone="timm:test_efficientnet", weights=None, strategy="full", epochs=2,
                                          image_size=32, batch_size=16, device="cpu", progress=False,
                                          random_state=0, lr_schedule=LRScheduler(StepLR, step_size=1)),
        "pixels_logreg_v0": Pipeline([("pixels", PixelFeatures(image_size=16)), ("scale", StandardScaler()),
                                      ("head", LogisticRegression(max_iter=500))]),
    }
    expected = {}
    for name, model in models.items():
        model.fit(X, y)
        hybridtl.save(model, HERE / f"{name}.hybridtl")
        joblib.dump(model, HERE / f"{name}.pkl")
        expected[name] = {"predict": model.predict(probe).tolist(),
                          "predict_proba": np.round(model.predict_proba(probe), 8).tolist()}
    (HERE / "legacy_predictions.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
