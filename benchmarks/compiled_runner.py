"""A fresh copy of a fitted extractor (as a dask worker unpickles at every call): compile again, or reuse?

Interleaved rounds, best of each: unpickle the extractor and extract 32 images at 224 px in
OpenVINO, once with the compiled-runner memo keyed by weights (``runtimes._BY_IDENTITY``), once
with it emptied (each copy converts and compiles, as before the memo); then the convert + compile
alone and the weights digest that keys the memo.

    python benchmarks/compiled_runner.py --rounds 5
"""

from __future__ import annotations

import argparse
import pickle
import time

import numpy as np

import hybridtl.devices._runtimes as runtimes
from hybridtl.features import CNNFeatureExtractor, weights_digest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=32)
    args = parser.parse_args(argv)
    X = np.random.default_rng(0).integers(0, 256, (args.images, 256, 256, 3), dtype=np.uint8)
    ext = CNNFeatureExtractor(device="cpu", cache=None, runtime="openvino", progress=False).fit()
    ext.transform(X)
    blob = pickle.dumps(ext)
    seconds = {"memo keyed by weights (now)": [], "compiled for every copy (before)": []}
    for _ in range(args.rounds):
        for name, slots in (("memo keyed by weights (now)", 4), ("compiled for every copy (before)", 0)):
            runtimes._IDENTITY_SLOTS = slots
            runtimes._BY_IDENTITY.clear()
            if slots:
                pickle.loads(blob).transform(X[:1])  # an earlier call on this worker filled the memo
            start = time.perf_counter()
            pickle.loads(blob).transform(X)
            seconds[name].append(time.perf_counter() - start)
    for name, values in seconds.items():
        print(f"{name}: {min(values):.2f} s to unpickle and extract {args.images} images (best of {args.rounds})")
    model = pickle.loads(blob).model_
    start = time.perf_counter()
    runtimes._build(model, "openvino", 224, "fp32")
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    weights_digest(model)
    print(f"OpenVINO convert + compile alone: {compile_seconds:.2f} s; weights digest: "
          f"{time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
