"""The ``hybridtl`` command: backbones, extract, fit, predict, evaluate, bench.

DATA is a folder with one subfolder per class, a CSV with ``path`` and
``label`` columns, or ``digits`` (scikit-learn's real handwritten digits);
``predict`` and ``extract`` also take a plain folder, a path-only CSV or one
image file. Every error the command can foresee prints one line and exits
with code 2, checked before any work where it can be (output paths, optional
packages, image sizes); Ctrl-C exits 130 and leaves earlier files untouched.
Nothing is written half-way: every output goes to a temporary name first.

Only the standard library is imported at the top, so ``--help`` is quick;
each verb imports what it needs.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

DEFAULT_RECIPES = ("pixels_logreg", "cnn_logreg", "cnn_svm", "cnn_xgboost", "finetune_head", "finetune_full",
                   "finetune_gradual", "finetune_two_stage", "scratch")

DATA_HELP = "image folder (one subfolder per class), CSV with path,label columns, or 'digits'"
UNLABELLED_HELP = DATA_HELP + "; also one image file, a plain folder of images or a CSV with a path column only"


class Interrupted(Exception):
    """Training was stopped by Ctrl-C: nothing is saved."""


def _data_args(parser, help=DATA_HELP):
    parser.add_argument("data", help=help)
    parser.add_argument("--limit-per-class", type=_positive_int, default=None, help="use at most N images per class")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip unreadable image files (listed in a skipped CSV) instead of stopping")


def _dask_args(parser):
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a dask cluster: its scheduler address, or 'local' for a LocalCluster on this machine")
    parser.add_argument("--partition-size", type=_positive_int, default=1024, help="images per partition with --dask")


def _int_at_least(low):
    """An argparse type: an integer >= ``low`` (argparse names the option in the error)."""
    def parse(text):
        value = int(text)
        if value < low:
            kind = "a positive integer" if low == 1 else f"an integer >= {low}"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text}")
        return value

    parse.__name__ = "int"  # argparse says "invalid int value: 'x'" for text that is no number
    return parse


_positive_int = _int_at_least(1)


def _batch_size(text):
    return text if text == "auto" else _positive_int(text)


def _model_args(parser):
    parser.add_argument("model", help="a model file written by 'hybridtl fit' or hybridtl.save")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="also load joblib/pickle files, which run any code they hold: only from trusted sources")


def _runtime_args(parser, batch_default=None):
    parser.add_argument("--device", default=None if batch_default is None else "auto", help="auto, cpu or cuda")
    parser.add_argument("--batch-size", type=_batch_size, default=batch_default, help="images per batch")
    parser.add_argument("--num-workers", type=_int_at_least(0), default=None, help="image-decoding workers")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _settings_args(parser):
    parser.add_argument("--image-size", type=_positive_int, default=None, help="input side in px (default: the backbone's)")
    parser.add_argument("--epochs", type=_positive_int, default=20, help="fine-tuning epochs (early stopping may end sooner)")
    parser.add_argument("--no-augment", action="store_true", help="no random crops/flips when fine-tuning")
    parser.add_argument("--seed", type=_int_at_least(0), default=0)
    parser.add_argument("--cache", default="auto",
                        help="feature cache: 'auto' (in memory), 'none', or a folder shared between runs")
    _runtime_args(parser, batch_default=32)


def _settings(args):
    return {"image_size": args.image_size, "device": args.device, "epochs": args.epochs,
            "batch_size": args.batch_size, "augment": not args.no_augment, "random_state": args.seed,
            "progress": not args.no_progress, "cache": None if args.cache == "none" else args.cache}


def _load(args, labelled=True, skipped_csv=None, to_train=False):
    """The data named on the command line; with --skip-bad, unreadable images are dropped and listed.

    Data ``to_train`` on must have two classes at least (scoring one class is fine).
    """
    import numpy as np

    from .data import drop_unreadable, load_data

    data = load_data(args.data, args.limit_per_class, args.seed, labelled=labelled)
    if to_train and len(classes := np.unique(data.y)) < 2:
        raise ValueError(f"data {str(args.data)!r} has a single class, {classes[0]!s}; training needs 2 or more "
                         "(one subfolder, or one label value in the CSV, per class)")
    if not args.skip_bad:
        return data, None
    data, skipped = drop_unreadable(data, args.num_workers or 0)
    _report_skipped(skipped, len(skipped) + len(data.ids), skipped_csv)
    if not len(data.ids):
        raise ValueError(f"none of the {len(skipped)} images could be read")
    return data, skipped


def _report_skipped(skipped, total, csv_path):
    from .atomic import atomic_path

    if skipped is None or skipped.empty:
        return
    first = ", ".join(skipped["path"].head(3))
    where = ""
    if csv_path is not None:
        with atomic_path(csv_path) as tmp:
            skipped.to_csv(tmp, index=False)
        where = f"; all listed in {csv_path}"
    print(f"skipped {len(skipped)} of {total} images that could not be read: {first}{where}", file=sys.stderr)


def _skipped_csv(out):
    out = Path(out)
    return out / "skipped.csv" if out.suffix == "" else out.with_name(out.stem + ".skipped.csv")


def _need(module, extra):
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"this needs the optional package {module!r}, which is not installed: pip install {extra}")


def load_model(path, trust_pickle=False):
    """A fitted classifier from a hybridtl model file (or, with ``trust_pickle``, a joblib/pickle file).

    Anything else, or a pickle without ``trust_pickle``, is a one-line ValueError saying why not.
    """
    from .serialization import is_hybridtl_file, load

    if not Path(path).is_file():
        raise ValueError(f"model file {str(path)!r} does not exist")
    if is_hybridtl_file(path):
        model = load(path)
    elif not trust_pickle:
        raise ValueError(f"{str(path)!r} is not a hybridtl model file; if it is a joblib/pickle file, loading it "
                         "runs any code it holds: pass --trust-pickle only if you trust where it came from, "
                         "or re-save it with hybridtl.save / 'hybridtl fit'")
    else:
        model = _unpickle(path)
    if not (hasattr(model, "predict_proba") and hasattr(model, "classes_")):
        raise ValueError(f"{str(path)!r} holds a {type(model).__name__}, not a fitted hybridtl or scikit-learn "
                         "classifier (save one with 'hybridtl fit')")
    return model


def _unpickle(path):
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle means: not a model file we can read
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise ValueError(f"{str(path)!r} is not a model file hybridtl can read ({reason})") from None


def _override(model, args):
    """Apply --device, --batch-size, --num-workers, --no-progress to hybridtl's estimators inside ``model``.

    predict and evaluate see each image once, so an extractor's in-memory cache (``cache="auto"``)
    would only hold features that are never asked for again: it is switched off, which keeps
    memory flat in the number of images (a disk cache given at fit time stays).
    """
    from .features import CNNFeatureExtractor
    from .finetune import FineTuneClassifier

    given = {"device": args.device, "batch_size": args.batch_size, "num_workers": args.num_workers,
             "progress": False if args.no_progress else None}
    given = {k: v for k, v in given.items() if v is not None}
    for step in _estimators(model):
        if isinstance(step, CNNFeatureExtractor) and step.cache == "auto":
            step.set_params(cache=None)
        if isinstance(step, (CNNFeatureExtractor, FineTuneClassifier)) and given:
            step.set_params(**given)
            step._check_params()


def _estimators(model):
    """The steps of a Pipeline, or the model itself."""
    return [step for _, step in getattr(model, "steps", [])] or [model]


def _interrupted(estimator):
    return any(getattr(step, "interrupted_", False) for step in _estimators(estimator))


# -- verbs -------------------------------------------------------------------


def cmd_backbones(args):
    from .backbones import list_backbones
    from .runtimes import runtime_summary

    table = list_backbones()
    if not args.all:
        table = table[(table["family"] == "embedded") | table["weights_available"]]
    print(table.to_string(index=False))
    print("\nAny 'timm:NAME' or 'torchvision:NAME' also works with weights=None or a local state-dict file.")
    print(runtime_summary())


def _dask_input(args):
    """DATA for --dask: a Parquet/CSV manifest as it is (it may be huge, or name URLs), else what load_data reads."""
    import pandas as pd

    from .data import load_data

    if str(args.data).lower().endswith((".csv", ".parquet")) and not args.limit_per_class:
        return args.data
    data = load_data(args.data, args.limit_per_class, args.seed, labelled=False)
    if not (isinstance(data.X, list) and all(isinstance(p, str) for p in data.X)):
        raise ValueError(f"--dask reads image files; {args.data!r} is held in memory (use it without --dask)")
    table = pd.DataFrame({"path": data.X})
    if data.y is not None:
        table["label"] = data.y
    return table


def _extract_dask(args, extractor):
    from .atomic import check_writable
    from .clusters import connect
    from .dask_extraction import extract_features

    if "://" not in args.out:
        check_writable(args.out, folder=True)
    images = _dask_input(args)
    with connect(args.dask) as client:
        frame = extract_features(images, extractor, client=client, out=args.out,
                                 partition_size=args.partition_size, on_error="skip" if args.skip_bad else "raise",
                                 progress=not args.no_progress)
        rows = len(frame)
        unread = int((frame["error"] != "").sum().compute()) if args.skip_bad else 0
    note = f" ({unread} unreadable, see the error column)" if unread else ""
    print(f"wrote {rows} x {extractor.n_features_out_} features in {frame.npartitions} Parquet files to {args.out}{note}")


def cmd_extract(args):
    import numpy as np
    import pandas as pd

    from .atomic import atomic_path, check_writable
    from .features import CNNFeatureExtractor

    out = Path(args.out)
    if args.dask:
        _need("distributed", "'hybridtl[dask]'")
        _need("pyarrow", "'hybridtl[dask]'")
    else:
        check_writable(out, (".npz", ".parquet"))
    if out.suffix.lower() == ".parquet":
        _need("pyarrow", "pyarrow")
    weights = None if args.weights == "none" else args.weights
    extractor = CNNFeatureExtractor(backbone=args.backbone, weights=weights, layer=args.layer, pooling=args.pooling,
                                    image_size=args.image_size, batch_size=args.batch_size or "auto",
                                    device=args.device or "auto", num_workers=args.num_workers or 0,
                                    progress=not args.no_progress, runtime=args.runtime).fit()
    if args.dask:
        return _extract_dask(args, extractor)
    data, _ = _load(args, labelled=False, skipped_csv=_skipped_csv(out))
    features = extractor.transform(data.X)
    ids = np.asarray([str(i) for i in data.ids])
    labels = data.y if data.y is not None else np.full(len(ids), "")
    if out.suffix.lower() == ".parquet":
        table = pd.DataFrame(features, columns=extractor.get_feature_names_out())
        table.insert(0, "label", labels)
        table.insert(0, "path", ids)
        with atomic_path(out) as tmp:
            table.to_parquet(tmp, index=False)
    else:
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, paths=ids, labels=labels, features=features,
                         feature_names=extractor.get_feature_names_out().astype(str))
    print(f"wrote {features.shape[0]} x {features.shape[1]} features to {out}")


def cmd_fit(args):
    from sklearn.model_selection import GridSearchCV

    from .atomic import check_writable
    from .ddp import is_main_process
    from .recipes import load_recipe
    from .serialization import save

    check_writable(args.out)
    recipe = load_recipe(args.recipe)
    estimator = recipe.build(**_settings(args))
    data, _ = _load(args, skipped_csv=_skipped_csv(args.out), to_train=True)
    if args.grid:
        search = GridSearchCV(estimator, recipe.grid, cv=args.cv).fit(data.X, data.y)
        estimator = search.best_estimator_
        print(f"best parameters {search.best_params_} (cv accuracy {search.best_score_:.4f})")
    else:
        estimator.fit(data.X, data.y)
    if _interrupted(estimator):
        raise Interrupted
    if not is_main_process():  # under torchrun every rank holds the same model: rank 0 writes it
        return
    save(estimator, args.out)
    print(f"fitted {recipe.name} on {len(data.y)} images; saved {args.out}")


# predict streams its input in chunks of this many images, so its memory stays flat in their number
PREDICT_CHUNK = 2048


def _proba_table(model, data):
    """One row per image: path, predicted, proba_<class>..., and error (empty: it was read)."""
    from .predictions import prediction_table

    return prediction_table([str(i) for i in data.ids], model.predict_proba(data.X), model.classes_)


def _predict_dask(args, model):
    from .clusters import connect
    from .dask_heads import predict_partitions

    images = _dask_input(args)
    with connect(args.dask) as client:
        frame = predict_partitions(model, images, client=client, out=args.out, partition_size=args.partition_size,
                                   on_error="skip" if args.skip_bad else "raise", progress=not args.no_progress)
        rows = len(frame)
        unread = int((frame["error"] != "").sum().compute())
    note = f" ({unread} unreadable, see the error column)" if unread else ""
    print(f"wrote {rows} predictions in {frame.npartitions} Parquet files to {args.out}{note}")


def cmd_predict(args):
    from tqdm.auto import tqdm

    from .atomic import atomic_path, check_writable
    from .data import subset

    if args.dask:
        _need("distributed", "'hybridtl[dask]'")
        _need("pyarrow", "'hybridtl[dask]'")
        if "://" not in args.out:
            check_writable(args.out, folder=True)
    else:
        check_writable(args.out, (".csv",))
    model = load_model(args.model, args.trust_pickle)
    _override(model, args)
    if args.dask:
        return _predict_dask(args, model)
    data, skipped = _load(args, labelled=False)
    n = len(data.ids)
    starts = range(0, n, PREDICT_CHUNK)
    with atomic_path(args.out) as tmp:
        for start in tqdm(starts, disable=args.no_progress or len(starts) == 1, unit="chunk", desc="predict"):
            part = subset(data, range(start, min(n, start + PREDICT_CHUNK)))
            columns = _proba_table(model, part)
            columns.to_csv(tmp, mode="a", header=start == 0, index=False)
        if skipped is not None and len(skipped):  # one row per unreadable image, with its error
            skipped.reindex(columns=columns.columns).to_csv(tmp, mode="a", header=False, index=False)
    unread = f" ({len(skipped)} unreadable, see the error column)" if skipped is not None and len(skipped) else ""
    print(f"wrote {n + (0 if skipped is None else len(skipped))} predictions to {args.out}{unread}")


def cmd_evaluate(args):
    import numpy as np
    import pandas as pd
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    from .atomic import atomic_path, check_writable

    out = Path(args.out) if args.out else None
    if out is not None:
        check_writable(out, folder=True)
    model = load_model(args.model, args.trust_pickle)
    _override(model, args)
    data, _ = _load(args, skipped_csv=None if out is None else out / "skipped.csv")
    y, predicted, proba, classes = _predicted_and_true(model, data)
    labels = np.unique(np.r_[classes, y])
    metrics = pd.DataFrame({"metric": ["accuracy", "macro_f1", "n_images"],
                            "value": [accuracy_score(y, predicted),
                                      f1_score(y, predicted, average="macro"), len(y)]})
    print(f"accuracy  {metrics.value[0]:.4f}")
    print(f"macro-F1  {metrics.value[1]:.4f}\n")
    print(classification_report(y, predicted, zero_division=0))
    matrix = pd.DataFrame(confusion_matrix(y, predicted, labels=labels), index=labels, columns=labels)
    print("confusion matrix (rows: true, columns: predicted)")
    print(matrix.to_string())
    if out is not None:
        from .plots import plot_confusion_matrix

        report = pd.DataFrame(classification_report(y, predicted, zero_division=0, output_dict=True)).T
        for name, frame in (("metrics.csv", metrics), ("classification_report.csv", report),
                            ("confusion_matrix.csv", matrix)):
            with atomic_path(out / name) as tmp:
                frame.to_csv(tmp, index=name != "metrics.csv")
        plot_confusion_matrix(y, predicted, labels, out / "confusion_matrix.png", title=Path(args.model).name)
        saved = _save_interpretation(data.X, y, proba, classes, out)
        print(f"\nsaved metrics.csv, classification_report.csv, confusion_matrix.csv and .png{saved} in {out}")


def _predicted_and_true(model, data):
    """True labels, predicted labels, probabilities and classes, labels of one type (text if need be)."""
    import warnings

    import numpy as np

    from .predictions import align_labels, labels_and_proba

    y, as_text = align_labels(data.y, model.classes_)  # '3' from a folder name and 3 from a CSV are one class
    classes = np.asarray(model.classes_).astype(str) if as_text else np.asarray(model.classes_)
    unseen = sorted(set(np.unique(y).tolist()) - set(classes.tolist()), key=str)
    if unseen:
        warnings.warn(f"the data has classes the model never saw, always counted wrong: {unseen}", stacklevel=3)
    predicted, proba = labels_and_proba(model, data.X)
    return y, (np.asarray(predicted).astype(str) if as_text else predicted), proba, classes


def _save_interpretation(X, y, proba, classes, out):
    """Top losses, most confused pairs and a results grid of the images ``X`` into ``out``."""
    from .atomic import atomic_path
    from .interpretation import ClassificationInterpretation

    interp = ClassificationInterpretation(X, y, proba, classes)
    for name, frame in (("top_losses.csv", interp.top_losses(100)), ("most_confused.csv", interp.most_confused())):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    interp.plot_top_losses(out / "top_losses.png")
    interp.plot_results(out / "results.png")
    return ", top_losses.csv and .png, most_confused.csv, results.png"


def cmd_bench(args):
    import numpy as np

    from .atomic import check_writable
    from .bench import run_benchmark, run_seeds
    from .recipes import load_recipe

    check_writable(args.out, folder=True)
    for name in args.recipes:
        load_recipe(name)  # an unknown recipe fails before any work
    data, _ = _load(args, skipped_csv=Path(args.out) / "skipped.csv", to_train=True)
    if args.seeds > 1:
        seeds = list(range(args.seed, args.seed + args.seeds))
        results = run_seeds(data, args.recipes, args.out, seeds, settings=_settings(args), grid=args.grid,
                            progress=not args.no_progress)
        print(f"{data.name}: {len(data.y)} images, {len(np.unique(data.y))} classes, split 60/20/20 "
              f"for each of the seeds {seeds}; mean and standard deviation over them")
        print(results.round(4).to_markdown(index=False))
        print(f"\nwrote {args.out}/results.csv, results.md, results_by_seed.csv and one full report per seed")
        return
    results = run_benchmark(data, args.recipes, args.out, settings=_settings(args), random_state=args.seed,
                            grid=args.grid, progress=not args.no_progress)
    print(f"{data.name}: {len(data.y)} images, {len(np.unique(data.y))} classes, split 60/20/20 (seed {args.seed})")
    print(results.round(4).to_markdown(index=False))
    print(f"\nwrote {args.out}/results.csv, results.md, summary.png and one confusion matrix per recipe")


# -- parser ------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(prog="hybridtl", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("backbones", help="the backbone registry, the weights and the inference runtime on this machine")
    p.add_argument("--all", action="store_true", help="also list every backbone without local weights")
    p.set_defaults(func=cmd_backbones)

    p = verbs.add_parser("extract", help="CNN features to .npz or .parquet (paths, labels, features)")
    _data_args(p, UNLABELLED_HELP)
    p.add_argument("--out", required=True, help="FILE.npz or FILE.parquet; with --dask, a folder (or URL) for a "
                   "Parquet dataset, one file per partition, resumed when run again")
    _dask_args(p)
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--weights", default="imagenet", help="'imagenet', 'none' or a state-dict file")
    p.add_argument("--layer", default=None)
    p.add_argument("--pooling", default="avg", choices=["avg", "max", "gem", "avgmax"])
    p.add_argument("--image-size", type=_positive_int, default=None)
    p.add_argument("--runtime", default="auto", help="auto, torch, openvino or onnxruntime (CPU inference engine)")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    _runtime_args(p, batch_default="auto")
    p.set_defaults(func=cmd_extract)

    p = verbs.add_parser("fit", help="fit a recipe and save the model")
    _data_args(p)
    p.add_argument("--recipe", required=True, help="a built-in recipe name or a recipe .py file")
    p.add_argument("--out", required=True, help="model file, e.g. model.hybridtl (a safe format whatever the suffix)")
    p.add_argument("--grid", action="store_true", help="tune the recipe's GRID with GridSearchCV")
    p.add_argument("--cv", type=_int_at_least(2), default=3, help="folds for --grid")
    _settings_args(p)
    p.set_defaults(func=cmd_fit)

    p = verbs.add_parser("predict", help="predicted class and one probability column per class, as CSV")
    _model_args(p)
    _data_args(p, UNLABELLED_HELP)
    p.add_argument("--out", required=True, help="CSV file; with --dask, a folder (or URL) for a Parquet dataset")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    _dask_args(p)
    _runtime_args(p)
    p.set_defaults(func=cmd_predict)

    p = verbs.add_parser("evaluate", help="accuracy, macro-F1, classification report, confusion matrix")
    _model_args(p)
    _data_args(p)
    p.add_argument("--out", default=None, help="folder for metrics.csv, classification_report.csv, the confusion "
                   "matrix, top_losses.csv/.png, most_confused.csv and results.png")
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    _runtime_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser("bench", help="every recipe on one shared split: table, confusion matrices, charts")
    _data_args(p)
    p.add_argument("--recipes", nargs="+", default=list(DEFAULT_RECIPES))
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--grid", nargs="?", choices=("auto", "all", "none"), default="auto", const="all",
                   help="which recipes' GRID to tune on the validation part: 'auto' (default) those whose fits are "
                        "cheap, the hybrid and baseline ones (the features come from the cache); 'all' (or --grid "
                        "alone) also the fine-tuning ones (a full training per grid point); 'none'")
    p.add_argument("--seeds", type=_positive_int, default=1,
                   help="repeat with N seeds (split and training), from --seed on; report mean and spread")
    _settings_args(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (Interrupted, KeyboardInterrupt):
        print(f"hybridtl {args.verb}: interrupted; nothing was saved and earlier files are unchanged", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"hybridtl {args.verb}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
