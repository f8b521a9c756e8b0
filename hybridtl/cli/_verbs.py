"""What each verb of the ``hybridtl`` command does.

Each verb checks what it can before any heavy import (output paths, optional
packages), then imports the parts of hybridtl it needs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

from ..core import atomic_path, check_writable, is_url, progress_bar


class Interrupted(Exception):
    """Training was stopped by Ctrl-C: nothing is saved."""


def _settings(args):
    settings = {"image_size": args.image_size, "device": args.device, "epochs": args.epochs,
                "batch_size": args.batch_size, "augment": not args.no_augment, "random_state": args.seed,
                "progress": not args.no_progress, "cache": None if args.cache == "none" else args.cache}
    if args.backbone is not None:  # only when given: a recipe file of one's own need not take them
        settings["backbone"] = args.backbone
    if args.weights is not None:
        settings["weights"] = _weights(args.weights)
    if args.precision != "fp32":  # likewise: only the hybrid recipes' extractors take it
        settings["precision"] = args.precision
    if args.decode is not None:
        settings["decode"] = args.decode
    return settings


def _weights(text):
    """--weights as the estimators take it: 'imagenet', None for 'none', or a file or folder path."""
    return None if text == "none" else text


def _load(args, labelled=True, skipped_csv=None, to_train=False):
    """The data named on the command line; with --skip-bad, unreadable images are dropped and listed.

    Data ``to_train`` on must have two classes at least (scoring one class is fine).
    """
    import numpy as np

    from ..images import drop_unreadable, load_data, probe_side

    data = load_data(args.data, args.limit_per_class, args.seed, labelled=labelled)
    if to_train and len(classes := np.unique(data.y)) < 2:
        raise ValueError(f"data {str(args.data)!r} has a single class, {classes[0]!s}; training needs 2 or more "
                         "(one subfolder, or one label value in the CSV, per class)")
    if not args.skip_bad:
        return data, None
    workers = "auto" if args.num_workers is None else args.num_workers
    data, skipped = drop_unreadable(data, workers, probe_side(args.decode or "fast"))
    _report_skipped(skipped, len(skipped) + len(data.ids), skipped_csv)
    if not len(data.ids):
        raise ValueError(f"none of the {len(skipped)} images could be read")
    return data, skipped


def _report_skipped(skipped, total, csv_path):
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


def _override(model, args):
    """Apply --device, --batch-size, --num-workers, --decode, --no-progress to hybridtl's estimators in ``model``.

    predict and evaluate see each image once, so an extractor's in-memory cache (``cache="auto"``)
    would only hold features that are never asked for again: it is switched off, which keeps
    memory flat in the number of images (a disk cache given at fit time stays).
    """
    from ..features import CNNFeatureExtractor
    from ..finetune import FineTuneClassifier

    given = {"device": args.device, "batch_size": args.batch_size, "num_workers": args.num_workers,
             "decode": args.decode, "progress": False if args.no_progress else None}
    given = {k: v for k, v in given.items() if v is not None}
    for step in _estimators(model):
        if isinstance(step, CNNFeatureExtractor) and step.cache == "auto":
            step.set_params(cache=None)
        if isinstance(step, (CNNFeatureExtractor, FineTuneClassifier)) and given:
            step.set_params(**given)
            step.check_params()
            if args.decode is not None:  # decode is fixed at fit: this run reads files as asked instead
                step.preprocess_ = dataclasses.replace(step.preprocess_, decode=args.decode)


def _estimators(model):
    """The steps of a Pipeline, or the model itself."""
    return [step for _, step in getattr(model, "steps", [])] or [model]


def _interrupted(estimator):
    return any(getattr(step, "interrupted_", False) for step in _estimators(estimator))


def cmd_backbones(args):
    from ..backbones import list_backbones
    from ..features import runtime_summary

    table = list_backbones()
    if not args.all:
        table = table[(table["family"] == "embedded") | table["weights_available"]]
    print(table.drop(columns="weights_available").to_string(index=False))
    print("\nAny 'timm:NAME' with pretrained weights (timm.list_pretrained()) and any 'torchvision:NAME' downloads "
          "its weights on first use into the Hugging Face or torch hub cache (HF_HOME, TORCH_HOME), unless "
          "HYBRIDTL_OFFLINE=1 or HF_HUB_OFFLINE=1; 'hybridtl download NAME --to DIR' fetches them for an offline "
          "machine. --all lists every torchvision model.")
    print(runtime_summary())


def cmd_download(args):
    """Fetch each backbone's ImageNet weights into the standard caches, and with --to into a folder."""
    import shutil

    if args.to is not None:
        check_writable(args.to, folder=True)
    from ..backbones import download_name, load_backbone, resolve

    for name in args.names:
        resolve(name)  # every name checked before any download
    for name in args.names:
        backbone = load_backbone(name, "imagenet")
        where = backbone.weights_source
        if args.to is not None:
            suffix = Path(where).suffix if Path(where).suffix in (".safetensors", ".pth", ".pt") else ".pth"
            target = Path(args.to) / (download_name(name) + suffix)
            with atomic_path(target) as tmp:
                shutil.copyfile(where, tmp)
            where = str(target)
        print(f"{name}: {where} (sha256 {backbone.weights_sha256})")
    if args.to is not None:
        print(f"on the offline machine, pass weights={str(args.to)!r} (or --weights {args.to})")


def _dask_input(args):
    """DATA for --dask: a Parquet/CSV manifest as it is (it may be huge, or name URLs), else what load_data reads."""
    import pandas as pd

    from ..images import load_data

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
    from ..scaleout import connect, extract_features

    if not is_url(args.out):
        check_writable(args.out, folder=True)
    images = _dask_input(args)
    with connect(args.dask) as client:
        frame = extract_features(images, extractor, client=client, out=args.out,
                                 partition_size=args.partition_size, on_error="skip" if args.skip_bad else "raise",
                                 progress=not args.no_progress)
        rows = len(frame)
        unread = int((frame["error"] != "").sum().compute()) if args.skip_bad else 0
    note = f" ({unread} unreadable, see the error column)" if unread else ""
    print(f"wrote {rows} x {extractor.n_features_out_} features in {frame.npartitions} Parquet files to "
          f"{args.out}{note}")


def cmd_extract(args):
    out = Path(args.out)
    if args.dask:
        _need("distributed", "'hybridtl[dask]'")
        _need("pyarrow", "'hybridtl[dask]'")
    else:
        check_writable(out, (".npz", ".parquet"))
    if out.suffix.lower() == ".parquet":
        _need("pyarrow", "pyarrow")
    import numpy as np  # after the checks: a wrong option is refused before the heavy imports

    from ..features import CNNFeatureExtractor, feature_table

    weights = _weights(args.weights)
    extractor = CNNFeatureExtractor(backbone=args.backbone, weights=weights, layer=args.layer, pooling=args.pooling,
                                    image_size=args.image_size, batch_size=args.batch_size or "auto",
                                    device=args.device or "auto",
                                    num_workers="auto" if args.num_workers is None else args.num_workers,
                                    progress=not args.no_progress, runtime=args.runtime,
                                    precision=args.precision, decode=args.decode or "fast")
    if args.dask:
        if args.precision == "int8":
            raise ValueError("--precision int8 calibrates on the images in memory; with --dask extract in fp32 or "
                             "bf16, or fit an int8 extractor on a sample (hybridtl.features.CNNFeatureExtractor)")
        return _extract_dask(args, extractor.fit())
    data, _ = _load(args, labelled=False, skipped_csv=_skipped_csv(out))
    features = extractor.fit(data.X if args.precision == "int8" else None).transform(data.X)
    ids = np.asarray([str(i) for i in data.ids])
    labels = data.y if data.y is not None else np.full(len(ids), "")
    if out.suffix.lower() == ".parquet":
        table = feature_table(features, extractor.get_feature_names_out(), paths=ids, labels=labels)
        with atomic_path(out) as tmp:
            table.to_parquet(tmp, index=False)
    else:
        with atomic_path(out) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, paths=ids, labels=labels, features=features,
                         feature_names=extractor.get_feature_names_out().astype(str))
    print(f"wrote {features.shape[0]} x {features.shape[1]} features to {out}")


def cmd_fit(args):
    check_writable(args.out)
    if args.recipe != "auto" and args.time_budget is not None:
        raise ValueError("--time-budget is for --recipe auto (the search for the best recipe within a time)")
    if args.recipe == "auto" and args.grid:
        raise ValueError("--grid does not go with --recipe auto, which tunes every recipe's GRID itself")
    if args.recipe == "auto":
        _fp32_only(args, "--recipe auto")
    from ..finetune import is_main_process
    from ..serialization import model_card, save

    data, _ = _load(args, skipped_csv=_skipped_csv(args.out), to_train=True)
    if args.recipe == "auto":
        estimator, recipe, validation = _fit_auto(args, data), None, None
    else:
        estimator, recipe, validation = _fit_recipe(args, data)
    if args.recipe != "auto" and _interrupted(estimator):  # auto keeps the best model so far: it is saved
        raise Interrupted
    if not is_main_process():  # under torchrun every rank holds the same model: rank 0 writes it
        return
    save(estimator, args.out, card=model_card(estimator, y=data.y, recipe=recipe, validation=validation))
    name = f"auto ({estimator.best_})" if args.recipe == "auto" else recipe.name
    print(f"fitted {name} on {len(data.y)} images; saved {args.out} ('hybridtl info {args.out}' shows its card)")


def _fp32_only(args, what):
    if args.precision != "fp32":
        raise ValueError(f"--precision {args.precision} goes with the hybrid recipes; {what} extracts in fp32")


def _fit_auto(args, data):
    """The auto search within --time-budget; its leaderboard printed; the search itself, fitted."""
    from ..auto import AutoClassifier, leaderboard_text

    settings = _settings(args)
    auto = AutoClassifier(time_budget=args.time_budget or 600.0, scoring=args.scoring, random_state=args.seed,
                          device=settings["device"], progress=settings["progress"], image_size=args.image_size,
                          epochs=args.epochs, batch_size=settings["batch_size"], augment=settings["augment"],
                          **{k: settings[k] for k in ("backbone", "weights") if k in settings})
    auto.fit(data.X, data.y)
    print(leaderboard_text(auto.leaderboard_))
    stopped = " (stopped by Ctrl-C: the best model so far)" if auto.interrupted_ else ""
    refit = "refit on all the images" if auto.refit_ else "trained on the first fold (no time to refit)"
    print(f"\nwinner: {auto.best_}, {refit}{stopped}; {auto.elapsed_:.0f} s of a {auto.time_budget_:.0f} s budget")
    return auto


def _fit_recipe(args, data):
    """(the recipe's estimator fitted, the recipe, validation metrics for the card or None)."""
    from sklearn.model_selection import GridSearchCV

    from ..recipes import load_recipe

    recipe = load_recipe(args.recipe)
    estimator = recipe.build(**_settings(args))
    if args.grid:
        search = GridSearchCV(estimator, recipe.grid, cv=args.cv).fit(data.X, data.y)
        print(f"best parameters {search.best_params_} (cv accuracy {search.best_score_:.4f})")
        validation = {"accuracy": float(search.best_score_), "n_folds": args.cv,
                      "source": f"GridSearchCV: mean accuracy over {args.cv} folds of the parameters kept"}
        return search.best_estimator_, recipe, validation
    estimator.fit(data.X, data.y)
    return estimator, recipe, _cross_validated(estimator, recipe, data)


def _cross_validated(estimator, recipe, data):
    """Out-of-fold accuracy, macro-F1 and calibration error of a cheap recipe (features come from the memory
    cache, so only the head refits); None for fine-tuning, whose card reports its own validation part."""
    import numpy as np
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from ..core import validation_metrics

    smallest = int(np.unique(data.y, return_counts=True)[1].min())
    if recipe.kind == "finetune" or smallest < 2:
        return None
    folds = StratifiedKFold(min(5, smallest), shuffle=True, random_state=0)
    proba = cross_val_predict(clone(estimator), data.X, data.y, cv=folds, method="predict_proba")
    return {**validation_metrics(data.y, proba, estimator.classes_),
            "source": f"{folds.n_splits}-fold cross-validation of the recipe (out-of-fold predictions)"}


def cmd_info(args):
    """Print the model card of a model file; reads JSON only, loads no model and imports no torch."""
    import json

    from ..serialization import read_card

    card = read_card(args.model)
    if card is None:
        raise ValueError(f"{args.model!r} was written before model files held a card (format version 1); "
                         "save it again with this version to add one")
    if args.json:
        print(json.dumps(card, indent=1))
        return
    print(_card_text(card))


def cmd_export(args):
    """Write a model file as one ONNX graph (pixels to probabilities), checked against the model first."""
    check_writable(args.out, (".onnx",), what="OUT")
    from ..export import export_onnx
    from ..serialization import is_hybridtl_file, load_model, read_card

    model = load_model(args.model, args.trust_pickle)
    card = read_card(args.model) if is_hybridtl_file(args.model) else None
    check = export_onnx(model, args.out, card=card)
    size = Path(args.out).stat().st_size / 1e6
    own = check["own_size_largest_difference"]
    own = "" if own is None else f" ({own:.1g} at its own size)"
    print(f"wrote {args.out} ({size:.1f} MB): uint8 pixels (N, H, W, 3) -> probabilities, label; on the check "
          f"images its probabilities are within {check['largest_difference']:.1g} of the model's{own}")


def _card_text(card):
    """The card as lines for people."""
    import pandas as pd

    lines = [f"model        {card['model']}", f"created      {card['created']}"]
    if card.get("recipe"):
        recipe = card["recipe"]
        lines.append(f"recipe       {recipe['name']} ({recipe['kind']}): {recipe['description']}")
    if card.get("auto"):
        auto = card["auto"]
        refit = "refit on all the images" if auto["refit"] else "not refit"
        lines.append(f"auto         winner {auto['best']}, {refit}; {auto['elapsed_seconds']:.0f} s of a "
                     f"{auto['time_budget_seconds']:.0f} s budget")
    classes = ", ".join(f"{c['class']} ({c['count']})" if c["count"] is not None else c["class"]
                        for c in card["classes"])
    lines.append(f"classes      {len(card['classes'])}: {classes}")
    for backbone in card.get("backbones") or []:
        lines.append(f"backbone     {backbone['backbone']} in {backbone['used_by']}, weights sha256 "
                     f"{backbone['weights_sha256'] or '(random weights)'}")
        if backbone.get("preprocessing"):
            lines.append("preprocess   " + ", ".join(f"{k}={v}" for k, v in backbone["preprocessing"].items()))
    validation = card.get("validation")
    if validation:
        metrics = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in validation.items() if k != "source")
        lines.append(f"validation   {metrics} ({validation.get('source', '')})")
    else:
        lines.append("validation   not measured")
    lines.append("versions     " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()))
    if card.get("leaderboard"):
        from ..auto import leaderboard_text

        lines += ["", "leaderboard", leaderboard_text(pd.DataFrame(card["leaderboard"]))]
    return "\n".join(lines)


# predict streams its input in chunks of this many images, so its memory stays flat in their number
PREDICT_CHUNK = 2048


def _proba_table(model, data):
    """One row per image: path, predicted, proba_<class>..., and error (empty: it was read)."""
    from ..evaluation import prediction_table

    return prediction_table([str(i) for i in data.ids], model.predict_proba(data.X), model.classes_)


def _predict_dask(args, model):
    from ..scaleout import connect, predict_partitions

    images = _dask_input(args)
    with connect(args.dask) as client:
        frame = predict_partitions(model, images, client=client, out=args.out, partition_size=args.partition_size,
                                   on_error="skip" if args.skip_bad else "raise", progress=not args.no_progress)
        rows = len(frame)
        unread = int((frame["error"] != "").sum().compute())
    note = f" ({unread} unreadable, see the error column)" if unread else ""
    print(f"wrote {rows} predictions in {frame.npartitions} Parquet files to {args.out}{note}")


def cmd_predict(args):
    if args.dask:
        _need("distributed", "'hybridtl[dask]'")
        _need("pyarrow", "'hybridtl[dask]'")
        if not is_url(args.out):
            check_writable(args.out, folder=True)
    else:
        check_writable(args.out, (".csv",))

    from ..images import subset
    from ..serialization import load_model

    model = load_model(args.model, args.trust_pickle)
    _override(model, args)
    if args.dask:
        return _predict_dask(args, model)
    data, skipped = _load(args, labelled=False)
    n = len(data.ids)
    starts = range(0, n, PREDICT_CHUNK)
    with atomic_path(args.out) as tmp:
        for start in progress_bar(starts, progress=not args.no_progress and len(starts) > 1, unit="chunk",
                                  desc="predict"):
            part = subset(data, range(start, min(n, start + PREDICT_CHUNK)))
            columns = _proba_table(model, part)
            columns.to_csv(tmp, mode="a", header=start == 0, index=False)
        if skipped is not None and len(skipped):  # one row per unreadable image, with its error
            skipped.reindex(columns=columns.columns).to_csv(tmp, mode="a", header=False, index=False)
    unread = f" ({len(skipped)} unreadable, see the error column)" if skipped is not None and len(skipped) else ""
    print(f"wrote {n + (0 if skipped is None else len(skipped))} predictions to {args.out}{unread}")


def cmd_evaluate(args):
    out = Path(args.out) if args.out else None
    if out is not None:
        check_writable(out, folder=True)
    import numpy as np
    import pandas as pd
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    from ..serialization import load_model

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
        from ..evaluation import plot_confusion_matrix

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

    from ..evaluation import align_labels, labels_and_proba

    y, as_text = align_labels(data.y, model.classes_)  # '3' from a folder name and 3 from a CSV are one class
    classes = np.asarray(model.classes_).astype(str) if as_text else np.asarray(model.classes_)
    unseen = sorted(set(np.unique(y).tolist()) - set(classes.tolist()), key=str)
    if unseen:
        warnings.warn(f"the data has classes the model never saw, always counted wrong: {unseen}", stacklevel=3)
    predicted, proba = labels_and_proba(model, data.X)
    return y, (np.asarray(predicted).astype(str) if as_text else predicted), proba, classes


def _save_interpretation(X, y, proba, classes, out):
    """Top losses, most confused pairs and a results grid of the images ``X`` into ``out``."""
    from ..evaluation import ClassificationInterpretation

    interp = ClassificationInterpretation(X, y, proba, classes)
    for name, frame in (("top_losses.csv", interp.top_losses(100)), ("most_confused.csv", interp.most_confused())):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False)
    interp.plot_top_losses(out / "top_losses.png")
    interp.plot_results(out / "results.png")
    return ", top_losses.csv and .png, most_confused.csv, results.png"


def cmd_bench(args):
    check_writable(args.out, folder=True)
    import numpy as np

    from ..evaluation import run_benchmark, run_seeds
    from ..recipes import load_recipe

    for name in args.recipes:
        load_recipe(name)  # an unknown recipe fails before any work
    if args.time_budget is not None and args.seeds > 1:
        raise ValueError("--time-budget runs one auto search; give --seeds 1 (or run it once per --seed)")
    if args.time_budget is not None:
        _fp32_only(args, "--time-budget (the auto search)")
    data, _ = _load(args, skipped_csv=Path(args.out) / "skipped.csv", to_train=True)
    if args.time_budget is not None:
        return _bench_budgeted(args, data)
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




def _bench_budgeted(args, data):
    import numpy as np

    from ..auto import leaderboard_text
    from ..evaluation import run_budgeted

    board, results = run_budgeted(data, args.recipes, args.out, args.time_budget, settings=_settings(args),
                                  random_state=args.seed, progress=not args.no_progress)
    print(f"{data.name}: {len(data.y)} images, {len(np.unique(data.y))} classes, split 60/20/20 (seed {args.seed}); "
          f"the auto search on the 80 % train + validation within {args.time_budget:.0f} s, its winner tested")
    print(leaderboard_text(board))
    print()
    print(results.round(4).to_markdown(index=False))
    print(f"\nwrote {args.out}/leaderboard.csv, leaderboard.md, results.csv, results.md and confusion_auto.png")
