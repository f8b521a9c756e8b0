"""The exported ONNX graph against the model it came from: latency for one image, images/s for batches, file sizes.

Two models fitted on real photos (crops of scikit-image's bundled pictures, 4 classes) at the embedded
backbone's own 224 px: ``cnn_logreg`` (frozen EfficientNet-Lite0 + logistic regression) and
``finetune_head``. Each is saved (``.hybridtl``) and exported (``.onnx``); then, warm, in one process,
the contenders interleaved round by round, best of ``--repeats`` rounds:

- ``predict_proba`` of the loaded model (what ``hybridtl predict`` runs per chunk), on uint8 arrays;
- the ONNX file in ONNX Runtime (CPU provider), preprocessing included;
- the ONNX file read by OpenVINO (``Core.read_model``), compiled for the CPU in f32 (its default on a
  CPU with bfloat16 units, as here, is bf16).

Inputs are 480x360 photos as uint8 arrays (one size: the graph takes one size per call). Last, the hybrid
model's frozen network alone (the same ONNX graph, no preprocessing, no head) in ONNX Runtime and in OpenVINO:
what bounds the exported hybrid graph in ONNX Runtime against ``predict``, whose network runs in OpenVINO.

    python benchmarks/export.py --repeats 5 --keep /tmp/export-bench

``--keep`` leaves the files there for the whole-command comparison of answering one photo in a new process
(the benchmarks page gives the commands: ``hybridtl predict`` against ``docs/examples/run_onnx.py``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hybridtl
from hybridtl.recipes import load_recipe


def photos(n, size=(360, 480), seed=0):
    """``n`` RGB uint8 arrays of ``size``: random crops of four of scikit-image's photos, resized."""
    import skimage.data
    from PIL import Image

    sources = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut(), skimage.data.rocket()]
    rng = np.random.default_rng(seed)
    out, labels = [], []
    for i in range(n):
        photo = sources[i % 4]
        h, w = photo.shape[:2]
        ch, cw = int(h * rng.uniform(0.5, 0.9)), int(w * rng.uniform(0.5, 0.9))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = Image.fromarray(photo[top : top + ch, left : left + cw]).resize(size[::-1], Image.BICUBIC)
        out.append(np.asarray(crop).copy())
        labels.append(["cat", "coffee", "astronaut", "rocket"][i % 4])
    return np.stack(out), np.array(labels)


def contenders(model, onnx_path):
    import onnxruntime as ort
    import openvino as ov

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    runs = {
        "predict_proba (in process)": lambda X: model.predict_proba(X),
        "ONNX Runtime": lambda X: session.run(["probabilities"], {"pixels": X})[0],
    }
    try:
        # f32 asked for: on a CPU with bfloat16 units OpenVINO otherwise computes in bf16 (features 0.09 apart)
        compiled = ov.Core().compile_model(ov.Core().read_model(str(onnx_path)), "CPU",
                                           {"INFERENCE_PRECISION_HINT": "f32"})
    except RuntimeError as exc:  # its ONNX reader converts no ai.onnx.ml operator (scikit-learn heads)
        unconverted = [line for line in str(exc).splitlines() if "No conversion rule" in line]
        print(f"OpenVINO cannot read {onnx_path.name}: {(unconverted or ['?'])[0].strip('- ')}")
        return runs
    runs["OpenVINO (reads the ONNX)"] = lambda X: compiled({"pixels": X})["probabilities"]
    return runs


def timed(run, X):
    start = time.perf_counter()
    run(X)
    return time.perf_counter() - start


def measure(model, onnx_path, X, batch, repeats):
    runs = contenders(model, onnx_path)
    for run in runs.values():  # warm: compiled runtimes, memoised networks, first allocations
        run(X[:1])
        run(X[:batch])
    best = {(name, n): np.inf for name in runs for n in (1, batch)}
    for _ in range(repeats):
        for n in (1, batch):
            for name, run in runs.items():
                best[name, n] = min(best[name, n], timed(run, X[:n]))
    rows = [{"runtime": name, "images": n, "latency ms": round(1e3 * s, 1), "img/s": round(n / s, 1)}
            for (name, n), s in best.items()]
    return pd.DataFrame(rows)


def network_alone(extractor, batch, repeats):
    """ms for ``batch`` images through the hybrid model's frozen network alone (no preprocessing, no head):
    in ONNX Runtime's CPU provider and in OpenVINO (f32), from the same ONNX graph; what bounds the
    exported hybrid graph in ONNX Runtime against ``predict``, whose network runs in OpenVINO."""
    import onnxruntime as ort
    import openvino as ov

    from hybridtl.devices import onnx_export

    graph = onnx_export(extractor.model_, extractor.preprocess_.size)
    inputs = np.random.default_rng(0).standard_normal((batch, 3, extractor.preprocess_.size,
                                                       extractor.preprocess_.size)).astype(np.float32)
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    compiled = ov.Core().compile_model(ov.Core().read_model(graph, b""), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    runs = {"ONNX Runtime": lambda: session.run(None, {"images": inputs}), "OpenVINO": lambda: compiled(inputs)}
    best = dict.fromkeys(runs, np.inf)
    for run in runs.values():
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return pd.DataFrame([{"network alone": name, f"{batch} images ms": round(1e3 * s, 1)} for name, s in best.items()])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=48)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", default=None, help="a folder to keep the model files and a test photo in")
    args = parser.parse_args()
    X, y = photos(args.n_train + args.batch, seed=0)
    X_train, y_train, X_test = X[: args.n_train], y[: args.n_train], X[args.n_train :]
    folder = Path(args.keep or tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(X_test[0]).save(folder / "photo.jpg", quality=92)  # for the whole-command timing
    tables, sizes = [], []
    for recipe in ("cnn_logreg", "finetune_head"):
        model = load_recipe(recipe).build(device="cpu", cache=None, epochs=3).fit(X_train, y_train)
        hybridtl.save(model, folder / f"{recipe}.hybridtl")
        model = hybridtl.load(folder / f"{recipe}.hybridtl")
        check = hybridtl.export_onnx(model, folder / f"{recipe}.onnx")
        table = measure(model, folder / f"{recipe}.onnx", X_test, args.batch, args.repeats)
        tables.append(table.assign(model=recipe))
        sizes.append({"model": recipe, ".hybridtl MB": round((folder / f"{recipe}.hybridtl").stat().st_size / 1e6, 1),
                      ".onnx MB": round((folder / f"{recipe}.onnx").stat().st_size / 1e6, 1),
                      "largest difference (check)": f"{check['largest_difference']:.1g}"})
        if recipe == "cnn_logreg":
            alone = network_alone(model.steps[0][1], args.batch, args.repeats)
    table = pd.concat(tables)[["model", "runtime", "images", "latency ms", "img/s"]]
    print(table.to_markdown(index=False))
    print()
    print(pd.DataFrame(sizes).to_markdown(index=False))
    print()
    print(alone.to_markdown(index=False))


if __name__ == "__main__":
    main()
