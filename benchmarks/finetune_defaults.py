"""Fine-tuning defaults against a plain 25-line PyTorch loop, on public tasks, mean and spread over seeds.

The plain loop is what a careful PyTorch user writes first: the same pretrained network with a new
last layer, Adam at 3e-4 (new layer x10), horizontal flips, every training image, BatchNorm in
training mode, a fixed number of epochs, the last weights. Every contender sees the same images.

Tasks (no download), from ``benchmarks/finetune_bn.py``: digits32, digits64 (real digits at two
sizes) and photos64 (9 classes of crops from scikit-image's photos, test crops from the other half
of each photo), also at the backbone's own 224 px (photos224); and tints64, a mostly-colour task
(5 tints of crops from the 6 photos bundled with scikit-learn and scikit-image, test crops from
the other half of each photo). ``--hybrid`` adds frozen features with the default logistic head;
``--plain-head`` the plain head-only loop (the network frozen in eval mode, Adam at 3e-3 on the new
layer, flips). A contender's ``"epochs": null`` or ``"lr": null`` takes the strategy's own default
(``hybridtl.finetune.STRATEGY_DEFAULTS``) instead of ``--epochs``.

    python benchmarks/finetune_defaults.py --seeds 0 1 2 --epochs 8
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings

import numpy as np
import pandas as pd
import torch
from finetune_bn import _crops, at_size, digits32, photos64

from hybridtl.callbacks import FreezeBlocks
from hybridtl.finetune import FineTuneClassifier

digits64 = at_size(digits32, 64)


# A mostly-colour task: the class is the tint, whatever the photo the crop comes from.
TINTS = {"natural": (1.0, 1.0, 1.0), "red": (1.0, 0.6, 0.6), "green": (0.6, 1.0, 0.6), "blue": (0.6, 0.6, 1.0),
         "gray": None}


def _bundled_photos():
    import skimage.data
    from sklearn.datasets import load_sample_images

    return list(load_sample_images().images) + [getattr(skimage.data, name)()[..., :3]
                                                for name in ("astronaut", "chelsea", "coffee", "rocket")]


def _tinted(crop, tint):
    if tint is None:
        gray = crop @ np.array([0.299, 0.587, 0.114])
        return np.repeat(gray[..., None], 3, axis=2).round().astype(np.uint8)
    return (crop * np.array(tint)).round().astype(np.uint8)


def tints64(seed, per_class=72):
    """5 tints x 72 crops from 6 bundled photos (scikit-learn's 2, scikit-image's 4), at 64 px; train
    crops from each photo's left half, test crops from its right half."""
    rng = np.random.default_rng(seed)
    photos = _bundled_photos()
    parts = {True: ([], []), False: ([], [])}
    for left, (X, y) in parts.items():
        for name, tint in TINTS.items():
            for i in rng.integers(0, len(photos), per_class):
                X.append(_tinted(_crops(photos[i], 1, left, rng)[0], tint))
                y.append(name)
    (X_train, y_train), (X_test, y_test) = parts[True], parts[False]
    return np.stack(X_train), np.array(y_train), np.stack(X_test), np.array(y_test), 64


def photos224(seed, per_class=40):
    """photos64's crops (same photos, halves and sides) resized straight to 224 px, the backbone's own
    size: a folder of 360 photos of 9 scenes, as a user has at full resolution."""
    import skimage.data
    from finetune_bn import PHOTOS

    rng = np.random.default_rng(seed)
    X_train, y_train, X_test, y_test = [], [], [], []
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3]
        X_train += _crops(photo, per_class, True, rng, size=224)
        X_test += _crops(photo, per_class, False, rng, size=224)
        y_train += [name] * per_class
        y_test += [name] * per_class
    return np.stack(X_train), np.array(y_train), np.stack(X_test), np.array(y_test), 224


TASKS = {"digits32": digits32, "digits64": digits64, "photos64": photos64, "tints64": tints64,
         "photos224": photos224, "photos64at224": at_size(photos64, 224)}


def plain_loop(X_train, y_train, X_test, size, epochs, seed, lr=3e-4, head_only=False):
    """The 25-line loop: returns predicted labels for X_test.

    ``head_only``: the network frozen in eval mode and only the new layer trained, at ``lr``.
    """

    from hybridtl.backbones import load_backbone, replace_classifier
    from hybridtl.images import Preprocess, as_image_set

    torch.manual_seed(seed)
    classes, targets = np.unique(y_train, return_inverse=True)
    backbone = load_backbone("efficientnet_lite0", "imagenet")
    head = replace_classifier(backbone, len(classes))
    model = backbone.module
    prep = Preprocess.from_config(backbone.config, size)
    train = as_image_set(X_train).batches(prep, len(X_train), torch.device("cpu"))
    inputs = next(iter(train))
    head_ids = {id(p) for p in head.parameters()}
    if head_only:
        for p in model.parameters():
            p.requires_grad_(id(p) in head_ids)
        optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    else:
        optimizer = torch.optim.Adam([
            {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": lr},
            {"params": list(head.parameters()), "lr": lr * 10}])
    y = torch.as_tensor(targets)
    for _ in range(epochs):
        model.train(not head_only)
        for idx in torch.randperm(len(y)).split(32):
            batch = inputs[idx]
            flip = torch.rand(len(idx)) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
            loss = torch.nn.functional.cross_entropy(model(batch), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        test = torch.cat(list(as_image_set(X_test).batches(prep, 64, torch.device("cpu"))))
        return classes[model(test).argmax(1).numpy()]


def _estimator_params(params):
    """FineTuneClassifier keyword arguments from a contender's: ``"freeze_lowest": n`` becomes the callback
    ``FreezeBlocks(n)`` (with the default ``bn="frozen"``, the same training as freezing them by hand)."""
    params = dict(params)
    if "freeze_lowest" in params:
        params["callbacks"] = [FreezeBlocks(params.pop("freeze_lowest"))]
    return params


def contenders(spec):
    """name -> FineTuneClassifier keyword arguments, from a JSON object or the built-in list."""
    if spec:
        return json.loads(spec)
    return {
        "full (defaults)": {"strategy": "full"},
        "head": {"strategy": "head"},
        "two_stage": {"strategy": "two_stage"},
        "gradual": {"strategy": "gradual"},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--contenders", help="JSON object: name -> FineTuneClassifier keyword arguments")
    parser.add_argument("--no-plain", action="store_true", help="leave out the plain loop")
    parser.add_argument("--plain-head", action="store_true",
                        help="also the plain head-only loop: the network frozen, Adam at 3e-3 on the new layer")
    parser.add_argument("--hybrid", action="store_true",
                        help="also the hybrid: frozen features and the default logistic head (make_hybrid_pipeline)")
    parser.add_argument("--out", help="optional CSV of every run")
    args = parser.parse_args(argv)
    rows = []
    for task, seed in itertools.product(args.tasks, args.seeds):
        X_train, y_train, X_test, y_test, size = TASKS[task](seed)
        if not args.no_plain:
            start = time.perf_counter()
            accuracy = float(np.mean(plain_loop(X_train, y_train, X_test, size, args.epochs, seed) == y_test))
            rows.append({"task": task, "contender": "plain loop", "seed": seed, "accuracy": accuracy,
                         "best_epoch": None, "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
        if args.plain_head:
            start = time.perf_counter()
            predicted = plain_loop(X_train, y_train, X_test, size, args.epochs, seed, lr=3e-3, head_only=True)
            rows.append({"task": task, "contender": "plain head-only loop", "seed": seed,
                         "accuracy": float(np.mean(predicted == y_test)), "best_epoch": None,
                         "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
        if args.hybrid:
            from hybridtl.heads import make_hybrid_pipeline

            start = time.perf_counter()
            pipe = make_hybrid_pipeline("logreg", image_size=size, device="cpu", cache=None)
            accuracy = pipe.fit(X_train, y_train).score(X_test, y_test)
            rows.append({"task": task, "contender": "hybrid (logreg)", "seed": seed, "accuracy": accuracy,
                         "best_epoch": None, "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
        for name, params in contenders(args.contenders).items():
            params = {"epochs": args.epochs, **_estimator_params(params)}
            clf = FineTuneClassifier(image_size=size, device="cpu", progress=False, random_state=seed, **params)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                accuracy = clf.fit(X_train, y_train).score(X_test, y_test)
            rows.append({"task": task, "contender": name, "seed": seed, "accuracy": accuracy,
                         "best_epoch": clf.best_epoch_, "seconds": time.perf_counter() - start,
                         "epoch_seconds": float(clf.history_["seconds"].median())})
            print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    if args.out:
        runs.to_csv(args.out, index=False)
    table = runs.groupby(["task", "contender"], sort=False).agg(
        mean=("accuracy", "mean"), sd=("accuracy", "std"), n=("accuracy", "size"), seconds=("seconds", "mean"))
    print(f"epochs={args.epochs} seeds={args.seeds} (accuracy on the held-out test part)")
    print(table.round(3).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
