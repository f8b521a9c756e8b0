"""Peak memory of streaming n image files (64 px) through `transform` and `hybridtl predict`, for several n.

Each measurement runs in a fresh child process; its peak resident memory comes from ``os.wait4``.
"features" is the size of the float32 features the call returns (n x 1280 x 4 bytes); what is left
after subtracting it is the memory that must not grow with n.

    python benchmarks/memory.py --n 2000 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

N_FEATURES = 1280


def write_images(folder, n, seed=0):
    """``n`` 64 px PNG crops of scikit-image's bundled photos in two class folders; returns the folder."""
    import skimage.data

    photos = [skimage.data.chelsea(), skimage.data.coffee()]
    rng = np.random.default_rng(seed)
    for label in ("cat", "coffee"):
        (folder / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        photo = photos[i % 2]
        y, x = rng.integers(0, photo.shape[0] - 64), rng.integers(0, photo.shape[1] - 64)
        Image.fromarray(photo[y : y + 64, x : x + 64]).save(folder / ("cat", "coffee")[i % 2] / f"{i:06d}.png")
    return folder


def peak_rss_mb(argv):
    """Run ``argv`` to the end; its peak resident memory in MB (Linux reports ru_maxrss in KB)."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: {process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024


def transform_argv(folder, cache):
    script = textwrap.dedent(f"""
        from hybridtl.features import CNNFeatureExtractor
        from hybridtl.images import load_image_folder
        paths, _ = load_image_folder({str(folder)!r})
        CNNFeatureExtractor(image_size=64, device="cpu", cache={cache!r}).fit().transform(paths)
    """)
    return [sys.executable, "-c", script]


def predict_argv(model, folder, out, chunk=None):
    """``hybridtl predict``; ``chunk``: score that many images at a time instead of the command's 2,048 (so that
    a test sees several chunks go by with few images)."""
    argv = ["predict", str(model), str(folder), "--out", str(out), "--no-progress"]
    if chunk is None:
        return [sys.executable, "-m", "hybridtl", *argv]
    script = (f"import sys; import hybridtl.cli._verbs as verbs; verbs.PREDICT_CHUNK = {int(chunk)}; "
              f"from hybridtl.cli import main; sys.exit(main({argv!r}))")
    return [sys.executable, "-c", script]


def measure(ns, workdir, predict_chunk=None):
    """One row per (n, what): peak RSS, the features' size and the difference, in MB."""
    workdir = Path(workdir)
    train = write_images(workdir / "train", 40, seed=1)
    model = workdir / "model.hybridtl"
    subprocess.run([sys.executable, "-m", "hybridtl", "fit", str(train), "--recipe", "cnn_logreg", "--out",
                    str(model), "--image-size", "64", "--no-progress"], check=True, capture_output=True)
    rows = []
    for n in ns:
        folder = write_images(workdir / f"n{n}", n)
        runs = {
            "transform (cache='auto', default)": transform_argv(folder, "auto"),
            "transform (cache=None)": transform_argv(folder, None),
            "hybridtl predict": predict_argv(model, folder, workdir / "preds.csv", predict_chunk),
        }
        for what, argv in runs.items():
            features = n * N_FEATURES * 4 / 2**20 if what.startswith("transform") else 0.0  # predict keeps none
            peak = peak_rss_mb(argv)
            rows.append({"n_images": n, "run": what, "peak_rss_mb": peak, "features_mb": features,
                         "peak_minus_features_mb": peak - features})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        table = measure(args.n, workdir)
    print(table.round(1).to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
