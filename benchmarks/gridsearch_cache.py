"""A 5-fold GridSearchCV over 6 head settings, with and without the feature cache, vs one extraction pass.

With the cache each image goes through the CNN once, so the whole search
should cost little more than one pass plus the head fits themselves (goal:
<= 1.3x); without it, every one of the 31 fits (30 + refit) and 30 scorings
extracts again. The same search on precomputed features shows what the head
fits alone cost, so "extraction share" is what the cache leaves of extraction.

    python benchmarks/gridsearch_cache.py --n-images 300 --image-size 224
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from hybridtl.features import CNNFeatureExtractor, clear_memory
from hybridtl.heads import make_head, make_hybrid_pipeline
from hybridtl.images import load_digits_images

GRID = {"head__C": [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]}


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-uncached", action="store_true", help="the uncached search takes ~30 passes")
    args = parser.parse_args(argv)

    X, y = load_digits_images()
    X, y = X[: args.n_images], y[: args.n_images]
    params = dict(image_size=args.image_size, device=args.device)
    features = {}
    one_pass = timed(lambda: features.setdefault("X", CNNFeatureExtractor(cache=None, **params).fit().transform(X)))
    heads_only = timed(lambda: GridSearchCV(Pipeline(make_head("logreg")), GRID, cv=5).fit(features["X"], y))
    rows = [{"run": "one extraction pass", "seconds": one_pass},
            {"run": "same search on precomputed features (head fits only)", "seconds": heads_only}]
    with tempfile.TemporaryDirectory() as cache:
        clear_memory()  # start the cached search cold: nothing in this process's memory yet
        search = GridSearchCV(make_hybrid_pipeline("logreg", cache=cache, **params), GRID, cv=5)
        rows.append({"run": "GridSearchCV 5 folds x 6 settings, cache", "seconds": timed(lambda: search.fit(X, y))})
    if not args.skip_uncached:
        search = GridSearchCV(make_hybrid_pipeline("logreg", cache=None, **params), GRID, cv=5)
        rows.append({"run": "GridSearchCV 5 folds x 6 settings, no cache", "seconds": timed(lambda: search.fit(X, y))})
    table = pd.DataFrame(rows)
    table["vs_one_pass"] = table["seconds"] / one_pass
    table["extraction_share_vs_one_pass"] = (table["seconds"] - heads_only) / one_pass
    table.loc[:1, "extraction_share_vs_one_pass"] = float("nan")
    print(f"n_images={args.n_images} image_size={args.image_size} device={args.device}")
    print(table.round(2).to_markdown(index=False))


if __name__ == "__main__":
    main()
