"""recipe="auto" against every single recipe, on the same images: test accuracy and wall time, 3 seeds.

For each task and seed, in separate fresh processes (nothing memoised from one to the other):

- ``auto``: ``AutoClassifier(time_budget=--budget)`` on the training part, its winner scored on
  the test part; its wall time is measured around ``fit`` (weights loading included) and its
  leaderboard saved;
- ``recipes``: every recipe of ``AUTO_RECIPES`` fitted on the same training part as
  ``hybridtl fit --recipe NAME`` fits it (the recipe's defaults, 20 epochs with early stopping
  for fine-tuning), scored on the same test part.

Tasks (no download), from ``benchmarks/finetune_bn.py`` and ``finetune_defaults.py``: digits64
(scikit-learn's real digits, 500 train / 300 test), photos64 (9 classes of crops from
scikit-image's photos, test crops from the other half of each photo, 360 / 360) and tints64
(5 tints of crops from the 6 bundled photos, 360 / 360). Rows are appended to ``OUT/rows.csv``
as they finish, so an interrupted run resumes. The pricing table compares, for every fine-tuning
contender's last fit, the seconds per epoch priced before it started with those measured (from the
saved leaderboards); ``--parts auto`` runs the auto search alone.

    python benchmarks/auto.py --seeds 0 1 2 --budget 180 --out /tmp/hybridtl-auto
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from finetune_bn import at_size, digits32, photos64
from finetune_defaults import tints64

TASKS = {"digits64": at_size(digits32, 64), "photos64": photos64, "tints64": tints64}


def run_auto(task, seed, budget, out):
    from hybridtl.auto import AutoClassifier

    X_train, y_train, X_test, y_test, size = TASKS[task](seed)
    start = time.perf_counter()
    auto = AutoClassifier(time_budget=budget, image_size=size, random_state=seed, device="cpu", progress=False)
    auto.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    auto.leaderboard_.to_csv(out / f"leaderboard_{task}_{seed}.csv", index=False)
    accuracy = float(np.mean(auto.predict(X_test) == y_test))
    return [{"task": task, "seed": seed, "contender": "auto", "winner": auto.best_, "accuracy": accuracy,
             "seconds": seconds, "budget": budget, "refit": auto.refit_}]


def run_recipes(task, seed, names):
    from hybridtl.recipes import load_recipe

    X_train, y_train, X_test, y_test, size = TASKS[task](seed)
    rows = []
    for name in names:
        estimator = load_recipe(name).build(image_size=size, device="cpu", random_state=seed, progress=False)
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        rows.append({"task": task, "seed": seed, "contender": name, "winner": "", "seconds": seconds,
                     "accuracy": float(np.mean(estimator.predict(X_test) == y_test))})
    return rows


def one(args):
    """Run one part in this process and print its rows as JSON (the parent runs each part in a fresh process)."""
    warnings.filterwarnings("ignore")
    out = Path(args.out)
    if args.part == "auto":
        rows = run_auto(args.task, args.seed, args.budget, out)
    else:
        from hybridtl.auto import AUTO_RECIPES

        rows = run_recipes(args.task, args.seed, AUTO_RECIPES)
    print("ROWS " + json.dumps(rows))


def summarise(rows):
    """Per task and contender: mean and sd of accuracy over seeds, mean seconds; and auto against the best."""
    table = rows.groupby(["task", "contender"], sort=False).agg(
        accuracy_mean=("accuracy", "mean"), accuracy_sd=("accuracy", "std"), seconds_mean=("seconds", "mean"),
        seconds_max=("seconds", "max"), n_seeds=("seed", "count")).reset_index()
    verdicts = []
    for task, part in table.groupby("task", sort=False):
        singles = part[part["contender"] != "auto"]
        best = singles.loc[singles["accuracy_mean"].idxmax()]
        auto = part[part["contender"] == "auto"].iloc[0]
        runs = rows[(rows["task"] == task) & (rows["contender"] == "auto")]
        verdicts.append({"task": task, "best_recipe": best["contender"], "best_mean": best["accuracy_mean"],
                         "auto_mean": auto["accuracy_mean"], "auto_sd": auto["accuracy_sd"],
                         "auto_minus_best": auto["accuracy_mean"] - best["accuracy_mean"],
                         "auto_seconds_max": runs["seconds"].max(), "budget": runs["budget"].max(),
                         "winners": ", ".join(runs["winner"])})
    return table, pd.DataFrame(verdicts)


def pricing(out, tasks, seeds):
    """Every fine-tuning contender's priced against measured seconds per epoch, from the saved leaderboards."""
    rows = []
    for task in tasks:
        for seed in seeds:
            path = out / f"leaderboard_{task}_{seed}.csv"
            if not path.exists():
                continue
            board = pd.read_csv(path)
            if "priced_s_epoch" not in board:
                continue
            board = board[board["priced_s_epoch"].notna()]
            for _, row in board.iterrows():
                ratio = row["s_epoch"] / row["priced_s_epoch"]
                rows.append({"task": task, "seed": seed, "contender": row["contender"], "epochs": row["epochs"],
                             "priced_s_epoch": row["priced_s_epoch"], "measured_s_epoch": row["s_epoch"],
                             "measured_over_priced": ratio, "status": row["status"]})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=180.0)
    parser.add_argument("--out", default="/tmp/hybridtl-auto")
    parser.add_argument("--parts", nargs="+", choices=("auto", "recipes"), default=["auto", "recipes"])
    parser.add_argument("--part", choices=("auto", "recipes"), help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part:
        return one(args)
    csv = out / "rows.csv"
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=["task", "seed", "contender"])
    for task in args.tasks:
        for seed in args.seeds:
            for part in args.parts:
                have = set(done[(done["task"] == task) & (done["seed"] == seed)]["contender"])
                if (part == "auto" and "auto" in have) or (part == "recipes" and have - {"auto"}):
                    continue
                command = [sys.executable, __file__, "--part", part, "--task", task, "--seed", str(seed),
                           "--budget", str(args.budget), "--out", str(out)]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                line = next(x for x in result.stdout.splitlines() if x.startswith("ROWS "))
                new = pd.DataFrame(json.loads(line[5:]))
                done = pd.concat([done, new], ignore_index=True)
                done.to_csv(csv, index=False)
                print(new.round(4).to_string(index=False), flush=True)
    prices = pricing(out, args.tasks, args.seeds)
    if len(prices):
        worst = prices["measured_over_priced"].map(lambda r: max(r, 1 / r)).max()
        print(prices.round(3).to_markdown(index=False))
        print(f"\nworst pricing error: {worst:.2f}x\n")
    if "recipes" in args.parts:
        table, verdicts = summarise(done[done["task"].isin(args.tasks) & done["seed"].isin(args.seeds)])
        print(table.round(4).to_markdown(index=False))
        print()
        print(verdicts.round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()
