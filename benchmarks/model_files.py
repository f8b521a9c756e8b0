"""Model file sizes (safe format and joblib), and what loading a zip bomb costs.

Runs on any layout that has ``hybridtl.save`` / ``hybridtl.load``, so the same command measures an
older checkout too (``PYTHONPATH=/path/to/old/checkout python benchmarks/model_files.py``).

    python benchmarks/model_files.py            # sizes of a fitted cnn_logreg model
    python benchmarks/model_files.py --bomb 3   # a small file whose weights entry inflates to 3 GiB
"""

import argparse
import resource
import tempfile
import time
import zipfile
from pathlib import Path

import joblib

import hybridtl
from hybridtl.heads import make_hybrid_pipeline
from hybridtl.images import load_digits_images


def sizes(folder):
    X, y = load_digits_images()
    model = make_hybrid_pipeline("logreg", image_size=64, device="cpu").fit(X[:200], y[:200])
    hybridtl.save(model, folder / "model.hybridtl")
    joblib.dump(model, folder / "model.joblib")
    for name in ("model.hybridtl", "model.joblib"):
        print(f"{name}: {(folder / name).stat().st_size / 2**20:.1f} MB")
    with zipfile.ZipFile(folder / "model.hybridtl") as archive:
        print("entries:", {i.filename: round(i.file_size / 2**20, 1) for i in archive.infolist()})
    return folder / "model.hybridtl"


def bomb(folder, source, gib):
    """Replace weights.safetensors by ``gib`` GiB of zeros, deflated, and time hybridtl.load on it."""
    target = folder / "bomb.hybridtl"
    with zipfile.ZipFile(source) as archive:
        keep = {name: archive.read(name) for name in ("manifest.json", "model.skops")}
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in keep.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
        info = zipfile.ZipInfo("weights.safetensors")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as entry:
            chunk = bytes(2**26)
            for _ in range(gib * 16):
                entry.write(chunk)
    print(f"bomb file: {target.stat().st_size / 2**20:.1f} MB, weights entry inflates to {gib} GiB")
    start = time.perf_counter()
    try:
        hybridtl.load(target)
        outcome = "loaded"
    except Exception as error:  # noqa: BLE001 - what the old and new code raise is what is measured
        outcome = f"{type(error).__name__}: {str(error)[:160]}"
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"load: {seconds:.2f} s, peak RSS of the process {peak:.2f} GB; {outcome}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bomb", type=int, default=0, metavar="GIB", help="also time loading a zip bomb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        saved = sizes(Path(folder))
        if args.bomb:
            bomb(Path(folder), saved, args.bomb)


if __name__ == "__main__":
    main()
