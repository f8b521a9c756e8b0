"""BatchNorm policy x fine-tuning strategy on two public tasks, mean and spread over seeds.

Tasks (no download):
- digits32: scikit-learn's real digits at 32 px, 500 train / 300 test images, split per seed;
- photos64: 9 classes, one per scikit-image bundled photo; 40 train crops from each photo's left
  half and 40 test crops from its right half (held out: no test pixel was seen in training),
  side 25-50 % of the photo's height, resized to 64 px; crops drawn per seed.

    python benchmarks/finetune_bn.py --seeds 0 1 2 --epochs 4 --lr 3e-4
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.model_selection import train_test_split

from hybridtl.finetune import FineTuneClassifier
from hybridtl.images import load_digits_images

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "colorwheel", "logo"]


def digits32(seed):
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=500, test_size=300, stratify=y,
                                                        random_state=seed)
    return X_train, y_train, X_test, y_test, 32


def _crops(photo, n, left, rng, size=64):
    h, w = photo.shape[:2]
    half = (0, w // 2) if left else (w // 2, w)
    out = []
    for _ in range(n):
        side = int(h * rng.uniform(0.25, 0.5))
        side = min(side, half[1] - half[0])
        y0 = rng.integers(0, h - side + 1)
        x0 = rng.integers(half[0], half[1] - side + 1)
        out.append(np.asarray(Image.fromarray(photo[y0 : y0 + side, x0 : x0 + side]).resize((size, size))))
    return out


def photos64(seed, per_class=40):
    import skimage.data

    rng = np.random.default_rng(seed)
    X_train, y_train, X_test, y_test = [], [], [], []
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3]
        X_train += _crops(photo, per_class, True, rng)
        X_test += _crops(photo, per_class, False, rng)
        y_train += [name] * per_class
        y_test += [name] * per_class
    return np.stack(X_train), np.array(y_train), np.stack(X_test), np.array(y_test), 64


def at_size(task, size):
    """The same task (same images and splits per seed), fed to the network at ``size`` px."""

    def load(seed):
        X_train, y_train, X_test, y_test, _ = task(seed)
        return X_train, y_train, X_test, y_test, size

    return load


TASKS = {"digits32": digits32, "photos64": photos64}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--strategies", nargs="+", default=["head", "full", "two_stage", "gradual"])
    parser.add_argument("--bn", nargs="+", default=["frozen", "trainable"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--out", help="optional CSV of every run")
    args = parser.parse_args(argv)
    rows = []
    for task, seed in itertools.product(args.tasks, args.seeds):
        X_train, y_train, X_test, y_test, size = TASKS[task](seed)
        for strategy, bn in itertools.product(args.strategies, args.bn):
            clf = FineTuneClassifier(strategy=strategy, bn=bn, lr=args.lr, epochs=args.epochs, image_size=size,
                                     head_epochs=max(1, args.epochs // 2), device="cpu", progress=False,
                                     random_state=seed)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                accuracy = clf.fit(X_train, y_train).score(X_test, y_test)
            rows.append({"task": task, "strategy": strategy, "bn": bn, "seed": seed, "accuracy": accuracy,
                         "best_epoch": clf.best_epoch_, "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    if args.out:
        runs.to_csv(args.out, index=False)
    table = runs.groupby(["task", "strategy", "bn"])["accuracy"].agg(["mean", "std", "count"]).reset_index()
    print(f"lr={args.lr} epochs={args.epochs} seeds={args.seeds} (accuracy on the held-out test part)")
    print(table.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
