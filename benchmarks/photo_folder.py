"""A folder of phone photos against the same photos shrunk: what decode="fast", 8-bit resizing, decoding
workers and decoding once per fit give a user.

The script writes its own 12-MP photos (4032x3024 JPEGs, quality 92, EXIF orientation on every other one,
as phone cameras write them): crops of the real photos that ship with scikit-image and scikit-learn,
upsampled with bicubic interpolation and given sensor-like noise (Gaussian, sigma 3 levels), and 448x336
copies of them. Then, in one process, contenders in turn, ``--rounds`` rounds, the best of each:

* ``extract``: img/s of ``CNNFeatureExtractor(cache=None).transform`` on the file paths (warm: the
  runtime is compiled before timing), fp32/bf16/int8, fast against exact, 0 workers against "auto";
* ``finetune``: ``FineTuneClassifier(strategy="full", image_size=128, epochs=3)`` on the 12-MP photos
  against the copies: seconds of the whole fit and per epoch (the first fit on the 12-MP photos includes
  decoding them once; a second fit on the same files reads the decoded copies);
* ``fidelity``: per-image cosine of fast to exact features on the 12-MP photos, and the accuracy of
  logistic regression on them, fast against exact, on the ``--tasks`` (scenes, objects, textures, tints,
  and patches: small patches upsampled 30-120x, the stress case) x ``--seeds`` (each seed writes its own
  photos: other crops, other noise, another split);
* ``bounds`` (asked for by name): what the two cores allow: the input pipeline alone (decode, 8-bit resize,
  crop, normalise; 1 and 2 threads) on both folders, the network alone in fp32 and int8, and the ceilings
  these set on the two speed goals (12-MP photos against the copies; int8 against fp32 from files);
* ``reuse`` (asked for by name): ``predict_proba`` on the 12-MP photos a fit decoded, reading the decoded
  copies against decoding the files again;
* ``cache`` (asked for by name): img/s with the default in-memory feature cache (``cache="auto"``),
  whose first pass hashes every file, against ``cache=None``, and a repeat pass over the same files;
* ``causes`` (asked for by name): on the ``patches`` task, fast's two differences from exact taken apart
  (8-bit resizing alone, the 1/8 DCT scale alone, both), as cosines to exact features;
* ``memory``: how far RSS rises during ``transform`` in a fresh process extracting N 12-MP photos,
  against N copies (sampled every 5 ms from ``/proc/self/statm``, after the runtime is compiled).

    python benchmarks/photo_folder.py --parts extract finetune fidelity memory --n 120 --rounds 2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

PHONE = (4032, 3024)
COPY = (448, 336)


def _sources():
    """Real photos that ship with installed packages, by name, as uint8 RGB arrays."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images
    photos = {"china": china, "flower": flower}
    for name in ("chelsea", "coffee", "astronaut", "rocket", "cat", "hubble_deep_field"):
        if hasattr(skimage.data, name):
            photos[name] = getattr(skimage.data, name)()[..., :3]
    for name in ("brick", "grass", "gravel"):  # gray textures
        photos[name] = np.repeat(getattr(skimage.data, name)()[..., None], 3, axis=2)
    return photos


# Tasks of real photos: which scene, which cat-or-coffee-or-rocket, which texture; and "tints", where
# the class is a colour cast of 8 % on any of the photos (the one that does not saturate at 1.0).
TASKS = {
    "scenes": ("china", "flower", "astronaut"),
    "objects": ("chelsea", "coffee", "rocket"),
    "textures": ("brick", "grass", "gravel"),
    "tints": ("warm", "neutral", "cool"),
}
TINTS = {"warm": (1.08, 1.0, 0.92), "neutral": (1.0, 1.0, 1.0), "cool": (0.92, 1.0, 1.08)}
# "patches": which of six photos a small patch (8-20 % of its height) comes from: content that does not
# saturate (much of a patch is sky, wall or fur), where a small loss from decode="fast" would show
TASKS["patches"] = ("china", "flower", "astronaut", "chelsea", "coffee", "rocket")
CROPS = {"patches": (0.08, 0.2)}
COLOUR_SOURCES = ("china", "flower", "astronaut", "chelsea", "coffee", "rocket")


def _source(label, sources, rng):
    if label not in TINTS:
        return sources[label]
    photo = sources[COLOUR_SOURCES[rng.integers(len(COLOUR_SOURCES))]]
    return np.clip(photo * np.asarray(TINTS[label]), 0, 255).astype(np.uint8)


def phone_photo(source, rng, size=PHONE, crop=(0.6, 1.0)):
    """A crop of ``crop`` (60-100 %) of ``source``'s height in the shape of ``size`` (width, height), upsampled
    to it with sensor-like noise."""
    h, w = source.shape[:2]
    aspect = size[0] / size[1]
    ch = max(8, int(min(h, w / aspect) * rng.uniform(*crop)))
    cw = int(ch * aspect)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    big = Image.fromarray(source[y : y + ch, x : x + cw]).resize(size, Image.BICUBIC)
    noisy = np.asarray(big, dtype=np.float32) + rng.normal(0, 3, (size[1], size[0], 1)).astype(np.float32)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def write_photos(folder, classes, per_class, seed, size=PHONE, crop=(0.6, 1.0)):
    """``per_class`` phone photos of each source in ``classes`` under ``folder/<class>/``, each a crop of
    ``crop`` of its source's height; (paths, labels)."""
    rng = np.random.default_rng(seed)
    sources = _sources()
    paths, labels = [], []
    for label in classes:
        (Path(folder) / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            exif = Image.Exif()
            exif[0x010F], exif[0x0110] = "hybridtl", "benchmark phone"
            if i % 2:  # a phone held upright: the sensor's landscape pixels, shown portrait by EXIF orientation 6
                image = phone_photo(_source(label, sources, rng), rng, size[::-1], crop).transpose(
                    Image.Transpose.ROTATE_90)
                exif[0x0112] = 6
            else:
                image = phone_photo(_source(label, sources, rng), rng, size, crop)
            path = Path(folder) / label / f"IMG_{i:04d}.jpg"
            image.save(path, quality=92, exif=exif)
            paths.append(str(path))
            labels.append(label)
    return paths, np.asarray(labels)


def shrunk_copies(paths, folder, size=COPY):
    """448x336 copies of ``paths`` (EXIF kept), for the same photos at a size the network barely needs."""
    out = []
    for path in paths:
        target = Path(folder) / Path(path).parent.name / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            exif = image.getexif()
            small = image.resize(size if image.width > image.height else size[::-1], Image.LANCZOS)
            small.save(target, quality=92, exif=exif)
        out.append(str(target))
    return out


def _extractor(precision="fp32", decode="fast", workers="auto", fit_on=None, size=224):
    from hybridtl.features import CNNFeatureExtractor

    ext = CNNFeatureExtractor(image_size=size, device="cpu", cache=None, precision=precision, decode=decode,
                              num_workers=workers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ext.fit(fit_on)


def _rate(ext, paths, rounds):
    ext.transform(paths[:8])  # warm: the compiled runtime is built before timing
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        ext.transform(paths)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def extract(phone, copies, rounds, exact_n, precisions):
    """img/s table: precision x decode x workers on 12-MP photos, and on the 448-px copies."""
    rows = []
    for precision in precisions:
        fit_on = copies[:64] if precision == "int8" else None
        for decode, workers, which, paths in [
            ("fast", "auto", "12 MP", phone), ("fast", 0, "12 MP", phone), ("fast", "auto", "448 px", copies),
            ("fast", 0, "448 px", copies), ("exact", "auto", "12 MP", phone[:exact_n]),
        ]:
            if decode == "exact" and precision != "fp32":
                continue
            ext = _extractor(precision, decode, workers, fit_on)
            rows.append({"precision": precision, "photos": which, "decode": decode, "workers": str(workers),
                         "n": len(paths), "img_per_s": _rate(ext, paths, rounds)})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    copies_rate = table[(table.photos == "448 px") & (table.workers == "auto")].set_index("precision").img_per_s
    table["vs_448px_same_precision"] = table.img_per_s / table.precision.map(copies_rate)
    fp32 = table[(table.precision == "fp32") & (table.decode == "fast") & (table.workers == "auto")]
    table["vs_fp32_same_photos"] = table.img_per_s / table.photos.map(fp32.set_index("photos").img_per_s)
    return table


def _decode_rate(paths, preprocess, threads, rounds):
    """img/s of the extractor's input pipeline alone, in ``threads`` threads as ``num_workers="auto"`` runs it:
    each file decoded, resized and cropped as 8-bit pixels, batches of 64 stacked and normalised; no network."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    def one(index):
        return preprocess.resize_crop(preprocess.load(paths[index], index))

    best = np.inf
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(rounds):
            start = time.perf_counter()
            for first in range(0, len(paths), 64):
                preprocess.normalize(torch.stack(list(pool.map(one, range(first, min(first + 64, len(paths)))))))
            best = min(best, time.perf_counter() - start)
    return len(paths) / best


def _network_rate(precision, copies, rounds):
    """img/s of the network alone (OpenVINO, 2 threads) on batches of 64 preprocessed images."""
    import torch

    from hybridtl.devices import compiled_runner
    from hybridtl.images import ImageList

    ext = _extractor(precision, fit_on=copies[:64] if precision == "int8" else None)
    inputs = torch.cat(list(ImageList(copies[:64]).batches(ext.preprocess_, 64, torch.device("cpu")))).numpy()
    run = compiled_runner(ext.model_, "openvino", ext.preprocess_.size, None, precision,
                          ext.calibration_ if precision == "int8" else None)
    run(inputs)
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        run(inputs)
        best = min(best, time.perf_counter() - start)
    return len(inputs) / best


def bounds(phone, copies, rounds):
    """What two cores allow: the input pipeline alone (1 and 2 threads) on both folders, the network alone in
    fp32 and int8, and the ceilings they set on the two speed goals."""
    ext = _extractor()
    pipeline = {(which, threads): _decode_rate(paths, ext.preprocess_, threads, rounds)
                for which, paths in (("12 MP", phone), ("448 px", copies)) for threads in (1, 2)}
    network = {precision: _network_rate(precision, copies, max(rounds, 3)) for precision in ("fp32", "int8")}
    rows = [{"what": f"input pipeline alone, {which}, {threads} thread{'s' * (threads > 1)}", "value": rate,
             "unit": "img/s"} for (which, threads), rate in pipeline.items()]
    rows += [{"what": f"network alone, {precision}, 2 threads", "value": rate, "unit": "img/s"}
             for precision, rate in network.items()]
    copies_rate = _rate(ext, copies, rounds)
    rows.append({"what": "extraction, fp32, 448 px (this run)", "value": copies_rate, "unit": "img/s"})
    # Goal 1: extraction cannot outrun its own input pipeline on both cores.
    rows.append({"what": "ceiling: 12 MP vs 448 px (12-MP pipeline alone, 2 threads / the copies' extraction)",
                 "value": pipeline[("12 MP", 2)] / copies_rate, "unit": "x"})
    # Goal 2: per image, the pipeline costs 1/rate(1 thread) core-seconds and the network 2/rate(2 threads);
    # with both sharing two cores perfectly, int8's rate over fp32's is at most this.
    pipe = 1 / pipeline[("448 px", 1)]
    rows.append({"what": "ceiling: int8 vs fp32 from 448-px files (both sharing 2 cores perfectly)",
                 "value": (pipe + 2 / network["fp32"]) / (pipe + 2 / network["int8"]), "unit": "x"})
    rows.append({"what": "int8 vs fp32, network alone", "value": network["int8"] / network["fp32"], "unit": "x"})
    return pd.DataFrame(rows)


def cached(phone, copies, rounds):
    """img/s with the extractor's default in-memory cache (``cache="auto"``) against ``cache=None``: a first
    pass (features and file hashes forgotten before it: each file is read whole once more to be hashed) and
    a repeat pass over the same files (as the folds of a grid search run)."""
    from hybridtl.features import CNNFeatureExtractor
    from hybridtl.features._cache import clear_memory

    off = _extractor()
    on = CNNFeatureExtractor(device="cpu", cache="auto").fit()
    on.transform(copies[:2])  # compiled
    best = {}
    for _ in range(rounds):
        for which, paths in (("12 MP", phone), ("448 px", copies)):
            for pass_, ext in (("cache=None", off), ("cache='auto', first pass", on),
                               ("cache='auto', repeat pass", on)):
                if pass_ != "cache='auto', repeat pass":
                    clear_memory()
                start = time.perf_counter()
                ext.transform(paths)
                key = (which, pass_)
                best[key] = min(best.get(key, np.inf), time.perf_counter() - start)
    return pd.DataFrame([{"photos": which, "pass": pass_, "n": len(phone), "img_per_s": len(phone) / seconds}
                         for (which, pass_), seconds in best.items()])


def finetune(phone, copies, labels, rounds):
    """Fine-tuning seconds (whole fit, per epoch) on the 12-MP photos against the copies."""
    from hybridtl.finetune import FineTuneClassifier
    from hybridtl.images import decoded_store

    rows = []
    for round_ in range(rounds):
        for which, paths in (("12 MP", phone), ("448 px", copies)):
            decoded_store().clear()
            for fit in ("first fit (decodes)", "second fit (decoded)"):
                clf = FineTuneClassifier(strategy="full", image_size=128, epochs=3, patience=10, device="cpu",
                                         progress=False, random_state=0, validation_fraction=None)
                start = time.perf_counter()
                clf.fit(paths, labels)
                seconds = time.perf_counter() - start
                rows.append({"round": round_, "photos": which, "fit": fit, "fit_s": seconds,
                             "epoch_s": clf.history_["seconds"].mean()})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows).groupby(["photos", "fit"])[["fit_s", "epoch_s"]].min().reset_index()
    copies_ = table[table.photos == "448 px"].set_index("fit")
    table["vs_448px"] = table.fit_s / table.fit.map(copies_.fit_s)
    table["epoch_vs_448px"] = table.epoch_s / table.fit.map(copies_.epoch_s)
    return table


def reuse(phone, labels, rounds):
    """Seconds for ``predict_proba`` on the 12-MP photos a fit just decoded: reading the decoded copies (as
    every later pass over the same files does: predict, score, a grid search's test folds, auto's feature
    step) against decoding the files (the store emptied first)."""
    from hybridtl.finetune import FineTuneClassifier
    from hybridtl.images import as_image_set, decoded_once, decoded_store

    decoded_store().clear()
    clf = FineTuneClassifier(strategy="full", image_size=128, epochs=1, device="cpu", progress=False,
                             random_state=0, validation_fraction=None).fit(phone, labels)
    best = {}
    for _ in range(rounds):
        for how in ("decoded copies", "files"):
            decoded_store().clear()
            if how == "decoded copies":
                decoded_once(as_image_set(phone), clf.preprocess_)  # as the fit left them (not timed)
            start = time.perf_counter()
            clf.predict_proba(phone)
            best[how] = min(best.get(how, np.inf), time.perf_counter() - start)
    return pd.DataFrame([{"predict_proba reads": how, "n": len(phone), "seconds": seconds,
                          "img_per_s": len(phone) / seconds} for how, seconds in best.items()])


def fidelity(seeds, per_class, workdir, tasks=tuple(TASKS)):
    """Per-image cosine fast vs exact, and logistic-regression accuracy fast vs exact, by task and seed."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    extractors = {decode: _extractor(decode=decode) for decode in ("fast", "exact")}
    rows = []
    for task in tasks:
        classes = TASKS[task]
        for seed in seeds:
            folder = Path(workdir) / f"{task}-{seed}"
            paths, labels = write_photos(folder, classes, per_class, seed=1000 + seed,
                                         crop=CROPS.get(task, (0.6, 1.0)))
            features = {decode: ext.transform(paths) for decode, ext in extractors.items()}
            fast, exact = features["fast"], features["exact"]
            cosine = (fast * exact).sum(1) / np.linalg.norm(fast, axis=1) / np.linalg.norm(exact, axis=1)
            train, test = train_test_split(np.arange(len(paths)), test_size=0.4, stratify=labels, random_state=seed)
            row = {"task": task, "seed": seed, "n": len(paths), "cosine_mean": cosine.mean(),
                   "cosine_min": cosine.min()}
            for decode, X in features.items():
                head = make_pipeline(Normalizer(), LogisticRegression(C=10, max_iter=3000))
                row[f"acc_{decode}"] = head.fit(X[train], labels[train]).score(X[test], labels[test])
            rows.append(row)
            print(row, flush=True)
            shutil.rmtree(folder)
    return pd.DataFrame(rows)


def causes(workdir, seed=0, per_class=3, task="patches"):
    """fast's two differences from exact, each alone, on ``task``'s 12-MP photos: mean and least cosine to exact
    features of 8-bit resizing alone (every pixel decoded), of the 1/8 DCT scale alone (resized as floats),
    and of both (``decode="fast"``)."""
    from hybridtl.images import open_pixels

    paths, _ = write_photos(Path(workdir) / f"causes-{task}", TASKS[task], per_class, seed=1000 + seed,
                            crop=CROPS.get(task, (0.6, 1.0)))
    ext = _extractor()  # decode="fast": uint8 arrays are resized as 8-bit, float arrays as floats

    def hwc(path, min_side=None):
        return open_pixels(path, min_side=min_side).permute(1, 2, 0).numpy()

    every_pixel = [hwc(p) for p in paths]
    dct = [hwc(p, ext.preprocess_.resize_side) for p in paths]
    exact = ext.transform([x.astype(np.float32) / 255 for x in every_pixel])
    rows = []
    for what, images in (("8-bit resizing alone", every_pixel),
                         ("1/8 DCT scale alone", [x.astype(np.float32) / 255 for x in dct]),
                         ("both (decode='fast')", dct)):
        got = ext.transform(images)
        cosine = (got * exact).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(exact, axis=1)
        rows.append({"task": task, "photos": len(paths), "difference from exact": what,
                     "cosine_mean": cosine.mean(), "cosine_min": cosine.min()})
    return pd.DataFrame(rows)


_CHILD = """
import json, os, sys, threading, time
from hybridtl.features import CNNFeatureExtractor
paths = json.load(open(sys.argv[1]))
page = os.sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page / 2**20
ext = CNNFeatureExtractor(device="cpu", cache=None).fit()
ext.transform(paths[:2])  # the runtime compiled (its own peak) before the measurement
before, peak, done = rss(), [0.0], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)
watcher = threading.Thread(target=watch)
watcher.start()
ext.transform(paths)
done.set()
watcher.join()
print(max(peak[0], rss()) - before)
"""


def peak_mb(paths, workdir):
    """MB that RSS rose above its level before ``transform`` while a fresh process extracted ``paths`` (the
    runtime compiled first: its own peak, the same for every input, would hide the decoding's)."""
    listing = Path(workdir) / "paths.json"
    listing.write_text(json.dumps(paths))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(listing)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def memory(phone, copies, workdir, counts):
    rows = []
    for n in counts:
        reps = int(np.ceil(n / len(phone)))
        rows.append({"n": n, "rise_12mp_mb": peak_mb((phone * reps)[:n], workdir),
                     "rise_448px_mb": peak_mb((copies * reps)[:n], workdir)})
        rows[-1]["difference_mb"] = rows[-1]["rise_12mp_mb"] - rows[-1]["rise_448px_mb"]
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", default=["extract", "finetune", "fidelity", "memory"])
    parser.add_argument("--n", type=int, default=120, help="12-MP photos for the speed parts (3 classes)")
    parser.add_argument("--exact-n", type=int, default=24, help="of those, how many the slow exact decode reads")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=20, help="photos per class and seed for fidelity")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS), help="fidelity's tasks")
    parser.add_argument("--memory-counts", type=int, nargs="+", default=[30, 120])
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="photo-folder-"))
    try:
        phone, labels = write_photos(workdir / "phone", TASKS["objects"], args.n // 3, seed=0)
        copies = shrunk_copies(phone, workdir / "copies")
        tables = {}
        if "extract" in args.parts:
            tables["extract"] = extract(phone, copies, args.rounds, args.exact_n, args.precisions)
        if "finetune" in args.parts:
            tables["finetune"] = finetune(phone, copies, labels, args.rounds)
        if "fidelity" in args.parts:
            tables["fidelity"] = fidelity(args.seeds, args.per_class, workdir, args.tasks)
        if "memory" in args.parts:
            tables["memory"] = memory(phone, copies, workdir, args.memory_counts)
        if "reuse" in args.parts:
            tables["reuse"] = reuse(phone, labels, args.rounds)
        if "cache" in args.parts:
            tables["cache"] = cached(phone, copies, args.rounds)
        if "bounds" in args.parts:
            tables["bounds"] = bounds(phone, copies, args.rounds)
        if "causes" in args.parts:
            tables["causes"] = causes(workdir)
        for name, table in tables.items():
            print(f"\n## {name}\n{table.round(4).to_markdown(index=False)}")
        if "fidelity" in tables:
            summary = tables["fidelity"].groupby("task")[["cosine_mean", "cosine_min", "acc_fast", "acc_exact"]]
            print("\n## fidelity by task (mean over seeds; accuracy sd in brackets)")
            means, sds = summary.mean(), tables["fidelity"].groupby("task")[["acc_fast", "acc_exact"]].std()
            means["acc_fast_sd"], means["acc_exact_sd"] = sds.acc_fast, sds.acc_exact
            means["gap"] = means.acc_fast - means.acc_exact
            print(means.round(4).to_markdown())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
