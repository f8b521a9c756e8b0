"""Extraction in bf16 against fp32 (OpenVINO): throughput, and what the features are worth to a head.

Throughput: EfficientNet-Lite0 at 224 px on uint8 arrays, batch 64, the two precisions in turn,
``--rounds`` rounds, the best of each. Accuracy: on each task and seed the same images are
extracted in both precisions, and logistic regression and the RBF SVM (the built-in heads) are
fitted on each; test accuracy, mean and spread over seeds, with the largest gap between precisions.

    python benchmarks/precision.py --seeds 0 1 2 --rounds 3
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
import pandas as pd
from finetune_bn import at_size, digits32, photos64
from finetune_defaults import tints64
from sklearn.pipeline import Pipeline

from hybridtl.features import CNNFeatureExtractor
from hybridtl.heads import make_head

TASKS = {"digits64": at_size(digits32, 64), "photos64": photos64, "photos224": at_size(photos64, 224),
         "tints64": tints64}
PRECISIONS = ("fp32", "bf16")


def throughput(rounds, n=256):
    X = np.random.default_rng(0).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    extractors = {p: CNNFeatureExtractor(device="cpu", cache=None, batch_size=64, precision=p).fit()
                  for p in PRECISIONS}
    for ext in extractors.values():
        ext.transform(X[:64])  # compile first
    best = {p: 0.0 for p in PRECISIONS}
    for _ in range(rounds):
        for precision, ext in extractors.items():
            start = time.perf_counter()
            ext.transform(X)
            best[precision] = max(best[precision], n / (time.perf_counter() - start))
    return best


def accuracies(tasks, seeds):
    rows = []
    for task, seed in itertools.product(tasks, seeds):
        X_train, y_train, X_test, y_test, size = TASKS[task](seed)
        for precision in PRECISIONS:
            ext = CNNFeatureExtractor(image_size=size, device="cpu", cache=None, precision=precision).fit()
            train, test = ext.transform(X_train), ext.transform(X_test)
            for head in ("logreg", "svm"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = Pipeline(make_head(head, random_state=seed)).fit(train, y_train)
                rows.append({"task": task, "seed": seed, "head": head, "precision": precision,
                             "accuracy": model.score(test, y_test)})
        print(rows[-4:], flush=True)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    speed = throughput(args.rounds)
    print(f"images/s at 224 px, batch 64, best of {args.rounds}: "
          + ", ".join(f"{p} {v:.1f}" for p, v in speed.items()) + f"; bf16/fp32 {speed['bf16'] / speed['fp32']:.2f}x")
    runs = accuracies(args.tasks, args.seeds)
    table = runs.pivot_table(index=["task", "head"], columns="precision", values="accuracy", aggfunc=["mean", "std"],
                             sort=False)
    out = pd.DataFrame({p: [f"{m:.3f} +- {s:.3f}" for m, s in zip(table["mean"][p], table["std"][p])]
                        for p in PRECISIONS}, index=table.index)
    out["mean gap (bf16 - fp32)"] = (table["mean"]["bf16"] - table["mean"]["fp32"]).round(3).to_numpy()
    print(out.reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
