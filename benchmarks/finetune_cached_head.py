"""Epochs that train the new layer alone on features computed once, against the full forward pass every
epoch (and, for head-only fine-tuning, a plain head-only loop): accuracy (mean and spread over seeds) and
whole-fit seconds, weights loading included.

The contenders run in turn for each seed, in one process. "before" is the same estimator with the
full forward pass every epoch (what every fit did until features were computed once); the plain loop
is what a careful PyTorch user writes: the frozen network in eval mode, Adam at 3e-3 on the new layer
only, horizontal flips, every training image, the same epochs. ``--strategy two_stage`` compares
two_stage's defaults (its first ``head_epochs`` on features) before and after.

    python benchmarks/finetune_cached_head.py --task photos64 --seeds 0 1 2 --epochs 8
    python benchmarks/finetune_cached_head.py --task photos64 --size 224 --seeds 0 1 2 --epochs 8
    python benchmarks/finetune_cached_head.py --strategy two_stage --task photos64 --size 224 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import time
import warnings
from unittest import mock

import numpy as np
import pandas as pd
from finetune_bn import at_size
from finetune_defaults import TASKS, plain_loop

from hybridtl.finetune import FineTuneClassifier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="photos64", choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--size", type=int, default=None, help="feed the task's images at this size instead")
    parser.add_argument("--strategy", default="head", choices=["head", "two_stage"])
    parser.add_argument("--only", choices=["now", "before"],
                        help="fit this contender alone (to time whole processes against each other)")
    args = parser.parse_args(argv)
    task = TASKS[args.task] if args.size is None else at_size(TASKS[args.task], args.size)
    rows = []
    for seed in args.seeds:
        X_train, y_train, X_test, y_test, size = task(seed)
        name = args.strategy
        contenders = {
            f"{name}, features once (now)": ({"strategy": name}, False),
            f"{name}, full forward every epoch (before)": ({"strategy": name}, True),
        }
        if args.only:
            contenders = {key: value for key, value in contenders.items() if f"({args.only})" in key}
        elif name == "head":
            contenders["head, features once, lr=3e-3, 30 epochs"] = ({"strategy": "head", "lr": 3e-3, "epochs": 30},
                                                                      False)
            start = time.perf_counter()
            predicted = plain_loop(X_train, y_train, X_test, size, args.epochs, seed, lr=3e-3, head_only=True)
            accuracy = float(np.mean(predicted == y_test))
            rows.append({"contender": "plain head-only loop (Adam 3e-3)", "seed": seed, "accuracy": accuracy,
                         "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
        for name, (params, full_forward) in contenders.items():
            params = {"epochs": args.epochs, **params}
            clf = FineTuneClassifier(image_size=size, device="cpu", progress=False, random_state=seed, **params)
            patch = mock.patch("hybridtl.finetune._estimator.cached_epochs", lambda *a: 0)
            start = time.perf_counter()
            with warnings.catch_warnings(), (patch if full_forward else mock.patch.dict({})):
                warnings.simplefilter("ignore")
                accuracy = clf.fit(X_train, y_train).score(X_test, y_test)
            seconds, epochs = time.perf_counter() - start, clf.history_["seconds"]
            rows.append({"contender": name, "seed": seed, "accuracy": accuracy, "seconds": seconds,
                         "cached": clf.cached_features_, "epoch_seconds": [round(e, 2) for e in epochs],
                         "outside_epochs": seconds - epochs.sum()})  # weights, features, scoring
            print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    table = runs.groupby("contender", sort=False).agg(accuracy=("accuracy", "mean"), sd=("accuracy", "std"),
                                                      seconds=("seconds", "mean"), best_s=("seconds", "min"))
    print(f"{args.strategy}: {args.task} at {size} px, epochs={args.epochs}, seeds={args.seeds} (test accuracy; "
          "whole fit, weights loading included)")
    print(table.round(3).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
