"""Classical heads on the same frozen-CNN features: is any built-in head a strawman?

Every contender sees the same features (EfficientNet-Lite0, ImageNet, extracted once per task and
seed) and is scored on the same held-out test part; "grid" contenders tune on the training part
with 3-fold GridSearchCV, as ``hybridtl bench`` does with each recipe's GRID. Tasks (no download),
from ``benchmarks/finetune_bn.py``: digits at 32 and 64 px (500 train / 300 test) and photos64 (9
classes of crops from scikit-image's photos, test crops from the other half of each photo), the
photos also at the backbone's own 224 px.

    python benchmarks/heads.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import pandas as pd
from finetune_bn import at_size, digits32, photos64
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC

from hybridtl.features import CNNFeatureExtractor
from hybridtl.heads import make_head

TASKS = {"digits32": digits32, "digits64": at_size(digits32, 64), "photos64": photos64,
         "photos224": at_size(photos64, 224)}


def _svm(**params):
    return CalibratedClassifierCV(SVC(**params), ensemble=False)  # as the built-in head


def contenders(seed):
    """name -> (estimator on features, grid or None)."""
    from sklearn.pipeline import Pipeline

    from hybridtl.heads import LabelXGBClassifier

    def built_in(head):
        return Pipeline(make_head(head, "cpu", seed))

    def standardised(model):
        return make_pipeline(StandardScaler(), model)

    def l2(model):
        return make_pipeline(Normalizer(), model)

    old_xgb = LabelXGBClassifier(n_estimators=200, learning_rate=0.1, max_depth=4, tree_method="hist",
                                 random_state=seed)
    return {
        "logreg (built-in)": (built_in("logreg"), None),
        "logreg (built-in), GRID C": (built_in("logreg"), {"head__C": [1.0, 10.0, 100.0]}),
        "logreg C=1 standardised (old built-in)": (standardised(LogisticRegression(max_iter=2000)), None),
        "logreg C=1 unscaled": (LogisticRegression(max_iter=2000), None),
        "svm rbf (built-in)": (built_in("svm"), None),
        "svm rbf (built-in), GRID C": (built_in("svm"), {"head__estimator__C": [1.0, 10.0, 100.0]}),
        "svm rbf C=1 standardised (old built-in)": (standardised(_svm(C=1.0, random_state=seed)), None),
        "svm rbf C=10 standardised": (standardised(_svm(C=10.0, random_state=seed)), None),
        "svm rbf C=1 unscaled": (_svm(C=1.0, random_state=seed), None),
        "svm linear C=0.01 standardised": (standardised(_svm(kernel="linear", C=0.01)), None),
        "svm linear C=1 L2-normalised": (l2(_svm(kernel="linear", C=1.0)), None),
        "xgboost (built-in)": (built_in("xgboost"), None),
        "xgboost 200 trees depth 4 (old built-in)": (old_xgb, None),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", help="optional CSV of every run")
    args = parser.parse_args(argv)
    rows = []
    for task, seed in itertools.product(args.tasks, args.seeds):
        X_train, y_train, X_test, y_test, size = TASKS[task](seed)
        extractor = CNNFeatureExtractor(image_size=size, device="cpu", progress=False)
        F_train, F_test = extractor.fit_transform(X_train), extractor.transform(X_test)
        for name, (model, grid) in contenders(seed).items():
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if grid:
                    model = GridSearchCV(model, grid, cv=3)
                accuracy = model.fit(F_train, y_train).score(F_test, y_test)
            best = getattr(model, "best_params_", None)
            rows.append({"task": task, "contender": name, "seed": seed, "accuracy": accuracy,
                         "best": None if best is None else str(best), "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    if args.out:
        runs.to_csv(args.out, index=False)
    table = runs.pivot_table(index="contender", columns="task", values="accuracy", aggfunc=["mean", "std"],
                             dropna=False, sort=False)
    cells = {task: [f"{m:.3f} +- {s:.3f}" for m, s in zip(table["mean"][task], table["std"][task])]
             for task in args.tasks}
    print(f"seeds={args.seeds} (accuracy on the held-out test part, mean +- sd)")
    print(pd.DataFrame(cells, index=table.index).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
