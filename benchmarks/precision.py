"""Extraction in bf16 and int8 against fp32 (OpenVINO): throughput, calibration time, and what the
features are worth to a head.

Throughput: EfficientNet-Lite0 at 224 px on uint8 arrays, the default batch size (64 for a compiled
runtime, 16 for eager PyTorch), eager PyTorch and the three OpenVINO precisions in turn, ``--rounds``
rounds, the best of each. The int8 extractor is calibrated on photos224's 360 training photos (300 of them are drawn),
and that ``fit`` is timed. Beside them: the compiled fp32 and int8 networks alone on preprocessed
batches, and the preprocessing's resize (bicubic, antialiased, to 254 px) of float and of uint8
batches, to show where the time goes. Accuracy: on each task and seed the same images are extracted in each
precision (int8 calibrated on the task's own training images, as ``fit`` does), and logistic
regression and the RBF SVM (the built-in heads) are fitted on each; test accuracy, mean and spread
over seeds, with the gap of each precision's mean to fp32's and the least ``int8_agreement_`` (the mean
cosine of int8 to fp32 features on the calibration images, below 0.98 of which int8's fit warns).
``textures64`` (9 of scikit-image's textures) is a task int8's settings were not chosen on.

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
from finetune_defaults import photos224, tints64
from sklearn.pipeline import Pipeline

from hybridtl.features import CNNFeatureExtractor
from hybridtl.heads import make_head

# Nine real textures: six gray (photographs and micrographs) and three in colour, all bundled with scikit-image.
TEXTURES = ("brick", "grass", "gravel", "moon", "cell", "page", "immunohistochemistry", "hubble_deep_field",
            "retina")


def textures64(seed, per_class=40):
    """Which of 9 textures: crops of a quarter to a half of each texture's height at 64 px, train crops from
    its left half and test crops from its right half (a task the network was not tuned on: no texture is
    among the images int8's settings were chosen on)."""
    import skimage.data
    from finetune_bn import _crops

    rng = np.random.default_rng(seed)
    X_train, y_train, X_test, y_test = [], [], [], []
    for name in TEXTURES:
        texture = getattr(skimage.data, name)()
        texture = np.repeat(texture[..., None], 3, axis=2) if texture.ndim == 2 else texture[..., :3]
        if name == "retina":  # the fundus photo's round field: its square middle, not the black surround
            h = texture.shape[0]
            texture = texture[h // 4 : 3 * h // 4, h // 4 : 3 * h // 4]
        X_train += _crops(texture, per_class, True, rng)
        X_test += _crops(texture, per_class, False, rng)
        y_train += [name] * per_class
        y_test += [name] * per_class
    return np.stack(X_train), np.array(y_train), np.stack(X_test), np.array(y_test), 64


TASKS = {"digits64": at_size(digits32, 64), "photos64": photos64, "photos224": photos224, "tints64": tints64,
         "textures64": textures64}
PRECISIONS = ("fp32", "bf16", "int8")


def extractor(precision, size, X_train, runtime="auto"):
    ext = CNNFeatureExtractor(image_size=size, device="cpu", cache=None, batch_size="auto", precision=precision,
                              runtime=runtime)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ext.fit(X_train)


def throughput(rounds, n=256):
    """images/s of each extractor from uint8 arrays, of the compiled networks alone on preprocessed batches,
    and of the preprocessing's resize on float and on uint8 batches (best of ``rounds``); int8 fit seconds."""
    import torch

    from hybridtl.devices import compiled_runner
    from hybridtl.images import as_image_set

    X = np.random.default_rng(0).integers(0, 256, (n, 224, 224, 3), dtype=np.uint8)
    calibration_images = photos224(0)[0]
    extractors, seconds = {"torch (eager fp32)": extractor("fp32", 224, None, runtime="torch")}, {}
    for precision in PRECISIONS:
        start = time.perf_counter()
        extractors[precision] = extractor(precision, 224, calibration_images)
        seconds[precision] = time.perf_counter() - start
    preprocess = extractors["fp32"].preprocess_
    batches = [b.numpy() for b in as_image_set(X).batches(preprocess, 64, torch.device("cpu"))]
    floats = torch.from_numpy(X[:64]).permute(0, 3, 1, 2).float().div(255)
    work = {name: (lambda ext=ext: ext.transform(X)) for name, ext in extractors.items()}
    for precision in ("fp32", "int8"):
        ext = extractors[precision]
        run = compiled_runner(ext.model_, "openvino", 224, None, precision, ext.calibration_)
        work[f"{precision}, network alone"] = lambda run=run: [run(b) for b in batches]
    work["resize, float images"] = lambda: [preprocess.resize_crop(floats) for _ in range(n // 64)]
    work["resize, uint8 images"] = lambda: [preprocess.resize_crop(torch.from_numpy(X[:64]).permute(0, 3, 1, 2))
                                            for _ in range(n // 64)]
    for job in work.values():
        job()  # compile first
    best = dict.fromkeys(work, 0.0)
    for _ in range(rounds):
        for name, job in work.items():
            start = time.perf_counter()
            job()
            best[name] = max(best[name], n / (time.perf_counter() - start))
    return best, seconds


def accuracies(tasks, seeds):
    rows = []
    for task, seed in itertools.product(tasks, seeds):
        X_train, y_train, X_test, y_test, size = TASKS[task](seed)
        for precision in PRECISIONS:
            ext = extractor(precision, size, X_train)
            train, test = ext.transform(X_train), ext.transform(X_test)
            for head in ("logreg", "svm"):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = Pipeline(make_head(head, random_state=seed)).fit(train, y_train)
                # int8_agreement_: what int8's fit measured on its calibration images (it warns below 0.98)
                rows.append({"task": task, "seed": seed, "head": head, "precision": precision,
                             "accuracy": model.score(test, y_test), "int8_agreement": ext.int8_agreement_})
        print(rows[-2 * len(PRECISIONS):], flush=True)
    return pd.DataFrame(rows)


def accuracy_table(runs):
    table = runs.pivot_table(index=["task", "head"], columns="precision", values="accuracy", aggfunc=["mean", "std"],
                             sort=False)
    out = pd.DataFrame({p: [f"{m:.3f} +- {s:.3f}" for m, s in zip(table["mean"][p], table["std"][p])]
                        for p in PRECISIONS}, index=table.index)
    for precision in PRECISIONS[1:]:
        out[f"{precision} - fp32"] = (table["mean"][precision] - table["mean"]["fp32"]).round(3).to_numpy()
    # the figure int8's fit warns on (PrecisionLossWarning below 0.98): its least over the seeds
    agreement = runs[runs.precision == "int8"].groupby(["task", "head"], sort=False).int8_agreement.min()
    out["int8 agreement (least)"] = agreement.reindex(out.index).round(3).to_numpy()
    return out.reset_index()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part", choices=["throughput", "accuracy", "both"], default="both")
    parser.add_argument("--out", help="optional CSV of every accuracy run")
    args = parser.parse_args(argv)
    if args.part in ("throughput", "both"):
        speed, seconds = throughput(args.rounds)
        fp32 = speed["fp32"]
        print(f"images/s at 224 px, default batch size (64 compiled, 16 eager), best of {args.rounds}:")
        print(pd.DataFrame({"images/s": speed, "vs OpenVINO fp32": {k: v / fp32 for k, v in speed.items()},
                            "fit (s)": seconds}).round(2).reset_index(names="what").to_markdown(index=False))
    if args.part in ("accuracy", "both"):
        runs = accuracies(args.tasks, args.seeds)
        if args.out:
            runs.to_csv(args.out, index=False)
        print(accuracy_table(runs).to_markdown(index=False))


if __name__ == "__main__":
    main()
