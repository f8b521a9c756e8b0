"""The ``hybridtl`` command: backbones, extract, fit, predict, evaluate, bench.

DATA is a folder with one subfolder per class, a CSV with ``path`` and
``label`` columns, or ``digits`` (scikit-learn's real handwritten digits).
Errors in what the user gave print one line and exit with code 2; nothing is
written half-way (every output file is written to a temporary name first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_path

DEFAULT_RECIPES = ("pixels_logreg", "cnn_logreg", "cnn_svm", "cnn_xgboost", "finetune_head", "finetune_full",
                   "finetune_gradual", "finetune_two_stage", "scratch")


DATA_HELP = "image folder (one subfolder per class), CSV with path,label columns, or 'digits'"
UNLABELLED_HELP = DATA_HELP + "; also a plain folder of images or a CSV with a path column only"


def _data_args(parser, help=DATA_HELP):
    parser.add_argument("data", help=help)
    parser.add_argument("--limit-per-class", type=int, default=None, help="use at most N images per class")


def _settings_args(parser):
    parser.add_argument("--image-size", type=int, default=None, help="input side in px (default: the backbone's)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--epochs", type=int, default=20, help="fine-tuning epochs (early stopping may end sooner)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-augment", action="store_true", help="no random crops/flips when fine-tuning")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _batch_size(text):
    return text if text == "auto" else int(text)


def _settings(args):
    return {"image_size": args.image_size, "device": args.device, "epochs": args.epochs,
            "batch_size": args.batch_size, "augment": not args.no_augment, "random_state": args.seed,
            "progress": not args.no_progress}


def _load(args, labelled=True):
    from .data import load_data

    return load_data(args.data, args.limit_per_class, args.seed, labelled=labelled)


def _load_model(path):
    import joblib

    if not Path(path).is_file():
        raise ValueError(f"model file {str(path)!r} does not exist")
    try:
        return joblib.load(path)
    except Exception as exc:
        raise ValueError(f"could not load model file {str(path)!r}: {type(exc).__name__}: {exc}") from None


# -- verbs -------------------------------------------------------------------


def cmd_backbones(args):
    from .backbones import list_backbones

    table = list_backbones()
    if not args.all:
        table = table[(table["family"] == "embedded") | table["weights_available"]]
    print(table.to_string(index=False))
    print("\nAny 'timm:NAME' or 'torchvision:NAME' also works with weights=None or a local state-dict file.")


def cmd_extract(args):
    from .features import CNNFeatureExtractor

    data = _load(args, labelled=False)
    weights = None if args.weights == "none" else args.weights
    extractor = CNNFeatureExtractor(backbone=args.backbone, weights=weights, layer=args.layer, pooling=args.pooling,
                                    image_size=args.image_size, batch_size=args.batch_size, device=args.device,
                                    num_workers=args.num_workers, progress=not args.no_progress)
    features = extractor.fit().transform(data.X)
    out = Path(args.out)
    ids = np.asarray([str(i) for i in data.ids])
    labels = data.y if data.y is not None else np.full(len(ids), "")
    if out.suffix == ".parquet":
        table = pd.DataFrame(features, columns=extractor.get_feature_names_out())
        table.insert(0, "label", labels)
        table.insert(0, "path", ids)
        with atomic_path(out) as tmp:
            table.to_parquet(tmp, index=False)
    elif out.suffix == ".npz":
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, paths=ids, labels=labels, features=features,
                         feature_names=extractor.get_feature_names_out().astype(str))
    else:
        raise ValueError(f"--out must end in .npz or .parquet, got {str(out)!r}")
    print(f"wrote {features.shape[0]} x {features.shape[1]} features to {out}")


def cmd_fit(args):
    import joblib
    from sklearn.model_selection import GridSearchCV

    from .recipes import load_recipe

    recipe = load_recipe(args.recipe)
    data = _load(args)
    estimator = recipe.build(**_settings(args))
    if args.grid:
        search = GridSearchCV(estimator, recipe.grid, cv=args.cv).fit(data.X, data.y)
        estimator = search.best_estimator_
        print(f"best parameters {search.best_params_} (cv accuracy {search.best_score_:.4f})")
    else:
        estimator.fit(data.X, data.y)
    with atomic_path(args.out) as tmp:
        joblib.dump(estimator, tmp)
    print(f"fitted {recipe.name} on {len(data.y)} images; saved {args.out}")


def cmd_predict(args):
    model = _load_model(args.model)
    data = _load(args, labelled=False)
    proba = model.predict_proba(data.X)
    table = pd.DataFrame({"path": [str(i) for i in data.ids],
                          "predicted": model.classes_[proba.argmax(axis=1)]})
    for j, label in enumerate(model.classes_):
        table[f"proba_{label}"] = proba[:, j]
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    print(f"wrote {len(table)} predictions to {args.out}")


def cmd_evaluate(args):
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    from .plots import plot_confusion_matrix

    model = _load_model(args.model)
    data = _load(args)
    predicted = model.predict(data.X)
    labels = np.unique(np.r_[np.asarray(model.classes_), data.y])
    print(f"accuracy  {accuracy_score(data.y, predicted):.4f}")
    print(f"macro-F1  {f1_score(data.y, predicted, average='macro'):.4f}\n")
    print(classification_report(data.y, predicted, zero_division=0))
    matrix = pd.DataFrame(confusion_matrix(data.y, predicted, labels=labels), index=labels, columns=labels)
    print("confusion matrix (rows: true, columns: predicted)")
    print(matrix.to_string())
    if args.out:
        path = plot_confusion_matrix(data.y, predicted, labels, Path(args.out) / "confusion_matrix.png",
                                     title=Path(args.model).name)
        print(f"\nsaved {path}")


def cmd_bench(args):
    from .bench import run_benchmark

    data = _load(args)
    results = run_benchmark(data, args.recipes, args.out, settings=_settings(args), random_state=args.seed,
                            grid=args.grid, progress=not args.no_progress)
    print(f"{data.name}: {len(data.y)} images, {len(np.unique(data.y))} classes, split 60/20/20 (seed {args.seed})")
    print(results.round(4).to_markdown(index=False))
    print(f"\nwrote {args.out}/results.csv, results.md, summary.png and one confusion matrix per recipe")


# -- parser ------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(prog="hybridtl", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("backbones", help="the backbone registry and which weights are available offline")
    p.add_argument("--all", action="store_true", help="also list every backbone without local weights")
    p.set_defaults(func=cmd_backbones)

    p = verbs.add_parser("extract", help="CNN features to .npz or .parquet (paths, labels, features)")
    _data_args(p, UNLABELLED_HELP)
    p.add_argument("--out", required=True, help="FILE.npz or FILE.parquet")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--weights", default="imagenet", help="'imagenet', 'none' or a state-dict file")
    p.add_argument("--layer", default=None)
    p.add_argument("--pooling", default="avg", choices=["avg", "max", "gem", "avgmax"])
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--batch-size", type=_batch_size, default="auto", help="'auto' (64 on CUDA, 16 on CPU) or N")
    p.add_argument("--device", default="auto")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_extract)

    p = verbs.add_parser("fit", help="fit a recipe and save the model (joblib)")
    _data_args(p)
    p.add_argument("--recipe", required=True, help="a built-in recipe name or a recipe .py file")
    p.add_argument("--out", required=True, help="model file, e.g. model.joblib")
    p.add_argument("--grid", action="store_true", help="tune the recipe's GRID with GridSearchCV")
    p.add_argument("--cv", type=int, default=3, help="folds for --grid")
    _settings_args(p)
    p.set_defaults(func=cmd_fit)

    p = verbs.add_parser("predict", help="predicted class and one probability column per class, as CSV")
    p.add_argument("model")
    _data_args(p, UNLABELLED_HELP)
    p.add_argument("--out", required=True, help="CSV file")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_predict)

    p = verbs.add_parser("evaluate", help="accuracy, macro-F1, classification report, confusion matrix")
    p.add_argument("model")
    _data_args(p)
    p.add_argument("--out", default=None, help="folder for confusion_matrix.png")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser("bench", help="every recipe on one shared split: table, confusion matrices, charts")
    _data_args(p)
    p.add_argument("--recipes", nargs="+", default=list(DEFAULT_RECIPES))
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--grid", action="store_true", help="tune each recipe's GRID on the validation part")
    _settings_args(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"hybridtl {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
