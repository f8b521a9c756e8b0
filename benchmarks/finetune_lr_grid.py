"""The rate of full fine-tuning chosen on the user's own data: ``finetune_full``'s grid against its default rate.

At the default lr=3e-4, ``full`` overshoots on photos close to ImageNet's, while lr=1e-4 loses on
digits and on a colour task (``benchmarks/finetune_defaults.py``, on the benchmarks page). The
recipe's grid holds both rates, so ``hybridtl fit --recipe finetune_full --grid`` picks one by
cross-validation on the training images. Here, per task and seed: the recipe's estimator at its
default rate, and the same estimator in scikit-learn's ``GridSearchCV`` over the recipe's grid (3
folds, refit on all the training images), both scored on the same held-out test images.

    python benchmarks/finetune_lr_grid.py --tasks digits64 photos64 tints64 --seeds 0 1 2 --epochs 8
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import pandas as pd
from finetune_defaults import TASKS
from sklearn.model_selection import GridSearchCV

from hybridtl.recipes import load_recipe


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits64", "photos64", "tints64"], choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--cv", type=int, default=3)
    args = parser.parse_args(argv)
    recipe = load_recipe("finetune_full")
    rows = []
    for task, seed in itertools.product(args.tasks, args.seeds):
        X_train, y_train, X_test, y_test, size = TASKS[task](seed)
        estimator = recipe.build(image_size=size, device="cpu", random_state=seed).set_params(
            epochs=args.epochs, progress=False)
        contenders = {"default rate": estimator,
                      "rate chosen by the grid": GridSearchCV(estimator, recipe.grid, cv=args.cv)}
        for name, model in contenders.items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                accuracy = model.fit(X_train, y_train).score(X_test, y_test)
            lr = model.best_params_["lr"] if hasattr(model, "best_params_") else model.lr
            rows.append({"task": task, "seed": seed, "contender": name, "lr": lr, "accuracy": accuracy,
                         "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    table = runs.groupby(["task", "contender"], sort=False).agg(
        mean=("accuracy", "mean"), sd=("accuracy", "std"), lrs=("lr", lambda s: " ".join(f"{v:g}" for v in s)),
        seconds=("seconds", "mean"))
    print(f"finetune_full, epochs={args.epochs}, seeds={args.seeds}, grid {recipe.grid} ({args.cv} folds); "
          "test accuracy")
    print(table.round(3).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
