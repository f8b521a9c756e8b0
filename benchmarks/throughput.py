"""Images/s of CNNFeatureExtractor.transform for each inference runtime, against eager PyTorch's forward pass.

Contenders, each at every batch size, interleaved round by round, best of ``--repeats`` rounds:

- eager forward (NCHW / channels_last): the frozen PyTorch model on tensors already preprocessed:
  the reference the issue measures against ("eager PyTorch forward pass, best layout");
- <runtime> forward: the same prepared tensors through OpenVINO / ONNX Runtime;
- preprocess (arrays / files, W workers): decoding + resize + crop + normalise alone, no model;
- transform <runtime> (arrays / files, W workers): the whole ``transform`` from uint8 arrays
  (n, 256, 256, 3) or from JPEG files of real photos (crops of scikit-image's bundled photos, 480x360).

    python benchmarks/throughput.py --n-images 96 --batch-sizes 16 32 --repeats 3
    python benchmarks/throughput.py --demo   # the extraction part of `make demo`: all digits at 64 px
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from hybridtl.features import CNNFeatureExtractor, compiled_runner, installed_runtimes
from hybridtl.images import as_image_set


def real_photos(n, size=(480, 360), seed=0):
    """``n`` JPEG-like RGB photos: random crops of scikit-image's bundled pictures, resized to ``size``."""
    import skimage.data

    sources = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut(), skimage.data.rocket()]
    rng = np.random.default_rng(seed)
    for i in range(n):
        photo = sources[i % len(sources)]
        h, w = photo.shape[:2]
        ch, cw = int(h * 0.7), int(w * 0.7)
        y, x = rng.integers(0, h - ch), rng.integers(0, w - cw)
        yield Image.fromarray(photo[y : y + ch, x : x + cw]).resize(size)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def contenders(X, paths, batch_size, image_size, workers):
    """name -> zero-argument function doing the work on all images."""
    runtimes = ["torch"] + installed_runtimes()
    ext = {rt: CNNFeatureExtractor(image_size=image_size, batch_size=batch_size, device="cpu", cache=None,
                                   runtime=rt).fit() for rt in runtimes}
    reference = ext["torch"]
    prepared = torch.cat(list(as_image_set(X).batches(reference.preprocess_, batch_size, torch.device("cpu"))))
    layouts = {"NCHW": prepared.contiguous(), "channels_last": prepared.contiguous(memory_format=torch.channels_last)}
    model = reference.model_

    def eager(batches):
        @torch.inference_mode()
        def run():
            for i in range(0, len(batches), batch_size):
                model(batches[i : i + batch_size])
        return run

    def runtime_forward(rt):
        runner = compiled_runner(model, rt, reference.preprocess_.size)
        array = prepared.numpy()
        return lambda: [runner(array[i : i + batch_size]) for i in range(0, len(array), batch_size)]

    def preprocess(data, w):
        return lambda: [None for _ in as_image_set(data).batches(reference.preprocess_, batch_size,
                                                                 torch.device("cpu"), w)]

    jobs = {f"eager forward ({name})": eager(t) for name, t in layouts.items()}
    jobs.update({f"{rt} forward": runtime_forward(rt) for rt in runtimes[1:]})
    jobs["preprocess (arrays)"] = preprocess(X, 0)
    for w in sorted({0, workers}):
        jobs[f"preprocess (files, {w} workers)"] = preprocess(paths, w)
    for rt in runtimes:
        jobs[f"transform {rt} (arrays)"] = lambda e=ext[rt]: e.transform(X)
        for w in sorted({0, workers}):
            name = f"transform {rt} (files, {w} workers)"
            jobs[name] = lambda e=ext[rt], w=w: e.set_params(num_workers=w).transform(paths)
    return jobs, ext


def feature_agreement(ext, X):
    reference = ext["torch"].transform(X)
    return {rt: float(np.abs(e.transform(X) - reference).max()) for rt, e in ext.items() if rt != "torch"}


def demo_extraction(repeats):
    """Seconds to extract all 1,797 digits at 64 px (what `make demo`'s hybrid recipes share), per runtime."""
    from hybridtl.images import load_digits_images

    X, _ = load_digits_images()
    ext = {rt: CNNFeatureExtractor(image_size=64, device="cpu", cache=None, runtime=rt).fit()
           for rt in ["torch"] + installed_runtimes()}
    for e in ext.values():
        e.transform(X[:32])  # warm-up and compile
    best = dict.fromkeys(ext, float("inf"))
    for _ in range(repeats):
        for rt, e in ext.items():
            best[rt] = min(best[rt], timed(lambda e=e: e.transform(X)))
    print("extraction of the 1,797 digits at 64 px (make demo), best of", repeats, "interleaved:")
    print(pd.DataFrame({"runtime": list(best), "seconds": list(best.values()),
                        "vs_torch": [best["torch"] / v for v in best.values()]}).round(2).to_markdown(index=False))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=96)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="optional CSV path")
    parser.add_argument("--demo", action="store_true", help="time only the extraction part of `make demo`")
    args = parser.parse_args(argv)
    if args.demo:
        return demo_extraction(args.repeats)

    X = np.random.default_rng(0).integers(0, 256, (args.n_images, 256, 256, 3), dtype=np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, photo in enumerate(real_photos(args.n_images)):
            paths.append(str(Path(tmp) / f"{i}.jpg"))
            photo.save(paths[-1], quality=90)
        for batch_size in args.batch_sizes:
            jobs, ext = contenders(X, paths, batch_size, args.image_size, args.workers)
            for fn in jobs.values():
                fn()  # warm-up: compile, thread pools, file cache
            best = dict.fromkeys(jobs, float("inf"))
            for _ in range(args.repeats):  # interleaved: every contender once per round
                for name, fn in jobs.items():
                    best[name] = min(best[name], timed(fn))
            for name, seconds in best.items():
                rows.append({"batch_size": batch_size, "mode": name, "images_per_s": args.n_images / seconds})
            agreement = feature_agreement(ext, X[:16])
    table = pd.DataFrame(rows)
    eager = table[table["mode"].str.startswith("eager forward")].groupby("batch_size")["images_per_s"].max()
    table["vs_eager_best_layout"] = table["images_per_s"] / table["batch_size"].map(eager)
    print(f"image_size={args.image_size} n_images={args.n_images} torch threads={torch.get_num_threads()} "
          f"repeats={args.repeats} (best of, interleaved)")
    print(table.round(2).to_markdown(index=False))
    print("max abs difference of features vs PyTorch:", {k: f"{v:.1e}" for k, v in agreement.items()})
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
