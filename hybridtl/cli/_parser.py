"""The command line's parser: verbs, options and the checks argparse makes, importing no torch."""

from __future__ import annotations

import argparse

from .. import __version__
from ..core import DECODES, POOLINGS, PRECISIONS, SCORINGS, parse_duration
from ._verbs import (
    cmd_backbones,
    cmd_bench,
    cmd_download,
    cmd_evaluate,
    cmd_export,
    cmd_extract,
    cmd_fit,
    cmd_info,
    cmd_predict,
)

__all__ = ["DEFAULT_RECIPES", "build_parser"]

DEFAULT_RECIPES = ("pixels_logreg", "cnn_logreg", "cnn_svm", "cnn_xgboost", "finetune_head", "finetune_full",
                   "finetune_gradual", "finetune_two_stage", "scratch")

DATA_HELP = "image folder (one subfolder per class), CSV with path,label columns, or 'digits'"
UNLABELLED_HELP = DATA_HELP + "; also one image file, a plain folder of images or a CSV with a path column only"


def _data_args(parser, help=DATA_HELP):
    parser.add_argument("data", help=help)
    parser.add_argument("--limit-per-class", type=_positive_int, default=None, help="use at most N images per class")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip unreadable image files (listed in a skipped CSV) instead of stopping")


def _dask_args(parser):
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a dask cluster: its scheduler address, or 'local' for a LocalCluster on this "
                        "machine")
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


def _duration(text):
    """--time-budget: seconds, or a number with s, m or h."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _batch_size(text):
    return text if text == "auto" else _positive_int(text)


def _model_args(parser):
    parser.add_argument("model", help="a model file written by 'hybridtl fit' or hybridtl.save")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="also load joblib/pickle files, which run any code they hold: only from trusted sources")


def _workers(text):
    return text if text == "auto" else _int_at_least(0)(text)


def _runtime_args(parser, batch_default=None):
    parser.add_argument("--device", default=None if batch_default is None else "auto", help="auto, cpu or cuda")
    parser.add_argument("--batch-size", type=_batch_size, default=batch_default, help="images per batch")
    parser.add_argument("--num-workers", type=_workers, default=None,
                        help="image-decoding worker processes, or 'auto' (the default: one decoding thread per CPU)")
    parser.add_argument("--decode", default=None, choices=DECODES,
                        help="fast: decode large files at the size the model needs (JPEG DCT scaling, the default "
                        "for a new model); exact: every pixel (default for a saved model: as it was fitted)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _backbone_args(parser, default_backbone=None, default_weights=None):
    parser.add_argument("--backbone", default=default_backbone,
                        help="efficientnet_lite0 (embedded), timm:NAME or torchvision:NAME"
                        + ("" if default_backbone else " (default: each recipe's)"))
    parser.add_argument("--weights", default=default_weights,
                        help="'imagenet' (embedded, cached, or downloaded), 'none' (random), a weights file, or a "
                        "folder written by 'hybridtl download --to'")


def _precision_arg(parser):
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="what OpenVINO computes the frozen features in: fp32; bf16 on CPUs with bfloat16 units; "
                        "int8, calibrated on up to 300 of the images (needs nncf)")


def _settings_args(parser):
    _backbone_args(parser)
    _precision_arg(parser)
    parser.add_argument("--image-size", type=_positive_int, default=None,
                        help="input side in px (default: the backbone's)")
    parser.add_argument("--epochs", type=_positive_int, default=20,
                        help="fine-tuning epochs (early stopping may end sooner)")
    parser.add_argument("--no-augment", action="store_true", help="no random crops/flips when fine-tuning")
    parser.add_argument("--seed", type=_int_at_least(0), default=0)
    parser.add_argument("--cache", default="auto",
                        help="feature cache: 'auto' (in memory), 'none', or a folder shared between runs")
    _runtime_args(parser, batch_default=32)


def build_parser():
    """The ``hybridtl`` parser, one sub-parser per verb, each with its ``func``.

    Examples
    --------
    >>> build_parser().parse_args(["fit", "digits", "--recipe", "cnn_logreg", "--out", "m.hybridtl"]).cv
    3
    """
    parser = argparse.ArgumentParser(prog="hybridtl", description="Transfer learning on images: frozen-CNN "
                                     "features with scikit-learn heads, or fine-tuning, side by side.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("backbones",
                         help="the backbone registry, the weights and the inference runtime on this machine")
    p.add_argument("--all", action="store_true", help="also list every backbone without local weights")
    p.set_defaults(func=cmd_backbones)

    p = verbs.add_parser("download", help="fetch backbones' ImageNet weights for later offline use")
    p.add_argument("names", nargs="+", metavar="NAME", help="timm:NAME, torchvision:NAME or an embedded name")
    p.add_argument("--to", default=None, metavar="DIR",
                   help="also copy each weights file into DIR, to carry to a machine without a network")
    p.set_defaults(func=cmd_download)

    p = verbs.add_parser("extract", help="CNN features to .npz or .parquet (paths, labels, features)")
    _data_args(p, UNLABELLED_HELP)
    p.add_argument("--out", required=True, help="FILE.npz or FILE.parquet; with --dask, a folder (or URL) for a "
                   "Parquet dataset, one file per partition, resumed when run again")
    _dask_args(p)
    _backbone_args(p, "efficientnet_lite0", "imagenet")
    p.add_argument("--layer", default=None)
    p.add_argument("--pooling", default="avg", choices=POOLINGS)
    p.add_argument("--image-size", type=_positive_int, default=None)
    p.add_argument("--runtime", default="auto", help="auto, torch, openvino or onnxruntime (CPU inference engine)")
    _precision_arg(p)
    p.add_argument("--seed", type=_int_at_least(0), default=0)
    _runtime_args(p, batch_default="auto")
    p.set_defaults(func=cmd_extract)

    p = verbs.add_parser("fit", help="fit a recipe, or the best within a time budget (--recipe auto), and save it")
    _data_args(p)
    p.add_argument("--recipe", required=True,
                   help="a built-in recipe name, a recipe .py file, or 'auto': the best recipe within --time-budget")
    p.add_argument("--time-budget", type=_duration, default=None, metavar="DURATION",
                   help="with --recipe auto: the time for the whole search, refit included, in seconds or as 90s, "
                        "10m, 1h (default 10m)")
    p.add_argument("--scoring", default="accuracy", choices=SCORINGS, help="with --recipe auto: what wins")
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

    p = verbs.add_parser("info", help="the model card of a model file: classes, recipe, leaderboard, backbone, "
                         "validation metrics, versions")
    p.add_argument("model", help="a model file written by 'hybridtl fit' or hybridtl.save")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.set_defaults(func=cmd_info)

    p = verbs.add_parser("export", help="one ONNX graph from uint8 pixels to probabilities, preprocessing included, "
                         "that runs with ONNX Runtime alone")
    _model_args(p)
    p.add_argument("out", metavar="OUT", help="the .onnx file to write (only once it agrees with the model)")
    p.set_defaults(func=cmd_export)

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
    p.add_argument("--time-budget", type=_duration, default=None, metavar="DURATION",
                   help="instead of running every recipe to the end: the auto search over --recipes within this "
                        "time on the train and validation parts, its leaderboard, and its winner scored on the test "
                        "part")
    _settings_args(p)
    p.set_defaults(func=cmd_bench)
    return parser


